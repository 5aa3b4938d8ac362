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

// TestWriteThroughAnotherLeaseSeesItsWrites: a Write asked for with a
// context that holds the writer only through another lease (a reader's of
// an Exclusive section, a Reader lease taken inside Write) runs on that
// writer, and what fn then reads with its context runs in the same
// transaction: it sees fn's writes.
func TestWriteThroughAnotherLeaseSeesItsWrites(t *testing.T) {
	count := func(t *testing.T, ctx context.Context, h *Handle) int {
		t.Helper()
		var n int
		require.NoError(t, h.QueryRow(ctx, "SELECT count(*) FROM t").Scan(&n))
		return n
	}
	t.Run("exclusive-reader", func(t *testing.T) {
		h := openT(t, tempDB(t), createTable, WithReaders(2))
		require.NoError(t, h.Exclusive(boundedCtx(t), func(_ context.Context, w *Conn, readers []*Conn) error {
			return h.Write(readers[0].Context(), func(ctx context.Context, c *Conn) error {
				require.True(t, w.conn == c.conn, "served on the writer held")
				require.NoError(t, insertV(ctx, h, 1))
				assert.Equal(t, 1, count(t, ctx, h), "QueryRow inside the Write")
				return h.Read(ctx, func(ctx context.Context, r *Conn) error {
					assert.True(t, w.conn == r.conn, "Read inside the Write runs on the writer")
					return nil
				})
			})
		}))
		requireIdle(t, h)
	})
	t.Run("reader-lease-inside-write", func(t *testing.T) {
		h := openT(t, tempDB(t), createTable, WithReaders(1))
		require.NoError(t, h.Write(boundedCtx(t), func(ctx context.Context, w *Conn) error {
			l, err := h.Reader(ctx)
			require.NoError(t, err)
			defer l.Release()
			return h.Write(l.Context(), func(ctx context.Context, c *Conn) error {
				require.True(t, w.conn == c.conn, "served on the writer held")
				require.NoError(t, insertV(ctx, h, 1))
				assert.Equal(t, 1, count(t, ctx, h), "QueryRow inside the Write")
				// The reader lease is still held through ctx: the one
				// reader cannot be asked for again.
				_, err := h.Reader(ctx)
				require.ErrorIs(t, err, ErrReentrant)
				return nil
			})
		}))
		assert.Equal(t, int64(1), readInt(t, h, "SELECT count(*) FROM t"))
		requireIdle(t, h)
	})
}

// TestReclaimedWriterLeaseIsForgotten: once the collector has taken back a
// dropped writer Lease, a wait with the context that lease was taken with
// is an ordinary wait, not one for its own holder.
func TestReclaimedWriterLeaseIsForgotten(t *testing.T) {
	var out logBuffer
	logger := slog.New(slog.NewTextHandler(&out, nil))
	h := openLeakT(t, tempDB(t), WithLogger(logger), WithSlowAcquire(10*time.Millisecond))
	dropLease(t, h.Writer, "")
	collectUntil(t, "the dropped writer lease", leaked(h))
	assert.False(t, h.p.writerLease.heldWith(context.Background()), "the reclaimed lease is still recorded")

	// The pool's own work (a checkpoint, an optimize) holds the writer
	// without a lease.
	c, err := h.p.acquire(context.Background(), &h.p.writer)
	require.NoError(t, err)
	done := make(chan error, 1)
	go func() { done <- insertV(context.Background(), h, 1) }()
	waitFor(t, func() bool {
		return strings.Contains(out.String(), "still waiting") || strings.Contains(out.String(), "same context")
	}, "the alarm of the wait")
	h.p.release(c)
	require.NoError(t, <-done)
	assert.Zero(t, h.Stats().SameContextWaits)
	assert.NotContains(t, out.String(), "same context")
}
