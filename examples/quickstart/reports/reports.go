// Package reports reads the shop's totals while orders come in. Like the
// orders package, it opens the database by its path on its own and ends up
// in the same pool.
package reports

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/sqlitepool/sqlitepool"
	"github.com/sqlitepool/sqlitepool/examples/quickstart/schema"
)

// Reports reads one database.
type Reports struct {
	h *sqlitepool.Handle
}

// Open opens the reports on the database at path. Close them when done.
func Open(path string) (*Reports, error) {
	h, err := sqlitepool.Open(path, schema.Init)
	if err != nil {
		return nil, fmt.Errorf("reports: %w", err)
	}
	return &Reports{h: h}, nil
}

// Close releases the handle of the reports.
func (r *Reports) Close() error { return r.h.Close() }

// Stats returns the figures of the pool behind the reports.
func (r *Reports) Stats() sqlitepool.Stats { return r.h.Stats() }

// Totals counts orders and sums their amounts.
type Totals struct {
	Orders int64
	Cents  int64
}

// One statement reads one snapshot: the orders and the customers' running
// totals it sees were committed together.
const totalsSQL = `SELECT
	(SELECT count(*) FROM orders), (SELECT coalesce(sum(cents), 0) FROM orders),
	(SELECT coalesce(sum(orders), 0) FROM customers), (SELECT coalesce(sum(cents), 0) FROM customers)`

// Totals reads the totals on a reader connection, which in WAL mode never
// waits for the writer. It checks that the orders and the customers' running
// totals agree, as they must if every order was written atomically.
func (r *Reports) Totals(ctx context.Context) (Totals, error) {
	var t Totals
	// One query on a reader, which then goes straight back to the pool.
	var n, cents int64
	err := r.h.QueryRow(ctx, totalsSQL).Scan(&t.Orders, &t.Cents, &n, &cents)
	if err == nil && (n != t.Orders || cents != t.Cents) {
		err = fmt.Errorf("torn read: %d orders of %d cents, but the customers' totals say %d of %d",
			t.Orders, t.Cents, n, cents)
	}
	if err != nil {
		return Totals{}, fmt.Errorf("reports: totals: %w", err)
	}
	return t, nil
}

// Seen is what [Reports.Watch] observed.
type Seen struct {
	Reads    int   // totals read
	Min, Max int64 // fewest and most orders one read saw
}

// Watch reads the totals perReader times from each of readers goroutines,
// as a dashboard would while orders come in. A goroutine's successive reads
// must never see fewer orders: a read starts after the previous one ended,
// and sees every transaction committed by then.
func (r *Reports) Watch(ctx context.Context, readers, perReader int) (Seen, error) {
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex // protects seen
		seen = Seen{Min: -1}
		errs = make([]error, readers)
	)
	for g := range readers {
		wg.Go(func() {
			last := int64(-1)
			for range perReader {
				t, err := r.Totals(ctx)
				if err != nil {
					errs[g] = err
					return
				}
				if t.Orders < last {
					errs[g] = fmt.Errorf("reports: a read saw %d orders after one saw %d", t.Orders, last)
					return
				}
				last = t.Orders
				mu.Lock()
				seen.Reads++
				if seen.Min < 0 || t.Orders < seen.Min {
					seen.Min = t.Orders
				}
				seen.Max = max(seen.Max, t.Orders)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	return seen, errors.Join(errs...)
}
