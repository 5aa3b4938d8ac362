package sqlitepool

import (
	"context"
	"database/sql"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// columnsOf runs query on db and returns its columns' names.
func columnsOf(t *testing.T, db *sql.DB, query string) []string {
	t.Helper()
	rows, err := db.QueryContext(context.Background(), query)
	require.NoError(t, err)
	defer rows.Close()
	cols, err := rows.Columns()
	require.NoError(t, err)
	for rows.Next() {
	}
	require.NoError(t, rows.Err())
	return cols
}

// TestSQLColumnNamesFollowTheSchema: the names kept with a cached
// statement are made again when SQLite prepares it again after a schema
// change, and a caller that changes the slice it got changes nobody
// else's. SQLite prepares a statement again at its first step after the
// change, and database/sql asks for the names before its first Next: the
// query must have stepped already, or the first query after the change
// reports the old names.
func TestSQLColumnNamesFollowTheSchema(t *testing.T) {
	ctx := context.Background()
	db := openDBT(t, tempDB(t), func(ctx context.Context, c *Conn) error {
		return c.Exec("CREATE TABLE t(a INTEGER, b TEXT); INSERT INTO t VALUES (1, 'x')")
	}, WithReaders(1))
	const query = "SELECT * FROM t"
	first := columnsOf(t, db, query)
	assert.Equal(t, []string{"a", "b"}, first)
	first[0] = "changed by the caller"
	assert.Equal(t, []string{"a", "b"}, columnsOf(t, db, query), "a caller's change reached the next query")

	_, err := db.ExecContext(ctx, "ALTER TABLE t RENAME COLUMN b TO renamed")
	require.NoError(t, err)
	assert.Equal(t, []string{"a", "renamed"}, columnsOf(t, db, query))
	_, err = db.ExecContext(ctx, "ALTER TABLE t ADD COLUMN added")
	require.NoError(t, err)
	assert.Equal(t, []string{"a", "renamed", "added"}, columnsOf(t, db, query))
	var a, added any
	var renamed string
	require.NoError(t, db.QueryRowContext(ctx, query).Scan(&a, &renamed, &added))
	assert.Equal(t, "x", renamed)
}

// TestSQLDeclaredTypesFollowTheSchema: what the declared types say of the
// values (a DATETIME's text is a time.Time, a BOOLEAN's 0 or 1 a bool) is
// kept with a cached statement too, and made again when SQLite prepares
// it again after the table was made anew with other types.
func TestSQLDeclaredTypesFollowTheSchema(t *testing.T) {
	ctx := context.Background()
	db := openDBT(t, tempDB(t), func(ctx context.Context, c *Conn) error {
		return c.Exec("CREATE TABLE t(at DATETIME, flag BOOLEAN); INSERT INTO t VALUES ('2026-12-03 10:00:00', 1)")
	}, WithReaders(1))
	const query = "SELECT at, flag FROM t"
	var at, flag any
	require.NoError(t, db.QueryRowContext(ctx, query).Scan(&at, &flag))
	assert.Equal(t, time.Date(2026, 12, 3, 10, 0, 0, 0, time.UTC), at)
	assert.Equal(t, true, flag)

	_, err := db.ExecContext(ctx, "DROP TABLE t; CREATE TABLE t(at TEXT, flag INTEGER); INSERT INTO t VALUES ('2026-12-03 10:00:00', 1)")
	require.NoError(t, err)
	require.NoError(t, db.QueryRowContext(ctx, query).Scan(&at, &flag))
	assert.Equal(t, "2026-12-03 10:00:00", at)
	assert.Equal(t, int64(1), flag)
}
