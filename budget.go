package sqlitepool

import (
	"cmp"
	"container/list"
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
)

// MinConnections is the smallest cap [SetMaxConnections] accepts: a Write
// nested in a Read holds a reader and the writer of one pool at once.
const MinConnections = 2

// The process-wide cap is the one package-level setting: it bounds what
// every pool of the process opens together, which no pool's option can.
// It is fixed before the first Open, and each pool keeps the budget it was
// created with, so it never changes under a pool.
var (
	budgetMu sync.Mutex // protects curBudget and opened
	// curBudget is the budget of the pools created from now on.
	curBudget = newBudget(0)
	// opened is set by the first pool created: the cap is fixed from then on.
	opened bool
)

// SetMaxConnections caps the connections open at once across every pool
// of the process, readers, writers and the pools' own checkpoint
// connections included; each holds three file descriptors (the database,
// its -wal and its -shm), so the cap bounds those too, whatever the number
// of databases. n is 0 (no cap, the default) or at least
// [MinConnections]. Call it once, before the first [Open] (in main, or
// in an init function): it fails with an error matching
// [ErrInvalidOption] once a pool has been created.
//
// When the cap is reached, a connection to open makes room first: the
// idle pool (no lease out) least recently used is parked (see
// [WithParkAfter]; pools used since the last connection opened or closed
// count as used together); failing that, the idle connection of a busy
// pool least recently used is closed. With nothing idle, the lease waits
// for a connection to close, in FIFO order with the other leases waiting
// for room, for as long as its context (or [WithAcquireTimeout]) allows.
//
// Leases held at once add up: a goroutine that holds a lease while it
// asks for another (a Write nested in a Read, leases of two databases)
// waits for room like any other, and so many of them that every
// connection is held by one can wait for each other until their
// contexts end. An [Handle.Exclusive] needs the writer and every reader
// of its pool at once: it fails at once, with an error matching
// [ErrInvalidOption], on a pool whose [WithReaders] plus one exceeds n.
func SetMaxConnections(n int) error {
	if n != 0 && n < MinConnections {
		return fmt.Errorf("%w: SetMaxConnections(%d): want 0 (no cap) or at least %d", ErrInvalidOption, n, MinConnections)
	}
	budgetMu.Lock()
	defer budgetMu.Unlock()
	if opened {
		return fmt.Errorf("%w: SetMaxConnections(%d) after the first Open: the cap is fixed once a pool exists; call it first, in main or an init function", ErrInvalidOption, n)
	}
	curBudget = newBudget(n)
	return nil
}

// processBudget returns the budget of a pool being created, and fixes the
// cap.
func processBudget() *budget {
	budgetMu.Lock()
	defer budgetMu.Unlock()
	opened = true
	return curBudget
}

// budget counts the connections open under a process-wide cap, and hands
// room to those waiting for it in FIFO order. With no cap (max 0) it
// counts nothing: take and put return at once.
//
// Lock order: a pool's mu may be held while taking b.mu, never the other
// way round; b.mu is never held while a connection opens or closes.
type budget struct {
	max int // fixed

	// waiting counts the takes waiting for room: a connection that goes
	// idle meanwhile may be closed to make some (poke).
	waiting atomic.Int32

	// epoch orders the pools by last use: it moves on at each connection
	// opened or closed under the cap and at each reclaim, and an acquire
	// stamps its pool with it (noteUse). Pools used between two moves tie.
	epoch atomic.Uint64

	mu   sync.Mutex // protects the fields below, and every pool's ring and tokens
	open int        // connections open, or being opened, under the cap
	peak int        // the most open at once, for tests
	q    list.List  // of *roomWaiter, FIFO
	// The pools holding room form a ring, head first, in the order they
	// took their first connection.
	head  *pool
	pools int           // in the ring
	idle  chan struct{} // closed (and replaced) by poke

	// exclusive lets one Exclusive section at a time wait for room: two
	// of them, each holding some connections of its pool and waiting for
	// the rest, could otherwise hold all the room between them.
	exclusive chan struct{}
}

// roomWaiter is one take waiting for room.
type roomWaiter struct {
	p  *pool
	ch chan struct{} // buffered: put never blocks
	e  *list.Element // nil once granted
}

func newBudget(n int) *budget {
	return &budget{max: n, idle: make(chan struct{}), exclusive: make(chan struct{}, 1)}
}

// errNoRoom is take's error without wait, when the cap is reached.
var errNoRoom = errors.New("sqlitepool: no room under SetMaxConnections")

// take counts a connection p is about to open. At the cap, without wait it
// fails with errNoRoom; with wait it waits in FIFO order, making room
// meanwhile (reclaim), until ctx or p's acquire timeout ends the wait.
func (b *budget) take(ctx context.Context, p *pool, wait bool) error {
	if b.max == 0 {
		return nil
	}
	b.mu.Lock()
	if b.q.Len() == 0 && b.open < b.max {
		b.open++
		b.peak = max(b.peak, b.open)
		b.holdLocked(p)
		b.mu.Unlock()
		return nil
	}
	p.noteUse() // a wait is a use, however long it lasts
	if !wait {
		b.mu.Unlock()
		return errNoRoom
	}
	w := &roomWaiter{p: p, ch: make(chan struct{}, 1)}
	w.e = b.q.PushBack(w)
	b.waiting.Add(1)
	b.mu.Unlock()

	timeout, stop := p.acquireTimer(ctx)
	defer stop()
	for {
		// Taken before reclaim looks: a connection going idle while it
		// looks wakes the wait below.
		b.mu.Lock()
		idle := b.idle
		b.mu.Unlock()
		freed := b.reclaim(p)
		select {
		case <-w.ch:
			return nil
		default:
		}
		if freed {
			continue // the room went to an earlier waiter: look again
		}
		select {
		case <-w.ch:
			return nil
		case <-idle:
		case <-ctx.Done():
			return b.giveUp(w, ctx.Err())
		case <-timeout:
			return b.giveUp(w, p.acquireTimeoutError())
		}
	}
}

// giveUp ends a take whose wait ended; room granted meanwhile is passed on.
func (b *budget) giveUp(w *roomWaiter, err error) error {
	b.mu.Lock()
	if w.e != nil {
		b.q.Remove(w.e)
		w.e = nil
		b.waiting.Add(-1)
		b.mu.Unlock()
		return err
	}
	b.mu.Unlock()
	<-w.ch
	b.put(w.p)
	return err
}

// put gives back the room of a connection of p that closed (or never
// opened): to the longest waiter, if any.
func (b *budget) put(p *pool) {
	if b.max == 0 {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	b.dropLocked(p)
	e := b.q.Front()
	if e == nil {
		b.open--
		return
	}
	w := b.q.Remove(e).(*roomWaiter)
	w.e = nil
	b.waiting.Add(-1)
	b.holdLocked(w.p)
	w.ch <- struct{}{}
}

// poke wakes the takes waiting for room: a connection went idle, which
// reclaim may close.
func (b *budget) poke() {
	b.mu.Lock()
	close(b.idle)
	b.idle = make(chan struct{})
	b.mu.Unlock()
}

// holdLocked counts one more connection of p, putting p in the ring with
// its first once p is ready; p is being used.
func (b *budget) holdLocked(p *pool) {
	p.lastUse.Store(b.epoch.Add(1))
	p.tokens++
	if p.ready && !p.listed {
		b.listLocked(p)
	}
}

// ready lists p in the ring, once newPool is done with it: reclaim must
// not park or close anything of a pool still being created.
func (b *budget) ready(p *pool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	p.ready = true
	if p.tokens > 0 && !p.listed {
		b.listLocked(p)
	}
}

func (b *budget) listLocked(p *pool) {
	p.listed = true
	b.pools++
	if b.head == nil {
		p.ringPrev, p.ringNext = p, p
		b.head = p
		return
	}
	p.ringNext, p.ringPrev = b.head, b.head.ringPrev
	b.head.ringPrev.ringNext = p
	b.head.ringPrev = p
}

// dropLocked counts one connection of p less, taking p out of the ring
// with its last.
func (b *budget) dropLocked(p *pool) {
	b.epoch.Add(1)
	p.tokens--
	if p.tokens > 0 || !p.listed {
		return
	}
	p.listed = false
	b.pools--
	switch {
	case b.pools == 0:
		b.head = nil
	case b.head == p:
		b.head = p.ringNext
	}
	p.ringPrev.ringNext = p.ringNext
	p.ringNext.ringPrev = p.ringPrev
	p.ringPrev, p.ringNext = nil, nil
}

// reclaim makes room for a connection of req: it parks the idle pool
// least recently used, or failing that closes the idle connection of a
// busy pool least recently used, readers before writers. It reports
// whether it closed anything. It looks only at the pools holding
// connections, so its cost is bounded by the cap, not by the number of
// pools.
func (b *budget) reclaim(req *pool) bool {
	type use struct {
		p    *pool
		last uint64
	}
	b.mu.Lock()
	b.epoch.Add(1)
	ring := make([]use, 0, b.pools)
	for v, i := b.head, 0; i < b.pools; v, i = v.ringNext, i+1 {
		ring = append(ring, use{v, v.lastUse.Load()})
	}
	b.mu.Unlock()
	slices.SortStableFunc(ring, func(x, y use) int { return cmp.Compare(x.last, y.last) })
	for _, u := range ring {
		if u.p != req && u.p.park() {
			return true
		}
	}
	for _, role := range []Role{RoleReader, RoleWriter} {
		for _, u := range ring {
			if u.p.shedIdle(role) {
				return true
			}
		}
	}
	return false
}

// noteUse stamps p with the budget's epoch, for reclaim; only under a cap,
// and a store only when the epoch moved since.
func (p *pool) noteUse() {
	if p.bud.max > 0 {
		if e := p.bud.epoch.Load(); p.lastUse.Load() != e {
			p.lastUse.Store(e)
		}
	}
}

// pokeIfWaited tells takes waiting for room that a connection of p went
// idle: an atomic load when none waits.
func (p *pool) pokeIfWaited() {
	if p.bud.waiting.Load() > 0 {
		p.bud.poke()
	}
}

// shedIdle closes the idle connection of role unused for the longest, if
// any, to make room under the cap; the next demand opens a new one.
func (p *pool) shedIdle(role Role) bool {
	s := p.slotsFor(role)
	p.mu.Lock()
	if p.closed || p.gate.cur != nil || len(s.idle) == 0 {
		p.mu.Unlock()
		return false
	}
	c := s.idle[0]
	copy(s.idle, s.idle[1:])
	s.idle[len(s.idle)-1] = nil
	s.idle = s.idle[:len(s.idle)-1]
	s.inUse++ // counted until closed
	p.mu.Unlock()
	p.discard(s, c, false, reasonIdle, nil)
	return true
}

// exclusiveTurn waits, under a cap, until no other Exclusive section of
// the process holds or waits for room, and returns the function that ends
// the turn. It fails at once an Exclusive that needs more connections at
// once than the cap allows: it would wait for room it can never get.
func (p *pool) exclusiveTurn(ctx context.Context) (done func(), err error) {
	b := p.bud
	if b.max == 0 {
		return func() {}, nil
	}
	if need := p.readers.max + 1; need > b.max {
		return nil, fmt.Errorf("%w: Exclusive on %q needs %d connections at once (the writer and WithReaders(%d)), more than SetMaxConnections(%d) allows; lower WithReaders or raise the cap",
			ErrInvalidOption, p.t.name, need, p.readers.max, b.max)
	}
	timeout, stop := p.acquireTimer(ctx)
	defer stop()
	select {
	case b.exclusive <- struct{}{}:
		return func() { <-b.exclusive }, nil
	case <-ctx.Done():
		return nil, p.exclusiveError(ctx.Err())
	case <-timeout:
		return nil, p.exclusiveError(p.acquireTimeoutError())
	}
}
