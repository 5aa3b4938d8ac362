package harness

import (
	"context"
	"runtime"
	"sync"
	"sync/atomic"
	"time"
)

// RunWorkers runs spec.Workload on the workers, one goroutine each: first
// for spec.Warmup (discarded: caches, statement preparation, connections
// opened on demand), then for spec.Duration, measured.
func RunWorkers(ctx context.Context, spec Spec, workers []Worker) *Round {
	pickers := make([]*picker, len(workers))
	for i := range workers {
		pickers[i] = newPicker(spec.Seed, i, spec.Users, spec.Posts)
	}
	if spec.Warmup > 0 {
		phase(ctx, spec, workers, pickers, spec.Warmup)
	}
	// A collection left over from set-up or the warm-up would land in the
	// measured phase of this cell alone.
	runtime.GC()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	r := phase(ctx, spec, workers, pickers, spec.Duration)
	runtime.ReadMemStats(&after)
	r.Mallocs = after.Mallocs - before.Mallocs
	return r
}

// tally is one goroutine's share of a round, merged at the end so that
// recording takes no lock.
type tally struct {
	ops     int64
	hist    Histogram
	errs    map[string]int64
	samples map[string]string
}

// phase runs every worker until d has passed (or ctx ends); operations
// under way then finish and count.
func phase(ctx context.Context, spec Spec, workers []Worker, pickers []*picker, d time.Duration) *Round {
	var stop atomic.Bool
	tallies := make([]tally, len(workers))
	var wg sync.WaitGroup
	start := time.Now()
	for i, w := range workers {
		wg.Go(func() {
			t, p := &tallies[i], pickers[i]
			for !stop.Load() {
				t0 := time.Now()
				err := p.do(spec.Workload, w)
				t.hist.Record(time.Since(t0))
				if err == nil {
					t.ops++
					continue
				}
				if t.errs == nil {
					t.errs, t.samples = map[string]int64{}, map[string]string{}
				}
				k := Kind(err)
				t.errs[k]++
				if _, ok := t.samples[k]; !ok {
					t.samples[k] = err.Error()
				}
			}
		})
	}
	select {
	case <-time.After(d):
	case <-ctx.Done():
	}
	stop.Store(true)
	wg.Wait()
	r := &Round{Seconds: time.Since(start).Seconds(), Latency: new(Histogram)}
	for i := range tallies {
		t := &tallies[i]
		r.Ops += t.ops
		r.Latency.Merge(&t.hist)
		for k, c := range t.errs {
			if r.Errors == nil {
				r.Errors, r.ErrorSamples = map[string]int64{}, map[string]string{}
			}
			r.Errors[k] += c
			if _, ok := r.ErrorSamples[k]; !ok {
				r.ErrorSamples[k] = t.samples[k]
			}
		}
	}
	return r
}
