package sqlitepool

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"math"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// writerConn leases the writer of h for the rest of the test.
func writerConn(t *testing.T, h *Handle) *Conn { return leasedConn(t, h.Writer) }

// leasedConn leases a connection with acquire for the rest of the test.
func leasedConn(t *testing.T, acquire func(context.Context) (*Lease, error)) *Conn {
	t.Helper()
	l, err := acquire(context.Background())
	require.NoError(t, err)
	t.Cleanup(l.Release)
	return l.Conn()
}

// Types of their own of the basic kinds, as arguments.
type (
	bindID    int64
	bindSmall uint16
	bindBig   uint64
	bindName  string
	bindFlag  bool
	bindRatio float32
	bindBlob  []byte
)

// ptrValuer has Value on its pointer: database/sql calls it even on a nil
// pointer, which it may answer.
type ptrValuer struct{ s string }

func (p *ptrValuer) Value() (driver.Value, error) {
	if p == nil {
		return "nil receiver", nil
	}
	return p.s, nil
}

// countingValuer counts the calls of its Value.
type countingValuer struct{ calls *int }

func (v countingValuer) Value() (driver.Value, error) {
	*v.calls++
	return int64(*v.calls), nil
}

// valuerOf is a driver.Valuer returning v.
type valuerOf struct{ v any }

func (v valuerOf) Value() (driver.Value, error) { return v.v, nil }

var errNoValue = errors.New("no value")

type failingValue struct{}

func (failingValue) Value() (driver.Value, error) { return nil, errNoValue }

// TestBindDatabaseSQLTypes binds the argument types a database/sql user
// has: Valuers, sql.Null*, pointers, named types, unsigned integers in
// range; each is stored as database/sql's conversion would store it.
func TestBindDatabaseSQLTypes(t *testing.T) {
	h := openT(t, tempDB(t), nil, WithReaders(1))
	c := writerConn(t, h)
	when := time.Date(2026, 11, 21, 9, 30, 0, 0, time.UTC)
	n := int64(5)
	pn := &n
	s := "str"
	for _, tc := range []struct {
		name string
		arg  any
		want any // the value stored, as *any reads it
	}{
		{"null-string", sql.NullString{String: "x", Valid: true}, "x"},
		{"null-string-invalid", sql.NullString{String: "x"}, nil},
		{"null-int64", sql.NullInt64{Int64: 7, Valid: true}, int64(7)},
		{"null-int64-pointer", &sql.NullInt64{Int64: 8, Valid: true}, int64(8)},
		{"nil-null-int64-pointer", (*sql.NullInt64)(nil), nil},
		{"null-float64", sql.NullFloat64{Float64: 1.5, Valid: true}, 1.5},
		{"null-bool", sql.NullBool{Bool: true, Valid: true}, int64(1)},
		{"null-time", sql.NullTime{Time: when, Valid: true}, when.Format(time.RFC3339Nano)},
		{"null-generic", sql.Null[int64]{V: 9, Valid: true}, int64(9)},
		{"pointer-receiver-valuer", &ptrValuer{"p"}, "p"},
		{"nil-pointer-receiver-valuer", (*ptrValuer)(nil), "nil receiver"},
		{"valuer-of-uint64", valuerOf{uint64(3)}, int64(3)},
		{"pointer", &n, int64(5)},
		{"nil-pointer", (*int64)(nil), nil},
		{"pointer-to-pointer", &pn, int64(5)},
		{"pointer-to-string", &s, "str"},
		{"pointer-to-time", &when, when.Format(time.RFC3339Nano)},
		{"nil-pointer-to-time", (*time.Time)(nil), nil},
		{"named-int", bindID(11), int64(11)},
		{"named-uint", bindSmall(12), int64(12)},
		{"named-uint64", bindBig(math.MaxInt64), int64(math.MaxInt64)},
		{"named-string", bindName("ada"), "ada"},
		{"named-bool", bindFlag(true), int64(1)},
		{"named-float32", bindRatio(2.5), 2.5},
		{"named-bytes", bindBlob{1, 2}, []byte{1, 2}},
		{"nil-named-bytes", bindBlob(nil), nil},
		{"pointer-to-named", func() any { v := bindID(13); return &v }(), int64(13)},
		{"uint64-max-int64", uint64(math.MaxInt64), int64(math.MaxInt64)},
		{"uint", uint(14), int64(14)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var got any
			require.NoError(t, c.QueryRow("SELECT ?", tc.arg).Scan(&got))
			assert.Equal(t, tc.want, got)

			// Through Exec and a table too.
			require.NoError(t, c.Exec("CREATE TEMP TABLE IF NOT EXISTS b(v)"))
			require.NoError(t, c.Exec("DELETE FROM b"))
			require.NoError(t, c.Exec("INSERT INTO b(v) VALUES (?)", tc.arg))
			require.NoError(t, c.QueryRow("SELECT v FROM b").Scan(&got))
			assert.Equal(t, tc.want, got)
		})
	}
}

// TestBindSQLNamed binds sql.Named arguments, alone and mixed with Named.
func TestBindSQLNamed(t *testing.T) {
	h := openT(t, tempDB(t), createTable, WithReaders(1))
	c := writerConn(t, h)
	require.NoError(t, c.Exec("INSERT INTO t(id, v) VALUES (:id, :v)", sql.Named("id", 1), sql.Named("v", "one")))
	require.NoError(t, c.Exec("INSERT INTO t(id, v) VALUES (@id, @v)", Named("id", 2), sql.Named("v", sql.NullString{String: "two", Valid: true})))
	var v string
	require.NoError(t, c.QueryRow("SELECT v FROM t WHERE id = $id", sql.Named("id", 2)).Scan(&v))
	assert.Equal(t, "two", v)
	require.NoError(t, c.QueryRow("SELECT v FROM t WHERE id = :id", sql.Named("id", 1)).Scan(&v))
	assert.Equal(t, "one", v)

	err := c.Exec("INSERT INTO t(id, v) VALUES (:id, :v)", sql.Named("id", 3), "three")
	require.ErrorIs(t, err, ErrInvalidArgument)
	assert.Contains(t, err.Error(), "all named or all positional")
	err = c.Exec("INSERT INTO t(id, v) VALUES (:id, :v)", sql.Named("id", 3), sql.Named("nope", "x"))
	require.ErrorIs(t, err, ErrInvalidArgument)
	assert.Contains(t, err.Error(), `"nope"`)
	var n int64
	require.NoError(t, c.QueryRow("SELECT count(*) FROM t").Scan(&n))
	assert.Equal(t, int64(2), n)
}

// TestBindRefused checks arguments that cannot be bound: the error matches
// ErrInvalidArgument, says why (out of range, the Valuer's error, the
// type), and nothing runs.
func TestBindRefused(t *testing.T) {
	h := openT(t, tempDB(t), createTable, WithReaders(1))
	c := writerConn(t, h)
	big := uint64(1 << 63)
	for _, tc := range []struct {
		name string
		arg  any
		says string
	}{
		{"uint64-past-int64", uint64(1 << 63), "out of range"},
		{"uint-past-int64", uint(1 << 63), "out of range"},
		{"named-uint64-past-int64", bindBig(math.MaxUint64), "out of range"},
		{"pointer-to-big-uint64", &big, "out of range"},
		{"valuer-of-big-uint64", valuerOf{big}, "out of range"},
		{"failing-valuer", failingValue{}, "no value"},
		{"valuer-of-struct", valuerOf{struct{}{}}, "returned struct {}"},
		{"struct", struct{}{}, "not supported"},
		{"complex", complex(1, 2), "not supported"},
		{"slice-of-int", []int{1}, "not supported"},
		{"pointer-to-struct", &struct{}{}, "not supported"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := c.Exec("INSERT INTO t(v) VALUES (?)", tc.arg)
			require.ErrorIs(t, err, ErrInvalidArgument)
			assert.Contains(t, err.Error(), tc.says)
			assert.Contains(t, err.Error(), fmt.Sprintf("%q", h.Name()))
			if tc.name == "failing-valuer" {
				require.ErrorIs(t, err, errNoValue, "the Valuer's error is wrapped")
			}
			if tc.says == "out of range" {
				assert.NotContains(t, err.Error(), "not supported", "a type that is supported")
			}
			err = c.QueryRow("SELECT ?", tc.arg).Scan(new(any))
			require.ErrorIs(t, err, ErrInvalidArgument)
		})
	}
	var n int64
	require.NoError(t, c.QueryRow("SELECT count(*) FROM t").Scan(&n))
	assert.Zero(t, n, "nothing ran")
}

// TestBindValuerCalledOnce checks that a Valuer's Value runs once per
// bind, though every argument is checked before any is bound.
func TestBindValuerCalledOnce(t *testing.T) {
	h := openT(t, tempDB(t), createTable, WithReaders(1))
	c := writerConn(t, h)
	var calls int
	require.NoError(t, c.Exec("INSERT INTO t(id, v) VALUES (?, ?)", 1, countingValuer{&calls}))
	assert.Equal(t, 1, calls)
	require.NoError(t, c.Exec("INSERT INTO t(id, v) VALUES (:id, :v)", Named("id", 2), Named("v", countingValuer{&calls})))
	assert.Equal(t, 2, calls)
	var v int64
	require.NoError(t, c.QueryRow("SELECT v FROM t WHERE id = 2").Scan(&v))
	assert.Equal(t, int64(2), v)

	// A bad argument after the Valuer: refused before anything is bound.
	err := c.Exec("INSERT INTO t(id, v) VALUES (?, ?)", countingValuer{&calls}, struct{}{})
	require.ErrorIs(t, err, ErrInvalidArgument)
}

// TestBindCommonTypesDoNotAllocate checks the fast path: the common
// argument types bind without reflect's allocations.
func TestBindCommonTypesDoNotAllocate(t *testing.T) {
	h := openT(t, tempDB(t), nil, WithReaders(1))
	c := writerConn(t, h)
	stmt, err := c.Prep("SELECT ?, ?, ?, ?, ?, ?, ?")
	require.NoError(t, err)
	args := []any{1, int64(2), "three", 4.5, []byte{5}, true, nil}
	allocs := testing.AllocsPerRun(100, func() {
		if err := bindArgs(stmt, args); err != nil {
			t.Fatal(err)
		}
	})
	assert.Zero(t, allocs)
}
