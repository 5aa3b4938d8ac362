package sqlitepool

import (
	"context"
	"iter"
	"testing"

	"github.com/ncruces/go-sqlite3"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestQueryErrorRowScans checks that Query never yields a nil row: with
// the error ignored, Scan returns it instead of panicking. It covers a
// prepare error, an argument error, a step error and an acquire error.
func TestQueryErrorRowScans(t *testing.T) {
	h := openT(t, tempDB(t), createTable, WithReaders(1))
	ctx := context.Background()
	canceled, cancel := context.WithCancel(ctx)
	cancel()
	for _, tc := range []struct {
		name  string
		query func(t *testing.T) iter.Seq2[*Row, error]
		want  error
	}{
		{"handle-syntax", func(t *testing.T) iter.Seq2[*Row, error] { return h.Query(ctx, "SELEC 1") }, sqlite3.ERROR},
		{"handle-arguments", func(t *testing.T) iter.Seq2[*Row, error] { return h.Query(ctx, "SELECT ?") }, ErrInvalidArgument},
		{"handle-step", func(t *testing.T) iter.Seq2[*Row, error] { return h.Query(ctx, "SELECT json('{')") }, sqlite3.ERROR},
		{"handle-acquire", func(t *testing.T) iter.Seq2[*Row, error] { return h.Query(canceled, "SELECT 1") }, context.Canceled},
		{"conn-syntax", func(t *testing.T) iter.Seq2[*Row, error] { return readerConn(t, h).Query("SELEC 1") }, sqlite3.ERROR},
		{"conn-step", func(t *testing.T) iter.Seq2[*Row, error] { return readerConn(t, h).Query("SELECT json('{')") }, sqlite3.ERROR},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var rows int
			for row := range tc.query(t) {
				rows++
				require.NotNil(t, row)
				var x int64
				err := row.Scan(&x)
				require.ErrorIs(t, err, tc.want)
				assert.Nil(t, row.Stmt())
			}
			assert.Equal(t, 1, rows)
		})
	}
}

// TestQueryKeptRow checks that a row kept past its iteration, broken out of
// or run to the end, returns ErrRowDone instead of reading whatever its
// statement holds by then, and has no Stmt.
func TestQueryKeptRow(t *testing.T) {
	h := openT(t, tempDB(t), createTable, WithReaders(1))
	seed(t, h, 3)
	ctx := context.Background()
	const q = "SELECT id FROM t ORDER BY id"
	requireDone := func(t *testing.T, row *Row) {
		t.Helper()
		require.NotNil(t, row)
		var id int64
		err := row.Scan(&id)
		require.ErrorIs(t, err, ErrRowDone)
		assert.Contains(t, err.Error(), h.Name())
		assert.Zero(t, id)
		assert.Nil(t, row.Stmt())
	}

	var kept *Row
	for row := range h.Query(ctx, q) {
		kept = row
		break
	}
	requireDone(t, kept)

	for row, err := range h.Query(ctx, q) {
		require.NoError(t, err)
		kept = row
	}
	requireDone(t, kept)

	c := readerConn(t, h)
	for row := range c.Query(q) {
		kept = row
		break
	}
	// The cached statement now runs another query: the kept row must not
	// read it.
	for row, err := range c.Query(q) {
		require.NoError(t, err)
		requireDone(t, kept)
		var id int64
		require.NoError(t, row.Scan(&id))
		assert.Equal(t, int64(1), id)
		break
	}
}
