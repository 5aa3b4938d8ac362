package sqlitepool

import (
	"cmp"
	"context"
	"log/slog"
	"sync/atomic"
	"time"
	"unsafe"
)

// A nested call given the context its enclosing Write was called with,
// rather than the one fn received, cannot be told from another goroutine's
// and waits for the writer that its own goroutine holds: forever. The pool
// cannot know the goroutine, but it sees that the waiting context is the
// very one the writer's lease was taken with, and says so once the wait has
// lasted. Goroutines that share a context (context.Background, a request's
// context handed to several workers) look the same, so this is a warning
// and a count, never an error.

// selfWaitAlarm is how long a wait that looks like its own holder's lasts
// before it is counted and logged, unless [WithSlowAcquire] sets a shorter
// threshold.
const selfWaitAlarm = time.Second

// leaseID tells which context the writer's latest lease was taken with,
// by the words of the interface value: comparing them never panics (a
// context of a type that is not comparable is boxed, and so never the same
// twice), and keeping them does not keep the context or the lease alive.
// Read by waiters while the holder sets it: a torn or stale read can only
// make a warning wrong, never a lease. It is not cleared on release (each
// writer lease sets it, and stores only what changed: the writer's own
// lease is on the hot path), so while the pool's own work holds the writer
// it names the last lease; a wait on that lease's context would need to
// last the alarm's second to be counted. Zero words (cleared) match no
// context.
type leaseID struct {
	typ, value atomic.Uintptr
}

// ctxWords identifies ctx, or for the context of a lease, the context
// that lease was taken with: Read(ctx) then, inside, Write with fn's
// context takes the writer with the same context as Read's caller.
func ctxWords(ctx context.Context) (typ, value uintptr) {
	for {
		l, ok := ctx.(*leaseCtx)
		if !ok {
			break
		}
		ctx = l.ctx
	}
	w := (*[2]uintptr)(unsafe.Pointer(&ctx))
	return w[0], w[1]
}

// set records a writer lease taken with ctx. Small enough to inline: in
// the common case, the same plain context as the last lease, it stores
// nothing. It compares the value word alone: a lease's context never
// matches it (store records the context unwrapped) and takes the longer
// way; two contexts with the same value word and different types
// (context.Background and context.TODO, both empty) count as one, as
// goroutines that share a context do.
func (id *leaseID) set(ctx context.Context) {
	if id.value.Load() != (*[2]uintptr)(unsafe.Pointer(&ctx))[1] {
		id.store(ctx)
	}
}

func (id *leaseID) store(ctx context.Context) {
	t, v := ctxWords(ctx)
	if id.typ.Load() != t {
		id.typ.Store(t)
	}
	if id.value.Load() != v {
		id.value.Store(v)
	}
}

// clear forgets the lease: a writer Lease dropped unreleased (leak.go).
func (id *leaseID) clear() {
	id.value.Store(0)
	id.typ.Store(0)
}

// heldWith reports whether the writer's latest lease was taken with ctx.
func (id *leaseID) heldWith(ctx context.Context) bool {
	t, v := ctxWords(ctx)
	return id.typ.Load() == t && id.value.Load() == v
}

// longWait is what a waiter reports once its wait passes its alarm: the
// writer, if a lease taken with the same context holds it, and the
// threshold.
type longWait struct {
	self  bool
	after time.Duration
}

// waitAlarm decides whether a wait for s's role by ctx reports itself once
// it has lasted: when it may be waiting for its own holder, and when slow
// acquires are logged. The zero longWait reports nothing.
func (p *pool) waitAlarm(ctx context.Context, s *slots) longWait {
	var lw longWait
	if s == &p.writer {
		if p.writerLease.heldWith(ctx) {
			lw.self = true
			lw.after = selfWaitAlarm
		}
	}
	if p.cfg.logger != nil && p.cfg.slowAcquire > 0 {
		lw.after = min(cmp.Or(lw.after, p.cfg.slowAcquire), p.cfg.slowAcquire)
	}
	return lw
}

// report counts and logs a wait that passed its alarm, on the waiting
// goroutine: its stack is the waiter's.
func (p *pool) report(s *slots, lw longWait) {
	if lw.self {
		p.selfWaits.Add(1)
	}
	if p.cfg.logger == nil {
		return
	}
	attrs := []slog.Attr{
		slog.String("role", s.role.String()),
		slog.Duration("waited", lw.after),
		slog.String("waiting_at", callerOutside()),
	}
	if !lw.self {
		p.log(slog.LevelWarn, "sqlitepool: acquire still waiting", attrs...)
		return
	}
	p.mu.Lock()
	var caller string
	for c := range p.conns {
		if c.role == RoleWriter {
			caller = c.caller // written under p.mu (setCaller)
		}
	}
	p.mu.Unlock()
	attrs = append(attrs, slog.String("writer_leased_at", caller))
	p.log(slog.LevelWarn, "sqlitepool: waiting for the writer, which a lease taken with this same context holds; "+
		"if this goroutine holds it (a call nested in Write given the outer ctx instead of the ctx fn received), "+
		"it waits forever: pass fn's ctx, and the call runs in that transaction", attrs...)
}
