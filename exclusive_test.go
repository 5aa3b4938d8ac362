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

	"github.com/ncruces/go-sqlite3"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// waitFor fails the test unless cond becomes true soon.
func waitFor(t *testing.T, cond func() bool, msg string) {
	t.Helper()
	require.Eventually(t, cond, 5*time.Second, time.Millisecond, msg)
}

// requireIdle checks that the pool has no lease out and no one waiting.
func requireIdle(t *testing.T, h *Handle) {
	t.Helper()
	st := h.Stats()
	assert.Zero(t, st.Writer.InUse, "writer in use")
	assert.Zero(t, st.Readers.InUse, "readers in use")
	assert.Zero(t, st.Writer.Waiting, "writer waiting")
	assert.Zero(t, st.Readers.Waiting, "readers waiting")
	assert.Zero(t, st.Exclusive.Waiting, "Exclusive waiting")
	assert.False(t, st.Exclusive.Running, "Exclusive running")
}

func TestExclusiveWaitsForEveryLease(t *testing.T) {
	h := openT(t, tempDB(t), createTable, WithReaders(3))
	ctx := context.Background()
	w, err := h.Writer(ctx)
	require.NoError(t, err)
	r, err := h.Reader(ctx)
	require.NoError(t, err)

	var released atomic.Int32 // leases given back so far
	done := make(chan error)
	go func() {
		done <- h.Exclusive(ctx, func(_ context.Context, writer *Conn, readers []*Conn) error {
			assert.Equal(t, int32(2), released.Load(), "fn ran before every lease was back")
			st := h.Stats()
			assert.True(t, st.Exclusive.Running)
			assert.Equal(t, 1, st.Writer.InUse)
			assert.Equal(t, 3, st.Readers.InUse)
			return nil
		})
	}()
	waitFor(t, func() bool { return h.Stats().Exclusive.Waiting == 1 }, "Exclusive queued")

	released.Add(1)
	r.Release()
	require.Equal(t, 1, h.Stats().Exclusive.Waiting, "still waiting for the writer")
	released.Add(1)
	w.Release()
	require.NoError(t, <-done)

	st := h.Stats()
	assert.Equal(t, uint64(1), st.Exclusive.Sections)
	assert.Greater(t, st.Exclusive.WaitTime, time.Duration(0))
	requireIdle(t, h)
}

// TestExclusiveQueuesLaterAcquires checks the gate: acquires that come
// after a waiting Exclusive take nothing, not even an idle reader, until it
// is done, and everyone is served in arrival order, a second Exclusive
// included.
func TestExclusiveQueuesLaterAcquires(t *testing.T) {
	h := openT(t, tempDB(t), createTable, WithReaders(2))
	ctx := context.Background()
	// An idle reader, which the queued Reader must not take.
	require.NoError(t, h.Read(ctx, func(context.Context, *Conn) error { return nil }))
	held, err := h.Writer(ctx)
	require.NoError(t, err)

	var (
		mu  sync.Mutex
		log []string
		wg  sync.WaitGroup
	)
	record := func(s string) {
		mu.Lock()
		log = append(log, s)
		mu.Unlock()
	}
	inside, leave := make(chan struct{}), make(chan struct{})
	wg.Go(func() {
		assert.NoError(t, h.Exclusive(ctx, func(context.Context, *Conn, []*Conn) error {
			record("exclusive-1")
			close(inside)
			<-leave
			return nil
		}))
	})
	waitFor(t, func() bool { return h.Stats().Exclusive.Waiting == 1 }, "first Exclusive queued")

	// Queue, one at a time so that the arrival order is known: a writer, a
	// second Exclusive, a writer and a reader.
	wg.Go(func() {
		assert.NoError(t, h.Write(ctx, func(context.Context, *Conn) error { record("writer-1"); return nil }))
	})
	waitFor(t, func() bool { return h.Stats().Writer.Waiting == 1 }, "writer-1 queued")
	wg.Go(func() {
		assert.NoError(t, h.Exclusive(ctx, func(context.Context, *Conn, []*Conn) error { record("exclusive-2"); return nil }))
	})
	waitFor(t, func() bool { return h.Stats().Exclusive.Waiting == 2 }, "second Exclusive queued")
	wg.Go(func() {
		assert.NoError(t, h.Write(ctx, func(context.Context, *Conn) error { record("writer-2"); return nil }))
	})
	waitFor(t, func() bool { return h.Stats().Writer.Waiting == 2 }, "writer-2 queued")
	wg.Go(func() {
		assert.NoError(t, h.Read(ctx, func(context.Context, *Conn) error { record("reader"); return nil }))
	})
	waitFor(t, func() bool { return h.Stats().Readers.Waiting == 1 }, "reader queued")

	st := h.Stats()
	assert.Equal(t, 1, st.Readers.Idle, "the queued reader did not take the idle one")
	assert.Zero(t, st.Readers.InUse)

	held.Release()
	<-inside
	st = h.Stats()
	assert.True(t, st.Exclusive.Running)
	assert.Equal(t, 2, st.Writer.Waiting, "writers still queued while Exclusive runs")
	assert.Equal(t, 1, st.Readers.Waiting, "reader still queued while Exclusive runs")
	close(leave)
	wg.Wait()

	require.Len(t, log, 5)
	assert.Equal(t, []string{"exclusive-1", "writer-1", "exclusive-2"}, log[:3])
	assert.ElementsMatch(t, []string{"writer-2", "reader"}, log[3:])
	assert.Equal(t, uint64(2), h.Stats().Exclusive.Sections)
	requireIdle(t, h)
}

func TestExclusiveGetsWriterAndAllReaders(t *testing.T) {
	const readers = 3
	h := openT(t, tempDB(t), createTable, WithReaders(readers))
	ctx := context.Background()
	// One reader open already; Exclusive opens the other two.
	require.NoError(t, h.Read(ctx, func(context.Context, *Conn) error { return nil }))
	require.Equal(t, 1, h.Stats().Readers.Open)

	var got []*Conn
	require.NoError(t, h.Exclusive(ctx, func(_ context.Context, writer *Conn, rs []*Conn) error {
		assert.Equal(t, RoleWriter, writer.Role())
		got = append(got, writer)
		for _, r := range rs {
			assert.Equal(t, RoleReader, r.Role())
			got = append(got, r)
		}
		// The connections work: a write, seen by every reader.
		require.NoError(t, writer.Exec("INSERT INTO t(v) VALUES (1)"))
		for _, r := range rs {
			assert.Equal(t, int64(1), queryInt(t, r, "SELECT count(*) FROM t"))
		}
		rs[0] = nil // fn's slice is its own
		return nil
	}))
	require.Len(t, got, 1+readers)
	distinct := map[*Conn]bool{}
	for _, c := range got {
		distinct[c] = true
	}
	assert.Len(t, distinct, 1+readers, "all connections distinct")

	st := h.Stats()
	assert.Equal(t, readers, st.Readers.Open)
	assert.Equal(t, readers, st.Readers.Idle)
	assert.Equal(t, uint64(readers), st.Readers.Created)
	assert.Equal(t, 1, st.Writer.Idle)
	requireIdle(t, h)
}

func TestExclusiveVacuumAndTruncateCheckpoint(t *testing.T) {
	path := tempDB(t)
	// A short busy timeout: a checkpoint blocked by a reader fails fast.
	h := openT(t, path, createTable, WithReaders(2), WithBusyTimeout(100*time.Millisecond))
	ctx := context.Background()
	require.NoError(t, h.Write(ctx, func(_ context.Context, c *Conn) error {
		for i := range 500 {
			if err := c.Exec("INSERT INTO t(v) VALUES (randomblob(200) || ?)", i); err != nil {
				return err
			}
		}
		return c.Exec("DELETE FROM t WHERE id % 2 = 0")
	}))
	require.Equal(t, int64(250), readInt(t, h, "SELECT count(*) FROM t"))
	fi, err := os.Stat(path + "-wal")
	require.NoError(t, err)
	require.NotZero(t, fi.Size(), "the writes are in the WAL")

	// A reader on a snapshot would block the TRUNCATE checkpoint: Exclusive
	// waits for it.
	reading := make(chan struct{})
	go func() {
		assert.NoError(t, h.Read(ctx, func(_ context.Context, c *Conn) error {
			assert.Equal(t, int64(250), queryInt(t, c, "SELECT count(*) FROM t"))
			close(reading)
			waitFor(t, func() bool { return h.Stats().Exclusive.Waiting == 1 }, "Exclusive queued")
			return nil
		}))
	}()
	<-reading
	require.NoError(t, h.Exclusive(ctx, func(_ context.Context, writer *Conn, readers []*Conn) error {
		if err := writer.Exec("VACUUM"); err != nil {
			return err
		}
		assert.Zero(t, queryInt(t, writer, "PRAGMA freelist_count"), "VACUUM left free pages")
		// busy is the first column: 0 when the checkpoint completed.
		assert.Zero(t, queryInt(t, writer, "PRAGMA wal_checkpoint(TRUNCATE)"), "checkpoint blocked")
		fi, err := os.Stat(path + "-wal")
		if assert.NoError(t, err) {
			assert.Zero(t, fi.Size(), "TRUNCATE emptied the WAL")
		}
		for _, r := range readers {
			assert.Equal(t, int64(250), queryInt(t, r, "SELECT count(*) FROM t"))
		}
		return nil
	}))
	assert.Equal(t, int64(250), readInt(t, h, "SELECT count(*) FROM t"))
	requireIdle(t, h)
}

func TestExclusiveCancelledWait(t *testing.T) {
	h := openT(t, tempDB(t), createTable, WithReaders(2))
	ctx := context.Background()
	held, err := h.Writer(ctx)
	require.NoError(t, err)

	t.Run("deadline-at-the-head", func(t *testing.T) {
		short, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
		defer cancel()
		// A reader queued behind the Exclusive goes on once it gave up,
		// though the writer is still held.
		readerDone := make(chan error)
		go func() {
			waitFor(t, func() bool { return h.Stats().Exclusive.Waiting == 1 }, "Exclusive queued")
			readerDone <- h.Read(ctx, func(context.Context, *Conn) error { return nil })
		}()
		err := h.Exclusive(short, func(context.Context, *Conn, []*Conn) error {
			t.Error("fn ran")
			return nil
		})
		require.ErrorIs(t, err, context.DeadlineExceeded)
		require.NoError(t, <-readerDone)
	})
	t.Run("cancel-behind-another", func(t *testing.T) {
		first := make(chan error)
		go func() {
			first <- h.Exclusive(ctx, func(context.Context, *Conn, []*Conn) error { return nil })
		}()
		waitFor(t, func() bool { return h.Stats().Exclusive.Waiting == 1 }, "first Exclusive queued")
		second, cancel := context.WithCancel(ctx)
		go func() {
			waitFor(t, func() bool { return h.Stats().Exclusive.Waiting == 2 }, "second Exclusive queued")
			cancel()
		}()
		err := h.Exclusive(second, func(context.Context, *Conn, []*Conn) error {
			t.Error("fn ran")
			return nil
		})
		require.ErrorIs(t, err, context.Canceled)
		assert.Equal(t, 1, h.Stats().Exclusive.Waiting, "the first still waits")
		held.Release()
		require.NoError(t, <-first)
	})
	t.Run("acquire-timeout", func(t *testing.T) {
		h := openT(t, tempDB(t), nil, WithAcquireTimeout(30*time.Millisecond))
		l, err := h.Reader(ctx)
		require.NoError(t, err)
		defer l.Release()
		err = h.Exclusive(ctx, func(context.Context, *Conn, []*Conn) error { return nil })
		require.ErrorIs(t, err, ErrAcquireTimeout)
		require.ErrorIs(t, err, context.DeadlineExceeded)
	})

	requireIdle(t, h)
	require.NoError(t, h.Exclusive(ctx, func(context.Context, *Conn, []*Conn) error { return nil }), "later Exclusive works")
	require.NoError(t, h.Write(ctx, func(_ context.Context, c *Conn) error { return c.Exec("INSERT INTO t(v) VALUES (1)") }))
	assert.Equal(t, uint64(2), h.Stats().Exclusive.Sections)
	requireIdle(t, h)
}

func TestExclusivePanicReleasesAll(t *testing.T) {
	h := openT(t, tempDB(t), createTable, WithReaders(2))
	ctx := context.Background()
	require.PanicsWithValue(t, "boom", func() {
		h.Exclusive(ctx, func(_ context.Context, writer *Conn, readers []*Conn) error {
			require.NoError(t, writer.Exec("BEGIN IMMEDIATE; INSERT INTO t(v) VALUES (1)"))
			require.NoError(t, readers[0].Exec("BEGIN; SELECT count(*) FROM t"))
			panic("boom")
		})
	})
	requireIdle(t, h)
	st := h.Stats()
	assert.Equal(t, uint64(1), st.Writer.RollbacksOnRelease, "the writer's transaction rolled back")
	assert.Equal(t, int64(0), readInt(t, h, "SELECT count(*) FROM t"))
	require.NoError(t, h.Exclusive(ctx, func(context.Context, *Conn, []*Conn) error { return nil }))
	requireIdle(t, h)
}

func TestExclusiveFailedOpenGivesBackEverything(t *testing.T) {
	var fail atomic.Bool
	setup := func(ctx context.Context, c *Conn, role Role) error {
		if role == RoleReader && fail.Load() {
			return errors.New("no reader today")
		}
		return nil
	}
	h := openT(t, tempDB(t), createTable, WithReaders(3), WithSetup(setup))
	ctx := context.Background()
	require.NoError(t, h.Read(ctx, func(context.Context, *Conn) error { return nil }))
	fail.Store(true)
	err := h.Exclusive(ctx, func(context.Context, *Conn, []*Conn) error {
		t.Error("fn ran")
		return nil
	})
	require.ErrorContains(t, err, "no reader today")
	requireIdle(t, h)
	st := h.Stats().Readers
	assert.Equal(t, 1, st.Open, "the slots of unopened readers are free")
	assert.Equal(t, 1, st.Idle)

	fail.Store(false)
	require.NoError(t, h.Exclusive(ctx, func(_ context.Context, _ *Conn, readers []*Conn) error {
		assert.Len(t, readers, 3)
		return nil
	}))
	requireIdle(t, h)
}

func TestExclusiveFailsOnClose(t *testing.T) {
	h, err := Open(tempDB(t), createTable)
	require.NoError(t, err)
	ctx := context.Background()
	held, err := h.Writer(ctx)
	require.NoError(t, err)
	excl, reader := make(chan error), make(chan error)
	go func() { excl <- h.Exclusive(ctx, func(context.Context, *Conn, []*Conn) error { return nil }) }()
	waitFor(t, func() bool { return h.Stats().Exclusive.Waiting == 1 }, "Exclusive queued")
	go func() { reader <- h.Read(ctx, func(context.Context, *Conn) error { return nil }) }()
	waitFor(t, func() bool { return h.Stats().Readers.Waiting == 1 }, "reader queued")

	closed := make(chan error)
	go func() { closed <- h.Close() }()
	require.ErrorIs(t, <-excl, ErrClosed)
	require.ErrorIs(t, <-reader, ErrClosed)
	held.Release()
	require.NoError(t, <-closed)
	require.ErrorIs(t, h.Exclusive(ctx, func(context.Context, *Conn, []*Conn) error { return nil }), ErrClosed)
}

// TestExclusiveStress races Exclusive calls against leases, with contexts
// that end at random points of their waits, and then checks that no slot
// leaked.
func TestExclusiveStress(t *testing.T) {
	h := openT(t, tempDB(t), createTable, WithReaders(3))
	deadline := time.Now().Add(stressDuration(t))
	var sections, inside atomic.Int64
	var wg sync.WaitGroup
	for g := range 6 {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(g), 2))
			for time.Now().Before(deadline) {
				ctx, cancel := context.WithTimeout(context.Background(), time.Duration(rng.IntN(2000))*time.Microsecond)
				var err error
				switch rng.IntN(4) {
				case 0:
					err = h.Exclusive(ctx, func(_ context.Context, writer *Conn, readers []*Conn) error {
						if n := inside.Add(1); n != 1 {
							t.Errorf("%d goroutines inside Exclusive", n)
						}
						defer inside.Add(-1)
						sections.Add(1)
						return writer.Exec("PRAGMA wal_checkpoint(PASSIVE)")
					})
				case 1:
					err = h.Write(ctx, func(_ context.Context, c *Conn) error {
						if inside.Load() != 0 {
							t.Error("a Write ran during Exclusive")
						}
						return c.Exec("INSERT INTO t(v) VALUES (?)", g)
					})
				default:
					err = h.Read(ctx, func(_ context.Context, c *Conn) error {
						if inside.Load() != 0 {
							t.Error("a Read ran during Exclusive")
						}
						return nil
					})
				}
				cancel()
				// A connection whose set-up the deadline interrupted fails
				// with the engine's INTERRUPT alone: openConn clears the
				// interrupt before wrapping the error.
				if err != nil && !errors.Is(err, context.DeadlineExceeded) && !errors.Is(err, sqlite3.INTERRUPT) {
					t.Error(err)
				}
			}
		})
	}
	wg.Wait()
	requireIdle(t, h)
	assert.NotZero(t, sections.Load(), "some Exclusive ran")
	require.NoError(t, h.Exclusive(context.Background(), func(_ context.Context, _ *Conn, readers []*Conn) error {
		assert.Len(t, readers, 3)
		return nil
	}))
	requireIdle(t, h)
}

func TestReentrantWriterLease(t *testing.T) {
	h := openT(t, tempDB(t), createTable)
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	l, err := h.Writer(ctx)
	require.NoError(t, err)
	lctx := l.Context()
	assert.Same(t, lctx, l.Conn().Context(), "one context per lease")
	_, err = h.Writer(lctx)
	require.ErrorIs(t, err, ErrReentrant)

	// The mark ends with the lease: the same context may lease again.
	l.Release()
	l2, err := h.Writer(lctx)
	require.NoError(t, err)
	l2.Release()
	assert.Equal(t, context.Background(), l.Context(), "no context after release")
	requireIdle(t, h)
}

func TestReentrantExclusive(t *testing.T) {
	h := openT(t, tempDB(t), createTable, WithReaders(2))
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	t.Run("inside-read", func(t *testing.T) {
		require.NoError(t, h.Read(ctx, func(_ context.Context, c *Conn) error {
			err := h.Exclusive(c.Context(), func(context.Context, *Conn, []*Conn) error { return nil })
			require.ErrorIs(t, err, ErrReentrant)
			return nil
		}))
	})
	t.Run("inside-exclusive", func(t *testing.T) {
		require.NoError(t, h.Exclusive(ctx, func(_ context.Context, writer *Conn, readers []*Conn) error {
			for _, c := range append([]*Conn{writer}, readers...) {
				_, err := h.Reader(c.Context())
				require.ErrorIs(t, err, ErrReentrant)
				_, err = h.Writer(c.Context())
				require.ErrorIs(t, err, ErrReentrant)
				err = h.Exclusive(c.Context(), func(context.Context, *Conn, []*Conn) error { return nil })
				require.ErrorIs(t, err, ErrReentrant)
			}
			return nil
		}))
	})
	requireIdle(t, h)
}

func TestReentrantNestedLeases(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	t.Run("reader-lease-inside-write", func(t *testing.T) {
		h := openT(t, tempDB(t), createTable, WithReaders(1))
		require.NoError(t, h.Write(ctx, func(ctx context.Context, c *Conn) error {
			require.NoError(t, c.Exec("INSERT INTO t(v) VALUES (1)"))
			l, err := h.Reader(ctx)
			require.NoError(t, err)
			defer l.Release()
			r := l.Conn()
			assert.Zero(t, queryInt(t, r, "SELECT count(*) FROM t"), "the reader does not see the uncommitted row")
			// The chain remembers the writer...
			_, err = h.Writer(r.Context())
			require.ErrorIs(t, err, ErrReentrant)
			// ...and that the only reader is taken.
			_, err = h.Reader(r.Context())
			require.ErrorIs(t, err, ErrReentrant)
			return nil
		}))
		requireIdle(t, h)
	})
	t.Run("readers-up-to-max", func(t *testing.T) {
		h := openT(t, tempDB(t), createTable, WithReaders(2))
		l1, err := h.Reader(ctx)
		require.NoError(t, err)
		defer l1.Release()
		l2, err := h.Reader(l1.Context())
		require.NoError(t, err)
		defer l2.Release()
		_, err = h.Reader(l2.Context())
		require.ErrorIs(t, err, ErrReentrant)
	})
	t.Run("other-pool", func(t *testing.T) {
		h1 := openT(t, tempDB(t), createTable)
		h2 := openT(t, tempDB(t), createTable)
		require.NoError(t, h1.Write(ctx, func(_ context.Context, c *Conn) error {
			return h2.Write(c.Context(), func(_ context.Context, c *Conn) error { return c.Exec("INSERT INTO t(v) VALUES (1)") })
		}))
		assert.Equal(t, int64(1), readInt(t, h2, "SELECT count(*) FROM t"))
	})
}

// TestNestedLeasePassesPendingExclusive: a Read waits for a writer while an
// Exclusive waits for that Read. With the Read's context the writer is
// served (the Exclusive waits for the Read anyway); without it, both would
// wait forever.
func TestNestedLeasePassesPendingExclusive(t *testing.T) {
	h := openT(t, tempDB(t), createTable, WithReaders(2))
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	excl := make(chan error)
	require.NoError(t, h.Read(ctx, func(_ context.Context, r *Conn) error {
		go func() { excl <- h.Exclusive(ctx, func(context.Context, *Conn, []*Conn) error { return nil }) }()
		waitFor(t, func() bool { return h.Stats().Exclusive.Waiting == 1 }, "Exclusive queued")

		// A plain context waits behind the Exclusive.
		short, cancel := context.WithTimeout(ctx, 30*time.Millisecond)
		defer cancel()
		_, err := h.Writer(short)
		require.ErrorIs(t, err, context.DeadlineExceeded)

		return h.Write(r.Context(), func(_ context.Context, c *Conn) error { return c.Exec("INSERT INTO t(v) VALUES (1)") })
	}))
	require.NoError(t, <-excl)
	assert.Equal(t, int64(1), readInt(t, h, "SELECT count(*) FROM t"))
	requireIdle(t, h)
}

func TestConnContextOutsideLease(t *testing.T) {
	var got context.Context
	h := openT(t, tempDB(t), func(ctx context.Context, c *Conn) error {
		got = c.Context()
		return nil
	})
	assert.Equal(t, context.Background(), got, "init is no lease")
	type key struct{}
	ctx := context.WithValue(context.Background(), key{}, "v")
	require.NoError(t, h.Read(ctx, func(_ context.Context, c *Conn) error {
		assert.Equal(t, "v", c.Context().Value(key{}), "the lease's context carries the caller's values")
		return nil
	}))
}
