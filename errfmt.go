package sqlitepool

import (
	"errors"
	"fmt"
	"strings"

	"github.com/ncruces/go-sqlite3"
)

// Errors read the same everywhere: the sentinel that classifies them
// first, then the call and the database, then the detail:
//
//	sqlitepool: invalid argument: Exec on "app.db": argument 2: ...
//	sqlitepool: Exec on "app.db": INSERT INTO t(nme) VALUES (?): sqlite3: SQL logic error: ...

// badArgError is a bad argument to a statement. It matches
// ErrInvalidArgument; where names the call once the caller knows it.
type badArgError struct {
	where string // `Exec on "app.db": `, set by inCall
	err   error
}

func badArg(format string, a ...any) error {
	return &badArgError{err: fmt.Errorf(format, a...)}
}

func (e *badArgError) Error() string {
	return ErrInvalidArgument.Error() + ": " + e.where + e.err.Error()
}

func (e *badArgError) Is(target error) bool { return target == ErrInvalidArgument }
func (e *badArgError) Unwrap() error        { return e.err }

// inCall names the call (op) and the database in a bad argument's error.
func inCall(err error, op, db string) error {
	if ae, ok := err.(*badArgError); ok && ae.where == "" {
		ae.where = fmt.Sprintf("%s on %q: ", op, db)
	}
	return err
}

// maxSQLInError bounds the statement an error quotes.
const maxSQLInError = 80

// sqlError names the call, the database and the statement in an error the
// engine raised running sql; the pool's own errors (a write through a
// reader, a moved file), which name the database already, stand.
func (c *conn) sqlError(op, sql string, err error) error {
	if err == nil || strings.HasPrefix(err.Error(), "sqlitepool: ") || !fromEngine(err) {
		return err
	}
	return fmt.Errorf("sqlitepool: %s on %q: %s: %w", op, c.db, shortSQL(sql), err)
}

// fromEngine reports whether err is, or wraps, an error of the engine.
func fromEngine(err error) bool {
	var ee *sqlite3.Error
	var ec sqlite3.ErrorCode
	var xc sqlite3.ExtendedErrorCode
	return errors.As(err, &ee) || errors.As(err, &ec) || errors.As(err, &xc)
}

// shortSQL is sql on one line, cut to maxSQLInError runes.
func shortSQL(sql string) string {
	out := make([]rune, 0, min(len(sql), maxSQLInError+1))
	space := false
	for _, r := range sql {
		if r == '\n' || r == '\t' || r == '\r' || r == ' ' {
			space = len(out) > 0
			continue
		}
		if space {
			out = append(out, ' ')
			space = false
		}
		if len(out) >= maxSQLInError {
			return string(out) + "…"
		}
		out = append(out, r)
	}
	return string(out)
}
