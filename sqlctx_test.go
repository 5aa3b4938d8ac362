package sqlitepool

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestSQLContextInterruptsTheStatement(t *testing.T) {
	h := openT(t, tempDB(t), createTable)
	db := handleDBT(t, h)

	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	err := db.QueryRowContext(ctx, endless).Scan(new(int))
	require.ErrorIs(t, err, context.DeadlineExceeded)

	ctx, cancel = context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	_, err = db.ExecContext(ctx, "INSERT INTO t(v) SELECT x FROM (WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x+1 FROM c) SELECT x FROM c)")
	require.ErrorIs(t, err, context.DeadlineExceeded)

	// The connections went back clean and unbroken.
	_, err = db.Exec("INSERT INTO t(v) VALUES (1)")
	require.NoError(t, err)
	require.Equal(t, 1, sqlCountRows(t, db), "the interrupted insert left nothing")
	s := h.Stats()
	require.Zero(t, s.Writer.Replaced.Broken+s.Readers.Replaced.Broken)
	require.Zero(t, s.Writer.InUse+s.Readers.InUse)
}

func TestSQLConnEachCallHasItsContext(t *testing.T) {
	h := openT(t, tempDB(t), createTable)
	db := handleDBT(t, h)
	conn, err := db.Conn(context.Background())
	require.NoError(t, err)
	defer conn.Close()

	// The first call's context ends after it: the next call, with a
	// context of its own, must not be interrupted by it.
	ctx, cancel := context.WithCancel(context.Background())
	_, err = conn.ExecContext(ctx, "INSERT INTO t(v) VALUES (1)")
	require.NoError(t, err)
	cancel()
	_, err = conn.ExecContext(context.Background(), "INSERT INTO t(v) VALUES (2)")
	require.NoError(t, err)
	var n int
	require.NoError(t, conn.QueryRowContext(context.Background(), "SELECT count(*) FROM t").Scan(&n))
	require.Equal(t, 2, n)

	// And a later call's context interrupts it on the connection held.
	ctx, cancel = context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	err = conn.QueryRowContext(ctx, endless).Scan(&n)
	require.ErrorIs(t, err, context.DeadlineExceeded)
}

func TestSQLRowsClosedByCancelLeaveTheConnectionClean(t *testing.T) {
	h := openT(t, tempDB(t), createTable)
	db := handleDBT(t, h)
	ctx, cancel := context.WithCancel(context.Background())
	rows, err := db.QueryContext(ctx, "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x+1 FROM c) SELECT x FROM c")
	require.NoError(t, err)
	require.True(t, rows.Next())
	cancel() // database/sql closes the Rows from its own goroutine
	for rows.Next() {
	}
	require.ErrorIs(t, rows.Err(), context.Canceled)
	require.NoError(t, rows.Close())
	s := h.Stats()
	require.Zero(t, s.Readers.InUse, "the reader went back")
	require.Zero(t, s.Readers.Replaced.Broken)
	require.Zero(t, s.Readers.RollbacksOnRelease)
	var n int
	require.NoError(t, db.QueryRow("SELECT count(*) FROM t").Scan(&n))
}

func TestSQLTxRolledBackByCancelLeavesTheWriterClean(t *testing.T) {
	h := openT(t, tempDB(t), createTable)
	db := handleDBT(t, h)
	ctx, cancel := context.WithCancel(context.Background())
	tx, err := db.BeginTx(ctx, nil)
	require.NoError(t, err)
	_, err = tx.Exec("INSERT INTO t(v) VALUES (1)")
	require.NoError(t, err)
	cancel() // database/sql rolls back from its own goroutine
	err = tx.Commit()
	require.Error(t, err)
	// The next write waits for the writer until the rollback gave it back.
	require.NoError(t, h.Exec(context.Background(), "INSERT INTO t(v) VALUES (2)"))
	require.Equal(t, int64(1), readInt(t, h, "SELECT count(*) FROM t"))
	s := h.Stats()
	require.Zero(t, s.Writer.RollbacksOnRelease, "the Tx rolled back itself, before the release")
	require.Zero(t, s.Writer.Replaced.Broken)
}

func TestSQLNeverReturnsErrBadConnForPoolErrors(t *testing.T) {
	h := openT(t, tempDB(t), createTable, WithAcquireTimeout(20*time.Millisecond))
	db := handleDBT(t, h)
	l, err := h.Writer(context.Background())
	require.NoError(t, err)
	_, err = db.Exec("INSERT INTO t(v) VALUES (1)")
	require.ErrorIs(t, err, ErrAcquireTimeout)
	require.NotErrorIs(t, err, driver.ErrBadConn)
	require.Equal(t, uint64(1), h.Stats().Writer.Timeouts, "database/sql did not retry: no ErrBadConn")

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	c, err := h.Connector().Connect(context.Background())
	require.NoError(t, err)
	_, err = c.(driver.ExecerContext).ExecContext(ctx, "INSERT INTO t(v) VALUES (1)", nil)
	require.ErrorIs(t, err, context.Canceled)
	require.NotErrorIs(t, err, driver.ErrBadConn)
	require.NoError(t, c.Close())
	l.Release()
}

func TestSQLExecInsideATxOfTheSameContextIsReported(t *testing.T) {
	var out logBuffer
	h := openT(t, tempDB(t), createTable,
		WithLogger(slog.New(slog.NewTextHandler(&out, nil))), WithSlowAcquire(20*time.Millisecond))
	db := handleDBT(t, h)
	ctx := context.Background()
	tx, err := db.BeginTx(ctx, nil)
	require.NoError(t, err)
	// Run by another goroutine here, so that the test can end the Tx: on
	// the Tx's own goroutine this call would wait forever.
	done := make(chan struct{})
	var execErr error
	go func() {
		defer close(done)
		_, execErr = db.ExecContext(ctx, "INSERT INTO t(v) VALUES ('outside the tx')")
	}()
	defer func() { // on a failed assertion too
		tx.Rollback()
		<-done
	}()
	// The wait is counted, then logged.
	const said = "a database/sql Tx begun with this same context holds"
	require.Eventually(t, func() bool { return strings.Contains(out.String(), said) }, 10*time.Second, 5*time.Millisecond)
	require.Equal(t, uint64(1), h.Stats().SameContextWaits)
	require.Contains(t, out.String(), "sqlctx_test.go", "the log names the waiting call site")
	require.NoError(t, tx.Commit())
	<-done
	require.NoError(t, execErr)
}

func TestSQLExecInsideATxOfAnotherContextIsReported(t *testing.T) {
	var out logBuffer
	h := openT(t, tempDB(t), createTable,
		WithLogger(slog.New(slog.NewTextHandler(&out, nil))), WithSlowAcquire(20*time.Millisecond))
	db := handleDBT(t, h)
	tx, err := db.BeginTx(context.Background(), nil)
	require.NoError(t, err)
	defer tx.Rollback()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan struct{})
	var execErr error
	go func() {
		defer close(done)
		_, execErr = db.ExecContext(ctx, "INSERT INTO t(v) VALUES (1)")
	}()
	defer func() {
		cancel()
		<-done
	}()
	const said = "which a database/sql Tx holds"
	require.Eventually(t, func() bool { return strings.Contains(out.String(), said) }, 10*time.Second, 5*time.Millisecond)
	require.Equal(t, uint64(1), h.Stats().SQLTxWaits)
	require.Zero(t, h.Stats().SameContextWaits, "not the same context")
	cancel()
	<-done
	require.ErrorIs(t, execErr, context.Canceled)
	require.NoError(t, tx.Rollback())
}

func TestSQLWaitsWithoutATxAreNotReported(t *testing.T) {
	h := openT(t, tempDB(t), createTable, WithSlowAcquire(20*time.Millisecond), WithLogger(slog.New(slog.NewTextHandler(&logBuffer{}, nil))))
	db := handleDBT(t, h)
	l, err := h.Writer(context.Background())
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	_, err = db.ExecContext(ctx, "INSERT INTO t(v) VALUES (1)")
	require.ErrorIs(t, err, context.DeadlineExceeded)
	l.Release()
	s := h.Stats()
	require.Zero(t, s.SameContextWaits+s.SQLTxWaits, "a writer held by a lease of another context is an ordinary wait")
}

// Rows whose step failed report it from Next, and not again from Close.
func TestSQLRowsCloseDoesNotRepeatTheStepError(t *testing.T) {
	h := openT(t, tempDB(t), createTable)
	c, err := h.Connector().Connect(context.Background())
	require.NoError(t, err)
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	// Rows without end: the query's first step has a row, a later one is
	// interrupted.
	const rowsWithoutEnd = "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i+1 FROM n) SELECT i FROM n"
	rows, err := c.(driver.QueryerContext).QueryContext(ctx, rowsWithoutEnd, nil)
	require.NoError(t, err)
	dest := make([]driver.Value, 1)
	for err == nil {
		err = rows.Next(dest)
	}
	require.ErrorIs(t, err, context.DeadlineExceeded)
	require.NoError(t, rows.Close())
}

// A read-only Tx ending while a write Tx holds the writer leaves the pool
// knowing that a Tx holds it.
func TestSQLReadOnlyTxEndLeavesTheWriteTxKnown(t *testing.T) {
	h := openT(t, tempDB(t), createTable)
	db := handleDBT(t, h)
	ctx := context.Background()
	wtx, err := db.BeginTx(ctx, nil)
	require.NoError(t, err)
	defer wtx.Rollback()
	rtx, err := db.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	require.NoError(t, err)
	require.NoError(t, rtx.Commit())
	require.True(t, h.p.sqlTx.Load(), "the write Tx still holds the writer")
	require.NoError(t, wtx.Commit())
	require.False(t, h.p.sqlTx.Load())
}
