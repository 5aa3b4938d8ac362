package contenders

import (
	"context"
	"fmt"
	"path/filepath"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/sqlitepool/sqlitepool/bench/harness"
	"github.com/sqlitepool/sqlitepool/bench/internal/dataset"
)

// local lists the in-process contenders (wazero needs its child process:
// poolbench covers it).
func local() []harness.Contender {
	return []harness.Contender{Pool(), PoolCheckpointer(), Bare(), DatabaseSQL(), DatabaseSQLText(), PoolDB(), PoolDBText(), Split(), Zombiezen(), OpenPerOp()}
}

func testDB(tb testing.TB, users int64) (string, dataset.Size) {
	tb.Helper()
	size := dataset.Scaled(users)
	pristine, err := dataset.Cached(context.Background(), tb.TempDir(), size)
	if err != nil {
		tb.Fatal(err)
	}
	path := filepath.Join(tb.TempDir(), "bench.db")
	if err := dataset.Copy(pristine, path); err != nil {
		tb.Fatal(err)
	}
	return path, size
}

func spec(path string, size dataset.Size, w harness.Workload, n int) harness.Spec {
	return harness.Spec{
		Path: path, Workload: w, Concurrency: n, Conns: runtime.GOMAXPROCS(0),
		BusyTimeout: 5 * time.Second, Duration: 30 * time.Millisecond,
		Users: size.Users, Posts: size.Posts, Seed: 1,
	}
}

// TestContenders runs every workload briefly on every in-process
// contender: each must complete operations without an error.
func TestContenders(t *testing.T) {
	path, size := testDB(t, 200)
	for _, c := range local() {
		for _, w := range harness.Workloads {
			t.Run(fmt.Sprintf("%s/%s", c.Name(), w), func(t *testing.T) {
				r, err := c.Run(t.Context(), spec(path, size, w, 4))
				if err != nil {
					t.Fatal(err)
				}
				if r.Ops == 0 || len(r.Errors) > 0 {
					t.Fatalf("got %d ops and errors %v (%v), want some ops and no error", r.Ops, r.Errors, r.ErrorSamples)
				}
			})
		}
	}
}

// BenchmarkPointRead runs point reads on each contender with 1, 8, 64 and
// 256 goroutines, each with a worker of its own, for profiling:
//
//	go test -run '^$' -bench 'PointRead/sqlitepool/256' -cpuprofile cpu.out ./internal/contenders
func BenchmarkPointRead(b *testing.B) {
	benchWorkload(b, func(w harness.Worker, i int64, users int64) error {
		_, err := w.PointRead(i%users + 1)
		return err
	})
}

// BenchmarkInsert inserts one row per transaction.
func BenchmarkInsert(b *testing.B) {
	benchWorkload(b, func(w harness.Worker, i int64, users int64) error {
		return w.Insert([]harness.Like{{PostID: i%100 + 1, UserID: i%users + 1, CreatedAt: i}})
	})
}

// BenchmarkMixed is like BenchmarkPointRead with one insert in ten.
func BenchmarkMixed(b *testing.B) {
	rows := []harness.Like{{PostID: 1, UserID: 1, CreatedAt: 1}}
	benchWorkload(b, func(w harness.Worker, i int64, users int64) error {
		if i%10 == 0 {
			return w.Insert(rows)
		}
		_, err := w.PointRead(i%users + 1)
		return err
	})
}

func benchWorkload(b *testing.B, op func(w harness.Worker, i, users int64) error) {
	path, size := testDB(b, 20000)
	for _, c := range local() {
		for _, n := range []int{1, 8, 64, 256} {
			b.Run(fmt.Sprintf("%s/%d", c.Name(), n), func(b *testing.B) {
				s, err := c.(harness.Local).Open(context.Background(), spec(path, size, harness.PointRead, n))
				if err != nil {
					b.Fatal(err)
				}
				defer s.Close()
				var mu sync.Mutex
				b.SetParallelism(max(1, n/runtime.GOMAXPROCS(0)))
				b.ReportAllocs()
				b.RunParallel(func(pb *testing.PB) {
					mu.Lock()
					w, err := s.NewWorker()
					mu.Unlock()
					if err != nil {
						b.Error(err)
						return
					}
					defer w.Close()
					var i int64
					for pb.Next() {
						i += 7919
						if err := op(w, i, size.Users); err != nil {
							b.Error(err)
							return
						}
					}
				})
			})
		}
	}
}
