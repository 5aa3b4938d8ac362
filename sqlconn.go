package sqlitepool

import (
	"context"
	"database/sql/driver"
	"errors"
	"fmt"
	"time"
)

// sqlConn is a connection of database/sql on the pool: a logical one.
// database/sql keeps its connections in an idle list of its own and hands
// one to each call, Rows, Tx or sql.Conn; a pool connection held all that
// time would sit idle in that list, and a writer so held would stop every
// other write. So sqlConn leases a pool connection when database/sql first
// runs something on it, and gives it back when database/sql is done with
// the sqlConn: database/sql calls IsValid each time it takes a connection
// back (at the end of a call, of Rows, of a Tx, of a sql.Conn), under the
// connection's lock, and ResetSession before it reuses one. A driver
// connection cannot tell a sql.Conn from a single call; it does not need
// to: between two calls of a sql.Conn database/sql does not take the
// connection back, so the lease lasts as long as the sql.Conn, and state
// set on it (a temp table, a pragma, a transaction begun as SQL) lasts as
// long.
//
// It holds at most one reader and the writer: a reader first for queries,
// the writer once something writes. Once it holds the writer, every query
// runs there (it sees the writes, and a writer never waits for a reader,
// so leases cannot wait on each other in a cycle); the reader goes back
// then unless Rows still read from it.
//
// database/sql never calls a connection from two goroutines at once (each
// call holds the connection's lock): sqlConn needs no lock of its own.
type sqlConn struct {
	h      *Handle
	r, w   *Conn // the reader and the writer leased, nil when not held
	rRows  int   // Rows open on r
	wRows  int   // Rows open on w
	tx     sqlTxKind
	txCtx  context.Context // BeginTx's context, while a Tx is open
	closed bool

	rows sqlRows // reused by the next query while no Rows is open (newRows)
}

// sqlTxKind tells which transaction of database/sql a sqlConn runs.
type sqlTxKind uint8

const (
	noSQLTx    sqlTxKind = iota
	writeSQLTx           // BEGIN IMMEDIATE on w
	readSQLTx            // BEGIN on r: ReadOnly
)

var (
	_ driver.Conn               = (*sqlConn)(nil)
	_ driver.ConnBeginTx        = (*sqlConn)(nil)
	_ driver.ConnPrepareContext = (*sqlConn)(nil)
	_ driver.ExecerContext      = (*sqlConn)(nil)
	_ driver.QueryerContext     = (*sqlConn)(nil)
	_ driver.NamedValueChecker  = (*sqlConn)(nil)
	_ driver.SessionResetter    = (*sqlConn)(nil)
	_ driver.Validator          = (*sqlConn)(nil)
	_ driver.Pinger             = (*sqlConn)(nil)
)

// live is the check every call starts with.
func (c *sqlConn) live() error {
	if c.h.closed.Load() {
		return c.h.errClosed()
	}
	if c.closed {
		return fmt.Errorf("%w: a database/sql connection of %q was used after Close", ErrClosed, c.h.p.t.name)
	}
	return nil
}

// Ping reports whether the handle is still open: the pool opens its
// connections itself, and a Ping leases none.
func (c *sqlConn) Ping(context.Context) error { return c.live() }

// reader returns the reader c holds, leasing one if it holds none.
func (c *sqlConn) reader(ctx context.Context) (*Conn, error) {
	if c.r != nil {
		return c.r, nil
	}
	p := c.h.p
	held := leaseOf(ctx, p)
	if err := p.checkReentry(held, &p.readers); err != nil {
		return nil, err
	}
	r, err := c.h.lend(ctx, &p.readers)
	if err != nil {
		return nil, err
	}
	c.r = r
	return r, nil
}

// writer returns the writer c holds, leasing it if c does not hold it
// yet. A reader c holds goes back first unless Rows or a transaction
// still use it; one kept is named as held in the wait (a view of its lease
// with the call's context, ended once the writer is leased), so that a
// pending Exclusive, which waits for that reader, does not hold the
// request back.
func (c *sqlConn) writer(ctx context.Context) (*Conn, error) {
	if c.w != nil {
		return c.w, nil
	}
	p := c.h.p
	if err := p.checkReentry(leaseOf(ctx, p), &p.writer); err != nil {
		return nil, err
	}
	if c.r != nil && c.rRows == 0 && c.tx == noSQLTx {
		p.giveBack(c.r)
		c.r = nil
	}
	actx := ctx
	var view *Conn
	if c.r != nil {
		view = &Conn{ctx: ctx, conn: c.r.conn, hold: c.r.held()}
		actx = view.Context()
	}
	w, err := c.h.lend(actx, &p.writer)
	if view != nil {
		view.endLease()
	}
	if err != nil {
		return nil, err
	}
	c.w = w
	return w, nil
}

// forExec returns the connection an Exec runs on: the writer, but the
// reader of a read-only Tx, where a write must fail.
func (c *sqlConn) forExec(ctx context.Context) (*Conn, error) {
	if c.tx == readSQLTx {
		return c.r, nil
	}
	return c.writer(ctx)
}

// forQuery returns the connection a query tries first: the one of the Tx,
// the writer if held, else a reader.
func (c *sqlConn) forQuery(ctx context.Context) (*Conn, error) {
	switch {
	case c.tx == readSQLTx:
		return c.r, nil
	case c.w != nil:
		return c.w, nil
	}
	return c.reader(ctx)
}

// use makes ctx interrupt the statements run on l from now on, until the
// next call; a context that can never end leaves nothing to ask.
func use(l *Conn, ctx context.Context) {
	if ctx.Done() == nil {
		l.intr.lease = nil
		return
	}
	l.intr.lease = ctx
}

// releaseAll gives back what c holds. A transaction still open (a Tx
// database/sql discarded, a BEGIN run as SQL on a sql.Conn) is rolled back
// by the release, which counts and logs it.
func (c *sqlConn) releaseAll() {
	p := c.h.p
	if c.r != nil {
		p.giveBack(c.r)
		c.r = nil
	}
	if c.w != nil {
		p.sqlTx.Store(false)
		p.giveBack(c.w)
		c.w = nil
	}
	c.rRows, c.wRows, c.tx, c.txCtx = 0, 0, noSQLTx, nil
}

// IsValid is called by database/sql as it takes the connection back: what
// c leased goes back to the pool. A connection of a closed handle is not
// kept.
func (c *sqlConn) IsValid() bool {
	c.releaseAll()
	return !c.h.closed.Load()
}

// ResetSession is called by database/sql before it reuses the connection.
// IsValid gave back everything already; this is the same, in case.
func (c *sqlConn) ResetSession(context.Context) error {
	c.releaseAll()
	return nil
}

// Close gives back what c holds.
func (c *sqlConn) Close() error {
	c.releaseAll()
	c.closed = true
	return nil
}

// CheckNamedValue lets the types bindArg binds as they are go through
// without database/sql's conversion (which uses reflect); the others get
// that conversion (a driver.Valuer's Value, a pointer's pointee, a named
// type as its kind).
func (c *sqlConn) CheckNamedValue(nv *driver.NamedValue) error {
	switch nv.Value.(type) {
	case nil, int64, int, float64, string, []byte, bool, time.Time:
		return nil
	}
	return driver.ErrSkip
}

// Prepare is PrepareContext without a context.
func (c *sqlConn) Prepare(query string) (driver.Stmt, error) {
	return c.PrepareContext(context.Background(), query)
}

// PrepareContext checks query on the connection a query would run on now
// and returns a statement that runs it through the statement cache of
// whichever pool connection each later call gets: a *sql.Stmt outlives
// the lease it was prepared on.
func (c *sqlConn) PrepareContext(ctx context.Context, query string) (driver.Stmt, error) {
	if err := c.live(); err != nil {
		return nil, err
	}
	l, err := c.forQuery(ctx)
	if err != nil {
		return nil, err
	}
	use(l, ctx)
	e, _, err := l.prep(query)
	if err != nil {
		return nil, l.sqlError("Prepare", query, err)
	}
	stmt, err := e.single(l.db, "Prepare")
	if err != nil {
		return nil, err
	}
	return &sqlStmt{c: c, query: query, inputs: numInput(stmt)}, nil
}

// ExecContext runs query on the writer (on the reader of a read-only Tx,
// where it fails if it writes). Without arguments, query may be a script
// of several statements.
func (c *sqlConn) ExecContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Result, error) {
	if err := c.live(); err != nil {
		return nil, err
	}
	l, err := c.forExec(ctx)
	if err != nil {
		return nil, err
	}
	use(l, ctx)
	before := l.raw.TotalChanges()
	if err := l.execNamed(query, args); err != nil {
		return nil, err
	}
	return newSQLResult(l.conn, before), nil
}

// QueryContext runs query on a reader, or on the writer if its prepared
// statement writes or c holds the writer; the Rows hold the connection
// until closed.
func (c *sqlConn) QueryContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Rows, error) {
	if err := c.live(); err != nil {
		return nil, err
	}
	l, err := c.forQuery(ctx)
	if err != nil {
		return nil, err
	}
	use(l, ctx)
	stmt, entry, err := l.freshEntry("Query", query)
	if err != nil {
		return nil, l.sqlError("Query", query, err)
	}
	if l.role == RoleReader && c.tx != readSQLTx && !stmt.ReadOnly() {
		if l, err = c.writer(ctx); err != nil {
			return nil, err
		}
		use(l, ctx)
		if stmt, entry, err = l.freshEntry("Query", query); err != nil {
			return nil, l.sqlError("Query", query, err)
		}
	}
	if err := bindNamed(stmt, args); err != nil {
		return nil, inCall(err, "Query", l.db)
	}
	r := c.newRows(ctx, l, stmt, entry, query)
	if err := r.first(); err != nil {
		r.Close()
		return nil, err
	}
	return r, nil
}

// BeginTx begins a write transaction (BEGIN IMMEDIATE on the writer) for
// the default and serializable isolation levels, and a read transaction
// on a reader for ReadOnly. SQLite's transactions are serializable, so
// other levels, which promise something else, are refused.
func (c *sqlConn) BeginTx(ctx context.Context, opts driver.TxOptions) (driver.Tx, error) {
	if err := c.live(); err != nil {
		return nil, err
	}
	if err := checkIsolation(c.h.p.t.name, opts.Isolation); err != nil {
		return nil, err
	}
	if c.tx != noSQLTx {
		return nil, fmt.Errorf("%w: BeginTx on %q: a transaction is already open on this connection", ErrInvalidArgument, c.h.p.t.name)
	}
	var l *Conn
	var err error
	if opts.ReadOnly {
		if c.w != nil {
			if c.wRows > 0 {
				return nil, fmt.Errorf("%w: BeginTx on %q: a read-only transaction runs on a reader, and Rows of this connection still read from the writer; close them first", ErrInvalidArgument, c.h.p.t.name)
			}
			c.h.p.sqlTx.Store(false)
			c.h.p.giveBack(c.w)
			c.w = nil
		}
		l, err = c.reader(ctx)
	} else {
		l, err = c.writer(ctx)
	}
	if err != nil {
		return nil, err
	}
	use(l, ctx)
	if err := l.begin(); err != nil {
		return nil, err
	}
	c.tx, c.txCtx = writeSQLTx, ctx
	if opts.ReadOnly {
		c.tx = readSQLTx
	} else {
		c.h.p.sqlTx.Store(true)
	}
	return sqlTx{c}, nil
}

// Begin is BeginTx with the default options.
func (c *sqlConn) Begin() (driver.Tx, error) {
	return c.BeginTx(context.Background(), driver.TxOptions{})
}

// errIsolation is the detail of a refused isolation level.
var errIsolation = errors.New("SQLite transactions are serializable: use the default level, sql.LevelSerializable, or ReadOnly")
