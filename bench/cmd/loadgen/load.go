package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sqlitepool/sqlitepool/bench/harness"
)

// round is one batch of requests against one variant.
type round struct {
	elapsed time.Duration
	ok      int64
	errors  int64
	sample  string
	latency harness.Histogram
}

func (r *round) rps() float64 { return float64(r.ok) / r.elapsed.Seconds() }

// loadRound sends cfg.requests GETs to prefix+id from cfg.workers
// goroutines, each taking the next request from a shared counter.
func loadRound(ctx context.Context, client *http.Client, prefix string, cfg *config, seed int) (*round, error) {
	var (
		next atomic.Int64
		mu   sync.Mutex // protects r's latency merge, errors and sample
		wg   sync.WaitGroup
		r    = &round{}
	)
	start := time.Now()
	for range cfg.workers {
		wg.Go(func() {
			var mine harness.Histogram
			var ok, bad int64
			var sample string
			for ctx.Err() == nil {
				n := next.Add(1)
				if n > int64(cfg.requests) {
					break
				}
				id := (n*7919+int64(seed)*104729)%int64(cfg.users) + 1
				t0 := time.Now()
				err := get(ctx, client, fmt.Sprintf("%s%d", prefix, id))
				mine.Record(time.Since(t0))
				if err != nil {
					bad++
					if sample == "" {
						sample = err.Error()
					}
					continue
				}
				ok++
			}
			mu.Lock()
			r.latency.Merge(&mine)
			r.ok += ok
			r.errors += bad
			if r.sample == "" {
				r.sample = sample
			}
			mu.Unlock()
		})
	}
	wg.Wait()
	r.elapsed = time.Since(start)
	return r, ctx.Err()
}

// get fetches url and reads the whole body, so that the connection is
// reused; anything but 200 is an error.
func get(ctx context.Context, client *http.Client, url string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s: %s", resp.Status, body)
	}
	return nil
}

// variantResult is one variant over every measured round.
type variantResult struct {
	Variant     variant   `json:"variant"`
	RoundRPS    []float64 `json:"rounds_rps"`
	Errors      int64     `json:"errors"`
	ErrorSample string    `json:"error_sample,omitempty"`
	RPS         float64   `json:"rps_median"`
	Mean        int64     `json:"mean_ns"`
	P50         int64     `json:"p50_ns"`
	P90         int64     `json:"p90_ns"`
	P99         int64     `json:"p99_ns"`
	latency     harness.Histogram
}

func (v *variantResult) add(r *round) {
	v.RoundRPS = append(v.RoundRPS, r.rps())
	v.Errors += r.errors
	if v.ErrorSample == "" {
		v.ErrorSample = r.sample
	}
	v.latency.Merge(&r.latency)
}

func (v *variantResult) summarize() {
	s := slices.Sorted(slices.Values(v.RoundRPS))
	if n := len(s); n > 0 {
		v.RPS = s[n/2]
		if n%2 == 0 {
			v.RPS = (s[n/2-1] + s[n/2]) / 2
		}
	}
	v.Mean = int64(v.latency.Mean())
	v.P50 = int64(v.latency.Quantile(0.5))
	v.P90 = int64(v.latency.Quantile(0.9))
	v.P99 = int64(v.latency.Quantile(0.99))
}
