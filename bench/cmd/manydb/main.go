// Command manydb measures sqlitepool with one database per tenant (issue
// 16): it opens -n databases through sqlitepool.Open, writes and reads
// one row in each and keeps every handle, under a process-wide cap
// (sqlitepool.SetMaxConnections) with idle pools parking after -park;
// then it uses -reuse of them again, at random.
//
//	go run ./cmd/manydb                      # 10,000 databases, ~2 min
//
// It reports, all from the same run:
//   - resident memory, file descriptors, goroutines and open connections,
//     at their peak while the databases open and once they are all open;
//   - the first Open of a new name with -small pools open and with -n
//     open (the median of -samples opens each, every pool idle and parked
//     before the samples);
//   - the first lease of a re-used, parked database, next to opening a
//     connection to an existing file with the engine directly (the cost
//     of one connection open), and the first lease when the cap is full
//     and another pool has to park to make room.
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/ncruces/go-sqlite3"
	"github.com/sqlitepool/sqlitepool"
)

type config struct {
	n, small, samples, reuse, batch int
	maxConns                        int
	park                            time.Duration
	dir, memprofile                 string
}

func main() {
	cfg := config{}
	flag.IntVar(&cfg.n, "n", 10000, "databases opened and kept open")
	flag.IntVar(&cfg.small, "small", 100, "pools open for the small side of the Open comparison")
	flag.IntVar(&cfg.samples, "samples", 50, "new names opened for each side of the Open comparison")
	flag.IntVar(&cfg.reuse, "reuse", 1000, "databases used again at random")
	flag.IntVar(&cfg.batch, "batch", 100, "re-used databases between two pauses that let them park")
	flag.IntVar(&cfg.maxConns, "cap", 64, "sqlitepool.SetMaxConnections")
	flag.DurationVar(&cfg.park, "park", 2*time.Second, "sqlitepool.WithParkAfter")
	flag.StringVar(&cfg.dir, "dir", "", "directory for the databases (default: a new temporary one, removed at the end)")
	flag.StringVar(&cfg.memprofile, "memprofile", "", "write a heap profile once every pool has parked")
	flag.Parse()
	if err := run(cfg); err != nil {
		log.Fatal(err)
	}
}

func initTable(ctx context.Context, c *sqlitepool.Conn) error {
	return c.Exec("CREATE TABLE IF NOT EXISTS t(id INTEGER PRIMARY KEY, v TEXT)")
}

// tenants holds the handles, in the order the databases were opened.
type tenants struct {
	cfg  config
	dir  string
	hs   []*sqlitepool.Handle
	peak usage
}

func run(cfg config) error {
	if err := sqlitepool.SetMaxConnections(cfg.maxConns); err != nil {
		return err
	}
	dir := cfg.dir
	if dir == "" {
		d, err := os.MkdirTemp("", "manydb-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(d)
		dir = d
	}
	ts := &tenants{cfg: cfg, dir: dir}
	defer ts.close()
	base := measure()
	fmt.Printf("manydb: %d databases, cap %d connections, park after %v, GOMAXPROCS %d\n", cfg.n, cfg.maxConns, cfg.park, runtime.GOMAXPROCS(0))
	fmt.Printf("at start: %s\n", base)

	// The Open comparison's small side: cfg.small pools open, all parked.
	if err := ts.openMany(cfg.small); err != nil {
		return err
	}
	template := filepath.Join(dir, "template.db")
	if err := makeTemplate(template); err != nil {
		return err
	}
	ts.settle()
	small, smallRef, err := ts.sampleOpens(template)
	if err != nil {
		return err
	}

	start := time.Now()
	if err := ts.openMany(cfg.n - len(ts.hs)); err != nil {
		return err
	}
	fmt.Printf("opened, wrote and read %d databases in %v\n", len(ts.hs), time.Since(start).Round(time.Millisecond))
	fmt.Printf("peak while opening: %s\n", ts.peak)
	fmt.Printf("all open, before parking: %s\n", ts.usage())
	ts.settle()
	fmt.Printf("all open, idle pools parked: %s\n", ts.usage())
	var mem runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&mem)
	fmt.Printf("  Go heap in use after a GC: %.1f MB, %.1f KB a pool\n", float64(mem.HeapAlloc)/(1<<20), float64(mem.HeapAlloc)/1024/float64(len(ts.hs)))
	if cfg.memprofile != "" {
		f, err := os.Create(cfg.memprofile)
		if err != nil {
			return err
		}
		if err := pprof.WriteHeapProfile(f); err != nil {
			return err
		}
		f.Close()
	}

	big, bigRef, err := ts.sampleOpens(template)
	if err != nil {
		return err
	}
	ms, mb := median(small), median(big)
	rs, rb := median(smallRef), median(bigRef)
	fmt.Printf("first Open of an existing file by a new name: median %v with %d pools open, %v with %d open: %.2fx\n",
		ms.Round(time.Microsecond), cfg.small, mb.Round(time.Microsecond), len(ts.hs)-cfg.samples, float64(mb)/float64(ms))
	fmt.Printf("  the engine's own open of a file, timed between those Opens: %v and %v; Open relative to it: %.2fx and %.2fx: %.2fx\n",
		rs.Round(time.Microsecond), rb.Round(time.Microsecond), float64(ms)/float64(rs), float64(mb)/float64(rb),
		(float64(mb)/float64(rb))/(float64(ms)/float64(rs)))

	return ts.reuse()
}

// openMany opens n new databases, writes and reads one row in each, and
// keeps the handles.
func (ts *tenants) openMany(n int) error {
	ctx := context.Background()
	for range n {
		name := filepath.Join(ts.dir, "tenant-"+strconv.Itoa(len(ts.hs))+".db")
		h, err := sqlitepool.Open(name, initTable, sqlitepool.WithParkAfter(ts.cfg.park))
		if err != nil {
			return err
		}
		ts.hs = append(ts.hs, h)
		if err := h.Exec(ctx, "INSERT INTO t(v) VALUES ('hello')"); err != nil {
			return err
		}
		var got int64
		if err := h.QueryRow(ctx, "SELECT count(*) FROM t").Scan(&got); err != nil {
			return err
		}
		if len(ts.hs)%500 == 0 {
			ts.peak = ts.peak.max(ts.usage())
		}
	}
	return nil
}

// sampleOpens opens cfg.samples copies of template (copied untimed) by
// new names, keeping the handles, and times each Open; after each, it
// times the engine opening template, a reference for the machine's load
// at that moment.
func (ts *tenants) sampleOpens(template string) (opens, ref []time.Duration, err error) {
	data, err := os.ReadFile(template)
	if err != nil {
		return nil, nil, err
	}
	for range ts.cfg.samples {
		name := filepath.Join(ts.dir, "tenant-"+strconv.Itoa(len(ts.hs))+".db")
		if err := os.WriteFile(name, data, 0o600); err != nil {
			return nil, nil, err
		}
		t0 := time.Now()
		h, err := sqlitepool.Open(name, nil, sqlitepool.WithParkAfter(ts.cfg.park))
		opens = append(opens, time.Since(t0))
		if err != nil {
			return nil, nil, err
		}
		ts.hs = append(ts.hs, h)
		ref = append(ref, engineOpen(template, 1)...)
	}
	return opens, ref, nil
}

// makeTemplate makes the database the Open samples copy: in WAL mode,
// with the table and one row, as a tenant's.
func makeTemplate(name string) error {
	c, err := sqlite3.Open(name)
	if err != nil {
		return err
	}
	defer c.Close()
	return c.Exec("PRAGMA journal_mode=WAL; CREATE TABLE t(id INTEGER PRIMARY KEY, v TEXT); INSERT INTO t(v) VALUES ('hello')")
}

// settle waits until every pool has parked.
func (ts *tenants) settle() {
	deadline := time.Now().Add(ts.cfg.park + time.Minute)
	for time.Now().Before(deadline) {
		if ts.usage().conns == 0 {
			return
		}
		time.Sleep(ts.cfg.park / 4)
	}
}

// reuse uses random databases again, in batches with a pause between
// them that lets the pools park: each first lease finds room under the
// cap. Then, with the cap full of idle pools, it does the same without
// pauses: each first lease parks another pool to make room.
func (ts *tenants) reuse() error {
	cfg := ts.cfg
	ctx := context.Background()
	rng := rand.New(rand.NewPCG(1, 2))
	picks := rng.Perm(len(ts.hs))
	var room, full []time.Duration
	use := func(h *sqlitepool.Handle) (time.Duration, bool, error) {
		parked := h.Stats().Parked
		t0 := time.Now()
		var n int64
		err := h.QueryRow(ctx, "SELECT count(*) FROM t").Scan(&n)
		took := time.Since(t0)
		if err == nil && n != 1 {
			err = fmt.Errorf("%s: %d rows, want 1", h.Name(), n)
		}
		return took, parked, err
	}
	for i, k := range picks[:cfg.reuse] {
		if i > 0 && i%cfg.batch == 0 {
			ts.settle()
		}
		took, parked, err := use(ts.hs[k])
		if err != nil {
			return err
		}
		if parked {
			room = append(room, took)
		}
	}
	ts.settle()
	// Fill the cap with idle pools (one writer each), then use parked ones.
	for _, k := range picks[cfg.reuse : cfg.reuse+cfg.maxConns] {
		if err := ts.hs[k].Exec(ctx, "UPDATE t SET v = v"); err != nil {
			return err
		}
	}
	for _, k := range picks[cfg.reuse+cfg.maxConns : cfg.reuse+cfg.maxConns+cfg.batch] {
		took, parked, err := use(ts.hs[k])
		if err != nil {
			return err
		}
		if parked {
			full = append(full, took)
		}
	}
	open := engineOpen(ts.hs[picks[0]].Name(), 200)
	fmt.Printf("one connection open with the engine (open, first query, close; median of 200): %v\n", median(open).Round(time.Microsecond))
	fmt.Printf("first lease of a parked database (%d of %d re-used were parked): median %v, p90 %v: %.2fx one open\n",
		len(room), cfg.reuse, median(room).Round(time.Microsecond), quantile(room, 0.9).Round(time.Microsecond), float64(median(room))/float64(median(open)))
	fmt.Printf("first lease of a parked database with the cap full (another pool parks first; %d samples): median %v, p90 %v\n",
		len(full), median(full).Round(time.Microsecond), quantile(full, 0.9).Round(time.Microsecond))
	fmt.Printf("after the re-use: %s\n", ts.usage())
	return nil
}

// engineOpen times opening a connection to an existing database with the
// engine alone, its first query, and its close.
func engineOpen(name string, n int) []time.Duration {
	var took []time.Duration
	for range n {
		t0 := time.Now()
		c, err := sqlite3.Open("file:" + name + "?mode=ro")
		if err != nil {
			log.Fatal(err)
		}
		if err := c.Exec("SELECT count(*) FROM t"); err != nil {
			log.Fatal(err)
		}
		c.Close()
		took = append(took, time.Since(t0))
	}
	return took
}

func (ts *tenants) close() {
	for _, h := range ts.hs {
		if err := h.Close(); err != nil {
			log.Print(err)
		}
	}
}

// usage is what the process holds at one moment.
type usage struct {
	rssKB, fds, goroutines, conns, parked int
}

func (u usage) String() string {
	s := fmt.Sprintf("RSS %.1f MB, %d file descriptors, %d goroutines", float64(u.rssKB)/1024, u.fds, u.goroutines)
	if u.conns >= 0 {
		s += fmt.Sprintf(", %d connections open, %d pools parked", u.conns, u.parked)
	}
	return s
}

func (u usage) max(v usage) usage {
	return usage{max(u.rssKB, v.rssKB), max(u.fds, v.fds), max(u.goroutines, v.goroutines), max(u.conns, v.conns), max(u.parked, v.parked)}
}

func measure() usage {
	u := usage{goroutines: runtime.NumGoroutine(), conns: -1}
	if ents, err := os.ReadDir("/proc/self/fd"); err == nil {
		u.fds = len(ents)
	}
	if b, err := os.ReadFile("/proc/self/status"); err == nil {
		for line := range strings.Lines(string(b)) {
			if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
				u.rssKB, _ = strconv.Atoi(strings.TrimSuffix(strings.TrimSpace(v), " kB"))
			}
		}
	}
	return u
}

func (ts *tenants) usage() usage {
	u := measure()
	u.conns = 0
	for _, h := range ts.hs {
		st := h.Stats()
		u.conns += st.Writer.Open + st.Readers.Open
		if st.Parked {
			u.parked++
		}
	}
	return u
}

func median(d []time.Duration) time.Duration { return quantile(d, 0.5) }

func quantile(d []time.Duration, q float64) time.Duration {
	if len(d) == 0 {
		return 0
	}
	s := slices.Clone(d)
	slices.Sort(s)
	return s[int(q*float64(len(s)-1))]
}
