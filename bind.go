package sqlitepool

import (
	"database/sql"
	"database/sql/driver"
	"fmt"
	"math"
	"reflect"
	"time"

	"github.com/ncruces/go-sqlite3"
)

// NamedArg is an argument bound by parameter name rather than position;
// make one with [Named]. A [sql.NamedArg] (from [sql.Named]) works the
// same.
type NamedArg struct {
	Name  string // with its prefix (":id", "@id", "$id") or without ("id")
	Value any
}

// Named binds value to the named parameter name (:name, @name or $name in
// the SQL). Arguments of one statement are either all named or all
// positional.
func Named(name string, value any) NamedArg { return NamedArg{Name: name, Value: value} }

// bindArgs binds args to the parameters of stmt, in order or by name,
// checking the count, the names and every value before binding anything.
// Arguments of the types bindArg binds go as they are, with no allocation;
// the others are converted first (convertArg), into a copy of args made
// only then, so that a Valuer's Value is called once.
func bindArgs(stmt *sqlite3.Stmt, args []any) error {
	n := stmt.BindCount()
	if n != len(args) {
		return badArg("%d arguments for %d parameters", len(args), n)
	}
	if n == 0 {
		return nil
	}
	_, _, named := splitNamed(args[0])
	var values []any // args' values, converted; nil while none needed it
	for i, a := range args {
		_, v, isNamed := splitNamed(a)
		if isNamed != named {
			return badArg("argument %d: arguments are either all named or all positional", i+1)
		}
		basic, outOfRange := basicArg(v)
		if outOfRange {
			return badArg("argument %d: %T %v is out of range: SQLite integers are int64", i+1, v, v)
		}
		if basic {
			continue
		}
		cv, err := convertArg(v)
		if err != nil {
			return badArg("argument %d: %w", i+1, err)
		}
		if values == nil {
			values = make([]any, len(args))
			for j, a := range args {
				_, values[j], _ = splitNamed(a)
			}
		}
		values[i] = cv
	}
	value := func(i int) any {
		if values != nil {
			return values[i]
		}
		_, v, _ := splitNamed(args[i])
		return v
	}
	if !named {
		for i := range args {
			if err := bindArg(stmt, i+1, value(i)); err != nil {
				return err
			}
		}
		return nil
	}
	idx := make([]int, len(args))
	seen := make(map[int]bool, len(args))
	for i, a := range args {
		name, _, _ := splitNamed(a)
		idx[i] = bindIndex(stmt, name)
		if idx[i] == 0 {
			return badArg("argument %d: the statement has no parameter named %q", i+1, name)
		}
		if seen[idx[i]] {
			return badArg("argument %d: parameter %q is given twice", i+1, name)
		}
		seen[idx[i]] = true
	}
	for i := range args {
		if err := bindArg(stmt, idx[i], value(i)); err != nil {
			return err
		}
	}
	return nil
}

// splitNamed returns the name and value of a NamedArg or sql.NamedArg, or
// a itself as a positional argument's value.
func splitNamed(a any) (name string, v any, named bool) {
	switch na := a.(type) {
	case NamedArg:
		return na.Name, na.Value, true
	case sql.NamedArg:
		return na.Name, na.Value, true
	}
	return "", a, false
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

// basicArg reports whether bindArg binds a as it is, and whether a is an
// unsigned integer past SQLite's int64.
func basicArg(a any) (basic, outOfRange bool) {
	switch v := a.(type) {
	case nil, int, int64, string, float64, []byte, bool, time.Time,
		int8, int16, int32, uint8, uint16, uint32, float32:
		return true, false
	case uint:
		return true, uint64(v) > math.MaxInt64
	case uint64:
		return true, v > math.MaxInt64
	}
	return false, false
}

// valuerType is driver.Valuer, for a nil pointer's method set.
var valuerType = reflect.TypeFor[driver.Valuer]()

// convertArg converts an argument that basicArg refused into a value it
// accepts, as database/sql converts arguments: a driver.Valuer's Value; a
// pointer's pointee, or nil for a nil pointer; a named type of a basic kind
// as that kind. Only here does binding use reflect.
func convertArg(a any) (any, error) {
	rv := reflect.ValueOf(a)
	if vr, ok := a.(driver.Valuer); ok {
		// A nil pointer whose Value has a value receiver would panic in
		// the call: it is NULL, as database/sql has it.
		if rv.Kind() == reflect.Pointer && rv.IsNil() && rv.Type().Elem().Implements(valuerType) {
			return nil, nil
		}
		v, err := vr.Value()
		if err != nil {
			return nil, fmt.Errorf("%T.Value: %w", a, err)
		}
		basic, outOfRange := basicArg(v)
		switch {
		case outOfRange:
			return nil, fmt.Errorf("%T.Value returned %T %v, out of range: SQLite integers are int64", a, v, v)
		case !basic:
			return nil, fmt.Errorf("%T.Value returned %T; return nil, int64, float64, bool, []byte, string or time.Time", a, v)
		}
		return v, nil
	}
	switch rv.Kind() {
	case reflect.Pointer:
		if rv.IsNil() {
			return nil, nil
		}
		v := rv.Elem().Interface()
		if basic, outOfRange := basicArg(v); outOfRange {
			return nil, fmt.Errorf("%T pointing to %v: out of range: SQLite integers are int64", a, v)
		} else if basic {
			return v, nil
		}
		return convertArg(v)
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return rv.Int(), nil
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		if u := rv.Uint(); u <= math.MaxInt64 {
			return int64(u), nil
		}
		return nil, fmt.Errorf("%T %v is out of range: SQLite integers are int64", a, a)
	case reflect.Float32, reflect.Float64:
		return rv.Float(), nil
	case reflect.Bool:
		return rv.Bool(), nil
	case reflect.String:
		return rv.String(), nil
	case reflect.Slice:
		if rv.Type().Elem().Kind() == reflect.Uint8 {
			return rv.Bytes(), nil
		}
	}
	return nil, fmt.Errorf("type %T is not supported; use nil, an integer, a float, bool, string, []byte, time.Time, a pointer to one, a named type of those kinds, or a driver.Valuer", a)
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
	return badArg("argument %d has type %T", i, a)
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
