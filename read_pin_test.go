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

// Tests of how Handle.Read holds its snapshot (snapshot.go): one statement
// stepped to its row for the length of fn instead of BEGIN ... COMMIT.

// countT counts the rows of t through the statement cache.
func countT(t *testing.T, c *Conn) int {
	t.Helper()
	var n int
	require.NoError(t, c.QueryRow("SELECT count(*) FROM t").Scan(&n))
	return n
}

// commitRow makes the writer commit one row of t.
func commitRow(t *testing.T, h *Handle) {
	t.Helper()
	require.NoError(t, h.Exec(context.Background(), "INSERT INTO t(v) VALUES ('meanwhile')"))
}

// requireReadHoldsSnapshot checks that a Read of h does not see a commit
// the writer makes during it.
func requireReadHoldsSnapshot(t *testing.T, h *Handle) {
	t.Helper()
	require.NoError(t, h.Read(context.Background(), func(_ context.Context, c *Conn) error {
		before := countT(t, c)
		commitRow(t, h)
		assert.Equal(t, before, countT(t, c), "Read saw a commit made during it")
		return nil
	}))
}

// requireNoSnapshotLeft checks that the readers of h hold no transaction,
// and that a TRUNCATE checkpoint empties the WAL: no snapshot pins it.
func requireNoSnapshotLeft(t *testing.T, h *Handle) {
	t.Helper()
	ctx := context.Background()
	l, err := h.Reader(ctx)
	require.NoError(t, err)
	assert.Equal(t, sqlite3.TXN_NONE, l.Conn().Raw().TxnState(""), "a reader leased after Read holds a transaction")
	l.Release()

	commitRow(t, h) // frames in the WAL for the checkpoint to copy
	w, err := h.Writer(ctx)
	require.NoError(t, err)
	defer w.Release()
	var busy, logged, copied int
	require.NoError(t, w.Conn().QueryRow("PRAGMA wal_checkpoint(TRUNCATE)").Scan(&busy, &logged, &copied))
	assert.Zero(t, busy, "a snapshot left open keeps the WAL from being truncated")
	assert.Zero(t, logged, "the WAL was not truncated")
}

// requireReaderRecovered checks that a Read that ended badly left nothing
// behind: every lease back, no snapshot held, and the reader holding a
// snapshot again in the next Read.
func requireReaderRecovered(t *testing.T, h *Handle) {
	t.Helper()
	requireIdle(t, h)
	requireNoSnapshotLeft(t, h)
	requireReadHoldsSnapshot(t, h)
}

// TestReadPinHoldsWhateverFnRuns: whatever fn runs on the reader,
// statements run to their end, its own transactions or savepoints, failing
// statements, a commit made by the writer after fn started stays invisible
// until fn returns, and the next Read sees it.
func TestReadPinHoldsWhateverFnRuns(t *testing.T) {
	h := openT(t, tempDB(t), createTable, WithReaders(1))
	seed(t, h, 3)
	ctx := context.Background()
	ways := map[string]func(c *Conn) error{
		"Exec": func(c *Conn) error { return c.Exec("SELECT v FROM t") },
		"Exec script": func(c *Conn) error {
			return c.Exec("SELECT v FROM t; SELECT count(*) FROM t")
		},
		"Query to the end": func(c *Conn) error {
			for _, err := range c.Query("SELECT v FROM t") {
				if err != nil {
					return err
				}
			}
			return nil
		},
		"Query stopped early": func(c *Conn) error {
			for _, err := range c.Query("SELECT v FROM t") {
				return err
			}
			return nil
		},
		"QueryRow": func(c *Conn) error {
			var v int
			return c.QueryRow("SELECT v FROM t ORDER BY id LIMIT 1").Scan(&v)
		},
		"Prep stepped to DONE and Reset": func(c *Conn) error {
			s, err := c.Prep("SELECT v FROM t")
			if err != nil {
				return err
			}
			for s.Step() {
			}
			if err := s.Err(); err != nil {
				return err
			}
			return s.Reset()
		},
		"raw Exec": func(c *Conn) error { return c.Raw().Exec("SELECT v FROM t") },
		"raw Prepare Step Close": func(c *Conn) error {
			s, _, err := c.Raw().Prepare("SELECT v FROM t")
			if err != nil {
				return err
			}
			for s.Step() {
			}
			if err := s.Err(); err != nil {
				s.Close()
				return err
			}
			return s.Close()
		},
		"Savepoint": func(c *Conn) error {
			return c.Savepoint(func(c *Conn) error { return c.Exec("SELECT v FROM t") })
		},
		"Savepoint failing": func(c *Conn) error {
			errMine := errors.New("mine")
			err := c.Savepoint(func(c *Conn) error {
				if err := c.Exec("SELECT v FROM t"); err != nil {
					return err
				}
				return errMine
			})
			if !errors.Is(err, errMine) {
				return err
			}
			return nil
		},
		"Begin and End": func(c *Conn) (err error) {
			tx, err := c.Begin()
			if err != nil {
				return err
			}
			defer tx.End(&err)
			return c.Exec("SELECT v FROM t")
		},
		"Begin and End rolling back": func(c *Conn) error {
			errMine := errors.New("mine")
			err := func() (err error) {
				tx, err := c.Begin()
				if err != nil {
					return err
				}
				defer tx.End(&err)
				if err := c.Exec("SELECT v FROM t"); err != nil {
					return err
				}
				return errMine
			}()
			if !errors.Is(err, errMine) {
				return err
			}
			return nil
		},
		"raw BEGIN COMMIT": func(c *Conn) error {
			return c.Raw().Exec("BEGIN; SELECT v FROM t; COMMIT")
		},
		"raw BEGIN ROLLBACK": func(c *Conn) error {
			return c.Raw().Exec("BEGIN; SELECT v FROM t; ROLLBACK")
		},
		"statement failing at run time": func(c *Conn) error {
			// Integer overflow: an error in the engine's program, which in
			// autocommit mode rolls back every transaction of the
			// connection.
			err := c.Exec("SELECT abs(-9223372036854775807 - 1) FROM t")
			if err == nil {
				return errors.New("the overflow did not fail")
			}
			return nil
		},
		"write refused": func(c *Conn) error {
			err := c.Exec("INSERT INTO t(v) VALUES ('no')")
			if !errors.Is(err, ErrReadOnly) {
				return errors.Join(errors.New("want ErrReadOnly"), err)
			}
			return nil
		},
		"VACUUM refused": func(c *Conn) error {
			if c.Exec("VACUUM") == nil {
				return errors.New("VACUUM ran on a reader inside Read")
			}
			return nil
		},
		"VACUUM INTO refused": func(c *Conn) error {
			if c.Exec("VACUUM INTO ?", t.TempDir()+"/copy.db") == nil {
				return errors.New("VACUUM INTO ran on a reader inside Read")
			}
			return nil
		},
		"ATTACH refused": func(c *Conn) error {
			if c.Exec("ATTACH ? AS other", t.TempDir()+"/other.db") == nil {
				return errors.New("ATTACH ran on a reader inside Read")
			}
			return nil
		},
	}
	for name, way := range ways {
		t.Run(name, func(t *testing.T) {
			var before int
			require.NoError(t, h.QueryRow(ctx, "SELECT count(*) FROM t").Scan(&before))
			require.NoError(t, h.Read(ctx, func(_ context.Context, c *Conn) error {
				// The snapshot is taken when fn starts, before any read.
				commitRow(t, h)
				require.NoError(t, way(c))
				assert.Equal(t, before, countT(t, c), "Read saw a commit made during it")
				commitRow(t, h)
				require.NoError(t, way(c))
				commitRow(t, h)
				assert.Equal(t, before, countT(t, c), "Read saw a commit made during it")
				return nil
			}))
			require.NoError(t, h.Read(ctx, func(_ context.Context, c *Conn) error {
				assert.Equal(t, before+3, countT(t, c), "the next Read sees every commit")
				return nil
			}))
			requireNoSnapshotLeft(t, h)
			assert.Zero(t, h.Stats().Readers.RollbacksOnRelease, "Read left a transaction to roll back")
		})
	}
}

// TestReadLeavesNoSnapshot: however Read ends, its reader goes back to
// the pool holding no transaction, and the WAL can be truncated.
func TestReadLeavesNoSnapshot(t *testing.T) {
	errMine := errors.New("mine")
	ends := map[string]func(t *testing.T, h *Handle) error{
		"normally": func(t *testing.T, h *Handle) error {
			return h.Read(context.Background(), func(_ context.Context, c *Conn) error {
				countT(t, c)
				return nil
			})
		},
		"without a statement": func(t *testing.T, h *Handle) error {
			return h.Read(context.Background(), func(_ context.Context, c *Conn) error { return nil })
		},
		"with an error": func(t *testing.T, h *Handle) error {
			err := h.Read(context.Background(), func(_ context.Context, c *Conn) error {
				countT(t, c)
				return errMine
			})
			if !errors.Is(err, errMine) {
				return errors.Join(errors.New("want errMine"), err)
			}
			return nil
		},
		"with a panic": func(t *testing.T, h *Handle) (err error) {
			defer func() {
				if v := recover(); v != "boom" {
					err = errors.New("the panic did not go on")
				}
			}()
			return h.Read(context.Background(), func(_ context.Context, c *Conn) error {
				countT(t, c)
				panic("boom")
			})
		},
		"with a query left running": func(t *testing.T, h *Handle) error {
			return h.Read(context.Background(), func(_ context.Context, c *Conn) error {
				s, err := c.Prep("SELECT v FROM t")
				require.NoError(t, err)
				require.True(t, s.Step())
				return nil
			})
		},
		"with a raw statement left running": func(t *testing.T, h *Handle) error {
			var s *sqlite3.Stmt
			err := h.Read(context.Background(), func(_ context.Context, c *Conn) (err error) {
				s, _, err = c.Raw().Prepare("SELECT v FROM t")
				require.NoError(t, err)
				require.True(t, s.Step())
				return nil
			})
			// The pool reset it; closing it now is only tidy.
			assert.False(t, s.Busy(), "release did not reset a raw statement")
			require.NoError(t, s.Close())
			return err
		},
		"with its own transaction left open": func(t *testing.T, h *Handle) error {
			return h.Read(context.Background(), func(_ context.Context, c *Conn) error {
				require.NoError(t, c.Raw().Exec("BEGIN; SELECT v FROM t"))
				return nil
			})
		},
		"with ctx cancelled during fn": func(t *testing.T, h *Handle) error {
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			err := h.Read(ctx, func(_ context.Context, c *Conn) error {
				countT(t, c)
				cancel()
				var n int
				return c.QueryRow("SELECT count(*) FROM t").Scan(&n)
			})
			if !errors.Is(err, context.Canceled) {
				return errors.Join(errors.New("want context.Canceled"), err)
			}
			return nil
		},
		"with ctx cancelled before": func(t *testing.T, h *Handle) error {
			ctx, cancel := context.WithCancel(context.Background())
			cancel()
			ran := false
			err := h.Read(ctx, func(_ context.Context, c *Conn) error { ran = true; return nil })
			if ran || !errors.Is(err, context.Canceled) {
				return errors.Join(errors.New("want context.Canceled without fn"), err)
			}
			return nil
		},
	}
	for name, end := range ends {
		t.Run(name, func(t *testing.T) {
			h := openT(t, tempDB(t), createTable, WithReaders(1))
			seed(t, h, 3)
			require.NoError(t, end(t, h))
			requireReaderRecovered(t, h)
		})
	}
}

// TestReadPinInterruptedQuery: a long query inside Read stopped by its
// context fails with the context's error, and the reader serves the next
// Read with a snapshot of its own.
func TestReadPinInterruptedQuery(t *testing.T) {
	h := openT(t, tempDB(t), createTable, WithReaders(1))
	seed(t, h, 3)
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	err := h.Read(ctx, func(_ context.Context, c *Conn) error {
		var n int
		return c.QueryRow("WITH RECURSIVE r(i) AS (SELECT 1 UNION ALL SELECT i+1 FROM r) SELECT count(*) FROM r, t").Scan(&n)
	})
	require.ErrorIs(t, err, context.DeadlineExceeded)
	require.ErrorIs(t, err, sqlite3.INTERRUPT)
	requireReaderRecovered(t, h)
}

// TestReadPinAcrossSchemaChanges: a schema the writer changes between two
// Reads, or during one, leaves the pin and the cached statements working,
// each Read seeing the schema of its snapshot.
func TestReadPinAcrossSchemaChanges(t *testing.T) {
	h := openT(t, tempDB(t), createTable, WithReaders(1))
	seed(t, h, 2)
	ctx := context.Background()
	// columns steps the cached statement (a stale one is prepared again
	// then) and counts its columns.
	columns := func(c *Conn) int {
		s, err := c.Prep("SELECT * FROM t ORDER BY id")
		require.NoError(t, err)
		s.Step()
		require.NoError(t, s.Err())
		defer s.Reset()
		return s.ColumnCount()
	}
	require.NoError(t, h.Read(ctx, func(_ context.Context, c *Conn) error {
		assert.Equal(t, 2, columns(c))
		return nil
	}))

	// Between two Reads: the cached statement is prepared again.
	require.NoError(t, h.Exec(ctx, "ALTER TABLE t ADD COLUMN w DEFAULT 7"))
	require.NoError(t, h.Read(ctx, func(_ context.Context, c *Conn) error {
		assert.Equal(t, 3, columns(c))
		var w int
		require.NoError(t, c.QueryRow("SELECT w FROM t WHERE id = 1").Scan(&w))
		assert.Equal(t, 7, w)
		return nil
	}))

	// During a Read: invisible to it, the schema and the rows alike.
	require.NoError(t, h.Read(ctx, func(_ context.Context, c *Conn) error {
		require.NoError(t, h.Exec(ctx, "ALTER TABLE t ADD COLUMN x DEFAULT 8; CREATE TABLE u(a); INSERT INTO u VALUES (1)"))
		assert.Equal(t, 3, columns(c), "Read saw a schema change made during it")
		err := c.QueryRow("SELECT count(*) FROM u").Scan(new(int))
		assert.ErrorContains(t, err, "no such table", "Read saw a table created during it")
		assert.Equal(t, 3, columns(c), "a failed prepare ended the snapshot")
		return nil
	}))
	require.NoError(t, h.Read(ctx, func(_ context.Context, c *Conn) error {
		assert.Equal(t, 4, columns(c))
		var a int
		require.NoError(t, c.QueryRow("SELECT a FROM u").Scan(&a))
		assert.Equal(t, 1, a)
		return nil
	}))

	// A table dropped and made again with other columns during a Read.
	require.NoError(t, h.Read(ctx, func(_ context.Context, c *Conn) error {
		require.NoError(t, h.Exec(ctx, "DROP TABLE t; CREATE TABLE t(id INTEGER PRIMARY KEY, v)"))
		assert.Equal(t, 4, columns(c), "Read saw a table made again during it")
		assert.Equal(t, 2, countT(t, c))
		return nil
	}))
	require.NoError(t, h.Read(ctx, func(_ context.Context, c *Conn) error {
		assert.Equal(t, 2, columns(c))
		assert.Equal(t, 0, countT(t, c))
		return nil
	}))
	requireNoSnapshotLeft(t, h)
}

// TestReadPinNested: a Read nested in a Write (with fn's context) sees the
// writer's transaction, a Read nested in a Read shares its snapshot, and a
// Write nested in a Read is invisible to it.
func TestReadPinNested(t *testing.T) {
	h := openT(t, tempDB(t), createTable, WithReaders(2))
	seed(t, h, 2)
	ctx := context.Background()
	require.NoError(t, h.Write(ctx, func(ctx context.Context, w *Conn) error {
		require.NoError(t, w.Exec("INSERT INTO t(v) VALUES (1)"))
		return h.Read(ctx, func(_ context.Context, r *Conn) error {
			assert.Same(t, w, r, "served on the writer held")
			assert.Equal(t, 3, countT(t, r), "a nested Read sees the transaction's own writes")
			return nil
		})
	}))
	require.NoError(t, h.Read(ctx, func(rctx context.Context, outer *Conn) error {
		assert.Equal(t, 3, countT(t, outer))
		require.NoError(t, h.Write(rctx, func(_ context.Context, w *Conn) error {
			return w.Exec("INSERT INTO t(v) VALUES (1)")
		}))
		require.NoError(t, h.Read(rctx, func(_ context.Context, inner *Conn) error {
			assert.Same(t, outer, inner, "served on the reader held")
			assert.Equal(t, 3, countT(t, inner), "a nested Read shares the outer snapshot")
			return nil
		}))
		assert.Equal(t, 3, countT(t, outer), "Read saw a commit made during it")
		// A Read of its own (a context without the lease) sees the commit.
		require.NoError(t, h.Read(ctx, func(_ context.Context, other *Conn) error {
			assert.NotSame(t, outer.conn, other.conn)
			assert.Equal(t, 4, countT(t, other))
			return nil
		}))
		return nil
	}))
	requireIdle(t, h)
	assert.Equal(t, int64(4), readInt(t, h, "SELECT count(*) FROM t"))
}

// TestReadPinAfterExclusive: Read works after an Exclusive section that
// checkpointed and vacuumed with every reader held.
func TestReadPinAfterExclusive(t *testing.T) {
	h := openT(t, tempDB(t), createTable, WithReaders(2))
	seed(t, h, 3)
	ctx := context.Background()
	require.NoError(t, h.Read(ctx, func(_ context.Context, c *Conn) error { countT(t, c); return nil }))
	require.NoError(t, h.Exclusive(ctx, func(_ context.Context, w *Conn, readers []*Conn) error {
		for _, r := range readers {
			assert.Equal(t, sqlite3.TXN_NONE, r.Raw().TxnState(""))
		}
		return w.Exec("DELETE FROM t WHERE id = 1; VACUUM; PRAGMA wal_checkpoint(TRUNCATE)")
	}))
	require.NoError(t, h.Read(ctx, func(_ context.Context, c *Conn) error {
		assert.Equal(t, 2, countT(t, c))
		commitRow(t, h)
		assert.Equal(t, 2, countT(t, c), "Read saw a commit made during it")
		return nil
	}))
	requireNoSnapshotLeft(t, h)
}

// TestReadPinInMemory: Read on in-memory databases (no WAL: a read holds a
// shared lock) sees its snapshot and releases it.
func TestReadPinInMemory(t *testing.T) {
	for _, name := range []string{":memory:", "file:/" + t.Name() + "?vfs=memdb"} {
		t.Run(name, func(t *testing.T) {
			h := openT(t, name, createTable, WithReaders(1))
			seed(t, h, 3)
			ctx := context.Background()
			require.NoError(t, h.Read(ctx, func(_ context.Context, c *Conn) error {
				assert.Equal(t, 3, countT(t, c))
				require.NoError(t, c.Exec("SELECT v FROM t"))
				assert.Equal(t, 3, countT(t, c))
				return nil
			}))
			commitRow(t, h) // no lock left behind: the writer commits at once
			l, err := h.Reader(ctx)
			require.NoError(t, err)
			assert.Equal(t, sqlite3.TXN_NONE, l.Conn().Raw().TxnState(""))
			l.Release()
			require.NoError(t, h.Read(ctx, func(_ context.Context, c *Conn) error {
				assert.Equal(t, 4, countT(t, c))
				return nil
			}))
		})
	}
}

// TestReadPinInMemoryNestedWrite: the writer inside Read, which
// Conn.Context serves, on an in-memory database: there the reader's
// shared lock keeps the writer's commit out for as long as it is held.
func TestReadPinInMemoryNestedWrite(t *testing.T) {
	h := openT(t, "file:/"+t.Name()+"?vfs=memdb", createTable, WithReaders(1), WithBusyTimeout(200*time.Millisecond))
	seed(t, h, 1)
	err := h.Read(context.Background(), func(_ context.Context, c *Conn) error {
		return h.Write(c.Context(), func(_ context.Context, w *Conn) error { return w.Exec("INSERT INTO t(v) VALUES (1)") })
	})
	require.NoError(t, err, "a Write inside a Read that has read nothing yet")
	assert.Equal(t, int64(2), readInt(t, h, "SELECT count(*) FROM t"))
}

// TestReadPinIsNotACachedStatement: the pin stays out of the statement
// cache: it takes none of its room and is not reset by the cache.
func TestReadPinIsNotACachedStatement(t *testing.T) {
	h := openT(t, tempDB(t), createTable, WithReaders(1), WithStmtCacheSize(1))
	seed(t, h, 2)
	ctx := context.Background()
	for range 3 {
		require.NoError(t, h.Read(ctx, func(_ context.Context, c *Conn) error {
			assert.Equal(t, 2, countT(t, c))
			var v int
			require.NoError(t, c.QueryRow("SELECT v FROM t WHERE id = 1").Scan(&v))
			assert.Len(t, c.cache.byText, 2, "the cache holds the lease's statements only")
			_, cached := c.cache.byText[pinSQL]
			assert.False(t, cached, "the pin is in the statement cache")
			require.NotNil(t, c.pin)
			assert.True(t, c.pin.Busy(), "the pin is not held during fn")
			// The user's own PRAGMA schema_version is another statement.
			var sv int
			require.NoError(t, c.QueryRow(pinSQL).Scan(&sv))
			assert.True(t, c.pin.Busy(), "the user's PRAGMA schema_version reset the pin")
			return nil
		}))
		l, err := h.Reader(ctx)
		require.NoError(t, err)
		c := l.Conn()
		assert.False(t, c.pin.Busy(), "the pin outlives Read")
		assert.Len(t, c.cache.byText, 1, "the cache was not trimmed to its size")
		l.Release()
	}
	st := h.Stats()
	assert.Zero(t, st.Readers.RollbacksOnRelease)
	assert.Zero(t, st.Readers.Replaced.Broken)
}

// TestReadPinHoldsAttachedDatabases: the pin reads only the main
// database, but a database attached by a setup hook keeps, from its first
// read in fn, the snapshot it had then until fn returns, as under
// BEGIN ... COMMIT; and it is let go with the main one.
func TestReadPinHoldsAttachedDatabases(t *testing.T) {
	auxPath := tempDB(t)
	aux := openT(t, auxPath, createTable)
	seed(t, aux, 2)
	h := openT(t, tempDB(t), createTable, WithReaders(1), WithSetup(func(_ context.Context, c *Conn, r Role) error {
		if r != RoleReader {
			return nil
		}
		c.Raw().Limit(sqlite3.LIMIT_ATTACHED, 1)
		return c.Raw().Exec("ATTACH 'file:" + auxPath + "?mode=ro' AS aux")
	}))
	ctx := context.Background()
	countAux := func(c *Conn) (n int) {
		require.NoError(t, c.QueryRow("SELECT count(*) FROM aux.t").Scan(&n))
		return n
	}
	require.NoError(t, h.Read(ctx, func(_ context.Context, c *Conn) error {
		before := countAux(c)
		commitRow(t, aux)
		assert.Equal(t, before, countAux(c), "Read saw a commit to an attached database made during it")
		require.NoError(t, c.Exec("SELECT * FROM aux.t"))
		commitRow(t, aux)
		assert.Equal(t, before, countAux(c), "Read saw a commit to an attached database made during it")
		return nil
	}))
	require.NoError(t, h.Read(ctx, func(_ context.Context, c *Conn) error {
		assert.Equal(t, 4, countAux(c), "the next Read sees every commit")
		return nil
	}))
	l, err := h.Reader(ctx)
	require.NoError(t, err)
	assert.Equal(t, sqlite3.TXN_NONE, l.Conn().Raw().TxnState("aux"))
	l.Release()
	commitRow(t, aux)
	w, err := aux.Writer(ctx)
	require.NoError(t, err)
	defer w.Release()
	var busy, logged, copied int
	require.NoError(t, w.Conn().QueryRow("PRAGMA wal_checkpoint(TRUNCATE)").Scan(&busy, &logged, &copied))
	assert.Zero(t, busy, "a snapshot of the attached database left open")
}
