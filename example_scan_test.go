package sqlitepool_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log"

	"github.com/sqlitepool/sqlitepool"
)

func ExampleRow_Scan() {
	h := openUsers()
	defer h.Close()
	ctx := context.Background()
	if err := h.Exec(ctx, "INSERT INTO users(name, age) VALUES (?, ?)", "nobody", sql.NullInt64{}); err != nil {
		log.Fatal(err)
	}

	// A nullable column: into a pointer to a pointer, or a sql.Null type.
	var age *int
	var nage sql.NullInt64
	if err := h.QueryRow(ctx, "SELECT age, age FROM users WHERE name = ?", "nobody").Scan(&age, &nage); err != nil {
		log.Fatal(err)
	}
	fmt.Println(age == nil, nage.Valid)

	// NULL into an int would make up a zero: an error instead.
	var n int
	err := h.QueryRow(ctx, "SELECT age FROM users WHERE name = ?", "nobody").Scan(&n)
	fmt.Println(errors.Is(err, sqlitepool.ErrConversion))

	// Text that is a number converts; text that is not does not.
	err = h.QueryRow(ctx, "SELECT '42'").Scan(&n)
	fmt.Println(n, err)
	err = h.QueryRow(ctx, "SELECT name FROM users WHERE id = 1").Scan(&n)
	fmt.Println(errors.Is(err, sqlitepool.ErrConversion))
	// Output:
	// true false
	// true
	// 42 <nil>
	// true
}
