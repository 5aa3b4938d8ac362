package sqlitepool

import (
	"database/sql"
	"database/sql/driver"
	"fmt"
)

// sqlTx is a transaction of database/sql: a write transaction on the
// writer or a read transaction on a reader, which the sqlConn holds until
// Commit or Rollback (and then until database/sql takes the connection
// back).
type sqlTx struct{ c *sqlConn }

var _ driver.Tx = sqlTx{}

// conn returns the connection the transaction runs on.
func (tx sqlTx) conn() *Conn {
	if tx.c.tx == readSQLTx {
		return tx.c.r
	}
	return tx.c.w
}

// end forgets the transaction on the sqlConn, and the pool that a Tx
// holds the writer if this one did.
func (tx sqlTx) end() {
	if tx.c.tx == writeSQLTx {
		tx.c.h.p.sqlTx.Store(false)
	}
	tx.c.tx, tx.c.txCtx = noSQLTx, nil
}

// Commit commits, unless BeginTx's context has ended: then, as once
// COMMIT has begun, the outcome is the context's to decide before and the
// commit's own after (see Conn's ending). A failed COMMIT is rolled back.
func (tx sqlTx) Commit() error {
	l := tx.conn()
	if l == nil || tx.c.tx == noSQLTx {
		return fmt.Errorf("%w: Commit on %q: no transaction is open", ErrInvalidArgument, tx.c.h.p.t.name)
	}
	use(l, tx.c.txCtx)
	tx.end()
	err := l.ending(func() error { return l.execOwn(&l.commitStmt, "COMMIT") })
	if err != nil {
		l.rollback()
		return fmt.Errorf("sqlitepool: commit on %q: %w", l.db, err)
	}
	return nil
}

// Rollback rolls back, even when the context that would interrupt it has
// ended (database/sql rolls back from another goroutine when BeginTx's
// context ends).
func (tx sqlTx) Rollback() error {
	l := tx.conn()
	if l == nil || tx.c.tx == noSQLTx {
		return fmt.Errorf("%w: Rollback on %q: no transaction is open", ErrInvalidArgument, tx.c.h.p.t.name)
	}
	tx.end()
	l.rollback()
	return nil
}

// checkIsolation refuses an isolation level SQLite does not give.
func checkIsolation(db string, level driver.IsolationLevel) error {
	switch sql.IsolationLevel(level) {
	case sql.LevelDefault, sql.LevelSerializable:
		return nil
	}
	return fmt.Errorf("%w: BeginTx on %q: isolation level %v: %w", ErrInvalidArgument, db, sql.IsolationLevel(level), errIsolation)
}
