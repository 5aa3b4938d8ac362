package sqlitepool

import (
	"database/sql"
	"errors"
	"fmt"
)

// Sentinel errors. Match them with [errors.Is]: the errors this package
// returns wrap them with the database's name and what to do about it.
var (
	// ErrClosed is returned by every method of a closed [Handle], and by
	// acquires that were waiting when the pool closed.
	ErrClosed = errors.New("sqlitepool: closed")

	// ErrInvalidName is returned by Open for a name that cannot name a
	// database: empty, containing a NUL byte, a directory, in a missing
	// directory, or a malformed or unsupported URI.
	ErrInvalidName = errors.New("sqlitepool: invalid database name")

	// ErrInvalidOption is returned by Open for an option with a value out of
	// its range.
	ErrInvalidOption = errors.New("sqlitepool: invalid option")

	// ErrNotDatabase is returned by Open for an existing file that is not an
	// SQLite database.
	ErrNotDatabase = errors.New("sqlitepool: file is not an SQLite database")

	// ErrReadOnly is returned for a write attempted through a reader
	// connection, by Open when the writer cannot open the database for
	// writing, and for every call that needs the writer on a pool opened
	// [WithReadOnly], which has none.
	ErrReadOnly = errors.New("sqlitepool: read-only")

	// ErrOptionsConflict is returned by an Open of a database whose pool
	// is already open when an option it gives differs from what the pool
	// runs with: a pool's configuration is set by the Open that creates
	// it. The error names each such option with both values. Open with
	// the same options, or with none to share the pool as it is.
	ErrOptionsConflict = errors.New("sqlitepool: options conflict with the open pool")

	// ErrInitFailed is returned by Open, to every goroutine waiting on it,
	// when the [InitFunc] returned an error or panicked.
	ErrInitFailed = errors.New("sqlitepool: init failed")

	// ErrAcquireTimeout is returned when the acquire timeout of
	// [WithAcquireTimeout] ran out. Such errors also match
	// [context.DeadlineExceeded].
	ErrAcquireTimeout = errors.New("sqlitepool: acquire timeout")

	// ErrInvalidArgument is returned for a statement argument of an
	// unsupported type or out of range, a [database/sql/driver.Valuer] that failed, a
	// wrong number of arguments, or a Scan destination of an unsupported
	// type or count; nothing ran (or, for Scan, nothing was read).
	ErrInvalidArgument = errors.New("sqlitepool: invalid argument")

	// ErrConversion is returned by [Row.Scan] for a column whose value its
	// destination cannot hold as it is: NULL into a type without a NULL,
	// text that is not a number into a number, a number out of the
	// destination's range, a real with a fraction into an integer, or a
	// [sql.Scanner] that refused the value. The error names the column,
	// its stored type and the destination's type. The destinations before
	// that column were set; it and those after were not.
	ErrConversion = errors.New("sqlitepool: column value does not fit the Scan destination")

	// ErrNoRows is returned by [Row.Scan] when the query returned no row.
	// It also matches [sql.ErrNoRows], for code written against
	// database/sql.
	ErrNoRows error = noRows{}

	// ErrRowDone is returned by [Row.Scan] for a row of [Conn.Query] or
	// [Handle.Query] kept past the iteration that yielded it: its
	// statement has been reset, and may be running another query.
	ErrRowDone = errors.New("sqlitepool: row used after its query's iteration ended")

	// ErrReentrant is returned at once, instead of waiting forever, when a
	// context that holds a lease of the pool (see [Conn.Context]) asks for
	// a lease it can never get while it holds that one: the writer again
	// inside [Handle.Write], anything inside [Handle.Exclusive], an
	// Exclusive inside Read or Write, or more readers than the pool has.
	ErrReentrant = errors.New("sqlitepool: reentrant lease would deadlock; use the connection already held")

	// ErrLeaseEnded is returned by every method of a [Conn] (and of a [Tx]
	// or [Row] made from it) used after its lease ended: kept past the fn
	// it was given to, or past [Lease.Release]. Nothing runs: the pool may
	// have lent the connection to someone else.
	ErrLeaseEnded = errors.New("sqlitepool: lease ended")

	// ErrMoved is returned when the database file was deleted, renamed or
	// replaced while the pool had it open. A write to it is refused (it
	// would go to a file no longer at its name, and be lost), and the
	// pool's connections to the old file are replaced by connections to
	// the file now at that name; if there is none, they fail with ErrMoved
	// until the file is restored or the pool is closed and opened again.
	ErrMoved = errors.New("sqlitepool: database file deleted or replaced while open")
)

// noRows is ErrNoRows: a sentinel of this package that also matches
// sql.ErrNoRows.
type noRows struct{}

func (noRows) Error() string { return "sqlitepool: no rows in result set" }

// Is reports whether target is sql.ErrNoRows (ErrNoRows itself matches by
// equality).
func (noRows) Is(target error) bool { return target == sql.ErrNoRows }

// PanicError is the error a recovered panic becomes where the panic cannot
// be re-raised on the caller's goroutine (an [InitFunc] shared by racing
// Opens, a [SetupFunc]). It wraps the panic value when that is an error.
type PanicError struct {
	Value any    // the value passed to panic
	Stack []byte // the panicking goroutine's stack
}

// Error reports the panic's value.
func (e *PanicError) Error() string { return fmt.Sprintf("panic: %v", e.Value) }

// Unwrap returns the panic value when it is an error.
func (e *PanicError) Unwrap() error {
	err, _ := e.Value.(error)
	return err
}
