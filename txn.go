package sqlitepool

import (
	"errors"
	"fmt"
	"strconv"

	"github.com/ncruces/go-sqlite3"
)

// Tx is a transaction begun with [Conn.Begin] on a leased connection. End
// it with a deferred [Tx.End]:
//
//	tx, err := c.Begin()
//	if err != nil {
//		return err
//	}
//	defer tx.End(&err)
type Tx struct {
	c *Conn
}

// begin starts a transaction of c's role: see Conn.Begin.
func (c *conn) begin() error {
	sql := "BEGIN"
	if c.role == RoleWriter {
		sql = "BEGIN IMMEDIATE"
	}
	if err := c.execOwn(&c.beginStmt, sql); err != nil {
		return fmt.Errorf("sqlitepool: begin on %q: %w", c.db, err)
	}
	return nil
}

// Begin starts a transaction: BEGIN IMMEDIATE on the writer (the write lock
// is taken at once, so the transaction cannot fail halfway with
// SQLITE_BUSY), a deferred BEGIN on a reader (its first read pins the
// snapshot every later statement of the transaction sees).
func (l *Conn) Begin() (Tx, error) {
	if err := l.live(); err != nil {
		return Tx{}, err
	}
	if err := l.begin(); err != nil {
		return Tx{}, err
	}
	return Tx{l}, nil
}

// End commits the transaction if *errp is nil and no panic is under way,
// and rolls it back otherwise; a failed COMMIT is stored in *errp and rolled
// back. A lease's context that ended before COMMIT fails it; once COMMIT has
// started, the context no longer stops it. A panic goes on after the
// rollback. Call End only with defer.
func (tx Tx) End(errp *error) {
	if err := tx.c.live(); err != nil {
		if *errp == nil {
			*errp = err
		}
		return
	}
	v := recover()
	tx.c.finish(errp, v)
}

// endTx is Tx.End for a transaction begun with begin. It must be called
// with defer, for recover to see a panic.
func (c *conn) endTx(errp *error) {
	c.finish(errp, recover())
}

// finish commits if *errp is nil and v (a recovered panic) is nil, and
// rolls back otherwise; then the panic goes on.
func (c *conn) finish(errp *error, v any) {
	if v == nil && *errp == nil {
		err := c.ending(func() error { return c.execOwn(&c.commitStmt, "COMMIT") })
		if err == nil {
			return
		}
		*errp = fmt.Errorf("sqlitepool: commit on %q: %w", c.db, err)
	}
	c.rollback()
	if v != nil {
		panic(v)
	}
}

// Savepoint runs fn inside a savepoint, nested in the current transaction:
// if fn returns an error or panics, only fn's work is rolled back, and the
// error (or panic) goes on; otherwise fn's work joins the transaction. This
// is how to nest Write-style work inside [Handle.Write]. Outside a
// transaction, the savepoint is a transaction of its own (a deferred one).
func (l *Conn) Savepoint(fn func(*Conn) error) error {
	if err := l.live(); err != nil {
		return err
	}
	return l.savepoint(func() error { return fn(l) })
}

// savepoint runs fn inside a savepoint: see Conn.Savepoint.
func (c *conn) savepoint(fn func() error) (err error) {
	c.savepoints++
	defer func() { c.savepoints-- }()
	name := "sqlitepool_" + strconv.Itoa(c.savepoints)
	if err := c.raw.Exec("SAVEPOINT " + name); err != nil {
		return fmt.Errorf("sqlitepool: savepoint on %q: %w", c.db, c.wrap(err))
	}
	released := false
	defer func() {
		if !released {
			c.uninterrupted(func() { c.raw.Exec("ROLLBACK TO " + name + "; RELEASE " + name) })
		}
	}()
	if err := fn(); err != nil {
		return err
	}
	if err := c.ending(func() error { return c.wrap(c.raw.Exec("RELEASE " + name)) }); err != nil {
		return fmt.Errorf("sqlitepool: release savepoint on %q: %w", c.db, err)
	}
	released = true
	return nil
}

// ending runs end, a COMMIT or a RELEASE, if the lease's context has not
// ended, and then without the interrupt: the context decides before the
// end, not during it. Once a statement has finished, SQLite asks the
// progress handler once more, and reports SQLITE_INTERRUPT for a COMMIT
// that took effect (vdbe_return in vdbe.c). It does so when the statement's
// steps, counted over all its runs, cross a multiple of the handler's
// period: for the COMMIT every Write reuses, every few hundred Writes.
// Ending a transaction is short: it writes to the WAL, or rolls back.
func (c *conn) ending(end func() error) (err error) {
	if c.raw.GetInterrupt().Err() != nil {
		return c.wrap(sqlite3.INTERRUPT)
	}
	c.uninterrupted(func() { err = end() })
	return err
}

// txnEnds counts the transactions a writer ended, as its commit and
// rollback hooks saw them.
type txnEnds struct{ commits, rollbacks uint64 }

// committedAnyway drops err if it is an interrupt that SQLite raised after
// the statement's commit took effect; before is c.ends as the step that
// ended the statement started (not the statement: between its steps, the
// caller may commit writes of its own). A statement run outside a
// transaction on the writer (or a COMMIT run as SQL) commits when it
// finishes, and the engine then asks the progress handler once more (see
// ending): an interrupt seen then fails a statement whose work is already in
// the database. A commit took effect if the commit hook let it through and
// no rollback followed (a COMMIT can still fail after the hook, writing the
// WAL, and the interrupt would then hide that error). Other errors stand.
func (c *conn) committedAnyway(err error, before txnEnds) error {
	if err != nil && c.ends.commits != before.commits && c.ends.rollbacks == before.rollbacks &&
		errors.Is(err, sqlite3.INTERRUPT) && c.raw.GetAutocommit() {
		return nil
	}
	return err
}

// inTx runs fn in a transaction of c's role: Handle.Write, and Handle.Read
// on a database in memory (on a file, Read holds its snapshot with
// inSnapshot).
func (c *conn) inTx(fn func() error) (err error) {
	if err := c.begin(); err != nil {
		return err
	}
	defer c.endTx(&err)
	return fn()
}

// execOwn runs one of the connection's own statements.
func (c *conn) execOwn(stmt **sqlite3.Stmt, sql string) error {
	s, err := c.ownStmt(stmt, sql)
	if err != nil {
		return err
	}
	return c.wrap(s.Exec())
}

// ownStmt returns one of the connection's own statements (BEGIN, COMMIT,
// the snapshot pin), kept out of the cache, preparing it on first use.
func (c *conn) ownStmt(stmt **sqlite3.Stmt, sql string) (*sqlite3.Stmt, error) {
	if *stmt == nil {
		s, _, err := c.raw.PrepareFlags(sql, sqlite3.PREPARE_PERSISTENT)
		if err != nil {
			return nil, c.wrap(err)
		}
		*stmt = s
	}
	return *stmt, nil
}
