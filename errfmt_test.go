package sqlitepool

import (
	"context"
	"fmt"
	"math"
	"strings"
	"testing"

	"github.com/ncruces/go-sqlite3"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestErrorsReadTheSameEverywhere: the sentinel first, then the call and
// the database, then the detail; engine errors name the statement.
func TestErrorsReadTheSameEverywhere(t *testing.T) {
	path := tempDB(t)
	h := openT(t, path, createTable)
	ctx := context.Background()
	prefix := fmt.Sprintf("sqlitepool: invalid argument: Exec on %q: ", path)

	err := h.Exec(ctx, "INSERT INTO t(v) VALUES (?)", 1, 2)
	require.ErrorIs(t, err, ErrInvalidArgument)
	assert.True(t, strings.HasPrefix(err.Error(), prefix), err.Error())

	err = h.Exec(ctx, "INSERT INTO t(v) VALUES (?)", uint64(math.MaxUint64))
	require.ErrorIs(t, err, ErrInvalidArgument)
	assert.True(t, strings.HasPrefix(err.Error(), prefix), err.Error())
	assert.Contains(t, err.Error(), "out of range")

	err = h.QueryRow(ctx, "SELECT v FROM t WHERE id = ?", struct{}{}).Scan(new(any))
	require.ErrorIs(t, err, ErrInvalidArgument)
	assert.True(t, strings.HasPrefix(err.Error(), fmt.Sprintf("sqlitepool: invalid argument: QueryRow on %q: ", path)), err.Error())

	err = h.Exec(ctx, "INSERT INTO t(nme) VALUES (?)", 1)
	require.ErrorIs(t, err, sqlite3.ERROR)
	assert.Equal(t, fmt.Sprintf("sqlitepool: Exec on %q: INSERT INTO t(nme) VALUES (?): sqlite3: SQL logic error: table t has no column named nme", path), err.Error())

	long := "SELECT v FROM t WHERE v = 'x'" + strings.Repeat("\n  AND v = 'x'", 20) + " AND nope = 1"
	err = h.QueryRow(ctx, long).Scan(new(any))
	require.Error(t, err)
	assert.Contains(t, err.Error(), fmt.Sprintf("sqlitepool: QueryRow on %q: SELECT v FROM t WHERE v = 'x' AND v = 'x'", path))
	assert.Contains(t, err.Error(), "…: sqlite3: SQL logic error: no such column: nope")

	// The pool's own errors are not prefixed twice.
	err = h.Read(ctx, func(_ context.Context, c *Conn) error { return c.Exec("INSERT INTO t(v) VALUES (1)") })
	require.ErrorIs(t, err, ErrReadOnly)
	assert.True(t, strings.HasPrefix(err.Error(), "sqlitepool: read-only: "), err.Error())
	assert.Equal(t, 1, strings.Count(err.Error(), "sqlitepool:"), err.Error())

	err = h.QueryRow(ctx, "SELECT v FROM t WHERE id = -1").Scan(new(any))
	require.ErrorIs(t, err, ErrNoRows)
	assert.Equal(t, fmt.Sprintf("sqlitepool: no rows in result set: QueryRow on %q", path), err.Error())

	for _, err := range h.Query(ctx, "SELEC 1") {
		require.ErrorIs(t, err, sqlite3.ERROR)
		assert.True(t, strings.HasPrefix(err.Error(), fmt.Sprintf("sqlitepool: Query on %q: SELEC 1: ", path)), err.Error())
	}
}

// TestResultOfAWrite: the rowid and the count of a one-shot write, and
// of a statement inside Write, without Raw.
func TestResultOfAWrite(t *testing.T) {
	h := openT(t, tempDB(t), createTable)
	ctx := context.Background()
	r, err := h.ExecResult(ctx, "INSERT INTO t(v) VALUES (1), (2), (3)")
	require.NoError(t, err)
	assert.Equal(t, Result{LastInsertRowID: 3, RowsAffected: 3}, r)
	r, err = h.ExecResult(ctx, "UPDATE t SET v = v + 1 WHERE v >= ?", 2)
	require.NoError(t, err)
	assert.Equal(t, int64(2), r.RowsAffected)
	_, err = h.ExecResult(ctx, "INSERT INTO t(nope) VALUES (1)")
	require.Error(t, err)

	require.NoError(t, h.Write(ctx, func(ctx context.Context, c *Conn) error {
		require.NoError(t, c.Exec("INSERT INTO t(id, v) VALUES (40, 'x')"))
		assert.Equal(t, int64(40), c.LastInsertRowID())
		assert.Equal(t, int64(1), c.Changes())
		// Nested, with fn's context: the same transaction, the same answer.
		r, err := h.ExecResult(ctx, "DELETE FROM t WHERE v = 'x'")
		require.NoError(t, err)
		assert.Equal(t, int64(1), r.RowsAffected)
		return nil
	}))
}
