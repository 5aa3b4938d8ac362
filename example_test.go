package sqlitepool_test

import (
	"context"
	"fmt"
	"log"
	"os"
	"path/filepath"

	"github.com/sqlitepool/sqlitepool"
)

// migrate creates the schema. It runs once per pool, on the writer, however
// many packages open the database.
func migrate(ctx context.Context, c *sqlitepool.Conn) error {
	return c.Exec(`CREATE TABLE IF NOT EXISTS users(id INTEGER PRIMARY KEY, name TEXT NOT NULL)`)
}

func ExampleOpen() {
	dir, err := os.MkdirTemp("", "sqlitepool-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "app.db")

	// Two parts of a program open the same database independently...
	billing, err := sqlitepool.Open(path, migrate)
	if err != nil {
		log.Fatal(err)
	}
	defer billing.Close()
	search, err := sqlitepool.Open("file:"+path, migrate)
	if err != nil {
		log.Fatal(err)
	}
	defer search.Close()

	// ...and share one pool: one writer, and migrate ran once.
	st := search.Stats()
	fmt.Println("handles:", st.Handles, "writers opened:", st.Writer.Created)
	// Output: handles: 2 writers opened: 1
}

func ExampleHandle_Write() {
	h, err := sqlitepool.Open(":memory:", migrate)
	if err != nil {
		log.Fatal(err)
	}
	defer h.Close()

	// Both rows commit together, or neither does.
	err = h.Write(context.Background(), func(_ context.Context, c *sqlitepool.Conn) error {
		if err := c.Exec(`INSERT INTO users(name) VALUES (?)`, "ada"); err != nil {
			return err
		}
		return c.Exec(`INSERT INTO users(name) VALUES (?)`, "grace")
	})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("committed")
	// Output: committed
}

func ExampleHandle_Read() {
	h, err := sqlitepool.Open(":memory:", func(ctx context.Context, c *sqlitepool.Conn) error {
		if err := migrate(ctx, c); err != nil {
			return err
		}
		return c.Exec(`INSERT INTO users(name) VALUES ('ada'), ('grace')`)
	})
	if err != nil {
		log.Fatal(err)
	}
	defer h.Close()

	err = h.Read(context.Background(), func(_ context.Context, c *sqlitepool.Conn) error {
		stmt, _, err := c.Raw().Prepare(`SELECT name FROM users ORDER BY id`)
		if err != nil {
			return err
		}
		defer stmt.Close()
		for stmt.Step() {
			fmt.Println(stmt.ColumnText(0))
		}
		return stmt.Err()
	})
	if err != nil {
		log.Fatal(err)
	}
	// Output:
	// ada
	// grace
}

func ExampleHandle_Writer() {
	h, err := sqlitepool.Open(":memory:", migrate)
	if err != nil {
		log.Fatal(err)
	}
	defer h.Close()

	lease, err := h.Writer(context.Background())
	if err != nil {
		log.Fatal(err)
	}
	defer lease.Release() // rolls back anything left uncommitted

	c := lease.Conn()
	if err := c.Exec(`BEGIN IMMEDIATE; INSERT INTO users(name) VALUES ('linus'); COMMIT`); err != nil {
		log.Fatal(err)
	}
	fmt.Println("rows changed:", c.Raw().Changes())
	// Output: rows changed: 1
}
