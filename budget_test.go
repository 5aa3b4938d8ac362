package sqlitepool

import (
	"context"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// useBudget makes the pools the test creates from now on share a cap of n
// connections, as SetMaxConnections does before a process's first Open,
// and puts the process's budget back when the test ends (after the pools
// it opened with openT have closed).
func useBudget(t *testing.T, n int) *budget {
	t.Helper()
	b := newBudget(n)
	budgetMu.Lock()
	old := curBudget
	curBudget = b
	budgetMu.Unlock()
	t.Cleanup(func() {
		assert.Zero(t, b.open, "connections left counted under the cap")
		budgetMu.Lock()
		curBudget = old
		budgetMu.Unlock()
	})
	return b
}

// openUnder returns the connections b counts now.
func openUnder(b *budget) int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.open
}

func TestSetMaxConnectionsBeforeTheFirstOpenOnly(t *testing.T) {
	err := SetMaxConnections(1)
	require.ErrorIs(t, err, ErrInvalidOption)
	assert.Contains(t, err.Error(), "at least 2")
	require.ErrorIs(t, SetMaxConnections(-1), ErrInvalidOption)

	openT(t, tempDB(t), nil) // this process has opened a pool now
	err = SetMaxConnections(10)
	require.ErrorIs(t, err, ErrInvalidOption)
	assert.Contains(t, err.Error(), "after the first Open")
	assert.Zero(t, processBudget().max, "the cap changed after the first Open")
}

func TestMaxConnectionsParksTheLeastRecentlyUsedPool(t *testing.T) {
	b := useBudget(t, 3)
	dir := t.TempDir()
	ctx := context.Background()
	var hs []*Handle
	for _, name := range []string{"a.db", "b.db", "c.db"} {
		h := openT(t, filepath.Join(dir, name), createTable, WithReaders(1))
		hs = append(hs, h)
	}
	a, bb, c := hs[0], hs[1], hs[2]
	require.Equal(t, 3, openUnder(b), "one writer each")
	// Used after b: b is the least recently used.
	require.NoError(t, c.Exec(ctx, "INSERT INTO t(v) VALUES (1)"))
	require.NoError(t, a.Exec(ctx, "INSERT INTO t(v) VALUES (1)"))

	d := openT(t, filepath.Join(dir, "d.db"), createTable, WithReaders(1))
	assert.True(t, bb.Stats().Parked, "the least recently used pool was not parked")
	assert.False(t, a.Stats().Parked)
	assert.False(t, c.Stats().Parked)
	assert.Equal(t, 3, openUnder(b))

	// A read of a needs a reader: c is now the least recently used idle
	// pool (d was just created, a is the one reading).
	assert.Equal(t, int64(1), readInt(t, a, "SELECT count(*) FROM t"))
	assert.True(t, c.Stats().Parked)
	assert.False(t, d.Stats().Parked)
	assert.Equal(t, 3, openUnder(b))
	// b reopens transparently, making room in turn.
	assert.Equal(t, int64(0), readInt(t, bb, "SELECT count(*) FROM t"))
	assert.Equal(t, 3, openUnder(b))
	assert.Equal(t, uint64(1), bb.Stats().Parks)
}

// TestMaxConnectionsClosesIdleConnectionsOfBusyPools: with no idle pool to
// park, an idle connection of a busy pool makes room, its own included.
func TestMaxConnectionsClosesIdleConnectionsOfBusyPools(t *testing.T) {
	b := useBudget(t, 2)
	h := openT(t, tempDB(t), createTable, WithReaders(2))
	ctx := context.Background()
	r, err := h.Reader(ctx)
	require.NoError(t, err)
	defer r.Release()
	require.Equal(t, 2, openUnder(b))
	// A second reader: the idle writer closes to make room.
	bounded, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	var n int64
	require.NoError(t, h.QueryRow(bounded, "SELECT count(*) FROM t").Scan(&n))
	st := h.Stats()
	assert.Zero(t, st.Writer.Open)
	assert.Equal(t, uint64(1), st.Writer.Replaced.Idle)
	assert.Equal(t, 2, st.Readers.Open)
	// And a write takes the idle reader's room.
	require.NoError(t, h.Exec(ctx, "INSERT INTO t(v) VALUES (1)"))
	assert.Equal(t, uint64(1), h.Stats().Readers.Replaced.Idle)
	assert.Equal(t, 2, openUnder(b))
}

// TestMaxConnectionsWaitsInOrder: with every connection leased, leases
// that need room wait in FIFO order, bounded by their context, and get it
// as connections come back.
func TestMaxConnectionsWaitsInOrder(t *testing.T) {
	b := useBudget(t, 2)
	dir := t.TempDir()
	ctx := context.Background()
	h1 := openT(t, filepath.Join(dir, "1.db"), createTable, WithReaders(1))
	h2 := openT(t, filepath.Join(dir, "2.db"), createTable, WithReaders(1))
	w1, err := h1.Writer(ctx)
	require.NoError(t, err)
	w2, err := h2.Writer(ctx)
	require.NoError(t, err)

	short, cancel := context.WithTimeout(ctx, 20*time.Millisecond)
	defer cancel()
	_, err = h1.Reader(short)
	require.ErrorIs(t, err, context.DeadlineExceeded)
	assert.Contains(t, err.Error(), "SetMaxConnections(2)")
	assert.Equal(t, 2, openUnder(b))

	var order []int
	var mu sync.Mutex
	var wg sync.WaitGroup
	for i, h := range []*Handle{h1, h2} {
		wg.Go(func() {
			readInt(t, h, "SELECT count(*) FROM t")
			mu.Lock()
			order = append(order, i)
			mu.Unlock()
		})
		waitFor(t, func() bool { return int(b.waiting.Load()) == i+1 }, "the read did not wait for room")
	}
	// h2 goes idle and parks: its room goes to the first waiter, h1's
	// read; h2's read waits on (h1's writer is still leased).
	w2.Release()
	waitFor(t, func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(order) == 1
	}, "no read got the room")
	mu.Lock()
	assert.Equal(t, []int{0}, order, "room went out of order")
	mu.Unlock()
	w1.Release()
	wg.Wait()
	assert.Equal(t, []int{0, 1}, order)
	assert.LessOrEqual(t, openUnder(b), 2)
}

func TestMaxConnectionsRefusesAnExclusiveThatCannotFit(t *testing.T) {
	useBudget(t, 3)
	h := openT(t, tempDB(t), createTable, WithReaders(3))
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err := h.Exclusive(ctx, func(context.Context, *Conn, []*Conn) error { return nil })
	require.ErrorIs(t, err, ErrInvalidOption)
	assert.Contains(t, err.Error(), "needs 4 connections")
	small := openT(t, tempDB(t), createTable, WithReaders(2))
	require.NoError(t, small.Exclusive(context.Background(), func(_ context.Context, _ *Conn, rs []*Conn) error {
		assert.Len(t, rs, 2)
		return nil
	}))
}

// TestMaxConnectionsBoundsManyPools opens more databases than the cap
// allows connections, using each: the connections (and so the file
// descriptors) stay under the cap, and every database keeps its rows.
func TestMaxConnectionsBoundsManyPools(t *testing.T) {
	const cap, dbs = 4, 12
	b := useBudget(t, cap)
	dir := t.TempDir()
	ctx := context.Background()
	base := openFDs(t)
	var hs []*Handle
	peak, peakFDs := 0, 0
	for i := range dbs {
		h := openT(t, filepath.Join(dir, "db"+string(rune('a'+i))+".db"), createTable, WithReaders(2))
		hs = append(hs, h)
		require.NoError(t, h.Exec(ctx, "INSERT INTO t(v) VALUES (?)", i))
		peak = max(peak, openUnder(b))
		peakFDs = max(peakFDs, openFDs(t)-base)
	}
	var wg sync.WaitGroup
	for g := range 3 {
		wg.Go(func() {
			for i := range dbs {
				h := hs[(g*7+i*5)%dbs]
				assert.Equal(t, int64(1), readInt(t, h, "SELECT count(*) FROM t"))
				assert.NoError(t, h.Exec(ctx, "UPDATE t SET v = v"))
			}
		})
	}
	wg.Wait()
	peak = max(peak, openUnder(b))
	peakFDs = max(peakFDs, openFDs(t)-base)
	assert.LessOrEqual(t, peak, cap)
	assert.LessOrEqual(t, peakFDs, 3*cap, "file descriptors: a database, its WAL and shared memory per connection")
	t.Logf("peak: %d connections, %d descriptors", peak, peakFDs)
	parks := uint64(0)
	for _, h := range hs {
		parks += h.Stats().Parks
	}
	assert.GreaterOrEqual(t, parks, uint64(dbs-cap), "pools parked to make room")
}
