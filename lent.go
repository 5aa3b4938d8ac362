package sqlitepool

import (
	"context"
	"fmt"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/ncruces/go-sqlite3"
)

// Conn is a connection of the pool as one lease lends it: to the fn of
// [Handle.Read], [Handle.Write] and [Handle.Exclusive], by [Lease.Conn], or
// to an [InitFunc] or [SetupFunc]. It belongs to the pool: it has no Close.
// Like the engine's connection it wraps, it is not safe for concurrent use.
//
// A Conn is valid for its lease only. Once the lease has ended (fn
// returned, the Lease was released, init returned), every method fails
// with an error matching [ErrLeaseEnded] and runs nothing, even if the pool
// has lent the same connection to someone else since.
type Conn struct {
	// ctx is the context the lease was taken with; nil outside a lease
	// (init, setup). The lease of the same pool it holds, if any, is the
	// one a nested call walks up to when this lease cannot serve (parent).
	ctx context.Context
	*conn
	// hold is nil once the lease has ended. Until then it is what the
	// lease holds: the connection's tracker for a Lease (leak.go), the
	// section's for an Exclusive's Conns, noTracker for the others. Four
	// words in all: a Lease is one Conn, the smallest allocation it can be.
	// Set plainly by lend, on a Conn no other goroutine has seen yet;
	// atomically after that (holdPtr), since a kept Conn or its context may
	// be read by another goroutine as the lease ends.
	hold *tracker
}

// holdPtr is l.hold for the atomic operations.
func (l *Conn) holdPtr() *unsafe.Pointer { return (*unsafe.Pointer)(unsafe.Pointer(&l.hold)) }

// held returns l.hold, atomically.
func (l *Conn) held() *tracker { return (*tracker)(atomic.LoadPointer(l.holdPtr())) }

// noTracker is the hold of a lease that the pool itself ends (Read, Write,
// init, setup): nothing to track.
var noTracker tracker

// leaseKey is the context key of a pool's leases. A struct of one pointer
// converts to an interface without allocating.
type leaseKey struct{ p *pool }

// leaseCtx is the context a lease gives to fn: the acquiring context,
// marked as holding the lease. Go has no goroutine identity, so a pool
// cannot see that a caller already holds a connection; it can see the
// context, and serve a call made with it on that connection. It is the
// lease's Conn under another type, so that giving it out allocates nothing.
type leaseCtx Conn

// Deadline is the acquiring context's.
func (l *leaseCtx) Deadline() (time.Time, bool) { return l.ctx.Deadline() }

// Done is the acquiring context's.
func (l *leaseCtx) Done() <-chan struct{} { return l.ctx.Done() }

// Err is the acquiring context's.
func (l *leaseCtx) Err() error { return l.ctx.Err() }

// Value reports the lease itself under the pool's key, and asks the
// acquiring context for every other key.
func (l *leaseCtx) Value(key any) any {
	if k, ok := key.(leaseKey); ok && k.p == l.pool {
		return (*Conn)(l)
	}
	return l.ctx.Value(key)
}

// String names the lease, for debugging.
func (l *leaseCtx) String() string {
	return fmt.Sprintf("%v.WithLease(%s of %q)", l.ctx, l.role, l.db)
}

// lend makes l the Conn of one lease of c, acquired with ctx.
func (l *Conn) lend(c *conn, ctx context.Context, hold *tracker) {
	l.ctx, l.conn, l.hold = ctx, c, hold
	if c.role == RoleWriter {
		c.pool.writerLease.set(ctx)
	}
}

// parent returns the innermost live lease of the same pool that l's
// acquiring context holds, if any. An Exclusive's context holds none.
func (l *Conn) parent() *Conn { return leaseOf(l.ctx, l.pool) }

// exclusiveWriter returns the writer's Conn of the Exclusive section that
// l, a live lease, belongs to; nil outside one.
func (l *Conn) exclusiveWriter() *Conn {
	if t := l.held(); t != nil {
		return t.x
	}
	return nil
}

// lentBatch is how many Conns a connection makes at once for Read and
// Write (see nextLent).
const lentBatch = 32

// nextLent returns a new Conn for one lease of c. A Conn is never lent
// twice: one kept past its lease must keep failing, however often c is
// lent again. So each lease needs a Conn of its own; making them in
// batches spares Read and Write an allocation each. A batch stays in
// memory while any of its Conns is reachable, with the contexts they were
// lent with (a Write's Conn also reaches the batch of the Read it is nested
// in, whose Conns have no parent): a few kilobytes, until lentBatch more
// leases of c replace it.
func (c *conn) nextLent() *Conn {
	if len(c.lent) == 0 {
		c.lent = make([]Conn, lentBatch)
	}
	l := &c.lent[0]
	c.lent = c.lent[1:]
	return l
}

// giveBack ends the lease of l and releases its connection.
func (p *pool) giveBack(l *Conn) {
	l.endLease()
	p.release(l.conn)
}

// nestedRead runs fn of a Read asked for with ctx, which holds l, on l's
// connection: in the snapshot or transaction it holds, or else in one of
// its own.
func (l *Conn) nestedRead(ctx context.Context, fn func(context.Context, *Conn) error) error {
	return l.nested(ctx, func() error {
		call := func() error { return fn(ctx, l) }
		switch {
		case l.snapshot || !l.raw.GetAutocommit():
			return call()
		case l.role == RoleReader && !l.pool.t.memory:
			return l.inSnapshot(call)
		}
		// The writer outside a transaction (a Writer lease, Exclusive): a
		// savepoint begins a deferred transaction, whose first read pins
		// the snapshot.
		return l.savepoint(call)
	})
}

// nestedWrite runs fn of a Write asked for with ctx on the writer l, held
// by ctx: in a savepoint of the transaction l is in, or in a transaction of
// its own outside one.
func (l *Conn) nestedWrite(ctx context.Context, fn func(context.Context, *Conn) error) error {
	return l.nested(ctx, func() error {
		call := func() error { return fn(ctx, l) }
		if l.raw.GetAutocommit() {
			return l.inTx(call)
		}
		return l.savepoint(call)
	})
}

// nested runs a call served on l, held by ctx's lease, with ctx (which may
// be a context derived from the lease's, with a deadline of its own) as
// the interrupt of its statements.
func (l *Conn) nested(ctx context.Context, run func() error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	old := l.intr.lease
	setInterrupt(l.conn, ctx)
	defer func() { l.intr.lease = old }()
	return l.errFromFn(run())
}

// endLease ends the lease: the Conn and its context no longer reach c.
func (l *Conn) endLease() { atomic.StorePointer(l.holdPtr(), nil) }

// ended reports whether the lease has ended.
func (l *Conn) ended() bool { return l.held() == nil }

// live is the check every method of Conn starts with.
func (l *Conn) live() error {
	if l.ended() {
		return fmt.Errorf("%w: a connection of %q was used after its lease ended (kept past fn, or past Release); lease another one", ErrLeaseEnded, l.db)
	}
	return nil
}

// Context returns the context of the lease that lent c: the context given
// to Reader, Writer, Read, Write or Exclusive, marked as holding c. It is
// the context fn receives. A call on the same pool made with it is served
// on the connection already held: see [Handle.Write] for what each call
// does then.
//
// Like the Conn, the context belongs to the goroutine running fn: calls
// made with it run on the one connection held, so goroutines started in fn
// must not use it at once (give them a context of their own, and they get
// connections of their own). The context ends when the lease's context
// does. Once the lease has ended, the context no longer counts as holding
// c. Outside a lease (in an
// [InitFunc] or a [SetupFunc]) Context returns [context.Background].
func (l *Conn) Context() context.Context {
	if l.ctx == nil {
		return context.Background()
	}
	return (*leaseCtx)(l)
}

// leaseOf returns the innermost lease of p that ctx holds and that has not
// ended, or nil.
func leaseOf(ctx context.Context, p *pool) *Conn {
	l, _ := ctx.Value(leaseKey{p}).(*Conn)
	if l == nil || !l.ended() {
		return l
	}
	return l.parent()
}

// servingWriter returns the held writer that a write asked for by lease l
// (and so by its context) runs on: l's own if it is the writer, the
// Exclusive's writer, or an enclosing lease's writer; nil if none is held.
func (l *Conn) servingWriter() *Conn {
	for ; l != nil; l = l.parent() {
		if x := l.exclusiveWriter(); x != nil {
			return x
		}
		if l.role == RoleWriter {
			return l
		}
	}
	return nil
}

// writerView lends the writer w once more, to a Write asked for with ctx,
// which holds w only through another lease (a reader's inside Write or
// Exclusive): with that lease's context, fn's nested reads would run on
// its reader, outside the transaction, blind to fn's writes. The view's
// context holds the writer first and ctx's lease after it (its parent),
// so what that lease holds still counts (see checkReentry). The caller
// ends it when fn returns.
func (w *Conn) writerView(ctx context.Context) *Conn {
	return &Conn{ctx: ctx, conn: w.conn, hold: &noTracker}
}

// Context returns the lease's context, as [Conn.Context] of its connection
// does: pass it to nested calls on the same pool while the lease is held.
// After Release it returns [context.Background].
func (l *Lease) Context() context.Context {
	if l.c.ended() {
		return context.Background()
	}
	return l.c.Context()
}

// holdsLease reports whether ctx holds a lease of p now.
func (p *pool) holdsLease(ctx context.Context) bool { return leaseOf(ctx, p) != nil }

// checkReentry fails a request for a lease (Reader, Writer) of s's role
// that a context holding l (its innermost live lease of p, or nil) could
// never get. Read, Write and the one-shot calls are served on the held
// connection instead.
func (p *pool) checkReentry(l *Conn, s *slots) error {
	if l == nil {
		return nil
	}
	readers := 0
	for ; l != nil; l = l.parent() {
		switch {
		case l.exclusiveWriter() != nil:
			return fmt.Errorf("%w: %q: the context is inside Exclusive, which holds every connection; use the connections given to fn, or Read and Write with fn's context", ErrReentrant, p.t.name)
		case l.role == RoleWriter && s == &p.writer:
			return fmt.Errorf("%w: %q: the context already holds the writer (inside Write or a Writer lease); use that connection, or Write with fn's context (a savepoint)", ErrReentrant, p.t.name)
		case l.role == RoleReader:
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

// Raw returns the engine's connection, for everything this package does not
// wrap, or nil once the lease has ended. Do not close it, and do not keep it
// past the lease: the pool owns it. On the writer, do not replace its
// commit, rollback or update hooks: the pool relies on them (Subscribe, a
// moved file, the outcome of an interrupted commit), and puts its own back
// when the lease is released.
func (l *Conn) Raw() *sqlite3.Conn {
	if l.live() != nil {
		return nil
	}
	l.rawUsed = true
	return l.raw
}

// Role tells whether c is the writer or a reader.
func (l *Conn) Role() Role { return l.role }

// Exec runs sql through the connection's statement cache. Without args, sql
// may hold several statements separated by semicolons (a script); with
// args, it must be one statement, whose parameters the args bind: in order,
// or by name with [Named] or [database/sql.Named].
//
// Arguments may be nil, any integer type (unsigned ones up to
// math.MaxInt64: SQLite integers are int64), float32, float64, bool,
// string, []byte (nil is NULL) or time.Time (stored as RFC 3339 text). As
// in database/sql, they may also be a [database/sql/driver.Valuer] such as
// [database/sql.NullString] (its Value is bound; a nil pointer whose Value
// has a value receiver is NULL), a pointer to any of these (nil is NULL),
// or a named type of one of the basic kinds (type ID int64). Any other
// type, a value out of range, a Value that failed, or a count that does not
// match the parameters, returns an error matching [ErrInvalidArgument]
// before anything runs. Rows are discarded. [Conn.LastInsertRowID] and
// [Conn.Changes] report on the last statement.
func (l *Conn) Exec(sql string, args ...any) error {
	if err := l.live(); err != nil {
		return err
	}
	return l.exec(sql, args)
}

// Prep returns a prepared statement for sql from the connection's cache,
// preparing it (with SQLITE_PREPARE_PERSISTENT) on first use. The statement
// belongs to the cache: do not Close it, and do not keep it past the lease.
// On release it is reset and its bindings cleared. sql must hold exactly one
// statement. Inside Read, Write and Exclusive, an error of its Step that the
// lease's context caused matches that context's error once fn returns it.
func (l *Conn) Prep(sql string) (*sqlite3.Stmt, error) {
	if err := l.live(); err != nil {
		return nil, err
	}
	return l.prepared(sql)
}

// LastInsertRowID returns the rowid of the last row inserted on the
// connection (by this lease or an earlier one: see [Result] for a one-shot
// write), or 0 once the lease has ended.
func (l *Conn) LastInsertRowID() int64 {
	if l.live() != nil {
		return 0
	}
	return l.raw.LastInsertRowID()
}

// Changes returns the number of rows that the last INSERT, UPDATE or DELETE
// run on the connection changed, or 0 once the lease has ended.
func (l *Conn) Changes() int64 {
	if l.live() != nil {
		return 0
	}
	return l.raw.Changes()
}
