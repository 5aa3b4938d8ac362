// Package sqlitepool gives every package of a process one shared, refcounted
// connection pool per SQLite database, on the pure-Go engine
// [github.com/ncruces/go-sqlite3].
//
// # Opening
//
// [Open] (or [OpenContext]) takes a database name and returns a [*Handle] to
// the one pool the process keeps for that database. The first Open creates
// the pool, opens its writer and runs the [InitFunc] on it exactly once,
// however many goroutines race to open the same database; they all wait for
// that outcome and share it. A later Open runs its own init once if it is
// another function, and fails with [ErrOptionsConflict] if it asks for
// options the pool does not run with. Each Open returns its own handle, and
// [Handle.Close] releases that one reference: the pool closes its connections
// when the last handle is closed.
//
// Names that reach the same file reach the same pool: "app.db", "./app.db",
// its absolute path, a symlink to it, a hard link to it (on Unix) and
// "file:app.db" all share one pool, so a process never fights itself for SQLite's write
// lock. ":memory:" is
// private: each Open of it makes a new pool whose connections share one
// in-memory database. A named in-memory database ("file:/name?vfs=memdb") is
// shared by name like a file.
//
// # Leases
//
// A pool has one writer connection and up to N read-only reader connections
// (see [WithReaders]). [Handle.Writer] and [Handle.Reader] lease one of them;
// [Lease.Release] gives it back. The closures [Handle.Write] and
// [Handle.Read] run fn(ctx, c) with the lease's context and connection and
// release even when fn panics, and Write runs fn inside
// BEGIN IMMEDIATE ... COMMIT. Waiters are served first in, first out, per
// role, and a [context.Context] bounds every wait.
//
// A [Conn] is valid for its lease only: kept past fn, past Release, or past
// the init that received it, every method that runs SQL fails with
// [ErrLeaseEnded] and runs nothing, and [Conn.Raw] returns nil.
//
// A released connection goes back clean: unfinished statements are reset, the
// interrupt context is cleared and an open transaction is rolled back (and
// counted in [Stats]). A connection that cannot be cleaned is closed and
// replaced, never handed out again.
//
// # Queries and transactions
//
// Each connection caches its prepared statements ([Conn.Prep]); [Conn.Exec],
// [Conn.QueryRow] and [Conn.Query] (an iterator over rows) go through that
// cache, with arguments bound in order or by name ([Named]).
// [Handle.Exec], [Handle.QueryRow] and [Handle.Query] run one statement
// without a closure; [Handle.ExecResult] also returns the [Result] (last
// insert rowid, rows changed), which [Conn.LastInsertRowID] and
// [Conn.Changes] give inside a lease. [Handle.Read] runs fn in one read
// transaction, so all of fn sees one snapshot; [Conn.Savepoint] nests work
// inside a Write, and [Conn.Begin] with a deferred [Tx.End] manages a
// transaction on a lease held by hand. An error that the engine raised
// because the lease's context ended matches that context's error, even from
// a statement fn stepped by hand.
//
// [Handle.Exclusive] waits for every lease and holds the writer and all
// readers (VACUUM, a TRUNCATE checkpoint, schema changes).
// [Handle.Backup] copies the database to a file, consistent as of one
// commit, on a reader while writes go on.
//
// # database/sql
//
// [OpenDB] returns a [database/sql.DB] backed by the pool ([Handle.DB] one
// on a handle, [Handle.Connector] its connector), for sqlc, sqlx, goose,
// golang-migrate, GORM and bun. Its connections lease pool connections only
// while database/sql uses them: Exec and every query whose prepared
// statement writes run on the one writer, other queries on the readers, a
// [database/sql.Tx] is BEGIN IMMEDIATE on the writer (or, ReadOnly, a
// snapshot on a reader) and a [database/sql.Conn] keeps what it leased until
// closed. [Handle.DB] lists the rules: state set by one call is not seen by
// the next outside a Tx or a Conn, and db.Exec while a Tx of the same
// goroutine is open waits for that Tx.
//
// # Nested calls
//
// Go has no goroutine identity, so the pool recognizes a caller that holds
// a connection by its context: the ctx fn receives ([Conn.Context],
// [Lease.Context]). A call on the same pool made with it, or with a context
// derived from it, is served on the connection held. Inside Write,
// [Handle.Exec], [Handle.QueryRow], [Handle.Query] and Read run in the
// writer's transaction and see its uncommitted writes, and a nested Write
// is a savepoint; inside Read, nested reads share its snapshot; inside
// Exclusive, nested calls run on its connections. Helpers written as
// func(ctx context.Context, h *Handle, ...) thus compose inside a
// transaction, as code that passes a *sql.Tx around does. Like the [Conn],
// that context is for one goroutine at a time.
//
// Only a request that could never be served (a Writer lease inside Write,
// a lease inside Exclusive, Exclusive inside any lease, more readers than
// the pool has) fails at once with [ErrReentrant]. A nested call given the outer ctx instead of fn's waits
// for the writer its own goroutine holds; once that wait lasts, the pool
// counts it in [Stats].SameContextWaits and, with [WithLogger], logs both
// call sites.
//
// # Connections
//
// Every connection is opened with WAL, synchronous=NORMAL, a busy timeout and
// foreign_keys=ON; readers are opened with SQLITE_OPEN_READONLY and
// query_only, so a write through a reader fails and changes nothing
// ([Conn.Exec] explains it with [ErrReadOnly]; through [Conn.Raw] it is the
// engine's SQLITE_READONLY). [WithSetup] runs your own pragmas and functions on every
// new connection. Defensive mode and trusted_schema=OFF are on by default
// ([WithDefensive], [WithTrustedSchema]), a database file the pool creates
// is private to its owner ([WithFileMode]), and a commit to a file deleted
// or replaced under the pool fails with [ErrMoved]. A pool opened
// [WithReadOnly] has readers only, for a database another process writes
// or that must not change.
//
// A pool idle for a while parks ([WithParkAfter]): it closes its
// connections and its goroutine until the next lease. With a database per
// tenant, [SetMaxConnections] bounds the connections (and file
// descriptors) of all pools together, parking the least recently used.
//
// # Errors
//
// Errors wrap a sentinel ([ErrClosed], [ErrInvalidArgument],
// [ErrConversion], [ErrNoRows], ...): match them with [errors.Is]. They read
// the sentinel first, then the call and the database, then the detail; an
// error the engine raised in the helpers also names the statement:
//
//	sqlitepool: invalid argument: Exec on "app.db": argument 2: ...
//	sqlitepool: Exec on "app.db": INSERT INTO t(nme) VALUES (?): sqlite3: SQL logic error: ...
package sqlitepool
