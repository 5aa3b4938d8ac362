// Package goose_test runs github.com/pressly/goose/v3 migrations unchanged
// on a *sql.DB from sqlitepool.OpenDB, while other goroutines use the
// database.
package goose_test

import (
	"context"
	"database/sql"
	"embed"
	"fmt"
	"io/fs"
	"testing"

	"github.com/pressly/goose/v3"
	"go.uber.org/goleak"

	"github.com/sqlitepool/sqlitepool"
	"github.com/sqlitepool/sqlitepool/compat/internal/poolcheck"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

//go:embed migrations/*.sql
var embedded embed.FS

func migrations(t testing.TB) fs.FS {
	t.Helper()
	sub, err := fs.Sub(embedded, "migrations")
	if err != nil {
		t.Fatal(err)
	}
	return sub
}

// initEvents makes the table the other goroutines write to while the
// migrations run.
func initEvents(ctx context.Context, c *sqlitepool.Conn) error {
	return c.Exec(`CREATE TABLE events (g INTEGER NOT NULL, i INTEGER NOT NULL, PRIMARY KEY (g, i))`)
}

// seed is a Go migration, in its transaction: a note whose word count the
// trigger of migration 2 fills in.
var seed = goose.NewGoMigration(4,
	&goose.GoFunc{RunTx: func(ctx context.Context, tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO notes (body) VALUES ('hello goose world')`)
		return err
	}},
	&goose.GoFunc{RunTx: func(ctx context.Context, tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `DELETE FROM notes WHERE body = 'hello goose world'`)
		return err
	}},
)

const steps = 30 // per goroutine

// TestProvider runs goose's Provider (which pins one *sql.Conn for a run)
// from one goroutine while 15 others insert and count rows: four
// migrations in their transactions or, for the NO TRANSACTION one (it
// VACUUMs, which fails inside a transaction), outside any. Then all 16 use
// the new schema, and the migrations go down to nothing and up again.
func TestProvider(t *testing.T) {
	db := poolcheck.Open(t, initEvents)
	ctx := t.Context()
	p, err := goose.NewProvider(goose.DialectSQLite3, db.DB, migrations(t),
		goose.WithGoMigrations(seed), goose.WithDisableGlobalRegistry(true))
	if err != nil {
		t.Fatal(err)
	}

	db.Run(t, steps, func(ctx context.Context, g, i int) error {
		if g == 0 && i == steps/3 {
			results, err := p.Up(ctx)
			if err != nil {
				return err
			}
			if len(results) != 4 {
				return fmt.Errorf("Up applied %d migrations, want 4", len(results))
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
	if got, want := db.Scalar(t, `SELECT count(*) FROM events`), int64(poolcheck.Goroutines*steps); got != want {
		t.Errorf("%d events, want %d", got, want)
	}
	checkVersion(t, p, 4)
	if got := db.Scalar(t, `SELECT words FROM notes WHERE body = 'hello goose world'`); got != 3 {
		t.Errorf("the seeded note has %d words, want 3 (trigger of migration 2)", got)
	}
	if got := db.Scalar(t, `SELECT count(*) FROM sqlite_schema WHERE type = 'index' AND name = 'notes_body'`); got != 1 {
		t.Errorf("index notes_body: %d, want 1 (migration 3)", got)
	}

	db.Run(t, steps, func(ctx context.Context, g, i int) error {
		body := fmt.Sprintf("note %d of goroutine %d", i, g)
		if _, err := db.ExecContext(ctx, `INSERT INTO notes (body) VALUES (?)`, body); err != nil {
			return err
		}
		var words int
		if err := db.QueryRowContext(ctx, `SELECT words FROM notes WHERE body = ?`, body).Scan(&words); err != nil {
			return err
		}
		if words != 5 {
			return fmt.Errorf("%q has %d words, want 5", body, words)
		}
		return nil
	})

	down, err := p.DownTo(ctx, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(down) != 4 {
		t.Errorf("DownTo(0) undid %d migrations, want 4", len(down))
	}
	checkVersion(t, p, 0)
	if got := db.Scalar(t, `SELECT count(*) FROM sqlite_schema WHERE name = 'notes'`); got != 0 {
		t.Errorf("table notes still there after DownTo(0)")
	}
	if _, err := p.Up(ctx); err != nil {
		t.Fatal(err)
	}
	checkVersion(t, p, 4)
}

func checkVersion(t *testing.T, p *goose.Provider, want int64) {
	t.Helper()
	got, err := p.GetDBVersion(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if got != want {
		t.Errorf("version %d, want %d", got, want)
	}
	status, err := p.Status(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range status {
		if applied := s.State == goose.StateApplied; applied != (s.Source.Version <= want) {
			t.Errorf("migration %d: state %s at version %d", s.Source.Version, s.State, want)
		}
	}
}

// TestGlobalAPI runs goose's package-level functions, which use the
// *sql.DB itself rather than a pinned connection, up and down.
func TestGlobalAPI(t *testing.T) {
	db := poolcheck.Open(t, nil)
	ctx := t.Context()
	goose.SetBaseFS(embedded)
	goose.SetLogger(goose.NopLogger())
	t.Cleanup(func() { goose.SetBaseFS(nil) })
	if err := goose.SetDialect(string(goose.DialectSQLite3)); err != nil {
		t.Fatal(err)
	}
	if err := goose.UpContext(ctx, db.DB, "migrations"); err != nil {
		t.Fatal(err)
	}
	if v, err := goose.GetDBVersionContext(ctx, db.DB); err != nil || v != 3 {
		t.Fatalf("version %d, %v; want 3", v, err)
	}
	if err := goose.DownToContext(ctx, db.DB, "migrations", 0); err != nil {
		t.Fatal(err)
	}
	if v, err := goose.GetDBVersionContext(ctx, db.DB); err != nil || v != 0 {
		t.Fatalf("version %d, %v; want 0", v, err)
	}
}
