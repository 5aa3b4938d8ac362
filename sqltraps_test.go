package sqlitepool

import (
	"context"
	"database/sql"
	"testing"

	"github.com/stretchr/testify/require"
)

// The state a call leaves on its connection is not the next call's: the
// pool's release ends what database/sql users sometimes leave open, and
// per-connection values must come from the call that made them.
func TestSQLStateDoesNotCarryAcrossCalls(t *testing.T) {
	ctx := context.Background()
	h := openT(t, tempDB(t), createTable)
	db := handleDBT(t, h)

	// A transaction begun as SQL outside a Tx or sql.Conn ends with the
	// call: the release rolls it back and counts it.
	_, err := db.ExecContext(ctx, "BEGIN IMMEDIATE")
	require.NoError(t, err)
	s := h.Stats()
	require.Zero(t, s.Writer.InUse, "the writer went back")
	require.Equal(t, uint64(1), s.Writer.RollbacksOnRelease)
	_, err = db.ExecContext(ctx, "INSERT INTO t(v) VALUES (1)")
	require.NoError(t, err, "the next write is not inside that transaction")
	_, err = db.ExecContext(ctx, "COMMIT")
	require.ErrorContains(t, err, "no transaction is active")

	// last_insert_rowid() in a later query runs elsewhere; the Result
	// and RETURNING tell.
	res, err := db.ExecContext(ctx, "INSERT INTO t(v) VALUES (2)")
	require.NoError(t, err)
	id, _ := res.LastInsertId()
	require.Equal(t, int64(2), id)
	var last int64
	require.NoError(t, db.QueryRowContext(ctx, "SELECT last_insert_rowid()").Scan(&last))
	require.Zero(t, last, "a query runs on a reader, which inserted nothing")
	require.NoError(t, db.QueryRowContext(ctx, "INSERT INTO t(v) VALUES (3) RETURNING id").Scan(&last))
	require.Equal(t, int64(3), last)
}

func TestOpenDBInMemory(t *testing.T) {
	db := openDBT(t, ":memory:", createTable)
	_, err := db.Exec("INSERT INTO t(v) VALUES (1)")
	require.NoError(t, err)
	require.Equal(t, 1, sqlCountRows(t, db), "the readers see the writer's in-memory database")
	tx, err := db.Begin()
	require.NoError(t, err)
	_, err = tx.Exec("INSERT INTO t(v) VALUES (2)")
	require.NoError(t, err)
	require.NoError(t, tx.Commit())
	require.Equal(t, 2, sqlCountRows(t, db))
}

func TestOpenDBReadOnlyPool(t *testing.T) {
	ctx := context.Background()
	path := tempDB(t)
	h, err := Open(path, createTable)
	require.NoError(t, err)
	require.NoError(t, h.Exec(ctx, "INSERT INTO t(v) VALUES (1)"))
	require.NoError(t, h.Close())

	db := openDBT(t, path, nil, WithReadOnly())
	require.Equal(t, 1, sqlCountRows(t, db))
	_, err = db.ExecContext(ctx, "INSERT INTO t(v) VALUES (2)")
	require.ErrorIs(t, err, ErrReadOnly)
	err = db.QueryRowContext(ctx, "INSERT INTO t(v) VALUES (2) RETURNING id").Scan(new(int))
	require.ErrorIs(t, err, ErrReadOnly, "a query that writes needs the writer, which a read-only pool has not")
	_, err = db.BeginTx(ctx, nil)
	require.ErrorIs(t, err, ErrReadOnly)
	tx, err := db.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	require.NoError(t, err)
	defer tx.Rollback()
	var n int
	require.NoError(t, tx.QueryRow("SELECT count(*) FROM t").Scan(&n))
	require.Equal(t, 1, n)
	require.NoError(t, tx.Commit())
}
