package sqlitepool

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
)

// OpenDB opens the pool of name as [Open] does (the registry's rules: one
// pool per database, shared and refcounted, init run once) and returns a
// [*sql.DB] backed by it, for code written against database/sql: sqlc's
// generated queries, sqlx, goose, golang-migrate, GORM, bun. Closing the
// *sql.DB releases the reference OpenDB took, as [Handle.Close] does: if
// it is the pool's last, Close waits for the Rows, Tx and sql.Conn still
// open, so do not close it while the same goroutine holds one.
//
// Every statement that writes runs on the pool's one writer, in turn with
// the pool's own Write calls, so no two writers ever meet and no
// "database is locked" comes from within the process; reads run on the
// readers. [Handle.DB] describes the routing, transactions and the rules
// to follow.
func OpenDB(name string, init InitFunc, opts ...Option) (*sql.DB, error) {
	h, err := Open(name, init, opts...)
	if err != nil {
		return nil, err
	}
	return newDB(&connector{h: h, owns: true}), nil
}

// DB returns a new [*sql.DB] that runs on h's pool. Close it when done:
// that stops database/sql's own goroutine and gives back what it holds,
// and leaves h open. Once h is closed, its calls fail with an error
// matching [ErrClosed].
//
// database/sql's connections are thin: each leases a pool connection for
// as long as database/sql uses it, and gives it back, cleaned as every
// release is, as soon as database/sql is done with it.
//
//   - Exec runs on the writer, in turn with the pool's own Write calls.
//   - A query runs on a reader, unless its prepared statement writes (the
//     engine's read-only flag decides, not the text: INSERT ... RETURNING,
//     WITH ... DELETE, PRAGMA user_version = 3 and BEGIN IMMEDIATE go to
//     the writer), or the connection already holds the writer.
//   - [sql.DB.BeginTx] with the default or serializable isolation begins
//     BEGIN IMMEDIATE on the writer, which the [sql.Tx] holds until Commit
//     or Rollback; with ReadOnly, it is a snapshot on a reader (a write in
//     it fails with [ErrReadOnly]); other isolation levels are refused.
//   - A [sql.Conn] keeps what it leased (a reader, the writer once it
//     wrote) until it is closed: temp tables, last_insert_rowid() and
//     per-connection pragmas last as long as it. Keep it short while it
//     holds the writer: every other write waits for it.
//   - [sql.Rows] hold their connection until they are closed.
//
// What does not carry over: outside a Tx or a sql.Conn, two calls may run
// on two connections, so per-connection state set by one call is not seen
// by the next: last_insert_rowid() or changes() in a later QueryRow (read
// [sql.Result], or use RETURNING), a temp table, a PRAGMA such as
// foreign_keys (set it for every connection with [WithSetup]).
//
// Do not call db.Exec, or a query that writes, while a Tx of the same
// goroutine is open: the Tx holds the writer, and the call waits for it
// forever. Run it on the Tx. When the call's context is the one the Tx
// was begun with, the pool sees it: once the wait lasts a second it
// counts it in [Stats].SameContextWaits and, with [WithLogger], logs it
// with both call sites; with another context, it counts it in
// [Stats].SQLTxWaits (it may be another goroutine's wait behind a long
// Tx). [sql.DB.SetMaxOpenConns](1) makes every call wait for the one
// connection database/sql has, readers included: leave it unset (the pool
// bounds the real connections).
//
// A call made with a context that holds a lease of the pool (fn's inside
// Read or Write) runs on connections of its own, outside fn's
// transaction; one that needs the writer fn holds fails at once with
// [ErrReentrant]. Inside fn, use fn's Conn, or the handle's methods,
// which run in fn's transaction.
func (h *Handle) DB() *sql.DB {
	return newDB(&connector{h: h})
}

// Connector returns a [driver.Connector] on h's pool, for wrappers that
// take one (tracing, metrics) before [sql.OpenDB]. Its connections behave
// as [Handle.DB] describes; closing the *sql.DB leaves h open.
func (h *Handle) Connector() driver.Connector {
	return &connector{h: h}
}

// idleSQLConns is how many of its connections a *sql.DB of the pool keeps
// idle: each is a few words without a pool connection, so keeping them
// saves only allocations, and database/sql's default of 2 would close and
// recreate them under concurrency.
const idleSQLConns = 64

func newDB(c *connector) *sql.DB {
	db := sql.OpenDB(c)
	db.SetMaxIdleConns(idleSQLConns)
	return db
}

// connector makes database/sql's connections on a handle's pool.
type connector struct {
	h    *Handle
	owns bool // OpenDB's: closing the *sql.DB closes h
}

var (
	_ driver.Connector = (*connector)(nil)
	_ driver.Driver    = sqlDriver{}
)

// Connect returns a new connection, which leases pool connections only
// when database/sql uses it.
func (c *connector) Connect(ctx context.Context) (driver.Conn, error) {
	if c.h.closed.Load() {
		return nil, c.h.errClosed()
	}
	return &sqlConn{h: c.h}, nil
}

// Driver returns a driver that cannot open by name: the pool is reached
// through OpenDB, DB or Connector.
func (c *connector) Driver() driver.Driver { return sqlDriver{} }

// Close is called by [sql.DB.Close]: the *sql.DB of OpenDB closes its
// handle.
func (c *connector) Close() error {
	if c.owns {
		return c.h.Close()
	}
	return nil
}

// sqlDriver is the connector's Driver.
type sqlDriver struct{}

// errDriverOpen is what sql.Open with this driver gets.
var errDriverOpen = errors.New("sqlitepool: the driver opens no database by name; use sqlitepool.OpenDB, Handle.DB or Handle.Connector")

// Open fails: see errDriverOpen.
func (sqlDriver) Open(string) (driver.Conn, error) { return nil, errDriverOpen }
