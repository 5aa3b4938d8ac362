package sqlitepool

import (
	"context"
	"fmt"
	"sync/atomic"
)

// Handle is one reference to a pool, returned by [Open]. It is safe for
// concurrent use. Close it once when done; the pool closes with its last
// handle.
type Handle struct {
	e      *entry
	p      *pool
	closed atomic.Bool
}

func newHandle(e *entry) *Handle { return &Handle{e: e, p: e.pool} }

// Name returns the database name given to the Open that created the pool.
func (h *Handle) Name() string { return h.p.t.name }

// Close releases this handle's reference to the pool. A second Close of the
// same handle does nothing. When the last handle closes, the pool refuses
// new leases, waits for the leases still out, closes its readers and then its
// writer, and leaves the registry; Close returns once that is done.
//
// Because the last Close waits for every lease, a lease that is held and
// never released blocks it forever, and so does calling the last Close from
// inside Read or Write (the lease is released only after fn returns). Opens
// of the same database wait for that Close to finish. A [Lease] dropped
// without Release frees its connection once the garbage collector finds it.
func (h *Handle) Close() error {
	return h.CloseContext(context.Background())
}

// CloseContext is [Handle.Close] with a bound on the wait for leases still
// out when this is the last handle. If ctx ends first, every statement
// running or later run on those leases fails at once with an error
// matching [ErrClosed] (a transaction not committed yet is rolled back), and
// CloseContext returns an error matching [ErrClosed] and ctx's error
// without waiting further; the error says how many leases are out, of
// which role, and, with [WithLogger], where they were taken. Each such
// connection is closed when its lease is released, whose holder must still
// release it (Read and Write do); until the last one is, a new Open of the
// same database waits, so that the file never has two writers.
func (h *Handle) CloseContext(ctx context.Context) error {
	if !h.closed.CompareAndSwap(false, true) {
		return nil
	}
	return h.e.release(ctx)
}

func (h *Handle) errClosed() error {
	return fmt.Errorf("%w: the handle of %q was closed; Open the database again", ErrClosed, h.p.t.name)
}

// Reader leases a read-only connection, opening one if fewer than the
// configured readers are open, or waiting in FIFO order for one to be
// released. While the lease is held, ctx also interrupts the statements run
// on the connection. Release the lease when done.
//
// A context inside [Handle.Exclusive], or one that already holds as many
// readers as the pool has, gets an error matching [ErrReentrant] at once;
// holding the writer or fewer readers is fine.
func (h *Handle) Reader(ctx context.Context) (*Lease, error) {
	return h.lease(ctx, &h.p.readers)
}

// Writer leases the writer connection, waiting in FIFO order while another
// goroutine holds it. While the lease is held, ctx also interrupts the
// statements run on the connection. The lease starts outside any
// transaction: begin with BEGIN IMMEDIATE (as [Handle.Write] does) so the
// write lock is taken at once. Release the lease when done.
//
// A context that holds the writer (fn's inside Write, a writer Lease's
// Context) gets an error matching [ErrReentrant] at once instead of waiting
// for itself forever (use the connection held, or Write with that context,
// which is served on it); so does one inside [Handle.Exclusive]. Asking for
// the writer while holding a reader is fine, with the reader's context:
// then a pending Exclusive does not hold the request back.
func (h *Handle) Writer(ctx context.Context) (*Lease, error) {
	return h.lease(ctx, &h.p.writer)
}

// lease leases a connection of s's role for a Lease, failing at once what
// the context can never get (see checkReentry).
func (h *Handle) lease(ctx context.Context, s *slots) (*Lease, error) {
	if h.closed.Load() {
		return nil, h.errClosed()
	}
	if held := leaseOf(ctx, h.p); held != nil {
		if err := h.p.checkReentry(held, s); err != nil {
			return nil, err
		}
	}
	c, err := h.acquire(ctx, s)
	if err != nil {
		return nil, err
	}
	t := c.tracker
	if t == nil { // not tracked: nothing to find if the Lease is dropped
		t = &noTracker
	}
	l := &Lease{c: Conn{ctx: ctx, conn: c, hold: t}}
	c.tracker = nil // the Lease holds it now: see leak.go
	if c.role == RoleWriter {
		h.p.writerLease.set(ctx)
	}
	return l, nil
}

// acquireOpen is acquire on a handle not closed yet.
func (h *Handle) acquireOpen(ctx context.Context, s *slots) (*conn, error) {
	if h.closed.Load() {
		return nil, h.errClosed()
	}
	return h.acquire(ctx, s)
}

// acquire leases a connection of s's role: Read, Write and the one-shot
// calls lend it themselves and release it, sparing the allocation and the
// once-only check a Lease is for.
func (h *Handle) acquire(ctx context.Context, s *slots) (*conn, error) {
	c, err := h.p.acquire(ctx, s)
	if err != nil {
		return nil, err
	}
	if h.p.cfg.logger != nil {
		h.p.setCaller(c, callerOutside())
	}
	return c, nil
}

// lend leases a connection of s's role for fn: the lease's Conn, or the
// error of a closed handle or of the wait.
func (h *Handle) lend(ctx context.Context, s *slots) (*Conn, error) {
	c, err := h.acquireOpen(ctx, s)
	if err != nil {
		return nil, err
	}
	l := c.nextLent()
	l.lend(c, ctx, &noTracker)
	return l, nil
}

// Read runs fn on a read-only connection inside one read transaction, so
// every query of fn sees the same snapshot of the database, even while the
// writer commits meanwhile. fn receives the lease's context: pass it to
// nested calls (see [Handle.Write]). The connection is released when fn
// returns or panics (the panic goes on after the release). For a single
// query, [Handle.QueryRow] and [Handle.Query] skip the transaction.
//
// Given a context that holds a lease of the pool (fn's, or a [Lease]'s),
// Read runs fn on the connection already held, in what it holds: inside
// Read, the same snapshot; inside Write, the writer's transaction, its
// uncommitted writes included; inside Exclusive, on its writer.
//
// An error fn returns that the engine raised because ctx ended (a
// statement stepped by hand returns the engine's INTERRUPT alone) also
// matches ctx's error.
func (h *Handle) Read(ctx context.Context, fn func(ctx context.Context, c *Conn) error) error {
	if held := leaseOf(ctx, h.p); held != nil {
		return held.nestedRead(ctx, fn)
	}
	l, err := h.lend(ctx, &h.p.readers)
	if err != nil {
		return err
	}
	defer h.p.giveBack(l)
	call := func() error { return fn(l.Context(), l) }
	if h.p.t.memory {
		// No WAL: a read transaction holds a shared lock, which keeps the
		// writer's commits out. A deferred BEGIN takes it at fn's first
		// read; the pin would take it at once, and a Write nested before
		// any read could then never commit.
		return l.errFromFn(l.inTx(call))
	}
	return l.errFromFn(l.inSnapshot(call))
}

// Write runs fn on the writer inside BEGIN IMMEDIATE ... COMMIT, and
// returns nil only if the transaction committed. If fn returns an error or
// panics, or ctx ends before COMMIT, the transaction is rolled back (and a
// panic goes on after the rollback). Once COMMIT has begun, ctx no longer
// interrupts it: an error then is the commit's own, and the transaction did
// not commit. fn must not end the transaction itself.
//
// fn receives the lease's context. A call on the same pool made with it
// (or a context derived from it) is served on the writer fn holds, inside
// its transaction, instead of waiting for the writer: [Handle.Exec],
// [Handle.QueryRow], [Handle.Query] and Read run there and see its
// uncommitted writes; a nested Write is a savepoint (its error rolls back
// its own work only, and the outer transaction decides the rest). So
// helpers written as func(ctx context.Context, h *Handle, ...) compose
// inside a transaction, as code that passes a *sql.Tx around does:
//
//	err := h.Write(ctx, func(ctx context.Context, c *sqlitepool.Conn) error {
//		if err := h.Exec(ctx, "INSERT INTO orders(id) VALUES (?)", id); err != nil {
//			return err
//		}
//		return addAuditLine(ctx, h, id) // calls h.Write(ctx, ...): a savepoint
//	})
//
// When the outer Write rolls back, so does everything nested in it. Like
// c, fn's context belongs to the goroutine running fn: goroutines started
// in fn must not make calls with it at once (see [Conn.Context]). A
// nested call given a context of its own (the ctx Write was called with,
// captured by mistake) looks like another goroutine's and waits for the
// writer: a wait the pool logs and counts (see [Stats]). Inside Read, a
// Write takes the writer as usual; inside Exclusive, it runs on the
// Exclusive's writer. Only what cannot be served (a [Handle.Writer] lease,
// an Exclusive) fails with [ErrReentrant].
//
// An error fn returns that the engine raised because ctx ended also
// matches ctx's error.
func (h *Handle) Write(ctx context.Context, fn func(ctx context.Context, c *Conn) error) error {
	held := leaseOf(ctx, h.p)
	if w := held.servingWriter(); w != nil {
		if w != held {
			v := w.writerView(ctx)
			defer v.endLease()
			w, ctx = v, v.Context()
		}
		return w.nestedWrite(ctx, fn)
	}
	l, err := h.lend(ctx, &h.p.writer)
	if err != nil {
		return err
	}
	defer h.p.giveBack(l)
	return l.errFromFn(l.inTx(func() error { return fn(l.Context(), l) }))
}

// Stats returns a snapshot of the pool's figures. It works on a closed
// handle too, and after the pool has closed (then showing its final
// figures).
func (h *Handle) Stats() Stats {
	s := h.p.stats()
	s.Handles = h.e.handles()
	return s
}
