package sqlitepool

import (
	"context"
	"database/sql"
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
