package sqlitepool

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// openAtOnce runs n Opens at the same moment, the i-th of name(i).
func openAtOnce(n int, name func(i int) string, init InitFunc) ([]*Handle, []error) {
	handles := make([]*Handle, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range n {
		wg.Go(func() {
			<-start
			handles[i], errs[i] = Open(name(i), init)
		})
	}
	close(start)
	wg.Wait()
	return handles, errs
}

func TestOpenRacingRunsInitOnce(t *testing.T) {
	path := tempDB(t)
	var inits atomic.Int32
	init := func(ctx context.Context, c *Conn) error {
		inits.Add(1)
		time.Sleep(20 * time.Millisecond) // widen the window for racing Opens
		return createTable(ctx, c)
	}
	const n = 100
	handles, errs := openAtOnce(n, func(int) string { return path }, init)
	for i := range n {
		require.NoError(t, errs[i])
	}
	assert.Equal(t, int32(1), inits.Load(), "init runs once")
	st := handles[0].Stats()
	assert.Equal(t, n, st.Handles)
	assert.Equal(t, uint64(1), st.Writer.Created, "one writer")
	for i := range n {
		assert.Same(t, handles[0].p, handles[i].p, "handle %d has another pool", i)
	}
	for i := range n - 1 {
		require.NoError(t, handles[i].Close())
		require.True(t, registered(t, path), "pool gone after %d of %d closes", i+1, n)
	}
	require.NoError(t, handles[n-1].Close())
	assert.False(t, registered(t, path), "registry entry left after the last close")
}

func TestInitErrorReachesWaitersThenRetrySucceeds(t *testing.T) {
	path := tempDB(t)
	boom := errors.New("boom")
	release := make(chan struct{})
	var calls atomic.Int32
	failing := func(ctx context.Context, c *Conn) error {
		calls.Add(1)
		<-release
		return boom
	}
	const waiters = 10
	errs := make(chan error, waiters+1)
	go func() { _, err := Open(path, failing); errs <- err }()
	// Wait until the creator is inside init, then start the waiters.
	require.Eventually(t, func() bool { return calls.Load() == 1 }, 5*time.Second, time.Millisecond)
	for range waiters {
		go func() {
			h, err := Open(path, failing)
			if err == nil {
				h.Close()
			}
			errs <- err
		}()
	}
	time.Sleep(20 * time.Millisecond) // let the waiters queue on the entry
	close(release)
	for range waiters + 1 {
		err := <-errs
		require.ErrorIs(t, err, ErrInitFailed)
		require.ErrorIs(t, err, boom)
		assert.Contains(t, err.Error(), path)
	}
	assert.LessOrEqual(t, calls.Load(), int32(1+waiters))
	assert.False(t, registered(t, path), "a failed init leaves no entry")

	h := openT(t, path, createTable)
	require.NoError(t, h.Write(context.Background(), func(_ context.Context, c *Conn) error {
		return c.Exec("INSERT INTO t(v) VALUES (1)")
	}))
}

func TestInitPanicBecomesErrorAndClosesWriter(t *testing.T) {
	path := tempDB(t)
	base := openFDs(t)
	_, err := Open(path, func(ctx context.Context, c *Conn) error { panic("init exploded") })
	require.ErrorIs(t, err, ErrInitFailed)
	var pe *PanicError
	require.ErrorAs(t, err, &pe)
	assert.Equal(t, "init exploded", pe.Value)
	assert.NotEmpty(t, pe.Stack)
	assert.False(t, registered(t, path))
	assert.Equal(t, base, openFDs(t), "the writer opened for init is closed")

	h := openT(t, path, createTable)
	assert.Equal(t, uint64(1), h.Stats().Writer.Created)
}

func TestInitLeftOpenTransactionIsRolledBack(t *testing.T) {
	h := openT(t, tempDB(t), func(ctx context.Context, c *Conn) error {
		if err := createTable(ctx, c); err != nil {
			return err
		}
		return c.Exec("BEGIN; INSERT INTO t(v) VALUES ('uncommitted')")
	})
	assert.Equal(t, int64(0), readInt(t, h, "SELECT count(*) FROM t"))
	assert.Equal(t, uint64(1), h.Stats().Writer.RollbacksOnRelease)
}

func TestCreatorCancelledWaiterRetries(t *testing.T) {
	path := tempDB(t)
	ctx, cancel := context.WithCancel(context.Background())
	entered := make(chan struct{})
	slow := func(ctx context.Context, c *Conn) error {
		close(entered)
		<-ctx.Done()
		return ctx.Err()
	}
	creatorErr := make(chan error, 1)
	go func() { _, err := OpenContext(ctx, path, slow); creatorErr <- err }()
	<-entered
	waiter := make(chan *Handle, 1)
	go func() {
		h, err := Open(path, createTable)
		assert.NoError(t, err)
		waiter <- h
	}()
	time.Sleep(20 * time.Millisecond)
	cancel()
	require.ErrorIs(t, <-creatorErr, context.Canceled)
	h := <-waiter
	require.NotNil(t, h)
	defer h.Close()
	require.NoError(t, h.Write(context.Background(), func(_ context.Context, c *Conn) error {
		return c.Exec("INSERT INTO t(v) VALUES (1)") // the waiter's own init ran
	}))
}

func TestOpensOfDifferentDatabasesDoNotWait(t *testing.T) {
	dir := t.TempDir()
	entered, release := make(chan struct{}), make(chan struct{})
	done := make(chan error, 1)
	go func() {
		h, err := Open(filepath.Join(dir, "slow.db"), func(ctx context.Context, c *Conn) error {
			close(entered)
			<-release
			return nil
		})
		if err == nil {
			err = h.Close()
		}
		done <- err
	}()
	<-entered
	// slow.db is inside init; another database opens, is used and closes.
	h, err := Open(filepath.Join(dir, "fast.db"), createTable)
	require.NoError(t, err)
	require.NoError(t, h.Write(context.Background(), func(_ context.Context, c *Conn) error {
		return c.Exec("INSERT INTO t(v) VALUES (1)")
	}))
	require.NoError(t, h.Close())
	close(release)
	require.NoError(t, <-done)
}

func TestHandleCloseIsIdempotentAndPerHandle(t *testing.T) {
	path := tempDB(t)
	a, err := Open(path, createTable)
	require.NoError(t, err)
	b, err := Open(path, nil)
	require.NoError(t, err)
	require.Equal(t, 2, a.Stats().Handles)

	require.NoError(t, a.Close())
	require.NoError(t, a.Close(), "second Close is a no-op")
	require.NoError(t, a.Close())
	assert.Equal(t, 1, b.Stats().Handles, "a's repeated Close did not drop b's reference")
	assert.True(t, registered(t, path))

	// The closed handle refuses everything; the other still works.
	ctx := context.Background()
	_, err = a.Reader(ctx)
	assert.ErrorIs(t, err, ErrClosed)
	_, err = a.Writer(ctx)
	assert.ErrorIs(t, err, ErrClosed)
	assert.ErrorIs(t, a.Read(ctx, func(context.Context, *Conn) error { return nil }), ErrClosed)
	assert.ErrorIs(t, a.Write(ctx, func(context.Context, *Conn) error { return nil }), ErrClosed)
	require.NoError(t, b.Write(ctx, func(_ context.Context, c *Conn) error { return c.Exec("INSERT INTO t(v) VALUES (1)") }))

	require.NoError(t, b.Close())
	assert.False(t, registered(t, path))
	assert.ErrorIs(t, b.Read(ctx, func(context.Context, *Conn) error { return nil }), ErrClosed)
}

func TestLastCloseWaitsForLeases(t *testing.T) {
	path := tempDB(t)
	h, err := Open(path, createTable)
	require.NoError(t, err)
	ctx := context.Background()
	r, err := h.Reader(ctx)
	require.NoError(t, err)
	w, err := h.Writer(ctx)
	require.NoError(t, err)

	closed := make(chan error, 1)
	go func() { closed <- h.Close() }()
	select {
	case <-closed:
		t.Fatal("Close returned while leases were out")
	case <-time.After(50 * time.Millisecond):
	}
	// Leases still out keep working until released.
	require.NoError(t, w.Conn().Exec("INSERT INTO t(v) VALUES (1)"))
	assert.Equal(t, int64(1), queryInt(t, r.Conn(), "SELECT count(*) FROM t"))
	r.Release()
	select {
	case <-closed:
		t.Fatal("Close returned while the writer was out")
	case <-time.After(20 * time.Millisecond):
	}
	w.Release()
	require.NoError(t, <-closed)
	assert.False(t, registered(t, path))
	// The writer closed last, so SQLite checkpointed and removed the WAL.
	assert.NoFileExists(t, path+"-wal")
	assert.NoFileExists(t, path+"-shm")
}

func TestCloseFailsWaitersWithErrClosed(t *testing.T) {
	h, err := Open(tempDB(t), nil)
	require.NoError(t, err)
	other, err := Open(h.Name(), nil)
	require.NoError(t, err)
	w, err := h.Writer(context.Background())
	require.NoError(t, err)

	waitErr := make(chan error, 1)
	go func() {
		_, err := other.Writer(context.Background())
		waitErr <- err
	}()
	require.Eventually(t, func() bool { return h.Stats().Writer.Waiting == 1 }, 5*time.Second, time.Millisecond)
	// other's reference is dropped by another goroutine while it waits
	// (a misuse, but one the pool must survive).
	require.NoError(t, other.Close())
	closed := make(chan error, 1)
	go func() { closed <- h.Close() }()
	require.ErrorIs(t, <-waitErr, ErrClosed)
	w.Release()
	require.NoError(t, <-closed)
}

func TestOpenDuringLastCloseGetsFreshPoolAfterOldIsGone(t *testing.T) {
	path := tempDB(t)
	h, err := Open(path, createTable)
	require.NoError(t, err)
	w, err := h.Writer(context.Background())
	require.NoError(t, err)
	old := h.p

	closed := make(chan struct{})
	go func() { h.Close(); close(closed) }()
	require.Eventually(t, func() bool {
		old.mu.Lock()
		defer old.mu.Unlock()
		return old.closed
	}, 5*time.Second, time.Millisecond)

	opened := make(chan *Handle, 1)
	go func() {
		h2, err := Open(path, nil)
		assert.NoError(t, err)
		opened <- h2
	}()
	select {
	case <-opened:
		t.Fatal("Open returned a pool while the old one still had its writer")
	case <-time.After(50 * time.Millisecond):
	}
	w.Release()
	<-closed
	h2 := <-opened
	defer h2.Close()
	assert.NotSame(t, old, h2.p)
	assert.Equal(t, 1, h2.Stats().Handles)
}

func TestNamesOfOneFileShareOnePool(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "app.db")
	link := filepath.Join(dir, "link.db")
	require.NoError(t, os.Symlink(path, link))
	linkDir := filepath.Join(t.TempDir(), "dirlink")
	require.NoError(t, os.Symlink(dir, linkDir))
	t.Chdir(dir)

	first := openT(t, "app.db", createTable)
	for _, name := range []string{
		"./app.db",
		path,
		link,
		filepath.Join(linkDir, "app.db"),
		"file:app.db",
		"file:" + path,
		"file://" + path,
		"file://localhost" + path,
		filepath.Join(dir, "sub", "..", "app.db"),
	} {
		t.Run(name, func(t *testing.T) {
			h := openT(t, name, nil)
			assert.Same(t, first.p, h.p)
		})
	}
	assert.Equal(t, uint64(1), first.Stats().Writer.Created)
}

func TestSymlinkCreatedBeforeFileSharesPool(t *testing.T) {
	dir := t.TempDir()
	real := filepath.Join(dir, "real")
	require.NoError(t, os.Mkdir(real, 0o755))
	link := filepath.Join(dir, "link")
	require.NoError(t, os.Symlink(real, link))
	// The file does not exist yet: the key resolves the parent directory.
	a := openT(t, filepath.Join(link, "new.db"), createTable)
	b := openT(t, filepath.Join(real, "new.db"), nil)
	assert.Same(t, a.p, b.p)

	// "..": after a symlink it is the parent of the link's target, as the
	// OS reads it (here link -> dir/real, so link/.. is dir).
	sub := filepath.Join(real, "sub")
	require.NoError(t, os.Mkdir(sub, 0o755))
	subLink := filepath.Join(dir, "sublink")
	require.NoError(t, os.Symlink(sub, subLink))
	c := openT(t, subLink+string(filepath.Separator)+".."+string(filepath.Separator)+"new.db", nil)
	assert.Same(t, a.p, c.p, "sublink/../new.db is real/new.db")
}

func TestMemoryIsPrivatePerOpenAndSharedWithinPool(t *testing.T) {
	a := openT(t, ":memory:", createTable, WithReaders(3))
	b := openT(t, "file::memory:", createTable)
	assert.NotSame(t, a.p, b.p)
	ctx := context.Background()
	require.NoError(t, a.Write(ctx, func(_ context.Context, c *Conn) error { return c.Exec("INSERT INTO t(v) VALUES (1), (2)") }))

	// Every reader of a sees the writer's rows: hold three readers at once
	// so three distinct connections answer.
	var leases []*Lease
	for range 3 {
		l, err := a.Reader(ctx)
		require.NoError(t, err)
		leases = append(leases, l)
		assert.Equal(t, int64(2), queryInt(t, l.Conn(), "SELECT count(*) FROM t"))
	}
	for _, l := range leases {
		l.Release()
	}
	assert.Equal(t, 3, a.Stats().Readers.Open)
	assert.Equal(t, int64(0), readInt(t, b, "SELECT count(*) FROM t"), "b is another database")
}

func TestNamedMemdbIsSharedByName(t *testing.T) {
	name := "file:/" + t.Name() + "?vfs=memdb"
	a := openT(t, name, createTable)
	b := openT(t, name, nil)
	assert.Same(t, a.p, b.p)
	require.NoError(t, a.Write(context.Background(), func(_ context.Context, c *Conn) error { return c.Exec("INSERT INTO t(v) VALUES (1)") }))
	assert.Equal(t, int64(1), readInt(t, b, "SELECT count(*) FROM t"))
}

func TestFileDescriptorsBackToBaselineAfterLastClose(t *testing.T) {
	path := tempDB(t)
	base := openFDs(t)
	for range 3 {
		h, err := Open(path, createTable, WithReaders(4))
		require.NoError(t, err)
		h2, err := Open(path, nil)
		require.NoError(t, err)
		var leases []*Lease
		for range 4 {
			l, err := h2.Reader(context.Background())
			require.NoError(t, err)
			leases = append(leases, l)
		}
		for _, l := range leases {
			l.Release()
		}
		require.Greater(t, openFDs(t), base)
		require.NoError(t, h.Close())
		require.NoError(t, h2.Close())
		require.Equal(t, base, openFDs(t))
	}
}

func TestOpenContextBoundsSetupAndInit(t *testing.T) {
	t.Run("already-done", func(t *testing.T) {
		path := tempDB(t)
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		_, err := OpenContext(ctx, path, createTable)
		require.ErrorIs(t, err, context.Canceled)
		assert.NoFileExists(t, path)
	})
	t.Run("ends-during-setup", func(t *testing.T) {
		path := tempDB(t)
		ctx, cancel := context.WithCancel(context.Background())
		_, err := OpenContext(ctx, path, createTable, WithSetup(func(ctx context.Context, c *Conn, _ Role) error {
			cancel()
			// A statement of the hook is interrupted by the Open's ctx.
			return c.Exec("WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i+1 FROM n) SELECT count(*) FROM n")
		}))
		require.ErrorIs(t, err, context.Canceled)
		assert.False(t, registered(t, path))
		// The connection left no interrupt behind: a new Open works.
		h := openT(t, path, createTable)
		assert.Equal(t, int64(0), readInt(t, h, "SELECT count(*) FROM t"))
	})
}
