// Package migrate_test runs github.com/golang-migrate/migrate/v4 unchanged
// on a *sql.DB from sqlitepool.OpenDB, through its database/sqlite driver's
// WithInstance. That driver is the one of migrate's SQLite drivers built
// without cgo (it imports modernc.org/sqlite, whose driver it does not use
// here: WithInstance takes the *sql.DB as it is).
package migrate_test

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"testing"

	"github.com/golang-migrate/migrate/v4"
	"github.com/golang-migrate/migrate/v4/database/sqlite"
	"github.com/golang-migrate/migrate/v4/source/iofs"
	"go.uber.org/goleak"

	"github.com/sqlitepool/sqlitepool"
	"github.com/sqlitepool/sqlitepool/compat/internal/poolcheck"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

//go:embed migrations/*.sql
var migrations embed.FS

func initEvents(ctx context.Context, c *sqlitepool.Conn) error {
	return c.Exec(`CREATE TABLE events (g INTEGER NOT NULL, i INTEGER NOT NULL, PRIMARY KEY (g, i))`)
}

const steps = 30 // per goroutine

// TestMigrate runs migrate's Up (each file, several statements, in a
// transaction of its own) from one goroutine while 15 others insert and
// count rows; then all 16 post to the ledger the migrations made, whose
// trigger keeps the balances; then one migration goes down and up again.
func TestMigrate(t *testing.T) {
	db := poolcheck.Open(t, initEvents)
	driver, err := sqlite.WithInstance(db.DB, &sqlite.Config{})
	if err != nil {
		t.Fatal(err)
	}
	src, err := iofs.New(migrations, "migrations")
	if err != nil {
		t.Fatal(err)
	}
	m, err := migrate.NewWithInstance("iofs", src, "sqlite", driver)
	if err != nil {
		t.Fatal(err)
	}
	closed := false
	closeM := func() {
		closed = true
		srcErr, dbErr := m.Close() // closes db.DB too
		if err := errors.Join(srcErr, dbErr); err != nil {
			t.Error(err)
		}
	}
	defer func() {
		if !closed {
			closeM()
		}
	}()

	db.Run(t, steps, func(ctx context.Context, g, i int) error {
		if g == 0 && i == steps/3 {
			if err := m.Up(); err != nil {
				return err
			}
		}
		if _, err := db.ExecContext(ctx, `INSERT INTO events (g, i) VALUES (?, ?)`, g, i); err != nil {
			return err
		}
		var n int
		if err := db.QueryRowContext(ctx, `SELECT count(*) FROM events WHERE g = ?`, g).Scan(&n); err != nil {
			return err
		}
		if n != i+1 {
			return fmt.Errorf("goroutine %d counts %d events after step %d", g, n, i)
		}
		return nil
	})
	checkVersion(t, m, 2)

	db.Run(t, steps, func(ctx context.Context, g, i int) error {
		tx, err := db.BeginTx(ctx, nil)
		if err != nil {
			return err
		}
		for _, post := range []struct{ owner, delta string }{{"bob", "-1"}, {"alice", "1"}} {
			_, err := tx.ExecContext(ctx, `INSERT INTO ledger (account_id, delta) SELECT id, ? FROM accounts WHERE owner = ?`, post.delta, post.owner)
			if err != nil {
				return errors.Join(err, tx.Rollback())
			}
		}
		return tx.Commit()
	})
	moved := int64(poolcheck.Goroutines * steps)
	if got := db.Scalar(t, `SELECT balance FROM accounts WHERE owner = 'alice'`); got != 100+moved {
		t.Errorf("alice's balance %d, want %d", got, 100+moved)
	}
	if got := db.Scalar(t, `SELECT sum(balance) FROM accounts`); got != 200 {
		t.Errorf("balances sum to %d, want 200", got)
	}

	if err := m.Steps(-1); err != nil {
		t.Fatal(err)
	}
	checkVersion(t, m, 1)
	if got := db.Scalar(t, `SELECT count(*) FROM sqlite_schema WHERE name IN ('ledger', 'ledger_apply')`); got != 0 {
		t.Errorf("ledger objects left after one step down: %d", got)
	}
	if err := m.Up(); err != nil {
		t.Fatal(err)
	}
	checkVersion(t, m, 2)
	db.Settled(t)
	closeM()
	if err := db.PingContext(t.Context()); err == nil {
		t.Error("the *sql.DB still answers after migrate closed it")
	}
}

func checkVersion(t *testing.T, m *migrate.Migrate, want uint) {
	t.Helper()
	v, dirty, err := m.Version()
	if err != nil {
		t.Fatal(err)
	}
	if v != want || dirty {
		t.Errorf("version %d (dirty %v), want %d, clean", v, dirty, want)
	}
}
