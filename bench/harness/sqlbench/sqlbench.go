// Package sqlbench is the database/sql contender, shared by the current
// engine's driver and the wazero engine's: the code is the same, only the
// driver registered under the name differs.
package sqlbench

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"

	"github.com/sqlitepool/sqlitepool/bench/harness"
)

// New returns a contender on driver (registered by the caller, under the
// name "sqlite3" for ncruces). With split, it is the common split pattern:
// one *sql.DB with a single connection for writes, another, read-only, for
// reads. Without, it is one *sql.DB for everything.
//
// Both are tuned as ncruces' driver documentation advises: WAL, a busy
// timeout set first, and _txlock=immediate so that a write transaction
// takes the lock at BEGIN instead of failing halfway. The idle limit is
// raised to the open limit (database/sql keeps only 2 idle connections by
// default, and would otherwise close and reopen connections all the time).
//
// Its statements are prepared once per cell (*sql.Stmt).
func New(label, driver string, split bool) harness.Contender {
	return harness.Local{Label: label, Open: func(ctx context.Context, spec harness.Spec) (harness.Session, error) {
		return open(ctx, driver, split, false, spec)
	}}
}

// NewText is New without prepared statements: every call passes its SQL
// text, as sqlc's generated code does by default, and sqlx, GORM and bun
// do.
func NewText(label, driver string) harness.Contender {
	return harness.Local{Label: label, Open: func(ctx context.Context, spec harness.Spec) (harness.Session, error) {
		return open(ctx, driver, false, true, spec)
	}}
}

// NewDB returns a contender on the *sql.DB that open returns for each
// cell, for reads and writes, with the same statements and workers as
// New (with text, as NewText's). The *sql.DB is used as open leaves it
// (its connection limits are open's to set); the session closes it.
func NewDB(label string, text bool, open func(ctx context.Context, spec harness.Spec) (*sql.DB, error)) harness.Contender {
	return harness.Local{Label: label, Open: func(ctx context.Context, spec harness.Spec) (_ harness.Session, err error) {
		db, err := open(ctx, spec)
		if err != nil {
			return nil, err
		}
		s := &session{reads: db, writes: db, text: text}
		if err := s.prepare(ctx); err != nil {
			return nil, errors.Join(err, s.Close())
		}
		return s, nil
	}}
}

// DSN is the data source name for path: WAL, synchronous=NORMAL (as every
// contender), the busy timeout first, and immediate write transactions.
// readOnly opens with mode=ro instead, for the split pattern's readers.
func DSN(path string, spec harness.Spec, readOnly bool) string {
	q := url.Values{}
	q.Add("_pragma", fmt.Sprintf("busy_timeout(%d)", spec.BusyTimeout.Milliseconds()))
	if readOnly {
		q.Set("mode", "ro")
		q.Add("_pragma", "query_only(1)")
	} else {
		q.Add("_pragma", "journal_mode(wal)")
		q.Set("_txlock", "immediate")
	}
	q.Add("_pragma", "synchronous(normal)")
	return (&url.URL{Scheme: "file", Path: path, RawQuery: q.Encode()}).String()
}

type session struct {
	reads, writes *sql.DB // the same *sql.DB unless split
	text          bool    // the SQL text on every call: no statement prepared
	point, join   *sql.Stmt
	insert        *sql.Stmt // prepared on writes
}

func open(ctx context.Context, driver string, split, text bool, spec harness.Spec) (_ harness.Session, err error) {
	s := &session{text: text}
	defer func() {
		if err != nil {
			err = errors.Join(err, s.Close())
		}
	}()
	if s.writes, err = sql.Open(driver, DSN(spec.Path, spec, false)); err != nil {
		return nil, err
	}
	if split {
		// The writer: one connection, so writes queue in database/sql
		// instead of fighting for SQLite's lock.
		s.writes.SetMaxOpenConns(1)
		if s.reads, err = sql.Open(driver, DSN(spec.Path, spec, true)); err != nil {
			return nil, err
		}
		limit(s.reads, spec.Conns)
	} else {
		// As many connections as sqlitepool has: its readers and its
		// writer.
		limit(s.writes, spec.Conns+1)
		s.reads = s.writes
	}
	if err := s.prepare(ctx); err != nil {
		return nil, err
	}
	return s, nil
}

// prepare prepares the session's statements, once per cell, unless it
// passes the text on every call.
func (s *session) prepare(ctx context.Context) (err error) {
	if s.text {
		return nil
	}
	if s.point, err = s.reads.PrepareContext(ctx, harness.SQLPointRead); err != nil {
		return err
	}
	if s.join, err = s.reads.PrepareContext(ctx, harness.SQLJoinAgg); err != nil {
		return err
	}
	s.insert, err = s.writes.PrepareContext(ctx, harness.SQLInsert)
	return err
}

func limit(db *sql.DB, n int) {
	db.SetMaxOpenConns(n)
	db.SetMaxIdleConns(n)
}

func (s *session) NewWorker() (harness.Worker, error) { return worker{s}, nil }

func (s *session) Close() error {
	var errs []error
	for _, st := range []*sql.Stmt{s.point, s.join, s.insert} {
		if st != nil {
			errs = append(errs, st.Close())
		}
	}
	if s.reads != nil && s.reads != s.writes {
		errs = append(errs, s.reads.Close())
	}
	if s.writes != nil {
		errs = append(errs, s.writes.Close())
	}
	return errors.Join(errs...)
}

// worker holds nothing of its own: database/sql lends a connection per
// call. Its context is Background, as for every contender.
type worker struct{ s *session }

func (w worker) PointRead(id int64) (u harness.User, err error) {
	ctx := context.Background()
	var row *sql.Row
	if w.s.text {
		row = w.s.reads.QueryRowContext(ctx, harness.SQLPointRead, id)
	} else {
		row = w.s.point.QueryRowContext(ctx, id)
	}
	err = row.Scan(&u.ID, &u.Name, &u.Email, &u.CreatedAt)
	return u, err
}

func (w worker) JoinAgg(postID int64) (n int, err error) {
	ctx := context.Background()
	var rows *sql.Rows
	if w.s.text {
		rows, err = w.s.reads.QueryContext(ctx, harness.SQLJoinAgg, postID)
	} else {
		rows, err = w.s.join.QueryContext(ctx, postID)
	}
	if err != nil {
		return 0, err
	}
	defer rows.Close()
	var name string
	var count int64
	for rows.Next() {
		if err := rows.Scan(&name, &count); err != nil {
			return n, err
		}
		n++
	}
	return n, rows.Err()
}

func (w worker) Insert(rows []harness.Like) (err error) {
	ctx := context.Background()
	tx, err := w.s.writes.BeginTx(ctx, nil) // BEGIN IMMEDIATE: _txlock, or the pool's writer
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			err = errors.Join(err, tx.Rollback())
		}
	}()
	exec := func(r harness.Like) (sql.Result, error) {
		return tx.ExecContext(ctx, harness.SQLInsert, r.PostID, r.UserID, r.CreatedAt)
	}
	if !w.s.text {
		st := tx.StmtContext(ctx, w.s.insert)
		exec = func(r harness.Like) (sql.Result, error) {
			return st.ExecContext(ctx, r.PostID, r.UserID, r.CreatedAt)
		}
	}
	for _, r := range rows {
		if _, err := exec(r); err != nil {
			return err
		}
	}
	return tx.Commit()
}

func (worker) Close() error { return nil }
