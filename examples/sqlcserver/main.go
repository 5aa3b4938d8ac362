// Command sqlcserver is a small todo API served through queries that sqlc
// generated (package store, from schema.sql and query.sql) on a *sql.DB
// from sqlitepool.OpenDB: the whole path from SQL to HTTP, with one
// writer for the process and no "database is locked".
//
//	go run ./examples/sqlcserver                      # a demo: serve, drive, print, exit
//	go run ./examples/sqlcserver -addr 127.0.0.1:8080 # serve until interrupted
//
// Routes: POST /todos {"title": ...}, GET /todos[?limit=n], GET /todos/{id},
// POST /todos/{id}/done, GET /counts.
//
// To regenerate store/ after editing schema.sql or query.sql, see sqlc.yaml.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"time"

	"github.com/sqlitepool/sqlitepool"
)

func main() {
	addr := flag.String("addr", "", "serve on this address until interrupted (default: run the demo on a free port and exit)")
	path := flag.String("db", "", "database file (default: a new one in a temporary directory)")
	flag.Parse()

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := run(ctx, os.Stdout, *addr, *path); err != nil {
		log.Fatal(err)
	}
}

// run serves the API on addr until ctx ends or, when addr is empty, on a
// free port for the demo, which it then runs.
func run(ctx context.Context, out io.Writer, addr, path string) (err error) {
	if path == "" {
		dir, err := os.MkdirTemp("", "sqlcserver")
		if err != nil {
			return err
		}
		defer os.RemoveAll(dir)
		path = filepath.Join(dir, "todos.db")
	}
	// OpenDB opens (or joins) the process's one pool for path and runs
	// initDB on its writer once; db.Close releases it.
	db, err := sqlitepool.OpenDB(path, initDB)
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, db.Close()) }()

	demo := addr == ""
	if demo {
		addr = "127.0.0.1:0"
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: newServer(db), ReadHeaderTimeout: 10 * time.Second}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	url := "http://" + ln.Addr().String()

	if demo {
		err = runDemo(ctx, out, url)
	} else {
		fmt.Fprintf(out, "listening on %s\n", url)
		select {
		case err = <-served:
			return err
		case <-ctx.Done():
		}
	}
	shutdown, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return errors.Join(err, srv.Shutdown(shutdown))
}
