package sqlitepool

import (
	"context"
	"crypto/sha256"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/ncruces/go-sqlite3"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// eachRole runs fn on the writer and on a reader of h, leased by hand.
func eachRole(t *testing.T, h *Handle, fn func(t *testing.T, c *Conn)) {
	t.Helper()
	for _, acquire := range []func(context.Context) (*Lease, error){h.Writer, h.Reader} {
		l, err := acquire(context.Background())
		require.NoError(t, err)
		t.Run(l.Conn().Role().String(), func(t *testing.T) { fn(t, l.Conn()) })
		l.Release()
	}
}

func TestDefensiveAndUntrustedSchemaByDefault(t *testing.T) {
	h := openT(t, tempDB(t), createTable)
	eachRole(t, h, func(t *testing.T, c *Conn) {
		on, err := c.Raw().Config(sqlite3.DBCONFIG_DEFENSIVE)
		require.NoError(t, err)
		assert.True(t, on, "defensive")
		on, err = c.Raw().Config(sqlite3.DBCONFIG_TRUSTED_SCHEMA)
		require.NoError(t, err)
		assert.False(t, on, "trusted_schema")
		assert.Equal(t, int64(0), queryInt(t, c, "PRAGMA trusted_schema"))
	})

	// The options relax both, on every connection.
	h = openT(t, tempDB(t), createTable, WithDefensive(false), WithTrustedSchema(true))
	eachRole(t, h, func(t *testing.T, c *Conn) {
		on, err := c.Raw().Config(sqlite3.DBCONFIG_DEFENSIVE)
		require.NoError(t, err)
		assert.False(t, on, "defensive")
		assert.Equal(t, int64(1), queryInt(t, c, "PRAGMA trusted_schema"))
	})
}

// TestDefensiveRefusesSchemaWrites: with PRAGMA writable_schema, a write to
// sqlite_schema can make any database unreadable; defensive mode refuses it.
func TestDefensiveRefusesSchemaWrites(t *testing.T) {
	ctx := context.Background()
	const poke = "UPDATE sqlite_schema SET sql = sql || ' ' WHERE name = 't'"
	for _, defensive := range []bool{true, false} {
		t.Run("defensive="+strconv.FormatBool(defensive), func(t *testing.T) {
			h := openT(t, tempDB(t), createTable, WithDefensive(defensive))
			err := h.Write(ctx, func(_ context.Context, c *Conn) error {
				return c.Exec("PRAGMA writable_schema = ON; " + poke)
			})
			if defensive {
				require.Error(t, err)
				assert.Contains(t, err.Error(), "may not be modified")
			} else {
				require.NoError(t, err)
			}
			var sql string
			require.NoError(t, h.QueryRow(ctx, "SELECT sql FROM sqlite_schema WHERE name = 't'").Scan(&sql))
			assert.Equal(t, !defensive, strings.HasSuffix(sql, " "), "schema changed: %q", sql)
		})
	}
}

// TestUntrustedSchemaCannotCallAppFunctions: a view or trigger of the
// database file may not call a function with side effects that the
// application registered, unless WithTrustedSchema(true).
func TestUntrustedSchemaCannotCallAppFunctions(t *testing.T) {
	ctx := context.Background()
	for _, trusted := range []bool{false, true} {
		t.Run("trusted="+strconv.FormatBool(trusted), func(t *testing.T) {
			var calls atomic.Int64
			setup := WithSetup(func(ctx context.Context, c *Conn, r Role) error {
				return c.Raw().CreateFunction("side_effect", 0, 0, func(ctx sqlite3.Context, _ ...sqlite3.Value) {
					calls.Add(1)
					ctx.ResultInt(1)
				})
			})
			h := openT(t, tempDB(t), func(ctx context.Context, c *Conn) error {
				return c.Exec(`CREATE TABLE t(id INTEGER PRIMARY KEY, v);
					CREATE VIEW v AS SELECT side_effect() AS x;
					CREATE TRIGGER tr AFTER INSERT ON t BEGIN SELECT side_effect(); END;`)
			}, setup, WithTrustedSchema(trusted))

			var x int
			viewErr := h.QueryRow(ctx, "SELECT x FROM v").Scan(&x)
			triggerErr := h.Exec(ctx, "INSERT INTO t(v) VALUES (1)")
			// Called directly, the function works either way.
			require.NoError(t, h.QueryRow(ctx, "SELECT side_effect()").Scan(&x))
			if trusted {
				require.NoError(t, viewErr)
				require.NoError(t, triggerErr)
				assert.Equal(t, int64(3), calls.Load())
				return
			}
			require.Error(t, viewErr)
			assert.Contains(t, viewErr.Error(), "unsafe use of side_effect()")
			require.Error(t, triggerErr)
			assert.Contains(t, triggerErr.Error(), "unsafe use of side_effect()")
			assert.Equal(t, int64(1), calls.Load(), "only the direct call ran")
			assert.Equal(t, int64(0), readInt(t, h, "SELECT count(*) FROM t"), "the insert rolled back")
		})
	}
}

// fileModes returns the permission bits of the database and of its -wal
// and -shm files, while a pool has it open after a write.
func fileModes(t *testing.T, h *Handle, path string) (db, wal, shm os.FileMode) {
	t.Helper()
	require.NoError(t, h.Exec(context.Background(), "INSERT INTO t(v) VALUES (1)"))
	readInt(t, h, "SELECT count(*) FROM t")
	mode := func(p string) os.FileMode {
		fi, err := os.Stat(p)
		require.NoError(t, err)
		return fi.Mode().Perm()
	}
	return mode(path), mode(path + "-wal"), mode(path + "-shm")
}

func TestCreatedFilesAreOwnerOnly(t *testing.T) {
	t.Run("default", func(t *testing.T) {
		path := tempDB(t)
		db, wal, shm := fileModes(t, openT(t, path, createTable), path)
		assert.Equal(t, os.FileMode(0o600), db)
		assert.Equal(t, os.FileMode(0o600), wal, "-wal")
		assert.Equal(t, os.FileMode(0o600), shm, "-shm")
	})
	t.Run("WithFileMode", func(t *testing.T) {
		path := tempDB(t)
		db, wal, shm := fileModes(t, openT(t, path, createTable, WithFileMode(0o660)), path)
		// Exactly as asked, whatever the umask (often 022, which would
		// make it 0640).
		assert.Equal(t, os.FileMode(0o660), db)
		assert.Equal(t, os.FileMode(0o660), wal, "-wal")
		assert.Equal(t, os.FileMode(0o660), shm, "-shm")
	})
	t.Run("existing-file-keeps-its-mode", func(t *testing.T) {
		path := tempDB(t)
		require.NoError(t, os.WriteFile(path, nil, 0o644))
		require.NoError(t, os.Chmod(path, 0o644))
		db, wal, shm := fileModes(t, openT(t, path, createTable, WithFileMode(0o600)), path)
		assert.Equal(t, os.FileMode(0o644), db)
		assert.Equal(t, os.FileMode(0o644), wal, "-wal follows the database")
		assert.Equal(t, os.FileMode(0o644), shm, "-shm follows the database")
	})
}

func TestBadSafetyOptionsCreateNothing(t *testing.T) {
	for _, mode := range []os.FileMode{0o400, 0o200, 0o1600, os.ModeDir | 0o600, 0o4700, 0o10000} {
		t.Run(mode.String(), func(t *testing.T) {
			dir := t.TempDir()
			_, err := Open(filepath.Join(dir, "app.db"), createTable, WithFileMode(mode))
			require.ErrorIs(t, err, ErrInvalidOption)
			assert.Contains(t, err.Error(), "WithFileMode")
			assert.Contains(t, err.Error(), "app.db")
			assert.Empty(t, dirNames(t, dir), "created something")
		})
	}
}

// dirSnapshot is what a write through a reader must not change: the
// names in the directory and the database file's and WAL's contents.
func dirSnapshot(t *testing.T, path string) map[string][32]byte {
	t.Helper()
	snap := map[string][32]byte{}
	for _, name := range dirNames(t, filepath.Dir(path)) {
		if strings.HasSuffix(name, "-shm") {
			snap[name] = [32]byte{} // changes with every read: its name is enough
			continue
		}
		b, err := os.ReadFile(filepath.Join(filepath.Dir(path), name))
		require.NoError(t, err)
		snap[name] = sha256.Sum256(b)
	}
	return snap
}

// TestEveryKindOfWriteThroughAReaderFails: readers are opened read-only
// and query_only; no statement that would write gets through, by Exec or
// by Raw, and the files stay as they were.
func TestEveryKindOfWriteThroughAReaderFails(t *testing.T) {
	path := tempDB(t)
	h := openT(t, path, func(ctx context.Context, c *Conn) error {
		return c.Exec(`CREATE TABLE t(id INTEGER PRIMARY KEY, v);
			CREATE INDEX t_v ON t(v);
			INSERT INTO t(v) VALUES (1), (2), (3);`)
	}, WithReaders(1), WithWALPolicy(WALExternal))
	ctx := context.Background()
	// Leave frames in the WAL, so that a checkpoint would have work to do.
	require.NoError(t, h.Exec(ctx, "INSERT INTO t(v) VALUES (4)"))
	attached := filepath.Join(filepath.Dir(path), "attached.db")

	writes := []string{
		"INSERT INTO t(v) VALUES (5)",
		"UPDATE t SET v = 0",
		"DELETE FROM t",
		"REPLACE INTO t(id, v) VALUES (1, 9)",
		"INSERT INTO t(v) VALUES (5) RETURNING id",
		"CREATE TABLE u(x)",
		"CREATE INDEX t_id ON t(id)",
		"CREATE VIEW w AS SELECT 1",
		"CREATE TRIGGER tr AFTER INSERT ON t BEGIN SELECT 1; END",
		"DROP TABLE t",
		"DROP INDEX t_v",
		"ALTER TABLE t ADD COLUMN w",
		"ALTER TABLE t RENAME TO t2",
		"PRAGMA user_version = 7",
		"PRAGMA application_id = 7",
		"PRAGMA journal_mode = DELETE",
		"VACUUM",
		"VACUUM INTO '" + filepath.Join(filepath.Dir(path), "copy.db") + "'",
		"REINDEX",
		"ANALYZE",
		"ATTACH '" + attached + "' AS a",
		"PRAGMA wal_checkpoint(TRUNCATE)",
		"BEGIN IMMEDIATE",
		"BEGIN EXCLUSIVE",
	}
	before := dirSnapshot(t, path)
	var failedExec, failedRaw int
	for _, sql := range writes {
		t.Run(sql, func(t *testing.T) {
			err := h.Read(ctx, func(_ context.Context, c *Conn) error { return c.Exec(sql) })
			if sql == "PRAGMA wal_checkpoint(TRUNCATE)" {
				// The pragma reports a busy checkpoint in its row, not as
				// an error: what matters is that nothing changed.
				assert.Equal(t, before, dirSnapshot(t, path))
				return
			}
			if assert.Error(t, err) {
				failedExec++
			}
			l, lerr := h.Reader(ctx)
			require.NoError(t, lerr)
			rawErr := l.Conn().Raw().Exec(sql)
			l.Conn().Raw().Exec("ROLLBACK") // after BEGIN, if it got that far
			l.Release()
			if assert.Error(t, rawErr) {
				failedRaw++
			}
			assert.Equal(t, before, dirSnapshot(t, path), "the files changed")
		})
	}
	assert.NoFileExists(t, attached)
	assert.Equal(t, before, dirSnapshot(t, path))
	assert.Equal(t, int64(4), readInt(t, h, "SELECT count(*) FROM t"))
	t.Logf("%d statements, %d refused through Exec, %d through Raw", len(writes), failedExec, failedRaw)
}

// TestNoExtensionsNoEnvironment: the library neither loads extensions nor
// reads the environment, and SQL cannot load an extension either.
func TestNoExtensionsNoEnvironment(t *testing.T) {
	files, err := filepath.Glob("*.go")
	require.NoError(t, err)
	fset := token.NewFileSet()
	checked := 0
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, name, nil, 0)
		require.NoError(t, err)
		checked++
		ast.Inspect(f, func(n ast.Node) bool {
			switch n := n.(type) {
			case *ast.SelectorExpr:
				if x, ok := n.X.(*ast.Ident); ok && (x.Name == "os" || x.Name == "syscall") {
					switch n.Sel.Name {
					case "Getenv", "LookupEnv", "Environ", "ExpandEnv", "Setenv", "Unsetenv", "Clearenv":
						t.Errorf("%s: %s.%s: the library must not read or change the environment", fset.Position(n.Pos()), x.Name, n.Sel.Name)
					}
				}
				if strings.Contains(strings.ToLower(n.Sel.Name), "loadextension") || strings.Contains(n.Sel.Name, "LOAD_EXTENSION") {
					t.Errorf("%s: %s: the library must not load extensions", fset.Position(n.Pos()), n.Sel.Name)
				}
			case *ast.BasicLit:
				if n.Kind == token.STRING && strings.Contains(strings.ToLower(n.Value), "load_extension") {
					t.Errorf("%s: %s: the library must not load extensions", fset.Position(n.Pos()), n.Value)
				}
			}
			return true
		})
	}
	assert.Greater(t, checked, 20, "the package's files were found")

	h := openT(t, tempDB(t), nil)
	eachRole(t, h, func(t *testing.T, c *Conn) {
		err := c.Exec("SELECT load_extension('x')")
		require.Error(t, err)
		assert.Contains(t, err.Error(), "load_extension")
	})
}
