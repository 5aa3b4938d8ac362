package contenders

import (
	"context"
	"errors"
	"fmt"

	"github.com/ncruces/go-sqlite3"

	"github.com/sqlitepool/sqlitepool/bench/harness"
)

// Bare is the ceiling: every goroutine owns an engine connection and keeps
// its statements prepared, with nothing between the caller and the engine.
// Writes begin IMMEDIATE and wait for the lock in the busy handler, as
// separate connections must.
func Bare() harness.Contender {
	return harness.Local{Label: "bare", Open: func(_ context.Context, spec harness.Spec) (harness.Session, error) {
		return bareSession{spec}, nil
	}}
}

type bareSession struct{ spec harness.Spec }

func (s bareSession) Close() error { return nil }

func (s bareSession) NewWorker() (_ harness.Worker, err error) {
	c, err := openRaw(s.spec)
	if err != nil {
		return nil, err
	}
	w := &bareWorker{c: c}
	defer func() {
		if err != nil {
			err = errors.Join(err, w.Close())
		}
	}()
	for _, p := range []struct {
		stmt **sqlite3.Stmt
		sql  string
	}{
		{&w.point, harness.SQLPointRead},
		{&w.join, harness.SQLJoinAgg},
		{&w.insert, harness.SQLInsert},
		{&w.begin, "BEGIN IMMEDIATE"},
		{&w.commit, "COMMIT"},
	} {
		if *p.stmt, _, err = c.PrepareFlags(p.sql, sqlite3.PREPARE_PERSISTENT); err != nil {
			return nil, err
		}
	}
	return w, nil
}

// openRaw opens a read-write connection with the settings every contender
// shares: the busy timeout first, then WAL and synchronous=NORMAL.
func openRaw(spec harness.Spec) (*sqlite3.Conn, error) {
	c, err := sqlite3.OpenFlags(spec.Path, sqlite3.OPEN_READWRITE)
	if err != nil {
		return nil, err
	}
	if err := c.BusyTimeout(spec.BusyTimeout); err != nil {
		return nil, errors.Join(err, c.Close())
	}
	if err := c.Exec("PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL"); err != nil {
		return nil, errors.Join(fmt.Errorf("pragmas: %w", err), c.Close())
	}
	return c, nil
}

type bareWorker struct {
	c                                  *sqlite3.Conn
	point, join, insert, begin, commit *sqlite3.Stmt
}

func (w *bareWorker) PointRead(id int64) (harness.User, error) {
	return readUser(w.point, id)
}

// readUser runs a prepared SQLPointRead and leaves it reset.
func readUser(stmt *sqlite3.Stmt, id int64) (u harness.User, err error) {
	defer stmt.Reset()
	stmt.BindInt64(1, id)
	if !stmt.Step() {
		return u, noRow(stmt.Err())
	}
	return harness.User{ID: stmt.ColumnInt64(0), Name: stmt.ColumnText(1), Email: stmt.ColumnText(2), CreatedAt: stmt.ColumnInt64(3)}, nil
}

func (w *bareWorker) JoinAgg(postID int64) (int, error) {
	return joinRows(w.join, postID)
}

// joinRows runs a prepared SQLJoinAgg and leaves it reset.
func joinRows(stmt *sqlite3.Stmt, postID int64) (n int, err error) {
	defer stmt.Reset()
	stmt.BindInt64(1, postID)
	for stmt.Step() {
		_, _ = stmt.ColumnText(0), stmt.ColumnInt64(1)
		n++
	}
	return n, stmt.Err()
}

func (w *bareWorker) Insert(rows []harness.Like) error {
	return insertTx(w.c, w.begin, w.insert, w.commit, rows)
}

// insertTx inserts rows in one BEGIN IMMEDIATE transaction with prepared
// statements, rolling back on error.
func insertTx(c *sqlite3.Conn, begin, insert, commit *sqlite3.Stmt, rows []harness.Like) error {
	if err := begin.Exec(); err != nil {
		return err
	}
	if err := insertRows(insert, rows); err != nil {
		return errors.Join(err, rollback(c))
	}
	if err := commit.Exec(); err != nil {
		return errors.Join(err, rollback(c))
	}
	return nil
}

// insertRows runs a prepared SQLInsert once per row: the same loop for
// every contender on the ncruces engine (sqlitepool's Conn.Prep returns
// the engine's statement too).
func insertRows(insert *sqlite3.Stmt, rows []harness.Like) error {
	for _, r := range rows {
		insert.BindInt64(1, r.PostID)
		insert.BindInt64(2, r.UserID)
		insert.BindInt64(3, r.CreatedAt)
		if err := insert.Exec(); err != nil {
			return err
		}
	}
	return nil
}

func rollback(c *sqlite3.Conn) error {
	if c.GetAutocommit() {
		return nil
	}
	return c.Exec("ROLLBACK")
}

func (w *bareWorker) Close() error {
	for _, s := range []*sqlite3.Stmt{w.point, w.join, w.insert, w.begin, w.commit} {
		if s != nil {
			s.Close()
		}
	}
	return w.c.Close()
}
