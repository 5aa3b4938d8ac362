package sqlitepool

import (
	"context"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// walSoak is how long TestWALStaysBounded runs each policy:
// SQLITEPOOL_WAL_SOAK (a Go duration), 20s by default.
func walSoak(t *testing.T) time.Duration {
	if s := os.Getenv("SQLITEPOOL_WAL_SOAK"); s != "" {
		d, err := time.ParseDuration(s)
		require.NoError(t, err, "SQLITEPOOL_WAL_SOAK")
		return d
	}
	return 20 * time.Second
}

// starve runs, for d, readers that each hold a snapshot for a few
// milliseconds in a tight loop (so that some reader almost always holds
// one) and a writer that never stops, and returns the largest -wal file
// seen and the writes done.
func starve(t *testing.T, h *Handle, path string, d time.Duration) (maxWAL int64, writes int64) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	var wg sync.WaitGroup
	var max atomic.Int64
	wg.Go(func() {
		for ctx.Err() == nil {
			if fi, err := os.Stat(path + "-wal"); err == nil && fi.Size() > max.Load() {
				max.Store(fi.Size())
			}
			time.Sleep(2 * time.Millisecond)
		}
	})
	for range 4 {
		wg.Go(func() {
			for ctx.Err() == nil {
				err := h.Read(ctx, func(_ context.Context, c *Conn) error {
					var n int64
					if err := c.QueryRow("SELECT count(*) FROM t").Scan(&n); err != nil {
						return err
					}
					time.Sleep(3 * time.Millisecond) // the snapshot stays pinned
					return nil
				})
				if err != nil && ctx.Err() == nil {
					t.Error(err)
					return
				}
			}
		})
	}
	pad := strings.Repeat("x", 500)
	var n atomic.Int64
	wg.Go(func() {
		for ctx.Err() == nil {
			err := h.Exec(ctx, "INSERT INTO t(v) VALUES (?)", pad)
			switch {
			case err == nil:
				n.Add(1)
			case ctx.Err() == nil:
				t.Error(err)
				return
			}
		}
	})
	wg.Wait()
	return max.Load(), n.Load()
}

func TestWALStaysBounded(t *testing.T) {
	d := walSoak(t)
	const limit = 1 << 20

	t.Run("policy-off", func(t *testing.T) {
		path := tempDB(t)
		h := openT(t, path, createTable, WithReaders(4), WithWALPolicy(WALSQLite))
		maxWAL, writes := starve(t, h, path, d)
		t.Logf("WALSQLite (SQLite's own checkpoints), %v: %d writes, -wal grew to %.1f MiB",
			d, writes, float64(maxWAL)/(1<<20))
		assert.Zero(t, h.Stats().WAL.Checkpoints, "the pool ran no checkpoint")
	})

	t.Run("policy-on", func(t *testing.T) {
		path := tempDB(t)
		h := openT(t, path, createTable, WithReaders(4), WithWALPolicy(WALBounded), WithWALLimit(limit))
		maxWAL, writes := starve(t, h, path, d)
		st := h.Stats().WAL
		t.Logf("WALBounded, limit %d KiB, %v: %d writes, -wal at most %.2f MiB; %d checkpoints, %d busy, %.1f MiB reclaimed",
			limit>>10, d, writes, float64(maxWAL)/(1<<20), st.Checkpoints, st.CheckpointsBusy, float64(st.BytesReclaimed)/(1<<20))
		assert.Positive(t, st.Checkpoints)
		assert.Positive(t, st.BytesReclaimed)
		// The margin: what the writer adds while the checkpoint waits for
		// the readers of old snapshots (a few ms each).
		assert.Less(t, maxWAL, int64(limit+limit/4), "the -wal file passed the limit plus a margin")
		assert.Equal(t, int64(writes), readInt(t, h, "SELECT count(*) FROM t"), "every write is there")
	})
}

func TestWALExternalNeverCheckpoints(t *testing.T) {
	path := tempDB(t)
	h := openT(t, path, createTable, WithWALPolicy(WALExternal))
	ctx := context.Background()
	for range 1200 { // past SQLite's 1000-page automatic checkpoint
		require.NoError(t, h.Exec(ctx, "INSERT INTO t(v) VALUES (randomblob(4000))"))
	}
	st := h.Stats().WAL
	assert.Zero(t, st.Checkpoints)
	assert.Greater(t, st.Size, int64(1200*4000), "nothing checkpointed the WAL back")
}

func TestWALOptionsValidated(t *testing.T) {
	for _, opt := range []Option{WithWALLimit(1000), WithWALPolicy(WALPolicy(9)), WithCheckpointTimeout(0), WithCheckpointTimeout(time.Minute)} {
		_, err := Open(tempDB(t), nil, opt)
		require.ErrorIs(t, err, ErrInvalidOption)
	}
}
