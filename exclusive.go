package sqlitepool

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"
)

// Exclusive runs fn with every connection of the pool: the writer and all
// the readers the pool may have ([WithReaders]; those not open yet are
// opened), while no one else holds a lease. Use it for what needs the
// database to itself: VACUUM, PRAGMA wal_checkpoint(TRUNCATE), a restore,
// a schema change that readers must not see halfway. A backup needs no
// Exclusive: see [Handle.Backup].
//
// Exclusive waits, in FIFO order, for every lease to come back. From the
// moment it starts waiting, later Reader, Writer, Read, Write and Exclusive
// calls queue behind it and are served after it, in the order they came, so
// a stream of short leases cannot starve it. ctx (or, when ctx has no
// deadline, the [WithAcquireTimeout] timeout) ends the wait; then nothing is
// kept and the callers queued behind go on. While fn runs, ctx also
// interrupts the statements run on the connections.
//
// fn runs outside any transaction, on connections that go back to the pool
// the usual way when fn returns or panics (the panic goes on after): their
// statements reset, an open transaction rolled back. fn must not keep them.
//
// fn receives the section's context: a call on the pool made with it is
// served on the section's connections (Read, Write, Exec, QueryRow and
// Query on its writer; Write in a transaction of its own, or a savepoint of
// the one the writer is in), rather than wait for fn to end. Exclusive
// waits for every lease, so asking for it while holding one would wait
// forever: a context that holds a lease (fn's, a [Lease]'s) gets an error
// matching [ErrReentrant] at once, and so do Reader and Writer leases
// asked for with fn's context.
//
// Under [SetMaxConnections], Exclusive sections of all the process's pools
// take turns (in the order the turn is asked for, bounded by ctx) before
// they wait for their pool, so that two of them never hold part of the
// room each while waiting for the rest; a pool whose [WithReaders] plus
// one exceeds the cap gets an error matching [ErrInvalidOption] at once.
func (h *Handle) Exclusive(ctx context.Context, fn func(ctx context.Context, writer *Conn, readers []*Conn) error) error {
	if h.closed.Load() {
		return h.errClosed()
	}
	p := h.p
	if p.cfg.readOnly {
		return p.readOnlyError()
	}
	if err := p.checkExclusiveReentry(ctx); err != nil {
		return err
	}
	// Under a process-wide cap, before it holds anything: see exclusiveTurn.
	done, err := p.exclusiveTurn(ctx)
	if err != nil {
		return err
	}
	defer done()
	x, err := p.acquireExclusive(ctx)
	if err != nil {
		return err
	}
	defer p.endExclusive(x)
	if err := p.openExclusive(ctx, x); err != nil {
		return err
	}
	w, readers := x.lend(p, ctx)
	defer func() {
		w.endLease()
		for _, r := range readers {
			r.endLease()
		}
	}()
	// fn gets its own slice: what it does to it cannot change what ends.
	return w.errFromFn(fn(w.Context(), w, slices.Clone(readers)))
}

// lend makes the Conns of x's section, all marked as its own: a nested call
// made with the context of any of them is served on them.
func (x *exclusive) lend(p *pool, ctx context.Context) (writer *Conn, readers []*Conn) {
	writer = &Conn{}
	section := &tracker{x: writer}
	writer.lend(x.writer, ctx, section)
	readers = make([]*Conn, len(x.readers))
	for i, c := range x.readers {
		readers[i] = &Conn{}
		readers[i].lend(c, ctx, section)
	}
	return writer, readers
}

// gate is the Exclusive side of a pool; pool.mu guards it. While cur is set
// (an Exclusive waits for the leases to come back, or runs), acquires take
// no connection, idle ones included: they queue in q, in arrival order with
// later Exclusive calls, and are admitted when cur ends. An acquire from a
// context that holds a lease of the pool is the exception: cur waits for
// that lease, which may need the new one to end.
type gate struct {
	cur *exclusive // the Exclusive at the head; nil when the gate is open
	q   waitQueue  // acquires and Exclusive calls that came after cur

	sections uint64
	waitTime time.Duration
}

// exclusive is one Exclusive call.
type exclusive struct {
	w    waiter // in gate.q until it is cur; granted once it holds everything
	sent bool   // a grant or an error is on w.ch

	writer  *conn
	readers []*conn
	// Slots counted for x by the grant, whose connections x opens.
	openWriter  bool
	openReaders int

	// park marks the pool's own park (park.go), which holds the gate
	// while it closes the connections; parked is closed when it is done.
	park   bool
	parked chan struct{}
}

// ExclusiveStats describes the [Handle.Exclusive] calls of a pool. The
// pool's own truncating checkpoints ([WALBounded]) take the pool the same
// way, in the background, and count here too: Running can be true, with
// every connection in use, when no caller is inside Exclusive.
type ExclusiveStats struct {
	// Running reports whether an Exclusive section holds the pool now.
	Running bool
	// Waiting is the Exclusive sections waiting now.
	Waiting int
	// Sections counts the Exclusive sections that got every connection.
	Sections uint64
	// WaitTime is the total time Exclusive calls spent waiting.
	WaitTime time.Duration
}

// acquireExclusive queues x behind the Exclusive calls before it and waits
// until x holds every connection (some perhaps still to open: see
// openExclusive).
func (p *pool) acquireExclusive(ctx context.Context) (*exclusive, error) {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil, p.closedError()
	}
	if err := ctx.Err(); err != nil {
		p.mu.Unlock()
		return nil, p.exclusiveError(err)
	}
	x := &exclusive{}
	x.w = waiter{ch: make(chan grant, 1), x: x}
	if p.gate.cur == nil {
		p.gate.cur = x
		p.grantExclusiveLocked()
	} else {
		p.gate.q.pushWaiter(&x.w)
	}
	p.mu.Unlock()

	start := time.Now()
	g, granted, err := p.awaitGrant(ctx, x.w.ch, 0)

	p.mu.Lock()
	p.gate.waitTime += time.Since(start)
	if granted {
		if g.err != nil { // the pool is closing
			p.mu.Unlock()
			return nil, g.err
		}
		// The context may have ended while we woke: a caller that gave up
		// gets nothing.
		err = ctx.Err()
	}
	if err == nil {
		p.mu.Unlock()
		return x, nil
	}
	switch {
	case x.w.leave():
		// Still queued behind another Exclusive: nothing else to undo.
	case !x.sent:
		// At the head, waiting for leases: the gate goes to the next in line.
		p.openGateLocked()
	default:
		// Granted (or failed by close) while we gave up: the grant is in the
		// buffered channel, and what it holds goes back.
		if !granted {
			g = <-x.w.ch
		}
		if g.err == nil {
			p.mu.Unlock()
			p.endExclusive(x)
			return nil, p.exclusiveError(err)
		}
	}
	p.mu.Unlock()
	return nil, p.exclusiveError(err)
}

// grantExclusiveLocked gives the waiting gate.cur every connection, if no
// lease is out: the idle ones, and slots for those not open yet.
func (p *pool) grantExclusiveLocked() {
	x := p.gate.cur
	w, r := &p.writer, &p.readers
	if x.sent || w.inUse > 0 || r.inUse > 0 || p.checkpointing != nil {
		return
	}
	// No lease is out, so every open connection is idle and no one waits
	// in the slots.
	x.sent = true
	p.unparkLocked()
	p.gate.sections++
	if x.writer = w.takeIdleLocked(); x.writer == nil {
		w.open++
		w.inUse++
		x.openWriter = true
	}
	x.readers = append(make([]*conn, 0, r.max), r.idle...)
	clear(r.idle)
	r.idle = r.idle[:0]
	x.openReaders = r.max - r.open
	r.open, r.inUse = r.max, r.max
	x.w.ch <- grant{}
}

// openExclusive opens the connections x holds slots for, sets ctx as the
// interrupt of all, and marks them as an Exclusive's. On error, what x
// holds is left for endExclusive.
func (p *pool) openExclusive(ctx context.Context, x *exclusive) error {
	if x.openWriter {
		x.openWriter = false // openInSlot frees the slot if it fails
		c, err := p.openInSlot(ctx, &p.writer, true)
		if err != nil {
			return p.openError(ctx, err)
		}
		x.writer = c
	} else {
		setInterrupt(x.writer, ctx)
	}
	for _, c := range x.readers {
		setInterrupt(c, ctx)
	}
	for x.openReaders > 0 {
		x.openReaders--
		c, err := p.openInSlot(ctx, &p.readers, true)
		if err != nil {
			return p.openError(ctx, err)
		}
		x.readers = append(x.readers, c)
	}
	return nil
}

// endExclusive gives back what x holds (connections through the usual
// release, slots never opened) and opens the gate to the next in line.
func (p *pool) endExclusive(x *exclusive) {
	defer func() {
		p.mu.Lock()
		if p.gate.cur == x {
			p.openGateLocked()
		}
		p.mu.Unlock()
	}()
	p.mu.Lock()
	if x.openWriter {
		x.openWriter = false
		p.dropSlotLocked(&p.writer)
	}
	for ; x.openReaders > 0; x.openReaders-- {
		p.dropSlotLocked(&p.readers)
	}
	p.mu.Unlock()
	// Deferred one by one: a panic while cleaning one connection must not
	// keep the others.
	for _, c := range x.readers {
		defer p.release(c)
	}
	if x.writer != nil {
		defer p.release(x.writer)
	}
}

// openGateLocked ends gate.cur and admits the waiters queued behind it, in
// order, up to the next Exclusive, which becomes cur.
func (p *pool) openGateLocked() {
	p.gate.cur = nil
	for w := p.gate.q.pop(); w != nil; w = p.gate.q.pop() {
		if w.x != nil {
			p.gate.cur = w.x
			p.grantExclusiveLocked()
			return
		}
		p.admitLocked(w)
	}
}

// admitLocked serves an acquire that waited at the gate as acquire would
// have: an idle connection, a free slot, or a place in its role's queue.
// Its wait goes on in pool.wait, which it never left.
func (p *pool) admitLocked(w *waiter) {
	s := w.s
	if c := s.takeIdleLocked(); c != nil {
		w.ch <- grant{c: c}
		return
	}
	if s.open < s.max {
		s.open++
		s.inUse++
		p.unparkLocked()
		w.ch <- grant{}
		return
	}
	s.waiters.pushWaiter(w)
}

// acquireGated is acquire while the gate is closed. Called without p.mu.
func (p *pool) acquireGated(ctx context.Context, s *slots) (*conn, error) {
	nested := p.holdsLease(ctx) // outside the lock: ctx.Value is the caller's code
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil, p.closedError()
	}
	// A park holds no lease that a nested acquire could be waiting on.
	if p.gate.cur == nil || nested && !p.gate.cur.park {
		return p.acquireLocked(ctx, s)
	}
	s.count.acquires++
	s.count.waits++
	w := &waiter{ch: make(chan grant, 1), s: s}
	p.gate.q.pushWaiter(w)
	p.mu.Unlock()
	return p.wait(ctx, s, w)
}

// closeGateLocked fails the acquires and Exclusive calls waiting at the
// gate, for close. A running Exclusive holds its connections, so close
// waits for it like for any lease.
func (p *pool) closeGateLocked() {
	for w := p.gate.q.pop(); w != nil; w = p.gate.q.pop() {
		if w.x != nil {
			w.x.sent = true
		}
		w.ch <- grant{err: p.closedError()}
	}
	if x := p.gate.cur; x != nil && !x.sent {
		x.sent = true
		x.w.ch <- grant{err: p.closedError()}
		p.gate.cur = nil
	}
}

// gateStatsLocked adds the gate's figures to st: its own, and the acquires
// waiting at it to their role's Waiting.
func (p *pool) gateStatsLocked(st *Stats) {
	g := &p.gate
	st.Exclusive = ExclusiveStats{
		Running:  g.cur != nil && g.cur.sent && !g.cur.park,
		Sections: g.sections,
		WaitTime: g.waitTime,
	}
	if g.cur != nil && !g.cur.sent {
		st.Exclusive.Waiting++
	}
	for w := g.q.head; w != nil; w = w.next {
		switch {
		case w.x != nil:
			st.Exclusive.Waiting++
		case w.s == &p.writer:
			st.Writer.Waiting++
		default:
			st.Readers.Waiting++
		}
	}
}

func (p *pool) exclusiveError(err error) error {
	return fmt.Errorf("sqlitepool: exclusive access to %q: %w", p.t.name, err)
}

// openError is the error of a connection Exclusive failed to open: when ctx
// ended meanwhile, one that matches ctx's error (openConn reports an
// interrupted set-up as the engine's INTERRUPT alone).
func (p *pool) openError(ctx context.Context, err error) error {
	if cerr := ctx.Err(); cerr != nil && !errors.Is(err, cerr) {
		err = fmt.Errorf("%w: %w", cerr, err)
	}
	return p.exclusiveError(err)
}
