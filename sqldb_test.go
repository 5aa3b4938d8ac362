package sqlitepool

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

// openDBT opens name with OpenDB and closes the *sql.DB when the test ends.
func openDBT(t testing.TB, name string, init InitFunc, opts ...Option) *sql.DB {
	t.Helper()
	db, err := OpenDB(name, init, opts...)
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, db.Close()) })
	return db
}

// handleDBT returns h.DB(), closed when the test ends.
func handleDBT(t testing.TB, h *Handle) *sql.DB {
	t.Helper()
	db := h.DB()
	t.Cleanup(func() { require.NoError(t, db.Close()) })
	return db
}

func TestOpenDBRoundTrip(t *testing.T) {
	ctx := context.Background()
	db := openDBT(t, tempDB(t), createTable)
	res, err := db.ExecContext(ctx, "INSERT INTO t(v) VALUES (?)", "one")
	require.NoError(t, err)
	id, err := res.LastInsertId()
	require.NoError(t, err)
	require.Equal(t, int64(1), id)
	n, err := res.RowsAffected()
	require.NoError(t, err)
	require.Equal(t, int64(1), n)

	var v string
	require.NoError(t, db.QueryRowContext(ctx, "SELECT v FROM t WHERE id = ?", id).Scan(&v))
	require.Equal(t, "one", v)
	err = db.QueryRowContext(ctx, "SELECT v FROM t WHERE id = ?", 99).Scan(&v)
	require.ErrorIs(t, err, sql.ErrNoRows)
}

// leased returns how many writers and readers of h are leased now.
func leased(h *Handle) (writers, readers int) {
	s := h.Stats()
	return s.Writer.InUse, s.Readers.InUse
}

func TestOpenDBSharesThePoolAndCloseReleasesIt(t *testing.T) {
	path := tempDB(t)
	h := openT(t, path, createTable)
	db, err := OpenDB(path, nil)
	require.NoError(t, err)
	require.Equal(t, 2, h.Stats().Handles, "OpenDB takes a reference to the same pool")
	_, err = db.Exec("INSERT INTO t(v) VALUES ('from db')")
	require.NoError(t, err)
	require.Equal(t, int64(1), readInt(t, h, "SELECT count(*) FROM t WHERE v = 'from db'"))
	require.NoError(t, db.Close())
	require.Equal(t, 1, h.Stats().Handles, "db.Close releases OpenDB's reference")
	require.NoError(t, db.Close(), "a second Close is harmless")
	require.Equal(t, 1, h.Stats().Handles)
}

func TestOpenDBLastCloseClosesThePool(t *testing.T) {
	path := tempDB(t)
	db, err := OpenDB(path, createTable)
	require.NoError(t, err)
	require.NoError(t, db.Ping())
	require.True(t, registered(t, path))
	require.NoError(t, db.Close())
	require.False(t, registered(t, path), "the last reference was the *sql.DB's")
}

func TestOpenDBBadNameFails(t *testing.T) {
	_, err := OpenDB(filepath.Join(t.TempDir(), "missing", "x.db"), nil)
	require.ErrorIs(t, err, ErrInvalidName)
}

func TestHandleDBFailsWithErrClosedAfterClose(t *testing.T) {
	ctx := context.Background()
	h, err := Open(tempDB(t), createTable)
	require.NoError(t, err)
	db := handleDBT(t, h)
	conn, err := db.Conn(ctx)
	require.NoError(t, err)
	_, err = conn.ExecContext(ctx, "CREATE TEMP TABLE x(a)")
	require.NoError(t, err)
	require.NoError(t, conn.Close())
	require.NoError(t, db.Ping())
	require.NoError(t, h.Close())
	require.ErrorIs(t, db.PingContext(ctx), ErrClosed, "on the idle connection database/sql kept")

	_, err = db.ExecContext(ctx, "INSERT INTO t(v) VALUES (1)")
	require.ErrorIs(t, err, ErrClosed)
	require.NotErrorIs(t, err, driver.ErrBadConn)
	err = db.QueryRowContext(ctx, "SELECT 1").Scan(new(int))
	require.ErrorIs(t, err, ErrClosed)
	_, err = db.BeginTx(ctx, nil)
	require.ErrorIs(t, err, ErrClosed)
}

func TestHandleDBCloseLeavesTheHandleOpen(t *testing.T) {
	h := openT(t, tempDB(t), createTable)
	db := h.DB()
	_, err := db.Exec("INSERT INTO t(v) VALUES (1)")
	require.NoError(t, err)
	require.NoError(t, db.Close())
	require.NoError(t, h.Exec(context.Background(), "INSERT INTO t(v) VALUES (2)"))
	require.Equal(t, int64(2), readInt(t, h, "SELECT count(*) FROM t"))
}

func TestConnectorForWrappers(t *testing.T) {
	h := openT(t, tempDB(t), createTable)
	c := h.Connector()
	db := sql.OpenDB(c)
	_, err := db.Exec("INSERT INTO t(v) VALUES (1)")
	require.NoError(t, err)
	require.NoError(t, db.Close())
	require.Equal(t, int64(1), readInt(t, h, "SELECT count(*) FROM t"), "closing the *sql.DB leaves h open")
	_, err = c.Driver().Open("x.db")
	require.Error(t, err)
}

func TestHandleDBPinnedConnFailsWithErrClosedAfterClose(t *testing.T) {
	ctx := context.Background()
	path := tempDB(t)
	openT(t, path, createTable) // keeps the pool open
	h, err := Open(path, nil)
	require.NoError(t, err)
	db := handleDBT(t, h)
	conn, err := db.Conn(ctx)
	require.NoError(t, err)
	defer conn.Close()
	_, err = conn.ExecContext(ctx, "INSERT INTO t(v) VALUES (1)")
	require.NoError(t, err)
	require.NoError(t, h.Close())
	_, err = conn.ExecContext(ctx, "INSERT INTO t(v) VALUES (2)")
	require.ErrorIs(t, err, ErrClosed, "a sql.Conn holding a lease fails too once its handle closed")
	err = conn.QueryRowContext(ctx, "SELECT 1").Scan(new(int))
	require.ErrorIs(t, err, ErrClosed)
}
