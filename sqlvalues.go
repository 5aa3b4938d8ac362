package sqlitepool

import (
	"database/sql/driver"
	"strings"
	"time"

	"github.com/ncruces/go-sqlite3"
)

// Values through database/sql follow the rules of ncruces' own driver
// (github.com/ncruces/go-sqlite3/driver, with its default time format), so
// that code moving from it to the pool reads the same values: arguments
// are bound as the pool's Exec binds them (time.Time as RFC 3339 text),
// and a column's declared type decides what a value becomes:
//
//   - BOOLEAN: the integers 0 and 1 are false and true;
//   - DATE, TIME, DATETIME, TIMESTAMP: text, integers and reals in a format
//     SQLite's date functions read are a time.Time;
//   - any type but TEXT: text that is exactly RFC 3339 (as a time.Time
//     argument is stored) is a time.Time;
//   - otherwise the value as stored: nil, int64, float64, string or
//     []byte.

// declKind is what a column's declared type says of its values.
type declKind uint8

const (
	declAny declKind = iota
	declInt
	declReal
	declText
	declBlob
	declBool
	declTime
)

// declKinds appends to kinds what the declared types of stmt's columns
// say.
func declKinds(stmt *sqlite3.Stmt, kinds []declKind) []declKind {
	for i := range stmt.ColumnCount() {
		kinds = append(kinds, kindOfDecl(strings.ToUpper(stmt.ColumnDeclType(i))))
	}
	return kinds
}

// kindOfDecl reads a declared type, in upper case.
func kindOfDecl(decl string) declKind {
	switch decl {
	case "INT", "INTEGER":
		return declInt
	case "REAL":
		return declReal
	case "TEXT":
		return declText
	case "BLOB":
		return declBlob
	case "BOOLEAN":
		return declBool
	case "DATE", "TIME", "DATETIME", "TIMESTAMP":
		return declTime
	}
	return declAny
}

// sqlValue returns column i of the row stmt is on, of stored type t, for
// database/sql, given what its declared type says. A BLOB is the engine's
// bytes, valid until the next step: database/sql copies them unless the
// destination is a sql.RawBytes; an empty one is an empty slice, not nil
// (which database/sql reads as NULL).
func sqlValue(stmt *sqlite3.Stmt, i int, t sqlite3.Datatype, k declKind) driver.Value {
	switch t {
	case sqlite3.NULL:
		return nil
	case sqlite3.BLOB:
		if b := stmt.ColumnRawBlob(i); b != nil {
			return b
		}
		return []byte{} // empty, not NULL

	case sqlite3.INTEGER:
		v := stmt.ColumnInt64(i)
		switch {
		case k == declBool && (v == 0 || v == 1):
			return v == 1
		case k == declTime:
			if tm, err := sqlite3.TimeFormatAuto.Decode(v); err == nil {
				return tm
			}
		}
		return v
	case sqlite3.FLOAT:
		v := stmt.ColumnFloat(i)
		if k == declTime {
			if tm, err := sqlite3.TimeFormatAuto.Decode(v); err == nil {
				return tm
			}
		}
		return v
	}
	raw := stmt.ColumnRawText(i)
	if k != declText {
		if tm, ok := rfc3339Time(raw); ok {
			return tm
		}
	}
	s := string(raw)
	if k == declTime {
		if tm, err := sqlite3.TimeFormatAuto.Decode(s); err == nil {
			return tm
		}
	}
	return s
}

// rfc3339Time parses text that is a time as the pool stores a time.Time
// argument: RFC 3339 with nanoseconds, as Format writes it (so that text
// that merely looks like a time stays the string it was).
func rfc3339Time(text []byte) (time.Time, bool) {
	const shortest = len("2006-01-02T15:04:05Z")
	if len(text) < shortest || len(text) > len(time.RFC3339Nano) ||
		text[4] != '-' || text[10] != 'T' || text[16] != ':' {
		return time.Time{}, false
	}
	tm, err := time.Parse(time.RFC3339Nano, string(text))
	if err != nil {
		return time.Time{}, false
	}
	var buf [len(time.RFC3339Nano)]byte
	if string(tm.AppendFormat(buf[:0], time.RFC3339Nano)) != string(text) {
		return time.Time{}, false
	}
	return tm, true
}

// bindNamed binds database/sql's arguments to stmt: positional ones at
// their ordinal, named ones (sql.Named("id", v)) to every parameter of
// that name, :id, @id or $id, as ncruces' driver does. Positional
// arguments must match the parameters in number, and a name must match a
// parameter; nothing is bound otherwise.
func bindNamed(stmt *sqlite3.Stmt, args []driver.NamedValue) error {
	n := stmt.BindCount()
	named := false
	for _, a := range args {
		named = named || a.Name != ""
	}
	if !named && len(args) != n {
		return badArg("%d arguments for %d parameters", len(args), n)
	}
	for i, a := range args {
		if a.Name == "" {
			if a.Ordinal < 1 || a.Ordinal > n {
				return badArg("argument %d: the statement has %d parameters", a.Ordinal, n)
			}
			continue
		}
		if bindIndex(stmt, a.Name) == 0 {
			return badArg("argument %d: the statement has no parameter :%s, @%s or $%s", i+1, a.Name, a.Name, a.Name)
		}
	}
	for _, a := range args {
		if a.Name == "" {
			if err := bindArg(stmt, a.Ordinal, a.Value); err != nil {
				return err
			}
			continue
		}
		for _, prefix := range [...]string{":", "@", "$"} {
			if j := stmt.BindIndex(prefix + a.Name); j != 0 {
				if err := bindArg(stmt, j, a.Value); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

// execNamed is Exec for database/sql's arguments: without arguments, sql
// may be a script.
func (c *conn) execNamed(sql string, args []driver.NamedValue) (err error) {
	if len(args) == 0 {
		return c.exec(sql, nil)
	}
	defer func() { err = c.sqlError("Exec", sql, err) }()
	defer c.recoverOOM(&err)
	stmt, err := c.freshStmt("Exec", sql)
	if err != nil {
		return err
	}
	if err := bindNamed(stmt, args); err != nil {
		return inCall(err, "Exec", c.db)
	}
	ends := c.ends
	return c.wrap(c.committedAnyway(stmt.Exec(), ends))
}

// sqlResult is the Result of an Exec.
type sqlResult struct{ lastInsertID, rowsAffected int64 }

var _ driver.Result = sqlResult{}

// newSQLResult reports what the statement just run on c did; before is
// c's total changes before it. The engine keeps both figures per
// connection and leaves them as they were after a statement that changes
// no row, which may be another lease's: a statement that changed nothing
// reports 0 for both. A statement that changed rows reports the rowid of
// the last insert, as ncruces' driver does: meaningful after an INSERT.
func newSQLResult(c *conn, before int64) sqlResult {
	if c.raw.TotalChanges() == before {
		return sqlResult{}
	}
	return sqlResult{lastInsertID: c.raw.LastInsertRowID(), rowsAffected: c.raw.Changes()}
}

// LastInsertId returns the rowid of the row the statement inserted last.
func (r sqlResult) LastInsertId() (int64, error) { return r.lastInsertID, nil }

// RowsAffected returns the rows the statement inserted, updated or deleted.
func (r sqlResult) RowsAffected() (int64, error) { return r.rowsAffected, nil }

// declTypeName trims a declared type to its name, in upper case: "VARCHAR(20)"
// is "VARCHAR".
func declTypeName(decl string) string {
	decl = strings.ToUpper(strings.TrimSpace(decl))
	if strings.HasSuffix(decl, ")") {
		if i := strings.LastIndexByte(decl, '('); i >= 0 {
			decl = strings.TrimSpace(decl[:i])
		}
	}
	return decl
}
