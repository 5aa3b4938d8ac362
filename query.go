package sqlitepool

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"time"

	"github.com/ncruces/go-sqlite3"
)

// ErrNoRows is returned by [Row.Scan] when the query returned no row.
var ErrNoRows = errors.New("sqlitepool: no rows in result set")

// Row is one row of a query: the current row while ranging over
// [Conn.Query] or [Handle.Query], or the single row of [Conn.QueryRow] and
// [Handle.QueryRow], which Scan runs the query for.
type Row struct {
	c    *conn
	l    *Conn         // the lease's Conn it came from; nil for Handle.QueryRow
	stmt *sqlite3.Stmt // while ranging: the statement positioned on the row

	// QueryRow: Scan runs sql with args; on a handle, on a reader leased
	// for the Scan.
	h    *Handle
	ctx  context.Context
	sql  string
	args []any
}

// Stmt returns the statement positioned on the row while ranging over a
// query, for the engine's column accessors; it is valid only until the
// iteration moves on. It is nil for a QueryRow.
func (r *Row) Stmt() *sqlite3.Stmt { return r.stmt }

// Scan copies the row's columns into dest, one pointer per column:
// *int, *int64, *int32, *float64, *string, *[]byte (a copy), *bool,
// *time.Time, *any (nil, int64, float64, string or []byte as stored) or nil
// to skip a column. NULL reads as the zero value; scan into *any to tell it
// apart. For QueryRow, Scan runs the query and returns [ErrNoRows] when it
// returned no row.
func (r *Row) Scan(dest ...any) error {
	if r.l != nil {
		if err := r.l.live(); err != nil {
			return err
		}
	}
	switch {
	case r.stmt != nil:
		return scanRow(r.c, r.stmt, dest)
	case r.h != nil:
		return r.h.queryRow(r.ctx, r.sql, r.args, dest)
	}
	return r.c.scanOne(r.sql, r.args, dest)
}

// scanOne runs a query and scans its first row. It resets the statement
// itself, even when a release follows: Reset reports the step's error
// again, and the engine panics on SQLITE_NOMEM, which recoverOOM turns into
// an error here only.
func (c *conn) scanOne(sql string, args, dest []any) (err error) {
	defer c.recoverOOM(&err)
	stmt, err := c.query(sql, args)
	if err != nil {
		return err
	}
	// A write with RETURNING outside a transaction commits when the
	// statement ends: here, at the reset, whose error is then the commit's.
	defer func() {
		if rerr := stmt.Reset(); err == nil && rerr != nil {
			err = c.wrap(rerr)
		}
	}()
	ends := c.ends
	if !stmt.Step() {
		if err := c.committedAnyway(stmt.Err(), ends); err != nil {
			return c.wrap(err)
		}
		return fmt.Errorf("%w: %q", ErrNoRows, c.db)
	}
	return scanRow(c, stmt, dest)
}

// QueryRow prepares a query expected to return at most one row; Scan runs
// it, reads the row and ends the statement. A write with RETURNING run
// outside a transaction commits as its statement ends: Scan then returns
// the commit's error, if any, as its own.
func (l *Conn) QueryRow(sql string, args ...any) *Row {
	return &Row{c: l.conn, l: l, sql: sql, args: args}
}

// Query runs a query and ranges over its rows:
//
//	for row, err := range c.Query("SELECT id, name FROM users WHERE age > ?", 18) {
//		if err != nil {
//			return err
//		}
//		var id int64
//		var name string
//		if err := row.Scan(&id, &name); err != nil {
//			return err
//		}
//	}
//
// An error ends the iteration after it is yielded; breaking out early
// resets the statement. A write with RETURNING run outside a transaction
// makes all its changes before its first row, and commits when its
// statement ends: once it returned a row, the lease's context no longer
// stops it (it is done but for the commit), and if the loop breaks out
// early its commit happens at that reset, where no error can reach the
// loop; run such writes to the end, or inside [Handle.Write].
func (l *Conn) Query(sql string, args ...any) iter.Seq2[*Row, error] {
	return func(yield func(*Row, error) bool) {
		if err := l.live(); err != nil {
			yield(nil, err)
			return
		}
		l.rows(l, sql, args, yield)
	}
}

// rows runs a query and yields its rows: see Conn.Query. l is the lease
// whose Conn asked, nil for Handle.Query.
func (c *conn) rows(l *Conn, sql string, args []any, yield func(*Row, error) bool) {
	{
		stmt, err := c.query(sql, args)
		if err != nil {
			yield(nil, err)
			return
		}
		defer stmt.Reset()
		row := &Row{c: c, l: l, stmt: stmt}
		// Counted before each step: the loop body may commit writes of its
		// own, and only a commit of the step that ends the statement lets
		// its interrupt go.
		ends := c.ends
		// A write with RETURNING outside a transaction makes all its
		// changes at its first step, and commits when it ends, at its last
		// step or at the reset of a loop that broke out: past its first row
		// the context can no longer keep it out of the database, only make
		// it look failed. Its other steps run uninterrupted, as a COMMIT
		// does (see ending).
		finish := c.role == RoleWriter && !stmt.ReadOnly() && c.raw.GetAutocommit()
		for more := stmt.Step(); more; more = c.stepOn(stmt, finish) {
			if !yield(row, nil) {
				return
			}
			ends = c.ends
		}
		if err := c.committedAnyway(stmt.Err(), ends); err != nil {
			yield(nil, c.wrap(err))
		}
	}
}

// stepOn steps a statement past its first row, with the interrupt cleared
// if uninterrupted (see Query).
func (c *conn) stepOn(stmt *sqlite3.Stmt, uninterrupted bool) (more bool) {
	if !uninterrupted {
		return stmt.Step()
	}
	c.uninterrupted(func() { more = stmt.Step() })
	return more
}

// query prepares sql through the cache and binds args. A cached statement
// that is still running (the same query nested in its own iteration) is
// not reused: the nested one gets a statement of its own, finalized on
// release. A statement the lease had not used yet was reset by the last
// release, so only one used before is asked (a call into the engine).
func (c *conn) query(sql string, args []any) (*sqlite3.Stmt, error) {
	e, again, err := c.prep(sql)
	if err != nil {
		return nil, err
	}
	stmt, err := e.single(c.db, "query")
	if err != nil {
		return nil, err
	}
	if again && stmt.Busy() {
		if stmt, _, err = c.raw.Prepare(sql); err != nil {
			return nil, c.wrap(err)
		}
		c.cache.adopt(stmt)
	}
	if err := bindArgs(stmt, args); err != nil {
		return nil, fmt.Errorf("query on %q: %w", c.db, err)
	}
	return stmt, nil
}

func scanRow(c *conn, stmt *sqlite3.Stmt, dest []any) error {
	if n := stmt.ColumnCount(); n != len(dest) {
		return fmt.Errorf("%w: Scan on %q: %d destinations for %d columns", ErrInvalidArgument, c.db, len(dest), n)
	}
	for i, d := range dest {
		switch d := d.(type) {
		case nil:
		case *int:
			*d = stmt.ColumnInt(i)
		case *int64:
			*d = stmt.ColumnInt64(i)
		case *int32:
			*d = int32(stmt.ColumnInt64(i))
		case *float64:
			*d = stmt.ColumnFloat(i)
		case *string:
			*d = stmt.ColumnText(i)
		case *[]byte:
			*d = stmt.ColumnBlob(i, (*d)[:0])
		case *bool:
			*d = stmt.ColumnBool(i)
		case *time.Time:
			if stmt.ColumnType(i) == sqlite3.NULL {
				*d = time.Time{}
			} else {
				*d = stmt.ColumnTime(i, sqlite3.TimeFormatDefault)
			}
		case *any:
			*d = columnValue(stmt, i)
		default:
			return fmt.Errorf("%w: Scan on %q: destination %d has type %T", ErrInvalidArgument, c.db, i+1, d)
		}
	}
	return nil
}

func columnValue(stmt *sqlite3.Stmt, i int) any {
	switch stmt.ColumnType(i) {
	case sqlite3.INTEGER:
		return stmt.ColumnInt64(i)
	case sqlite3.FLOAT:
		return stmt.ColumnFloat(i)
	case sqlite3.TEXT:
		return stmt.ColumnText(i)
	case sqlite3.BLOB:
		return stmt.ColumnBlob(i, nil)
	}
	return nil
}

// Exec runs sql on the writer in a transaction of its own (as [Handle.Write]
// does) and returns once it committed. Given a context that holds the
// writer (fn's inside Write), it runs in that transaction instead.
func (h *Handle) Exec(ctx context.Context, sql string, args ...any) error {
	return h.Write(ctx, func(_ context.Context, c *Conn) error { return c.Exec(sql, args...) })
}

// QueryRow runs a one-row query on a reader when Scan is called, and
// releases the reader before Scan returns. Given a context that holds a
// lease of the pool, it runs on the connection held.
func (h *Handle) QueryRow(ctx context.Context, sql string, args ...any) *Row {
	return &Row{h: h, ctx: ctx, sql: sql, args: args}
}

func (h *Handle) queryRow(ctx context.Context, sql string, args, dest []any) error {
	if held := leaseOf(ctx, h.p); held != nil {
		return held.nested(ctx, func() error { return held.scanOne(sql, args, dest) })
	}
	c, err := h.acquireOpen(ctx, &h.p.readers)
	if err != nil {
		return err
	}
	defer h.p.release(c)
	return c.scanOne(sql, args, dest)
}

// Query runs a query on a reader leased for the iteration, released when it
// ends (or the loop breaks). Given a context that holds a lease of the
// pool, it runs on the connection held.
func (h *Handle) Query(ctx context.Context, sql string, args ...any) iter.Seq2[*Row, error] {
	return func(yield func(*Row, error) bool) {
		if held := leaseOf(ctx, h.p); held != nil {
			err := held.nested(ctx, func() error {
				held.rows(held, sql, args, yield)
				return nil
			})
			if err != nil {
				yield(nil, err)
			}
			return
		}
		c, err := h.acquireOpen(ctx, &h.p.readers)
		if err != nil {
			yield(nil, err)
			return
		}
		defer h.p.release(c)
		c.rows(nil, sql, args, yield)
	}
}
