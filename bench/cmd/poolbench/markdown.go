package main

import (
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/sqlitepool/sqlitepool/bench/harness"
)

func writeMarkdown(w io.Writer, m meta, cfg *config, rs *results, oh []overheadRow) {
	fmt.Fprintf(w, "## poolbench run of %s\n\n", m.Date)
	fmt.Fprintf(w, "- command: `%s`\n", m.Command)
	fmt.Fprintf(w, "- machine: %s, %d CPUs, GOMAXPROCS %d, %s, %s\n", m.CPU, m.NumCPU, m.GOMAXPROCS, m.OS, m.Go)
	var engines []string
	for k, v := range m.Engines {
		engines = append(engines, k+" "+v)
	}
	slices.Sort(engines)
	fmt.Fprintf(w, "- engines: %s\n", strings.Join(engines, ", "))
	fmt.Fprintf(w, "- dataset: %d users, %d posts, %d comments, %d likes (%.0f MB)\n",
		m.Dataset.Users, m.Dataset.Posts, m.Dataset.Comments, m.Dataset.Likes, float64(m.DBBytes)/1e6)
	fmt.Fprintf(w, "- %d interleaved rounds, %s warm-up + %s measured per cell; pools get %d read connections; took %s\n\n",
		m.Rounds, m.Warmup, m.Duration, m.Conns, m.Elapsed)

	for _, wl := range cfg.workloads {
		fmt.Fprintf(w, "### %s: ops/s (median of rounds)\n\n", wl)
		fmt.Fprintf(w, "| contender |")
		for _, n := range cfg.conc {
			fmt.Fprintf(w, " %d |", n)
		}
		fmt.Fprintf(w, "\n|---|")
		for range cfg.conc {
			fmt.Fprintf(w, "---:|")
		}
		fmt.Fprintln(w)
		for _, name := range contenderNames(rs) {
			fmt.Fprintf(w, "| %s |", name)
			for _, n := range cfg.conc {
				fmt.Fprintf(w, " %s |", opsCell(rs.find(name, wl, n)))
			}
			fmt.Fprintln(w)
		}
		fmt.Fprintln(w)
		writeRatios(w, cfg, rs, wl)
	}

	fmt.Fprintf(w, "### Every cell\n\n")
	fmt.Fprintf(w, "Spread is the slowest and fastest round. Latencies are over every round's operations, failed ones included.\n\n")
	fmt.Fprintf(w, "| workload | goroutines | contender | ops/s | spread | p50 | p99 | p99.9 | allocs/op | errors |\n")
	fmt.Fprintf(w, "|---|---:|---|---:|---|---:|---:|---:|---:|---|\n")
	for _, wl := range cfg.workloads {
		for _, n := range cfg.conc {
			for _, name := range contenderNames(rs) {
				c := rs.find(name, wl, n)
				if c == nil {
					continue
				}
				s := c.Summary
				errs := errorsText(s.Errors)
				if len(c.RunErrors) > 0 {
					errs += fmt.Sprintf("; %d rounds failed to run", len(c.RunErrors))
				}
				fmt.Fprintf(w, "| %s | %d | %s | %s | %s–%s | %s | %s | %s | %.1f | %s |\n",
					wl, n, name, ops(s.OpsMedian), ops(s.OpsMin), ops(s.OpsMax),
					dur(s.P50), dur(s.P99), dur(s.P999), s.AllocsPerOp, errs)
			}
		}
	}
	fmt.Fprintln(w)

	writeTargets(w, checkTargets(cfg, rs))
	if len(oh) > 0 {
		writeOverhead(w, oh)
	}
}

// writeRatios shows sqlitepool's median throughput over each other
// contender's.
func writeRatios(w io.Writer, cfg *config, rs *results, wl harness.Workload) {
	names := contenderNames(rs)
	if !slices.Contains(names, "sqlitepool") || len(names) < 2 {
		return
	}
	fmt.Fprintf(w, "sqlitepool's throughput over each contender's:\n\n| goroutines |")
	for _, name := range names {
		if name != "sqlitepool" {
			fmt.Fprintf(w, " vs %s |", name)
		}
	}
	fmt.Fprintf(w, "\n|---:|%s\n", strings.Repeat("---:|", len(names)-1))
	for _, n := range cfg.conc {
		fmt.Fprintf(w, "| %d |", n)
		pool := rs.find("sqlitepool", wl, n)
		for _, name := range names {
			if name != "sqlitepool" {
				fmt.Fprintf(w, " %s |", ratio(median0(pool), median0(rs.find(name, wl, n))))
			}
		}
		fmt.Fprintln(w)
	}
	fmt.Fprintln(w)
}

func writeOverhead(w io.Writer, oh []overheadRow) {
	fmt.Fprintf(w, "### Connection overhead: 10,000 simple SELECTs across 5 workers\n\n")
	fmt.Fprintf(w, "Median of %d interleaved repeats; latencies over all of them. aiosqlitepool's figures (Python, from its README) for comparison.\n\n", overheadRepeats)
	fmt.Fprintf(w, "| approach | avg latency | median latency | total time | ops/s | errors |\n|---|---:|---:|---:|---:|---:|\n")
	for _, r := range oh {
		fmt.Fprintf(w, "| %s | %s | %s | %s | %s | %d |\n", r.Approach, dur(r.Mean), dur(r.Median), dur(r.TotalTime), ops(r.OpsPerSec), r.Errors)
	}
	fmt.Fprintf(w, "| aiosqlitepool README: open/close per query | 1,019 µs | 1,006 µs | 2.04 s | 4,902 | |\n")
	fmt.Fprintf(w, "| aiosqlitepool README: persistent connections | 396 µs | 389 µs | 0.79 s | 12,658 | |\n\n")
	if len(oh) >= 2 && oh[1].OpsPerSec > 0 {
		fmt.Fprintf(w, "Persistent (sqlitepool) over open/close: %s (aiosqlitepool: 2.58×).\n\n", ratio(oh[1].OpsPerSec, oh[0].OpsPerSec))
	}
}

func opsCell(c *cell) string {
	switch {
	case c == nil:
		return ""
	case len(c.Rounds) == 0:
		return "failed"
	case len(c.Summary.Errors) > 0:
		return ops(c.Summary.OpsMedian) + " (errors)"
	}
	return ops(c.Summary.OpsMedian)
}

func median0(c *cell) float64 {
	if c == nil {
		return 0
	}
	return c.Summary.OpsMedian
}

// contenderNames lists the contenders that ran, in table order.
func contenderNames(rs *results) []string {
	var names []string
	for _, name := range allContenders {
		for _, c := range rs.cells {
			if c.Contender == name {
				names = append(names, name)
				break
			}
		}
	}
	return names
}
