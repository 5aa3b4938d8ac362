package sqlitepool

import (
	"bytes"
	"context"
	"encoding/json"
	"expvar"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ncruces/go-sqlite3"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// logBuffer is a concurrency-safe log destination.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *logBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func TestLoggerEvents(t *testing.T) {
	var out logBuffer
	clock := newFakeClock()
	logger := slog.New(slog.NewTextHandler(&out, nil))
	h := openT(t, tempDB(t), createTable, withClock(clock), WithLogger(logger),
		WithSlowAcquire(5*time.Millisecond), WithMaxLifetime(time.Hour))
	ctx := context.Background()

	// A transaction left open: the log says where the lease was taken.
	l, err := h.Writer(ctx)
	require.NoError(t, err)
	require.NoError(t, l.Conn().Exec("BEGIN IMMEDIATE; INSERT INTO t(v) VALUES (1)"))
	l.Release()
	assert.Contains(t, out.String(), "rolled back")
	assert.Contains(t, out.String(), "leased_at=")
	assert.Contains(t, out.String(), "observe_test.go:", "the caller's file:line")

	// A slow acquire.
	l, err = h.Writer(ctx)
	require.NoError(t, err)
	done := make(chan error, 1)
	go func() { done <- h.Exec(ctx, "INSERT INTO t(v) VALUES (2)") }()
	time.Sleep(20 * time.Millisecond)
	l.Release()
	require.NoError(t, <-done)
	assert.Contains(t, out.String(), "slow acquire")
	assert.GreaterOrEqual(t, h.Stats().Writer.MaxWait, 5*time.Millisecond)

	// A replacement.
	clock.Advance(2 * time.Hour)
	h.p.tidy(ctx)
	assert.Contains(t, out.String(), "reason=lifetime")
	assert.Contains(t, out.String(), "db="+h.Name())
}

func TestNoLoggerNoCaller(t *testing.T) {
	h := openT(t, tempDB(t), createTable)
	require.NoError(t, h.Read(context.Background(), func(_ context.Context, c *Conn) error {
		assert.Empty(t, c.caller, "no stack walk without a logger")
		return nil
	}))
}

func TestPublishExpvar(t *testing.T) {
	h := openT(t, tempDB(t), createTable)
	require.NoError(t, h.Exec(context.Background(), "INSERT INTO t(v) VALUES (1)"))
	h.PublishExpvar()
	h.PublishExpvar() // again: replaces, does not panic
	v := expvar.Get("sqlitepool").(*expvar.Map).Get(h.Name())
	require.NotNil(t, v)
	var st Stats
	require.NoError(t, json.Unmarshal([]byte(v.String()), &st))
	assert.Equal(t, h.Name(), st.Name)
	assert.Equal(t, uint64(1), st.Writer.Acquires)
	assert.Contains(t, v.String(), `"Policy":"bounded"`)
	assert.Equal(t, WALBounded, st.WAL.Policy)
}

func TestOptimizeRuns(t *testing.T) {
	clock := newFakeClock()
	path := tempDB(t)
	h, err := Open(path, createTable, withClock(clock), WithOptimize(time.Hour), WithMaxLifetime(0))
	require.NoError(t, err)
	assert.Equal(t, uint64(1), h.Stats().Optimizes, "when the writer opened")
	clock.Advance(30 * time.Minute)
	h.p.tidy(context.Background())
	assert.Equal(t, uint64(1), h.Stats().Optimizes, "not due yet")
	clock.Advance(31 * time.Minute)
	h.p.tidy(context.Background())
	assert.Equal(t, uint64(2), h.Stats().Optimizes, "periodically")
	require.NoError(t, h.Close())
	assert.Equal(t, uint64(3), h.Stats().Optimizes, "on close")

	off := openT(t, tempDB(t), createTable, WithOptimize(0))
	require.NoError(t, off.Exec(context.Background(), "INSERT INTO t(v) VALUES (1)"))
	assert.Zero(t, off.Stats().Optimizes)
}

func TestMaxMemoryAndCacheSize(t *testing.T) {
	h := openT(t, tempDB(t), createTable, WithMaxMemory(16<<20), WithCacheSize(512))
	ctx := context.Background()
	assert.Equal(t, int64(-512), readInt(t, h, "PRAGMA cache_size"))
	var n int64
	err := h.QueryRow(ctx, "SELECT length(randomblob(64000000))").Scan(&n)
	require.ErrorIs(t, err, sqlite3.NOMEM, "64 MB does not fit in 16 MiB")
	assert.Equal(t, int64(1000), readInt(t, h, "SELECT length(randomblob(1000))"), "the connection still works")
	assert.Zero(t, h.Stats().Readers.Replaced.Broken)

	for _, opt := range []Option{WithMaxMemory(1000), WithMaxMemory(1 << 40), WithCacheSize(0)} {
		_, err := Open(tempDB(t), nil, opt)
		require.ErrorIs(t, err, ErrInvalidOption)
	}
}

func TestLoggerOptionsValidated(t *testing.T) {
	for _, opt := range []Option{WithLogger(nil), WithSlowAcquire(-time.Second), WithOptimize(-time.Second)} {
		_, err := Open(tempDB(t), nil, opt)
		require.ErrorIs(t, err, ErrInvalidOption)
		assert.True(t, strings.HasPrefix(err.Error(), "sqlitepool: invalid option"), err.Error())
	}
}
