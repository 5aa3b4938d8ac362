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
// a *sql.DB of OpenDB against one of ncruces' own driver on the same file
// (WAL, as its docs advise for concurrency), at 1 and 8 goroutines. Run
// both in one invocation and compare them side by side (benchstat).
func BenchmarkSQLPointRead(b *testing.B) {
	path := tempDB(b)
	pdb := openDBT(b, path, func(ctx context.Context, c *Conn) error {
		return c.Exec(`CREATE TABLE IF NOT EXISTS users(id INTEGER PRIMARY KEY, name TEXT);
			INSERT INTO users(name) SELECT 'user ' || value FROM generate_series(1, 1000)`)
	})
	ndb, err := sqlite3driver.Open("file:"+path+"?_pragma=busy_timeout(5000)&_pragma=journal_mode(wal)&_pragma=synchronous(normal)&_txlock=immediate", nil)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { ndb.Close() })
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
