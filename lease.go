package sqlitepool

import "sync/atomic"

// Lease is one connection borrowed from a pool by [Handle.Reader] or
// [Handle.Writer]. Release it when done, typically with defer; until then no
// one else can use the connection.
type Lease struct {
	c        Conn // one allocation for both
	released atomic.Bool
}

// Conn returns the leased connection, or nil once the lease is released.
func (l *Lease) Conn() *Conn {
	if l.released.Load() {
		return nil
	}
	return &l.c
}

// Release gives the connection back to the pool, clean: statements reset,
// interrupt cleared, an open transaction rolled back. Calling Release more
// than once releases once, even from several goroutines; but no goroutine may
// still be using the connection when Release runs.
func (l *Lease) Release() {
	if l == nil || !l.released.CompareAndSwap(false, true) {
		return
	}
	l.c.p.giveBack(&l.c)
}
