package sqlitepool

import (
	"context"
	"fmt"
	"sync/atomic"
)

// Go has no goroutine identity, so a pool cannot see that the caller of
// Writer is the goroutine that holds the writer. It can see a context: a
// lease's Context carries a mark of the pool and of what the lease holds,
// and a nested call given that context is checked against it.

// leaseKey is the context key of a pool's marks. A struct of one pointer
// converts to an interface without allocating.
type leaseKey struct{ p *pool }

// leaseMark says that a context belongs to a lease of a pool. Marks of
// nested leases of one pool are chained, so a reader taken inside Write
// still tells that the writer is held.
type leaseMark struct {
	ctx       context.Context // the acquiring context with this mark
	role      Role
	exclusive bool       // the lease is an Exclusive, holding every connection
	parent    *leaseMark // the enclosing lease of the same pool, if any
	released  atomic.Bool
}

func newLeaseMark(p *pool, ctx context.Context, role Role, exclusive bool) *leaseMark {
	m := &leaseMark{role: role, exclusive: exclusive, parent: markOf(ctx, p)}
	m.ctx = context.WithValue(ctx, leaseKey{p}, m)
	return m
}

func markOf(ctx context.Context, p *pool) *leaseMark {
	m, _ := ctx.Value(leaseKey{p}).(*leaseMark)
	return m
}

// Context returns the context of the lease that lent c: the context given
// to Reader, Writer, Read, Write or Exclusive, marked as holding c. Inside
// fn, pass c.Context() to nested calls on the same pool:
//
//	err := h.Write(ctx, func(c *sqlitepool.Conn) error {
//		return h.Read(c.Context(), func(r *sqlitepool.Conn) error { ... })
//	})
//
// With it, a nested request that could never be served (the writer again
// inside Write, anything inside Exclusive, an Exclusive inside Read or
// Write) fails at once with [ErrReentrant] instead of waiting for itself
// forever, and a nested request that can be served (a reader inside Write,
// the writer inside Read) is not held back behind a pending
// [Handle.Exclusive], which waits for the outer lease. A nested call given
// any other context looks like another goroutine's, and waits.
//
// The context ends when the lease's context does. The mark ends with the
// lease: once it is released, the context no longer counts as holding c.
// Outside a lease (in an [InitFunc] or a [SetupFunc]) Context returns
// [context.Background].
func (c *Conn) Context() context.Context {
	if c.mark == nil {
		if c.ctx == nil {
			return context.Background()
		}
		c.mark = newLeaseMark(c.pool, c.ctx, c.role, false)
	}
	return c.mark.ctx
}

// Context returns the lease's context, as [Conn.Context] of its connection
// does: pass it to nested calls on the same pool while the lease is held.
// After Release it returns [context.Background].
func (l *Lease) Context() context.Context {
	if l.released.Load() {
		return context.Background()
	}
	return l.c.Context()
}

// endLease forgets the lease's context and ends its mark. Called on release.
func (c *Conn) endLease() {
	if c.mark != nil {
		c.mark.released.Store(true)
		c.mark = nil
	}
	c.ctx = nil
}

// checkReentry fails a request for a lease of s's role that ctx, holding
// leases of p already, could never get.
func (p *pool) checkReentry(ctx context.Context, s *slots) error {
	if m := markOf(ctx, p); m != nil {
		return p.reentry(m, s)
	}
	return nil
}

func (p *pool) reentry(m *leaseMark, s *slots) error {
	readers := 0
	for ; m != nil; m = m.parent {
		switch {
		case m.released.Load():
		case m.exclusive:
			return fmt.Errorf("%w: %q: the context is inside Exclusive, which holds every connection; use the connections given to fn", ErrReentrant, p.t.name)
		case m.role == RoleWriter && s == &p.writer:
			return fmt.Errorf("%w: %q: the context already holds the writer (inside Write or a Writer lease); use that connection, nesting work with Conn.Savepoint", ErrReentrant, p.t.name)
		case m.role == RoleReader:
			readers++
		}
	}
	if s == &p.readers && readers >= s.max {
		return fmt.Errorf("%w: %q: the context already holds all %d readers; use one of them", ErrReentrant, p.t.name, s.max)
	}
	return nil
}

// checkExclusiveReentry fails an Exclusive asked for by a context that
// holds a lease of p: Exclusive waits for every lease, that one included.
func (p *pool) checkExclusiveReentry(ctx context.Context) error {
	if p.holdsLease(ctx) {
		return fmt.Errorf("%w: %q: Exclusive waits for every lease, and the context holds one (inside Read, Write, Exclusive or a lease); call Exclusive after releasing it", ErrReentrant, p.t.name)
	}
	return nil
}

// holdsLease reports whether ctx holds a lease of p now.
func (p *pool) holdsLease(ctx context.Context) bool {
	for m := markOf(ctx, p); m != nil; m = m.parent {
		if !m.released.Load() {
			return true
		}
	}
	return false
}
