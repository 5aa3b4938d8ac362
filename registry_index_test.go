package sqlitepool

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// requireFileIDs skips a test of hard links where they are not matched.
func requireFileIDs(t testing.TB) {
	t.Helper()
	if !fileIDs {
		t.Skip("no file identities on this platform: hard links are not matched")
	}
}

// identityOf returns the identity of the file at path, skipping the test
// where the platform has none to match hard links by.
func identityOf(t testing.TB, path string) fileID {
	t.Helper()
	fi, err := os.Stat(path)
	require.NoError(t, err)
	requireFileIDs(t)
	id, ok := fileIdentity(fi)
	require.True(t, ok, "no identity for %s", path)
	return id
}

// filedAt returns the entry the registry's index holds for id, if any.
func filedAt(id fileID) *entry {
	reg.mu.Lock()
	defer reg.mu.Unlock()
	return reg.files[id]
}

// TestIndexLeavesNothingBehind: the index holds an open pool's file while
// a handle is open, through any of its names, and nothing once the last
// handle is closed, or once a creation failed: a later file given the same
// inode must not find a pool that is gone.
func TestIndexLeavesNothingBehind(t *testing.T) {
	t.Run("after-the-last-close", func(t *testing.T) {
		dir := t.TempDir()
		path := filepath.Join(dir, "app.db")
		link := filepath.Join(dir, "other-name.db")
		first, err := Open(path, createTable)
		require.NoError(t, err)
		id := identityOf(t, path)
		require.NoError(t, os.Link(path, link))
		second, err := Open(link, nil)
		require.NoError(t, err)
		e := filedAt(id)
		require.NotNil(t, e, "an open pool's file is in the index")
		assert.Equal(t, first.p, e.pool)

		require.NoError(t, first.Close())
		assert.Same(t, e, filedAt(id), "a handle is still open")
		require.NoError(t, second.Close())
		assert.Nil(t, filedAt(id), "the index keeps a closed pool")
	})
	t.Run("after-a-failed-creation", func(t *testing.T) {
		path := tempDB(t)
		h, err := Open(path, createTable) // makes the file, then leaves
		require.NoError(t, err)
		require.NoError(t, h.Close())
		id := identityOf(t, path)
		failed := errors.New("init fails")
		_, err = Open(path, func(ctx context.Context, c *Conn) error { return failed })
		require.ErrorIs(t, err, failed)
		assert.Nil(t, filedAt(id), "the index keeps a pool that failed to open")
	})
}

// TestLinkToAFileReplacedAwayDoesNotJoin: a pool's file is kept under a
// second name (a hard link), then replaced at the pool's name by another
// file, and the pool has not noticed yet. The index still files the pool
// under the old file, but an Open of the second name must not join it:
// the pool's name now reaches the new file, which the pool is about to
// reopen, and the second name the old one.
func TestLinkToAFileReplacedAwayDoesNotJoin(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "app.db")
	kept := filepath.Join(dir, "kept.db")
	first := openT(t, path, createTable)
	old := identityOf(t, path)
	require.NoError(t, os.Link(path, kept))
	moveAway(t, path, "replaced")

	second := openT(t, kept, nil)
	assert.NotSame(t, first.p, second.p, "joined the pool of the file now at another name")
	assert.Same(t, second.e, filedAt(old), "the index files the old file under the name that reaches it")
}

// TestLinkFindsAPoolThatSawItsFileReplaced: once a pool has seen its file
// replaced, the index files it under the file now at its name, before any
// connection reopens it: a link to that file, opened then, joins the pool
// that is about to reopen it instead of making a second pool on it.
func TestLinkFindsAPoolThatSawItsFileReplaced(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "app.db")
	link := filepath.Join(dir, "other-name.db")
	first := openT(t, path, createTable)
	identityOf(t, path)
	ctx := context.Background()
	moveAway(t, path, "replaced")
	require.ErrorIs(t, first.Exec(ctx, "INSERT INTO t(v) VALUES ('lost')"), ErrMoved)

	require.NoError(t, os.Link(path, link))
	second := openT(t, link, nil)
	assert.Same(t, first.p, second.p, "two pools, with two WALs, on one file")
	assert.Equal(t, int64(1), readInt(t, second, "SELECT count(*) FROM t WHERE v = 'new'"))
}

// BenchmarkFirstOpen measures the first Open of an existing database file
// that no pool has open yet, with few and with many other pools open: the
// registry matches hard links through its index, so the two should cost
// the same. Closing the new pool, and copying its file in place, are not
// timed.
func BenchmarkFirstOpen(b *testing.B) {
	dir := b.TempDir()
	template := filepath.Join(dir, "template.db")
	h, err := Open(template, createTable)
	require.NoError(b, err)
	require.NoError(b, h.Close())
	n := 0
	fresh := func() string {
		n++
		name := filepath.Join(dir, fmt.Sprintf("db-%d.db", n))
		copyFile(b, template, name)
		return name
	}
	var open []*Handle
	b.Cleanup(func() {
		for _, h := range open {
			h.Close()
		}
	})
	for _, pools := range []int{100, 2000} {
		for len(open) < pools {
			h, err := Open(fresh(), nil)
			require.NoError(b, err)
			open = append(open, h)
		}
		b.Run(fmt.Sprintf("pools=%d", pools), func(b *testing.B) {
			for b.Loop() {
				b.StopTimer()
				name := fresh()
				b.StartTimer()
				h, err := Open(name, nil)
				b.StopTimer()
				require.NoError(b, err)
				require.NoError(b, h.Close())
				os.Remove(name)
				b.StartTimer()
			}
		})
	}
}

func copyFile(t testing.TB, from, to string) {
	t.Helper()
	src, err := os.Open(from)
	require.NoError(t, err)
	defer src.Close()
	dst, err := os.Create(to)
	require.NoError(t, err)
	_, err = io.Copy(dst, src)
	require.NoError(t, err)
	require.NoError(t, dst.Close())
}
