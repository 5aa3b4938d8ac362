package sqlitepool

import (
	"context"
	"database/sql"
	"reflect"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestSQLTimeInAndOut(t *testing.T) {
	ctx := context.Background()
	db := openDBT(t, tempDB(t), func(ctx context.Context, c *Conn) error {
		return c.Exec(`CREATE TABLE ev(id INTEGER PRIMARY KEY, at DATETIME, d DATE, ts TIMESTAMP, txt TEXT, any_)`)
	})
	at := time.Date(2026, 12, 2, 22, 30, 15, 123456789, time.FixedZone("X", 3600))
	_, err := db.ExecContext(ctx, "INSERT INTO ev(at, d, ts, txt, any_) VALUES (?, ?, ?, ?, ?)", at, "2026-12-02", 1764714615, at, at)
	require.NoError(t, err)

	var gotAt, gotD, gotTS, gotAny time.Time
	var gotTxt string
	require.NoError(t, db.QueryRowContext(ctx, "SELECT at, d, ts, txt, any_ FROM ev").Scan(&gotAt, &gotD, &gotTS, &gotTxt, &gotAny))
	require.True(t, at.Equal(gotAt), "DATETIME: %v", gotAt)
	require.True(t, time.Date(2026, 12, 2, 0, 0, 0, 0, time.UTC).Equal(gotD), "DATE text in SQLite's format: %v", gotD)
	require.True(t, time.Unix(1764714615, 0).Equal(gotTS), "TIMESTAMP as Unix seconds: %v", gotTS)
	require.Equal(t, at.Format(time.RFC3339Nano), gotTxt, "a TEXT column keeps the text")
	require.True(t, at.Equal(gotAny), "RFC 3339 text in an untyped column is a time")

	// Into *any, as database/sql gives it: the declared type decides.
	var vAt, vTxt any
	require.NoError(t, db.QueryRowContext(ctx, "SELECT at, txt FROM ev").Scan(&vAt, &vTxt))
	require.IsType(t, time.Time{}, vAt)
	require.IsType(t, "", vTxt)

	var nt sql.NullTime
	require.NoError(t, db.QueryRowContext(ctx, "SELECT at FROM ev").Scan(&nt))
	require.True(t, nt.Valid && nt.Time.Equal(at))
	require.NoError(t, db.QueryRowContext(ctx, "SELECT NULL").Scan(&nt))
	require.False(t, nt.Valid)
}

func TestSQLBooleans(t *testing.T) {
	ctx := context.Background()
	db := openDBT(t, tempDB(t), func(ctx context.Context, c *Conn) error {
		return c.Exec(`CREATE TABLE f(b BOOLEAN, i INTEGER)`)
	})
	_, err := db.ExecContext(ctx, "INSERT INTO f VALUES (?, ?), (?, ?), (2, 1)", true, true, false, false)
	require.NoError(t, err)
	rows, err := db.QueryContext(ctx, "SELECT b, i FROM f ORDER BY rowid")
	require.NoError(t, err)
	var got [][2]any
	for rows.Next() {
		var b, i any
		require.NoError(t, rows.Scan(&b, &i))
		got = append(got, [2]any{b, i})
	}
	require.NoError(t, rows.Err())
	require.Equal(t, [][2]any{{true, int64(1)}, {false, int64(0)}, {int64(2), int64(1)}}, got,
		"BOOLEAN's 0 and 1 are bools; other values and other columns as stored")
	var b bool
	require.NoError(t, db.QueryRowContext(ctx, "SELECT i FROM f WHERE rowid = 1").Scan(&b))
	require.True(t, b)
}

func TestSQLColumnTypes(t *testing.T) {
	ctx := context.Background()
	db := openDBT(t, tempDB(t), func(ctx context.Context, c *Conn) error {
		return c.Exec(`CREATE TABLE c(id INTEGER PRIMARY KEY, name varchar(20) NOT NULL, note TEXT, at DATETIME, ok BOOLEAN, n)`)
	})
	_, err := db.ExecContext(ctx, "INSERT INTO c(name, note, at, ok, n) VALUES ('a', NULL, ?, 1, 2.5)", time.Now())
	require.NoError(t, err)
	rows, err := db.QueryContext(ctx, "SELECT id, name, note, at, ok, n, 1+1 FROM c")
	require.NoError(t, err)
	defer rows.Close()
	cts, err := rows.ColumnTypes()
	require.NoError(t, err)
	type col struct {
		name     string
		decl     string
		nullable bool
		known    bool
		scan     reflect.Type
	}
	var got []col
	for _, ct := range cts {
		n, ok := ct.Nullable()
		got = append(got, col{ct.Name(), ct.DatabaseTypeName(), n, ok, ct.ScanType()})
	}
	want := []col{
		{"id", "INTEGER", false, true, reflect.TypeFor[int64]()},
		{"name", "VARCHAR", false, true, reflect.TypeFor[any]()},
		{"note", "TEXT", true, true, reflect.TypeFor[string]()},
		{"at", "DATETIME", true, true, reflect.TypeFor[time.Time]()},
		{"ok", "BOOLEAN", true, true, reflect.TypeFor[bool]()},
		{"n", "", true, true, reflect.TypeFor[any]()},
		{"1+1", "", true, false, reflect.TypeFor[any]()},
	}
	require.Equal(t, want, got)
	require.True(t, rows.Next())
	cts, err = rows.ColumnTypes()
	require.NoError(t, err)
	require.Equal(t, reflect.TypeFor[float64](), cts[5].ScanType(), "on a row, an untyped column scans as its value")
	require.Equal(t, reflect.TypeFor[bool](), cts[4].ScanType())
}

func TestSQLResult(t *testing.T) {
	ctx := context.Background()
	db := openDBT(t, tempDB(t), createTable)
	res, err := db.ExecContext(ctx, "INSERT INTO t(v) VALUES (1), (2), (3)")
	require.NoError(t, err)
	id, _ := res.LastInsertId()
	n, _ := res.RowsAffected()
	require.Equal(t, [2]int64{3, 3}, [2]int64{id, n})

	res, err = db.ExecContext(ctx, "UPDATE t SET v = v + 1 WHERE id >= ?", 2)
	require.NoError(t, err)
	n, _ = res.RowsAffected()
	require.Equal(t, int64(2), n)

	// The engine's figures stay those of the last statement that changed
	// rows, perhaps another call's: a statement that changed none reports 0.
	res, err = db.ExecContext(ctx, "CREATE TABLE other(a)")
	require.NoError(t, err)
	id, _ = res.LastInsertId()
	n, _ = res.RowsAffected()
	require.Equal(t, [2]int64{0, 0}, [2]int64{id, n})
	res, err = db.ExecContext(ctx, "DELETE FROM t WHERE id = 99")
	require.NoError(t, err)
	n, _ = res.RowsAffected()
	require.Zero(t, n)
}

func TestSQLNamedParameters(t *testing.T) {
	ctx := context.Background()
	db := openDBT(t, tempDB(t), createTable)
	for i, prefix := range []string{":", "@", "$"} {
		q := "INSERT INTO t(id, v) VALUES (" + prefix + "id, " + prefix + "v)"
		_, err := db.ExecContext(ctx, q, sql.Named("v", prefix), sql.Named("id", i+1))
		require.NoError(t, err, q)
	}
	var v string
	require.NoError(t, db.QueryRowContext(ctx, "SELECT v FROM t WHERE id = $id", sql.Named("id", 2)).Scan(&v))
	require.Equal(t, "@", v)
	var n int
	require.NoError(t, db.QueryRowContext(ctx, "SELECT count(*) FROM t WHERE id > :n AND id > @n", sql.Named("n", 0)).Scan(&n))
	require.Equal(t, 3, n, "a name binds every parameter of that name")

	_, err := db.ExecContext(ctx, "INSERT INTO t(v) VALUES (:v)", sql.Named("nope", 1))
	require.ErrorIs(t, err, ErrInvalidArgument)
	_, err = db.ExecContext(ctx, "INSERT INTO t(v) VALUES (?)", 1, 2)
	require.ErrorIs(t, err, ErrInvalidArgument)
	_, err = db.ExecContext(ctx, "INSERT INTO t(v) VALUES (?)", struct{}{})
	require.Error(t, err)
	require.Equal(t, 3, sqlCountRows(t, db))
}

// sqlCountRows counts table t's rows through db.
func sqlCountRows(t *testing.T, db *sql.DB) (n int) {
	t.Helper()
	require.NoError(t, db.QueryRow("SELECT count(*) FROM t").Scan(&n))
	return n
}

func TestSQLPreparedStatementsUseThePoolCache(t *testing.T) {
	ctx := context.Background()
	h := openT(t, tempDB(t), createTable)
	db := handleDBT(t, h)
	const ins = "INSERT INTO t(v) VALUES (?)"
	stmt, err := db.PrepareContext(ctx, ins)
	require.NoError(t, err)
	defer stmt.Close()
	for i := range 5 {
		_, err := stmt.ExecContext(ctx, i)
		require.NoError(t, err)
	}
	const sel = "SELECT count(*) FROM t WHERE v >= ?"
	q, err := db.PrepareContext(ctx, sel)
	require.NoError(t, err)
	defer q.Close()
	var n int
	require.NoError(t, q.QueryRowContext(ctx, 0).Scan(&n))
	require.Equal(t, 5, n)

	require.NoError(t, h.Write(ctx, func(_ context.Context, c *Conn) error {
		require.Contains(t, c.cache.byText, ins, "the writer's cache holds the insert")
		return nil
	}))
	require.NoError(t, h.Read(ctx, func(_ context.Context, c *Conn) error {
		require.Contains(t, c.cache.byText, sel, "the reader's cache holds the query")
		return nil
	}))

	_, err = db.PrepareContext(ctx, "SELEKT 1")
	require.ErrorContains(t, err, "syntax error", "Prepare checks the SQL")
	_, err = db.PrepareContext(ctx, "SELECT 1; SELECT 2")
	require.ErrorIs(t, err, ErrInvalidArgument)
}

func TestSQLExecScript(t *testing.T) {
	db := openDBT(t, tempDB(t), nil)
	_, err := db.Exec("CREATE TABLE a(x); CREATE TABLE b(y); INSERT INTO a VALUES (1);")
	require.NoError(t, err)
	var n int
	require.NoError(t, db.QueryRow("SELECT count(*) FROM a JOIN sqlite_master").Scan(&n))
	require.Equal(t, 2, n)
}

func TestSQLPreparedStatementInsideATx(t *testing.T) {
	ctx := context.Background()
	h := openT(t, tempDB(t), createTable)
	db := handleDBT(t, h)
	ins, err := db.PrepareContext(ctx, "INSERT INTO t(v) VALUES (?) RETURNING id")
	require.NoError(t, err)
	defer ins.Close()
	tx, err := db.BeginTx(ctx, nil)
	require.NoError(t, err)
	defer tx.Rollback()
	var id int64
	require.NoError(t, tx.StmtContext(ctx, ins).QueryRowContext(ctx, "in tx").Scan(&id))
	var n int
	require.NoError(t, tx.QueryRowContext(ctx, "SELECT count(*) FROM t").Scan(&n))
	require.Equal(t, 1, n, "the statement ran in the Tx")
	require.NoError(t, tx.Rollback())
	require.Equal(t, 0, sqlCountRows(t, db), "and rolled back with it")
	require.NoError(t, ins.QueryRowContext(ctx, "outside").Scan(&id))
	require.Equal(t, 1, sqlCountRows(t, db))
}

// Text becomes a time only if it is exactly what a time.Time argument is
// stored as: other text that looks like one stays the string it was.
func TestSQLTextThatLooksLikeATime(t *testing.T) {
	db := openDBT(t, tempDB(t), nil)
	for text, isTime := range map[string]bool{
		"2026-12-02T10:00:00Z":           true,
		"2026-12-02T10:00:00.5+01:00":    true,
		"2026-12-02T10:00:00.500Z":       false, // Format drops trailing zeros
		"2026-12-02T10:00:00+00:00":      false, // Format writes Z
		"2026-12-02 10:00:00":            false, // not RFC 3339
		"not a time at all, though long": false,
	} {
		var v any
		require.NoError(t, db.QueryRow("SELECT ?", text).Scan(&v))
		if isTime {
			require.IsType(t, time.Time{}, v, text)
			require.Equal(t, text, v.(time.Time).Format(time.RFC3339Nano))
		} else {
			require.Equal(t, text, v, text)
		}
	}
}
