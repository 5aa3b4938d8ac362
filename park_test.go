package sqlitepool

import (
	"context"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// parkNow parks h's pool, failing the test if it could not.
func parkNow(t *testing.T, h *Handle) {
	t.Helper()
	require.True(t, h.p.park(), "the pool did not park")
}

// janitorRunning reports whether the pool has a janitor goroutine.
func janitorRunning(h *Handle) bool {
	h.p.mu.Lock()
	defer h.p.mu.Unlock()
	return h.p.janitor.stop != nil
}

func TestPoolParksAfterTheIdleTime(t *testing.T) {
	clock := newFakeClock()
	path := tempDB(t)
	h := openT(t, path, createTable, withClock(clock), WithParkAfter(time.Minute), WithReaders(2))
	ctx := context.Background()
	require.NoError(t, h.Exec(ctx, "INSERT INTO t(v) VALUES ('a')"))
	holdReaders(t, h, 2)

	h.p.tidy(ctx) // notes the leases
	clock.Advance(50 * time.Second)
	h.p.tidy(ctx)
	h.p.parkers.Wait()
	assert.False(t, h.Stats().Parked, "parked before the idle time")

	clock.Advance(20 * time.Second)
	h.p.tidy(ctx)
	h.p.parkers.Wait()
	st := h.Stats()
	require.True(t, st.Parked)
	assert.Equal(t, uint64(1), st.Parks)
	assert.Zero(t, st.Writer.Open+st.Readers.Open, "connections left open")
	assert.Equal(t, uint64(1), st.Writer.Closed)
	assert.Equal(t, uint64(2), st.Readers.Closed)
	assert.False(t, janitorRunning(h), "the janitor still runs")
	// The writer closed last, checkpointing the WAL into the file and
	// removing it.
	assert.NoFileExists(t, path+"-wal")
	assert.Equal(t, int64(1), rawCount(t, path, "v = 'a'"))

	// The next lease reopens transparently; the counters went on.
	assert.Equal(t, int64(1), readInt(t, h, "SELECT count(*) FROM t"))
	st = h.Stats()
	assert.False(t, st.Parked)
	assert.Equal(t, 1, st.Readers.Open, "one connection opened for the lease")
	assert.Zero(t, st.Writer.Open)
	assert.Equal(t, uint64(3), st.Readers.Created)
	assert.Equal(t, uint64(3), st.Readers.Acquires)
	assert.True(t, janitorRunning(h), "the janitor is back")
	require.NoError(t, h.Exec(ctx, "INSERT INTO t(v) VALUES ('b')"))
	assert.Equal(t, uint64(2), h.Stats().Writer.Created)
}

func TestParkAfterZeroNeverParks(t *testing.T) {
	clock := newFakeClock()
	h := openT(t, tempDB(t), createTable, withClock(clock), WithParkAfter(0))
	ctx := context.Background()
	h.p.tidy(ctx)
	clock.Advance(24 * time.Hour)
	h.p.tidy(ctx)
	h.p.parkers.Wait()
	assert.False(t, h.Stats().Parked)
	assert.Equal(t, DefaultParkAfter, defaultConfig().parkAfter)
	_, err := Open(tempDB(t), nil, WithParkAfter(-time.Second))
	require.ErrorIs(t, err, ErrInvalidOption)
}

func TestParkNeedsAnIdlePool(t *testing.T) {
	h := openT(t, tempDB(t), createTable)
	ctx := context.Background()
	l, err := h.Reader(ctx)
	require.NoError(t, err)
	assert.False(t, h.p.park(), "parked with a lease out")
	l.Release()
	parkNow(t, h)
	assert.False(t, h.p.park(), "parked twice")

	mem := openT(t, ":memory:", createTable)
	assert.False(t, mem.p.park(), "an in-memory pool would lose its data")
}

func TestParkKeepsSubscriptionsAndWALHooks(t *testing.T) {
	path := tempDB(t)
	h := openT(t, path, createTable)
	ctx := context.Background()
	sub, err := h.Subscribe("t")
	require.NoError(t, err)
	defer sub.Close()
	// More frames than the commit after the park will leave.
	require.NoError(t, h.Exec(ctx, "INSERT INTO t(v) SELECT randomblob(2000) FROM generate_series(1, 20)"))
	next(t, sub)
	frames := h.Stats().WAL.Frames
	require.NotZero(t, frames)

	parkNow(t, h)
	require.NoError(t, h.Exec(ctx, "INSERT INTO t(v) VALUES (2), (3)"))
	ch := next(t, sub)
	assert.Equal(t, int64(2), ch.Tables["t"].Inserts, "the new writer's hooks are armed")
	st := h.Stats()
	assert.Greater(t, st.WAL.Frames, frames, "the new writer's WAL hook counts")
	assert.Zero(t, st.WAL.Restarts, "the WAL removed at the park is no restart")
}

func TestParkUnderWALExternalDoesNotCheckpoint(t *testing.T) {
	path := tempDB(t)
	h := openT(t, path, createTable, WithWALPolicy(WALExternal))
	ctx := context.Background()
	// Tens of pages in the WAL, which no checkpoint copies back.
	require.NoError(t, h.Exec(ctx, "INSERT INTO t(v) SELECT randomblob(2000) FROM generate_series(1, 50)"))
	walBefore, err := os.Stat(path + "-wal")
	require.NoError(t, err)
	parkNow(t, h)
	wal, err := os.Stat(path + "-wal")
	require.NoError(t, err, "the WAL is the replicator's to checkpoint")
	assert.Equal(t, walBefore.Size(), wal.Size())
	frames := h.Stats().WAL.Frames
	require.NoError(t, h.Exec(ctx, "INSERT INTO t(v) VALUES (2)"))
	st := h.Stats()
	assert.Less(t, st.WAL.Frames-frames, uint64(5), "the frames already in the WAL are not counted again")
	assert.Equal(t, int64(51), readInt(t, h, "SELECT count(*) FROM t"))
}

// TestParksRaceLeases parks the pool over and over while goroutines read,
// write, take Exclusive sections and a subscriber counts the commits:
// nothing fails, nothing is lost, and the pool ends idle.
func TestParksRaceLeases(t *testing.T) {
	h := openT(t, tempDB(t), createTable, WithReaders(2))
	ctx := context.Background()
	sub, err := h.Subscribe("t")
	require.NoError(t, err)
	var delivered atomic.Int64
	subDone := make(chan struct{})
	go func() {
		defer close(subDone)
		for ch := range sub.C() {
			delivered.Add(ch.Tables["t"].Inserts)
		}
	}()

	const workers, rounds = 4, 100
	stop := make(chan struct{})
	var parks sync.WaitGroup
	parks.Go(func() {
		for {
			select {
			case <-stop:
				return
			default:
			}
			h.p.park()
		}
	})
	var wg sync.WaitGroup
	var writes atomic.Int64
	for g := range workers {
		wg.Go(func() {
			for i := range rounds {
				switch (g + i) % 4 {
				case 0, 1:
					assert.NoError(t, h.Exec(ctx, "INSERT INTO t(v) VALUES (?)", i))
					writes.Add(1)
				case 2:
					assert.NoError(t, h.Read(ctx, func(_ context.Context, c *Conn) error {
						queryInt(t, c, "SELECT count(*) FROM t")
						return nil
					}))
				case 3:
					assert.NoError(t, h.Exclusive(ctx, func(_ context.Context, w *Conn, _ []*Conn) error {
						return w.Exec("SELECT 1")
					}))
				}
				// Pauses, so that the pool is idle now and then.
				time.Sleep(time.Duration(i%3) * 100 * time.Microsecond)
			}
		})
	}
	wg.Wait()
	close(stop)
	parks.Wait()
	st := h.Stats()
	assert.NotZero(t, st.Parks, "no park happened")
	requireIdle(t, h)
	assert.Equal(t, writes.Load(), readInt(t, h, "SELECT count(*) FROM t"))
	parkNow(t, h) // everything came back: the pool can park
	sub.Close()
	<-subDone
	assert.Equal(t, writes.Load(), delivered.Load(), "a commit was not delivered")
	t.Logf("%d parks", st.Parks)
}

// TestLeaseArrivingDuringAParkWaitsForIt: a lease that comes while the
// park closes the connections is served once it is done, never failed.
func TestLeaseArrivingDuringAParkWaitsForIt(t *testing.T) {
	h := openT(t, tempDB(t), createTable)
	ctx := context.Background()
	require.NoError(t, h.Exec(ctx, "INSERT INTO t(v) VALUES (1)"))
	// Hold the gate as a park does, and queue a lease behind it.
	h.p.mu.Lock()
	h.p.gate.cur = &exclusive{park: true, sent: true}
	h.p.mu.Unlock()
	got := make(chan int64)
	go func() { got <- readInt(t, h, "SELECT count(*) FROM t") }()
	waitFor(t, func() bool { return h.Stats().Readers.Waiting == 1 }, "the lease did not queue")
	assert.False(t, h.Stats().Exclusive.Running, "a park is no Exclusive section")
	h.p.mu.Lock()
	h.p.openGateLocked()
	h.p.mu.Unlock()
	assert.Equal(t, int64(1), <-got)
}

func TestCloseRacesPark(t *testing.T) {
	h, err := Open(tempDB(t), createTable)
	require.NoError(t, err)
	parkNow(t, h)
	require.NoError(t, h.Close())
	assert.False(t, h.Stats().Parked, "a closed pool is not parked")
	assert.Equal(t, uint64(1), h.Stats().Parks)

	for range 20 {
		path := tempDB(t)
		h, err := Open(path, createTable)
		require.NoError(t, err)
		require.NoError(t, h.Exec(context.Background(), "INSERT INTO t(v) VALUES (1)"))
		var wg sync.WaitGroup
		wg.Go(func() { h.p.park() })
		require.NoError(t, h.Close())
		wg.Wait()
		assert.False(t, h.Stats().Parked, "a closed pool is not parked")
		assert.False(t, janitorRunning(h))
		assert.NoFileExists(t, path+"-wal")
		assert.Equal(t, int64(1), rawCount(t, path, "v = 1"))
	}
}

func TestHardLinkReachesAParkedPool(t *testing.T) {
	path := tempDB(t)
	h := openT(t, path, createTable)
	parkNow(t, h)
	link := filepath.Join(filepath.Dir(path), "link.db")
	require.NoError(t, os.Link(path, link))
	h2 := openT(t, link, nil)
	assert.Same(t, h.p, h2.p, "the link got a pool of its own")
	assert.Equal(t, 2, h.Stats().Handles)
}

func TestFileMovedWhileParkedIsSeen(t *testing.T) {
	for _, how := range []string{"deleted", "replaced"} {
		t.Run(how, func(t *testing.T) {
			path := tempDB(t)
			h := openT(t, path, createTable, WithReaders(1))
			ctx := context.Background()
			require.NoError(t, h.Exec(ctx, "INSERT INTO t(v) VALUES ('old'), ('old'), ('old')"))
			parkNow(t, h)
			moveAway(t, path, how)
			err := h.Read(ctx, func(context.Context, *Conn) error { return nil })
			require.ErrorIs(t, err, ErrMoved)
			assert.Contains(t, err.Error(), path)
			if how == "replaced" {
				checkAfterMove(t, h, path, how)
				return
			}
			require.ErrorIs(t, h.Exec(ctx, "INSERT INTO t(v) VALUES ('nowhere')"), ErrMoved)
			assert.NoFileExists(t, path, "the pool made a new, empty database")
		})
	}
	t.Run("replaced-before-park", func(t *testing.T) {
		path := tempDB(t)
		h := openT(t, path, createTable, WithReaders(1))
		require.NoError(t, h.Exec(context.Background(), "INSERT INTO t(v) VALUES ('old')"))
		moveAway(t, path, "replaced")
		parkNow(t, h)
		assert.Equal(t, uint64(1), h.Stats().Writer.Replaced.Broken, "the park saw the move")
		assert.NoFileExists(t, path+"-wal", "the old file's WAL left under the name")
		checkAfterMove(t, h, path, "replaced")
	})
}

// TestBoundedCloseWaitsForAPark: a park is no lease. A CloseContext whose
// context ends while another goroutine parks the pool (to make room under
// the cap) waits for the park instead of failing for leases "still out".
func TestBoundedCloseWaitsForAPark(t *testing.T) {
	h, err := Open(tempDB(t), createTable)
	require.NoError(t, err)
	p := h.p
	// A park under way, as park holds it: the gate, and the idle writer
	// counted as in use until it is closed.
	x := &exclusive{park: true, sent: true, parked: make(chan struct{})}
	p.mu.Lock()
	p.gate.cur = x
	c := p.writer.takeIdleLocked()
	p.mu.Unlock()
	go func() {
		waitFor(t, func() bool {
			p.mu.Lock()
			defer p.mu.Unlock()
			return p.closed
		}, "Close did not start")
		c.close()
		p.mu.Lock()
		p.writer.open--
		p.writer.inUse--
		p.writer.count.closed++
		p.openGateLocked()
		p.checkDrainedLocked()
		p.mu.Unlock()
		close(x.parked)
	}()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	require.NoError(t, h.CloseContext(ctx))
}

func TestReadOnlyPoolParksAndReopens(t *testing.T) {
	path := tempDB(t)
	w, err := Open(path, createTable)
	require.NoError(t, err)
	require.NoError(t, w.Exec(context.Background(), "INSERT INTO t(v) VALUES (1)"))
	require.NoError(t, w.Close())

	h := openT(t, path, nil, WithReadOnly())
	assert.Equal(t, int64(1), readInt(t, h, "SELECT count(*) FROM t"))
	parkNow(t, h)
	st := h.Stats()
	assert.True(t, st.Parked)
	assert.Zero(t, st.Readers.Open)
	assert.Equal(t, int64(1), readInt(t, h, "SELECT count(*) FROM t"))
	assert.False(t, h.Stats().Parked)
	assert.Zero(t, h.Stats().Writer.Open, "a read-only pool has no writer to reopen")
}
