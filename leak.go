package sqlitepool

import (
	"fmt"
	"log/slog"
	"runtime"
)

// A lease dropped without Release would keep its connection, and with it the
// last Close and every later Open of the database, waiting forever. The
// garbage collector finds such a lease for free: each pooled connection has
// one tracker, with a cleanup registered once when the connection opens.
// Whoever may still release the connection holds the tracker:
//
//   - the connection itself (conn.tracker) while it is idle, and while Read,
//     Write, Exclusive or the pool's own work hold it: those always release,
//     so the tracker is never unreachable then;
//   - the Lease from Reader or Writer until its Release (in its Conn's
//     hold), which moves the tracker back into the connection. The Lease
//     and the Conn it lends are one allocation: a program that keeps the
//     Conn keeps the Lease, and its tracker, reachable.
//
// The cleanup's argument (leakRec) reaches the connection but not the
// tracker while a Lease holds it, so a Lease that becomes unreachable
// unreleased takes the tracker with it, and the cleanup runs. Taking and
// releasing a lease only moves a pointer: no allocation, no cleanup to
// register or stop.
//
// The cleanup cannot tell whether the program still holds the *conn that
// Lease.Conn returned: the pool holds it too (through leakRec), so the
// tracker cannot depend on it. A connection taken back from a dropped lease
// is therefore closed, not reused: whatever still holds its *conn never
// shares it with the next lease. Closing it also rolls back what the lease
// left open, frees its slot, and lets a waiting Close or Open go on.

// tracker is the object whose collection reveals a dropped lease. Its
// pointer field keeps it out of the tiny allocator, whose batched objects
// may never be collected on their own.
type tracker struct {
	rec *leakRec
	// x is the writer's Conn of an Exclusive section, whose Conns all
	// hold the section's tracker: nested writes go there. nil in a
	// connection's tracker.
	x *Conn
}

// leakRec is a tracked connection: the cleanup's argument.
type leakRec struct {
	p       *pool
	c       *conn
	cleanup runtime.Cleanup
}

// track gives a new connection of p its tracker and lists it in p.conns.
func (p *pool) track(c *conn) {
	r := &leakRec{p: p, c: c}
	c.pool, c.leak = p, r
	c.tracker = &tracker{rec: r}
	r.cleanup = runtime.AddCleanup(c.tracker, leaseDropped, r)
	p.mu.Lock()
	if p.conns == nil {
		p.conns = make(map[*conn]struct{})
	}
	p.conns[c] = struct{}{}
	p.mu.Unlock()
}

// untrack forgets a connection that closes. Its tracker and record then go
// with it: the stopped cleanup no longer holds the record.
func (c *conn) untrack() {
	r := c.leak
	if r == nil {
		return
	}
	r.cleanup.Stop()
	r.p.mu.Lock()
	delete(r.p.conns, c)
	r.p.mu.Unlock()
	c.leak, c.tracker = nil, nil
}

// leaseDropped is the tracker's cleanup: the Lease that held it became
// unreachable without Release. Closing a connection waits for the engine,
// and a cleanup must not hold up the others: the work goes on in a
// goroutine of its own.
func leaseDropped(r *leakRec) {
	go r.p.reclaim(r.c)
}

// reclaim closes the connection of a dropped lease and frees its slot, then
// counts and reports the leak.
func (p *pool) reclaim(c *conn) {
	caller := c.caller
	where := caller
	if where == "" {
		where = "unknown (set WithLogger to record it)"
	}
	c.broken = fmt.Errorf("sqlitepool: %q: a %s lease taken at %s was dropped without Release; its connection was closed", p.t.name, c.role, where)
	if c.role == RoleWriter {
		// The writer is still this lease's, so writerLease names it: a
		// later wait with the same context would pass for a wait for
		// itself, and the closed connection would stay reachable.
		p.writerLease.clear()
	}
	p.release(c)
	p.mu.Lock()
	p.leaked++
	p.mu.Unlock()
	p.logLeak(c.role, caller)
}

func (p *pool) logLeak(r Role, caller string) {
	if p.cfg.logger == nil {
		return
	}
	attrs := []slog.Attr{slog.String("role", r.String())}
	if caller != "" {
		attrs = append(attrs, slog.String("leased_at", caller))
	}
	p.log(slog.LevelError, "sqlitepool: lease dropped without Release; its connection was closed, rolling back what it left open", attrs...)
}

// setCaller records where c was leased, under p.mu: a Close or an Open
// that waits for the lease reads it from another goroutine.
func (p *pool) setCaller(c *conn, caller string) {
	p.mu.Lock()
	c.caller = caller
	p.mu.Unlock()
}
