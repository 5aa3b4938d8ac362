// Package schema is the quickstart shop's database schema. It belongs to the
// database, not to one of the packages that use it: every package passes the
// same [Init], which the pool runs once, on the Open that comes first. (The
// pool runs each distinct init once, so a package could bring tables of its
// own with an init of its own; these tables are shared, and one list of
// migrations keeps PRAGMA user_version meaning one thing.)
package schema

import (
	"context"
	"fmt"

	"github.com/sqlitepool/sqlitepool"
)

// migrations[i] takes the schema from version i to i+1. Append, never edit:
// a database keeps in PRAGMA user_version how many of them it has run.
var migrations = []string{
	`CREATE TABLE customers (
		name   TEXT PRIMARY KEY,
		orders INTEGER NOT NULL DEFAULT 0,
		cents  INTEGER NOT NULL DEFAULT 0
	);
	CREATE TABLE orders (
		id       INTEGER PRIMARY KEY,
		customer TEXT NOT NULL REFERENCES customers(name),
		cents    INTEGER NOT NULL CHECK (cents > 0)
	);
	CREATE INDEX orders_customer ON orders(customer);`,
}

// Init brings a database up to the latest schema version and leaves a
// database that is already there untouched, so it is safe on a file made by
// an earlier run. The pool runs it once per pool, on the writer.
func Init(ctx context.Context, c *sqlitepool.Conn) (err error) {
	// The pool calls Init outside a transaction. Taking the write lock before
	// reading the version keeps another process that opens the same file
	// from running the same migration twice.
	tx, err := c.Begin() // BEGIN IMMEDIATE: init runs on the writer
	if err != nil {
		return fmt.Errorf("schema: %w", err)
	}
	defer tx.End(&err) // commit on success, roll back on error or panic

	v, err := userVersion(c)
	switch {
	case err != nil:
		return fmt.Errorf("schema: read the version: %w", err)
	case v == len(migrations):
		return nil
	case v > len(migrations):
		return fmt.Errorf("schema: the database is at version %d, newer than this program's %d", v, len(migrations))
	}
	for ; v < len(migrations); v++ {
		if err := c.Exec(migrations[v]); err != nil {
			return fmt.Errorf("schema: migrate to version %d: %w", v+1, err)
		}
	}
	// PRAGMA takes no parameters; v is an int, so formatting it is safe.
	return c.Exec(fmt.Sprintf("PRAGMA user_version = %d", v))
}

func userVersion(c *sqlitepool.Conn) (v int, err error) {
	err = c.QueryRow("PRAGMA user_version").Scan(&v)
	return v, err
}
