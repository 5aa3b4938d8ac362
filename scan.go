package sqlitepool

import (
	"database/sql"
	"errors"
	"fmt"
	"math"
	"reflect"
	"strconv"
	"time"

	"github.com/ncruces/go-sqlite3"
)

// Why a column cannot go into its destination: the last part of an error
// matching ErrConversion, after the column, its value and the destination.
var (
	errNull     = errors.New("NULL needs a destination that can hold it: a pointer to a pointer, a sql.Null type, a sql.Scanner or *any")
	errNotInt   = errors.New("not an integer")
	errNotFloat = errors.New("not a number")
	errRange    = errors.New("out of range")
	errFraction = errors.New("has a fraction; scan into a float")
	errInexact  = errors.New("out of range for an exact float64; scan into an integer")
	errNotBool  = errors.New("not a boolean (0 or 1, true or false)")
	errNotTime  = errors.New("not RFC 3339 text, as time.Time arguments are stored")

	// errBadDest marks a destination of an unsupported type: a mistake in
	// the call, reported as ErrInvalidArgument, not a conversion.
	errBadDest = errors.New("unsupported destination")
)

// scanRow copies the columns of the row stmt is on into dest. The common
// destinations are a type switch (scanInto), with one call into the engine
// for the column's type beside those that read the value; the rest
// (scanners, pointers to pointers, named types) go through scanOther.
func scanRow(c *conn, stmt *sqlite3.Stmt, dest []any) error {
	if n := stmt.ColumnCount(); n != len(dest) {
		return fmt.Errorf("%w: Scan on %q: %d destinations for %d columns", ErrInvalidArgument, c.db, len(dest), n)
	}
	for i, d := range dest {
		if d == nil {
			continue
		}
		t := stmt.ColumnType(i)
		if err := scanInto(stmt, i, t, d); err != nil {
			return scanError(c, stmt, i, t, d, err)
		}
	}
	return nil
}

// scanInto scans column i, of type t, into d, which it leaves as it was
// on an error.
func scanInto(stmt *sqlite3.Stmt, i int, t sqlite3.Datatype, d any) error {
	switch d := d.(type) {
	case *string:
		v, err := columnString(stmt, i, t)
		if err == nil {
			*d = v
		}
		return err
	case *int64:
		v, err := columnInt(stmt, i, t, 64)
		if err == nil {
			*d = v
		}
		return err
	case *int:
		v, err := columnInt(stmt, i, t, strconv.IntSize)
		if err == nil {
			*d = int(v)
		}
		return err
	case *int32:
		v, err := columnInt(stmt, i, t, 32)
		if err == nil {
			*d = int32(v)
		}
		return err
	case *int16:
		v, err := columnInt(stmt, i, t, 16)
		if err == nil {
			*d = int16(v)
		}
		return err
	case *int8:
		v, err := columnInt(stmt, i, t, 8)
		if err == nil {
			*d = int8(v)
		}
		return err
	case *uint64:
		v, err := columnUint(stmt, i, t, 64)
		if err == nil {
			*d = v
		}
		return err
	case *uint:
		v, err := columnUint(stmt, i, t, strconv.IntSize)
		if err == nil {
			*d = uint(v)
		}
		return err
	case *uint32:
		v, err := columnUint(stmt, i, t, 32)
		if err == nil {
			*d = uint32(v)
		}
		return err
	case *uint16:
		v, err := columnUint(stmt, i, t, 16)
		if err == nil {
			*d = uint16(v)
		}
		return err
	case *uint8:
		v, err := columnUint(stmt, i, t, 8)
		if err == nil {
			*d = uint8(v)
		}
		return err
	case *float64:
		v, err := columnFloat(stmt, i, t, 64)
		if err == nil {
			*d = v
		}
		return err
	case *float32:
		v, err := columnFloat(stmt, i, t, 32)
		if err == nil {
			*d = float32(v)
		}
		return err
	case *bool:
		v, err := columnBool(stmt, i, t)
		if err == nil {
			*d = v
		}
		return err
	case *[]byte:
		v, err := columnBytes(stmt, i, t)
		if err == nil {
			*d = v
		}
		return err
	case *time.Time:
		v, err := columnTime(stmt, i, t)
		if err == nil {
			*d = v
		}
		return err
	case *any:
		*d = columnValue(stmt, i, t)
		return nil
	}
	return scanOther(stmt, i, t, d)
}

// scanOther scans column i into the destinations of scanInto's slow path:
// a sql.Scanner, a pointer to a pointer (nil for NULL), or a pointer to a
// named type of a basic kind. It uses reflect, which scanInto's types are
// spared.
func scanOther(stmt *sqlite3.Stmt, i int, t sqlite3.Datatype, d any) error {
	rv := reflect.ValueOf(d)
	if rv.Kind() == reflect.Pointer && rv.IsNil() {
		return errBadDest
	}
	switch d := d.(type) {
	case *sql.NullTime:
		// Its Scan accepts only a time.Time, which database/sql drivers
		// make from text; here the text is parsed as for *time.Time.
		if t == sqlite3.NULL {
			*d = sql.NullTime{}
			return nil
		}
		tm, err := columnTime(stmt, i, t)
		if err != nil {
			return err
		}
		*d = sql.NullTime{Time: tm, Valid: true}
		return nil
	case sql.Scanner:
		return d.Scan(columnValue(stmt, i, t))
	}
	if rv.Kind() != reflect.Pointer {
		return errBadDest
	}
	v := rv.Elem()
	switch v.Kind() {
	case reflect.Pointer:
		if t == sqlite3.NULL {
			v.SetZero()
			return nil
		}
		p := reflect.New(v.Type().Elem())
		if err := scanInto(stmt, i, t, p.Interface()); err != nil {
			return err
		}
		v.Set(p)
		return nil
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		n, err := columnInt(stmt, i, t, v.Type().Bits())
		if err == nil {
			v.SetInt(n)
		}
		return err
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		n, err := columnUint(stmt, i, t, v.Type().Bits())
		if err == nil {
			v.SetUint(n)
		}
		return err
	case reflect.Float32, reflect.Float64:
		f, err := columnFloat(stmt, i, t, v.Type().Bits())
		if err == nil {
			v.SetFloat(f)
		}
		return err
	case reflect.Bool:
		b, err := columnBool(stmt, i, t)
		if err == nil {
			v.SetBool(b)
		}
		return err
	case reflect.String:
		s, err := columnString(stmt, i, t)
		if err == nil {
			v.SetString(s)
		}
		return err
	case reflect.Slice:
		if v.Type().Elem().Kind() != reflect.Uint8 {
			return errBadDest
		}
		b, err := columnBytes(stmt, i, t)
		if err == nil {
			v.SetBytes(b)
		}
		return err
	}
	return errBadDest
}

// scanError explains why column i could not go into d: the column's
// index, name, stored type and value (shortened), the destination's type
// and the reason, which why wraps.
func scanError(c *conn, stmt *sqlite3.Stmt, i int, t sqlite3.Datatype, d any, why error) error {
	if errors.Is(why, errBadDest) {
		if rv := reflect.ValueOf(d); rv.Kind() == reflect.Pointer && rv.IsNil() {
			return fmt.Errorf("%w: Scan on %q: destination %d is a nil %T; pass a pointer to a variable", ErrInvalidArgument, c.db, i+1, d)
		}
		return fmt.Errorf("%w: Scan on %q: destination %d has type %T; use a pointer to an integer, float, bool, string, []byte, time.Time or any, a pointer to such a pointer, or a sql.Scanner", ErrInvalidArgument, c.db, i+1, d)
	}
	return fmt.Errorf("%w: Scan on %q: column %d %q (%s) into %T: %w", ErrConversion, c.db, i+1, stmt.ColumnName(i), storedValue(stmt, i, t), d, why)
}

// storedValue shows a column's type and value for an error message; text
// and blobs are cut to a length that identifies them without flooding a log.
func storedValue(stmt *sqlite3.Stmt, i int, t sqlite3.Datatype) string {
	const limit = 32
	switch t {
	case sqlite3.INTEGER:
		return "INTEGER " + strconv.FormatInt(stmt.ColumnInt64(i), 10)
	case sqlite3.FLOAT:
		return "FLOAT " + strconv.FormatFloat(stmt.ColumnFloat(i), 'g', -1, 64)
	case sqlite3.TEXT, sqlite3.BLOB:
		b := columnRaw(stmt, i, t)
		if len(b) > limit {
			return fmt.Sprintf("%s %q... (%d bytes)", t, b[:limit], len(b))
		}
		return fmt.Sprintf("%s %q", t, b)
	}
	return t.String()
}

// columnInt reads column i as a signed integer of the given bits: an
// INTEGER in range, a FLOAT with no fraction, or base-10 integer text.
func columnInt(stmt *sqlite3.Stmt, i int, t sqlite3.Datatype, bits int) (int64, error) {
	var n int64
	switch t {
	case sqlite3.INTEGER:
		n = stmt.ColumnInt64(i)
	case sqlite3.FLOAT:
		f := stmt.ColumnFloat(i)
		if f != math.Trunc(f) {
			return 0, errFraction
		}
		// -2^63 is exact as a float64, 2^63-1 is not: the bound is 2^63.
		if f < math.MinInt64 || f >= -math.MinInt64 || math.IsInf(f, 0) {
			return 0, errRange
		}
		n = int64(f)
	case sqlite3.TEXT, sqlite3.BLOB:
		var err error
		if n, err = strconv.ParseInt(string(columnRaw(stmt, i, t)), 10, 64); err != nil {
			return 0, numError(err, errNotInt)
		}
	default:
		return 0, errNull
	}
	if bits < 64 && n != n<<(64-bits)>>(64-bits) {
		return 0, errRange
	}
	return n, nil
}

// columnUint reads column i as an unsigned integer of the given bits, as
// columnInt does; a negative value is out of range.
func columnUint(stmt *sqlite3.Stmt, i int, t sqlite3.Datatype, bits int) (uint64, error) {
	var n uint64
	switch t {
	case sqlite3.INTEGER:
		v := stmt.ColumnInt64(i)
		if v < 0 {
			return 0, errRange
		}
		n = uint64(v)
	case sqlite3.FLOAT:
		f := stmt.ColumnFloat(i)
		if f != math.Trunc(f) {
			return 0, errFraction
		}
		if f < 0 || f >= 2*-math.MinInt64 || math.IsInf(f, 0) {
			return 0, errRange
		}
		n = uint64(f)
	case sqlite3.TEXT, sqlite3.BLOB:
		s := string(columnRaw(stmt, i, t))
		var err error
		if n, err = strconv.ParseUint(s, 10, 64); err != nil {
			if _, ierr := strconv.ParseInt(s, 10, 64); ierr == nil || errors.Is(ierr, strconv.ErrRange) {
				return 0, errRange // a negative integer
			}
			return 0, numError(err, errNotInt)
		}
	default:
		return 0, errNull
	}
	if bits < 64 && n>>bits != 0 {
		return 0, errRange
	}
	return n, nil
}

// columnFloat reads column i as a float: a FLOAT, an INTEGER that a
// float64 holds exactly, or number text. With 32 bits, the value is
// rounded to the nearest float32, and out of range past its largest.
func columnFloat(stmt *sqlite3.Stmt, i int, t sqlite3.Datatype, bits int) (float64, error) {
	var f float64
	switch t {
	case sqlite3.FLOAT:
		f = stmt.ColumnFloat(i)
	case sqlite3.INTEGER:
		n := stmt.ColumnInt64(i)
		f = float64(n)
		if f >= -math.MinInt64 || int64(f) != n {
			return 0, errInexact
		}
	case sqlite3.TEXT, sqlite3.BLOB:
		var err error
		if f, err = strconv.ParseFloat(string(columnRaw(stmt, i, t)), 64); err != nil {
			return 0, numError(err, errNotFloat)
		}
	default:
		return 0, errNull
	}
	if bits == 32 && !math.IsInf(f, 0) && math.IsInf(float64(float32(f)), 0) {
		return 0, errRange
	}
	return f, nil
}

// numError tells a number out of range from text that is not a number.
func numError(err, syntax error) error {
	if errors.Is(err, strconv.ErrRange) {
		return errRange
	}
	return syntax
}

// columnBool reads column i as a bool: the numbers 0 and 1, or text that
// strconv.ParseBool accepts.
func columnBool(stmt *sqlite3.Stmt, i int, t sqlite3.Datatype) (bool, error) {
	switch t {
	case sqlite3.INTEGER:
		switch stmt.ColumnInt64(i) {
		case 0:
			return false, nil
		case 1:
			return true, nil
		}
	case sqlite3.FLOAT:
		switch stmt.ColumnFloat(i) {
		case 0:
			return false, nil
		case 1:
			return true, nil
		}
	case sqlite3.TEXT, sqlite3.BLOB:
		if b, err := strconv.ParseBool(string(columnRaw(stmt, i, t))); err == nil {
			return b, nil
		}
	default:
		return false, errNull
	}
	return false, errNotBool
}

// columnString reads column i as text; numbers are formatted as
// database/sql formats them, a blob's bytes taken as they are.
func columnString(stmt *sqlite3.Stmt, i int, t sqlite3.Datatype) (string, error) {
	switch t {
	case sqlite3.TEXT:
		return stmt.ColumnText(i), nil
	case sqlite3.INTEGER:
		return strconv.FormatInt(stmt.ColumnInt64(i), 10), nil
	case sqlite3.FLOAT:
		return strconv.FormatFloat(stmt.ColumnFloat(i), 'g', -1, 64), nil
	case sqlite3.BLOB:
		return string(stmt.ColumnRawBlob(i)), nil
	}
	return "", errNull
}

// columnBytes reads column i as a new slice: NULL is nil, an empty value
// is empty but not nil, and numbers are formatted as for columnString.
func columnBytes(stmt *sqlite3.Stmt, i int, t sqlite3.Datatype) ([]byte, error) {
	switch t {
	case sqlite3.NULL:
		return nil, nil
	case sqlite3.INTEGER:
		return strconv.AppendInt(nil, stmt.ColumnInt64(i), 10), nil
	case sqlite3.FLOAT:
		return strconv.AppendFloat(nil, stmt.ColumnFloat(i), 'g', -1, 64), nil
	}
	return append([]byte{}, columnRaw(stmt, i, t)...), nil
}

// columnTime reads column i as a time stored as RFC 3339 text.
func columnTime(stmt *sqlite3.Stmt, i int, t sqlite3.Datatype) (time.Time, error) {
	switch t {
	case sqlite3.NULL:
		return time.Time{}, errNull
	case sqlite3.TEXT:
		tm, err := sqlite3.TimeFormatDefault.Decode(stmt.ColumnText(i))
		if err == nil {
			return tm, nil
		}
	}
	return time.Time{}, errNotTime
}

// columnValue reads column i as stored: nil, int64, float64, string or a
// copy of a blob.
func columnValue(stmt *sqlite3.Stmt, i int, t sqlite3.Datatype) any {
	switch t {
	case sqlite3.INTEGER:
		return stmt.ColumnInt64(i)
	case sqlite3.FLOAT:
		return stmt.ColumnFloat(i)
	case sqlite3.TEXT:
		return stmt.ColumnText(i)
	case sqlite3.BLOB:
		return stmt.ColumnBlob(i, []byte{})
	}
	return nil
}

// columnRaw returns the engine's bytes of a TEXT or BLOB column, valid
// until the statement moves on.
func columnRaw(stmt *sqlite3.Stmt, i int, t sqlite3.Datatype) []byte {
	if t == sqlite3.BLOB {
		return stmt.ColumnRawBlob(i)
	}
	return stmt.ColumnRawText(i)
}
