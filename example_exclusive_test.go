package sqlitepool_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"os"
	"path/filepath"

	"github.com/sqlitepool/sqlitepool"
)

func ExampleHandle_Exclusive() {
	dir, err := os.MkdirTemp("", "sqlitepool-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "app.db")

	h, err := sqlitepool.Open(path, migrate, sqlitepool.WithReaders(2))
	if err != nil {
		log.Fatal(err)
	}
	defer h.Close()
	ctx := context.Background()
	if err := h.Exec(ctx, "INSERT INTO users(name) VALUES ('ada'), ('grace')"); err != nil {
		log.Fatal(err)
	}

	// Exclusive waits for every lease and holds off new ones while fn runs:
	// no reader is on an old snapshot, so the WAL can be emptied.
	err = h.Exclusive(ctx, func(writer *sqlitepool.Conn, readers []*sqlitepool.Conn) error {
		if err := writer.Exec("VACUUM"); err != nil {
			return err
		}
		var busy, frames, done int
		if err := writer.QueryRow("PRAGMA wal_checkpoint(TRUNCATE)").Scan(&busy, &frames, &done); err != nil {
			return err
		}
		fmt.Println("readers held:", len(readers), "checkpoint blocked:", busy == 1)
		return nil
	})
	if err != nil {
		log.Fatal(err)
	}
	fi, err := os.Stat(path + "-wal")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("WAL bytes:", fi.Size())
	// Output:
	// readers held: 2 checkpoint blocked: false
	// WAL bytes: 0
}

// Inside fn, pass c.Context() to nested calls on the same pool: a request
// that could never be served fails at once instead of deadlocking, and one
// that can be served goes ahead.
func ExampleConn_Context() {
	h, err := sqlitepool.Open(":memory:", migrate)
	if err != nil {
		log.Fatal(err)
	}
	defer h.Close()
	ctx := context.Background()

	err = h.Write(ctx, func(c *sqlitepool.Conn) error {
		// The writer again: this goroutine holds it.
		err := h.Write(c.Context(), func(*sqlitepool.Conn) error { return nil })
		fmt.Println("nested Write:", errors.Is(err, sqlitepool.ErrReentrant))

		// A reader is fine; use c itself for nested writes.
		if err := c.Savepoint(func(c *sqlitepool.Conn) error {
			return c.Exec("INSERT INTO users(name) VALUES ('ada')")
		}); err != nil {
			return err
		}
		return h.Read(c.Context(), func(r *sqlitepool.Conn) error {
			var n int
			if err := r.QueryRow("SELECT count(*) FROM users").Scan(&n); err != nil {
				return err
			}
			fmt.Println("a reader sees committed rows only:", n)
			return nil
		})
	})
	if err != nil {
		log.Fatal(err)
	}
	// Output:
	// nested Write: true
	// a reader sees committed rows only: 0
}
