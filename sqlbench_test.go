package sqlitepool

import (
	"context"
	"database/sql"
	"fmt"
	"runtime"
	"testing"

	sqlite3driver "github.com/ncruces/go-sqlite3/driver"
)

// BenchmarkSQLPointRead reads one row by primary key through database/sql:
// a *sql.DB of OpenDB against one of ncruces' own driver (WAL, as its docs
// advise for concurrency), each on a file of its own with the same rows,
// at 1 and 8 goroutines. Run both in one invocation and compare them side
// by side (benchstat).
func BenchmarkSQLPointRead(b *testing.B) {
	const schema = `CREATE TABLE IF NOT EXISTS users(id INTEGER PRIMARY KEY, name TEXT);
		INSERT INTO users(name) SELECT 'user ' || value FROM generate_series(1, 1000)`
	pdb := openDBT(b, tempDB(b), func(ctx context.Context, c *Conn) error { return c.Exec(schema) })
	ndb := ncrucesDB(b)
	if _, err := ndb.Exec(schema); err != nil {
		b.Fatal(err)
	}
	for _, c := range []struct {
		name string
		db   *sql.DB
	}{{"pool", pdb}, {"ncruces", ndb}} {
		for _, g := range []int{1, 8} {
			b.Run(fmt.Sprintf("%s/goroutines=%d", c.name, g), func(b *testing.B) {
				b.ReportAllocs()
				b.SetParallelism(max(1, g/runtime.GOMAXPROCS(0)))
				b.RunParallel(func(pb *testing.PB) {
					ctx := context.Background()
					var name string
					i := 0
					for pb.Next() {
						i++
						if err := c.db.QueryRowContext(ctx, "SELECT name FROM users WHERE id = ?", i%1000+1).Scan(&name); err != nil {
							b.Error(err)
							return
						}
					}
				})
			})
		}
	}
}

// BenchmarkSQLWriteTx runs single-row write transactions through
// database/sql (BeginTx, one INSERT, Commit): on OpenDB's *sql.DB, whose
// transactions queue for the pool's one writer, against ncruces' driver
// with _txlock=immediate and a busy timeout, whose connections wait for
// SQLite's write lock; each on a file of its own. Errors fail the
// benchmark: neither may get BUSY.
func BenchmarkSQLWriteTx(b *testing.B) {
	const schema = `CREATE TABLE IF NOT EXISTS events(id INTEGER PRIMARY KEY, g INTEGER, body TEXT)`
	pdb := openDBT(b, tempDB(b), func(ctx context.Context, c *Conn) error { return c.Exec(schema) })
	ndb := ncrucesDB(b)
	if _, err := ndb.Exec(schema); err != nil {
		b.Fatal(err)
	}
	for _, c := range []struct {
		name string
		db   *sql.DB
	}{{"pool", pdb}, {"ncruces", ndb}} {
		for _, g := range []int{1, 8} {
			b.Run(fmt.Sprintf("%s/goroutines=%d", c.name, g), func(b *testing.B) {
				b.ReportAllocs()
				b.SetParallelism(max(1, g/runtime.GOMAXPROCS(0)))
				b.RunParallel(func(pb *testing.PB) {
					ctx := context.Background()
					for pb.Next() {
						tx, err := c.db.BeginTx(ctx, nil)
						if err == nil {
							_, err = tx.ExecContext(ctx, "INSERT INTO events(g, body) VALUES (?, ?)", g, "event")
							if err == nil {
								err = tx.Commit()
							} else {
								tx.Rollback()
							}
						}
						if err != nil {
							b.Error(err)
							return
						}
					}
				})
			})
		}
	}
}

// ncrucesDB opens a new database with ncruces' own driver, set up as its
// docs advise for concurrent use: WAL, synchronous=NORMAL, a busy timeout,
// write transactions that take the lock at BEGIN, and as many idle
// connections kept as the benchmark's goroutines.
func ncrucesDB(b *testing.B) *sql.DB {
	db, err := sqlite3driver.Open("file:" + tempDB(b) +
		"?_pragma=busy_timeout(10000)&_pragma=journal_mode(wal)&_pragma=synchronous(normal)&_txlock=immediate")
	if err != nil {
		b.Fatal(err)
	}
	db.SetMaxIdleConns(8)
	b.Cleanup(func() { db.Close() })
	return db
}
