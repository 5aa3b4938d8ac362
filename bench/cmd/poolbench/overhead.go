package main

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sqlitepool/sqlitepool/bench/harness"
	"github.com/sqlitepool/sqlitepool/bench/internal/contenders"
	"github.com/sqlitepool/sqlitepool/bench/internal/dataset"
)

// The seeds' micro-benchmark: 10,000 simple SELECTs across 5 workers,
// opening and closing a connection per query against persistent
// connections.
const (
	overheadQueries = 10000
	overheadWorkers = 5
	overheadRepeats = 3 // interleaved; the median repeat is shown
)

// overheadRow is one approach of the micro-benchmark.
type overheadRow struct {
	Approach   string        `json:"approach"`
	Mean       time.Duration `json:"mean_ns"`     // over every repeat's queries
	Median     time.Duration `json:"median_ns"`   // likewise
	TotalTime  time.Duration `json:"total_ns"`    // of the median repeat
	OpsPerSec  float64       `json:"ops_per_sec"` // of the median repeat
	Totals     []float64     `json:"totals_s"`    // every repeat's total time
	Errors     int64         `json:"errors"`
	ErrorFirst string        `json:"error_sample,omitempty"`
}

func runOverhead(ctx context.Context, path string, size dataset.Size, cfg *config) ([]overheadRow, error) {
	approaches := []struct {
		label string
		c     harness.Contender
	}{
		{"open/close per query", contenders.OpenPerOp()},
		{"persistent: sqlitepool", contenders.Pool()},
		{"persistent: bare connection per worker", contenders.Bare()},
	}
	spec := harness.Spec{
		Path: path, Workload: harness.PointRead, Concurrency: overheadWorkers, Conns: cfg.conns,
		BusyTimeout: cfg.busyTimeout, Users: size.Users, Posts: size.Posts,
	}
	rows := make([]overheadRow, len(approaches))
	hists := make([]harness.Histogram, len(approaches))
	for rep := range overheadRepeats {
		for i, a := range approaches {
			s, err := a.c.(harness.Local).Open(ctx, spec)
			if err != nil {
				return nil, err
			}
			total, n, first, err := countedRun(s, &hists[i], uint64(rep), size.Users)
			if err != nil {
				return nil, err
			}
			rows[i].Totals = append(rows[i].Totals, total.Seconds())
			rows[i].Errors += n
			if rows[i].ErrorFirst == "" {
				rows[i].ErrorFirst = first
			}
			logf("overhead %-40s repeat %d: %v", a.label, rep+1, total)
		}
	}
	for i, a := range approaches {
		r := &rows[i]
		r.Approach = a.label
		r.Mean, r.Median = hists[i].Mean(), hists[i].Quantile(0.5)
		r.TotalTime = time.Duration(median(r.Totals) * float64(time.Second))
		r.OpsPerSec = overheadQueries / median(r.Totals)
	}
	return rows, nil
}

// countedRun runs overheadQueries point reads on s with overheadWorkers
// goroutines taking queries from one counter, and closes s.
func countedRun(s harness.Session, h *harness.Histogram, seed uint64, users int64) (total time.Duration, nErr int64, first string, err error) {
	defer func() { err = errors.Join(err, s.Close()) }()
	workers := make([]harness.Worker, 0, overheadWorkers)
	defer func() {
		for _, w := range workers {
			err = errors.Join(err, w.Close())
		}
	}()
	for range overheadWorkers {
		w, err := s.NewWorker()
		if err != nil {
			return 0, 0, "", err
		}
		workers = append(workers, w)
	}
	var (
		next   atomic.Int64
		errs   atomic.Int64
		mu     sync.Mutex // protects hist merges and first
		wg     sync.WaitGroup
		start  = time.Now()
		stride = 997 * int64(seed+1) // other users in each repeat
	)
	for _, w := range workers {
		wg.Go(func() {
			var mine harness.Histogram
			for {
				q := next.Add(1)
				if q > overheadQueries {
					break
				}
				t0 := time.Now()
				_, err := w.PointRead((q*stride)%users + 1)
				mine.Record(time.Since(t0))
				if err != nil {
					errs.Add(1)
					mu.Lock()
					if first == "" {
						first = fmt.Sprint(err)
					}
					mu.Unlock()
				}
			}
			mu.Lock()
			h.Merge(&mine)
			mu.Unlock()
		})
	}
	wg.Wait()
	return time.Since(start), errs.Load(), first, nil
}
