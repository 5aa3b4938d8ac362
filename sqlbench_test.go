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
	sqlSideBySide(b, schema, func(ctx context.Context, db *sql.DB, _, i int) error {
		var name string
		return db.QueryRowContext(ctx, "SELECT name FROM users WHERE id = ?", i%1000+1).Scan(&name)
	})
}

// BenchmarkSQLWriteTx runs single-row write transactions through
// database/sql (BeginTx, one INSERT, Commit): on OpenDB's *sql.DB, whose
// transactions queue for the pool's one writer, against ncruces' driver
// with _txlock=immediate and a busy timeout, whose connections wait for
// SQLite's write lock; each on a file of its own. Errors fail the
// benchmark: neither may get BUSY.
func BenchmarkSQLWriteTx(b *testing.B) {
	const schema = `CREATE TABLE IF NOT EXISTS events(id INTEGER PRIMARY KEY, g INTEGER, body TEXT)`
	sqlSideBySide(b, schema, func(ctx context.Context, db *sql.DB, g, _ int) error {
		tx, err := db.BeginTx(ctx, nil)
		if err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, "INSERT INTO events(g, body) VALUES (?, ?)", g, "event"); err != nil {
			tx.Rollback()
			return err
		}
		return tx.Commit()
	})
}

// sqlSideBySide runs op (given the goroutines' count and the operation's
// number in its goroutine) on a *sql.DB of OpenDB and on one of ncruces'
// driver, each on a file of its own made by schema, at 1 and 8
// goroutines; an error fails the benchmark.
func sqlSideBySide(b *testing.B, schema string, op func(ctx context.Context, db *sql.DB, g, i int) error) {
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
					for i := 1; pb.Next(); i++ {
						if err := op(ctx, c.db, g, i); err != nil {
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
