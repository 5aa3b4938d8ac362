package sqlitepool

import (
	"context"
	"database/sql"
	"testing"
	"time"

	"github.com/ncruces/go-sqlite3"
	"github.com/stretchr/testify/require"
)

// acquires returns how many times h's writer and readers were leased.
func acquires(h *Handle) (writer, readers uint64) {
	s := h.Stats()
	return s.Writer.Acquires, s.Readers.Acquires
}

// routedTo runs fn and reports which role it leased: "writer", "reader"
// or "both"; and checks that nothing stays leased after it.
func routedTo(t *testing.T, h *Handle, fn func()) string {
	t.Helper()
	w0, r0 := acquires(h)
	fn()
	w1, r1 := acquires(h)
	w, r := leased(h)
	require.Zero(t, w+r, "nothing stays leased once database/sql is done")
	switch {
	case w1 > w0 && r1 > r0:
		return "both"
	case w1 > w0:
		return "writer"
	case r1 > r0:
		return "reader"
	}
	return "none"
}

func TestSQLRouting(t *testing.T) {
	ctx := context.Background()
	h := openT(t, tempDB(t), createTable)
	db := handleDBT(t, h)
	_, err := db.Exec("INSERT INTO t(v) VALUES ('a')")
	require.NoError(t, err)

	t.Run("exec-on-writer", func(t *testing.T) {
		require.Equal(t, "writer", routedTo(t, h, func() {
			_, err := db.ExecContext(ctx, "UPDATE t SET v = v")
			require.NoError(t, err)
		}))
	})
	t.Run("select-on-reader", func(t *testing.T) {
		require.Equal(t, "reader", routedTo(t, h, func() {
			var n int
			require.NoError(t, db.QueryRowContext(ctx, "SELECT count(*) FROM t").Scan(&n))
		}))
	})
	// Queries that write, by the prepared statement, not by their text:
	// each would fail on a reader (read-only), so the answer shows where
	// they ran too.
	for _, q := range []string{
		"INSERT INTO t(v) VALUES ('ret') RETURNING id",
		"WITH x(v) AS (SELECT 'cte') INSERT INTO t(v) SELECT v FROM x RETURNING id",
		"  /* comment */ DELETE FROM t WHERE v = 'nothing' RETURNING id",
		"PRAGMA user_version = 7",
	} {
		t.Run("writing-query", func(t *testing.T) {
			require.Equal(t, "both", routedTo(t, h, func() {
				rows, err := db.QueryContext(ctx, q)
				require.NoError(t, err, q)
				for rows.Next() {
				}
				require.NoError(t, rows.Err(), q)
				require.NoError(t, rows.Close())
			}), q)
		})
	}
	require.Equal(t, int64(7), readInt(t, h, "PRAGMA user_version"))
	require.Equal(t, int64(1), readInt(t, h, "SELECT count(*) FROM t WHERE v = 'cte'"))

	t.Run("query-on-writer-held", func(t *testing.T) {
		conn, err := db.Conn(ctx)
		require.NoError(t, err)
		defer conn.Close()
		_, err = conn.ExecContext(ctx, "CREATE TEMP TABLE tmp(a)")
		require.NoError(t, err)
		w0, r0 := acquires(h)
		var n int
		// The temp table is on the writer: the query must run there.
		require.NoError(t, conn.QueryRowContext(ctx, "SELECT count(*) FROM tmp").Scan(&n))
		w1, r1 := acquires(h)
		require.Equal(t, w0, w1, "the sql.Conn keeps the writer it holds")
		require.Equal(t, r0, r1, "a query of a sql.Conn holding the writer runs there")
	})
}

func TestSQLBeginImmediateAsQueryReachesTheWriter(t *testing.T) {
	ctx := context.Background()
	h := openT(t, tempDB(t), createTable)
	db := handleDBT(t, h)
	conn, err := db.Conn(ctx)
	require.NoError(t, err)
	defer conn.Close() // on a failed assertion: the handle's Close waits for it
	rows, err := conn.QueryContext(ctx, "BEGIN IMMEDIATE")
	require.NoError(t, err)
	require.False(t, rows.Next()) // runs it
	require.NoError(t, rows.Err())
	require.NoError(t, rows.Close())
	w, _ := leased(h)
	require.Equal(t, 1, w, "BEGIN IMMEDIATE is not read-only: it runs on the writer")
	_, err = conn.ExecContext(ctx, "INSERT INTO t(v) VALUES ('in tx')")
	require.NoError(t, err)
	_, err = conn.ExecContext(ctx, "COMMIT")
	require.NoError(t, err)
	require.NoError(t, conn.Close())
	require.Equal(t, int64(1), readInt(t, h, "SELECT count(*) FROM t"))
	require.Zero(t, h.Stats().Writer.RollbacksOnRelease)
}

func TestSQLTxWriteHoldsTheWriterFromBegin(t *testing.T) {
	ctx := context.Background()
	path := tempDB(t)
	h := openT(t, path, createTable)
	db := handleDBT(t, h)
	tx, err := db.BeginTx(ctx, nil)
	require.NoError(t, err)
	defer tx.Rollback() // on a failed assertion: the handle's Close waits for it
	w, _ := leased(h)
	require.Equal(t, 1, w, "BeginTx leases the writer")

	// BEGIN IMMEDIATE took the write lock already: another connection of
	// the process cannot write, even before the Tx's first statement.
	raw, err := sqlite3.Open(path)
	require.NoError(t, err)
	defer raw.Close()
	require.ErrorIs(t, raw.Exec("BEGIN IMMEDIATE"), sqlite3.BUSY)

	_, err = tx.Exec("INSERT INTO t(v) VALUES ('tx')")
	require.NoError(t, err)
	var n int
	require.NoError(t, tx.QueryRow("SELECT count(*) FROM t").Scan(&n))
	require.Equal(t, 1, n, "the Tx's queries see its writes: they run on the writer")
	require.NoError(t, tx.Commit())
	w, r := leased(h)
	require.Zero(t, w+r, "Commit gives the writer back")
	require.Equal(t, int64(1), readInt(t, h, "SELECT count(*) FROM t"))

	tx, err = db.BeginTx(ctx, &sql.TxOptions{Isolation: sql.LevelSerializable})
	require.NoError(t, err)
	_, err = tx.Exec("INSERT INTO t(v) VALUES ('rolled back')")
	require.NoError(t, err)
	require.NoError(t, tx.Rollback())
	require.Equal(t, int64(1), readInt(t, h, "SELECT count(*) FROM t"))
	require.Zero(t, h.Stats().Writer.RollbacksOnRelease, "the Tx rolled back itself")
}

func TestSQLTxReadOnlyIsASnapshotOnAReader(t *testing.T) {
	ctx := context.Background()
	h := openT(t, tempDB(t), createTable)
	db := handleDBT(t, h)
	require.NoError(t, h.Exec(ctx, "INSERT INTO t(v) VALUES (1)"))

	tx, err := db.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	require.NoError(t, err)
	defer tx.Rollback()
	w, r := leased(h)
	require.Equal(t, [2]int{0, 1}, [2]int{w, r}, "a read-only Tx holds a reader, not the writer")
	var n int
	require.NoError(t, tx.QueryRow("SELECT count(*) FROM t").Scan(&n))
	require.Equal(t, 1, n)
	require.NoError(t, h.Exec(ctx, "INSERT INTO t(v) VALUES (2)"), "writes go on beside it")
	require.NoError(t, tx.QueryRow("SELECT count(*) FROM t").Scan(&n))
	require.Equal(t, 1, n, "the Tx reads one snapshot")
	_, err = tx.Exec("INSERT INTO t(v) VALUES (3)")
	require.ErrorIs(t, err, ErrReadOnly, "a write inside a read-only Tx fails")
	require.NoError(t, tx.Commit())
	require.Equal(t, int64(2), readInt(t, h, "SELECT count(*) FROM t"))
	w, r = leased(h)
	require.Zero(t, w+r)
}

func TestSQLTxOtherIsolationLevelsAreRefused(t *testing.T) {
	h := openT(t, tempDB(t), createTable)
	db := handleDBT(t, h)
	for _, level := range []sql.IsolationLevel{sql.LevelReadUncommitted, sql.LevelReadCommitted, sql.LevelSnapshot, sql.LevelLinearizable} {
		_, err := db.BeginTx(context.Background(), &sql.TxOptions{Isolation: level})
		require.ErrorIs(t, err, ErrInvalidArgument, level.String())
		require.ErrorContains(t, err, "serializable")
	}
	w, r := leased(h)
	require.Zero(t, w+r)
}

func TestSQLConnPinsWhatItLeases(t *testing.T) {
	ctx := context.Background()
	h := openT(t, tempDB(t), createTable)
	db := handleDBT(t, h)

	conn, err := db.Conn(ctx)
	require.NoError(t, err)
	defer conn.Close()
	var one int
	require.NoError(t, conn.QueryRowContext(ctx, "SELECT 1").Scan(&one))
	w, r := leased(h)
	require.Equal(t, [2]int{0, 1}, [2]int{w, r}, "the sql.Conn keeps its reader between calls")

	res, err := conn.ExecContext(ctx, "INSERT INTO t(v) VALUES ('x')")
	require.NoError(t, err)
	id, err := res.LastInsertId()
	require.NoError(t, err)
	w, r = leased(h)
	require.Equal(t, [2]int{1, 0}, [2]int{w, r}, "once it writes it holds the writer, and gives its idle reader back")

	// Connection state lasts as long as the sql.Conn.
	var last int64
	require.NoError(t, conn.QueryRowContext(ctx, "SELECT last_insert_rowid()").Scan(&last))
	require.Equal(t, id, last)
	_, err = conn.ExecContext(ctx, "CREATE TEMP TABLE session(a)")
	require.NoError(t, err)
	_, err = conn.ExecContext(ctx, "INSERT INTO session VALUES (1)")
	require.NoError(t, err)
	tx, err := conn.BeginTx(ctx, nil)
	require.NoError(t, err)
	_, err = tx.Exec("INSERT INTO session VALUES (2)")
	require.NoError(t, err)
	require.NoError(t, tx.Commit())
	require.NoError(t, conn.QueryRowContext(ctx, "SELECT count(*) FROM session").Scan(&one))
	require.Equal(t, 2, one)
	w, _ = leased(h)
	require.Equal(t, 1, w, "a Tx of the sql.Conn leaves the writer with it")

	require.NoError(t, conn.Close())
	w, r = leased(h)
	require.Zero(t, w+r, "Close gives everything back")
	require.Zero(t, h.Stats().Writer.RollbacksOnRelease)
}

func TestSQLRowsHoldTheirConnectionUntilClosed(t *testing.T) {
	ctx := context.Background()
	h := openT(t, tempDB(t), createTable)
	db := handleDBT(t, h)
	for i := range 3 {
		_, err := db.Exec("INSERT INTO t(v) VALUES (?)", i)
		require.NoError(t, err)
	}
	rows, err := db.QueryContext(ctx, "SELECT v FROM t")
	require.NoError(t, err)
	defer rows.Close()
	require.True(t, rows.Next())
	_, r := leased(h)
	require.Equal(t, 1, r)
	// A write beside open Rows of another connection goes on.
	_, err = db.Exec("INSERT INTO t(v) VALUES (9)")
	require.NoError(t, err)
	require.NoError(t, rows.Close())
	w, r := leased(h)
	require.Zero(t, w+r)
}

func TestSQLInsideALeaseOfThePool(t *testing.T) {
	ctx := context.Background()
	h := openT(t, tempDB(t), createTable)
	db := handleDBT(t, h)
	err := h.Write(ctx, func(ctx context.Context, c *Conn) error {
		_, err := db.ExecContext(ctx, "INSERT INTO t(v) VALUES (1)")
		return err
	})
	require.ErrorIs(t, err, ErrReentrant, "a write with fn's context would wait for the writer fn holds")

	// The same on a sql.Conn that read first, holding a reader.
	conn, err := db.Conn(ctx)
	require.NoError(t, err)
	defer conn.Close()
	err = h.Write(ctx, func(ctx context.Context, c *Conn) error {
		rows, err := conn.QueryContext(ctx, "SELECT v FROM t")
		if err != nil {
			return err
		}
		defer rows.Close()
		rows.Next()
		_, err = conn.ExecContext(ctx, "INSERT INTO t(v) VALUES (2)")
		return err
	})
	require.ErrorIs(t, err, ErrReentrant)
	require.NoError(t, conn.Close())

	// Reads with fn's context run on a reader of their own.
	err = h.Read(ctx, func(ctx context.Context, c *Conn) error {
		var n int
		return db.QueryRowContext(ctx, "SELECT count(*) FROM t").Scan(&n)
	})
	require.NoError(t, err)
}

// A connection that holds a reader (open Rows) and needs the writer asks
// as the holder of that reader: a pending Exclusive, which waits for the
// reader, must not hold the request back, or neither would ever go on.
func TestSQLWriterAfterReaderIsNotHeldBackByExclusive(t *testing.T) {
	ctx := context.Background()
	h := openT(t, tempDB(t), createTable)
	db := handleDBT(t, h)
	_, err := db.Exec("INSERT INTO t(v) VALUES (1), (2)")
	require.NoError(t, err)
	conn, err := db.Conn(ctx)
	require.NoError(t, err)
	defer conn.Close()
	rows, err := conn.QueryContext(ctx, "SELECT v FROM t")
	require.NoError(t, err)
	defer rows.Close()
	require.True(t, rows.Next())

	xDone := make(chan error, 1)
	go func() {
		xDone <- h.Exclusive(ctx, func(context.Context, *Conn, []*Conn) error { return nil })
	}()
	require.Eventually(t, func() bool { return h.Stats().Exclusive.Waiting == 1 }, 10*time.Second, time.Millisecond)

	wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	_, err = conn.ExecContext(wctx, "INSERT INTO t(v) VALUES (3)")
	require.NoError(t, err, "the write went ahead of the Exclusive that waits for this connection's reader")
	require.NoError(t, rows.Close())
	require.NoError(t, conn.Close())
	require.NoError(t, <-xDone)
}
