package sqlitepool

import (
	"context"
	"fmt"
	"iter"

	"github.com/ncruces/go-sqlite3"
)

// Row is one row of a query: the current row while ranging over
// [Conn.Query] or [Handle.Query], or the single row of [Conn.QueryRow] and
// [Handle.QueryRow], which Scan runs the query for.
type Row struct {
	c    *conn
	l    *Conn         // the lease's Conn it came from; nil for Handle.QueryRow
	stmt *sqlite3.Stmt // while ranging: the statement positioned on the row
	done bool          // the iteration that yielded it ended
	err  error         // the error yielded with it, which Scan returns

	// QueryRow: Scan runs sql with args; on a handle, on a reader leased
	// for the Scan.
	h    *Handle
	ctx  context.Context
	sql  string
	args []any
}

// Stmt returns the statement positioned on the row while ranging over a
// query, for the engine's column accessors; it is valid only until the
// iteration moves on. It is nil for a QueryRow, for a row yielded with an
// error, and once the iteration ended.
func (r *Row) Stmt() *sqlite3.Stmt { return r.stmt }

// Scan copies the row's columns into dest, one pointer per column, or nil
// to skip a column. For QueryRow, Scan runs the query and returns
// [ErrNoRows] when it returned no row. A row yielded by Query with an error
// returns that error; a row kept past its iteration returns [ErrRowDone].
//
// A value is converted only when nothing is lost or made up; otherwise Scan
// returns an error matching [ErrConversion] that names the column, its
// stored type and the destination:
//
//   - *int, *int8 ... *int64, *uint ... *uint64: an INTEGER in the type's
//     range, a FLOAT with no fraction in range, or base-10 integer text.
//   - *float64, *float32: a FLOAT, an INTEGER a float64 holds exactly, or
//     number text; a *float32 gets the nearest float32 (out of range past
//     its largest).
//   - *string: TEXT; a BLOB's bytes; a number formatted as database/sql
//     does (strconv's shortest form).
//   - *[]byte: a new copy of a BLOB or TEXT (numbers formatted); NULL sets
//     nil, an empty value a non-nil empty slice.
//   - *bool: the numbers 0 and 1, or text [strconv.ParseBool] accepts.
//   - *time.Time: RFC 3339 text, as time.Time arguments are stored.
//   - *any: the value as stored: nil, int64, float64, string or []byte.
//   - a [database/sql.Scanner] (*sql.NullString, *sql.NullInt64, yours): its
//     Scan gets the value as stored, as for *any: TEXT as a string, the way
//     ncruces' database/sql driver passes it (other drivers pass []byte);
//     *sql.NullTime gets RFC 3339 text parsed as for *time.Time.
//   - a pointer to a pointer (**int64, **string ...): NULL sets it to nil;
//     otherwise it points to a new value, scanned as above.
//   - a pointer to a named type of one of those kinds (type ID int64):
//     as its kind.
//
// NULL into any other destination is an error: scan into a pointer to a
// pointer, a sql.Null type or *any to accept NULL. A destination of
// another type, or a count that does not match the columns, is an error
// matching [ErrInvalidArgument].
func (r *Row) Scan(dest ...any) error {
	if r.l != nil {
		if err := r.l.live(); err != nil {
			return err
		}
	}
	switch {
	case r.err != nil:
		return r.err
	case r.done:
		return fmt.Errorf("%w: Scan on %q: scan each row inside the loop that yields it", ErrRowDone, r.c.db)
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
	defer func() { err = c.sqlError("QueryRow", sql, err) }()
	defer c.recoverOOM(&err)
	stmt, err := c.query("QueryRow", sql, args)
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
		return fmt.Errorf("%w: QueryRow on %q", ErrNoRows, c.db)
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
			yield(&Row{err: err}, err)
			return
		}
		l.rows(l, sql, args, yield)
	}
}

// rows runs a query and yields its rows: see Conn.Query. l is the lease
// whose Conn asked, nil for Handle.Query.
func (c *conn) rows(l *Conn, sql string, args []any, yield func(*Row, error) bool) {
	{
		stmt, err := c.query("Query", sql, args)
		if err != nil {
			err = c.sqlError("Query", sql, err)
			yield(&Row{err: err}, err)
			return
		}
		row := &Row{c: c, l: l, stmt: stmt}
		defer func() {
			row.stmt, row.done = nil, true
			stmt.Reset()
		}()
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
			err = c.sqlError("Query", sql, c.wrap(err))
			yield(&Row{err: err}, err)
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

// query prepares sql through the cache (see freshStmt) and binds args.
func (c *conn) query(op, sql string, args []any) (*sqlite3.Stmt, error) {
	stmt, err := c.freshStmt("query", sql)
	if err != nil {
		return nil, err
	}
	if err := bindArgs(stmt, args); err != nil {
		return nil, inCall(err, op, c.db)
	}
	return stmt, nil
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
				yield(&Row{err: err}, err)
			}
			return
		}
		c, err := h.acquireOpen(ctx, &h.p.readers)
		if err != nil {
			yield(&Row{err: err}, err)
			return
		}
		defer h.p.release(c)
		c.rows(nil, sql, args, yield)
	}
}

// freshStmt returns a statement for sql, which must be one statement,
// through the cache and not running: a cached statement that is still
// running (the same query nested in its own iteration) is not reused: the
// nested one gets a statement of its own, finalized on release. A
// statement the lease had not used yet was reset by the last release, so
// only one used before is asked (a call into the engine). op names the
// call in the error of SQL that is not one statement.
func (c *conn) freshStmt(op, sql string) (*sqlite3.Stmt, error) {
	stmt, _, err := c.freshEntry(op, sql)
	return stmt, err
}

// freshEntry is freshStmt, with the cache's entry of the statement (nil
// for one prepared apart because the cached one is busy).
func (c *conn) freshEntry(op, sql string) (*sqlite3.Stmt, *cachedStmt, error) {
	e, again, err := c.prep(sql)
	if err != nil {
		return nil, nil, err
	}
	stmt, err := e.single(c.db, op)
	if err != nil {
		return nil, nil, err
	}
	if again && stmt.Busy() {
		if stmt, _, err = c.raw.Prepare(sql); err != nil {
			return nil, nil, c.wrap(err)
		}
		c.cache.adopt(stmt)
		return stmt, nil, nil
	}
	return stmt, e, nil
}
