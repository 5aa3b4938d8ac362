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
	err = h.Exclusive(ctx, func(_ context.Context, writer *sqlitepool.Conn, readers []*sqlitepool.Conn) error {
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

// fn receives the lease's context: a call on the pool made with it runs on
// the connection fn holds, inside its transaction, so helpers that take
// (ctx, h) compose inside Write the way code passes a *sql.Tx around.
func ExampleConn_Context() {
	h, err := sqlitepool.Open(":memory:", migrate)
	if err != nil {
		log.Fatal(err)
	}
	defer h.Close()

	// addUser is a helper that knows nothing of transactions.
	addUser := func(ctx context.Context, h *sqlitepool.Handle, name string) error {
		return h.Exec(ctx, "INSERT INTO users(name) VALUES (?)", name)
	}
	count := func(ctx context.Context) (n int) {
		if err := h.QueryRow(ctx, "SELECT count(*) FROM users").Scan(&n); err != nil {
			log.Fatal(err)
		}
		return n
	}

	err = h.Write(context.Background(), func(ctx context.Context, c *sqlitepool.Conn) error {
		if err := addUser(ctx, h, "ada"); err != nil {
			return err
		}
		// A nested Write is a savepoint: its error undoes its own work.
		err := h.Write(ctx, func(ctx context.Context, c *sqlitepool.Conn) error {
			if err := addUser(ctx, h, "bob"); err != nil {
				return err
			}
			return errors.New("bob changed his mind")
		})
		fmt.Println("nested Write:", err)
		fmt.Println("inside the transaction:", count(ctx))
		return nil
	})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("committed:", count(context.Background()))
	// Output:
	// nested Write: bob changed his mind
	// inside the transaction: 1
	// committed: 1
}
