package sqlitepool

import (
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestCapturedOuterContextIsReported: a call nested in Write given the
// context Write was called with waits for the writer its own goroutine
// holds. It is logged with both call sites once the wait passes the
// threshold, and counted.
func TestCapturedOuterContextIsReported(t *testing.T) {
	var out logBuffer
	logger := slog.New(slog.NewTextHandler(&out, nil))
	h := openT(t, tempDB(t), createTable, WithLogger(logger), WithSlowAcquire(20*time.Millisecond))
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	err := h.Write(ctx, func(_ context.Context, c *Conn) error {
		return insertV(ctx, h, 1) // the outer ctx, captured by mistake
	})
	require.ErrorIs(t, err, context.DeadlineExceeded)
	assert.Equal(t, uint64(1), h.Stats().SameContextWaits)
	log := out.String()
	require.Contains(t, log, "which a lease taken with this same context holds")
	assert.Regexp(t, `waiting_at=\S*_test.go:\d+`, log)
	assert.Regexp(t, `writer_leased_at=\S*selfwait_test.go:\d+`, log)
	requireIdle(t, h)
}

// TestCapturedOuterContextIsCountedWithoutALogger: with no logger, the
// wait is still counted, after a second.
func TestCapturedOuterContextIsCountedWithoutALogger(t *testing.T) {
	h := openT(t, tempDB(t), createTable)
	ctx, cancel := context.WithTimeout(context.Background(), selfWaitAlarm+300*time.Millisecond)
	defer cancel()
	err := h.Write(ctx, func(_ context.Context, c *Conn) error {
		return insertV(ctx, h, 1)
	})
	require.ErrorIs(t, err, context.DeadlineExceeded)
	assert.Equal(t, uint64(1), h.Stats().SameContextWaits)
}

// TestOtherContextsAreNotReported: a wait for the writer with a context
// of its own is an ordinary wait, however long.
func TestOtherContextsAreNotReported(t *testing.T) {
	var out logBuffer
	logger := slog.New(slog.NewTextHandler(&out, nil))
	h := openT(t, tempDB(t), createTable, WithLogger(logger), WithSlowAcquire(10*time.Millisecond))
	l, err := h.Writer(context.Background())
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	require.ErrorIs(t, insertV(ctx, h, 1), context.DeadlineExceeded)
	l.Release()
	assert.Zero(t, h.Stats().SameContextWaits)
	assert.NotContains(t, out.String(), "same context")
}

// TestSlowAcquireLogsWhileStillWaiting: the slow-acquire line comes when
// the threshold passes, while the acquire still waits.
func TestSlowAcquireLogsWhileStillWaiting(t *testing.T) {
	var out logBuffer
	logger := slog.New(slog.NewTextHandler(&out, nil))
	h := openT(t, tempDB(t), createTable, WithLogger(logger), WithSlowAcquire(20*time.Millisecond))
	holderCtx, cancel := context.WithCancel(context.Background())
	defer cancel()
	l, err := h.Writer(holderCtx)
	require.NoError(t, err)
	t.Cleanup(l.Release)
	done := make(chan error, 1)
	go func() { done <- insertV(context.Background(), h, 1) }()
	waitFor(t, func() bool { return strings.Contains(out.String(), "acquire still waiting") }, "the log line while waiting")
	select {
	case err := <-done:
		t.Fatalf("the acquire ended before the release: %v", err)
	default:
	}
	assert.Regexp(t, `waiting_at=\S*_test.go:\d+`, out.String())
	l.Release()
	require.NoError(t, <-done)
	assert.Contains(t, out.String(), "sqlitepool: slow acquire", "and once more when it ends")
	assert.Zero(t, h.Stats().SameContextWaits, "two contexts")
}

// TestCapturedContextOfAnOuterRead: inside Read(base), Write with fn's
// context takes the writer; a call inside that Write given base waits for
// it, and is reported as a wait on its own holder.
func TestCapturedContextOfAnOuterRead(t *testing.T) {
	h := openT(t, tempDB(t), createTable)
	base, cancel := context.WithTimeout(context.Background(), selfWaitAlarm+300*time.Millisecond)
	defer cancel()
	err := h.Read(base, func(rctx context.Context, _ *Conn) error {
		return h.Write(rctx, func(context.Context, *Conn) error {
			return insertV(base, h, 1)
		})
	})
	require.ErrorIs(t, err, context.DeadlineExceeded)
	assert.Equal(t, uint64(1), h.Stats().SameContextWaits)
}
