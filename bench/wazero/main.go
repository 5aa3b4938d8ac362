// Command wazero serves benchmark cells for the database/sql contender on
// github.com/ncruces/go-sqlite3 v0.32.0, the engine's last release built on
// the wazero WebAssembly runtime.
//
// It is a module of its own because the bench module requires the current
// engine (v0.35.6), and one module cannot build two versions of another.
// poolbench builds it and runs it as a child process: cells arrive as JSON
// lines on standard input, and rounds go back on standard output (see
// harness.Serve).
package main

import (
	"context"
	"fmt"
	"os"

	_ "github.com/ncruces/go-sqlite3/driver" // registers "sqlite3"
	_ "github.com/ncruces/go-sqlite3/embed"  // v0.32.0 ships SQLite as WASM to embed

	"github.com/sqlitepool/sqlitepool/bench/harness"
	"github.com/sqlitepool/sqlitepool/bench/harness/sqlbench"
)

func main() {
	c := sqlbench.New("database/sql + ncruces v0.32.0 (wazero)", "sqlite3", false)
	if err := harness.Serve(context.Background(), os.Stdin, os.Stdout, c); err != nil {
		fmt.Fprintln(os.Stderr, "wazero:", err)
		os.Exit(1)
	}
}
