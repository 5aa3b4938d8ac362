package sqlitepool

import "sync/atomic"

// Lease is one connection borrowed from a pool by [Handle.Reader] or
// [Handle.Writer]. Release it when done, typically with defer; until then no
// one else can use the connection.
//
// A Lease that becomes unreachable without Release is found by the garbage
// collector, at its next cycle or a later one: the pool closes its
// connection (rolling back its transaction), which frees its slot and lets a
// waiting Close or Open go on, counts it in [Stats].LeakedLeases and, with
// [WithLogger], logs where the lease was taken. The connection is closed, not
// reused, because the program may still hold its *Conn; keeping that *Conn
// while dropping the Lease is dropping the lease all the same.
type Lease struct {
	c Conn // one allocation for both; c.hold has the tracker (leak.go)
}

// Conn returns the leased connection, or nil once the lease is released.
func (l *Lease) Conn() *Conn {
	if l.c.ended() {
		return nil
	}
	return &l.c
}

// Release gives the connection back to the pool, clean: statements reset,
// interrupt cleared, an open transaction rolled back. Calling Release more
// than once releases once, even from several goroutines; but no goroutine may
// still be using the connection when Release runs.
func (l *Lease) Release() {
	if l == nil {
		return
	}
	// Ending the lease takes the tracker back: a released Lease kept
	// around must not keep it.
	t := (*tracker)(atomic.SwapPointer(l.c.holdPtr(), nil))
	if t == nil {
		return
	}
	if t != &noTracker {
		l.c.tracker = t
	}
	l.c.pool.release(l.c.conn)
}
