package harness

import (
	"context"
	"errors"
	"strings"
)

// Error kinds a cell counts separately. The engines spell their errors
// differently (ncruces: "sqlite3: database is locked"; zombiezen:
// "SQLITE_BUSY"), so kinds are read from the message, the one thing every
// contender's errors have.
const (
	ErrBusy    = "busy"    // SQLITE_BUSY, "database is locked"
	ErrLocked  = "locked"  // SQLITE_LOCKED, "database table is locked"
	ErrTimeout = "timeout" // a deadline or cancellation, an interrupt
	ErrOther   = "other"
)

// Kind classifies err into one of the Err* kinds.
func Kind(err error) string {
	s := strings.ToLower(err.Error())
	switch {
	case strings.Contains(s, "database is locked") || strings.Contains(s, "sqlite_busy"):
		return ErrBusy
	case strings.Contains(s, "table is locked") || strings.Contains(s, "sqlite_locked"):
		return ErrLocked
	case errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) ||
		strings.Contains(s, "interrupt"):
		return ErrTimeout
	}
	return ErrOther
}
