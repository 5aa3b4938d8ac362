// Package poolcheck opens a *sql.DB on a sqlitepool pool for a
// compatibility test, runs a tool's work from many goroutines at once, and
// checks what every such test must hold: no error at all, one writer
// connection for the whole run, and nothing leased once the tool is done.
package poolcheck

import (
	"context"
	"database/sql"
	"fmt"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sqlitepool/sqlitepool"
)

// Goroutines is how many goroutines Run starts: well past the pool's
// connections (one writer and GOMAXPROCS readers), so that every
// statement of the tool waits its turn somewhere.
const Goroutines = 16

// DB is a *sql.DB from [sqlitepool.OpenDB] on a fresh file, with a handle
// on the same pool for its statistics.
type DB struct {
	*sql.DB
	// H shares the pool of DB (the registry gives both the same pool).
	H *sqlitepool.Handle
	// Path is the database file.
	Path string

	maxWriters atomic.Int64 // most writer connections open at once, seen by Run
}

// Open opens a database file in a temporary directory with
// [sqlitepool.OpenDB] and init; the test's cleanup checks [DB.Settled] and
// closes both the *sql.DB and the handle.
func Open(t testing.TB, init sqlitepool.InitFunc, opts ...sqlitepool.Option) *DB {
	t.Helper()
	path := filepath.Join(t.TempDir(), "compat.db")
	db, err := sqlitepool.OpenDB(path, init, opts...)
	if err != nil {
		t.Fatalf("OpenDB: %v", err)
	}
	h, err := sqlitepool.Open(path, nil)
	if err != nil {
		db.Close()
		t.Fatalf("Open on the same file: %v", err)
	}
	d := &DB{DB: db, H: h, Path: path}
	t.Cleanup(func() {
		d.Settled(t)
		if err := db.Close(); err != nil {
			t.Errorf("closing the *sql.DB: %v", err)
		}
		if err := h.Close(); err != nil {
			t.Errorf("closing the handle: %v", err)
		}
	})
	return d
}

// Run calls fn(ctx, g, i) for i in [0, n) on each of [Goroutines]
// goroutines g, all started together, while it watches the pool's writer.
// Every error fails the test (the first few are shown); so does a second
// writer connection, ever.
func (d *DB) Run(t testing.TB, n int, fn func(ctx context.Context, g, i int) error) {
	t.Helper()
	ctx := t.Context()
	stop := make(chan struct{})
	watched := make(chan struct{})
	go func() {
		defer close(watched)
		tick := time.NewTicker(time.Millisecond)
		defer tick.Stop()
		for {
			d.noteWriters()
			select {
			case <-stop:
				return
			case <-tick.C:
			}
		}
	}()

	var (
		mu     sync.Mutex
		errs   []error
		failed int
		wg     sync.WaitGroup
		start  = make(chan struct{})
	)
	for g := range Goroutines {
		wg.Go(func() {
			<-start
			for i := range n {
				if err := fn(ctx, g, i); err != nil {
					mu.Lock()
					failed++
					if len(errs) < 5 {
						errs = append(errs, fmt.Errorf("goroutine %d, step %d: %w", g, i, err))
					}
					mu.Unlock()
				}
			}
		})
	}
	close(start)
	wg.Wait()
	close(stop)
	<-watched
	d.noteWriters()

	if failed > 0 {
		t.Errorf("%d of %d operations failed, first: %v", failed, Goroutines*n, errs)
	}
	if w := d.maxWriters.Load(); w > 1 {
		t.Errorf("saw %d writer connections open at once, want 1", w)
	}
}

func (d *DB) noteWriters() {
	open := int64(d.H.Stats().Writer.Open)
	for {
		seen := d.maxWriters.Load()
		if open <= seen || d.maxWriters.CompareAndSwap(seen, open) {
			return
		}
	}
}

// Settled checks that the pool is at rest: no connection leased (the tool
// gave every one back, database/sql's idle connections included), one
// writer connection ever opened, none closed for being broken.
func (d *DB) Settled(t testing.TB) {
	t.Helper()
	s := d.H.Stats()
	if s.Writer.InUse != 0 || s.Readers.InUse != 0 {
		t.Errorf("leased at rest: writer %d, readers %d; want none", s.Writer.InUse, s.Readers.InUse)
	}
	if s.Writer.Created != 1 {
		t.Errorf("writer connections created: %d, want 1", s.Writer.Created)
	}
	if b := s.Writer.Replaced.Broken + s.Readers.Replaced.Broken; b != 0 {
		t.Errorf("connections replaced as broken: %d, want 0", b)
	}
	if s.LeakedLeases != 0 {
		t.Errorf("leaked leases: %d, want 0", s.LeakedLeases)
	}
}

// Scalar runs a one-value query on the *sql.DB.
func (d *DB) Scalar(t testing.TB, query string, args ...any) int64 {
	t.Helper()
	var n int64
	if err := d.QueryRowContext(t.Context(), query, args...).Scan(&n); err != nil {
		t.Fatalf("%s: %v", query, err)
	}
	return n
}
