package sqlitepool

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ncruces/go-sqlite3"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// createCounter is an InitFunc for a counter whose rows are contiguous
// from 1, and whose total, in another table, is their number: a copy of a
// moment of it has both, or it is not a copy of one moment.
func createCounter(ctx context.Context, c *Conn) error {
	return c.Exec(`CREATE TABLE IF NOT EXISTS counter(id INTEGER PRIMARY KEY, pad BLOB);
		CREATE TABLE IF NOT EXISTS total(k INTEGER PRIMARY KEY CHECK (k = 1), n INTEGER NOT NULL);
		INSERT OR IGNORE INTO total VALUES (1, 0)`)
}

// count adds n rows to the counter in one transaction.
func count(ctx context.Context, h *Handle, n int) error {
	return h.Write(ctx, func(ctx context.Context, c *Conn) error {
		err := c.Exec(`WITH RECURSIVE s(i) AS (SELECT n+1 FROM total UNION ALL SELECT i+1 FROM s LIMIT ?)
			INSERT INTO counter(id, pad) SELECT i, randomblob(512) FROM s`, n)
		if err != nil {
			return err
		}
		return c.Exec("UPDATE total SET n = n + ?", n)
	})
}

// checkCopy checks a backup of a counter: a lone file (no -wal beside it,
// in rollback-journal mode, so that reading it needs nothing else) that
// passes integrity_check and holds the counter of one moment. It returns
// the counter's total.
func checkCopy(t *testing.T, path string) int64 {
	t.Helper()
	assert.NoFileExists(t, path+"-wal")
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	require.Greater(t, len(b), 100)
	assert.Equal(t, []byte{1, 1}, b[18:20], "not in rollback-journal mode: reading it would need a -wal")

	c, err := sqlite3.Open("file:" + path + "?mode=ro")
	require.NoError(t, err)
	defer c.Close()
	l := &conn{raw: c}
	check, err := l.pragma("PRAGMA integrity_check")
	require.NoError(t, err)
	assert.Equal(t, "ok", check)
	stmt, _, err := c.Prepare("SELECT count(*), coalesce(min(id), 1), coalesce(max(id), 0), (SELECT n FROM total) FROM counter")
	require.NoError(t, err)
	defer stmt.Close()
	require.True(t, stmt.Step(), stmt.Err())
	rows, lo, hi, total := stmt.ColumnInt64(0), stmt.ColumnInt64(1), stmt.ColumnInt64(2), stmt.ColumnInt64(3)
	assert.Equal(t, int64(1), lo, "the first row")
	assert.Equal(t, rows, hi, "rows are not contiguous")
	assert.Equal(t, rows, total, "the total is not of the same moment as the rows")
	return total
}

func TestBackupWhileWritesGoOn(t *testing.T) {
	path := tempDB(t)
	h := openT(t, path, createCounter)
	ctx := context.Background()
	require.NoError(t, count(ctx, h, 2000)) // about 1.2 MB

	wctx, stop := context.WithCancel(ctx)
	var commits atomic.Int64
	var wg sync.WaitGroup
	wg.Go(func() {
		for wctx.Err() == nil {
			if err := count(wctx, h, 3); err != nil {
				if wctx.Err() == nil {
					t.Errorf("write: %v", err)
				}
				return
			}
			commits.Add(1)
		}
	})
	defer wg.Wait()
	defer stop()

	dir := t.TempDir()
	var copies []string
	for i := range 4 {
		// Each copy starts once the writer has committed since the last.
		for seen := commits.Load(); commits.Load() == seen; {
			time.Sleep(time.Millisecond)
		}
		dst := filepath.Join(dir, "copy"+string(rune('a'+i))+".db")
		require.NoError(t, h.Backup(ctx, dst))
		copies = append(copies, dst)
	}
	stop()
	wg.Wait()

	last := int64(0)
	for _, dst := range copies {
		n := checkCopy(t, dst)
		assert.GreaterOrEqual(t, n, last+3, "%s: not a later moment than the copy before", dst)
		last = n
	}
	assert.Greater(t, commits.Load(), int64(4))
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	assert.Len(t, entries, len(copies), "files besides the copies")

	// The reader that made the copies cannot write, nor attach, again.
	err = h.Read(ctx, func(_ context.Context, c *Conn) error {
		assert.Equal(t, int64(1), queryInt(t, c, "PRAGMA query_only"))
		if err := c.Exec("INSERT INTO counter(id) VALUES (-1)"); !errors.Is(err, ErrReadOnly) {
			t.Errorf("a write through a reader after a backup: got %v, want ErrReadOnly", err)
		}
		return c.Exec("ATTACH ? AS other", filepath.Join(dir, "other.db"))
	})
	require.Error(t, err)
	assert.NoFileExists(t, filepath.Join(dir, "other.db"))
}

// The copy runs beside the writer: a write transaction held open for the
// whole backup neither stops it nor gets into it.
func TestBackupDoesNotHoldTheWriter(t *testing.T) {
	path := tempDB(t)
	// An existing file keeps its mode, whatever WithFileMode says.
	require.NoError(t, os.WriteFile(path, nil, 0o600))
	require.NoError(t, os.Chmod(path, 0o640))
	h := openT(t, path, createCounter)
	ctx := context.Background()
	require.NoError(t, count(ctx, h, 5))
	l, err := h.Writer(ctx)
	require.NoError(t, err)
	defer l.Release()
	require.NoError(t, l.Conn().Exec("BEGIN IMMEDIATE; INSERT INTO counter(id) VALUES (6); UPDATE total SET n = 6"))

	dst := filepath.Join(t.TempDir(), "copy.db")
	bctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	require.NoError(t, h.Backup(bctx, dst))
	assert.Equal(t, int64(5), checkCopy(t, dst), "the copy holds what was committed")
	fi, err := os.Stat(dst)
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o640), fi.Mode().Perm(), "the copy has the database file's mode")
}

func TestBackupCancelled(t *testing.T) {
	t.Run("during-the-copy", func(t *testing.T) {
		path := tempDB(t)
		faults, _ := withFaults(t, path)
		h := openT(t, path, createCounter, faults)
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		require.NoError(t, count(ctx, h, 8000)) // about 5 MB: SQLite writes the copy as it goes

		dir := t.TempDir()
		dst := filepath.Join(dir, "copy.db")
		var writes atomic.Int64
		probe := func() {
			if writes.Add(1) == 10 {
				cancel()
			}
		}
		addFaultPlan(t, filepath.Join(dir, ".copy.db.backup-")).onWrite.Store(&probe)
		err := h.Backup(ctx, dst)
		require.ErrorIs(t, err, context.Canceled)
		assert.ErrorIs(t, err, sqlite3.INTERRUPT, "the copy was interrupted, not finished")
		assert.GreaterOrEqual(t, writes.Load(), int64(10))
		entries, err := os.ReadDir(dir)
		require.NoError(t, err)
		assert.Empty(t, entries, "nothing is left at dst, nor beside it")

		// The pool goes on, and a backup with a live context succeeds.
		require.NoError(t, h.Backup(context.Background(), dst))
		assert.Equal(t, int64(8000), checkCopy(t, dst))
	})
	t.Run("before", func(t *testing.T) {
		h := openT(t, tempDB(t), createCounter)
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		dir := t.TempDir()
		err := h.Backup(ctx, filepath.Join(dir, "copy.db"))
		require.ErrorIs(t, err, context.Canceled)
		entries, err := os.ReadDir(dir)
		require.NoError(t, err)
		assert.Empty(t, entries)
	})
}

func TestBackupRefusesAnExistingFile(t *testing.T) {
	h := openT(t, tempDB(t), createCounter)
	ctx := context.Background()
	require.NoError(t, count(ctx, h, 3))
	dir := t.TempDir()
	dst := filepath.Join(dir, "copy.db")
	require.NoError(t, os.WriteFile(dst, []byte("precious"), 0o600))

	err := h.Backup(ctx, dst)
	require.ErrorIs(t, err, fs.ErrExist)
	assert.Contains(t, err.Error(), "BackupOverwrite()", "the error says what to do")
	assert.Contains(t, err.Error(), h.Name())
	b, err := os.ReadFile(dst)
	require.NoError(t, err)
	assert.Equal(t, "precious", string(b))

	require.NoError(t, h.Backup(ctx, dst, BackupOverwrite()))
	assert.Equal(t, int64(3), checkCopy(t, dst))
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	assert.Len(t, entries, 1)
}

func TestBackupBadDestination(t *testing.T) {
	path := tempDB(t)
	h := openT(t, path, createCounter)
	ctx := context.Background()
	require.NoError(t, count(ctx, h, 3))
	dir := t.TempDir()
	before := diskState(t, dir, true)
	for name, dst := range map[string]string{
		"missing-directory": filepath.Join(dir, "no", "copy.db"),
		"a-directory":       dir,
		"the-database":      path,
		"empty":             "",
	} {
		err := h.Backup(ctx, dst, BackupOverwrite())
		assert.ErrorIs(t, err, ErrInvalidName, name)
	}
	err := h.Backup(ctx, filepath.Join(dir, "no", "copy.db"))
	assert.ErrorContains(t, err, "does not exist; create it first")
	assert.Equal(t, before, diskState(t, dir, true))
	assert.Equal(t, int64(3), readInt(t, h, "SELECT n FROM total"), "the database is intact")
}

func TestBackupOfAReadOnlyPool(t *testing.T) {
	path := tempDB(t)
	w := otherWriter(t, path, true)
	h := openT(t, path, nil, WithReadOnly())
	require.NoError(t, w.Exec("INSERT INTO t(v) VALUES (2)"))
	dst := filepath.Join(t.TempDir(), "copy.db")
	require.NoError(t, h.Backup(context.Background(), dst))

	c, err := sqlite3.Open("file:" + dst + "?mode=ro")
	require.NoError(t, err)
	defer c.Close()
	stmt, _, err := c.Prepare("SELECT count(*) FROM t")
	require.NoError(t, err)
	defer stmt.Close()
	require.True(t, stmt.Step())
	assert.Equal(t, int64(2), stmt.ColumnInt64(0))
}

func TestBackupOfAClosedHandle(t *testing.T) {
	h, err := Open(tempDB(t), createCounter)
	require.NoError(t, err)
	require.NoError(t, h.Close())
	dir := t.TempDir()
	require.ErrorIs(t, h.Backup(context.Background(), filepath.Join(dir, "copy.db")), ErrClosed)
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	assert.Empty(t, entries)
}

func TestBackupOfAnInMemoryDatabase(t *testing.T) {
	h := openT(t, ":memory:", createCounter)
	ctx := context.Background()
	require.NoError(t, count(ctx, h, 7))
	dst := filepath.Join(t.TempDir(), "copy.db")
	require.NoError(t, h.Backup(ctx, dst))
	assert.Equal(t, int64(7), checkCopy(t, dst))
	fi, err := os.Stat(dst)
	require.NoError(t, err)
	assert.Equal(t, DefaultFileMode, fi.Mode().Perm())
}

func TestBackupNested(t *testing.T) {
	h := openT(t, tempDB(t), createCounter, WithReaders(2))
	ctx := context.Background()
	require.NoError(t, count(ctx, h, 4))
	dir := t.TempDir()
	t.Run("in-write", func(t *testing.T) {
		dst := filepath.Join(dir, "in-write.db")
		err := h.Write(ctx, func(ctx context.Context, c *Conn) error {
			require.NoError(t, c.Exec("INSERT INTO counter(id) VALUES (5); UPDATE total SET n = 5"))
			return h.Backup(ctx, dst)
		})
		require.NoError(t, err)
		assert.Equal(t, int64(4), checkCopy(t, dst), "the copy holds what was committed before the Write")
	})
	t.Run("in-read", func(t *testing.T) {
		dst := filepath.Join(dir, "in-read.db")
		require.NoError(t, h.Read(ctx, func(ctx context.Context, c *Conn) error { return h.Backup(ctx, dst) }))
		assert.Equal(t, int64(5), checkCopy(t, dst))
	})
	t.Run("in-exclusive", func(t *testing.T) {
		dst := filepath.Join(dir, "in-exclusive.db")
		err := h.Exclusive(ctx, func(ctx context.Context, _ *Conn, _ []*Conn) error { return h.Backup(ctx, dst) })
		require.ErrorIs(t, err, ErrReentrant)
		assert.NoFileExists(t, dst)
	})
}

// BenchmarkBackup copies a database of about 12 MB, with no other load
// and while a writer commits one row after another without pause; writes
// per backup says how many of those commits went through during each.
func BenchmarkBackup(b *testing.B) {
	path := filepath.Join(b.TempDir(), "bench.db")
	h, err := Open(path, createCounter)
	require.NoError(b, err)
	defer h.Close()
	ctx := context.Background()
	require.NoError(b, count(ctx, h, 20000))
	var size int64 // most of it may be in the WAL still
	require.NoError(b, h.QueryRow(ctx, "SELECT page_count * page_size FROM pragma_page_count, pragma_page_size").Scan(&size))
	dst := filepath.Join(b.TempDir(), "copy.db")

	run := func(b *testing.B, writes bool) {
		var commits atomic.Int64
		if writes {
			wctx, stop := context.WithCancel(ctx)
			var wg sync.WaitGroup
			wg.Go(func() {
				for count(wctx, h, 1) == nil {
					commits.Add(1)
				}
			})
			defer wg.Wait()
			defer stop()
		}
		b.SetBytes(size)
		start := commits.Load()
		for b.Loop() {
			require.NoError(b, h.Backup(ctx, dst, BackupOverwrite()))
		}
		b.ReportMetric(float64(commits.Load()-start)/float64(b.N), "writes/backup")
	}
	b.Run("idle", func(b *testing.B) { run(b, false) })
	b.Run("under-writes", func(b *testing.B) { run(b, true) })
}
