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

func ExampleWithReadOnly() {
	dir, err := os.MkdirTemp("", "sqlitepool-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "app.db")
	ctx := context.Background()

	// Some other program made the database (here, a pool closed since).
	w, err := sqlitepool.Open(path, migrate)
	if err != nil {
		log.Fatal(err)
	}
	if err := w.Exec(ctx, "INSERT INTO users(name) VALUES ('ada')"); err != nil {
		log.Fatal(err)
	}
	if err := w.Close(); err != nil {
		log.Fatal(err)
	}

	h, err := sqlitepool.Open(path, nil, sqlitepool.WithReadOnly())
	if err != nil {
		log.Fatal(err)
	}
	defer h.Close()
	var name string
	if err := h.QueryRow(ctx, "SELECT name FROM users").Scan(&name); err != nil {
		log.Fatal(err)
	}
	fmt.Println(name)
	err = h.Exec(ctx, "INSERT INTO users(name) VALUES ('grace')")
	fmt.Println(errors.Is(err, sqlitepool.ErrReadOnly))
	// Output:
	// ada
	// true
}

func ExampleHandle_Backup() {
	dir, err := os.MkdirTemp("", "sqlitepool-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	ctx := context.Background()

	h, err := sqlitepool.Open(filepath.Join(dir, "app.db"), migrate)
	if err != nil {
		log.Fatal(err)
	}
	defer h.Close()
	if err := h.Exec(ctx, "INSERT INTO users(name) VALUES ('ada'), ('grace')"); err != nil {
		log.Fatal(err)
	}

	// The copy runs on a reader: writes may go on meanwhile.
	dst := filepath.Join(dir, "backup.db")
	if err := h.Backup(ctx, dst); err != nil {
		log.Fatal(err)
	}
	// A second backup to the same file needs BackupOverwrite.
	err = h.Backup(ctx, dst)
	fmt.Println(errors.Is(err, os.ErrExist))
	if err := h.Backup(ctx, dst, sqlitepool.BackupOverwrite()); err != nil {
		log.Fatal(err)
	}

	// The copy is one file, read here by a pool of its own.
	b, err := sqlitepool.Open(dst, nil, sqlitepool.WithReadOnly())
	if err != nil {
		log.Fatal(err)
	}
	defer b.Close()
	var n int
	if err := b.QueryRow(ctx, "SELECT count(*) FROM users").Scan(&n); err != nil {
		log.Fatal(err)
	}
	fmt.Println(n, "users")
	// Output:
	// true
	// 2 users
}
