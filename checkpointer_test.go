package sqlitepool

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// commitFrames commits, on the writer c, a transaction of well over
// SQLite's 1000-page checkpoint mark.
func commitFrames(t *testing.T, c *Conn) {
	t.Helper()
	tx, err := c.Begin()
	require.NoError(t, err)
	err = c.Exec("INSERT INTO t(v) VALUES (randomblob(6 << 20))")
	tx.End(&err)
	require.NoError(t, err)
}

// wakeJanitor tells the janitor a checkpoint may be due, as a release does.
func wakeJanitor(h *Handle) {
	select {
	case h.p.janitor.wake <- struct{}{}:
	default:
	}
}

// TestPassiveCheckpointRunsBesideTheWriter holds the writer while the WAL
// crosses the checkpoint mark: the janitor's PASSIVE checkpoint must still
// run, on its own connection, rather than queue behind the writer (and
// every write after it) as it would on the writer itself.
func TestPassiveCheckpointRunsBesideTheWriter(t *testing.T) {
	h := openT(t, tempDB(t), createTable, withClock(newFakeClock()))
	ctx := context.Background()
	w, err := h.Writer(ctx)
	require.NoError(t, err)
	defer w.Release() // also when a check fails: the pool's close waits for it
	commitFrames(t, w.Conn())
	wakeJanitor(h)
	require.Eventually(t, func() bool { return h.Stats().WAL.Checkpoints >= 1 },
		5*time.Second, time.Millisecond, "the checkpoint waited for the writer")
	// Backfilled, the WAL restarts from its start at the next write instead
	// of growing: the size stays the same.
	size := h.Stats().WAL.Size
	commitFrames(t, w.Conn())
	assert.LessOrEqual(t, h.Stats().WAL.Size, size+size/10, "the WAL was not reused")
	assert.Equal(t, uint64(1), h.Stats().Writer.Created, "the writer was never replaced")
}

// TestCheckpointerStaysOutOfExclusive: while an Exclusive section holds
// the pool, the checkpointer does not run (the section may checkpoint or
// back up itself, and must meet no lock of the pool's); it runs after.
func TestCheckpointerStaysOutOfExclusive(t *testing.T) {
	h := openT(t, tempDB(t), createTable, withClock(newFakeClock()))
	ctx := context.Background()
	err := h.Exclusive(ctx, func(w *Conn, _ []*Conn) error {
		commitFrames(t, w)
		wakeJanitor(h)
		time.Sleep(50 * time.Millisecond) // time enough for a janitor that would run
		assert.Zero(t, h.Stats().WAL.Checkpoints, "the checkpointer ran inside an Exclusive section")
		// Nothing holds the checkpoint lock: TRUNCATE finishes.
		busy := queryInt(t, w, "PRAGMA wal_checkpoint(TRUNCATE)")
		assert.Zero(t, busy)
		return nil
	})
	require.NoError(t, err)
	w, err := h.Writer(ctx)
	require.NoError(t, err)
	// The section's TRUNCATE emptied the WAL behind the pool's count: two
	// more big commits take it past the mark again.
	commitFrames(t, w.Conn())
	commitFrames(t, w.Conn())
	w.Release() // wakes the janitor
	require.Eventually(t, func() bool { return h.Stats().WAL.Checkpoints >= 1 },
		5*time.Second, time.Millisecond, "the checkpoint never ran after the section")
}

// TestCheckpointerClosesWhenIdleAndWithThePool: the checkpointer is one
// more open file while it runs; the janitor closes it after the idle
// timeout, and the pool's close closes it too.
func TestCheckpointerClosesWhenIdleAndWithThePool(t *testing.T) {
	base := openFDs(t)
	clock := newFakeClock()
	h, err := Open(tempDB(t), createTable, withClock(clock), WithIdleTimeout(time.Minute))
	require.NoError(t, err)
	ctx := context.Background()
	withWriter := openFDs(t)

	checkpointOnce := func(want uint64) {
		t.Helper()
		w, err := h.Writer(ctx)
		require.NoError(t, err)
		commitFrames(t, w.Conn())
		w.Release()
		require.Eventually(t, func() bool { return h.Stats().WAL.Checkpoints >= want },
			5*time.Second, time.Millisecond)
		// A small write restarts the backfilled WAL: no checkpoint is due.
		require.NoError(t, h.Exec(ctx, "INSERT INTO t(v) VALUES (1)"))
	}
	checkpointOnce(1)
	assert.Greater(t, openFDs(t), withWriter, "the checkpointer holds the database open")

	clock.Advance(2 * time.Minute)
	h.p.janitor.stop() // tidy below is the janitor's own work
	h.p.janitor.stopped.Wait()
	h.p.tidy(ctx)
	assert.Equal(t, withWriter, openFDs(t), "the idle checkpointer is closed")

	require.NoError(t, h.Close())
	assert.Equal(t, base, openFDs(t))
}

// TestSteadyWritesRestartTheWAL writes without pause from a few
// goroutines: there is never a moment with the WAL wholly copied back, so
// without the writer's catch-up checkpoint the WAL would only grow, until
// the janitor truncates it (holding every lease back). With it, the WAL
// starts over from its beginning: truncations are not needed (one may
// happen when writes outrun a round of the janitor), and the file stays
// under the limit.
func TestSteadyWritesRestartTheWAL(t *testing.T) {
	const limit = 16 << 20
	h := openT(t, tempDB(t), createTable, WithWALLimit(limit))
	ctx := context.Background()
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				if !assert.NoError(t, h.Exec(ctx, "INSERT INTO t(v) VALUES (randomblob(100))")) {
					return
				}
			}
		})
	}
	var maxWAL int64
	for end := time.Now().Add(1500 * time.Millisecond); time.Now().Before(end); time.Sleep(time.Millisecond) {
		maxWAL = max(maxWAL, h.Stats().WAL.Size)
	}
	close(stop)
	wg.Wait()
	s := h.Stats().WAL
	t.Logf("max WAL %d bytes, %d checkpoints, %d bytes reclaimed", maxWAL, s.Checkpoints, s.BytesReclaimed)
	require.Greater(t, s.Checkpoints, uint64(2), "too few writes to tell")
	// Without the catch-up, the WAL is truncated over and over (about 230
	// MB reclaimed in this time); with it, a truncation is a rare overshoot
	// while the janitor runs, if any.
	assert.Less(t, s.BytesReclaimed, int64(limit), "the WAL had to be truncated again and again")
	assert.Less(t, maxWAL, int64(limit))
}
