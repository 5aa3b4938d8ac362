package sqlitepool_test

import (
	"context"
	"database/sql"
	"fmt"
	"log"
	"os"
	"path/filepath"

	"github.com/sqlitepool/sqlitepool"
)

func ExampleOpenDB() {
	dir, err := os.MkdirTemp("", "sqlitepool-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	ctx := context.Background()

	// A *sql.DB on the process's pool for app.db: code written for
	// database/sql (sqlc, sqlx, goose ...) runs on it unchanged.
	db, err := sqlitepool.OpenDB(filepath.Join(dir, "app.db"), migrate)
	if err != nil {
		log.Fatal(err)
	}
	defer db.Close()

	// A transaction runs BEGIN IMMEDIATE on the pool's one writer.
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		log.Fatal(err)
	}
	res, err := tx.ExecContext(ctx, "INSERT INTO users(name) VALUES (?)", "ada")
	if err != nil {
		tx.Rollback()
		log.Fatal(err)
	}
	if err := tx.Commit(); err != nil {
		log.Fatal(err)
	}
	id, _ := res.LastInsertId()

	// A query runs on a reader.
	var name string
	err = db.QueryRowContext(ctx, "SELECT name FROM users WHERE id = :id", sql.Named("id", id)).Scan(&name)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(id, name)
	// Output: 1 ada
}
