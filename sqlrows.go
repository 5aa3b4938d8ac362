package sqlitepool

import (
	"context"
	"database/sql/driver"
	"io"
	"reflect"
	"strings"
	"time"

	"github.com/ncruces/go-sqlite3"
)

// sqlRows are the rows of a query of database/sql, read from a statement
// of the lease's cache. They hold the connection until closed: the
// sqlConn keeps its lease while any of its Rows is open.
type sqlRows struct {
	c     *sqlConn
	l     *Conn
	stmt  *sqlite3.Stmt
	entry *cachedStmt // stmt's in the connection's cache; nil if prepared apart
	ctx   context.Context
	query string

	// finish says the statement writes outside a transaction on the
	// writer: past its first row it runs uninterrupted (see Conn.Query).
	finish  bool
	stepped bool
	// held says the row the statement is on was stepped to by first and
	// not returned yet; eof that first found no row.
	held, eof bool
	ends      txnEnds
	closed    bool

	names    []string
	kinds    []declKind // from the declared types, on first use; the cache's if entry
	kindsBuf [8]declKind
	types    []string   // from the tables' metadata, made on first use
	null     []nullness // what the schema says of NULL in each column
}

var (
	_ driver.Rows                           = (*sqlRows)(nil)
	_ driver.RowsColumnTypeDatabaseTypeName = (*sqlRows)(nil)
	_ driver.RowsColumnTypeNullable         = (*sqlRows)(nil)
	_ driver.RowsColumnTypeScanType         = (*sqlRows)(nil)
)

// newRows returns the Rows of stmt, run on l. The sqlConn's own Rows are
// reused while none of its Rows is open: database/sql touches no Rows
// once it closed them (each of its methods checks that first), and a
// query per call is the common case.
func (c *sqlConn) newRows(ctx context.Context, l *Conn, stmt *sqlite3.Stmt, entry *cachedStmt, query string) *sqlRows {
	var r *sqlRows
	if c.rRows+c.wRows == 0 {
		r = &c.rows
		*r = sqlRows{}
	} else {
		r = new(sqlRows)
	}
	if l.role == RoleWriter {
		c.wRows++
	} else {
		c.rRows++
	}
	r.c, r.l, r.stmt, r.entry, r.ctx, r.query = c, l, stmt, entry, ctx, query
	r.finish = l.role == RoleWriter && !stmt.ReadOnly() && l.raw.GetAutocommit()
	return r
}

// first steps to the first row before the Rows are handed out: database/sql
// asks for the columns before its first Next, and SQLite prepares a
// statement again after a schema change only when it steps, so until then
// its columns are the old ones (an added column would be missing). Its
// error (the statement's, or a refused commit) is the query's.
func (r *sqlRows) first() error {
	r.ends = r.l.ends
	more := r.stmt.Step()
	r.stepped = true
	if more {
		r.held = true
		return nil
	}
	r.eof = true
	if err := r.l.committedAnyway(r.stmt.Err(), r.ends); err != nil {
		return r.l.sqlError("Query", r.query, r.l.wrap(err))
	}
	return nil
}

// Columns returns the columns' names.
func (r *sqlRows) Columns() []string {
	if r.names == nil {
		if r.entry != nil {
			r.names = r.entry.columnNames()
		} else {
			r.names = columnNames(r.stmt)
		}
	}
	return r.names
}

// Next steps to the next row, with the query's context as the interrupt
// (other calls of the connection may have run since), and converts its
// values (see sqlValue).
func (r *sqlRows) Next(dest []driver.Value) error {
	if r.closed {
		return io.EOF
	}
	if err := r.l.live(); err != nil {
		return err
	}
	if r.eof {
		return io.EOF
	}
	use(r.l, r.ctx)
	more := false
	if r.held {
		r.held, more = false, true
	} else if r.finish && r.stepped {
		r.l.uninterrupted(func() { more = r.stmt.Step() })
	} else {
		r.ends = r.l.ends
		more = r.stmt.Step()
	}
	r.stepped = true
	if !more {
		if err := r.l.committedAnyway(r.stmt.Err(), r.ends); err != nil {
			return r.l.sqlError("Query", r.query, r.l.wrap(err))
		}
		return io.EOF
	}
	if r.kinds == nil {
		if r.entry != nil {
			r.kinds = r.entry.declKinds()
		} else {
			r.kinds = declKinds(r.stmt, r.kindsBuf[:0])
		}
	}
	for i := range dest {
		dest[i] = sqlValue(r.stmt, i, r.stmt.ColumnType(i), r.kinds[i])
	}
	return nil
}

// Close ends the statement: the snapshot it held, and for a write with
// RETURNING broken out of early, its commit, whose error it returns. The
// lease goes back when database/sql takes the connection back.
func (r *sqlRows) Close() error {
	if r.closed {
		return nil
	}
	r.closed = true
	if r.l.live() != nil {
		// Released with the connection, which reset the statement; the
		// sqlConn forgot these Rows then.
		return nil
	}
	if r.l.role == RoleWriter {
		r.c.wRows--
	} else {
		r.c.rRows--
	}
	// Reset repeats the error of the last step, which Next returned
	// already; only an error of its own (the commit) is Close's.
	stepErr := r.stmt.Err()
	var err error
	r.l.uninterrupted(func() { err = r.stmt.Reset() })
	r.stmt.ClearBindings()
	if err != nil && stepErr == nil {
		return r.l.sqlError("Query", r.query, r.l.wrap(err))
	}
	return nil
}

// meta reads the declared types and NOT NULL constraints of the columns
// that come straight from a table, from its schema.
func (r *sqlRows) meta() {
	if r.types != nil {
		return
	}
	n := r.stmt.ColumnCount()
	r.types = make([]string, n)
	r.null = make([]nullness, n)
	for i := range n {
		decl := r.stmt.ColumnDeclType(i)
		r.null[i] = nullUnknown
		if col := r.stmt.ColumnOriginName(i); col != "" {
			d, _, notNull, primary, autoInc, err := r.l.raw.TableColumnMetadata(
				r.stmt.ColumnDatabaseName(i), r.stmt.ColumnTableName(i), col)
			if err == nil {
				decl = d
				r.null[i] = mayBeNull
				// An INTEGER PRIMARY KEY is the rowid: never NULL.
				if notNull || autoInc || primary && strings.EqualFold(strings.TrimSpace(d), "INTEGER") {
					r.null[i] = notNullable
				}
			}
		}
		r.types[i] = declTypeName(decl)
	}
}

// ColumnTypeDatabaseTypeName returns the column's declared type, in upper
// case and without its size ("VARCHAR(20)" is "VARCHAR"); "" for an
// expression.
func (r *sqlRows) ColumnTypeDatabaseTypeName(i int) string {
	r.meta()
	return r.types[i]
}

// nullness is what a table's schema says of NULL in a column.
type nullness uint8

const (
	nullUnknown nullness = iota // an expression: no schema says
	mayBeNull
	notNullable // NOT NULL, or the rowid
)

// ColumnTypeNullable reports whether the column may hold NULL, for the
// columns of a table; ok is false for an expression.
func (r *sqlRows) ColumnTypeNullable(i int) (nullable, ok bool) {
	r.meta()
	return r.null[i] != notNullable, r.null[i] != nullUnknown
}

// ColumnTypeScanType returns the Go type the column's values scan into by
// default: from the declared type, or, on a row, the value's own type
// unless the declared type reads it as a bool or a time.
func (r *sqlRows) ColumnTypeScanType(i int) reflect.Type {
	r.meta()
	k := kindOfDecl(r.types[i])
	// On a row Next returned (not the one first stepped to: before Next,
	// the declared types answer, as in ncruces' driver).
	if r.stmt.Busy() && !r.held {
		switch v := sqlValue(r.stmt, i, r.stmt.ColumnType(i), k).(type) {
		case nil:
		case int64:
			return reflect.TypeFor[int64]()
		case float64:
			return reflect.TypeFor[float64]()
		case string:
			return reflect.TypeFor[string]()
		case []byte:
			return reflect.TypeFor[[]byte]()
		default:
			return reflect.TypeOf(v)
		}
	}
	switch k {
	case declInt:
		return reflect.TypeFor[int64]()
	case declReal:
		return reflect.TypeFor[float64]()
	case declText:
		return reflect.TypeFor[string]()
	case declBlob:
		return reflect.TypeFor[[]byte]()
	case declBool:
		return reflect.TypeFor[bool]()
	case declTime:
		return reflect.TypeFor[time.Time]()
	}
	return reflect.TypeFor[any]()
}
