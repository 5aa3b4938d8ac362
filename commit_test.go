package sqlitepool

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestWriteCancelledDuringCommitReportsTheOutcome cancels the context of
// Write from inside COMMIT (the engine's commit hook runs once COMMIT has
// started), many times over. The engine asks the interrupt context again
// when the COMMIT statement returns, every 1000 virtual-machine steps of
// it; an interrupt seen then must not turn a committed transaction into an
// error. Write must return nil exactly for the rows that are there: all
// but those whose context ended before COMMIT.
func TestWriteCancelledDuringCommitReportsTheOutcome(t *testing.T) {
	h := openT(t, tempDB(t), createTable)
	const n = 3000 // a COMMIT takes a few steps: hundreds of runs per boundary
	var acked, failed int64
	for i := range n {
		ctx, cancel := context.WithCancel(context.Background())
		before := i%7 == 0 // cancelled before COMMIT: must roll back
		err := h.Write(ctx, func(c *Conn) error {
			c.Raw().CommitHook(func() bool { cancel(); return true })
			if before {
				defer cancel()
			}
			return c.Exec("INSERT INTO t(id, v) VALUES (?, 'x')", i)
		})
		cancel()
		var present int64
		require.NoError(t, h.Read(context.Background(), func(c *Conn) error {
			present = queryInt(t, c, "SELECT count(*) FROM t WHERE id = ?", i)
			return nil
		}))
		if err == nil {
			acked++
			assert.Equal(t, int64(1), present, "write %d returned nil and is missing", i)
		} else {
			failed++
			assert.ErrorIs(t, err, context.Canceled)
			assert.Equal(t, int64(0), present, "write %d returned %v and is present", i, err)
		}
	}
	require.NoError(t, h.Write(context.Background(), func(c *Conn) error {
		c.Raw().CommitHook(nil)
		return nil
	}))
	t.Logf("%d writes acknowledged, %d failed", acked, failed)
	assert.Equal(t, int64((n+6)/7), failed, "the writes cancelled before COMMIT, and only those")
}
