package sqlitepool

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/ncruces/go-sqlite3"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func pragmaText(t *testing.T, c *Conn, name string) string {
	t.Helper()
	v, err := c.pragma("PRAGMA " + name)
	require.NoError(t, err)
	return v
}

func TestConnectionDefaults(t *testing.T) {
	h := openT(t, tempDB(t), nil)
	ctx := context.Background()
	check := func(l *Lease, err error) {
		require.NoError(t, err)
		defer l.Release()
		c := l.Conn()
		assert.Equal(t, "wal", pragmaText(t, c, "journal_mode"))
		assert.Equal(t, "1", pragmaText(t, c, "synchronous"), "NORMAL")
		assert.Equal(t, "1", pragmaText(t, c, "foreign_keys"))
		assert.Equal(t, "5000", pragmaText(t, c, "busy_timeout"))
		ro, _ := c.Raw().ReadOnly("main")
		if c.Role() == RoleReader {
			assert.Equal(t, "1", pragmaText(t, c, "query_only"))
			assert.True(t, ro, "reader opened SQLITE_OPEN_READONLY")
		} else {
			assert.Equal(t, "0", pragmaText(t, c, "query_only"))
			assert.False(t, ro)
		}
	}
	check(h.Writer(ctx))
	check(h.Reader(ctx))
}

func TestOptionsOverrideDefaults(t *testing.T) {
	h := openT(t, tempDB(t), nil,
		WithBusyTimeout(1500*time.Millisecond),
		WithSynchronous("full"),
		WithForeignKeys(false))
	for _, acquire := range []func(context.Context) (*Lease, error){h.Writer, h.Reader} {
		l, err := acquire(context.Background())
		require.NoError(t, err)
		c := l.Conn()
		assert.Equal(t, "2", pragmaText(t, c, "synchronous"), "FULL")
		assert.Equal(t, "0", pragmaText(t, c, "foreign_keys"))
		assert.Equal(t, "1500", pragmaText(t, c, "busy_timeout"))
		l.Release()
	}
}

func TestDefaultReaders(t *testing.T) {
	h := openT(t, tempDB(t), nil)
	assert.GreaterOrEqual(t, h.Stats().Readers.Max, 2)
	assert.Equal(t, defaultReaders(), h.Stats().Readers.Max)
}

func TestSetupRunsOnEveryNewConnectionWithItsRole(t *testing.T) {
	var (
		mu    sync.Mutex
		roles []Role
	)
	setup := func(ctx context.Context, c *Conn, role Role) error {
		mu.Lock()
		roles = append(roles, role)
		mu.Unlock()
		assert.Equal(t, c.Role(), role)
		// A per-connection setting: a function every connection has.
		return c.Raw().CreateFunction("answer", 0, sqlite3.DETERMINISTIC, func(ctx sqlite3.Context, _ ...sqlite3.Value) {
			ctx.ResultInt(42)
		})
	}
	h := openT(t, tempDB(t), nil, WithSetup(setup), WithReaders(2))
	ctx := context.Background()
	r1, err := h.Reader(ctx)
	require.NoError(t, err)
	r2, err := h.Reader(ctx)
	require.NoError(t, err)
	for _, l := range []*Lease{r1, r2} {
		assert.Equal(t, int64(42), queryInt(t, l.Conn(), "SELECT answer()"))
		l.Release()
	}
	require.NoError(t, h.Write(ctx, func(_ context.Context, c *Conn) error {
		assert.Equal(t, int64(42), queryInt(t, c, "SELECT answer()"))
		return nil
	}))
	assert.Equal(t, []Role{RoleWriter, RoleReader, RoleReader}, roles)
}

func TestSetupFailure(t *testing.T) {
	t.Run("writer-fails-open", func(t *testing.T) {
		path := tempDB(t)
		bad := errors.New("bad setup")
		_, err := Open(path, nil, WithSetup(func(context.Context, *Conn, Role) error { return bad }))
		require.ErrorIs(t, err, bad)
		assert.Contains(t, err.Error(), path)
		assert.False(t, registered(t, path))
	})
	t.Run("panic-becomes-error", func(t *testing.T) {
		_, err := Open(tempDB(t), nil, WithSetup(func(context.Context, *Conn, Role) error { panic("setup panicked") }))
		var pe *PanicError
		require.ErrorAs(t, err, &pe)
		assert.Equal(t, "setup panicked", pe.Value)
	})
	t.Run("reader-fails-lease-pool-keeps-serving", func(t *testing.T) {
		bad := errors.New("no readers today")
		var fail sync.Mutex
		failing := true
		h := openT(t, tempDB(t), createTable, WithSetup(func(_ context.Context, _ *Conn, r Role) error {
			fail.Lock()
			defer fail.Unlock()
			if r == RoleReader && failing {
				return bad
			}
			return nil
		}))
		_, err := h.Reader(context.Background())
		require.ErrorIs(t, err, bad)
		st := h.Stats().Readers
		assert.Equal(t, 0, st.Open, "the failed slot was freed")
		assert.Equal(t, 0, st.InUse)
		fail.Lock()
		failing = false
		fail.Unlock()
		assert.Equal(t, int64(0), readInt(t, h, "SELECT count(*) FROM t"))
	})
}

func TestWriteThroughReaderFailsAndChangesNothing(t *testing.T) {
	h := openT(t, tempDB(t), createTable)
	ctx := context.Background()
	for _, sql := range []string{
		"INSERT INTO t(v) VALUES (1)",
		"CREATE TABLE u(x)",
		"DELETE FROM t",
		"PRAGMA user_version = 7",
	} {
		t.Run(sql, func(t *testing.T) {
			err := h.Read(ctx, func(_ context.Context, c *Conn) error { return c.Exec(sql) })
			require.ErrorIs(t, err, ErrReadOnly)
			require.ErrorIs(t, err, sqlite3.READONLY)
			assert.Contains(t, err.Error(), "Handle.Write")
		})
	}
	// BEGIN IMMEDIATE would take the write lock: query_only alone allows
	// it, opening read-only does not.
	err := h.Read(ctx, func(_ context.Context, c *Conn) error { return c.Exec("BEGIN IMMEDIATE") })
	require.Error(t, err)
	require.NoError(t, h.Write(ctx, func(_ context.Context, c *Conn) error {
		assert.Equal(t, int64(0), queryInt(t, c, "SELECT count(*) FROM t"))
		assert.Equal(t, int64(0), queryInt(t, c, "PRAGMA user_version"))
		assert.Equal(t, int64(1), queryInt(t, c, "SELECT count(*) FROM sqlite_schema"))
		return nil
	}))
}

func TestExecArguments(t *testing.T) {
	h := openT(t, tempDB(t), createTable)
	ctx := context.Background()
	when := time.Date(2026, 11, 21, 12, 0, 0, 0, time.UTC)
	require.NoError(t, h.Write(ctx, func(_ context.Context, c *Conn) error {
		for _, v := range []any{nil, 1, int8(2), int16(3), int32(4), int64(5), uint(6), uint8(7), uint16(8), uint32(9), uint64(10),
			float32(1.5), 2.5, true, "text", []byte("blob"), []byte(nil), when} {
			if err := c.Exec("INSERT INTO t(v) VALUES (?)", v); err != nil {
				return err
			}
		}
		return nil
	}))
	assert.Equal(t, int64(18), readInt(t, h, "SELECT count(*) FROM t"))
	assert.Equal(t, int64(2), readInt(t, h, "SELECT count(*) FROM t WHERE v IS NULL"))
	assert.Equal(t, int64(54), readInt(t, h, "SELECT sum(v) FROM t WHERE typeof(v) = 'integer' AND v > 1"), "2 to 10")
	assert.Equal(t, int64(1), readInt(t, h, "SELECT count(*) FROM t WHERE v = ?", "2026-11-21T12:00:00Z"))
	assert.Equal(t, int64(1), readInt(t, h, "SELECT count(*) FROM t WHERE v = ?", []byte("blob")))

	for name, call := range map[string]func(c *Conn) error{
		"unsupported-type": func(c *Conn) error { return c.Exec("INSERT INTO t(v) VALUES (?)", struct{}{}) },
		"too-big-uint64":   func(c *Conn) error { return c.Exec("INSERT INTO t(v) VALUES (?)", uint64(1<<63)) },
		"too-few":          func(c *Conn) error { return c.Exec("INSERT INTO t(v) VALUES (?)", 1, 2) },
		"too-many":         func(c *Conn) error { return c.Exec("INSERT INTO t(id, v) VALUES (?, ?)", 1) },
		"two-statements":   func(c *Conn) error { return c.Exec("INSERT INTO t(v) VALUES (?); DELETE FROM t", 1) },
		"no-statement":     func(c *Conn) error { return c.Exec("-- nothing", 1) },
	} {
		t.Run(name, func(t *testing.T) {
			err := h.Write(ctx, func(_ context.Context, c *Conn) error {
				// Bad arguments come after a good row, which must vanish
				// with the rollback: nothing ran.
				require.NoError(t, c.Exec("INSERT INTO t(v) VALUES ('marker')"))
				return call(c)
			})
			require.ErrorIs(t, err, ErrInvalidArgument)
			assert.Equal(t, int64(18), readInt(t, h, "SELECT count(*) FROM t"))
		})
	}
	// A syntax error after the statement is reported as one.
	err := h.Write(ctx, func(_ context.Context, c *Conn) error { return c.Exec("INSERT INTO t(v) VALUES (?); SELEKT", 1) })
	require.ErrorIs(t, err, sqlite3.ERROR)
	assert.NotErrorIs(t, err, ErrInvalidArgument)
	assert.Contains(t, err.Error(), "syntax error")
	// Trailing semicolons and comments are not a second statement.
	require.NoError(t, h.Write(ctx, func(_ context.Context, c *Conn) error {
		return c.Exec("INSERT INTO t(v) VALUES (?); -- done", "last")
	}))
}

// TestBusyWaitEndedByContextMatchesIt holds the lock of an in-memory
// database (no WAL there: a writer's exclusive lock keeps readers out) and
// reads with a short deadline, on a reader being opened (its set-up meets
// the lock) and on one already open. The engine's busy handler stops
// retrying once the context is done, and the SQLITE_BUSY that follows is
// the context's doing: the error must match the context's error as well.
func TestBusyWaitEndedByContextMatchesIt(t *testing.T) {
	h := openT(t, "file:/"+t.Name()+"?vfs=memdb", createTable, WithReaders(1))
	read := func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
		defer cancel()
		return h.Read(ctx, func(_ context.Context, c *Conn) error {
			var n int64
			return c.QueryRow("SELECT count(*) FROM t").Scan(&n)
		})
	}
	locked := func(name string) {
		l, err := h.Writer(context.Background())
		require.NoError(t, err)
		defer l.Release()
		require.NoError(t, l.Conn().Exec("BEGIN EXCLUSIVE"))
		err = read()
		require.ErrorIs(t, err, sqlite3.BUSY, name)
		assert.ErrorIs(t, err, context.DeadlineExceeded, name)
	}
	locked("reader being opened")
	require.NoError(t, read())
	locked("reader open")
}
