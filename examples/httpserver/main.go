// Command httpserver serves users as JSON from an SQLite database in two
// ways: through a sqlitepool pool (GET /users/{id}) and by opening a
// connection per request (GET /open/users/{id}), the way the seeds'
// "without pool" benchmark does. The bench module's load generator
// (bench/cmd/loadgen) drives both.
//
//	go run ./examples/httpserver -addr 127.0.0.1:8080
//
// The database is created with -users rows when it has none; a poolbench
// dataset works too (its users table has the same columns).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
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
	addr := flag.String("addr", "127.0.0.1:8080", "address to listen on (port 0 picks a free one)")
	db := flag.String("db", filepath.Join(os.TempDir(), "sqlitepool-httpserver.db"), "database file")
	users := flag.Int("users", 10000, "users to create when the database has none")
	flag.Parse()

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := serve(ctx, *addr, *db, *users); err != nil {
		log.Fatal(err)
	}
}

// serve runs the server until ctx ends, then shuts it down and closes the
// pool.
func serve(ctx context.Context, addr, db string, users int) (err error) {
	h, err := sqlitepool.OpenContext(ctx, db, initDB(users))
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, h.Close()) }()

	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: newServer(h, db), ReadHeaderTimeout: 10 * time.Second}
	// The load generator reads this line to find a port picked with :0.
	fmt.Printf("listening on http://%s\n", ln.Addr())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
	}
	shutdown, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return srv.Shutdown(shutdown)
}
