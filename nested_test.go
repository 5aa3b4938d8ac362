package sqlitepool

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/ncruces/go-sqlite3"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// insertV is a helper written the natural way: it knows nothing of the
// transaction it may run in.
func insertV(ctx context.Context, h *Handle, v any) error {
	return h.Exec(ctx, "INSERT INTO t(v) VALUES (?)", v)
}

// boundedCtx fails a test that would otherwise hang.
func boundedCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func TestNestedCallsInsideWriteRunInItsTransaction(t *testing.T) {
	h := openT(t, tempDB(t), createTable)
	base := boundedCtx(t)
	err := h.Write(base, func(ctx context.Context, w *Conn) error {
		require.NoError(t, insertV(ctx, h, 1), "Exec with fn's context is served on the writer held")
		var n int
		require.NoError(t, h.QueryRow(ctx, "SELECT count(*) FROM t").Scan(&n))
		assert.Equal(t, 1, n, "QueryRow sees the transaction's own write")
		rows := 0
		for _, err := range h.Query(ctx, "SELECT v FROM t") {
			require.NoError(t, err)
			rows++
		}
		assert.Equal(t, 1, rows, "Query sees the transaction's own write")
		require.NoError(t, h.Read(ctx, func(ctx context.Context, r *Conn) error {
			assert.Same(t, w, r)
			assert.Equal(t, int64(1), queryInt(t, r, "SELECT count(*) FROM t"))
			return insertV(ctx, h, 2) // a write inside the nested Read: the same transaction
		}))
		st := h.Stats()
		assert.Equal(t, 1, st.Writer.InUse)
		assert.Zero(t, st.Writer.Waiting)
		assert.Zero(t, st.Readers.InUse, "nothing nested took a reader")
		return nil
	})
	require.NoError(t, err)
	assert.Equal(t, int64(2), readInt(t, h, "SELECT count(*) FROM t"))
	requireIdle(t, h)
}

func TestNestedWriteIsASavepoint(t *testing.T) {
	h := openT(t, tempDB(t), createTable)
	base := boundedCtx(t)
	errNo := errors.New("no")
	require.NoError(t, h.Write(base, func(ctx context.Context, c *Conn) error {
		require.NoError(t, insertV(ctx, h, "outer"))
		err := h.Write(ctx, func(ctx context.Context, c *Conn) error {
			require.NoError(t, insertV(ctx, h, "undone"))
			return errNo
		})
		require.ErrorIs(t, err, errNo)
		return h.Write(ctx, func(ctx context.Context, c *Conn) error { return insertV(ctx, h, "kept") })
	}))
	assert.Equal(t, int64(1), readInt(t, h, "SELECT count(*) FROM t WHERE v = 'outer'"))
	assert.Equal(t, int64(0), readInt(t, h, "SELECT count(*) FROM t WHERE v = 'undone'"), "the failed savepoint rolled back")
	assert.Equal(t, int64(1), readInt(t, h, "SELECT count(*) FROM t WHERE v = 'kept'"))

	// The outer Write rolls back: so does everything nested.
	err := h.Write(base, func(ctx context.Context, c *Conn) error {
		require.NoError(t, h.Write(ctx, func(ctx context.Context, c *Conn) error { return insertV(ctx, h, "nested") }))
		require.NoError(t, insertV(ctx, h, "nested"))
		return errNo
	})
	require.ErrorIs(t, err, errNo)
	assert.Equal(t, int64(0), readInt(t, h, "SELECT count(*) FROM t WHERE v = 'nested'"))
	requireIdle(t, h)
}

func TestNestedReadSharesTheSnapshot(t *testing.T) {
	h := openT(t, tempDB(t), createTable, WithReaders(2))
	base := boundedCtx(t)
	require.NoError(t, insertV(base, h, 1))
	require.NoError(t, h.Read(base, func(ctx context.Context, r *Conn) error {
		require.NoError(t, insertV(ctx, h, 2), "a write inside Read takes the writer")
		var n int
		require.NoError(t, h.QueryRow(ctx, "SELECT count(*) FROM t").Scan(&n))
		assert.Equal(t, 1, n, "QueryRow with fn's context reads the held snapshot")
		assert.Equal(t, 1, h.Stats().Readers.InUse, "no second reader")
		return h.Read(ctx, func(ctx context.Context, inner *Conn) error {
			assert.Same(t, r, inner)
			assert.Equal(t, int64(1), queryInt(t, inner, "SELECT count(*) FROM t"))
			return nil
		})
	}))
	assert.Equal(t, int64(2), readInt(t, h, "SELECT count(*) FROM t"))
	requireIdle(t, h)
}

func TestNestedCallsInsideExclusiveUseItsConnections(t *testing.T) {
	h := openT(t, tempDB(t), createTable, WithReaders(2))
	base := boundedCtx(t)
	require.ErrorIs(t, h.Exclusive(base, func(ctx context.Context, w *Conn, readers []*Conn) error {
		require.NoError(t, insertV(ctx, h, 1))
		require.NoError(t, h.Write(ctx, func(ctx context.Context, c *Conn) error {
			assert.Same(t, w, c)
			return insertV(ctx, h, 2)
		}))
		require.NoError(t, h.Read(readers[0].Context(), func(ctx context.Context, c *Conn) error {
			assert.Same(t, readers[0], c)
			assert.Equal(t, int64(2), queryInt(t, c, "SELECT count(*) FROM t"))
			return insertV(ctx, h, 3) // a write with a reader's context: the section's writer
		}))
		var n int
		require.NoError(t, h.QueryRow(ctx, "SELECT count(*) FROM t").Scan(&n))
		assert.Equal(t, 3, n)
		// Leases cannot be served: they would outlive fn.
		_, err := h.Writer(ctx)
		require.ErrorIs(t, err, ErrReentrant)
		_, err = h.Reader(ctx)
		require.ErrorIs(t, err, ErrReentrant)
		return h.Exclusive(ctx, func(context.Context, *Conn, []*Conn) error { return nil })
	}), ErrReentrant)
	requireIdle(t, h)
}

// TestNestedCallsWithALeaseContext: a Lease's Context serves nested calls
// too; a Write on a Writer lease outside a transaction is a transaction of
// its own.
func TestNestedCallsWithALeaseContext(t *testing.T) {
	h := openT(t, tempDB(t), createTable)
	base := boundedCtx(t)
	l, err := h.Writer(base)
	require.NoError(t, err)
	require.NoError(t, insertV(l.Context(), h, 1))
	require.NoError(t, l.Conn().Exec("BEGIN IMMEDIATE"))
	require.NoError(t, insertV(l.Context(), h, 2))
	l.Release() // rolls back the open transaction
	assert.Equal(t, int64(1), readInt(t, h, "SELECT count(*) FROM t"))
	// The mark ends with the lease: the same context now waits its turn
	// like any other, and gets the writer.
	require.NoError(t, insertV(l.Context(), h, 3))
	requireIdle(t, h)
}

// TestNestedCallHonoursADerivedDeadline: a context derived from fn's, with
// a deadline of its own, is still served on the connection held, and its
// deadline interrupts the nested statements only.
func TestNestedCallHonoursADerivedDeadline(t *testing.T) {
	h := openT(t, tempDB(t), createTable)
	base := boundedCtx(t)
	require.NoError(t, h.Write(base, func(ctx context.Context, c *Conn) error {
		short, cancel := context.WithTimeout(ctx, 20*time.Millisecond)
		defer cancel()
		err := h.Exec(short, "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i+1 FROM n) SELECT count(*) FROM n")
		require.ErrorIs(t, err, context.DeadlineExceeded)
		assert.Zero(t, h.Stats().Writer.Waiting, "served on the writer held, not waiting for it")
		// The outer lease goes on.
		return insertV(ctx, h, 1)
	}))
	assert.Equal(t, int64(1), readInt(t, h, "SELECT count(*) FROM t"))
}

// TestInterruptedStepMatchesTheContext: a statement stepped by hand inside
// fn and cut by the lease's context returns the engine's INTERRUPT alone;
// Read, Write and Exclusive make it match the context's error too.
func TestInterruptedStepMatchesTheContext(t *testing.T) {
	h := openT(t, tempDB(t), createTable)
	const endless = "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i+1 FROM n) SELECT i FROM n"
	step := func(c *Conn) error {
		s, err := c.Prep(endless)
		if err != nil {
			return err
		}
		for s.Step() {
		}
		return s.Err()
	}
	calls := map[string]func(ctx context.Context) error{
		"Read": func(ctx context.Context) error {
			return h.Read(ctx, func(_ context.Context, c *Conn) error { return step(c) })
		},
		"Write": func(ctx context.Context) error {
			return h.Write(ctx, func(_ context.Context, c *Conn) error { return step(c) })
		},
		"Exclusive": func(ctx context.Context) error {
			return h.Exclusive(ctx, func(_ context.Context, w *Conn, _ []*Conn) error { return step(w) })
		},
		"nested-Read": func(ctx context.Context) error {
			return h.Write(context.Background(), func(wctx context.Context, _ *Conn) error {
				nctx, cancel := context.WithDeadline(wctx, deadlineOf(ctx))
				defer cancel()
				return h.Read(nctx, func(_ context.Context, c *Conn) error { return step(c) })
			})
		},
	}
	for name, call := range calls {
		t.Run(name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Millisecond)
			defer cancel()
			err := call(ctx)
			require.ErrorIs(t, err, sqlite3.INTERRUPT)
			require.ErrorIs(t, err, context.DeadlineExceeded)
		})
	}
	requireIdle(t, h)
}

func deadlineOf(ctx context.Context) time.Time {
	d, _ := ctx.Deadline()
	return d
}

// TestConnUsedAfterItsLeaseRunsNothing: a Conn kept past fn, or past
// Release, fails every method with ErrLeaseEnded, even while another
// lease holds the same connection.
func TestConnUsedAfterItsLeaseRunsNothing(t *testing.T) {
	h := openT(t, tempDB(t), createTable, WithReaders(1))
	ctx := boundedCtx(t)
	var kept *Conn
	require.NoError(t, h.Write(ctx, func(_ context.Context, c *Conn) error {
		kept = c
		return nil
	}))
	l, err := h.Reader(ctx)
	require.NoError(t, err)
	keptLease := l.Conn()
	l.Release()

	// Another goroutine's lease holds the writer (the same connection).
	now, err := h.Writer(ctx)
	require.NoError(t, err)
	defer now.Release()
	require.Same(t, kept.conn, now.Conn().conn)

	for name, c := range map[string]*Conn{"kept-from-fn": kept, "kept-past-Release": keptLease} {
		t.Run(name, func(t *testing.T) {
			require.ErrorIs(t, c.Exec("INSERT INTO t(v) VALUES ('leaked')"), ErrLeaseEnded)
			_, err := c.Prep("SELECT 1")
			require.ErrorIs(t, err, ErrLeaseEnded)
			var n int
			require.ErrorIs(t, c.QueryRow("SELECT 1").Scan(&n), ErrLeaseEnded)
			for _, err := range c.Query("SELECT 1") {
				require.ErrorIs(t, err, ErrLeaseEnded)
			}
			_, err = c.Begin()
			require.ErrorIs(t, err, ErrLeaseEnded)
			require.ErrorIs(t, c.Savepoint(func(*Conn) error { return nil }), ErrLeaseEnded)
			assert.Nil(t, c.Raw())
			assert.Zero(t, c.LastInsertRowID())
			assert.Zero(t, c.Changes())
		})
	}
	// A Row and a Tx made during the lease are refused after it too.
	var row *Row
	var tx Tx
	require.NoError(t, func() error {
		l, err := h.Reader(ctx)
		if err != nil {
			return err
		}
		defer l.Release()
		row = l.Conn().QueryRow("SELECT 1")
		tx, err = l.Conn().Begin()
		return err
	}())
	var n int
	require.ErrorIs(t, row.Scan(&n), ErrLeaseEnded)
	var txErr error
	tx.End(&txErr)
	require.ErrorIs(t, txErr, ErrLeaseEnded)

	// The lease's context no longer counts as holding it either: a Write
	// made with it waits its turn instead of running on now's connection.
	short, cancel := context.WithTimeout(kept.Context(), 30*time.Millisecond)
	defer cancel()
	require.ErrorIs(t, insertV(short, h, "leaked"), context.DeadlineExceeded)
	now.Release()
	assert.Equal(t, int64(0), readInt(t, h, "SELECT count(*) FROM t"))
}

// TestInitConnEndsWithInit: the Conn an InitFunc gets is refused after
// init returns.
func TestInitConnEndsWithInit(t *testing.T) {
	var kept *Conn
	openT(t, tempDB(t), func(ctx context.Context, c *Conn) error {
		kept = c
		return createTable(ctx, c)
	})
	require.ErrorIs(t, kept.Exec("INSERT INTO t(v) VALUES (1)"), ErrLeaseEnded)
}

// TestReadAllocatesNothing: a Conn of its own for each lease, yet no
// allocation per Read (nextLent).
func TestReadAllocatesNothing(t *testing.T) {
	h := openT(t, tempDB(t), createTable)
	ctx := context.Background()
	fn := func(context.Context, *Conn) error { return nil }
	allocs := testing.AllocsPerRun(lentBatch*10, func() {
		if err := h.Read(ctx, fn); err != nil {
			t.Fatal(err)
		}
	})
	assert.Zero(t, allocs)
}
