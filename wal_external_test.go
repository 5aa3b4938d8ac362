package sqlitepool

import (
	"context"
	"log/slog"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ncruces/go-sqlite3"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// walFrameBytes is the size of one WAL frame at SQLite's default page size.
const walFrameBytes = 4096 + 24

// insertRows inserts n rows into t, one commit each.
func insertRows(t *testing.T, h *Handle, n int) {
	t.Helper()
	for range n {
		require.NoError(t, h.Exec(context.Background(), "INSERT INTO t(v) VALUES (randomblob(100))"))
	}
}

// rawOpen opens a connection of the engine's own on path, as another
// process would: the pool knows nothing of it.
func rawOpen(t *testing.T, path string) *sqlite3.Conn {
	t.Helper()
	raw, err := sqlite3.Open(path)
	require.NoError(t, err)
	t.Cleanup(func() { raw.Close() })
	require.NoError(t, raw.BusyTimeout(time.Second))
	return raw
}

// TestWALExternalCloseKeepsTheWAL: under WALExternal the pool's last
// Close does not checkpoint: the -wal file stays with every frame the
// pool counted, and a pool opened again sees every row through it.
func TestWALExternalCloseKeepsTheWAL(t *testing.T) {
	path := tempDB(t)
	h, err := Open(path, createTable, WithWALPolicy(WALExternal), WithReaders(2))
	require.NoError(t, err)
	insertRows(t, h, 50)
	require.Equal(t, int64(50), readInt(t, h, "SELECT count(*) FROM t"))
	require.NoError(t, h.Close())
	st := h.Stats().WAL // the final figures, PRAGMA optimize's at close included

	assert.Zero(t, st.Checkpoints, "the pool checkpointed")
	assert.GreaterOrEqual(t, st.Frames, uint64(50), "one frame at least per commit")
	fi, err := os.Stat(path + "-wal")
	require.NoError(t, err, "the last Close removed the WAL")
	assert.Equal(t, 32+int64(st.Frames)*walFrameBytes, fi.Size(),
		"the -wal file holds the header and every frame counted")

	h = openT(t, path, nil, WithWALPolicy(WALExternal))
	assert.Equal(t, int64(50), readInt(t, h, "SELECT count(*) FROM t"), "rows lost at close")
}

// TestWALExternalSettings: under WALExternal the writer runs no automatic
// checkpoint, journal_size_limit keeps SQLite's default (no shrinking),
// and no connection, readers included, checkpoints as it closes.
func TestWALExternalSettings(t *testing.T) {
	h := openT(t, tempDB(t), createTable, WithWALPolicy(WALExternal))
	ctx := context.Background()
	require.NoError(t, h.Write(ctx, func(_ context.Context, c *Conn) error {
		assert.Equal(t, int64(-1), queryInt(t, c, "PRAGMA journal_size_limit"))
		on, err := c.Raw().Config(sqlite3.DBCONFIG_NO_CKPT_ON_CLOSE)
		assert.NoError(t, err)
		assert.True(t, on, "the writer would checkpoint as it closes")
		return nil
	}))
	require.NoError(t, h.Read(ctx, func(_ context.Context, c *Conn) error {
		on, err := c.Raw().Config(sqlite3.DBCONFIG_NO_CKPT_ON_CLOSE)
		assert.NoError(t, err)
		assert.True(t, on, "a reader would checkpoint as it closes")
		return nil
	}))
}

// TestWALExternalCountsFramesAndRestarts: the pool counts the frames its
// commits append, and sees the WAL start over after another process's
// TRUNCATE checkpoint.
func TestWALExternalCountsFramesAndRestarts(t *testing.T) {
	path := tempDB(t)
	h := openT(t, path, createTable, WithWALPolicy(WALExternal))
	insertRows(t, h, 20)
	st := h.Stats().WAL
	assert.GreaterOrEqual(t, st.Frames, uint64(20))
	assert.Zero(t, st.Restarts)

	raw := rawOpen(t, path)
	require.NoError(t, raw.Exec("PRAGMA wal_checkpoint(TRUNCATE)"))
	insertRows(t, h, 5)
	after := h.Stats().WAL
	assert.Equal(t, uint64(1), after.Restarts, "the WAL started over")
	assert.GreaterOrEqual(t, after.Frames, st.Frames+5, "frames after the restart count too")
	assert.Zero(t, after.Checkpoints)
}

// TestWALExternalLogsAStall: with writes going on and the WAL never
// starting over for externalStallAfter, the pool logs once; a pause in
// writes is no stall, and a restart lets it log again.
func TestWALExternalLogsAStall(t *testing.T) {
	var out logBuffer
	clock := newFakeClock()
	path := tempDB(t)
	h := openT(t, path, createTable, WithWALPolicy(WALExternal), withClock(clock),
		WithLogger(slog.New(slog.NewTextHandler(&out, nil))))
	ctx := context.Background()
	stalls := func() int { return strings.Count(out.String(), "has not started over") }

	h.p.tidy(ctx) // the first look
	for range 3 {
		clock.Advance(externalStallAfter / 2)
		insertRows(t, h, 1)
		h.p.tidy(ctx)
	}
	assert.Equal(t, 1, stalls(), "writes for 1.5x the threshold, no restart: once")
	assert.Contains(t, out.String(), "replicator")

	// The replicator checkpoints: the next write starts the WAL over.
	require.NoError(t, rawOpen(t, path).Exec("PRAGMA wal_checkpoint(TRUNCATE)"))
	insertRows(t, h, 1)
	h.p.tidy(ctx)
	// Writes stop for a long time: no stall.
	clock.Advance(2 * externalStallAfter)
	h.p.tidy(ctx)
	assert.Equal(t, 1, stalls(), "a pause in writes is no stall")
	// They go on, still without a restart: a new stall.
	insertRows(t, h, 1)
	h.p.tidy(ctx)
	assert.Equal(t, 2, stalls(), "a stall after a restart is logged again")
}

// TestTruncationsBackOffWhenAnotherProcessHoldsTheWAL: another process
// holds a read transaction (a replicator does), so every TRUNCATE is BUSY
// while no reader of the pool holds a snapshot. The pool tries again only
// after a wait that doubles, rather than at each writer release, and logs
// the cause once.
func TestTruncationsBackOffWhenAnotherProcessHoldsTheWAL(t *testing.T) {
	var out logBuffer
	clock := newFakeClock()
	path := tempDB(t)
	h := openT(t, path, createTable, withClock(clock), WithWALLimit(minWALLimit),
		WithCheckpointTimeout(100*time.Millisecond), WithLogger(slog.New(slog.NewTextHandler(&out, nil))))
	var passives atomic.Int64
	h.p.testHookCheckpoint = func(skipped bool) {
		if !skipped {
			passives.Add(1)
		}
	}
	insertRows(t, h, 1)
	raw := rawOpen(t, path)
	require.NoError(t, raw.Exec("BEGIN; SELECT count(*) FROM t"))

	write := func(n int) {
		t.Helper()
		for range n {
			require.NoError(t, h.Exec(context.Background(), "INSERT INTO t(v) VALUES (randomblob(8000))"))
		}
	}
	busy := func() uint64 { return h.Stats().WAL.CheckpointsBusy }
	backoff := func() time.Duration {
		h.p.mu.Lock()
		defer h.p.mu.Unlock()
		return h.p.wal.backoff
	}
	// Past the limit many times over: each release finds the WAL over it.
	write(40)
	require.Greater(t, h.Stats().WAL.Size, int64(minWALLimit))
	assert.Equal(t, uint64(1), busy(), "truncations tried at every release")
	assert.Equal(t, minTruncateBackoff, backoff())

	// The wait runs out: one more try, then a wait twice as long.
	clock.Advance(minTruncateBackoff)
	write(20)
	assert.Equal(t, uint64(2), busy(), "one try after the wait")
	assert.Equal(t, 2*minTruncateBackoff, backoff())
	clock.Advance(minTruncateBackoff) // half the new wait
	before := passives.Load()
	write(20)
	assert.Equal(t, uint64(2), busy(), "a try before the wait ran out")
	// Meanwhile the janitor copies back what it can, beside the writer.
	require.Eventually(t, func() bool { return passives.Load() > before }, 5*time.Second, time.Millisecond,
		"no passive checkpoint while truncations wait")

	logged := out.String()
	assert.Equal(t, 1, strings.Count(logged, "another process holds the WAL"), logged)
	assert.Contains(t, logged, "WALExternal")
	assert.NotContains(t, logged, "readers hold old snapshots", "blamed the pool's readers")

	// The other process lets go: the next try truncates.
	require.NoError(t, raw.Exec("COMMIT"))
	clock.Advance(maxTruncateBackoff)
	write(1)
	assert.Positive(t, h.Stats().WAL.Checkpoints)
	assert.LessOrEqual(t, h.Stats().WAL.Size, int64(minWALLimit), "the WAL was not truncated")
}

// TestTruncationHoldsTheCheckpointerBack: while a truncation outside an
// Exclusive section runs, the checkpointer does not start (its checkpoint
// lock would make the truncation BUSY, blamed on another process); a
// checkpoint still running when the wait for it ends means the
// truncation is not alone.
func TestTruncationHoldsTheCheckpointerBack(t *testing.T) {
	h := openT(t, tempDB(t), createTable, withClock(newFakeClock()))
	rounds := make(chan bool, 16)
	h.p.testHookCheckpoint = func(skipped bool) { rounds <- skipped }
	// A commit past the checkpoint mark; its release wakes the janitor.
	round := func() bool {
		t.Helper()
		w, err := h.Writer(context.Background())
		require.NoError(t, err)
		commitFrames(t, w.Conn())
		w.Release()
		select {
		case skipped := <-rounds:
			return skipped
		case <-time.After(5 * time.Second):
			t.Fatal("the janitor never looked at the WAL")
			return false
		}
	}

	clear, done := h.p.holdCheckpointer(time.Millisecond)
	assert.True(t, clear)
	assert.True(t, round(), "the checkpointer ran during a truncation")
	done()
	assert.False(t, round(), "the checkpointer stayed held back")

	// A pool whose janitor has nothing to do: the test plays its
	// checkpointer, one that never ends.
	h2 := openT(t, tempDB(t), createTable, withClock(newFakeClock()))
	h2.p.mu.Lock()
	h2.p.checkpointing = make(chan struct{})
	h2.p.mu.Unlock()
	clear, done = h2.p.holdCheckpointer(time.Millisecond)
	done()
	h2.p.mu.Lock()
	h2.p.checkpointing = nil
	h2.p.mu.Unlock()
	assert.False(t, clear, "a checkpoint still runs")
}

// TestPassiveCheckpointBusyIsAnotherProcess: a PASSIVE checkpoint waits
// for no reader, so when the janitor's is BUSY, another connection was
// checkpointing (a replicator's own checkpoint): the pool says so once,
// does not blame its readers, and does not count it among the truncations
// that readers kept from finishing.
func TestPassiveCheckpointBusyIsAnotherProcess(t *testing.T) {
	var out logBuffer
	path := tempDB(t)
	h := openT(t, path, createTable, withClock(newFakeClock()),
		WithLogger(slog.New(slog.NewTextHandler(&out, nil))))
	insertRows(t, h, 1)

	// The other process: a reader in the WAL, and a TRUNCATE checkpoint
	// that waits for it in its busy handler, holding the checkpoint lock
	// until the test lets it go.
	reader := rawOpen(t, path)
	require.NoError(t, reader.Exec("BEGIN; SELECT count(*) FROM t"))
	other := rawOpen(t, path)
	holding, letGo := make(chan struct{}), make(chan struct{})
	var once sync.Once
	require.NoError(t, other.BusyHandler(func(context.Context, int) bool {
		once.Do(func() { close(holding) })
		<-letGo
		return false
	}))

	// The janitor's checkpoint waits, just before it runs, for the other
	// process to hold the lock.
	ran := make(chan struct{}, 4)
	var first atomic.Bool
	h.p.testHookCheckpoint = func(skipped bool) {
		if skipped {
			return
		}
		if first.CompareAndSwap(false, true) {
			<-holding
		}
		ran <- struct{}{}
	}
	w, err := h.Writer(context.Background())
	require.NoError(t, err)
	commitFrames(t, w.Conn())
	w.Release() // wakes the janitor

	otherDone := make(chan error, 1)
	go func() { otherDone <- other.Exec("PRAGMA wal_checkpoint(TRUNCATE)") }()
	select {
	case <-ran:
	case <-time.After(5 * time.Second):
		t.Fatal("the janitor never checkpointed")
	}
	// Counted under pool.mu once the checkpoint returned.
	require.Eventually(t, func() bool { return h.Stats().WAL.CheckpointsYielded == 1 },
		5*time.Second, time.Millisecond, "the passive checkpoint was not counted as given way")
	close(letGo)
	require.NoError(t, <-otherDone)
	require.NoError(t, reader.Exec("COMMIT"))

	st := h.Stats().WAL
	assert.Zero(t, st.CheckpointsBusy, "counted as a truncation the readers kept from finishing")
	logged := out.String()
	assert.NotContains(t, logged, "readers hold old snapshots", "blamed the pool's readers")
	assert.Equal(t, 1, strings.Count(logged, "another process checkpoints the WAL"), logged)
	assert.Contains(t, logged, "WALExternal")
}
