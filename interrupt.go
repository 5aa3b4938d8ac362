package sqlitepool

import (
	"context"
	"fmt"
	"sync/atomic"
	"time"
)

// The engine stops a running statement when the connection's interrupt
// context reports an error: it asks Err before each step and every 1000
// virtual-machine instructions, and never selects on Done. A pooled
// connection keeps one interrupter as that context for its whole life, so
// that two things can stop it: the lease's context, which only the
// goroutine holding the lease sets and reads, and the pool's forced close,
// an atomic flag that CloseContext sets from another goroutine. Swapping
// the engine's context itself from another goroutine would be a data race.
type interrupter struct {
	lease  context.Context // nil between leases
	forced *atomic.Bool    // the pool's: set once by a close that gave up waiting
	db     string
}

var _ context.Context = (*interrupter)(nil)

// Err reports why statements must stop now, or nil.
func (i *interrupter) Err() error {
	if i.forced.Load() {
		return fmt.Errorf("%w: the pool of %q was closed with this lease still out", ErrClosed, i.db)
	}
	if i.lease != nil {
		return i.lease.Err()
	}
	return nil
}

// Deadline, Done and Value make interrupter a context; the engine uses
// only Err.
func (i *interrupter) Deadline() (time.Time, bool) { return time.Time{}, false }
func (i *interrupter) Done() <-chan struct{}       { return nil }
func (i *interrupter) Value(any) any               { return nil }

// setInterrupt makes ctx interrupt the statements run on c during the
// lease. A context that can never be done is not kept: nothing to ask.
func setInterrupt(c *conn, ctx context.Context) {
	if ctx.Done() != nil {
		c.intr.lease = ctx
	}
}

// installInterrupter gives a configured connection its interrupter.
func (c *conn) installInterrupter(forced *atomic.Bool) {
	c.intr = &interrupter{forced: forced, db: c.db}
	c.raw.SetInterrupt(c.intr)
}
