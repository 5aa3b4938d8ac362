package sqlitepool

import (
	"fmt"
	"math"
	"time"

	"github.com/ncruces/go-sqlite3"
)

// bindArgs binds args to the parameters of stmt in order, checking the count
// and every type before binding anything.
func bindArgs(stmt *sqlite3.Stmt, args []any) error {
	if n := stmt.BindCount(); n != len(args) {
		return fmt.Errorf("%w: %d arguments for %d parameters", ErrInvalidArgument, len(args), n)
	}
	for i, a := range args {
		if !bindable(a) {
			return fmt.Errorf("%w: argument %d has type %T; use nil, an integer, a float, bool, string, []byte or time.Time", ErrInvalidArgument, i+1, a)
		}
	}
	for i, a := range args {
		if err := bindArg(stmt, i+1, a); err != nil {
			return err
		}
	}
	return nil
}

func bindable(a any) bool {
	switch v := a.(type) {
	case nil, int, int8, int16, int32, int64, uint8, uint16, uint32,
		float32, float64, bool, string, []byte, time.Time:
		return true
	case uint:
		return uint64(v) <= math.MaxInt64
	case uint64:
		return v <= math.MaxInt64
	}
	return false
}

func bindArg(stmt *sqlite3.Stmt, i int, a any) error {
	switch v := a.(type) {
	case nil:
		return stmt.BindNull(i)
	case int:
		return stmt.BindInt64(i, int64(v))
	case int8:
		return stmt.BindInt64(i, int64(v))
	case int16:
		return stmt.BindInt64(i, int64(v))
	case int32:
		return stmt.BindInt64(i, int64(v))
	case int64:
		return stmt.BindInt64(i, v)
	case uint:
		return stmt.BindInt64(i, int64(v))
	case uint8:
		return stmt.BindInt64(i, int64(v))
	case uint16:
		return stmt.BindInt64(i, int64(v))
	case uint32:
		return stmt.BindInt64(i, int64(v))
	case uint64:
		return stmt.BindInt64(i, int64(v))
	case float32:
		return stmt.BindFloat(i, float64(v))
	case float64:
		return stmt.BindFloat(i, v)
	case bool:
		return stmt.BindBool(i, v)
	case string:
		return stmt.BindText(i, v)
	case []byte:
		if v == nil {
			return stmt.BindNull(i)
		}
		return stmt.BindBlob(i, v)
	case time.Time:
		return stmt.BindTime(i, v, sqlite3.TimeFormatDefault)
	}
	return fmt.Errorf("%w: argument %d has type %T", ErrInvalidArgument, i, a)
}
