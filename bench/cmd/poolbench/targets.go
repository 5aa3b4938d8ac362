package main

import (
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/sqlitepool/sqlitepool/bench/harness"
)

// target is one of the issues' targets (5, 14), checked against a run.
type target struct {
	Name   string
	Met    bool
	Detail string
}

// checkTargets checks the targets on whatever cells ran; a target
// whose cells did not run is left out.
func checkTargets(cfg *config, rs *results) []target {
	var ts []target
	pool := func(w harness.Workload, n int) *cell { return rs.find("sqlitepool", w, n) }

	// Point reads within 10% of bare connections, at every concurrency.
	if t, ok := ratioTarget(rs, cfg.conc, harness.PointRead, "bare", 0.9); ok {
		t.Name = "point reads ≥ 0.9× bare at every concurrency"
		ts = append(ts, t)
	}
	if p := pool(harness.PointRead, 8); p != nil && len(p.Rounds) > 0 {
		ts = append(ts, target{
			Name:   "point-read p99 at 8 goroutines ≤ 100 µs",
			Met:    p.Summary.P99 <= 100*time.Microsecond,
			Detail: "p99 " + dur(p.Summary.P99) + dbsqlP99(rs),
		})
	}
	if t, ok := ratioTarget(rs, cfg.conc, harness.PointRead, "open-per-op", 100); ok {
		t.Name = "point reads ≥ 100× open-per-operation"
		ts = append(ts, t)
	}
	for _, wl := range []harness.Workload{harness.Insert, harness.BatchInsert} {
		for _, n := range []int{8, 64} {
			p, s := pool(wl, n), rs.find("split", wl, n)
			if p == nil || s == nil || len(p.Rounds) == 0 || len(s.Rounds) == 0 {
				continue
			}
			busy := p.Summary.Errors[harness.ErrBusy]
			ts = append(ts,
				target{
					Name:   fmt.Sprintf("%s at %d goroutines: 0 BUSY", wl, n),
					Met:    busy == 0 && len(p.RunErrors) == 0,
					Detail: fmt.Sprintf("sqlitepool errors: %s (split: %s)", errorsText(p.Summary.Errors), errorsText(s.Summary.Errors)),
				},
				target{
					Name:   fmt.Sprintf("%s at %d goroutines: ≥ 1.2× split throughput", wl, n),
					Met:    p.Summary.OpsMedian >= 1.2*s.Summary.OpsMedian,
					Detail: fmt.Sprintf("%s vs %s ops/s = %s", ops(p.Summary.OpsMedian), ops(s.Summary.OpsMedian), ratio(p.Summary.OpsMedian, s.Summary.OpsMedian)),
				},
				target{
					Name:   fmt.Sprintf("%s at %d goroutines: p99 ≤ 0.5× split's", wl, n),
					Met:    p.Summary.P99 <= s.Summary.P99/2,
					Detail: fmt.Sprintf("p99 %s vs %s = %s", dur(p.Summary.P99), dur(s.Summary.P99), ratio(float64(p.Summary.P99), float64(s.Summary.P99))),
				})
		}
	}
	p, d := pool(harness.Mixed, 64), rs.find("database/sql", harness.Mixed, 64)
	if p != nil && d != nil && len(p.Rounds) > 0 && len(d.Rounds) > 0 {
		ts = append(ts, target{
			Name:   "mixed 90/10 at 64 goroutines ≥ 1.5× database/sql",
			Met:    p.Summary.OpsMedian >= 1.5*d.Summary.OpsMedian,
			Detail: fmt.Sprintf("%s vs %s ops/s = %s", ops(p.Summary.OpsMedian), ops(d.Summary.OpsMedian), ratio(p.Summary.OpsMedian, d.Summary.OpsMedian)),
		})
	}
	return append(ts, openDBTargets(rs)...)
}

// openDBTargets checks issue 14's targets for database/sql on the pool
// (the OpenDB contender): point reads at 8 goroutines against database/sql
// on ncruces' driver, in throughput and allocations, and single-row write
// transactions against the split pattern.
func openDBTargets(rs *results) []target {
	var ts []target
	ran := func(c *cell) bool { return c != nil && len(c.Rounds) > 0 }
	p, d := rs.find("OpenDB", harness.PointRead, 8), rs.find("database/sql", harness.PointRead, 8)
	if ran(p) && ran(d) {
		ts = append(ts,
			target{
				Name:   "OpenDB point reads at 8 goroutines ≥ 1.5× database/sql",
				Met:    p.Summary.OpsMedian >= 1.5*d.Summary.OpsMedian,
				Detail: fmt.Sprintf("%s vs %s ops/s = %s", ops(p.Summary.OpsMedian), ops(d.Summary.OpsMedian), ratio(p.Summary.OpsMedian, d.Summary.OpsMedian)),
			},
			target{
				Name:   "OpenDB point reads at 8 goroutines: ≥ 1.5× fewer allocations than database/sql",
				Met:    1.5*p.Summary.AllocsPerOp <= d.Summary.AllocsPerOp,
				Detail: fmt.Sprintf("%.1f vs %.1f allocs/op = %s fewer", p.Summary.AllocsPerOp, d.Summary.AllocsPerOp, ratio(d.Summary.AllocsPerOp, p.Summary.AllocsPerOp)),
			})
	}
	for _, n := range []int{8, 64} {
		p, s := rs.find("OpenDB", harness.Insert, n), rs.find("split", harness.Insert, n)
		if !ran(p) || !ran(s) {
			continue
		}
		ts = append(ts,
			target{
				Name:   fmt.Sprintf("OpenDB insert at %d goroutines: 0 BUSY", n),
				Met:    p.Summary.Errors[harness.ErrBusy] == 0 && len(p.RunErrors) == 0,
				Detail: fmt.Sprintf("OpenDB errors: %s (split: %s)", errorsText(p.Summary.Errors), errorsText(s.Summary.Errors)),
			},
			target{
				Name:   fmt.Sprintf("OpenDB insert at %d goroutines: ≥ 1.2× split throughput", n),
				Met:    p.Summary.OpsMedian >= 1.2*s.Summary.OpsMedian,
				Detail: fmt.Sprintf("%s vs %s ops/s = %s", ops(p.Summary.OpsMedian), ops(s.Summary.OpsMedian), ratio(p.Summary.OpsMedian, s.Summary.OpsMedian)),
			})
	}
	return ts
}

// ratioTarget checks sqlitepool ≥ min × other on workload wl at every
// concurrency that ran.
func ratioTarget(rs *results, conc []int, wl harness.Workload, other string, min float64) (target, bool) {
	t := target{Met: true}
	var parts []string
	for _, n := range conc {
		p, o := rs.find("sqlitepool", wl, n), rs.find(other, wl, n)
		if p == nil || o == nil || len(p.Rounds) == 0 || len(o.Rounds) == 0 {
			continue
		}
		if p.Summary.OpsMedian < min*o.Summary.OpsMedian {
			t.Met = false
		}
		parts = append(parts, fmt.Sprintf("%d: %s", n, ratio(p.Summary.OpsMedian, o.Summary.OpsMedian)))
	}
	t.Detail = strings.Join(parts, ", ")
	return t, len(parts) > 0
}

func dbsqlP99(rs *results) string {
	if d := rs.find("database/sql", harness.PointRead, 8); d != nil && len(d.Rounds) > 0 {
		return " (database/sql: " + dur(d.Summary.P99) + ")"
	}
	return ""
}

func writeTargets(w io.Writer, ts []target) {
	if len(ts) == 0 {
		return
	}
	fmt.Fprintf(w, "### Targets (issues 5 and 14)\n\n| target | result | figures |\n|---|---|---|\n")
	for _, t := range ts {
		res := "missed"
		if t.Met {
			res = "met"
		}
		fmt.Fprintf(w, "| %s | %s | %s |\n", t.Name, res, t.Detail)
	}
	fmt.Fprintln(w)
}
