package sqlitepool

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ncruces/go-sqlite3"
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
	rounds := make(chan bool, 16)
	// Set before anything wakes the janitor: the wake-up orders it.
	h.p.testHookCheckpoint = func(skipped bool) { rounds <- skipped }
	ctx := context.Background()
	err := h.Exclusive(ctx, func(_ context.Context, w *Conn, _ []*Conn) error {
		commitFrames(t, w)
		wakeJanitor(h)
		select {
		case skipped := <-rounds:
			assert.True(t, skipped, "the checkpointer ran inside an Exclusive section")
		case <-time.After(5 * time.Second):
			t.Error("the janitor never looked at the WAL")
		}
		assert.Zero(t, h.Stats().WAL.Checkpoints)
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

// TestExclusiveWaitsForARunningCheckpoint starts an Exclusive section
// while the checkpointer runs: the section must wait for it (its caller
// may checkpoint, back up or restore, and must meet no lock of the pool's),
// and get everything once it ends.
func TestExclusiveWaitsForARunningCheckpoint(t *testing.T) {
	h := openT(t, tempDB(t), createTable, withClock(newFakeClock()))
	running, finish := make(chan struct{}), make(chan struct{})
	var once sync.Once
	h.p.testHookCheckpoint = func(skipped bool) {
		if !skipped {
			once.Do(func() {
				close(running)
				<-finish
			})
		}
	}
	ctx := context.Background()
	w, err := h.Writer(ctx)
	require.NoError(t, err)
	commitFrames(t, w.Conn())
	w.Release() // wakes the janitor
	select {
	case <-running:
	case <-time.After(5 * time.Second):
		t.Fatal("the checkpointer never ran")
	}
	var entered atomic.Bool
	done := make(chan error, 1)
	go func() {
		done <- h.Exclusive(ctx, func(context.Context, *Conn, []*Conn) error {
			entered.Store(true)
			return nil
		})
	}()
	time.Sleep(50 * time.Millisecond)
	assert.False(t, entered.Load(), "an Exclusive section began during a checkpoint")
	close(finish)
	require.NoError(t, <-done)
	assert.True(t, entered.Load())
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
// without the writer's catch-up checkpoint the WAL would never start over
// from its beginning, and only truncations would keep it bounded. With it,
// the WAL starts over again and again.
//
// How often the janitor's rounds keep up with the writers depends on the
// machine (a round syncs the WAL and the database file): when the writers
// fill the WAL first, the writer's release truncates it at the limit. So
// the test asserts what holds at any speed: the WAL starts over, and the
// file never grows much past the limit.
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
	const wantRestarts = 20
	var maxWAL int64
	// The deadline only keeps a broken catch-up from hanging the test.
	deadline := time.Now().Add(30 * time.Second)
	for h.p.wal.restarts.Load() < wantRestarts && time.Now().Before(deadline) {
		maxWAL = max(maxWAL, h.Stats().WAL.Size)
		time.Sleep(time.Millisecond)
	}
	close(stop)
	wg.Wait()
	maxWAL = max(maxWAL, h.Stats().WAL.Size)
	s := h.Stats().WAL
	restarts := h.p.wal.restarts.Load()
	t.Logf("%d restarts, max WAL %d bytes, %d checkpoints, %d bytes reclaimed",
		restarts, maxWAL, s.Checkpoints, s.BytesReclaimed)
	assert.GreaterOrEqual(t, restarts, int64(wantRestarts), "the WAL never started over: the catch-up did not run or did not finish")
	// The release that finds the limit reached truncates; the commits let
	// through before it (one, or a few if the checkpointer held the
	// checkpoint lock) are a small fraction of a checkpoint step.
	slack := int64(limit / 16)
	assert.LessOrEqual(t, maxWAL, int64(limit)+slack, "the WAL grew past its limit")
}

// TestNoTruncationRightAfterACatchUp: once the janitor's catch-up has
// copied the whole WAL back, the frames counted stay until the next
// commit, which starts the WAL over. A round of the janitor before that
// commit (a wake-up sent during the catch-up, a tick) must not take those
// frames for a WAL in use past half its limit and truncate it, holding
// every lease back for a WAL that is about to start over anyway.
func TestNoTruncationRightAfterACatchUp(t *testing.T) {
	const limit = 1 << 20
	h := openT(t, tempDB(t), createTable, withClock(newFakeClock()), WithWALLimit(limit))
	ctx := context.Background()
	h.p.stopJanitor() // the rounds below are the janitor's own work
	// Past the janitor's mark, short of half the limit: its round copies
	// it back beside the writer.
	require.NoError(t, h.Exec(ctx, "INSERT INTO t(v) VALUES (randomblob(?))", limit/8))
	// Commits made while the round copies take the WAL past half the
	// limit: the round catches up on the writer.
	passes := 0
	h.p.testHookCheckpoint = func(skipped bool) {
		passes++
		if passes == 1 {
			require.NoError(t, h.Exec(ctx, "INSERT INTO t(v) VALUES (randomblob(?))", limit/2))
		}
	}
	h.p.checkpointIfDue(ctx)
	require.Equal(t, 2, passes, "the round did not copy the commits made during it")
	inUse := h.p.walInUse()
	require.GreaterOrEqual(t, inUse, int64(limit/2), "the WAL is not past half its limit")
	require.Less(t, inUse, int64(limit))
	before := h.Stats()

	h.p.checkpointIfDue(ctx) // no commit since the catch-up
	after := h.Stats()
	assert.Equal(t, before.Exclusive.Sections, after.Exclusive.Sections, "the round held every lease back")
	assert.Equal(t, before.WAL.BytesReclaimed, after.WAL.BytesReclaimed, "the round truncated the WAL")
	assert.Equal(t, before.WAL.Checkpoints, after.WAL.Checkpoints, "the round copied the WAL again")

	require.NoError(t, h.Exec(ctx, "INSERT INTO t(v) VALUES (1)"))
	assert.Equal(t, int64(1), h.p.wal.restarts.Load(), "the next write did not start the WAL over")
	assert.Less(t, h.p.walInUse(), int64(limit/8))
}

// TestCheckpointerNeverCopiesIntoAReplacedFile replaces the database file
// while the writer is leased (so no idle connection lets the janitor
// notice) and the checkpointer is closed: a checkpointer opened now finds
// the new file under the name, with the old database's WAL beside it.
// Copying that WAL into the new file would overwrite it with the old
// database's pages; the checkpointer must see the move and copy nothing.
func TestCheckpointerNeverCopiesIntoAReplacedFile(t *testing.T) {
	path := tempDB(t)
	h := openT(t, path, createTable)
	ctx := context.Background()
	h.p.janitor.stop() // its work is driven by hand below
	h.p.janitor.stopped.Wait()
	for range 3 {
		require.NoError(t, h.Exec(ctx, "INSERT INTO t(v) VALUES ('old')"))
	}
	w, err := h.Writer(ctx)
	require.NoError(t, err)
	moveAway(t, path, "replaced") // the new file holds one row, 'new'
	require.Nil(t, h.p.ckpt.conn)
	skipped, _, _, err := h.p.passiveCheckpoint(ctx)
	require.NoError(t, err)
	assert.True(t, skipped, "the checkpointer ran on a replaced file")
	assert.Nil(t, h.p.ckpt.conn, "the checkpointer stays closed")
	// The checkpointer told the pool: the old writer is retired on
	// release, and the next write goes to the new file.
	w.Release()
	require.NoError(t, h.Exec(ctx, "INSERT INTO t(v) VALUES ('x')"))

	raw, err := sqlite3.Open("file:" + path + "?mode=ro")
	require.NoError(t, err)
	defer raw.Close()
	stmt, _, err := raw.Prepare("SELECT group_concat(v) FROM t")
	require.NoError(t, err)
	defer stmt.Close()
	require.True(t, stmt.Step())
	assert.Equal(t, "new,x", stmt.ColumnText(0), "the new file was overwritten")
	assert.Equal(t, int64(1), readInt(t, h, "SELECT count(*) FROM t WHERE v = 'new'"))
}

// TestIdleRoundsCopyNothing: a WAL copied back but not started over since
// (no write came) keeps its frame count; the janitor's later rounds must
// not checkpoint it again and again (which would also keep the
// checkpointer from ever closing when idle).
func TestIdleRoundsCopyNothing(t *testing.T) {
	h := openT(t, tempDB(t), createTable, withClock(newFakeClock()))
	ctx := context.Background()
	w, err := h.Writer(ctx)
	require.NoError(t, err)
	commitFrames(t, w.Conn())
	w.Release() // wakes the janitor
	require.Eventually(t, func() bool { return h.Stats().WAL.Checkpoints >= 1 },
		5*time.Second, time.Millisecond)
	h.p.janitor.stop() // the rounds below are the janitor's own work
	h.p.janitor.stopped.Wait()
	n := h.Stats().WAL.Checkpoints
	for range 3 {
		h.p.checkpointIfDue(ctx)
	}
	assert.Equal(t, n, h.Stats().WAL.Checkpoints, "idle rounds checkpointed again")
}

// TestTruncatingCheckpointIsAnExclusiveSection: with the WAL past half its
// limit in use, the janitor truncates it inside an Exclusive section of
// its own, which Stats shows like a caller's (waiting for a reader lease,
// then holding every connection) though no caller is inside Exclusive.
func TestTruncatingCheckpointIsAnExclusiveSection(t *testing.T) {
	h := openT(t, tempDB(t), createTable, withClock(newFakeClock()),
		WithWALLimit(8<<20), WithCheckpointTimeout(10*time.Second))
	ctx := context.Background()
	r, err := h.Reader(ctx)
	require.NoError(t, err)
	defer r.Release()
	w, err := h.Writer(ctx)
	require.NoError(t, err)
	commitFrames(t, w.Conn()) // past half the limit, short of the limit
	w.Release()

	wakeJanitor(h)
	waitFor(t, func() bool { return h.Stats().Exclusive.Waiting == 1 }, "the janitor's section waits for the reader")
	r.Release()
	waitFor(t, func() bool { return h.Stats().WAL.Checkpoints == 1 }, "the janitor truncated the WAL")
	st := h.Stats()
	assert.Equal(t, uint64(1), st.Exclusive.Sections)
	assert.Zero(t, st.WAL.Size)

	h.p.stopJanitor()
	requireIdle(t, h)
}
