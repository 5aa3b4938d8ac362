package sqlitepool

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// readerConn leases a reader of h for the rest of the test.
func readerConn(t *testing.T, h *Handle) *Conn { return leasedConn(t, h.Reader) }

// Types of their own of the basic kinds, as destinations.
type (
	scanID    int64
	scanSmall uint8
	scanName  string
	scanFlag  bool
	scanRatio float32
	scanBlob  []byte
)

// TestScanConversions is the conversion matrix of Row.Scan: each SQL value
// into each kind of destination, converted when nothing is lost or made
// up, an error matching ErrConversion otherwise.
func TestScanConversions(t *testing.T) {
	h := openT(t, tempDB(t), nil, WithReaders(1))
	c := readerConn(t, h)
	when := time.Date(2026, 11, 21, 9, 30, 0, 500, time.UTC)
	for _, tc := range []struct {
		name string
		expr string // the column, selected AS c
		dest any    // a pointer to a zero value
		want any    // what dest then points to; nil with err
		err  error  // the reason, which the error wraps
	}{
		// Lossless conversions.
		{"integer-into-int", "42", new(int), 42, nil},
		{"text-into-int", "'42'", new(int), 42, nil},
		{"negative-text-into-int64", "'-7'", new(int64), int64(-7), nil},
		{"whole-real-into-int64", "3.0", new(int64), int64(3), nil},
		{"min-real-into-int64", "-9223372036854775808.0", new(int64), int64(math.MinInt64), nil},
		{"max-into-int32", "2147483647", new(int32), int32(math.MaxInt32), nil},
		{"min-into-int8", "-128", new(int8), int8(-128), nil},
		{"into-int16", "-300", new(int16), int16(-300), nil},
		{"into-uint8", "255", new(uint8), uint8(255), nil},
		{"into-uint16", "65535", new(uint16), uint16(65535), nil},
		{"into-uint32", "4294967295", new(uint32), uint32(math.MaxUint32), nil},
		{"into-uint", "7", new(uint), uint(7), nil},
		{"max-int64-into-uint64", "9223372036854775807", new(uint64), uint64(math.MaxInt64), nil},
		{"text-into-uint64", "'18446744073709551615'", new(uint64), uint64(math.MaxUint64), nil},
		{"real-into-uint64", "1.8e19", new(uint64), uint64(18e18), nil},
		{"integer-into-float64", "7", new(float64), 7.0, nil},
		{"2^53-into-float64", "9007199254740992", new(float64), 9007199254740992.0, nil},
		{"text-into-float64", "'3.5'", new(float64), 3.5, nil},
		{"real-into-float32", "1.5", new(float32), float32(1.5), nil},
		{"rounded-into-float32", "0.1", new(float32), float32(0.1), nil},
		{"text-into-string", "'txt'", new(string), "txt", nil},
		{"empty-into-string", "''", new(string), "", nil},
		{"integer-into-string", "42", new(string), "42", nil},
		{"real-into-string", "0.1 + 0.2", new(string), "0.30000000000000004", nil},
		{"blob-into-string", "x'6869'", new(string), "hi", nil},
		{"blob-into-bytes", "x'0102'", new([]byte), []byte{1, 2}, nil},
		{"empty-blob-into-bytes", "x''", new([]byte), []byte{}, nil},
		{"text-into-bytes", "'txt'", new([]byte), []byte("txt"), nil},
		{"integer-into-bytes", "42", new([]byte), []byte("42"), nil},
		{"null-into-bytes", "NULL", new([]byte), []byte(nil), nil},
		{"one-into-bool", "1", new(bool), true, nil},
		{"zero-into-bool", "0", new(bool), false, nil},
		{"real-one-into-bool", "1.0", new(bool), true, nil},
		{"text-into-bool", "'true'", new(bool), true, nil},
		{"text-into-time", "'" + when.Format(time.RFC3339Nano) + "'", new(time.Time), when, nil},
		{"null-into-any", "NULL", new(any), nil, nil},
		{"integer-into-any", "42", new(any), int64(42), nil},
		{"real-into-any", "1.5", new(any), 1.5, nil},
		{"text-into-any", "'txt'", new(any), "txt", nil},
		{"blob-into-any", "x'01'", new(any), []byte{1}, nil},
		{"named-int", "5", new(scanID), scanID(5), nil},
		{"named-uint", "200", new(scanSmall), scanSmall(200), nil},
		{"named-string", "'ada'", new(scanName), scanName("ada"), nil},
		{"named-bool", "1", new(scanFlag), scanFlag(true), nil},
		{"named-float32", "2.5", new(scanRatio), scanRatio(2.5), nil},
		{"named-bytes", "x'02'", new(scanBlob), scanBlob{2}, nil},
		{"null-into-named-bytes", "NULL", new(scanBlob), scanBlob(nil), nil},

		// Conversions that would lose or make up data.
		{"name-into-int", "'alice'", new(int), nil, errNotInt},
		{"real-text-into-int", "'3.5'", new(int), nil, errNotInt},
		{"number-prefix-into-float64", "'3.5abc'", new(float64), nil, errNotFloat},
		{"empty-into-float64", "''", new(float64), nil, errNotFloat},
		{"beyond-int32", "5000000000", new(int32), nil, errRange},
		{"beyond-int8", "128", new(int8), nil, errRange},
		{"beyond-uint8", "256", new(uint8), nil, errRange},
		{"beyond-uint16", "65536", new(uint16), nil, errRange},
		{"negative-into-uint64", "-1", new(uint64), nil, errRange},
		{"negative-text-into-uint", "'-1'", new(uint), nil, errRange},
		{"negative-real-into-uint32", "-1.0", new(uint32), nil, errRange},
		{"beyond-int64-text", "'99999999999999999999'", new(int64), nil, errRange},
		{"beyond-int64-real", "9.3e18", new(int64), nil, errRange},
		{"beyond-uint64-real", "1.9e19", new(uint64), nil, errRange},
		{"beyond-float64-text", "'1e400'", new(float64), nil, errRange},
		{"beyond-float32", "1e300", new(float32), nil, errRange},
		{"beyond-named-uint", "300", new(scanSmall), nil, errRange},
		{"inexact-into-float64", "9007199254740993", new(float64), nil, errInexact},
		{"max-int64-into-float64", "9223372036854775807", new(float64), nil, errInexact},
		{"fraction-into-int64", "2.5", new(int64), nil, errFraction},
		{"fraction-into-named-int", "-0.5", new(scanID), nil, errFraction},
		{"two-into-bool", "2", new(bool), nil, errNotBool},
		{"half-into-bool", "0.5", new(bool), nil, errNotBool},
		{"word-into-bool", "'maybe'", new(bool), nil, errNotBool},
		{"integer-into-time", "42", new(time.Time), nil, errNotTime},
		{"word-into-time", "'yesterday'", new(time.Time), nil, errNotTime},
		{"blob-into-time", "x'01'", new(time.Time), nil, errNotTime},
		{"null-into-int", "NULL", new(int), nil, errNull},
		{"null-into-int64", "NULL", new(int64), nil, errNull},
		{"null-into-uint64", "NULL", new(uint64), nil, errNull},
		{"null-into-float64", "NULL", new(float64), nil, errNull},
		{"null-into-string", "NULL", new(string), nil, errNull},
		{"null-into-bool", "NULL", new(bool), nil, errNull},
		{"null-into-time", "NULL", new(time.Time), nil, errNull},
		{"null-into-named-string", "NULL", new(scanName), nil, errNull},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := c.QueryRow("SELECT " + tc.expr + " AS c").Scan(tc.dest)
			got := reflect.ValueOf(tc.dest).Elem()
			if tc.err == nil {
				require.NoError(t, err)
				switch want := tc.want.(type) {
				case time.Time:
					assert.True(t, want.Equal(got.Interface().(time.Time)), "got %v, want %v", got, want)
				case []byte, scanBlob:
					assert.Equal(t, want, got.Interface())
					// NULL is a nil slice, an empty value is not.
					assert.Equal(t, reflect.ValueOf(want).IsNil(), got.IsNil(), "nil slice")
				default:
					assert.Equal(t, tc.want, got.Interface())
				}
				return
			}
			require.ErrorIs(t, err, ErrConversion)
			require.ErrorIs(t, err, tc.err)
			assert.NotErrorIs(t, err, ErrInvalidArgument)
			assert.True(t, got.IsZero(), "the destination was changed to %v", got)
			msg := err.Error()
			assert.Contains(t, msg, fmt.Sprintf("%q", h.Name()), "names the database")
			assert.Contains(t, msg, `column 1 "c"`, "names the column")
			assert.Contains(t, msg, fmt.Sprintf("%T", tc.dest), "names the destination")
			if tc.err == errRange || tc.err == errInexact {
				assert.Contains(t, msg, "out of range")
			}
			stored := "NULL"
			if tc.err != errNull {
				var v any
				require.NoError(t, c.QueryRow("SELECT "+tc.expr).Scan(&v))
				stored = map[reflect.Type]string{
					reflect.TypeFor[int64](): "INTEGER", reflect.TypeFor[float64](): "FLOAT",
					reflect.TypeFor[string](): "TEXT", reflect.TypeFor[[]byte](): "BLOB",
				}[reflect.TypeOf(v)]
			}
			assert.Contains(t, msg, "("+stored, "names the stored type")
		})
	}
}

// TestScanErrorNamesTheColumn checks the column's index and name in a
// conversion error past the first column, with the earlier destinations
// set and the failing one left as it was.
func TestScanErrorNamesTheColumn(t *testing.T) {
	h := openT(t, tempDB(t), nil, WithReaders(1))
	c := readerConn(t, h)
	var id int64
	n := int32(7)
	err := c.QueryRow("SELECT 1 AS id, 5000000000 AS big").Scan(&id, &n)
	require.ErrorIs(t, err, ErrConversion)
	assert.Contains(t, err.Error(), `column 2 "big" (INTEGER 5000000000) into *int32: out of range`)
	assert.Equal(t, int64(1), id)
	assert.Equal(t, int32(7), n, "a destination that cannot hold the value is left as it was")

	long := "'" + strings.Repeat("x", 100) + "'"
	err = c.QueryRow("SELECT " + long + " AS t").Scan(&n)
	require.ErrorIs(t, err, ErrConversion)
	assert.Contains(t, err.Error(), "(100 bytes)", "long text is shortened")
	assert.Less(t, len(err.Error()), 300)
}

// TestScanPointerToPointer scans a nullable column into **T: NULL sets
// nil, a value a new T.
func TestScanPointerToPointer(t *testing.T) {
	h := openT(t, tempDB(t), nil, WithReaders(1))
	c := readerConn(t, h)

	n := int64(1)
	p := &n
	require.NoError(t, c.QueryRow("SELECT NULL").Scan(&p))
	assert.Nil(t, p)
	require.NoError(t, c.QueryRow("SELECT 5").Scan(&p))
	require.NotNil(t, p)
	assert.Equal(t, int64(5), *p)
	assert.Equal(t, int64(1), n, "a new value, not the one pointed to before")

	var s *string
	require.NoError(t, c.QueryRow("SELECT 'x'").Scan(&s))
	require.NotNil(t, s)
	assert.Equal(t, "x", *s)

	var tm *time.Time
	require.NoError(t, c.QueryRow("SELECT '2026-11-21T09:30:00Z'").Scan(&tm))
	require.NotNil(t, tm)
	assert.Equal(t, 2026, tm.Year())

	var id *scanID
	require.NoError(t, c.QueryRow("SELECT 9").Scan(&id))
	require.NotNil(t, id)
	assert.Equal(t, scanID(9), *id)

	var pp **int64
	require.NoError(t, c.QueryRow("SELECT 3").Scan(&pp))
	require.NotNil(t, pp)
	require.NotNil(t, *pp)
	assert.Equal(t, int64(3), **pp)

	var small *int32
	err := c.QueryRow("SELECT 5000000000 AS big").Scan(&small)
	require.ErrorIs(t, err, ErrConversion)
	require.ErrorIs(t, err, errRange)
	assert.Contains(t, err.Error(), "**int32")
	assert.Nil(t, small, "left as it was")
}

// recordScanner is a sql.Scanner that keeps the value it was given.
type recordScanner struct{ v any }

func (r *recordScanner) Scan(v any) error { r.v = v; return nil }

// refusingScanner is a sql.Scanner that refuses every value.
type refusingScanner struct{}

var errRefused = errors.New("refused")

func (*refusingScanner) Scan(any) error { return errRefused }

// TestScanScanner scans into database/sql's Null types and a Scanner of
// our own, which gets the value as stored, text as a string.
func TestScanScanner(t *testing.T) {
	h := openT(t, tempDB(t), nil, WithReaders(1))
	c := readerConn(t, h)

	var (
		ni  sql.NullInt64
		ns  sql.NullString
		nf  sql.NullFloat64
		nb  sql.NullBool
		nt  sql.NullTime
		ng  sql.Null[int64]
		ni2 = sql.NullInt64{Int64: 9, Valid: true}
	)
	require.NoError(t, c.QueryRow("SELECT 5, 'x', 1.5, 1, '2026-11-21T09:30:00Z', 6, NULL").
		Scan(&ni, &ns, &nf, &nb, &nt, &ng, &ni2))
	assert.Equal(t, sql.NullInt64{Int64: 5, Valid: true}, ni)
	assert.Equal(t, sql.NullString{String: "x", Valid: true}, ns)
	assert.Equal(t, sql.NullFloat64{Float64: 1.5, Valid: true}, nf)
	assert.Equal(t, sql.NullBool{Bool: true, Valid: true}, nb)
	assert.True(t, nt.Valid)
	assert.True(t, time.Date(2026, 11, 21, 9, 30, 0, 0, time.UTC).Equal(nt.Time), "got %v", nt.Time)
	assert.Equal(t, sql.Null[int64]{V: 6, Valid: true}, ng)
	assert.Equal(t, sql.NullInt64{}, ni2, "NULL")

	require.NoError(t, c.QueryRow("SELECT NULL").Scan(&nt))
	assert.False(t, nt.Valid)
	err := c.QueryRow("SELECT 'soon' AS t").Scan(&nt)
	require.ErrorIs(t, err, ErrConversion)
	require.ErrorIs(t, err, errNotTime)

	// The value as stored: text as a string, as ncruces' driver gives it.
	for expr, want := range map[string]any{
		"NULL": nil, "42": int64(42), "1.5": 1.5, "'txt'": "txt", "x'01'": []byte{1},
	} {
		var r recordScanner
		require.NoError(t, c.QueryRow("SELECT "+expr).Scan(&r))
		assert.Equal(t, want, r.v, expr)
	}

	err = c.QueryRow("SELECT 'no' AS answer").Scan(&refusingScanner{})
	require.ErrorIs(t, err, ErrConversion)
	require.ErrorIs(t, err, errRefused, "the Scanner's error is wrapped")
	assert.Contains(t, err.Error(), `column 1 "answer"`)

	// database/sql's own refusal is a conversion error too.
	err = c.QueryRow("SELECT 'alice' AS n").Scan(&ni)
	require.ErrorIs(t, err, ErrConversion)
}

// TestScanBytesAreNewCopies checks that each Scan into *[]byte gives a new
// slice: reusing the destination's array would change a slice kept from
// the row before.
func TestScanBytesAreNewCopies(t *testing.T) {
	h := openT(t, tempDB(t), nil, WithReaders(1))
	c := readerConn(t, h)
	var b []byte
	var kept [][]byte
	for row, err := range c.Query("SELECT x'01' UNION ALL SELECT x'02'") {
		require.NoError(t, err)
		require.NoError(t, row.Scan(&b))
		kept = append(kept, b)
	}
	assert.Equal(t, [][]byte{{1}, {2}}, kept)
}

// TestScanBadDestination checks the destinations that are a mistake in the
// call rather than in the data: ErrInvalidArgument, not ErrConversion.
func TestScanBadDestination(t *testing.T) {
	h := openT(t, tempDB(t), nil, WithReaders(1))
	c := readerConn(t, h)
	for name, dest := range map[string]any{
		"not-a-pointer":      int64(0),
		"struct":             &struct{}{},
		"nil-scanner":        (*sql.NullInt64)(nil),
		"slice-of-int":       &[]int{},
		"pointer-to-struct":  new(*struct{}),
		"map":                &map[string]int{},
		"nil-named-pointer":  (*scanID)(nil),
		"channel":            new(chan int),
		"pointer-to-complex": new(complex128),
	} {
		t.Run(name, func(t *testing.T) {
			err := c.QueryRow("SELECT 1").Scan(dest)
			require.ErrorIs(t, err, ErrInvalidArgument)
			assert.NotErrorIs(t, err, ErrConversion)
			assert.Contains(t, err.Error(), fmt.Sprintf("%T", dest))
		})
	}
}

// TestErrNoRowsMatchesDatabaseSQL checks that ErrNoRows, a sentinel of
// this package, also matches sql.ErrNoRows.
func TestErrNoRowsMatchesDatabaseSQL(t *testing.T) {
	h := openT(t, tempDB(t), createTable, WithReaders(1))
	var n int64
	err := h.QueryRow(context.Background(), "SELECT id FROM t").Scan(&n)
	require.ErrorIs(t, err, ErrNoRows)
	require.ErrorIs(t, err, sql.ErrNoRows)
	assert.Contains(t, err.Error(), "sqlitepool: no rows")
	assert.Contains(t, err.Error(), fmt.Sprintf("%q", h.Name()))
	assert.NotErrorIs(t, errors.New("other"), ErrNoRows)
	assert.NotErrorIs(t, sql.ErrNoRows, ErrNoRows, "only ours matches both")
}

// TestScanCommonTypesDoNotAllocate checks that scanning a row into the
// common destinations allocates only the values' own copies.
func TestScanCommonTypesDoNotAllocate(t *testing.T) {
	h := openT(t, tempDB(t), nil, WithReaders(1))
	c := readerConn(t, h)
	stmt, err := c.Prep("SELECT 1, 2, 1.5, 1, NULL, 'x'")
	require.NoError(t, err)
	require.True(t, stmt.Step())
	defer stmt.Reset()
	var (
		i   int
		i64 int64
		f   float64
		b   bool
		by  []byte
		s   string
	)
	dest := []any{&i, &i64, &f, &b, &by, &s}
	allocs := testing.AllocsPerRun(100, func() {
		if err := scanRow(c.conn, stmt, dest); err != nil {
			t.Fatal(err)
		}
	})
	// The string's copy is all: the one-byte string is not interned.
	assert.LessOrEqual(t, allocs, 1.0)
}
