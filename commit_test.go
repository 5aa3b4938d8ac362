package sqlitepool

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/ncruces/go-sqlite3"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestWriteCancelledDuringCommitReportsTheOutcome cancels the context of
// Write from inside COMMIT (the engine's commit hook runs once COMMIT has
// started), many times over. The engine asks the interrupt context again
// when the COMMIT statement returns, every 1000 virtual-machine steps of
// it; an interrupt seen then must not turn a committed transaction into an
// error. Write must return nil exactly for the rows that are there: all
// but those whose context ended before COMMIT.
func TestWriteCancelledDuringCommitReportsTheOutcome(t *testing.T) {
	h := openT(t, tempDB(t), createTable)
	const n = 3000 // a COMMIT takes a few steps: hundreds of runs per boundary
	var acked, failed int64
	for i := range n {
		ctx, cancel := context.WithCancel(context.Background())
		before := i%7 == 0 // cancelled before COMMIT: must roll back
		err := h.Write(ctx, func(_ context.Context, c *Conn) error {
			c.Raw().CommitHook(func() bool { cancel(); return true })
			if before {
				defer cancel()
			}
			return c.Exec("INSERT INTO t(id, v) VALUES (?, 'x')", i)
		})
		cancel()
		if writeFailed(t, h, i, err, "write") {
			failed++
		} else {
			acked++
		}
	}
	require.NoError(t, h.Write(context.Background(), func(_ context.Context, c *Conn) error {
		c.Raw().CommitHook(nil)
		return nil
	}))
	t.Logf("%d writes acknowledged, %d failed", acked, failed)
	assert.Equal(t, int64((n+6)/7), failed, "the writes cancelled before COMMIT, and only those")
}

// writeFailed checks that the write of row id reported its outcome: nil
// exactly when the row is there, and otherwise an error matching
// context.Canceled with the row absent. what names the write in failures.
// It reports whether the write failed.
func writeFailed(t *testing.T, h *Handle, id int, err error, what string) bool {
	t.Helper()
	present := readInt(t, h, "SELECT count(*) FROM t WHERE id = ?", id)
	if err == nil {
		assert.Equal(t, int64(1), present, "%s %d returned nil and is missing", what, id)
		return false
	}
	assert.ErrorIs(t, err, context.Canceled, "%s %d", what, id)
	assert.Equal(t, int64(0), present, "%s %d returned %v and is present", what, id, err)
	return true
}

// TestAutocommitWriteCancelledDuringItsCommitReportsTheOutcome is the same
// for statements run outside a transaction on a Writer lease: each commits
// on its own, and the engine's last look at the interrupt context, once the
// statement's commit took effect, must not turn it into an error. Exec,
// QueryRow (INSERT ... RETURNING) and Query run many writes each, the
// context cancelled from inside each commit.
func TestAutocommitWriteCancelledDuringItsCommitReportsTheOutcome(t *testing.T) {
	h := openT(t, tempDB(t), createTable)
	runs := map[string]func(c *Conn, id int) error{
		"Exec": func(c *Conn, id int) error {
			return c.Exec("INSERT INTO t(id, v) VALUES (?, 'x')", id)
		},
		"QueryRow": func(c *Conn, id int) error {
			var got int
			err := c.QueryRow("INSERT INTO t(id, v) VALUES (?, 'x') RETURNING id", id).Scan(&got)
			if err == nil && got != id {
				return fmt.Errorf("RETURNING gave %d for %d", got, id)
			}
			return err
		},
		"Query": func(c *Conn, id int) error {
			for _, err := range c.Query("INSERT INTO t(id, v) VALUES (?, 'x') RETURNING id", id) {
				if err != nil {
					return err
				}
			}
			return nil
		},
	}
	const n = 1500 // a few steps a statement: hundreds of runs per boundary
	id := 0
	for _, name := range []string{"Exec", "QueryRow", "Query"} {
		run := runs[name]
		var acked, failed int
		for i := range n {
			id++
			ctx, cancel := context.WithCancel(context.Background())
			l, err := h.Writer(ctx)
			require.NoError(t, err)
			c := l.Conn()
			before := i%7 == 0 // cancelled before the statement: must not run
			if before {
				cancel()
			}
			c.Raw().CommitHook(func() bool { cancel(); return c.onCommit() })
			err = run(c, id)
			c.Raw().CommitHook(c.onCommit)
			l.Release()
			cancel()
			if writeFailed(t, h, id, err, name) {
				failed++
			} else {
				acked++
			}
		}
		t.Logf("%s: %d writes acknowledged, %d failed", name, acked, failed)
		assert.Equal(t, (n+6)/7, failed, "%s: the writes cancelled before the statement, and only those", name)
	}
}

// TestQueryRowReportsTheCommitOfItsWrite: a write with RETURNING outside a
// transaction commits when its statement is reset, after the row was read.
// A commit refused there (here by a commit hook; in the pool, by a moved
// file or a full disk) must be QueryRow's error, not a lost acknowledged
// write.
func TestQueryRowReportsTheCommitOfItsWrite(t *testing.T) {
	h := openT(t, tempDB(t), createTable)
	l, err := h.Writer(context.Background())
	require.NoError(t, err)
	c := l.Conn()
	c.Raw().CommitHook(func() bool { return false })
	var id int
	err = c.QueryRow("INSERT INTO t(id, v) VALUES (7, 'x') RETURNING id").Scan(&id)
	assert.ErrorIs(t, err, sqlite3.CONSTRAINT_COMMITHOOK)
	c.Raw().CommitHook(c.onCommit)
	require.NoError(t, c.QueryRow("INSERT INTO t(id, v) VALUES (8, 'x') RETURNING id").Scan(&id))
	assert.Equal(t, 8, id)
	l.Release()
	require.NoError(t, h.Read(context.Background(), func(_ context.Context, rc *Conn) error {
		assert.Equal(t, int64(0), queryInt(t, rc, "SELECT count(*) FROM t WHERE id = 7"), "the refused write")
		assert.Equal(t, int64(1), queryInt(t, rc, "SELECT count(*) FROM t WHERE id = 8"))
		return nil
	}))
}

// TestAutocommitWriteWhoseCommitFailsIsNotAcknowledged: a COMMIT can fail
// after the commit hook let it through (here the disk is full when the WAL
// is written), and the engine's last look at the interrupt context can then
// replace that error with SQLITE_INTERRUPT. Such a statement must still
// fail: a row that is not there must never be acknowledged. Each statement
// is cancelled from its commit hook; the last look happens every few dozen
// runs of the statement (every 1000 of its steps), so many runs cover it.
func TestAutocommitWriteWhoseCommitFailsIsNotAcknowledged(t *testing.T) {
	path := tempDB(t)
	faults, plan := withFaults(t, path)
	h := openT(t, path, createTable, faults)
	const insert = "INSERT INTO t(id, v) VALUES (?, 'x')"
	interrupted := 0
	for id := range 400 {
		ctx, cancel := context.WithCancel(context.Background())
		l, err := h.Writer(ctx)
		require.NoError(t, err)
		c := l.Conn()
		c.Raw().CommitHook(func() bool { cancel(); return c.onCommit() })
		plan.failWrites(sqlite3.FULL)
		err = c.Exec(insert, id)
		plan.heal()
		c.Raw().CommitHook(c.onCommit)
		l.Release()
		cancel()
		require.Error(t, err, "insert %d: the commit failed", id)
		if errors.Is(err, sqlite3.INTERRUPT) {
			interrupted++
		} else {
			require.ErrorIs(t, err, sqlite3.FULL)
		}
	}
	assert.Zero(t, readInt(t, h, "SELECT count(*) FROM t"), "no insert committed")
	assert.Equal(t, uint64(1), h.Stats().Writer.Created, "a full disk does not break the writer")
	t.Logf("%d of 400 failed commits reported as interrupted", interrupted)
	assert.Positive(t, interrupted, "the engine's last look at the context came during a failed commit")
}

// TestQueryInterruptedAfterACommitInItsLoopFails: the commit that lets an
// interrupt go must be the statement's own. A query ranged over on a
// Writer lease, outside a transaction, whose loop body commits a write of
// its own and then sees the context end, was interrupted before its last
// row: the iteration must end with the context's error, not as if every
// row had been read.
func TestQueryInterruptedAfterACommitInItsLoopFails(t *testing.T) {
	h := openT(t, tempDB(t), func(ctx context.Context, c *Conn) error {
		return c.Exec("CREATE TABLE t(id INTEGER PRIMARY KEY, v); CREATE TABLE seen(id);" +
			"INSERT INTO t(id, v) SELECT value, 'x' FROM generate_series(1, 10)")
	})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	l, err := h.Writer(ctx)
	require.NoError(t, err)
	defer l.Release()
	c := l.Conn()
	rows := 0
	var iterErr error
	for row, err := range c.Query("SELECT id FROM t ORDER BY id") {
		if err != nil {
			iterErr = err
			break
		}
		var id int
		require.NoError(t, row.Scan(&id))
		rows++
		require.NoError(t, c.Exec("INSERT INTO seen(id) VALUES (?)", id)) // commits on its own
		cancel()
	}
	assert.Equal(t, 1, rows, "the context ended after the first row")
	assert.ErrorIs(t, iterErr, context.Canceled, "an interrupted query ended without an error")
}

// TestReturningWriteCancelledBetweenItsRowsReportsTheOutcome: a write
// with RETURNING outside a transaction makes all its changes at its first
// step, and commits when it ends, at its last step or at the reset that
// ends it early. A context that ends while the loop body handles a row
// cannot keep the write out of the database any more: Query must then not
// report it as failed. Each run cancels after its first row and checks that
// an error comes only with no row written, and nil with every row read.
func TestReturningWriteCancelledBetweenItsRowsReportsTheOutcome(t *testing.T) {
	h := openT(t, tempDB(t), createTable)
	const perRun = 3
	for run := range 20 {
		ctx, cancel := context.WithCancel(context.Background())
		l, err := h.Writer(ctx)
		require.NoError(t, err)
		c := l.Conn()
		first := run*perRun + 1
		rows := 0
		var iterErr error
		for _, err := range c.Query("INSERT INTO t(id, v) SELECT value, 'x' FROM generate_series(?, ?) RETURNING id", first, first+perRun-1) {
			if err != nil {
				iterErr = err
				break
			}
			rows++
			cancel()
		}
		l.Release()
		cancel()
		present := readInt(t, h, "SELECT count(*) FROM t WHERE id BETWEEN ? AND ?", first, first+perRun-1)
		if iterErr != nil {
			assert.Zero(t, present, "run %d: Query failed with %v and its rows are there", run, iterErr)
		} else {
			assert.Equal(t, int64(perRun), present, "run %d", run)
			assert.Equal(t, perRun, rows, "run %d: every RETURNING row is read", run)
		}
	}
}

// TestCommitRunAsSQLCancelledDuringItReportsTheOutcome: a transaction a
// Writer lease's user began and commits with SQL of its own, through
// Conn.Exec, gets the same outcome: nil exactly when the rows are there.
// COMMIT is cancelled from inside (the commit hook) in most runs, and
// before it runs in every seventh, which must fail and leave nothing.
func TestCommitRunAsSQLCancelledDuringItReportsTheOutcome(t *testing.T) {
	h := openT(t, tempDB(t), createTable)
	const n = 1500
	failed := 0
	for id := range n {
		ctx, cancel := context.WithCancel(context.Background())
		l, err := h.Writer(ctx)
		require.NoError(t, err)
		c := l.Conn()
		require.NoError(t, c.Exec("BEGIN IMMEDIATE"))
		require.NoError(t, c.Exec("INSERT INTO t(id, v) VALUES (?, 'x')", id))
		if id%7 == 0 {
			cancel()
		}
		c.Raw().CommitHook(func() bool { cancel(); return c.onCommit() })
		err = c.Exec("COMMIT")
		l.Release() // rolls back what did not commit; puts the pool's hook back
		cancel()
		if writeFailed(t, h, id, err, "COMMIT of") {
			failed++
		}
	}
	t.Logf("%d COMMITs acknowledged, %d failed", n-failed, failed)
	assert.Equal(t, (n+6)/7, failed, "the COMMITs cancelled before they ran, and only those")
}
