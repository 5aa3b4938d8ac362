package contenders

import (
	"context"
	"errors"

	"github.com/ncruces/go-sqlite3"

	"github.com/sqlitepool/sqlitepool/bench/harness"
)

// OpenPerOp is the seeds' "without pool": every operation opens a
// connection, sets the busy timeout, WAL and synchronous, prepares its
// statement, runs it and closes the connection.
func OpenPerOp() harness.Contender {
	return harness.Local{Label: "open-per-op", Open: func(_ context.Context, spec harness.Spec) (harness.Session, error) {
		return perOpSession{spec}, nil
	}}
}

type perOpSession struct{ spec harness.Spec }

func (s perOpSession) NewWorker() (harness.Worker, error) { return perOpWorker(s), nil }
func (s perOpSession) Close() error                       { return nil }

type perOpWorker struct{ spec harness.Spec }

// with opens a connection, prepares sql on it, runs fn and closes both.
func (w perOpWorker) with(sql string, fn func(*sqlite3.Conn, *sqlite3.Stmt) error) (err error) {
	c, err := openRaw(w.spec)
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, c.Close()) }()
	stmt, _, err := c.Prepare(sql)
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, stmt.Close()) }()
	return fn(c, stmt)
}

func (w perOpWorker) PointRead(id int64) (u harness.User, err error) {
	err = w.with(harness.SQLPointRead, func(_ *sqlite3.Conn, stmt *sqlite3.Stmt) error {
		u, err = readUser(stmt, id)
		return err
	})
	return u, err
}

func (w perOpWorker) JoinAgg(postID int64) (n int, err error) {
	err = w.with(harness.SQLJoinAgg, func(_ *sqlite3.Conn, stmt *sqlite3.Stmt) error {
		n, err = joinRows(stmt, postID)
		return err
	})
	return n, err
}

func (w perOpWorker) Insert(rows []harness.Like) error {
	return w.with(harness.SQLInsert, func(c *sqlite3.Conn, insert *sqlite3.Stmt) error {
		if err := c.Exec("BEGIN IMMEDIATE"); err != nil {
			return err
		}
		if err := insertRows(insert, rows); err != nil {
			return errors.Join(err, rollback(c))
		}
		if err := c.Exec("COMMIT"); err != nil {
			return errors.Join(err, rollback(c))
		}
		return nil
	})
}

func (perOpWorker) Close() error { return nil }
