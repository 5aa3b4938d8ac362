package sqlitepool

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// tempDB returns the path of a database that does not exist yet, in a
// directory of its own.
func tempDB(t testing.TB) string {
	t.Helper()
	return filepath.Join(t.TempDir(), "test.db")
}

// openT opens name and closes the handle when the test ends.
func openT(t testing.TB, name string, init InitFunc, opts ...Option) *Handle {
	t.Helper()
	h, err := Open(name, init, opts...)
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, h.Close()) })
	return h
}

// createTable is an InitFunc that makes table t(id INTEGER PRIMARY KEY, v).
func createTable(ctx context.Context, c *Conn) error {
	return c.Exec("CREATE TABLE IF NOT EXISTS t(id INTEGER PRIMARY KEY, v)")
}

// queryInt runs a one-value query on c.
func queryInt(t testing.TB, c *Conn, sql string, args ...any) int64 {
	t.Helper()
	stmt, _, err := c.Raw().Prepare(sql)
	require.NoError(t, err)
	defer stmt.Close()
	require.NoError(t, bindArgs(stmt, args))
	require.True(t, stmt.Step(), "no row from %s: %v", sql, stmt.Err())
	return stmt.ColumnInt64(0)
}

// readInt runs a one-value query on a reader of h.
func readInt(t testing.TB, h *Handle, sql string, args ...any) (n int64) {
	t.Helper()
	require.NoError(t, h.Read(context.Background(), func(_ context.Context, c *Conn) error {
		n = queryInt(t, c, sql, args...)
		return nil
	}))
	return n
}

// registered reports whether the registry holds an entry for the
// canonical key of name.
func registered(t testing.TB, name string) bool {
	t.Helper()
	tg, err := resolve(name)
	require.NoError(t, err)
	reg.mu.Lock()
	defer reg.mu.Unlock()
	_, ok := reg.entries[tg.key]
	return ok
}

// openFDs counts this process's open file descriptors.
func openFDs(t testing.TB) int {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Skip("no /proc/self/fd on this system")
	}
	return len(ents)
}

// dirNames lists a directory, to show what Open created.
func dirNames(t testing.TB, dir string) []string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	require.NoError(t, err)
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	return names
}
