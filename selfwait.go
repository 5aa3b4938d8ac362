package sqlitepool

import (
	"cmp"
	"context"
	"log/slog"
	"reflect"
	"time"
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

// longWait is what a waiter reports once its wait passes its alarm: the
// writer's lease taken with the same context, if it is, and the threshold.
type longWait struct {
	holder *Conn
	after  time.Duration
}

// waitAlarm decides whether a wait for s's role by ctx reports itself once
// it has lasted: when it may be waiting for its own holder, and when slow
// acquires are logged. The zero longWait reports nothing.
func (p *pool) waitAlarm(ctx context.Context, s *slots) longWait {
	var lw longWait
	if s == &p.writer {
		if l := p.writerLease.Load(); l != nil && sameContext(l.ctx.Context, ctx) {
			lw.holder = l
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
	if lw.holder != nil {
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
	if lw.holder == nil {
		p.log(slog.LevelWarn, "sqlitepool: acquire still waiting", attrs...)
		return
	}
	attrs = append(attrs, slog.String("writer_leased_at", lw.holder.caller))
	p.log(slog.LevelWarn, "sqlitepool: waiting for the writer, which a lease taken with this same context holds; "+
		"if this goroutine holds it (a call nested in Write given the outer ctx instead of the ctx fn received), "+
		"it waits forever: pass fn's ctx, and the call runs in that transaction", attrs...)
}

// sameContext reports whether a and b are the same context. Contexts are
// compared as interface values, which panics for a type that is not
// comparable: such contexts are never the same here.
func sameContext(a, b context.Context) bool {
	if a == nil || b == nil {
		return false
	}
	ta := reflect.TypeOf(a)
	return ta == reflect.TypeOf(b) && ta.Comparable() && a == b
}
