package sqlitepool

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/ncruces/go-sqlite3"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func seed(t *testing.T, h *Handle, n int) {
	t.Helper()
	require.NoError(t, h.Write(context.Background(), func(_ context.Context, c *Conn) error {
		for i := 1; i <= n; i++ {
			if err := c.Exec("INSERT INTO t(id, v) VALUES (?, ?)", i, i*10); err != nil {
				return err
			}
		}
		return nil
	}))
}

func TestQueryRowScansTypes(t *testing.T) {
	h := openT(t, tempDB(t), createTable)
	ctx := context.Background()
	when := time.Date(2026, 11, 21, 9, 30, 0, 0, time.UTC)
	require.NoError(t, h.Exec(ctx, "INSERT INTO t(id, v) VALUES (1, ?)", "x"))
	var (
		i    int
		i64  int64
		i32  int32
		f    float64
		s    string
		b    []byte
		ok   bool
		tm   time.Time
		null any
		num  any
	)
	err := h.QueryRow(ctx, "SELECT 7, 8, 9, 1.5, 'txt', x'0102', 1, ?, NULL, 42, 'skipped'", when).
		Scan(&i, &i64, &i32, &f, &s, &b, &ok, &tm, &null, &num, nil)
	require.NoError(t, err)
	assert.Equal(t, 7, i)
	assert.Equal(t, int64(8), i64)
	assert.Equal(t, int32(9), i32)
	assert.Equal(t, 1.5, f)
	assert.Equal(t, "txt", s)
	assert.Equal(t, []byte{1, 2}, b)
	assert.True(t, ok)
	assert.True(t, when.Equal(tm), "got %v", tm)
	assert.Nil(t, null)
	assert.Equal(t, int64(42), num)

	err = h.QueryRow(ctx, "SELECT v FROM t WHERE id = ?", 99).Scan(&s)
	require.ErrorIs(t, err, ErrNoRows)
	err = h.QueryRow(ctx, "SELECT 1, 2").Scan(&i)
	require.ErrorIs(t, err, ErrInvalidArgument)
	err = h.QueryRow(ctx, "SELECT 1").Scan(&struct{}{})
	require.ErrorIs(t, err, ErrInvalidArgument)
	err = h.QueryRow(ctx, "SELECT * FROM nosuch").Scan(&i)
	require.ErrorIs(t, err, sqlite3.ERROR)
	assert.Equal(t, 0, h.Stats().Readers.InUse, "one-shot reads release their reader")
}

func TestQueryIterates(t *testing.T) {
	h := openT(t, tempDB(t), createTable, WithReaders(1))
	seed(t, h, 5)
	ctx := context.Background()
	var ids []int64
	for row, err := range h.Query(ctx, "SELECT id FROM t WHERE v >= ? ORDER BY id", 20) {
		require.NoError(t, err)
		var id int64
		require.NoError(t, row.Scan(&id))
		ids = append(ids, id)
	}
	assert.Equal(t, []int64{2, 3, 4, 5}, ids)

	// Breaking early releases the reader and resets the statement.
	for row := range h.Query(ctx, "SELECT id FROM t ORDER BY id") {
		assert.Equal(t, int64(1), row.Stmt().ColumnInt64(0))
		break
	}
	assert.Equal(t, 0, h.Stats().Readers.InUse)
	l, err := h.Reader(ctx)
	require.NoError(t, err)
	assert.Equal(t, sqlite3.TXN_NONE, l.Conn().Raw().TxnState("main"), "no statement left running")
	l.Release()

	// Errors are yielded once.
	var errs int
	for _, err := range h.Query(ctx, "SELECT id FROM t WHERE id = ?", 1, 2) {
		require.ErrorIs(t, err, ErrInvalidArgument)
		errs++
	}
	assert.Equal(t, 1, errs)

	// The same query nested in its own iteration gets its own statement.
	require.NoError(t, h.Read(ctx, func(_ context.Context, c *Conn) error {
		var pairs int
		for outer, err := range c.Query("SELECT id FROM t WHERE id <= ?", 2) {
			require.NoError(t, err)
			for inner, err := range c.Query("SELECT id FROM t WHERE id <= ?", 2) {
				require.NoError(t, err)
				_, _ = outer, inner
				pairs++
			}
		}
		assert.Equal(t, 4, pairs)
		return nil
	}))
}

func TestNamedArguments(t *testing.T) {
	h := openT(t, tempDB(t), createTable)
	ctx := context.Background()
	require.NoError(t, h.Exec(ctx, "INSERT INTO t(id, v) VALUES (:id, @v)", Named("id", 1), Named("@v", "one")))
	require.NoError(t, h.Exec(ctx, "INSERT INTO t(id, v) VALUES ($id, $v)", Named("v", "two"), Named("$id", 2)))
	var v string
	require.NoError(t, h.QueryRow(ctx, "SELECT v FROM t WHERE id = :id", Named(":id", 2)).Scan(&v))
	assert.Equal(t, "two", v)

	for name, args := range map[string][]any{
		"mixed":     {Named("id", 3), "three"},
		"unknown":   {Named("id", 3), Named("nope", "x")},
		"duplicate": {Named("id", 3), Named(":id", 4)},
		"bad-type":  {Named("id", 3), Named("v", struct{}{})},
	} {
		t.Run(name, func(t *testing.T) {
			err := h.Exec(ctx, "INSERT INTO t(id, v) VALUES (:id, :v)", args...)
			require.ErrorIs(t, err, ErrInvalidArgument)
		})
	}
	var n int
	require.NoError(t, h.QueryRow(ctx, "SELECT count(*) FROM t").Scan(&n))
	assert.Equal(t, 2, n, "bad arguments ran nothing")
}

func TestExecScriptsThroughTheCache(t *testing.T) {
	h := openT(t, tempDB(t), nil)
	ctx := context.Background()
	// The second statement depends on the first: it cannot be prepared
	// before the first has run.
	script := "CREATE TABLE a(x); INSERT INTO a VALUES (1); INSERT INTO a VALUES (2)"
	require.NoError(t, h.Exec(ctx, script))
	require.NoError(t, h.Exec(ctx, "DELETE FROM a; "+script[len("CREATE TABLE a(x); "):]))
	var n int
	require.NoError(t, h.QueryRow(ctx, "SELECT count(*) FROM a").Scan(&n))
	assert.Equal(t, 2, n)
	require.NoError(t, h.Exec(ctx, "  -- only a comment"))
	require.NoError(t, h.Exec(ctx, "INSERT INTO a VALUES (?); /* trailing */ -- comment", 3))
}

func TestStatementCache(t *testing.T) {
	h := openT(t, tempDB(t), createTable, WithReaders(1), WithStmtCacheSize(3))
	seed(t, h, 3)
	ctx := context.Background()

	var first *sqlite3.Stmt
	require.NoError(t, h.Read(ctx, func(_ context.Context, c *Conn) error {
		s, err := c.Prep("SELECT v FROM t WHERE id = ?")
		first = s
		return err
	}))
	require.NoError(t, h.Read(ctx, func(_ context.Context, c *Conn) error {
		s, err := c.Prep("SELECT v FROM t WHERE id = ?")
		require.NoError(t, err)
		assert.Same(t, first, s, "the next lease gets the prepared statement back")
		return nil
	}))

	t.Run("bindings-cleared-on-release", func(t *testing.T) {
		require.NoError(t, h.Read(ctx, func(_ context.Context, c *Conn) error {
			s, err := c.Prep("SELECT ?")
			require.NoError(t, err)
			return s.BindInt(1, 5)
		}))
		require.NoError(t, h.Read(ctx, func(_ context.Context, c *Conn) error {
			s, err := c.Prep("SELECT ?")
			require.NoError(t, err)
			require.True(t, s.Step())
			assert.Equal(t, sqlite3.NULL, s.ColumnType(0), "a binding survived the release")
			return nil
		}))
	})

	t.Run("lru-eviction-finalizes", func(t *testing.T) {
		var kept *Conn
		require.NoError(t, h.Read(ctx, func(_ context.Context, c *Conn) error {
			kept = c
			var stmts []*sqlite3.Stmt
			for i := range 10 {
				s, err := c.Prep("SELECT " + string(rune('0'+i)))
				if err != nil {
					return err
				}
				stmts = append(stmts, s)
			}
			// Past the cache size, within one lease: every statement the
			// lease got is still usable (none was evicted under it).
			for i, s := range stmts {
				require.True(t, s.Step(), "statement %d: %v", i, s.Err())
				assert.Equal(t, i, s.ColumnInt(0))
			}
			return nil
		}))
		// After the release the cache holds at most 3, and nothing else is
		// prepared but the connection's own BEGIN, COMMIT and snapshot pin.
		stmts := cachedStmts(kept)
		assert.LessOrEqual(t, stmts, 3)
		assert.Len(t, kept.cache.byText, stmts)
	})

	t.Run("size-zero-keeps-nothing", func(t *testing.T) {
		h0 := openT(t, tempDB(t), createTable, WithStmtCacheSize(0), WithReaders(1))
		var kept *Conn
		require.NoError(t, h0.Read(ctx, func(_ context.Context, c *Conn) error {
			kept = c
			_, err := c.Prep("SELECT 1")
			return err
		}))
		assert.Zero(t, cachedStmts(kept), "a statement outlived the lease with a cache of size 0")
	})

	t.Run("prep-rejects-scripts-and-empty", func(t *testing.T) {
		require.NoError(t, h.Read(ctx, func(_ context.Context, c *Conn) error {
			_, err := c.Prep("SELECT 1; SELECT 2")
			assert.ErrorIs(t, err, ErrInvalidArgument)
			_, err = c.Prep(" -- nothing")
			assert.ErrorIs(t, err, ErrInvalidArgument)
			_, err = c.Prep("SELECT 1; -- fine")
			assert.NoError(t, err)
			return nil
		}))
	})
}

func TestCachedStatementSurvivesSchemaChange(t *testing.T) {
	h := openT(t, tempDB(t), createTable, WithReaders(1))
	seed(t, h, 2)
	ctx := context.Background()
	const q = "SELECT * FROM t ORDER BY id"
	require.NoError(t, h.Read(ctx, func(_ context.Context, c *Conn) error {
		s, err := c.Prep(q)
		require.NoError(t, err)
		assert.Equal(t, 2, s.ColumnCount())
		return nil
	}))
	require.NoError(t, h.Exec(ctx, "ALTER TABLE t ADD COLUMN w DEFAULT 'new'"))
	require.NoError(t, h.Read(ctx, func(_ context.Context, c *Conn) error {
		s, err := c.Prep(q)
		require.NoError(t, err)
		require.True(t, s.Step(), s.Err())
		// SQLite re-prepared the cached statement: the new column is there.
		assert.Equal(t, 3, s.ColumnCount())
		assert.Equal(t, "new", s.ColumnText(2))
		return nil
	}))
}

func TestReleaseAfterPanicInHalfSteppedQuery(t *testing.T) {
	h := openT(t, tempDB(t), createTable, WithReaders(1))
	seed(t, h, 3)
	ctx := context.Background()
	var c0 *Conn
	assert.Panics(t, func() {
		h.Read(ctx, func(_ context.Context, c *Conn) error {
			c0 = c
			s, err := c.Prep("SELECT id FROM t")
			require.NoError(t, err)
			require.True(t, s.Step())
			panic("half way")
		})
	})
	assert.Equal(t, sqlite3.TXN_NONE, c0.raw.TxnState("main"))
	var n int
	require.NoError(t, h.QueryRow(ctx, "SELECT count(*) FROM t").Scan(&n))
	assert.Equal(t, 3, n)
	assert.Equal(t, uint64(0), h.Stats().Readers.Closed)
}

func TestQueryInterruptedByDeadline(t *testing.T) {
	h := openT(t, tempDB(t), nil, WithReaders(1))
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	start := time.Now()
	var n int64
	err := h.Read(ctx, func(_ context.Context, c *Conn) error {
		return c.QueryRow("WITH RECURSIVE r(i) AS (SELECT 1 UNION ALL SELECT i+1 FROM r) SELECT count(*) FROM r").Scan(&n)
	})
	elapsed := time.Since(start)
	require.ErrorIs(t, err, context.DeadlineExceeded)
	require.ErrorIs(t, err, sqlite3.INTERRUPT)
	// Generous: the point is "not after the query ran for minutes".
	assert.Less(t, elapsed, 2*time.Second)
	t.Logf("interrupted after %v", elapsed)
	// The same (only) reader works again: no sticky interrupt.
	require.NoError(t, h.QueryRow(context.Background(), "SELECT 41 + 1").Scan(&n))
	assert.Equal(t, int64(42), n)
	assert.Equal(t, uint64(1), h.Stats().Readers.Created)
}

func TestReadSeesOneSnapshot(t *testing.T) {
	h := openT(t, tempDB(t), createTable)
	seed(t, h, 1)
	ctx := context.Background()
	require.NoError(t, h.Read(ctx, func(_ context.Context, c *Conn) error {
		var before, after int
		require.NoError(t, c.QueryRow("SELECT count(*) FROM t").Scan(&before))
		// The writer commits while the snapshot is held.
		require.NoError(t, h.Exec(ctx, "INSERT INTO t(v) VALUES ('meanwhile')"))
		require.NoError(t, c.QueryRow("SELECT count(*) FROM t").Scan(&after))
		assert.Equal(t, 1, before)
		assert.Equal(t, before, after, "Read saw a commit made during it")
		return nil
	}))
	var n int
	require.NoError(t, h.QueryRow(ctx, "SELECT count(*) FROM t").Scan(&n))
	assert.Equal(t, 2, n, "the next read sees it")
}

func TestTxBeginEnd(t *testing.T) {
	h := openT(t, tempDB(t), createTable)
	ctx := context.Background()
	write := func(fail error) (err error) {
		l, err := h.Writer(ctx)
		if err != nil {
			return err
		}
		defer l.Release()
		c := l.Conn()
		tx, err := c.Begin()
		if err != nil {
			return err
		}
		defer tx.End(&err)
		assert.Equal(t, sqlite3.TXN_WRITE, c.Raw().TxnState("main"), "the writer begins IMMEDIATE")
		if err := c.Exec("INSERT INTO t(v) VALUES ('tx')"); err != nil {
			return err
		}
		return fail
	}
	require.NoError(t, write(nil))
	boom := errors.New("boom")
	require.ErrorIs(t, write(boom), boom)
	assert.Panics(t, func() {
		l, _ := h.Writer(ctx)
		defer l.Release()
		func() (err error) {
			tx, _ := l.Conn().Begin()
			defer tx.End(&err)
			l.Conn().Exec("INSERT INTO t(v) VALUES ('panic')")
			panic("in tx")
		}()
	})
	var n int
	require.NoError(t, h.QueryRow(ctx, "SELECT count(*) FROM t").Scan(&n))
	assert.Equal(t, 1, n)
	assert.Equal(t, uint64(0), h.Stats().Writer.RollbacksOnRelease, "End rolled back, not the release")
}

func TestSavepointNestsInWrite(t *testing.T) {
	h := openT(t, tempDB(t), createTable)
	ctx := context.Background()
	boom := errors.New("inner failed")
	require.NoError(t, h.Write(ctx, func(_ context.Context, c *Conn) error {
		require.NoError(t, c.Exec("INSERT INTO t(v) VALUES ('outer')"))
		err := c.Savepoint(func(c *Conn) error {
			require.NoError(t, c.Exec("INSERT INTO t(v) VALUES ('inner-dropped')"))
			return boom
		})
		require.ErrorIs(t, err, boom)
		assert.Panics(t, func() {
			c.Savepoint(func(c *Conn) error {
				c.Exec("INSERT INTO t(v) VALUES ('inner-panicked')")
				panic("inner panic")
			})
		})
		return c.Savepoint(func(c *Conn) error {
			// Savepoints nest.
			return c.Savepoint(func(c *Conn) error {
				return c.Exec("INSERT INTO t(v) VALUES ('inner-kept')")
			})
		})
	}))
	var got []string
	for row, err := range h.Query(ctx, "SELECT v FROM t ORDER BY id") {
		require.NoError(t, err)
		var v string
		require.NoError(t, row.Scan(&v))
		got = append(got, v)
	}
	assert.Equal(t, []string{"outer", "inner-kept"}, got)
}

// cachedStmts counts c's prepared statements but its own BEGIN and COMMIT.
func cachedStmts(c *Conn) int {
	n := 0
	for s := range c.raw.Stmts() {
		if s != c.beginStmt && s != c.commitStmt && s != c.pin {
			n++
		}
	}
	return n
}
