package sqlitepool

import (
	"context"
	"log/slog"
	"runtime"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// dropLease takes a lease, runs sql on it if any, and drops it without
// Release. Not inlined: the lease must not outlive the call in a frame.
//
//go:noinline
func dropLease(t *testing.T, acquire func(context.Context) (*Lease, error), sql string) {
	t.Helper()
	l, err := acquire(context.Background())
	require.NoError(t, err)
	if sql != "" {
		require.NoError(t, l.Conn().Exec(sql))
	}
}

// dropLeaseKeepConn is dropLease returning the lease's connection.
//
//go:noinline
func dropLeaseKeepConn(t *testing.T, acquire func(context.Context) (*Lease, error)) *Conn {
	t.Helper()
	l, err := acquire(context.Background())
	require.NoError(t, err)
	return l.Conn()
}

// collectUntil runs the garbage collector until done reports true, failing
// the test if that takes more than a few seconds.
func collectUntil(t *testing.T, what string, done func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !done() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not seen after 10s of garbage collections", what)
		}
		runtime.GC()
	}
}

// openLeakT is openT whose closing gives up after a few seconds: a test of
// a lease never found must fail, not hang.
func openLeakT(t *testing.T, name string, opts ...Option) *Handle {
	t.Helper()
	h, err := Open(name, createTable, opts...)
	require.NoError(t, err)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		require.NoError(t, h.CloseContext(ctx))
	})
	return h
}

func leaked(h *Handle) func() bool {
	return func() bool { return h.Stats().LeakedLeases > 0 }
}

func TestDroppedWriterLeaseIsReportedAndRolledBack(t *testing.T) {
	var out logBuffer
	path := tempDB(t)
	h, err := Open(path, createTable, WithLogger(slog.New(slog.NewTextHandler(&out, nil))))
	require.NoError(t, err)

	dropLease(t, h.Writer, "BEGIN IMMEDIATE; INSERT INTO t(v) VALUES ('dropped')")
	collectUntil(t, "the dropped writer lease", leaked(h))

	st := h.Stats()
	assert.Equal(t, uint64(1), st.LeakedLeases)
	assert.Zero(t, st.Writer.InUse, "the writer's slot is free again")
	assert.Equal(t, uint64(1), st.Writer.Replaced.Broken, "the connection was closed, not reused")
	assert.Contains(t, out.String(), "lease dropped without Release")
	assert.Contains(t, out.String(), "leak_test.go:", "the log says where the lease was taken")

	assert.Zero(t, readInt(t, h, "SELECT count(*) FROM t"), "the dropped lease's transaction was rolled back")
	l, err := h.Writer(context.Background())
	require.NoError(t, err, "a new writer opens in the freed slot")
	require.NoError(t, l.Conn().Exec("INSERT INTO t(v) VALUES ('next')"))
	l.Release()

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	require.NoError(t, h.CloseContext(ctx))
	assert.Equal(t, uint64(1), h.Stats().LeakedLeases, "the final figures keep the count")
}

func TestDroppedReaderLeaseLetsCloseAndOpenFinish(t *testing.T) {
	path := tempDB(t)
	h, err := Open(path, createTable) // no logger: found all the same
	require.NoError(t, err)
	dropLease(t, h.Reader, "")

	closed := make(chan error, 1)
	go func() { closed <- h.Close() }()
	opened := make(chan error, 1)
	go func() {
		h2, err := Open(path, nil) // waits for the Close
		if err == nil {
			err = h2.Close()
		}
		opened <- err
	}()
	var closeErr error
	collectUntil(t, "the end of the Close waiting for a dropped reader lease", func() bool {
		select {
		case closeErr = <-closed:
			return true
		default:
			return false
		}
	})
	require.NoError(t, closeErr)
	require.NoError(t, <-opened)
	assert.Equal(t, uint64(1), h.Stats().LeakedLeases)
}

// TestConnOfDroppedLeaseKeepsIt: a program that keeps the Conn of a
// Lease it dropped can still use it (the Lease and its Conn are one
// object), so nothing is reported until both are gone; then the
// connection is closed and the kept Conn was the last thing in the way.
func TestConnOfDroppedLeaseKeepsIt(t *testing.T) {
	h := openLeakT(t, tempDB(t))
	kept := dropLeaseKeepConn(t, h.Writer)
	for range 3 {
		runtime.GC()
	}
	assert.Zero(t, h.Stats().LeakedLeases, "the Conn is still reachable")
	require.NoError(t, kept.Exec("INSERT INTO t(v) VALUES ('kept')"))
	physical := kept.conn
	kept = nil
	collectUntil(t, "the dropped lease once its Conn is gone too", leaked(h))
	l, err := h.Writer(context.Background())
	require.NoError(t, err)
	defer l.Release()
	assert.NotSame(t, physical, l.Conn().conn, "the dropped lease's connection was closed, not reused")
	runtime.KeepAlive(kept)
}

func TestHeldAndReleasedLeasesAreNotReported(t *testing.T) {
	h := openLeakT(t, tempDB(t))
	ctx := context.Background()
	held, err := h.Reader(ctx)
	require.NoError(t, err)
	released, err := h.Writer(ctx)
	require.NoError(t, err)
	released.Release()
	require.NoError(t, h.Read(ctx, func(_ context.Context, c *Conn) error { return nil }))
	for range 3 {
		runtime.GC()
	}
	assert.Zero(t, h.Stats().LeakedLeases)
	assert.Equal(t, 1, h.Stats().Readers.InUse)
	held.Release()
	runtime.KeepAlive(released)
}

func TestLeaseDroppedAfterAReleasedOneKeptIsFound(t *testing.T) {
	h := openLeakT(t, tempDB(t))
	// A released lease kept reachable must not keep the tracker of its
	// connection, which the next lease takes.
	released, err := h.Writer(context.Background())
	require.NoError(t, err)
	released.Release()
	dropLease(t, h.Writer, "")
	collectUntil(t, "the lease dropped after a released one", leaked(h))
	runtime.KeepAlive(released)
}

func TestCloseAndOpenErrorsSayWhichLeasesAreOut(t *testing.T) {
	var out logBuffer
	path := tempDB(t)
	h, err := Open(path, createTable, WithLogger(slog.New(slog.NewTextHandler(&out, nil))))
	require.NoError(t, err)
	ctx := context.Background()
	w, err := h.Writer(ctx)
	require.NoError(t, err)
	r, err := h.Reader(ctx)
	require.NoError(t, err)

	cctx, cancel := context.WithTimeout(ctx, 20*time.Millisecond)
	defer cancel()
	err = h.CloseContext(cctx)
	require.ErrorIs(t, err, ErrClosed)
	require.ErrorIs(t, err, context.DeadlineExceeded)
	assert.Contains(t, err.Error(), "2 leases still out (the writer and 1 reader: reader taken at ")
	assert.Contains(t, err.Error(), "writer taken at ")
	assert.Contains(t, err.Error(), "leak_test.go:")

	octx, ocancel := context.WithTimeout(ctx, 20*time.Millisecond)
	defer ocancel()
	_, err = OpenContext(octx, path, nil)
	require.ErrorIs(t, err, context.DeadlineExceeded)
	assert.Contains(t, err.Error(), "waiting for the previous pool of")
	assert.Contains(t, err.Error(), "2 leases still out (the writer and 1 reader: ")
	assert.Contains(t, err.Error(), "leak_test.go:")

	r.Release()
	w.Release()
	waitGone(t, path)
}

func TestCloseErrorWithoutLoggerSaysHowToSeeWhere(t *testing.T) {
	path := tempDB(t)
	h, err := Open(path, createTable)
	require.NoError(t, err)
	l, err := h.Writer(context.Background())
	require.NoError(t, err)

	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	err = h.CloseContext(ctx)
	require.ErrorIs(t, err, context.DeadlineExceeded)
	assert.Contains(t, err.Error(), "1 lease still out (the writer; run with WithLogger to see where they were taken)")
	l.Release()
	waitGone(t, path)
}

func TestCloseErrorNamesARunningExclusive(t *testing.T) {
	path := tempDB(t)
	h, err := Open(path, createTable, WithReaders(2))
	require.NoError(t, err)
	inside := make(chan struct{})
	proceed := make(chan struct{})
	done := make(chan error, 1)
	go func() {
		done <- h.Exclusive(context.Background(), func(context.Context, *Conn, []*Conn) error {
			close(inside)
			<-proceed
			return nil
		})
	}()
	<-inside

	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	err = h.CloseContext(ctx)
	require.ErrorIs(t, err, context.DeadlineExceeded)
	assert.Contains(t, err.Error(), "3 leases still out (an Exclusive section holds every connection")
	close(proceed)
	require.NoError(t, <-done)
	waitGone(t, path)
}

func TestCloseErrorListsNoCallerOfAReleasedLease(t *testing.T) {
	var out logBuffer
	path := tempDB(t)
	h, err := Open(path, createTable, WithLogger(slog.New(slog.NewTextHandler(&out, nil))))
	require.NoError(t, err)
	l, err := h.Writer(context.Background())
	require.NoError(t, err)
	l.Release()
	// The pool's own work (a checkpoint, an optimize) takes the writer
	// without a caller: the last lease's must not be listed for it.
	c, err := h.p.acquire(context.Background(), &h.p.writer)
	require.NoError(t, err)

	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	err = h.CloseContext(ctx)
	require.ErrorIs(t, err, context.DeadlineExceeded)
	assert.Contains(t, err.Error(), "1 lease still out (the writer)")
	assert.NotContains(t, err.Error(), "taken at")
	h.p.release(c)
	waitGone(t, path)
}
