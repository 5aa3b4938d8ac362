package contenders

import (
	"context"
	"fmt"

	"zombiezen.com/go/sqlite"
	"zombiezen.com/go/sqlite/sqlitex"

	"github.com/sqlitepool/sqlitepool/bench/harness"
)

// Zombiezen is zombiezen.com/go/sqlite's sqlitex.Pool (on modernc.org's
// SQLite, translated from C to Go) with cached statements from Conn.Prep:
// one pool for reads and writes, as many connections as sqlitepool has.
// Writes use sqlitex.ImmediateTransaction.
func Zombiezen() harness.Contender {
	return harness.Local{Label: "zombiezen", Open: openZombie}
}

func openZombie(_ context.Context, spec harness.Spec) (harness.Session, error) {
	p, err := sqlitex.NewPool(spec.Path, sqlitex.PoolOptions{
		PoolSize: spec.Conns + 1,
		PrepareConn: func(c *sqlite.Conn) error {
			// The default busy handler waits forever; every contender waits
			// spec.BusyTimeout.
			c.SetBusyTimeout(spec.BusyTimeout)
			return sqlitex.ExecuteTransient(c, "PRAGMA synchronous=NORMAL", nil)
		},
	})
	if err != nil {
		return nil, err
	}
	return zombieSession{p}, nil
}

type zombieSession struct{ p *sqlitex.Pool }

func (s zombieSession) NewWorker() (harness.Worker, error) { return zombieWorker(s), nil }
func (s zombieSession) Close() error                       { return s.p.Close() }

type zombieWorker struct{ p *sqlitex.Pool }

func (w zombieWorker) PointRead(id int64) (u harness.User, err error) {
	c, err := w.p.Take(context.Background())
	if err != nil {
		return u, err
	}
	defer w.p.Put(c)
	stmt := c.Prep(harness.SQLPointRead)
	defer stmt.Reset()
	stmt.BindInt64(1, id)
	ok, err := stmt.Step()
	switch {
	case err != nil:
		return u, err
	case !ok:
		return u, fmt.Errorf("user %d: %w", id, errNoRow)
	}
	return harness.User{ID: stmt.ColumnInt64(0), Name: stmt.ColumnText(1), Email: stmt.ColumnText(2), CreatedAt: stmt.ColumnInt64(3)}, nil
}

func (w zombieWorker) JoinAgg(postID int64) (n int, err error) {
	c, err := w.p.Take(context.Background())
	if err != nil {
		return 0, err
	}
	defer w.p.Put(c)
	stmt := c.Prep(harness.SQLJoinAgg)
	defer stmt.Reset()
	stmt.BindInt64(1, postID)
	for {
		ok, err := stmt.Step()
		if err != nil || !ok {
			return n, err
		}
		_, _ = stmt.ColumnText(0), stmt.ColumnInt64(1)
		n++
	}
}

func (w zombieWorker) Insert(rows []harness.Like) (err error) {
	c, err := w.p.Take(context.Background())
	if err != nil {
		return err
	}
	defer w.p.Put(c)
	end, err := sqlitex.ImmediateTransaction(c)
	if err != nil {
		return err
	}
	defer end(&err)
	stmt := c.Prep(harness.SQLInsert)
	for _, r := range rows {
		stmt.BindInt64(1, r.PostID)
		stmt.BindInt64(2, r.UserID)
		stmt.BindInt64(3, r.CreatedAt)
		if _, err := stmt.Step(); err != nil {
			stmt.Reset()
			return err
		}
		if err := stmt.Reset(); err != nil {
			return err
		}
	}
	return nil
}

func (zombieWorker) Close() error { return nil }
