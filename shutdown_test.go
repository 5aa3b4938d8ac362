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

// endless is a query that runs until interrupted.
const endless = "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i+1 FROM n) SELECT count(*) FROM n"

func TestCloseContextWithoutLeasesClosesAtOnce(t *testing.T) {
	path := tempDB(t)
	h, err := Open(path, createTable)
	require.NoError(t, err)
	require.NoError(t, h.Exec(context.Background(), "INSERT INTO t(v) VALUES (1)"))
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	require.NoError(t, h.CloseContext(ctx))
	assert.False(t, registered(t, path))
	assert.NoFileExists(t, path+"-wal", "the writer closed last and removed the WAL")
	assert.NoError(t, h.CloseContext(ctx), "a second close does nothing")
}

// TestCloseContextAlreadyDoneWithoutLeases closes with a context that has
// ended already while no lease is out: there is nothing to interrupt, so
// the close is a normal one, however select picks between the two ready
// cases it waits on.
func TestCloseContextAlreadyDoneWithoutLeases(t *testing.T) {
	path := tempDB(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	for i := range 50 {
		h, err := Open(path, createTable)
		require.NoError(t, err)
		require.NoError(t, h.Exec(context.Background(), "INSERT INTO t(v) VALUES (1)"))
		require.NoError(t, h.CloseContext(ctx), "close %d", i)
		assert.False(t, registered(t, path), "close %d left the entry", i)
		assert.NoFileExists(t, path+"-wal", "close %d: the writer closed last and removed the WAL", i)
	}
}

func TestCloseContextInterruptsARunningQuery(t *testing.T) {
	path := tempDB(t)
	h, err := Open(path, createTable)
	require.NoError(t, err)

	running := make(chan struct{})
	queryErr := make(chan error, 1)
	go func() {
		queryErr <- h.Read(context.Background(), func(_ context.Context, c *Conn) error {
			close(running)
			var n int64
			return c.QueryRow(endless).Scan(&n)
		})
	}()
	<-running

	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	start := time.Now()
	err = h.CloseContext(ctx)
	require.ErrorIs(t, err, ErrClosed)
	require.ErrorIs(t, err, context.DeadlineExceeded)
	assert.Contains(t, err.Error(), "1 lease still out (1 reader")

	select {
	case err := <-queryErr:
		require.ErrorIs(t, err, ErrClosed, "the query was interrupted by the close")
		require.ErrorIs(t, err, sqlite3.INTERRUPT)
		t.Logf("query stopped %v after CloseContext began", time.Since(start))
	case <-time.After(5 * time.Second):
		t.Fatal("the running query was not interrupted")
	}
	waitGone(t, path)
}

func TestCloseContextRollsBackAWriteStillOut(t *testing.T) {
	path := tempDB(t)
	h, err := Open(path, createTable)
	require.NoError(t, err)

	inside := make(chan struct{})
	proceed := make(chan struct{})
	writeErr := make(chan error, 1)
	go func() {
		writeErr <- h.Write(context.Background(), func(_ context.Context, c *Conn) error {
			if err := c.Exec("INSERT INTO t(v) VALUES ('before')"); err != nil {
				return err
			}
			close(inside)
			<-proceed
			return c.Exec("INSERT INTO t(v) VALUES ('after')")
		})
	}()
	<-inside

	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	require.ErrorIs(t, h.CloseContext(ctx), context.DeadlineExceeded)

	// The pool has not finished closing: a new Open waits for it.
	octx, ocancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer ocancel()
	_, err = OpenContext(octx, path, nil)
	require.ErrorIs(t, err, context.DeadlineExceeded, "an Open while the old writer is still out must wait")

	close(proceed)
	err = <-writeErr
	require.ErrorIs(t, err, ErrClosed)
	waitGone(t, path)

	h2 := openT(t, path, nil)
	assert.Zero(t, readInt(t, h2, "SELECT count(*) FROM t"), "nothing of the interrupted Write was committed")
}

// TestLeaseAfterForcedCloseFails checks a lease that is idle when the close
// gives up: its next statement fails, and Release still works.
func TestLeaseAfterForcedCloseFails(t *testing.T) {
	path := tempDB(t)
	h, err := Open(path, createTable)
	require.NoError(t, err)
	l, err := h.Reader(context.Background())
	require.NoError(t, err)
	c := l.Conn()

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	require.ErrorIs(t, h.CloseContext(ctx), context.Canceled)
	err = c.Exec("SELECT 1")
	require.ErrorIs(t, err, ErrClosed)
	assert.True(t, registered(t, path), "the pool is not closed while its lease is out")
	l.Release()
	waitGone(t, path)
}

// waitGone waits until the pool of path has left the registry.
func waitGone(t *testing.T, path string) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for registered(t, path) {
		if time.Now().After(deadline) {
			t.Fatal(errors.New("the pool did not finish closing"))
		}
		time.Sleep(time.Millisecond)
	}
}
