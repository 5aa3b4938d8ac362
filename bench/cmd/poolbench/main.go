// Command poolbench compares sqlitepool with the other ways Go programs use
// SQLite, on one generated dataset, in interleaved rounds: every round runs
// each cell (workload × goroutines) for every contender in turn, for a
// fixed time after a warm-up, so that drift on a noisy machine hits every
// contender alike. It prints Markdown tables and writes every round as
// JSON.
//
//	go run ./cmd/poolbench -rounds 3 -duration 1s -json results/run.json
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/sqlitepool/sqlitepool/bench/harness"
	"github.com/sqlitepool/sqlitepool/bench/internal/contenders"
	"github.com/sqlitepool/sqlitepool/bench/internal/dataset"
)

// defaultContenders are the contenders, in table order;
// allContenders adds experiments run only when named.
var (
	defaultContenders = []string{"sqlitepool", "bare", "database/sql", "OpenDB", "split", "zombiezen", "wazero", "open-per-op"}
	allContenders     = append(slices.Clone(defaultContenders), "sqlitepool-ckpt", "database/sql-text", "OpenDB-text")
)

type config struct {
	rounds      int
	warmup      time.Duration
	duration    time.Duration
	users       int64
	conc        []int
	workloads   []harness.Workload
	contenders  []string
	conns       int
	busyTimeout time.Duration
	dataDir     string
	jsonOut     string
	mdOut       string
	wazeroDir   string
	overhead    bool
	cpuProfile  string
	seed        uint64
}

func parseFlags(args []string) (*config, error) {
	cfg := &config{}
	fs := flag.NewFlagSet("poolbench", flag.ContinueOnError)
	fs.IntVar(&cfg.rounds, "rounds", 3, "interleaved rounds; tables show the median round and the spread")
	fs.DurationVar(&cfg.warmup, "warmup", 250*time.Millisecond, "warm-up per cell, not measured")
	fs.DurationVar(&cfg.duration, "duration", time.Second, "measured time per cell and round")
	fs.Int64Var(&cfg.users, "users", 50000, "dataset size in users; posts, comments and likes follow the seeds' proportions")
	conc := fs.String("conc", "1,8,64,256", "goroutines per cell, comma-separated")
	workloads := fs.String("workloads", joinNames(harness.Workloads), "workloads, comma-separated")
	names := fs.String("contenders", strings.Join(defaultContenders, ","), "contenders, comma-separated; sqlitepool-ckpt (an experiment: the writer's checkpoints moved to another connection) runs only when named, as do database/sql-text and OpenDB-text (the SQL text on every call instead of prepared statements, as sqlc generates by default)")
	fs.IntVar(&cfg.conns, "conns", runtime.GOMAXPROCS(0), "read connections of every pool (sqlitepool's readers; database/sql and zombiezen get one more, for the writer)")
	fs.DurationVar(&cfg.busyTimeout, "busy-timeout", 5*time.Second, "busy timeout of every connection")
	fs.StringVar(&cfg.dataDir, "data", filepath.Join(os.TempDir(), "poolbench"), "directory for the cached dataset and the run's copy")
	fs.StringVar(&cfg.jsonOut, "json", "", "write the results as JSON to this file")
	fs.StringVar(&cfg.mdOut, "md", "", "also write the Markdown tables to this file")
	fs.StringVar(&cfg.wazeroDir, "wazero", "wazero", "directory of the bench/wazero module, built and run as a child process")
	fs.BoolVar(&cfg.overhead, "overhead", true, "also run the seeds' micro-benchmark: 10,000 SELECTs across 5 workers")
	fs.StringVar(&cfg.cpuProfile, "cpuprofile", "", "write a CPU profile of the whole run (in-process contenders only) to this file")
	seed := fs.Uint64("seed", 1, "seed of the key draws")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	cfg.seed = *seed
	for _, s := range strings.Split(*conc, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil || n < 1 {
			return nil, fmt.Errorf("-conc: bad goroutine count %q", s)
		}
		cfg.conc = append(cfg.conc, n)
	}
	for _, s := range strings.Split(*workloads, ",") {
		w, err := harness.ParseWorkload(strings.TrimSpace(s))
		if err != nil {
			return nil, err
		}
		cfg.workloads = append(cfg.workloads, w)
	}
	for _, s := range strings.Split(*names, ",") {
		s = strings.TrimSpace(s)
		if !slices.Contains(allContenders, s) {
			return nil, fmt.Errorf("-contenders: unknown %q (have %s)", s, strings.Join(allContenders, ", "))
		}
		cfg.contenders = append(cfg.contenders, s)
	}
	if cfg.rounds < 1 || cfg.duration <= 0 || cfg.users < 10 || cfg.conns < 1 {
		return nil, fmt.Errorf("-rounds, -duration, -conns must be positive and -users at least 10")
	}
	return cfg, nil
}

func main() {
	cfg, err := parseFlags(os.Args[1:])
	if err != nil {
		fmt.Fprintln(os.Stderr, "poolbench:", err)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if cfg.cpuProfile != "" {
		f, err := os.Create(cfg.cpuProfile)
		if err == nil {
			err = pprof.StartCPUProfile(f)
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, "poolbench:", err)
			os.Exit(1)
		}
		defer pprof.StopCPUProfile()
	}
	if err := run(ctx, cfg, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "poolbench:", err)
		pprof.StopCPUProfile()
		os.Exit(1)
	}
}

func run(ctx context.Context, cfg *config, out io.Writer) error {
	if err := os.MkdirAll(cfg.dataDir, 0o755); err != nil {
		return err
	}
	started := time.Now()
	size := dataset.Scaled(cfg.users)
	logf("dataset: %d users, %d posts, %d comments, %d likes", size.Users, size.Posts, size.Comments, size.Likes)
	pristine, err := dataset.Cached(ctx, cfg.dataDir, size)
	if err != nil {
		return fmt.Errorf("dataset: %w", err)
	}
	// The run writes to its own copy: write cells add likes, and the next
	// run must start from the same file.
	work, err := os.MkdirTemp(cfg.dataDir, "run-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(work)
	path := filepath.Join(work, "bench.db")
	if err := dataset.Copy(pristine, path); err != nil {
		return err
	}
	dbBytes := fileSize(pristine)

	cs, closeAll, err := openContenders(ctx, cfg, work)
	if err != nil {
		return err
	}
	defer closeAll()

	var rs results
	for round := 1; round <= cfg.rounds; round++ {
		for _, w := range cfg.workloads {
			for _, n := range cfg.conc {
				for _, c := range cs {
					if ctx.Err() != nil {
						return ctx.Err()
					}
					spec := harness.Spec{
						Path: path, Workload: w, Concurrency: n, Conns: cfg.conns,
						BusyTimeout: cfg.busyTimeout, Warmup: cfg.warmup, Duration: cfg.duration,
						Users: size.Users, Posts: size.Posts, Seed: cfg.seed + uint64(round),
					}
					cl := rs.get(c.Name(), w, n)
					r, err := c.Run(ctx, spec)
					if err != nil {
						cl.RunErrors = append(cl.RunErrors, err.Error())
						logf("round %d %-12s %-13s %3d: %v", round, c.Name(), w, n, err)
						continue
					}
					cl.add(r)
					logf("round %d %-12s %-13s %3d: %9.0f ops/s p99 %v errors %v", round, c.Name(), w, n, r.OpsPerSec(), r.Latency.Quantile(0.99), r.Errors)
				}
			}
		}
	}
	for _, c := range rs.cells {
		c.summarize()
	}

	var oh []overheadRow
	if cfg.overhead {
		if oh, err = runOverhead(ctx, path, size, cfg); err != nil {
			return fmt.Errorf("overhead: %w", err)
		}
	}

	m := collectMeta(cfg, started, dbBytes, size)
	var md strings.Builder
	writeMarkdown(&md, m, cfg, &rs, oh)
	fmt.Fprint(out, md.String())
	if cfg.mdOut != "" {
		if err := os.WriteFile(cfg.mdOut, []byte(md.String()), 0o644); err != nil {
			return err
		}
	}
	if cfg.jsonOut != "" {
		b, err := json.MarshalIndent(struct {
			Meta     meta          `json:"meta"`
			Cells    []*cell       `json:"cells"`
			Overhead []overheadRow `json:"overhead,omitempty"`
		}{m, rs.cells, oh}, "", "  ")
		if err != nil {
			return err
		}
		if err := os.WriteFile(cfg.jsonOut, append(b, '\n'), 0o644); err != nil {
			return err
		}
	}
	return nil
}

// inProcess makes the contenders that run in this process, by name.
var inProcess = map[string]func() harness.Contender{
	"sqlitepool":        contenders.Pool,
	"sqlitepool-ckpt":   contenders.PoolCheckpointer,
	"bare":              contenders.Bare,
	"database/sql":      contenders.DatabaseSQL,
	"database/sql-text": contenders.DatabaseSQLText,
	"OpenDB":            contenders.PoolDB,
	"OpenDB-text":       contenders.PoolDBText,
	"split":             contenders.Split,
	"zombiezen":         contenders.Zombiezen,
	"open-per-op":       contenders.OpenPerOp,
}

// openContenders makes the contenders asked for; the wazero one is a child
// process, ended by the returned function.
func openContenders(ctx context.Context, cfg *config, work string) ([]harness.Contender, func(), error) {
	var cs []harness.Contender
	var remote *harness.Remote
	closeAll := func() {
		if remote != nil {
			if err := remote.Close(); err != nil {
				logf("wazero child: %v", err)
			}
		}
	}
	for _, name := range cfg.contenders {
		if open, ok := inProcess[name]; ok {
			cs = append(cs, open())
			continue
		}
		// The one contender left is wazero (parseFlags knows every name).
		logf("building %s", cfg.wazeroDir)
		r, err := contenders.Wazero(ctx, cfg.wazeroDir, work)
		if err != nil {
			closeAll()
			return nil, nil, fmt.Errorf("wazero contender (run from the bench directory, or set -wazero): %w", err)
		}
		remote = r
		cs = append(cs, r)
	}
	return cs, closeAll, nil
}

func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "%s "+format+"\n", append([]any{time.Now().Format("15:04:05")}, args...)...)
}

func joinNames(ws []harness.Workload) string {
	var s []string
	for _, w := range ws {
		s = append(s, string(w))
	}
	return strings.Join(s, ",")
}

func fileSize(path string) int64 {
	fi, err := os.Stat(path)
	if err != nil {
		return 0
	}
	return fi.Size()
}
