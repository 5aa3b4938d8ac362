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
// A context from [Conn.Context] inside [Handle.Exclusive], or one that
// already holds as many readers as the pool has, gets an error matching
// [ErrReentrant] at once; holding the writer or fewer readers is fine.
func (h *Handle) Reader(ctx context.Context) (*Lease, error) {
	return h.lease(ctx, &h.p.readers)
}

// Writer leases the writer connection, waiting in FIFO order while another
// goroutine holds it. While the lease is held, ctx also interrupts the
// statements run on the connection. The lease starts outside any
// transaction: begin with BEGIN IMMEDIATE (as [Handle.Write] does) so the
// write lock is taken at once. Release the lease when done.
//
// A context that holds the writer (from [Lease.Context] or [Conn.Context]
// of the writer) gets an error matching [ErrReentrant] at once instead of
// waiting for itself forever; so does one inside [Handle.Exclusive]. Asking
// for the writer while holding a reader is fine, with the reader's
// Context: then a pending Exclusive does not hold the request back.
func (h *Handle) Writer(ctx context.Context) (*Lease, error) {
	return h.lease(ctx, &h.p.writer)
}

func (h *Handle) lease(ctx context.Context, s *slots) (*Lease, error) {
	c, err := h.conn(ctx, s)
	if err != nil {
		return nil, err
	}
	return newLease(c), nil
}

// conn leases a connection of s's role without a Lease: Read, Write and
// the one-shot queries release it themselves with p.release, sparing the
// allocation and the once-only check a Lease is for.
func (h *Handle) conn(ctx context.Context, s *slots) (*Conn, error) {
	if h.closed.Load() {
		return nil, h.errClosed()
	}
	if err := h.p.checkReentry(ctx, s); err != nil {
		return nil, err
	}
	c, err := h.p.acquire(ctx, s)
	if err != nil {
		return nil, err
	}
	c.ctx = ctx // c.pool is set once, when c opens
	if h.p.cfg.logger != nil {
		h.p.setCaller(c, callerOutside())
	}
	return c, nil
}

// Read runs fn on a read-only connection inside one read transaction, so
// every query of fn sees the same snapshot of the database, even while the
// writer commits meanwhile. The connection is released when fn returns or
// panics (the panic goes on after the release). For a single query,
// [Handle.QueryRow] and [Handle.Query] skip the transaction.
func (h *Handle) Read(ctx context.Context, fn func(*Conn) error) error {
	c, err := h.conn(ctx, &h.p.readers)
	if err != nil {
		return err
	}
	defer h.p.release(c)
	if h.p.t.memory {
		// No WAL: a read transaction holds a shared lock, which keeps the
		// writer's commits out. A deferred BEGIN takes it at fn's first
		// read, as before the pin; the pin would take it at once, and a
		// Write nested before any read could then never commit.
		return c.inTx(fn)
	}
	return c.inSnapshot(fn)
}

// Write runs fn on the writer inside BEGIN IMMEDIATE ... COMMIT, and
// returns nil only if the transaction committed. If fn returns an error or
// panics, or ctx ends before COMMIT, the transaction is rolled back (and a
// panic goes on after the rollback). Once COMMIT has begun, ctx no longer
// interrupts it: an error then is the commit's own, and the transaction did
// not commit. fn must not end the transaction itself; nest work inside it
// with [Conn.Savepoint].
//
// Inside fn, pass c.Context() to nested calls on the same pool (see
// [Conn.Context]): a nested Write or Writer then fails at once with
// [ErrReentrant] instead of deadlocking, and a nested Read is served even
// while an [Handle.Exclusive] waits. A nested call given another context
// cannot be told apart from another goroutine's, and waits.
func (h *Handle) Write(ctx context.Context, fn func(*Conn) error) error {
	c, err := h.conn(ctx, &h.p.writer)
	if err != nil {
		return err
	}
	defer h.p.release(c)
	return c.inTx(fn)
}

// Stats returns a snapshot of the pool's figures. It works on a closed
// handle too, and after the pool has closed (then showing its final
// figures).
func (h *Handle) Stats() Stats {
	s := h.p.stats()
	s.Handles = h.e.handles()
	return s
}
