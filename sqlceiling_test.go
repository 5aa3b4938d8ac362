package sqlitepool

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"fmt"
	"io"
	"sync"
	"testing"
	"time"

	"github.com/ncruces/go-sqlite3"
	sqlite3driver "github.com/ncruces/go-sqlite3/driver"
)

// ceilingRead is the point read of BenchmarkSQLPointReadCeiling: three
// columns, as a typical row by key.
const ceilingRead = "SELECT id, name, age FROM users WHERE id = ?"

// BenchmarkSQLPointReadCeiling bounds what a database/sql driver can gain
// on a point read over ncruces' own driver, at 1 and 8 goroutines. It
// times, in rounds where each side runs a batch on every goroutine in turn
// (so that the machine's drift falls on all alike), on one file:
//
//   - engine: the read on raw engine connections, one per goroutine
//     (bind, step, three columns, reset): the work every driver on this
//     engine does, without a pool or a wait;
//   - sql-only: database/sql's own work for the same QueryRow and Scan,
//     over a driver that returns a fixed row and does nothing else;
//   - ncruces: database/sql on ncruces' driver, the contender;
//   - pool: database/sql on OpenDB;
//   - ncruces-text and pool-text: the same two with the SQL text passed
//     on every call (db.QueryRowContext), as sqlc generates by default.
//
// The first database/sql sides use a *sql.Stmt prepared once. No driver can make
// database/sql do less than sql-only, nor the engine less than engine, so
// ncruces/(engine+sql-only) is the most any driver can reach against
// ncruces' driver with prepared statements: the metric "ceiling". The
// metric "ncruces/pool" is what OpenDB reaches, "text:ncruces/pool" what it
// reaches with the text on every call (ncruces' driver prepares it each
// time; the pool runs it from its statement cache).
func BenchmarkSQLPointReadCeiling(b *testing.B) {
	path := benchDB(b)
	ctx := context.Background()

	const maxGoroutines = 8
	stmts := make([]*sqlite3.Stmt, maxGoroutines)
	for g := range stmts {
		_, stmts[g] = rawPrepared(b, path, ceilingRead)
	}
	ndb, err := sqlite3driver.Open("file:" + path + "?_pragma=busy_timeout(10000)&_pragma=journal_mode(wal)&_pragma=synchronous(normal)&_txlock=immediate")
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { ndb.Close() })
	ndb.SetMaxIdleConns(maxGoroutines)
	pdb := openDBT(b, path, nil)
	fdb := sql.OpenDB(fixedRowConnector{})
	fdb.SetMaxIdleConns(maxGoroutines)
	b.Cleanup(func() { fdb.Close() })

	type row struct {
		id, age int64
		name    string
	}
	rows := make([]row, maxGoroutines) // one per goroutine
	scan := func(db *sql.DB) func(g, i int) error {
		st, err := db.PrepareContext(ctx, ceilingRead)
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { st.Close() })
		return func(g, i int) error {
			r := &rows[g]
			return st.QueryRowContext(ctx, i%10000+1).Scan(&r.id, &r.name, &r.age)
		}
	}
	// What sqlc generates by default: the SQL text on every call.
	text := func(db *sql.DB) func(g, i int) error {
		return func(g, i int) error {
			r := &rows[g]
			return db.QueryRowContext(ctx, ceilingRead, i%10000+1).Scan(&r.id, &r.name, &r.age)
		}
	}
	sides := []struct {
		name string
		op   func(g, i int) error
	}{
		{"engine", func(g, i int) error {
			stmt, r := stmts[g], &rows[g]
			stmt.BindInt(1, i%10000+1)
			if !stmt.Step() {
				return stmt.Err()
			}
			r.id, r.name, r.age = stmt.ColumnInt64(0), stmt.ColumnText(1), stmt.ColumnInt64(2)
			return stmt.Reset()
		}},
		{"sql-only", scan(fdb)},
		{"ncruces", scan(ndb)},
		{"pool", scan(pdb)},
		{"ncruces-text", text(ndb)},
		{"pool-text", text(pdb)},
	}

	for _, goroutines := range []int{1, maxGoroutines} {
		b.Run(fmt.Sprintf("goroutines=%d", goroutines), func(b *testing.B) {
			const batch = 200 // per goroutine
			total := make([]time.Duration, len(sides))
			round := 0
			for b.Loop() {
				// Each side goes first in turn, so that what one leaves
				// behind (garbage to collect, a colder cache) falls on all
				// alike.
				for k := range sides {
					s := (k + round) % len(sides)
					start := time.Now()
					var wg sync.WaitGroup
					for g := range goroutines {
						wg.Go(func() {
							for i := range batch {
								if err := sides[s].op(g, round*batch+i); err != nil {
									b.Error(err)
									return
								}
							}
						})
					}
					wg.Wait()
					total[s] += time.Since(start)
				}
				round++
			}
			n := float64(b.N * batch * goroutines)
			for s, side := range sides {
				b.ReportMetric(float64(total[s].Nanoseconds())/n, side.name+"-ns/read")
			}
			engine, sqlOnly, ncruces, pool := total[0], total[1], total[2], total[3]
			b.ReportMetric(float64(ncruces)/float64(engine+sqlOnly), "ceiling")
			b.ReportMetric(float64(ncruces)/float64(pool), "ncruces/pool")
			b.ReportMetric(float64(total[4])/float64(total[5]), "text:ncruces/pool")
		})
	}
}

// fixedRowConnector is a database/sql driver that does no work of its own:
// every query returns the same row (the id asked for, a name, an age),
// so that database/sql's own cost per call can be timed. It takes the
// cheapest paths database/sql offers a driver: arguments pass unchecked
// (NamedValueChecker) and queries take them as they are (QueryContext).
type fixedRowConnector struct{}

func (fixedRowConnector) Connect(context.Context) (driver.Conn, error) { return fixedRowConn{}, nil }
func (fixedRowConnector) Driver() driver.Driver                        { return nil }

type fixedRowConn struct{}

func (fixedRowConn) Prepare(string) (driver.Stmt, error)        { return fixedRowStmt{}, nil }
func (fixedRowConn) Close() error                               { return nil }
func (fixedRowConn) Begin() (driver.Tx, error)                  { return nil, driver.ErrSkip }
func (fixedRowConn) CheckNamedValue(*driver.NamedValue) error   { return nil }
func (fixedRowStmt) CheckNamedValue(*driver.NamedValue) error   { return nil }
func (fixedRowStmt) Close() error                               { return nil }
func (fixedRowStmt) NumInput() int                              { return 1 }
func (fixedRowStmt) Exec([]driver.Value) (driver.Result, error) { return nil, driver.ErrSkip }
func (fixedRowStmt) Query([]driver.Value) (driver.Rows, error)  { return nil, driver.ErrSkip }

type fixedRowStmt struct{}

func (fixedRowStmt) QueryContext(_ context.Context, args []driver.NamedValue) (driver.Rows, error) {
	return &fixedRows{id: args[0].Value}, nil
}

var fixedColumns = []string{"id", "name", "age"}

type fixedRows struct {
	id   driver.Value
	done bool
}

func (*fixedRows) Columns() []string { return fixedColumns }
func (*fixedRows) Close() error      { return nil }
func (r *fixedRows) Next(dest []driver.Value) error {
	if r.done {
		return io.EOF
	}
	r.done = true
	dest[0], dest[1], dest[2] = r.id, "user", int64(42)
	return nil
}
