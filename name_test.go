package sqlitepool

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestBadInputCreatesNothing opens every kind of bad name and option and
// checks the error and that the directory is exactly as before.
func TestBadInputCreatesNothing(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir)
	notDB := filepath.Join(dir, "notes.txt")
	require.NoError(t, os.WriteFile(notDB, []byte("these are notes, not a database, but long enough to have a header"), 0o644))
	short := filepath.Join(dir, "short.db")
	require.NoError(t, os.WriteFile(short, []byte("SQLite"), 0o644))
	require.NoError(t, os.Mkdir(filepath.Join(dir, "sub"), 0o755))
	require.NoError(t, os.Symlink(filepath.Join(dir, "missing.db"), filepath.Join(dir, "dangling.db")))
	good := filepath.Join(dir, "good.db")

	for _, tc := range []struct {
		name string
		db   string
		opts []Option
		want error
	}{
		{"empty", "", nil, ErrInvalidName},
		{"nul-byte", "app\x00.db", nil, ErrInvalidName},
		{"nul-byte-in-uri", "file:app%00.db", nil, ErrInvalidName},
		{"directory", dir, nil, ErrInvalidName},
		{"directory-relative", "sub", nil, ErrInvalidName},
		{"missing-parent", filepath.Join(dir, "nope", "app.db"), nil, ErrInvalidName},
		{"missing-parent-uri", "file:nope/app.db", nil, ErrInvalidName},
		{"not-a-database", notDB, nil, ErrNotDatabase},
		{"too-short-for-header", short, nil, ErrNotDatabase},
		{"dangling-symlink", "dangling.db", nil, ErrInvalidName},
		{"malformed-uri", "file:app.db?%zz", nil, ErrInvalidName},
		{"malformed-uri-path", "file:app%zz.db", nil, ErrInvalidName},
		{"unknown-uri-parameter", "file:good.db?mode=ro", nil, ErrInvalidName},
		{"pragma-uri-parameter", "file:good.db?_pragma=busy_timeout(1)", nil, ErrInvalidName},
		{"unknown-vfs", "file:good.db?vfs=nosuch", nil, ErrInvalidName},
		{"remote-host", "file://example.com/app.db", nil, ErrInvalidName},
		{"uri-without-path", "file:", nil, ErrInvalidName},
		{"memdb-without-slash", "file:mem?vfs=memdb", nil, ErrInvalidName},
		{"readers-zero", good, []Option{WithReaders(0)}, ErrInvalidOption},
		{"readers-negative", good, []Option{WithReaders(-3)}, ErrInvalidOption},
		{"readers-absurd", good, []Option{WithReaders(1 << 20)}, ErrInvalidOption},
		{"busy-timeout-negative", good, []Option{WithBusyTimeout(-time.Second)}, ErrInvalidOption},
		{"busy-timeout-huge", good, []Option{WithBusyTimeout(1000 * time.Hour)}, ErrInvalidOption},
		{"acquire-timeout-negative", good, []Option{WithAcquireTimeout(-1)}, ErrInvalidOption},
		{"synchronous-unknown", good, []Option{WithSynchronous("sometimes")}, ErrInvalidOption},
		{"setup-nil", good, []Option{WithSetup(nil)}, ErrInvalidOption},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := dirNames(t, dir)
			notDBBytes, err := os.ReadFile(notDB)
			require.NoError(t, err)

			h, err := Open(tc.db, createTable, tc.opts...)
			if h != nil {
				h.Close()
			}
			require.ErrorIs(t, err, tc.want)
			if tc.db != "" {
				assert.Contains(t, err.Error(), quoteForError(tc.db), "the error names the database")
			}
			assert.Equal(t, before, dirNames(t, dir), "Open created or removed files")
			after, err := os.ReadFile(notDB)
			require.NoError(t, err)
			assert.Equal(t, notDBBytes, after)
		})
	}
}

// quoteForError is how errors quote a name (%q).
func quoteForError(s string) string {
	q := []byte{'"'}
	for _, r := range s {
		switch {
		case r == 0:
			q = append(q, `\x00`...)
		case r == '"' || r == '\\':
			q = append(q, '\\', byte(r))
		default:
			q = append(q, string(r)...)
		}
	}
	return string(append(q, '"'))
}

func TestEmptyFileIsADatabase(t *testing.T) {
	path := tempDB(t)
	require.NoError(t, os.WriteFile(path, nil, 0o600))
	h := openT(t, path, createTable)
	assert.Equal(t, int64(0), readInt(t, h, "SELECT count(*) FROM t"))
}

func TestReadOnlyFileFailsWriter(t *testing.T) {
	if os.Geteuid() == 0 {
		t.Skip("root writes to read-only files")
	}
	path := tempDB(t)
	h, err := Open(path, createTable)
	require.NoError(t, err)
	require.NoError(t, h.Close())
	require.NoError(t, os.Chmod(path, 0o444))
	_, err = Open(path, nil)
	require.ErrorIs(t, err, ErrReadOnly)
}

func TestResolveKeys(t *testing.T) {
	dir := t.TempDir()
	real, err := filepath.EvalSymlinks(dir)
	require.NoError(t, err)
	for name, want := range map[string]string{
		filepath.Join(dir, "a.db"):                     filepath.Join(real, "a.db"),
		"file:" + filepath.Join(dir, "a.db"):           filepath.Join(real, "a.db"),
		"file:" + filepath.Join(dir, "a%20b.db"):       filepath.Join(real, "a b.db"),
		"file:" + filepath.Join(dir, "q.db") + "#frag": filepath.Join(real, "q.db"),
		filepath.Join(dir, "what?.db"):                 filepath.Join(real, "what?.db"),
		"file:/shared?vfs=memdb":                       "memdb:/shared",
		"file:///shared?vfs=memdb":                     "memdb:/shared",
		"file:" + filepath.Join(dir, "x.db") + "?vfs=": filepath.Join(real, "x.db"),
	} {
		tg, err := resolve(name)
		require.NoError(t, err, name)
		assert.Equal(t, want, tg.key, name)
	}
	for _, name := range []string{":memory:", "file::memory:"} {
		a, err := resolve(name)
		require.NoError(t, err)
		b, err := resolve(name)
		require.NoError(t, err)
		assert.Empty(t, a.key, "private memory is not registered")
		assert.NotEqual(t, a.dsn, b.dsn, "each private memory database is new")
	}
}
