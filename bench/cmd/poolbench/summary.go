package main

import (
	"slices"
	"time"

	"github.com/sqlitepool/sqlitepool/bench/harness"
)

// cell is one contender × workload × concurrency over every round.
type cell struct {
	Contender   string           `json:"contender"`
	Workload    harness.Workload `json:"workload"`
	Concurrency int              `json:"concurrency"`
	Rounds      []roundJSON      `json:"rounds"`
	// RunErrors are rounds that could not run at all (set-up failed).
	RunErrors []string `json:"run_errors,omitempty"`

	latency harness.Histogram // merged over rounds
	Summary summary           `json:"summary"`
}

// roundJSON is one round as written to the results file.
type roundJSON struct {
	Ops          int64             `json:"ops"`
	Seconds      float64           `json:"seconds"`
	OpsPerSec    float64           `json:"ops_per_sec"`
	AllocsPerOp  float64           `json:"allocs_per_op"`
	P50ns        int64             `json:"p50_ns"`
	P99ns        int64             `json:"p99_ns"`
	Errors       map[string]int64  `json:"errors,omitempty"`
	ErrorSamples map[string]string `json:"error_samples,omitempty"`
}

// summary is what the tables show: the median round and the spread, and
// latency quantiles over every round's operations.
type summary struct {
	OpsMedian   float64          `json:"ops_per_sec_median"`
	OpsMin      float64          `json:"ops_per_sec_min"`
	OpsMax      float64          `json:"ops_per_sec_max"`
	P50         time.Duration    `json:"p50_ns"`
	P99         time.Duration    `json:"p99_ns"`
	P999        time.Duration    `json:"p999_ns"`
	Mean        time.Duration    `json:"mean_ns"`
	AllocsPerOp float64          `json:"allocs_per_op_median"`
	Errors      map[string]int64 `json:"errors,omitempty"`
}

func (c *cell) add(r *harness.Round) {
	c.latency.Merge(r.Latency)
	c.Rounds = append(c.Rounds, roundJSON{
		Ops:          r.Ops,
		Seconds:      r.Seconds,
		OpsPerSec:    r.OpsPerSec(),
		AllocsPerOp:  r.AllocsPerOp(),
		P50ns:        int64(r.Latency.Quantile(0.5)),
		P99ns:        int64(r.Latency.Quantile(0.99)),
		Errors:       r.Errors,
		ErrorSamples: r.ErrorSamples,
	})
}

func (c *cell) summarize() {
	s := summary{
		P50:  c.latency.Quantile(0.5),
		P99:  c.latency.Quantile(0.99),
		P999: c.latency.Quantile(0.999),
		Mean: c.latency.Mean(),
	}
	var ops, allocs []float64
	for _, r := range c.Rounds {
		ops = append(ops, r.OpsPerSec)
		allocs = append(allocs, r.AllocsPerOp)
		for k, n := range r.Errors {
			if s.Errors == nil {
				s.Errors = map[string]int64{}
			}
			s.Errors[k] += n
		}
	}
	if len(ops) > 0 {
		s.OpsMedian, s.OpsMin, s.OpsMax = median(ops), slices.Min(ops), slices.Max(ops)
		s.AllocsPerOp = median(allocs)
	}
	c.Summary = s
}

func median(xs []float64) float64 {
	s := slices.Sorted(slices.Values(xs))
	n := len(s)
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}

// results is every cell, found by its key.
type results struct {
	cells []*cell
	index map[cellKey]*cell
}

type cellKey struct {
	contender   string
	workload    harness.Workload
	concurrency int
}

func (rs *results) get(contender string, w harness.Workload, conc int) *cell {
	k := cellKey{contender, w, conc}
	if c := rs.index[k]; c != nil {
		return c
	}
	if rs.index == nil {
		rs.index = map[cellKey]*cell{}
	}
	c := &cell{Contender: contender, Workload: w, Concurrency: conc}
	rs.index[k] = c
	rs.cells = append(rs.cells, c)
	return c
}

// find returns the cell or nil when it was not run.
func (rs *results) find(contender string, w harness.Workload, conc int) *cell {
	return rs.index[cellKey{contender, w, conc}]
}
