package sqlitepool

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/ncruces/go-sqlite3"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// moveAway deletes, renames or replaces the database file at path, as
// another program might while the pool has it open. A replacement is a
// database of its own with one row 'new' in a table t like createTable's.
func moveAway(t *testing.T, path, how string) {
	t.Helper()
	switch how {
	case "deleted":
		require.NoError(t, os.Remove(path))
	case "renamed":
		require.NoError(t, os.Rename(path, path+".bak"))
	case "replaced":
		other := filepath.Join(filepath.Dir(path), "other.db")
		raw, err := sqlite3.Open(other)
		require.NoError(t, err)
		require.NoError(t, raw.Exec("CREATE TABLE t(id INTEGER PRIMARY KEY, v); INSERT INTO t(v) VALUES ('new')"))
		require.NoError(t, raw.Close())
		require.NoError(t, os.Rename(other, path))
	}
}

// rawCount counts rows of a database file through a connection of its own.
func rawCount(t *testing.T, path, where string) int64 {
	t.Helper()
	raw, err := sqlite3.Open("file:" + path + "?mode=ro")
	require.NoError(t, err)
	defer raw.Close()
	stmt, _, err := raw.Prepare("SELECT count(*) FROM t WHERE " + where)
	require.NoError(t, err)
	defer stmt.Close()
	require.True(t, stmt.Step(), stmt.Err())
	return stmt.ColumnInt64(0)
}

// checkAfterMove checks what the pool serves once it has seen the file
// move: the new file if there is one, a clear error otherwise, and never a
// file of its own making.
func checkAfterMove(t *testing.T, h *Handle, path, how string) {
	t.Helper()
	ctx := context.Background()
	if how != "replaced" {
		err := h.Exec(ctx, "INSERT INTO t(v) VALUES ('nowhere')")
		require.ErrorIs(t, err, ErrMoved)
		assert.Contains(t, err.Error(), "no longer exists")
		require.ErrorIs(t, h.Read(ctx, func(context.Context, *Conn) error { return nil }), ErrMoved)
		assert.NoFileExists(t, path, "the pool made a new, empty database")
		if how == "renamed" {
			// Every commit made before the rename is in the renamed
			// file: the WAL was copied into it before being removed.
			assert.Equal(t, int64(3), rawCount(t, path+".bak", "v = 'old'"))
			assert.Equal(t, int64(0), rawCount(t, path+".bak", "v <> 'old'"))
		}
		return
	}
	// Replacement connections open the new file, and see only its rows:
	// not the old file's, which its WAL left under the name would show.
	assert.Equal(t, int64(1), readInt(t, h, "SELECT count(*) FROM t"))
	assert.Equal(t, int64(1), readInt(t, h, "SELECT count(*) FROM t WHERE v = 'new'"))
	require.NoError(t, h.Exec(ctx, "INSERT INTO t(v) VALUES ('after')"))
	assert.Equal(t, int64(2), readInt(t, h, "SELECT count(*) FROM t"))
	var ok string
	require.NoError(t, h.QueryRow(ctx, "PRAGMA integrity_check").Scan(&ok))
	assert.Equal(t, "ok", ok)
}

// TestWriteToAMovedFileIsRefused: the engine would go on committing to a
// file deleted, renamed or replaced under the pool, and lose the commits.
// The pool refuses the commit with ErrMoved, rolls it back, and replaces
// its connections.
func TestWriteToAMovedFileIsRefused(t *testing.T) {
	for _, how := range []string{"deleted", "renamed", "replaced"} {
		t.Run(how, func(t *testing.T) {
			path := tempDB(t)
			h := openT(t, path, createTable, WithReaders(2))
			ctx := context.Background()
			require.NoError(t, h.Exec(ctx, "INSERT INTO t(v) VALUES ('old'), ('old'), ('old')"))
			holdReaders(t, h, 2)

			moveAway(t, path, how)
			err := h.Write(ctx, func(_ context.Context, c *Conn) error {
				return c.Exec("INSERT INTO t(v) VALUES ('lost')")
			})
			require.ErrorIs(t, err, ErrMoved)
			require.ErrorIs(t, err, sqlite3.CONSTRAINT_COMMITHOOK)
			assert.Contains(t, err.Error(), path)
			st := h.Stats()
			assert.Equal(t, uint64(1), st.Writer.Replaced.Broken)
			assert.Equal(t, uint64(2), st.Readers.Replaced.Broken, "the idle readers had the old file open")
			assert.Zero(t, st.Writer.Open+st.Readers.Open)
			// The old file's WAL and shared memory are gone from its name.
			assert.NoFileExists(t, path+"-wal")
			assert.NoFileExists(t, path+"-shm")

			checkAfterMove(t, h, path, how)
		})
	}
}

// TestReadersNoticeAMovedFile: with no write to notice it, a reader's
// probe does (one idle-reader acquire in movedProbeEvery), and the
// janitor's round does for a pool no one uses.
func TestReadersNoticeAMovedFile(t *testing.T) {
	for _, how := range []string{"deleted", "replaced"} {
		t.Run(how, func(t *testing.T) {
			path := tempDB(t)
			h := openT(t, path, createTable, WithReaders(1))
			ctx := context.Background()
			require.NoError(t, h.Exec(ctx, "INSERT INTO t(v) VALUES ('old'), ('old'), ('old')"))
			readInt(t, h, "SELECT count(*) FROM t")

			moveAway(t, path, how)
			var err error
			reads := 0
			for ; reads <= movedProbeEvery && err == nil; reads++ {
				var n int64
				err = h.QueryRow(ctx, "SELECT count(*) FROM t").Scan(&n)
				if err == nil {
					require.Equal(t, int64(3), n, "before the probe, the old file's rows")
				}
			}
			require.ErrorIs(t, err, ErrMoved, "no probe in %d reads", reads)
			assert.Contains(t, err.Error(), path)
			st := h.Stats()
			assert.Equal(t, uint64(1), st.Readers.Replaced.Broken)
			assert.Equal(t, uint64(1), st.Writer.Replaced.Broken, "the idle writer was retired too")
			t.Logf("seen after %d reads", reads)

			checkAfterMove(t, h, path, how)
		})
	}
	t.Run("janitor", func(t *testing.T) {
		path := tempDB(t)
		h := openT(t, path, createTable, WithReaders(1))
		readInt(t, h, "SELECT count(*) FROM t")
		moveAway(t, path, "replaced")
		h.p.janitorProbeMoved()
		st := h.Stats()
		assert.Equal(t, uint64(1), st.Writer.Replaced.Broken)
		assert.Equal(t, uint64(1), st.Readers.Replaced.Broken)
		assert.Zero(t, st.Writer.Open+st.Readers.Open)
		checkAfterMove(t, h, path, "replaced")
	})
}

// TestLeasedConnectionsOfAMovedFileAreClosedOnRelease: a lease out when
// the move is seen keeps working on the old file until released, and is
// then closed, not reused.
func TestLeasedConnectionsOfAMovedFileAreClosedOnRelease(t *testing.T) {
	path := tempDB(t)
	h := openT(t, path, createTable, WithReaders(2))
	ctx := context.Background()
	r, err := h.Reader(ctx)
	require.NoError(t, err)
	defer r.Release() // on failure: Close waits for it
	moveAway(t, path, "replaced")
	require.ErrorIs(t, h.Exec(ctx, "INSERT INTO t(v) VALUES ('lost')"), ErrMoved)
	assert.Equal(t, int64(0), queryInt(t, r.Conn(), "SELECT count(*) FROM t"), "the old file, still")
	old := r.Conn()
	r.Release()
	r, err = h.Reader(ctx)
	require.NoError(t, err)
	assert.NotSame(t, old, r.Conn())
	assert.Equal(t, int64(1), queryInt(t, r.Conn(), "SELECT count(*) FROM t WHERE v = 'new'"))
	r.Release()
	assert.Equal(t, uint64(1), h.Stats().Readers.Replaced.Broken)
}
