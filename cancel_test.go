package sqlitepool

import (
	"context"
	"errors"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

// cancelOps are the ways to use a pool that TestCancelAtEveryPoint
// interrupts. Each returns whether it committed a row.
var cancelOps = []struct {
	name string
	run  func(ctx context.Context, h *Handle) (wrote bool, err error)
}{
	{"Reader", func(ctx context.Context, h *Handle) (bool, error) {
		l, err := h.Reader(ctx)
		if err != nil {
			return false, err
		}
		defer l.Release()
		var n int64
		return false, l.Conn().QueryRow("SELECT count(*) FROM t").Scan(&n)
	}},
	{"Writer", func(ctx context.Context, h *Handle) (bool, error) {
		l, err := h.Writer(ctx)
		if err != nil {
			return false, err
		}
		defer l.Release()
		return false, l.Conn().Exec("SELECT count(*) FROM t")
	}},
	{"Read", func(ctx context.Context, h *Handle) (bool, error) {
		return false, h.Read(ctx, func(_ context.Context, c *Conn) error {
			var n int64
			return c.QueryRow("SELECT count(*) FROM t").Scan(&n)
		})
	}},
	{"Write", func(ctx context.Context, h *Handle) (bool, error) {
		err := h.Write(ctx, func(_ context.Context, c *Conn) error { return c.Exec("INSERT INTO t(v) VALUES ('w')") })
		return err == nil, err
	}},
	{"Exec", func(ctx context.Context, h *Handle) (bool, error) {
		err := h.Exec(ctx, "INSERT INTO t(v) VALUES ('e')")
		return err == nil, err
	}},
	{"QueryRow", func(ctx context.Context, h *Handle) (bool, error) {
		var n int64
		return false, h.QueryRow(ctx, "SELECT count(*) FROM t").Scan(&n)
	}},
	{"Query", func(ctx context.Context, h *Handle) (bool, error) {
		for _, err := range h.Query(ctx, "SELECT id FROM t LIMIT 3") {
			if err != nil {
				return false, err
			}
		}
		return false, nil
	}},
	{"Exclusive", func(ctx context.Context, h *Handle) (bool, error) {
		return false, h.Exclusive(ctx, func(_ context.Context, w *Conn, readers []*Conn) error {
			return w.Exec("SELECT count(*) FROM t")
		})
	}},
}

// cancelContext returns a context that ends at a random point: already
// cancelled, cancelled after 0 to 200 µs (from another goroutine, so it
// can land anywhere in acquire, the statement or release), or with a
// deadline as short.
func cancelContext(rng *rand.Rand) (context.Context, context.CancelFunc) {
	after := time.Duration(rng.IntN(200)) * time.Microsecond
	switch rng.IntN(8) {
	case 0:
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		return ctx, cancel
	case 1, 2:
		return context.WithTimeout(context.Background(), after)
	}
	ctx, cancel := context.WithCancel(context.Background())
	t := time.AfterFunc(after, cancel)
	return ctx, func() { t.Stop(); cancel() }
}

// TestCancelAtEveryPoint cancels the contexts of operations of every kind,
// from goroutines contending for two readers and the writer, at random
// points of acquire, use and release, many times. Each operation must
// succeed or fail with its context's error, nothing else; a write reported
// failed must not have committed; and afterwards (the janitor stopped)
// nothing is in use or waiting, no connection was lost or replaced, every role works, and no
// goroutine is left. SQLITEPOOL_STRESS sets the duration.
func TestCancelAtEveryPoint(t *testing.T) {
	leaks := goleak.IgnoreCurrent()
	h, err := Open(tempDB(t), createTable, WithReaders(2))
	require.NoError(t, err)
	duration := stressDuration(t)

	var ops, failed, wrote atomic.Int64
	var byOp [8]atomic.Int64
	deadline := time.Now().Add(duration)
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(g), uint64(time.Now().UnixNano())))
			for time.Now().Before(deadline) {
				i := rng.IntN(len(cancelOps))
				op := cancelOps[i]
				ctx, cancel := cancelContext(rng)
				w, err := op.run(ctx, h)
				cancel()
				ops.Add(1)
				byOp[i].Add(1)
				if w {
					wrote.Add(1)
				}
				if err == nil {
					continue
				}
				failed.Add(1)
				if !errors.Is(err, context.Canceled) && !errors.Is(err, context.DeadlineExceeded) {
					assert.Fail(t, "an error other than the context's", "%s: %v", op.name, err)
					return
				}
			}
		})
	}
	wg.Wait()

	// Every operation has returned, but the pool's janitor may still be
	// at work, woken by the last commits: a truncating checkpoint is an
	// Exclusive section of the pool's own, holding every connection (see
	// TestTruncatingCheckpointIsAnExclusiveSection). Stopping it waits for
	// its round to end, so what is in use after that is a caller's.
	h.p.stopJanitor()
	requireIdle(t, h)
	st := h.Stats()
	assert.Equal(t, uint64(1), st.Writer.Created, "the writer was replaced (lost or broken)")
	assert.LessOrEqual(t, st.Readers.Created, uint64(2), "a reader was replaced (lost or broken)")
	assert.Zero(t, st.Writer.Closed+st.Readers.Closed)
	assert.Equal(t, 1, st.Writer.Idle)
	assert.Equal(t, int(st.Readers.Created), st.Readers.Idle)

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	require.NoError(t, h.Exclusive(ctx, func(_ context.Context, w *Conn, readers []*Conn) error {
		assert.Len(t, readers, 2)
		return nil
	}), "every connection can be had")
	for _, op := range cancelOps {
		_, err := op.run(ctx, h)
		require.NoError(t, err, "%s after the storm", op.name)
	}
	assert.Equal(t, wrote.Load()+2, readInt(t, h, "SELECT count(*) FROM t"), "a write reported failed committed, or one reported done did not")
	st = h.Stats()
	t.Logf("%v: %d operations, %d ended by their context; writer waits %d, cancels %d, timeouts %d; reader waits %d, cancels %d, timeouts %d; Exclusive sections %d",
		duration, ops.Load(), failed.Load(), st.Writer.Waits, st.Writer.Cancels, st.Writer.Timeouts,
		st.Readers.Waits, st.Readers.Cancels, st.Readers.Timeouts, st.Exclusive.Sections)
	for i, op := range cancelOps {
		assert.Positive(t, byOp[i].Load(), op.name)
	}

	require.NoError(t, h.Close())
	goleak.VerifyNone(t, leaks)
}
