package sqlitepool

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// fakeClock is a pool clock that moves only when the test says so.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (f *fakeClock) Now() time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.now
}

func (f *fakeClock) Advance(d time.Duration) {
	f.mu.Lock()
	f.now = f.now.Add(d)
	f.mu.Unlock()
}

// withClock gives the pool a fake clock and a janitor that never ticks on
// its own: the test runs its rounds with tidy. The pool does not park on
// idle time unless a WithParkAfter after it says so: a round after the
// clock jumped would park it.
func withClock(f *fakeClock) Option {
	return func(c *config) error {
		c.clock = f.Now
		c.janitorEvery = time.Hour
		c.parkAfter = 0
		return nil
	}
}

func newFakeClock() *fakeClock { return &fakeClock{now: time.Unix(1_800_000_000, 0)} }

// holdReaders leases n readers at once, so that n are open, and releases
// them.
func holdReaders(t *testing.T, h *Handle, n int) {
	t.Helper()
	var leases []*Lease
	for range n {
		l, err := h.Reader(context.Background())
		require.NoError(t, err)
		leases = append(leases, l)
	}
	for _, l := range leases {
		l.Release()
	}
}

func TestIdleReadersAreClosedDownToTheMinimum(t *testing.T) {
	clock := newFakeClock()
	h := openT(t, tempDB(t), createTable, withClock(clock),
		WithReaders(4), WithMinReaders(1), WithIdleTimeout(time.Minute))
	ctx := context.Background()
	holdReaders(t, h, 4)
	require.Equal(t, 4, h.Stats().Readers.Open)

	clock.Advance(30 * time.Second)
	h.p.tidy(ctx)
	assert.Equal(t, 4, h.Stats().Readers.Open, "not idle long enough yet")

	// One reader is used again: it is not idle any more.
	clock.Advance(20 * time.Second)
	h.p.tidy(ctx) // the coarse clock moves
	require.NoError(t, h.Read(ctx, func(_ context.Context, c *Conn) error { return nil }))

	clock.Advance(20 * time.Second) // the others: 70s idle; the used one: 20s
	h.p.tidy(ctx)
	st := h.Stats().Readers
	assert.Equal(t, 1, st.Open, "the reader used recently stays")
	assert.Equal(t, uint64(3), st.Replaced.Idle)
	assert.Equal(t, uint64(3), st.Closed)

	clock.Advance(time.Hour)
	h.p.tidy(ctx)
	assert.Equal(t, 1, h.Stats().Readers.Open, "the minimum stays open, however idle")
	assert.Equal(t, 1, h.Stats().Writer.Open, "the writer is never closed for being idle")
	assert.Equal(t, int64(0), readInt(t, h, "SELECT count(*) FROM t"))
}

func TestMinReadersAreOpenedInTheBackground(t *testing.T) {
	h := openT(t, tempDB(t), createTable, WithReaders(4), WithMinReaders(3))
	deadline := time.Now().Add(5 * time.Second)
	for h.Stats().Readers.Idle < 3 { // Open counts those being opened
		require.True(t, time.Now().Before(deadline), "the janitor did not open the minimum: %+v", h.Stats().Readers)
		time.Sleep(time.Millisecond)
	}
	assert.Equal(t, 3, h.Stats().Readers.Open, "no more than the minimum")
	assert.Equal(t, uint64(0), h.Stats().Readers.Acquires, "opened without anyone asking")
}

func TestMinReadersValidated(t *testing.T) {
	_, err := Open(tempDB(t), nil, WithReaders(2), WithMinReaders(3))
	require.ErrorIs(t, err, ErrInvalidOption)
	_, err = Open(tempDB(t), nil, WithMinReaders(-1))
	require.ErrorIs(t, err, ErrInvalidOption)
	_, err = Open(tempDB(t), nil, WithIdleTimeout(-time.Second))
	require.ErrorIs(t, err, ErrInvalidOption)
	_, err = Open(tempDB(t), nil, WithMaxLifetime(-time.Second))
	require.ErrorIs(t, err, ErrInvalidOption)
}

func TestLifetimeReplacesOnReleaseAndInTheJanitor(t *testing.T) {
	clock := newFakeClock()
	h := openT(t, tempDB(t), createTable, withClock(clock), WithReaders(2),
		WithMaxLifetime(time.Hour), WithIdleTimeout(0))
	ctx := context.Background()
	require.NoError(t, h.Exec(ctx, "INSERT INTO t(v) VALUES (1)"))
	holdReaders(t, h, 2)

	l, err := h.Reader(ctx)
	require.NoError(t, err)
	clock.Advance(2 * time.Hour)
	h.p.tidy(ctx)
	// The janitor replaced the idle ones: the writer at once, the idle
	// reader on demand. The leased reader waits for its release.
	st := h.Stats()
	assert.Equal(t, uint64(1), st.Writer.Replaced.Lifetime)
	assert.Equal(t, 1, st.Writer.Open, "the writer is reopened at once")
	assert.Equal(t, uint64(2), st.Writer.Created)
	assert.Equal(t, uint64(1), st.Readers.Replaced.Lifetime)
	assert.Equal(t, 1, st.Readers.Open, "only the leased reader is left")

	assert.Equal(t, int64(1), queryInt(t, l.Conn(), "SELECT count(*) FROM t"), "a lease is never taken away")
	l.Release()
	st = h.Stats()
	assert.Equal(t, uint64(2), st.Readers.Replaced.Lifetime, "expired, closed on release")
	assert.Equal(t, 0, st.Readers.Open)

	// Replacements work.
	require.NoError(t, h.Exec(ctx, "INSERT INTO t(v) VALUES (2)"))
	assert.Equal(t, int64(2), readInt(t, h, "SELECT count(*) FROM t"))
	assert.Equal(t, uint64(3), h.Stats().Readers.Created)
}

func TestLifetimeIsJittered(t *testing.T) {
	clock := newFakeClock()
	h := openT(t, tempDB(t), nil, withClock(clock), WithReaders(16), WithMaxLifetime(time.Hour))
	holdReaders(t, h, 16)
	start := clock.Now()
	seen := map[int64]bool{}
	h.p.mu.Lock()
	for _, c := range h.p.readers.idle {
		exp := time.Unix(0, c.expires)
		assert.False(t, exp.Before(start.Add(54*time.Minute)), "at most 10%% sooner: %v", exp.Sub(start))
		assert.False(t, exp.After(start.Add(time.Hour)), "never later: %v", exp.Sub(start))
		seen[c.expires] = true
	}
	h.p.mu.Unlock()
	assert.Greater(t, len(seen), 8, "16 connections opened together expire at different times")
}

func TestJanitorIntervalFollowsTheTimeouts(t *testing.T) {
	assert.Equal(t, time.Minute, janitorInterval(0, 0))
	assert.Equal(t, time.Minute, janitorInterval(10*time.Minute, time.Hour))
	assert.Equal(t, 3*time.Second, janitorInterval(30*time.Second, time.Hour))
	assert.Equal(t, 10*time.Millisecond, janitorInterval(time.Millisecond, 0))
	assert.Equal(t, 6*time.Second, janitorInterval(10*time.Minute, time.Hour, time.Minute), "the park delay")
}

// TestJanitorRunsOnItsOwn checks the background goroutine itself, with real
// time and short timeouts.
func TestJanitorRunsOnItsOwn(t *testing.T) {
	h := openT(t, tempDB(t), nil, WithReaders(2), WithIdleTimeout(20*time.Millisecond))
	holdReaders(t, h, 2)
	deadline := time.Now().Add(5 * time.Second)
	for h.Stats().Readers.Open > 0 {
		require.True(t, time.Now().Before(deadline), "idle readers were not closed")
		time.Sleep(5 * time.Millisecond)
	}
	assert.Equal(t, uint64(2), h.Stats().Readers.Replaced.Idle)
}
