package sqlitepool

import (
	"errors"

	"github.com/ncruces/go-sqlite3"
)

// isBroken reports whether err means the connection itself can no longer be
// trusted: an I/O error (the file is gone, the disk failed), a corruption
// report, or a file that is no longer a database. A full disk, a busy lock,
// a constraint or a syntax error are the statement's errors, not the
// connection's: the connection keeps serving.
func isBroken(err error) bool {
	// errors.Is: the engine returns *sqlite3.Error values and bare
	// (extended) codes, and both match their primary code.
	return err != nil && (errors.Is(err, sqlite3.IOERR) || errors.Is(err, sqlite3.CORRUPT) || errors.Is(err, sqlite3.NOTADB))
}

// noteBroken remembers the first error that showed c unusable: release then
// closes c instead of returning it to the pool. The error still goes to the
// caller who saw it.
func (c *conn) noteBroken(err error) {
	if c.broken == nil && isBroken(err) {
		c.broken = err
	}
}
