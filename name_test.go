package sqlitepool

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestEmptyFileIsADatabase(t *testing.T) {
	path := tempDB(t)
	require.NoError(t, os.WriteFile(path, nil, 0o600))
	h := openT(t, path, createTable)
	assert.Equal(t, int64(0), readInt(t, h, "SELECT count(*) FROM t"))
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
