// Package sqlx_test runs github.com/jmoiron/sqlx unchanged on a *sql.DB
// from sqlitepool.OpenDB.
package sqlx_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/jmoiron/sqlx"
	"go.uber.org/goleak"

	"github.com/sqlitepool/sqlitepool"
	"github.com/sqlitepool/sqlitepool/compat/internal/poolcheck"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

func initSchema(ctx context.Context, c *sqlitepool.Conn) error {
	return c.Exec(`
CREATE TABLE counters (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
INSERT INTO counters VALUES ('hits', 0);
CREATE TABLE events (
  id        INTEGER PRIMARY KEY,
  goroutine INTEGER NOT NULL,
  step      INTEGER NOT NULL,
  at        TIMESTAMP NOT NULL,
  odd       BOOLEAN NOT NULL,
  UNIQUE (goroutine, step)
);`)
}

type event struct {
	ID        int64     `db:"id"`
	Goroutine int       `db:"goroutine"`
	Step      int       `db:"step"`
	At        time.Time `db:"at"`
	Odd       bool      `db:"odd"`
}

const steps = 40 // per goroutine

// TestCounter increments a counter from 16 goroutines with sqlx's idioms:
// each step reads the counter and writes it back plus one in a
// transaction (Get, Exec, NamedExec of an event), so a lost update would
// show in the total; every seventh step also tries to insert a duplicate
// event, which must fail and roll the whole step back. Each event is read
// back with Get (struct scan: time and bool), the goroutine's events with
// Select, and a statement prepared once with Preparex is shared by all.
func TestCounter(t *testing.T) {
	db := poolcheck.Open(t, initSchema)
	x := sqlx.NewDb(db.DB, "sqlite3")
	ctx := t.Context()
	count, err := x.PreparexContext(ctx, `SELECT count(*) FROM events WHERE goroutine = ?`)
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := count.Close(); err != nil {
			t.Error(err)
		}
	}()
	base := time.Date(2026, 5, 6, 7, 8, 9, 0, time.UTC)

	db.Run(t, steps, func(ctx context.Context, g, i int) error {
		ev := event{Goroutine: g, Step: i, At: base.Add(time.Duration(g*steps+i) * time.Second), Odd: i%2 == 1}
		if err := increment(ctx, x, ev); err != nil {
			return err
		}
		if i%7 == 3 {
			err := increment(ctx, x, ev) // the event is there: UNIQUE fails
			if err == nil {
				return errors.New("a duplicate event was accepted")
			}
		}
		var got event
		if err := x.GetContext(ctx, &got, `SELECT * FROM events WHERE goroutine = ? AND step = ?`, g, i); err != nil {
			return err
		}
		if got.Goroutine != g || got.Step != i || got.Odd != ev.Odd || !got.At.Equal(ev.At) {
			return fmt.Errorf("read back %+v, want %+v", got, ev)
		}
		var mine []event
		if err := x.SelectContext(ctx, &mine, `SELECT * FROM events WHERE goroutine = ? ORDER BY step`, g); err != nil {
			return err
		}
		if len(mine) != i+1 || mine[i].Step != i {
			return fmt.Errorf("goroutine %d sees %d events of its own after step %d", g, len(mine), i)
		}
		var n int
		if err := count.GetContext(ctx, &n, g); err != nil {
			return err
		}
		if n != i+1 {
			return fmt.Errorf("prepared count: %d events, want %d", n, i+1)
		}
		return nil
	})

	want := int64(poolcheck.Goroutines * steps)
	if got := db.Scalar(t, `SELECT value FROM counters WHERE name = 'hits'`); got != want {
		t.Errorf("counter %d, want %d (an update was lost, or a failed step kept its increment)", got, want)
	}
	if got := db.Scalar(t, `SELECT count(*) FROM events`); got != want {
		t.Errorf("%d events, want %d", got, want)
	}
	query, args, err := sqlx.In(`SELECT count(*) FROM events WHERE step IN (?) AND odd`, []int{1, 2, 3})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := db.Scalar(t, x.Rebind(query), args...), int64(2*poolcheck.Goroutines); got != want {
		t.Errorf("sqlx.In query: %d odd events at steps 1-3, want %d", got, want)
	}
}

// increment reads the counter, writes it back plus one and records ev,
// in one transaction.
func increment(ctx context.Context, x *sqlx.DB, ev event) (err error) {
	tx, err := x.BeginTxx(ctx, nil)
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			err = errors.Join(err, tx.Rollback())
		}
	}()
	var v int64
	if err := tx.GetContext(ctx, &v, `SELECT value FROM counters WHERE name = ?`, "hits"); err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, `UPDATE counters SET value = ? WHERE name = ?`, v+1, "hits"); err != nil {
		return err
	}
	_, err = tx.NamedExecContext(ctx, `INSERT INTO events (goroutine, step, at, odd) VALUES (:goroutine, :step, :at, :odd)`, ev)
	if err != nil {
		return err
	}
	return tx.Commit()
}
