package sqlitepool

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ncruces/go-sqlite3"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// otherWriter opens path on a connection of the engine's own, outside any
// pool: the writer of another process, as a read-only pool sees it. With
// wal, it switches the database to WAL; otherwise it keeps SQLite's
// rollback journal. It makes table t with one row.
func otherWriter(t *testing.T, path string, wal bool) *sqlite3.Conn {
	t.Helper()
	c, err := sqlite3.Open(path)
	require.NoError(t, err)
	t.Cleanup(func() { c.Close() })
	if wal {
		require.NoError(t, c.Exec("PRAGMA journal_mode=WAL"))
	}
	require.NoError(t, c.Exec("CREATE TABLE IF NOT EXISTS t(id INTEGER PRIMARY KEY, v); INSERT INTO t(v) VALUES (1)"))
	return c
}

// makeDatabase leaves a database at path with table t and one row, and no
// connection open on it.
func makeDatabase(t *testing.T, path string, wal bool) {
	t.Helper()
	c := otherWriter(t, path, wal)
	require.NoError(t, c.Close())
}

func countRows(t *testing.T, h *Handle) (n int64) {
	t.Helper()
	require.NoError(t, h.QueryRow(context.Background(), "SELECT count(*) FROM t").Scan(&n))
	return n
}

func TestReadOnlyPoolSeesTheOtherWritersCommits(t *testing.T) {
	for _, wal := range []bool{true, false} {
		name := "rollback-journal"
		if wal {
			name = "wal"
		}
		t.Run(name, func(t *testing.T) {
			path := tempDB(t)
			w := otherWriter(t, path, wal)
			h := openT(t, path, nil, WithReadOnly(), WithReaders(2))
			ctx := context.Background()
			for want := int64(1); want <= 3; want++ {
				assert.Equal(t, want, countRows(t, h), "QueryRow")
				assert.Equal(t, want, readInt(t, h, "SELECT count(*) FROM t"), "Read")
				var rows int64
				for row, err := range h.Query(ctx, "SELECT id FROM t") {
					require.NoError(t, err)
					rows++
					_ = row
				}
				assert.Equal(t, want, rows, "Query")
				require.NoError(t, w.Exec("INSERT INTO t(v) VALUES (1)"))
			}
			// The pool reuses its warmest reader: the same connection saw
			// every commit.
			assert.Equal(t, uint64(1), h.Stats().Readers.Created)
		})
	}
}

// tryEveryWrite makes every call that writes, or needs the writer, on a
// read-only pool, and checks that each fails with ErrReadOnly.
func tryEveryWrite(t *testing.T, h *Handle) {
	t.Helper()
	ctx := context.Background()
	insert := "INSERT INTO t(v) VALUES (2)"
	checks := map[string]func() error{
		"Write": func() error {
			return h.Write(ctx, func(context.Context, *Conn) error { return nil })
		},
		"Exec": func() error { return h.Exec(ctx, insert) },
		"ExecResult": func() error {
			_, err := h.ExecResult(ctx, insert)
			return err
		},
		"Writer": func() error {
			l, err := h.Writer(ctx)
			if err == nil {
				l.Release()
			}
			return err
		},
		"Exclusive": func() error {
			return h.Exclusive(ctx, func(context.Context, *Conn, []*Conn) error { return nil })
		},
		"Subscribe": func() error {
			s, err := h.Subscribe()
			if err == nil {
				s.Close()
			}
			return err
		},
		"Conn.Exec-in-Read": func() error {
			return h.Read(ctx, func(_ context.Context, c *Conn) error { return c.Exec(insert) })
		},
		"Exec-nested-in-Read": func() error {
			return h.Read(ctx, func(ctx context.Context, _ *Conn) error { return h.Exec(ctx, insert) })
		},
	}
	for name, call := range checks {
		done := make(chan error, 1)
		go func() { done <- call() }()
		select {
		case err := <-done:
			assert.ErrorIs(t, err, ErrReadOnly, name)
			if err != nil {
				assert.Contains(t, err.Error(), h.Name(), name+": the error names the database")
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("%s on a read-only pool still waits after 10s", name)
		}
	}
}

func TestReadOnlyPoolWritesNothing(t *testing.T) {
	t.Run("rollback-journal", func(t *testing.T) {
		path := tempDB(t)
		makeDatabase(t, path, false)
		dir := filepath.Dir(path)
		before := diskState(t, dir, true)
		useReadOnly(t, path)
		assert.Equal(t, before, diskState(t, dir, true), "the directory changed: file bytes, mtime or new files")
	})
	t.Run("wal", func(t *testing.T) {
		// Reading a WAL database beside a writer needs its -wal and -shm
		// files: SQLite makes them if the directory lets it. The database
		// file itself is untouched, and stays in WAL mode.
		path := tempDB(t)
		makeDatabase(t, path, true)
		before := diskState(t, path, true)
		useReadOnly(t, path)
		assert.Equal(t, before, diskState(t, path, true), "the database file changed")
		fi, err := os.Stat(path + "-wal")
		require.NoError(t, err)
		assert.Zero(t, fi.Size(), "frames in the -wal")
	})
	t.Run("read-only-file-and-directory", func(t *testing.T) {
		path := tempDB(t)
		makeDatabase(t, path, false)
		dir := filepath.Dir(path)
		for _, p := range []string{path, dir} {
			if why := makeReadOnly(t, p); why != "" {
				t.Skip(why)
			}
		}
		before := diskState(t, dir, true)
		useReadOnly(t, path)
		assert.Equal(t, before, diskState(t, dir, true))
	})
}

// useReadOnly opens path WithReadOnly, reads, tries every write, lets the
// janitor run a round with everything due, and closes the pool.
func useReadOnly(t *testing.T, path string) {
	t.Helper()
	clock := newFakeClock()
	h, err := Open(path, nil, WithReadOnly(), withClock(clock), WithReaders(2), WithMinReaders(2),
		WithOptimize(time.Minute), WithWALLimit(minWALLimit), WithMaxLifetime(time.Hour))
	require.NoError(t, err)
	assert.Equal(t, int64(1), countRows(t, h))
	tryEveryWrite(t, h)
	clock.Advance(2 * time.Hour)
	h.p.tidy(context.Background())
	assert.Equal(t, int64(1), countRows(t, h))

	st := h.Stats()
	assert.True(t, st.ReadOnly)
	assert.Zero(t, st.Writer.Max)
	assert.Zero(t, st.Writer.Created)
	assert.Zero(t, st.WAL.Checkpoints)
	assert.Zero(t, st.Optimizes)
	assert.NotZero(t, st.Readers.Created)
	require.NoError(t, h.Close())
}

// The engine opens a WAL database's -wal file for writing even to read
// it, and needs its -shm.
func TestReadOnlyWALDatabaseThatCannotBeRead(t *testing.T) {
	check := func(t *testing.T, path string) {
		dir := filepath.Dir(path)
		before := diskState(t, dir, true)
		_, err := Open(path, nil, WithReadOnly())
		require.ErrorIs(t, err, ErrReadOnly)
		assert.True(t, strings.HasPrefix(err.Error(), "sqlitepool: read-only: "), "the sentinel first, once: %v", err)
		assert.Contains(t, err.Error(), path)
		assert.Contains(t, err.Error(), "journal_mode=DELETE", "the error says what to do")
		assert.False(t, registered(t, path))
		assert.Equal(t, before, diskState(t, dir, true))
	}
	t.Run("files-missing-in-a-read-only-directory", func(t *testing.T) {
		path := tempDB(t)
		makeDatabase(t, path, true)
		if why := makeReadOnly(t, filepath.Dir(path)); why != "" {
			t.Skip(why)
		}
		check(t, path)
	})
	t.Run("files-read-only", func(t *testing.T) {
		// A WAL left with its frames (a writer that does not checkpoint
		// on close, as under WALExternal), then frozen.
		path := tempDB(t)
		w := otherWriter(t, path, true)
		_, err := w.Config(sqlite3.DBCONFIG_NO_CKPT_ON_CLOSE, true)
		require.NoError(t, err)
		require.NoError(t, w.Exec("INSERT INTO t(v) VALUES (2)"))
		require.NoError(t, w.Close())
		require.FileExists(t, path+"-wal")
		for _, f := range []string{path, path + "-wal", path + "-shm", filepath.Dir(path)} {
			if why := makeReadOnly(t, f); why != "" {
				t.Skip(why)
			}
		}
		check(t, path)
	})
}

func TestReadOnlyRefusesWhatItCannotServe(t *testing.T) {
	t.Run("missing-file", func(t *testing.T) {
		path := tempDB(t)
		_, err := Open(path, nil, WithReadOnly())
		require.ErrorIs(t, err, ErrInvalidName)
		assert.NoFileExists(t, path)
		assert.False(t, registered(t, path))
	})
	t.Run("in-memory", func(t *testing.T) {
		for _, name := range []string{":memory:", "file:/readonly-test?vfs=memdb"} {
			_, err := Open(name, nil, WithReadOnly())
			require.ErrorIs(t, err, ErrInvalidOption, name)
		}
	})
}

func TestReadOnlyInitRunsOnAReader(t *testing.T) {
	path := tempDB(t)
	makeDatabase(t, path, true)
	var role Role = RoleWriter
	h := openT(t, path, func(ctx context.Context, c *Conn) error {
		role = c.Role()
		var n int64
		return c.QueryRow("SELECT count(*) FROM t").Scan(&n)
	}, WithReadOnly())
	assert.Equal(t, RoleReader, role)

	// A later Open's init runs on a reader too; one that writes fails.
	_, err := Open(path, func(ctx context.Context, c *Conn) error {
		return c.Exec("CREATE TABLE u(x)")
	})
	require.ErrorIs(t, err, ErrInitFailed)
	require.ErrorIs(t, err, ErrReadOnly)
	assert.Equal(t, 1, h.Stats().Handles)
}

// Within one process, a database has one pool, read-only or not: see
// WithReadOnly.
func TestReadOnlyAndReadWritePoolsOfOneFile(t *testing.T) {
	ctx := context.Background()
	t.Run("read-write-open-first", func(t *testing.T) {
		path := tempDB(t)
		rw := openT(t, path, createTable)
		_, err := Open(path, nil, WithReadOnly())
		require.ErrorIs(t, err, ErrOptionsConflict)
		assert.Contains(t, err.Error(), "WithReadOnly: the pool has false, this Open asks for true")
		assert.Equal(t, 1, rw.Stats().Handles)

		// Without options, the reader shares the read-write pool.
		h := openT(t, path, nil)
		require.NoError(t, rw.Exec(ctx, "INSERT INTO t(v) VALUES (1)"))
		assert.Equal(t, int64(1), countRows(t, h))
	})
	t.Run("read-only-open-first", func(t *testing.T) {
		path := tempDB(t)
		makeDatabase(t, path, true)
		ro := openT(t, path, nil, WithReadOnly())
		h := openT(t, path, nil) // shares the read-only pool
		assert.True(t, h.Stats().ReadOnly)
		err := h.Exec(ctx, "INSERT INTO t(v) VALUES (1)")
		require.ErrorIs(t, err, ErrReadOnly)
		assert.Contains(t, err.Error(), "was opened WithReadOnly")
		assert.Equal(t, int64(1), countRows(t, ro))
	})
}

// A pool that cannot write its file says how to read it.
func TestReadWriteOpenOfAReadOnlyFilePointsToWithReadOnly(t *testing.T) {
	path := tempDB(t)
	makeDatabase(t, path, false)
	if why := makeReadOnly(t, path); why != "" {
		t.Skip(why)
	}
	_, err := Open(path, nil)
	require.ErrorIs(t, err, ErrReadOnly)
	assert.Contains(t, err.Error(), "open it WithReadOnly")

	h := openT(t, path, nil, WithReadOnly())
	assert.Equal(t, int64(1), countRows(t, h))
}
