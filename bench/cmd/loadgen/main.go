// Command loadgen reproduces the seeds' web load test, "1,000 concurrent
// requests across 100 workers", against examples/httpserver: the same
// server answering through sqlitepool (/users/{id}) and opening a
// connection per request (/open/users/{id}), in interleaved rounds.
//
// With -serve, it builds and starts the server itself (from the root
// module's directory) on a free port, and stops it at the end:
//
//	go run ./cmd/loadgen -serve ..
//
// Without, it drives a server already running at -url.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"time"
)

type config struct {
	url      string
	serve    string
	db       string
	users    int
	requests int
	workers  int
	rounds   int
	jsonOut  string
	mdOut    string
}

func main() {
	cfg := &config{}
	flag.StringVar(&cfg.url, "url", "http://127.0.0.1:8080", "base URL of a running examples/httpserver (ignored with -serve)")
	flag.StringVar(&cfg.serve, "serve", "", "directory of the root module: build and start examples/httpserver from it")
	flag.StringVar(&cfg.db, "db", "", "database for the started server (default: a temporary file)")
	flag.IntVar(&cfg.users, "users", 10000, "users in the database; requests ask for ids 1..users")
	flag.IntVar(&cfg.requests, "requests", 1000, "requests per round and variant")
	flag.IntVar(&cfg.workers, "workers", 100, "concurrent workers")
	flag.IntVar(&cfg.rounds, "rounds", 10, "interleaved rounds, after one warm-up round")
	flag.StringVar(&cfg.jsonOut, "json", "", "write the results as JSON to this file")
	flag.StringVar(&cfg.mdOut, "md", "", "also write the Markdown table to this file")
	flag.Parse()

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := run(ctx, cfg, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "loadgen:", err)
		os.Exit(1)
	}
}

// variant is one way the server answers.
type variant struct {
	Name   string `json:"name"`
	Prefix string `json:"prefix"`
}

var variants = []variant{
	{"without pool (connection per request)", "/open/users/"},
	{"with pool (sqlitepool)", "/users/"},
}

func run(ctx context.Context, cfg *config, out io.Writer) error {
	base := cfg.url
	if cfg.serve != "" {
		srv, err := startServer(ctx, cfg)
		if err != nil {
			return err
		}
		defer srv.stop()
		base = srv.url
	}
	client := &http.Client{
		Transport: &http.Transport{
			MaxIdleConns:        cfg.workers,
			MaxIdleConnsPerHost: cfg.workers, // keep-alive for every worker
			DisableCompression:  true,
		},
		Timeout: 30 * time.Second,
	}
	started := time.Now()
	results := make([]*variantResult, len(variants))
	for i, v := range variants {
		results[i] = &variantResult{Variant: v}
	}
	for round := 0; round <= cfg.rounds; round++ {
		for i, v := range variants {
			r, err := loadRound(ctx, client, base+v.Prefix, cfg, round)
			if err != nil {
				return err
			}
			if round == 0 {
				logf("warm-up %-40s %6.0f req/s", v.Name, r.rps())
				continue // warm-up: connections, caches, the pool's readers
			}
			results[i].add(r)
			logf("round %2d %-40s %6.0f req/s, %d errors", round, v.Name, r.rps(), r.errors)
		}
	}
	for _, r := range results {
		r.summarize()
	}
	var md strings.Builder
	writeMarkdown(&md, cfg, results, started)
	fmt.Fprint(out, md.String())
	if cfg.mdOut != "" {
		if err := os.WriteFile(cfg.mdOut, []byte(md.String()), 0o644); err != nil {
			return err
		}
	}
	if cfg.jsonOut != "" {
		b, err := json.MarshalIndent(struct {
			Date     string           `json:"date"`
			Requests int              `json:"requests_per_round"`
			Workers  int              `json:"workers"`
			Rounds   int              `json:"rounds"`
			Users    int              `json:"users"`
			Results  []*variantResult `json:"results"`
		}{started.UTC().Format(time.RFC3339), cfg.requests, cfg.workers, cfg.rounds, cfg.users, results}, "", "  ")
		if err != nil {
			return err
		}
		return os.WriteFile(cfg.jsonOut, append(b, '\n'), 0o644)
	}
	return nil
}

func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "%s "+format+"\n", append([]any{time.Now().Format("15:04:05")}, args...)...)
}
