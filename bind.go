package sqlitepool

import (
	"fmt"
	"math"
	"time"

	"github.com/ncruces/go-sqlite3"
)

// NamedArg is an argument bound by parameter name rather than position;
// make one with [Named].
type NamedArg struct {
	Name  string // with its prefix (":id", "@id", "$id") or without ("id")
	Value any
}

// Named binds value to the named parameter name (:name, @name or $name in
// the SQL). Arguments of one statement are either all named or all
// positional.
func Named(name string, value any) NamedArg { return NamedArg{Name: name, Value: value} }

// bindArgs binds args to the parameters of stmt, in order or by name,
// checking the count, the names and every type before binding anything.
func bindArgs(stmt *sqlite3.Stmt, args []any) error {
	n := stmt.BindCount()
	if n != len(args) {
		return fmt.Errorf("%w: %d arguments for %d parameters", ErrInvalidArgument, len(args), n)
	}
	if n == 0 {
		return nil
	}
	_, named := args[0].(NamedArg)
	for i, a := range args {
		na, isNamed := a.(NamedArg)
		if isNamed != named {
			return fmt.Errorf("%w: argument %d: arguments are either all named or all positional", ErrInvalidArgument, i+1)
		}
		if isNamed {
			a = na.Value
		}
		if !bindable(a) {
			return fmt.Errorf("%w: argument %d has type %T; use nil, an integer, a float, bool, string, []byte or time.Time", ErrInvalidArgument, i+1, a)
		}
	}
	if !named {
		for i, a := range args {
			if err := bindArg(stmt, i+1, a); err != nil {
				return err
			}
		}
		return nil
	}
	idx := make([]int, len(args))
	seen := make(map[int]bool, len(args))
	for i, a := range args {
		na := a.(NamedArg)
		idx[i] = bindIndex(stmt, na.Name)
		if idx[i] == 0 {
			return fmt.Errorf("%w: argument %d: the statement has no parameter named %q", ErrInvalidArgument, i+1, na.Name)
		}
		if seen[idx[i]] {
			return fmt.Errorf("%w: argument %d: parameter %q is given twice", ErrInvalidArgument, i+1, na.Name)
		}
		seen[idx[i]] = true
	}
	for i, a := range args {
		if err := bindArg(stmt, idx[i], a.(NamedArg).Value); err != nil {
			return err
		}
	}
	return nil
}

// bindIndex finds a named parameter, with or without its prefix.
func bindIndex(stmt *sqlite3.Stmt, name string) int {
	if name == "" {
		return 0
	}
	switch name[0] {
	case ':', '@', '$':
		return stmt.BindIndex(name)
	}
	for _, prefix := range [...]string{":", "@", "$"} {
		if i := stmt.BindIndex(prefix + name); i != 0 {
			return i
		}
	}
	return 0
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
		if !engineFormatsTime(v) {
			return stmt.BindText(i, v.Format(time.RFC3339Nano))
		}
		return stmt.BindTime(i, v, sqlite3.TimeFormatDefault)
	}
	return fmt.Errorf("%w: argument %d has type %T", ErrInvalidArgument, i, a)
}

// engineFormatsTime reports whether the engine's BindTime stores t right.
// It formats RFC 3339 text into a 48-byte buffer and, given longer text (a
// 12-digit year with a zone offset of a million hours), binds bytes from
// past the buffer's end instead; FuzzBindArgs found it. Years of at most 4
// digits with offsets under 100 hours take 36 bytes at most.
func engineFormatsTime(t time.Time) bool {
	_, offset := t.Zone()
	year := t.Year()
	return -9999 <= year && year <= 9999 && -100*3600 < offset && offset < 100*3600
}
