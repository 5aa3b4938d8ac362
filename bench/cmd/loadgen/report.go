package main

import (
	"fmt"
	"io"
	"runtime"
	"time"
)

// writeMarkdown prints the seeds' table with our figures and theirs.
func writeMarkdown(w io.Writer, cfg *config, rs []*variantResult, started time.Time) {
	without, with := rs[0], rs[1]
	fmt.Fprintf(w, "### Web load test: %d concurrent requests across %d workers\n\n", cfg.requests, cfg.workers)
	fmt.Fprintf(w, "%s, GOMAXPROCS %d, %s; examples/httpserver and this load generator on the same machine; median of %d interleaved rounds (after a warm-up round), latencies over all of them; %d users.\n\n",
		started.UTC().Format(time.RFC3339), runtime.GOMAXPROCS(0), runtime.Version(), cfg.rounds, cfg.users)
	fmt.Fprintf(w, "| metric | without pool | with pool | change | aiosqlitepool README: without | with | change |\n|---|---:|---:|---:|---:|---:|---:|\n")
	row := func(name string, a, b float64, unit string, theirs [3]string) {
		fmt.Fprintf(w, "| %s | %s | %s | %s | %s | %s | %s |\n", name, num(a, unit), num(b, unit), change(a, b), theirs[0], theirs[1], theirs[2])
	}
	row("Requests/sec", without.RPS, with.RPS, "", [3]string{"3,325", "5,731", "+72%"})
	row("Average latency", float64(without.Mean), float64(with.Mean), "ns", [3]string{"28.98 ms", "17.13 ms", "-41%"})
	row("Median latency", float64(without.P50), float64(with.P50), "ns", [3]string{"28.10 ms", "13.57 ms", "-52%"})
	row("P90 latency", float64(without.P90), float64(with.P90), "ns", [3]string{"37.39 ms", "18.25 ms", "-51%"})
	row("P99 latency", float64(without.P99), float64(with.P99), "ns", [3]string{"42.17 ms", "58.76 ms", "+39%"})
	fmt.Fprintf(w, "| Errors | %d | %d | | | | |\n\n", without.Errors, with.Errors)
}

func num(v float64, unit string) string {
	if unit == "ns" {
		d := time.Duration(v)
		switch {
		case d >= time.Millisecond:
			return fmt.Sprintf("%.2f ms", v/1e6)
		default:
			return fmt.Sprintf("%.0f µs", v/1e3)
		}
	}
	return fmt.Sprintf("%.0f", v)
}

func change(a, b float64) string {
	if a == 0 {
		return "-"
	}
	return fmt.Sprintf("%+.0f%%", (b-a)/a*100)
}
