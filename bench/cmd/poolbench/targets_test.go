package main

import (
	"testing"

	"github.com/sqlitepool/sqlitepool/bench/harness"
)

// cellWith adds a one-round cell with these figures to rs.
func cellWith(rs *results, contender string, w harness.Workload, n int, opsPerSec, allocs float64, errs map[string]int64) {
	c := rs.get(contender, w, n)
	c.Rounds = append(c.Rounds, roundJSON{OpsPerSec: opsPerSec, AllocsPerOp: allocs, Errors: errs})
	c.summarize()
}

// TestOpenDBTargets checks issue 14's targets on made-up cells: each is
// met or missed on its own figures, and cells that did not run leave
// their targets out.
func TestOpenDBTargets(t *testing.T) {
	rs := &results{}
	if ts := openDBTargets(rs); len(ts) != 0 {
		t.Fatalf("targets with no cell run: %+v", ts)
	}
	cellWith(rs, "OpenDB", harness.PointRead, 8, 150, 20, nil)
	cellWith(rs, "database/sql", harness.PointRead, 8, 100, 32, nil)
	cellWith(rs, "OpenDB", harness.Insert, 8, 119, 5, nil)
	cellWith(rs, "split", harness.Insert, 8, 100, 5, nil)
	cellWith(rs, "OpenDB", harness.Insert, 64, 130, 5, map[string]int64{harness.ErrBusy: 1})
	cellWith(rs, "split", harness.Insert, 64, 100, 5, nil)

	want := map[string]bool{
		"OpenDB point reads at 8 goroutines ≥ 1.5× database/sql":                         true,
		"OpenDB point reads at 8 goroutines: ≥ 1.5× fewer allocations than database/sql": true,
		"OpenDB insert at 8 goroutines: 0 BUSY":                                          true,
		"OpenDB insert at 8 goroutines: ≥ 1.2× split throughput":                         false,
		"OpenDB insert at 64 goroutines: 0 BUSY":                                         false,
		"OpenDB insert at 64 goroutines: ≥ 1.2× split throughput":                        true,
	}
	ts := openDBTargets(rs)
	if len(ts) != len(want) {
		t.Fatalf("got %d targets, want %d: %+v", len(ts), len(want), ts)
	}
	for _, tg := range ts {
		met, ok := want[tg.Name]
		if !ok {
			t.Errorf("unexpected target %q", tg.Name)
			continue
		}
		if tg.Met != met {
			t.Errorf("%q: met %v, want %v (%s)", tg.Name, tg.Met, met, tg.Detail)
		}
	}
}
