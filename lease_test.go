package sqlitepool

import (
	"context"
	"errors"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/ncruces/go-sqlite3"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestWriterWaitersAreServedFIFO(t *testing.T) {
	h := openT(t, tempDB(t), createTable)
	ctx := context.Background()
	first, err := h.Writer(ctx)
	require.NoError(t, err)

	const n = 8
	var (
		mu    sync.Mutex
		order []int
		wg    sync.WaitGroup
	)
	for i := range n {
		wg.Go(func() {
			l, err := h.Writer(ctx)
			if !assert.NoError(t, err) {
				return
			}
			mu.Lock()
			order = append(order, i)
			mu.Unlock()
			l.Release()
		})
		// Queue them one at a time so the arrival order is known.
		require.Eventually(t, func() bool { return h.Stats().Writer.Waiting == i+1 }, 5*time.Second, time.Millisecond)
	}
	first.Release()
	wg.Wait()
	assert.Equal(t, []int{0, 1, 2, 3, 4, 5, 6, 7}, order)
	st := h.Stats().Writer
	assert.Equal(t, uint64(n), st.Waits)
	assert.Greater(t, st.WaitTime, time.Duration(0))
}

func TestReadersOpenOnDemandUpToMax(t *testing.T) {
	h := openT(t, tempDB(t), createTable, WithReaders(3))
	ctx := context.Background()
	assert.Equal(t, 0, h.Stats().Readers.Open, "no reader before the first Read")
	var leases []*Lease
	for range 3 {
		l, err := h.Reader(ctx)
		require.NoError(t, err)
		leases = append(leases, l)
	}
	st := h.Stats().Readers
	assert.Equal(t, 3, st.Open)
	assert.Equal(t, 3, st.InUse)
	assert.Equal(t, 3, st.Max)

	// A fourth waits, and gets the first connection released.
	got := make(chan *Lease)
	go func() {
		l, err := h.Reader(ctx)
		assert.NoError(t, err)
		got <- l
	}()
	require.Eventually(t, func() bool { return h.Stats().Readers.Waiting == 1 }, 5*time.Second, time.Millisecond)
	want := leases[1].Conn().conn
	leases[1].Release()
	l := <-got
	assert.Same(t, want, l.Conn().conn, "hand-off passes the released connection")
	l.Release()
	leases[0].Release()
	leases[2].Release()
	st = h.Stats().Readers
	assert.Equal(t, 3, st.Open)
	assert.Equal(t, 0, st.InUse)
	assert.Equal(t, 3, st.Idle)
	assert.Equal(t, uint64(3), st.Created)
}

func TestCancelledWaitReturnsContextError(t *testing.T) {
	h := openT(t, tempDB(t), nil)
	held, err := h.Writer(context.Background())
	require.NoError(t, err)
	defer held.Release()

	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	_, err = h.Writer(ctx)
	require.ErrorIs(t, err, context.DeadlineExceeded)

	ctx, cancel = context.WithCancel(context.Background())
	go func() { time.Sleep(10 * time.Millisecond); cancel() }()
	err = h.Write(ctx, func(context.Context, *Conn) error { return nil })
	require.ErrorIs(t, err, context.Canceled)

	st := h.Stats().Writer
	assert.Equal(t, uint64(1), st.Timeouts)
	assert.Equal(t, uint64(1), st.Cancels)
	assert.Equal(t, 0, st.Waiting, "gave-up waiters left the queue")
}

func TestAcquireTimeoutAppliesWithoutDeadline(t *testing.T) {
	h := openT(t, tempDB(t), nil, WithAcquireTimeout(20*time.Millisecond))
	held, err := h.Writer(context.Background())
	require.NoError(t, err)
	defer held.Release()

	_, err = h.Writer(context.Background())
	require.ErrorIs(t, err, ErrAcquireTimeout)
	require.ErrorIs(t, err, context.DeadlineExceeded)

	// A context deadline overrides the acquire timeout.
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err = h.Writer(ctx)
	require.ErrorIs(t, err, context.DeadlineExceeded)
	assert.NotErrorIs(t, err, ErrAcquireTimeout)
	assert.GreaterOrEqual(t, time.Since(start), 90*time.Millisecond)
	assert.Equal(t, uint64(2), h.Stats().Writer.Timeouts)
}

// TestCancelDuringHandOff makes waiters give up at the moment a connection
// is handed to them, many times: no connection may be lost (the pool would
// then hang) and none handed out twice.
func TestCancelDuringHandOff(t *testing.T) {
	h := openT(t, tempDB(t), createTable, WithReaders(2))
	for i := range 300 {
		for _, acquire := range []func(context.Context) (*Lease, error){h.Writer, h.Reader} {
			var held []*Lease
			for {
				l, err := acquire(context.Background())
				require.NoError(t, err)
				held = append(held, l)
				if l.Conn().Role() == RoleWriter || len(held) == 2 {
					break
				}
			}
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel() // vet: every path below cancels, some in a goroutine
			done := make(chan error, 1)
			go func() {
				l, err := acquire(ctx)
				if err == nil {
					l.Release()
				}
				done <- err
			}()
			// The waiter must be queued before the race begins.
			for roleStats(h, held[0].Conn().Role()).Waiting == 0 {
				runtime.Gosched()
			}
			// Release and cancel together, four ways.
			switch i % 4 {
			case 0:
				go cancel()
				held[0].Release()
			case 1:
				go held[0].Release()
				cancel()
			case 2, 3:
				// Under the pool's lock. 2: ctx ended, then the grant sent:
				// whichever wakes the waiter, it finds the other done too and
				// must pass the grant on, not take the lease. 3: the grant
				// sent, then ctx ended: a granted waiter checks its ctx
				// without the lock, so it may take the lease (its ctx was
				// not done yet) or pass it on; either way nothing is lost.
				l := held[0]
				l.c.endLease() // released
				p := h.p
				p.mu.Lock()
				if i%4 == 2 {
					cancel()
					p.putLocked(p.slotsFor(l.c.role), l.c.conn)
				} else {
					p.putLocked(p.slotsFor(l.c.role), l.c.conn)
					cancel()
				}
				p.mu.Unlock()
			}
			err := <-done
			if i%4 == 2 {
				require.ErrorIs(t, err, context.Canceled, "a waiter whose context ended got a lease")
			}
			for _, l := range held[1:] {
				l.Release()
			}
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	w, err := h.Writer(ctx)
	require.NoError(t, err, "writer lost in a hand-off")
	w.Release()
	r1, err := h.Reader(ctx)
	require.NoError(t, err)
	r2, err := h.Reader(ctx)
	require.NoError(t, err, "reader lost in a hand-off")
	assert.NotSame(t, r1.Conn(), r2.Conn())
	r1.Release()
	r2.Release()
	st := h.Stats()
	assert.Equal(t, 0, st.Writer.InUse)
	assert.Equal(t, 0, st.Readers.InUse)
	assert.Equal(t, 2, st.Readers.Idle)
	// A connection lost in a hand-off would have been replaced: none was.
	assert.Equal(t, uint64(1), st.Writer.Created)
	assert.Equal(t, uint64(2), st.Readers.Created)
	assert.Equal(t, uint64(0), st.Writer.Closed+st.Readers.Closed)
	t.Logf("waits %d, cancels %d", st.Writer.Waits+st.Readers.Waits, st.Writer.Cancels+st.Readers.Cancels)
}

func TestReleaseIsIdempotent(t *testing.T) {
	h := openT(t, tempDB(t), nil, WithReaders(2))
	l, err := h.Reader(context.Background())
	require.NoError(t, err)
	c := l.Conn()
	require.NotNil(t, c)
	var wg sync.WaitGroup
	for range 10 {
		wg.Go(l.Release)
	}
	wg.Wait()
	l.Release()
	assert.Nil(t, l.Conn(), "a released lease no longer lends its connection")
	st := h.Stats().Readers
	assert.Equal(t, 0, st.InUse)
	assert.Equal(t, 1, st.Idle, "released once, idle once")
}

func TestWriteCommitsOrRollsBack(t *testing.T) {
	h := openT(t, tempDB(t), createTable)
	ctx := context.Background()
	require.NoError(t, h.Write(ctx, func(_ context.Context, c *Conn) error {
		return c.Exec("INSERT INTO t(v) VALUES ('kept')")
	}))

	boom := errors.New("boom")
	err := h.Write(ctx, func(_ context.Context, c *Conn) error {
		require.NoError(t, c.Exec("INSERT INTO t(v) VALUES ('dropped')"))
		return boom
	})
	require.ErrorIs(t, err, boom)

	assert.PanicsWithValue(t, "write panicked", func() {
		h.Write(ctx, func(_ context.Context, c *Conn) error {
			require.NoError(t, c.Exec("INSERT INTO t(v) VALUES ('dropped')"))
			panic("write panicked")
		})
	})

	// A context cancelled inside fn stops the commit.
	cctx, cancel := context.WithCancel(ctx)
	err = h.Write(cctx, func(_ context.Context, c *Conn) error {
		require.NoError(t, c.Exec("INSERT INTO t(v) VALUES ('dropped')"))
		cancel()
		return nil
	})
	require.ErrorIs(t, err, sqlite3.INTERRUPT)
	require.ErrorIs(t, err, context.Canceled)

	assert.Equal(t, int64(1), readInt(t, h, "SELECT count(*) FROM t"))
	assert.Equal(t, int64(0), readInt(t, h, "SELECT count(*) FROM t WHERE v = 'dropped'"))
	st := h.Stats().Writer
	assert.Equal(t, uint64(0), st.RollbacksOnRelease, "Write's own rollbacks are not release rollbacks")
	assert.Equal(t, 0, st.InUse)
	assert.Equal(t, uint64(0), st.Closed, "the writer survived")
}

func TestWriteRunsInImmediateTransaction(t *testing.T) {
	h := openT(t, tempDB(t), createTable)
	require.NoError(t, h.Write(context.Background(), func(_ context.Context, c *Conn) error {
		assert.False(t, c.Raw().GetAutocommit(), "inside a transaction")
		// IMMEDIATE takes the write lock at BEGIN.
		assert.Equal(t, sqlite3.TXN_WRITE, c.Raw().TxnState("main"))
		return nil
	}))
}

func TestReadReleasesOnPanic(t *testing.T) {
	h := openT(t, tempDB(t), createTable, WithReaders(1))
	assert.Panics(t, func() {
		h.Read(context.Background(), func(_ context.Context, c *Conn) error { panic("read panicked") })
	})
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	require.NoError(t, h.Read(ctx, func(_ context.Context, c *Conn) error { return nil }), "the only reader came back")
}

func TestReleaseReturnsConnectionClean(t *testing.T) {
	h := openT(t, tempDB(t), createTable, WithReaders(1))
	ctx := context.Background()
	require.NoError(t, h.Write(ctx, func(_ context.Context, c *Conn) error {
		return c.Exec("INSERT INTO t(v) VALUES (1), (2), (3)")
	}))

	t.Run("unfinished-statement", func(t *testing.T) {
		l, err := h.Reader(ctx)
		require.NoError(t, err)
		stmt, _, err := l.Conn().Raw().Prepare("SELECT v FROM t")
		require.NoError(t, err)
		defer stmt.Close()
		require.True(t, stmt.Step())
		// Stepped and not reset: this holds a read transaction open.
		require.NotEqual(t, sqlite3.TXN_NONE, l.Conn().Raw().TxnState("main"))
		l.Release()
		assert.False(t, stmt.Busy(), "release reset the statement")
		assert.Equal(t, sqlite3.TXN_NONE, stmt.Conn().TxnState("main"))
	})

	t.Run("open-transaction", func(t *testing.T) {
		l, err := h.Writer(ctx)
		require.NoError(t, err)
		require.NoError(t, l.Conn().Exec("BEGIN IMMEDIATE; INSERT INTO t(v) VALUES ('forgotten')"))
		l.Release()
		assert.Equal(t, uint64(1), h.Stats().Writer.RollbacksOnRelease)
		assert.Equal(t, int64(0), readInt(t, h, "SELECT count(*) FROM t WHERE v = 'forgotten'"))
		// The writer is usable, outside any transaction.
		require.NoError(t, h.Write(ctx, func(_ context.Context, c *Conn) error { return c.Exec("INSERT INTO t(v) VALUES (4)") }))
	})

	t.Run("interrupt-cleared", func(t *testing.T) {
		cctx, cancel := context.WithCancel(ctx)
		l, err := h.Reader(cctx)
		require.NoError(t, err)
		c := l.Conn()
		raw := c.Raw()
		cancel()
		err = c.Exec("SELECT 1")
		require.ErrorIs(t, err, sqlite3.INTERRUPT)
		require.ErrorIs(t, err, context.Canceled)
		l.Release()
		assert.NoError(t, raw.GetInterrupt().Err(), "the next lease is not interrupted")
		assert.Equal(t, int64(4), readInt(t, h, "SELECT count(*) FROM t"))
	})
}

func TestBrokenConnectionIsClosedNotReused(t *testing.T) {
	h := openT(t, tempDB(t), createTable, WithReaders(1))
	ctx := context.Background()
	broken := errors.New("injected clean-up failure")
	var bad *conn
	h.p.testHookClean = func(c *conn) error {
		if c == bad {
			return broken
		}
		return nil
	}

	for _, acquire := range []func(context.Context) (*Lease, error){h.Writer, h.Reader} {
		l, err := acquire(ctx)
		require.NoError(t, err)
		bad = l.Conn().conn
		role := bad.role
		// Someone is waiting when the broken connection comes back: it
		// must get a new connection, not the broken one, and not hang.
		got := make(chan *conn, 1)
		go func() {
			l, err := acquire(ctx)
			if assert.NoError(t, err) {
				got <- l.Conn().conn
				l.Release()
			}
		}()
		require.Eventually(t, func() bool { return h.Stats().Writer.Waiting+h.Stats().Readers.Waiting == 1 }, 5*time.Second, time.Millisecond)
		l.Release()
		c := <-got
		assert.NotSame(t, bad, c, "%s: the broken connection was handed out again", role)
		require.Eventually(t, func() bool { return roleStats(h, role).InUse == 0 }, 5*time.Second, time.Millisecond)
		st := roleStats(h, role)
		assert.Equal(t, uint64(1), st.Closed, role.String())
		assert.Equal(t, uint64(2), st.Created, role.String())
		assert.Equal(t, 1, st.Open, role.String())
	}
	require.NoError(t, h.Write(ctx, func(_ context.Context, c *Conn) error { return c.Exec("INSERT INTO t(v) VALUES (1)") }))
	assert.Equal(t, int64(1), readInt(t, h, "SELECT count(*) FROM t"))
}

func roleStats(h *Handle, r Role) RoleStats {
	if r == RoleWriter {
		return h.Stats().Writer
	}
	return h.Stats().Readers
}

func TestPanicWhileCleaningFreesTheSlot(t *testing.T) {
	h := openT(t, tempDB(t), createTable)
	h.p.testHookClean = func(*conn) error { panic("engine panic while cleaning") }
	l, err := h.Writer(context.Background())
	require.NoError(t, err)
	old := l.Conn()
	assert.PanicsWithValue(t, "engine panic while cleaning", l.Release)

	h.p.testHookClean = nil
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	l, err = h.Writer(ctx)
	require.NoError(t, err, "the writer's slot leaked")
	assert.NotSame(t, old, l.Conn(), "the connection that panicked is not reused")
	l.Release()
	st := h.Stats().Writer
	assert.Equal(t, uint64(2), st.Created)
	assert.Equal(t, uint64(1), st.Closed)
	assert.Equal(t, 1, st.Open)
}

func TestMemoryDatabaseSurvivesWriterReplacement(t *testing.T) {
	for _, name := range []string{":memory:", "file:/" + t.Name() + "?vfs=memdb"} {
		h := openT(t, name, createTable)
		ctx := context.Background()
		require.NoError(t, h.Write(ctx, func(_ context.Context, c *Conn) error { return c.Exec("INSERT INTO t(v) VALUES (1)") }))
		h.p.testHookClean = func(*conn) error { return errors.New("injected") }
		l, err := h.Writer(ctx)
		require.NoError(t, err)
		l.Release() // the only connection closes: no reader is open
		h.p.testHookClean = nil
		require.Equal(t, uint64(1), h.Stats().Writer.Closed)
		assert.Equal(t, int64(1), readInt(t, h, "SELECT count(*) FROM t"), name)
		require.NoError(t, h.Write(ctx, func(_ context.Context, c *Conn) error { return c.Exec("INSERT INTO t(v) VALUES (2)") }), name)
	}
}

func TestLeakedBlobIsNotReused(t *testing.T) {
	h := openT(t, tempDB(t), createTable, WithReaders(1))
	ctx := context.Background()
	require.NoError(t, h.Write(ctx, func(_ context.Context, c *Conn) error { return c.Exec("INSERT INTO t(id, v) VALUES (1, x'00')") }))
	l, err := h.Reader(ctx)
	require.NoError(t, err)
	leaked := l.Conn()
	blob, err := leaked.Raw().OpenBlob("main", "t", "v", 1, false) // left open
	require.NoError(t, err)
	// The engine refuses to close a connection with an open blob, so the
	// discarded connection stays open: the test closes both itself.
	defer func() {
		require.NoError(t, blob.Close())
		require.NoError(t, leaked.Raw().Close())
	}()
	l.Release()
	l, err = h.Reader(ctx)
	require.NoError(t, err)
	assert.NotSame(t, leaked, l.Conn(), "a connection holding a blob was reused")
	assert.Equal(t, sqlite3.TXN_NONE, l.Conn().Raw().TxnState("main"))
	l.Release()
	assert.Equal(t, uint64(1), h.Stats().Readers.Closed)
}
