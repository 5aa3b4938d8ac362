package sqlitepool

import (
	"context"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestHardLinkSharesThePool: a hard link is the same file under another
// path, so Open through it reaches the pool already open through the
// first name: one writer, init run once, the writes of each visible to the
// other.
func TestHardLinkSharesThePool(t *testing.T) {
	requireFileIDs(t)
	dir := t.TempDir()
	path := filepath.Join(dir, "app.db")
	link := filepath.Join(dir, "other-name.db")
	var inits atomic.Int32
	init := func(ctx context.Context, c *Conn) error {
		inits.Add(1)
		return createTable(ctx, c)
	}
	first := openT(t, path, init)
	require.NoError(t, os.Link(path, link))
	second := openT(t, link, init)
	assert.Same(t, first.p, second.p)
	assert.Equal(t, int32(1), inits.Load(), "init runs once")
	assert.Equal(t, 2, first.Stats().Handles)

	ctx := context.Background()
	require.NoError(t, second.Exec(ctx, "INSERT INTO t(id, v) VALUES (1, 'through the link')"))
	assert.Equal(t, int64(1), readInt(t, first, "SELECT count(*) FROM t WHERE id = 1"))
	assert.Equal(t, uint64(1), first.Stats().Writer.Created, "one writer")
}

// TestHardLinksRacingFirstOpensShareOnePool: the first Opens of an
// existing file through two names, at the same time, make one pool.
func TestHardLinksRacingFirstOpensShareOnePool(t *testing.T) {
	requireFileIDs(t)
	dir := t.TempDir()
	path := filepath.Join(dir, "app.db")
	link := filepath.Join(dir, "other-name.db")
	h, err := Open(path, createTable) // makes the file, then leaves
	require.NoError(t, err)
	require.NoError(t, h.Close())
	require.NoError(t, os.Link(path, link))

	var inits atomic.Int32
	init := func(ctx context.Context, c *Conn) error { inits.Add(1); return nil }
	const n = 40
	handles, errs := openAtOnce(n, func(i int) string { return []string{path, link}[i%2] }, init)
	for i := range n {
		require.NoError(t, errs[i])
		t.Cleanup(func() { require.NoError(t, handles[i].Close()) })
	}
	assert.Equal(t, int32(1), inits.Load(), "init runs once")
	for i := range n {
		assert.Same(t, handles[0].p, handles[i].p, "handle %d has another pool", i)
	}
}

// TestRenamedFileIsNotJoinedThroughItsNewName: a pool whose file was
// renamed away keeps serving its name (moved.go), so an Open of the new
// name must not reach it.
func TestRenamedFileIsNotJoinedThroughItsNewName(t *testing.T) {
	requireFileIDs(t)
	dir := t.TempDir()
	path := filepath.Join(dir, "app.db")
	renamed := filepath.Join(dir, "renamed.db")
	first, err := Open(path, createTable)
	require.NoError(t, err)
	require.NoError(t, os.Rename(path, renamed))
	second, err := Open(renamed, nil)
	require.NoError(t, err)
	assert.NotSame(t, first.p, second.p)
	require.NoError(t, second.Close())
	first.Close() // its file moved: its close may report that
}

// TestHardLinkToAReplacedFileSharesThePool: a pool whose file was
// replaced (renamed over) reopens the file now at its name (moved.go). A
// hard link to that new file must reach the pool, as a link to the first
// one did: the pool's name reaches the same file.
func TestHardLinkToAReplacedFileSharesThePool(t *testing.T) {
	requireFileIDs(t)
	dir := t.TempDir()
	path := filepath.Join(dir, "app.db")
	link := filepath.Join(dir, "other-name.db")
	first := openT(t, path, createTable)
	ctx := context.Background()
	require.NoError(t, first.Exec(ctx, "INSERT INTO t(v) VALUES ('old')"))
	moveAway(t, path, "replaced")
	require.ErrorIs(t, first.Exec(ctx, "INSERT INTO t(v) VALUES ('lost')"), ErrMoved)
	require.NoError(t, first.Exec(ctx, "INSERT INTO t(v) VALUES ('after')")) // the new file, reopened

	require.NoError(t, os.Link(path, link))
	second := openT(t, link, nil)
	assert.Same(t, first.p, second.p, "two pools, with two WALs, on one file")
}

// TestHardLinkDuringTheFirstOpenSharesThePool: the first Open of a name
// that did not exist creates the file, then runs init. A hard link made
// to it meanwhile, and opened before init ends, must wait for that pool,
// not make a second one on the same file.
func TestHardLinkDuringTheFirstOpenSharesThePool(t *testing.T) {
	requireFileIDs(t)
	dir := t.TempDir()
	path := filepath.Join(dir, "app.db")
	link := filepath.Join(dir, "other-name.db")
	type opened struct {
		h   *Handle
		err error
	}
	second := make(chan opened, 1)
	first := openT(t, path, func(ctx context.Context, c *Conn) error {
		if err := os.Link(path, link); err != nil {
			return err
		}
		go func() {
			h, err := Open(link, nil)
			second <- opened{h, err}
		}()
		time.Sleep(100 * time.Millisecond) // the link's Open reaches the registry
		return createTable(ctx, c)
	})
	o := <-second
	require.NoError(t, o.err)
	t.Cleanup(func() { require.NoError(t, o.h.Close()) })
	assert.Same(t, first.p, o.h.p, "two pools, with two WALs, on one file")
}
