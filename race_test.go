package sqlitepool

import (
	"context"
	"errors"
	"math/rand/v2"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// stressDuration is how long each race test runs: SQLITEPOOL_STRESS (a Go
// duration such as "10m"), or a short default for CI.
func stressDuration(t *testing.T) time.Duration {
	t.Helper()
	if s := os.Getenv("SQLITEPOOL_STRESS"); s != "" {
		d, err := time.ParseDuration(s)
		require.NoError(t, err, "SQLITEPOOL_STRESS")
		return d
	}
	if testing.Short() {
		return 300 * time.Millisecond
	}
	return 2 * time.Second
}

// TestCloseRacingOpen opens and closes one database from many goroutines,
// each writing a row through its own handle while other handles come and
// go. Invariants: init runs once per pool generation, every acknowledged
// write is in the database, no Open ever sees two writers (the writer
// opened per generation stays 1) and the registry ends empty.
func TestCloseRacingOpen(t *testing.T) {
	path := tempDB(t)
	base := openFDs(t)
	var inits, writes atomic.Int64
	init := func(ctx context.Context, c *Conn) error {
		inits.Add(1)
		return createTable(ctx, c)
	}
	deadline := time.Now().Add(stressDuration(t))
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(g), 1))
			for time.Now().Before(deadline) {
				h, err := Open(path, init, WithReaders(2))
				if !assert.NoError(t, err) {
					return
				}
				if !assert.Equal(t, uint64(1), h.Stats().Writer.Created, "a pool has one writer") {
					h.Close()
					return
				}
				err = h.Write(context.Background(), func(_ context.Context, c *Conn) error {
					return c.Exec("INSERT INTO t(v) VALUES (?)", g)
				})
				if assert.NoError(t, err) {
					writes.Add(1)
				}
				if rng.IntN(2) == 0 {
					assert.NoError(t, h.Read(context.Background(), func(_ context.Context, c *Conn) error {
						return c.Exec("SELECT count(*) FROM t")
					}))
				}
				assert.NoError(t, h.Close())
				assert.NoError(t, h.Close())
				// Pause now and then, so that every handle is closed at
				// times and the pool closes while others reopen it.
				time.Sleep(time.Duration(rng.IntN(4000)) * time.Microsecond)
			}
		})
	}
	wg.Wait()
	assert.False(t, registered(t, path))
	assert.Equal(t, base, openFDs(t))
	t.Logf("%d writes, %d pool generations", writes.Load(), inits.Load())
	assert.Greater(t, inits.Load(), int64(3), "the pool closed and reopened")

	h := openT(t, path, nil)
	assert.Equal(t, writes.Load(), readInt(t, h, "SELECT count(*) FROM t"), "acknowledged writes")
}

// TestLeaseStress mixes reads, writes, cancelled waits, errors and panics
// on one pool. Every Write that returned nil must be in the database, and
// no other.
func TestLeaseStress(t *testing.T) {
	h := openT(t, tempDB(t), createTable, WithReaders(3))
	deadline := time.Now().Add(stressDuration(t))
	var committed atomic.Int64
	errBoom := errors.New("boom")
	var wg sync.WaitGroup
	for g := range 16 {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(g), 2))
			for time.Now().Before(deadline) {
				ctx, cancel := context.Background(), context.CancelFunc(func() {})
				if rng.IntN(4) == 0 {
					ctx, cancel = context.WithTimeout(ctx, time.Duration(rng.IntN(500))*time.Microsecond)
				}
				switch rng.IntN(5) {
				case 0, 1:
					err := h.Write(ctx, func(_ context.Context, c *Conn) error {
						return c.Exec("INSERT INTO t(v) VALUES (?)", g)
					})
					if err == nil {
						committed.Add(1)
					} else {
						assert.ErrorIs(t, err, ctx.Err(), "only a context may stop a write")
					}
				case 2:
					err := h.Write(ctx, func(_ context.Context, c *Conn) error {
						if err := c.Exec("INSERT INTO t(v) VALUES ('never')"); err != nil {
							return err
						}
						return errBoom
					})
					assert.Error(t, err)
				case 3:
					func() {
						defer func() { recover() }()
						h.Read(ctx, func(_ context.Context, c *Conn) error {
							stmt, _, err := c.Raw().Prepare("SELECT v FROM t")
							if err != nil {
								return err
							}
							defer stmt.Close()
							stmt.Step() // left unreset on purpose
							panic("reader gave up")
						})
					}()
				case 4:
					l, err := h.Reader(ctx)
					if err == nil {
						l.Conn().Exec("BEGIN; SELECT count(*) FROM t") // left open on purpose
						l.Release()
						l.Release()
					}
				}
				cancel()
			}
		})
	}
	wg.Wait()
	assert.Equal(t, committed.Load(), readInt(t, h, "SELECT count(*) FROM t"))
	assert.Equal(t, int64(0), readInt(t, h, "SELECT count(*) FROM t WHERE v = 'never'"))
	st := h.Stats()
	assert.Equal(t, 0, st.Writer.InUse)
	assert.Equal(t, 0, st.Readers.InUse)
	assert.Equal(t, 0, st.Writer.Waiting+st.Readers.Waiting)
	assert.Equal(t, uint64(0), st.Writer.Closed+st.Readers.Closed, "no connection broke")
	t.Logf("%d commits; stats %+v", committed.Load(), st)
}
