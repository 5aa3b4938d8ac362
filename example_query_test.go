package sqlitepool_test

import (
	"context"
	"errors"
	"fmt"
	"log"

	"github.com/sqlitepool/sqlitepool"
)

// openUsers opens a private in-memory database with a few users.
func openUsers() *sqlitepool.Handle {
	h, err := sqlitepool.Open(":memory:", func(ctx context.Context, c *sqlitepool.Conn) error {
		return c.Exec(`CREATE TABLE users(id INTEGER PRIMARY KEY, name TEXT NOT NULL, age INT);
			INSERT INTO users(name, age) VALUES ('ada', 36), ('grace', 45), ('linus', 28)`)
	})
	if err != nil {
		log.Fatal(err)
	}
	return h
}

func ExampleHandle_QueryRow() {
	h := openUsers()
	defer h.Close()
	ctx := context.Background()

	var name string
	if err := h.QueryRow(ctx, "SELECT name FROM users WHERE id = ?", 2).Scan(&name); err != nil {
		log.Fatal(err)
	}
	fmt.Println(name)

	err := h.QueryRow(ctx, "SELECT name FROM users WHERE id = ?", 99).Scan(&name)
	fmt.Println(errors.Is(err, sqlitepool.ErrNoRows))
	// Output:
	// grace
	// true
}

func ExampleHandle_Query() {
	h := openUsers()
	defer h.Close()

	for row, err := range h.Query(context.Background(), "SELECT name, age FROM users WHERE age > :min ORDER BY age", sqlitepool.Named("min", 30)) {
		if err != nil {
			log.Fatal(err)
		}
		var name string
		var age int
		if err := row.Scan(&name, &age); err != nil {
			log.Fatal(err)
		}
		fmt.Println(name, age)
	}
	// Output:
	// ada 36
	// grace 45
}

func ExampleHandle_Exec() {
	h := openUsers()
	defer h.Close()
	ctx := context.Background()

	if err := h.Exec(ctx, "UPDATE users SET age = age + 1 WHERE name = ?", "linus"); err != nil {
		log.Fatal(err)
	}
	var age int
	if err := h.QueryRow(ctx, "SELECT age FROM users WHERE name = 'linus'").Scan(&age); err != nil {
		log.Fatal(err)
	}
	fmt.Println(age)
	// Output: 29
}

func ExampleConn_Prep() {
	h := openUsers()
	defer h.Close()

	err := h.Read(context.Background(), func(_ context.Context, c *sqlitepool.Conn) error {
		// Prepared once per connection, then taken from its cache.
		stmt, err := c.Prep("SELECT count(*) FROM users WHERE age < ?")
		if err != nil {
			return err
		}
		if err := stmt.BindInt(1, 40); err != nil {
			return err
		}
		if stmt.Step() {
			fmt.Println(stmt.ColumnInt(0))
		}
		return stmt.Err() // no Close, no Reset: release does both
	})
	if err != nil {
		log.Fatal(err)
	}
	// Output: 2
}

func ExampleConn_Savepoint() {
	h := openUsers()
	defer h.Close()
	ctx := context.Background()

	err := h.Write(ctx, func(_ context.Context, c *sqlitepool.Conn) error {
		if err := c.Exec("INSERT INTO users(name) VALUES ('kept')"); err != nil {
			return err
		}
		// A nested step that fails undoes only its own work.
		err := c.Savepoint(func(c *sqlitepool.Conn) error {
			if err := c.Exec("INSERT INTO users(name) VALUES ('undone')"); err != nil {
				return err
			}
			return errors.New("changed my mind")
		})
		fmt.Println("savepoint:", err)
		return nil
	})
	if err != nil {
		log.Fatal(err)
	}
	var n int
	if err := h.QueryRow(ctx, "SELECT count(*) FROM users").Scan(&n); err != nil {
		log.Fatal(err)
	}
	fmt.Println("users:", n)
	// Output:
	// savepoint: changed my mind
	// users: 4
}

func ExampleTx_End() {
	h := openUsers()
	defer h.Close()

	lease, err := h.Writer(context.Background())
	if err != nil {
		log.Fatal(err)
	}
	defer lease.Release()

	rename := func(c *sqlitepool.Conn) (err error) {
		tx, err := c.Begin() // BEGIN IMMEDIATE on the writer
		if err != nil {
			return err
		}
		defer tx.End(&err) // COMMIT if err is nil, else ROLLBACK
		return c.Exec("UPDATE users SET name = upper(name)")
	}
	if err := rename(lease.Conn()); err != nil {
		log.Fatal(err)
	}
	fmt.Println("renamed", lease.Conn().Raw().Changes())
	// Output: renamed 3
}
