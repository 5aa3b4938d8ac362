package sqlitepool

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"
)

// pool is the connections of one database: one writer and up to
// cfg.readers readers, each role with its own slots and FIFO of waiters.
//
// One mutex guards both roles. Every critical section is a few field
// updates (no I/O, no engine call: connections are opened, cleaned and
// closed outside it), so a finer split would cost more than it saves.
type pool struct {
	t   target
	cfg config
	// refile, nil for an in-memory pool, tells the registry to look again
	// at the file now at the database's name (registry.refile), so that
	// a hard link to it finds this pool.
	refile func()

	mu      sync.Mutex    // protects the fields below and both slots
	closed  bool          // no new acquires; set once, by close
	drained chan struct{} // made by close; closed when no connection is in use
	writer  slots
	readers slots
	gate    gate // Exclusive, and the acquires queued behind it
	notify  notifier

	// forced is set by a CloseContext whose context ended with leases
	// still out: every statement on them fails from then on.
	forced atomic.Bool

	clock   atomic.Int64 // coarse now, Unix ns: see pool.now
	janitor janitor
	wal     walState
	ckpt    checkpointer // the janitor's own

	// writerLease is the writer's lease now (selfwait.go): the context it
	// was taken with, by identity, and the connection, nil while no lease
	// holds the writer. Neither keeps the lease reachable: a Lease dropped
	// unreleased must stay collectable (leak.go).
	writerLease leaseID
	// selfWaits counts the waits for the writer that lasted while a lease
	// taken with the same context held it.
	selfWaits atomic.Uint64
	// sqlTxWaits counts the waits for the writer, with another context,
	// that lasted while a Tx of database/sql held it.
	sqlTxWaits atomic.Uint64
	// sqlTx says a Tx of database/sql holds the writer now (sqltx.go): a
	// long wait for the writer is then reported as one on that Tx.
	sqlTx atomic.Bool

	// writerFile is the main file of the newest writer: the checkpointer
	// makes sure it is still the file at the database's name before it
	// copies a WAL into that file.
	writerFile atomic.Pointer[fileRef]

	// testHookCheckpoint, set only by tests before the janitor can run,
	// is called by each passive checkpoint round: skipped, or running
	// (then with the checkpoint flag set, before the checkpoint).
	testHookCheckpoint func(skipped bool)

	// checkpointing is made when the checkpointer starts and closed when it
	// ends, nil meanwhile: an Exclusive section waits for it as for a
	// lease, and so does the writer's truncation at the WAL limit (a
	// checkpoint under way makes another fail at once). Guarded by mu.
	checkpointing chan struct{}
	// truncating is set while a truncation outside an Exclusive section
	// runs: the checkpointer does not start meanwhile, so that a truncation
	// kept from finishing was kept by readers, never by the pool's own
	// checkpoint. Guarded by mu.
	truncating bool

	nextOptimize int64  // Unix ns; the janitor's own
	optimizeRuns uint64 // guarded by mu

	// gen counts the moves of the database file the pool has seen
	// (moved.go); guarded by mu. A connection of an older generation has
	// the old file open, and is closed instead of reused.
	gen uint64

	// testHookClean, set only by tests before use, makes a release fail its
	// clean-up, to exercise the path that closes a broken connection.
	testHookClean func(*conn) error

	// conns lists the pool's open connections (leak.go), and leaked counts
	// the leases dropped without Release. Guarded by mu.
	conns  map[*conn]struct{}
	leaked uint64

	// parking is the pool's parks (park.go); parkers are the janitor's
	// goroutines that park it, which close waits for.
	parking parking
	parkers sync.WaitGroup

	// bud is the process-wide cap the pool was created under (budget.go);
	// lastUse is the budget's epoch at its last use. The ring links, the
	// tokens (the connections counted), ready (newPool is done) and listed
	// (in the ring) are guarded by bud.mu.
	bud                *budget
	lastUse            atomic.Uint64
	ringPrev, ringNext *pool
	tokens             int
	ready, listed      bool

	// anchor keeps an in-memory database alive: the memdb VFS deletes it
	// when its last connection closes, which replacing a broken writer
	// while no reader is open would otherwise do. Closed last.
	anchor *conn
}

// slots are the connections of one role.
type slots struct {
	role    Role
	max     int     // connections the role may have open
	open    int     // open, plus being opened
	inUse   int     // leased, plus being opened or closed
	idle    []*conn // LIFO: the warmest connection is reused first
	waiters waitQueue
	count   counters
}

// counters are the cumulative figures of one role, reported by Stats.
type counters struct {
	acquires, waits, timeouts, cancels uint64
	created, closed, rollbacks         uint64
	replaced                           [3]uint64 // closed early, by reason
	// The wait figures are atomic: a granted waiter records its wait
	// without taking the pool's lock again.
	waitTime, maxWait atomic.Int64 // time.Duration
}

// newPool opens the writer and runs init on it. On error, everything it
// opened is closed.
func newPool(ctx context.Context, t target, cfg config, init InitFunc, refile func()) (*pool, error) {
	p := &pool{
		t:       t,
		cfg:     cfg,
		refile:  refile,
		writer:  slots{role: RoleWriter, max: 1},
		readers: slots{role: RoleReader, max: cfg.readers},
		bud:     processBudget(),
	}
	p.clock.Store(cfg.clock().UnixNano())
	// A read-only pool has no writer: its first reader takes the writer's
	// part here, and shows at once whether the database can be read.
	first := &p.writer
	if cfg.readOnly {
		p.writer.max = 0
		first = &p.readers
	} else if !t.memory {
		if err := createFile(&p.t, cfg.fileMode); err != nil {
			return nil, err
		}
	}
	c, err := p.dial(ctx, first.role, true)
	if err != nil {
		return nil, err
	}
	p.born(c)
	ok := false
	defer func() {
		if !ok { // an error, or a panic that goes on
			c.close()
			if p.anchor != nil {
				p.anchor.close()
			}
		}
	}()
	if first.role == RoleWriter {
		if err := p.setupWriter(c); err != nil {
			return nil, err
		}
	}
	if t.memory {
		if p.anchor, err = p.dial(ctx, RoleReader, true); err != nil {
			return nil, err
		}
	}
	if init != nil {
		setInterrupt(c, ctx)
		err := runInit(ctx, c, init)
		rolledBack, cerr := c.clean()
		if err == nil {
			err = cerr
		}
		if err != nil {
			return nil, fmt.Errorf("%w for %q: %w", ErrInitFailed, t.name, err)
		}
		if rolledBack {
			first.count.rollbacks++
		}
	}
	first.count.created = 1
	first.open = 1
	c.idleSince = p.now()
	first.idle = append(first.idle, c)
	ok = true
	p.janitor.wake = make(chan struct{}, 1)
	p.parking.idleSince = p.now()
	p.mu.Lock()
	p.startJanitorLocked()
	p.mu.Unlock()
	p.bud.ready(p)
	return p, nil
}

func runInit(ctx context.Context, c *conn, init InitFunc) (err error) {
	defer func() {
		if v := recover(); v != nil {
			err = &PanicError{Value: v, Stack: debug.Stack()}
		}
	}()
	l := &Conn{conn: c, hold: &noTracker}
	defer l.endLease()
	return init(ctx, l)
}

func (p *pool) slotsFor(r Role) *slots {
	if r == RoleWriter {
		return &p.writer
	}
	return &p.readers
}

// acquire returns a connection of s's role, waiting in FIFO order when all
// are in use. The connection's interrupt is set to ctx, so cancelling ctx
// also stops the statement that runs on it.
func (p *pool) acquire(ctx context.Context, s *slots) (*conn, error) {
	if s.max == 0 { // the writer of a read-only pool
		return nil, p.readOnlyError()
	}
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil, p.closedError()
	}
	if err := ctx.Err(); err != nil {
		p.countEndLocked(s, err)
		p.mu.Unlock()
		return nil, p.waitError(s, err)
	}
	if p.gate.cur != nil {
		p.mu.Unlock()
		return p.acquireGated(ctx, s)
	}
	return p.acquireLocked(ctx, s)
}

// acquireLocked is acquire past its checks, with p.mu held; it unlocks.
func (p *pool) acquireLocked(ctx context.Context, s *slots) (*conn, error) {
	s.count.acquires++
	p.noteUse()
	if c := s.takeIdleLocked(); c != nil {
		probe := s.role == RoleReader && s.count.acquires&(movedProbeEvery-1) == 0
		p.mu.Unlock()
		if probe {
			if err := p.probeMoved(s, c); err != nil {
				return nil, err
			}
		}
		setInterrupt(c, ctx)
		return c, nil
	}
	if s.open < s.max {
		s.open++
		s.inUse++
		p.unparkLocked()
		p.mu.Unlock()
		return p.openInSlot(ctx, s, true)
	}
	w := s.waiters.push()
	s.count.waits++
	p.mu.Unlock()
	return p.wait(ctx, s, w)
}

// acquireTimer returns the channel of the acquire timeout (nil when none
// is configured or ctx has a deadline of its own) and a function that stops
// it.
func (p *pool) acquireTimer(ctx context.Context) (<-chan time.Time, func()) {
	if d := p.cfg.acquireTimeout; d > 0 {
		if _, ok := ctx.Deadline(); !ok {
			t := time.NewTimer(d)
			return t.C, func() { t.Stop() }
		}
	}
	return nil, func() {}
}

func (p *pool) acquireTimeoutError() error {
	return fmt.Errorf("%w after %v: %w", ErrAcquireTimeout, p.cfg.acquireTimeout, context.DeadlineExceeded)
}

// wait blocks until w is granted a connection or ctx (or the acquire
// timeout) ends the wait.
func (p *pool) wait(ctx context.Context, s *slots, w *waiter) (*conn, error) {
	start := time.Now()
	janitor := w.janitor
	var lw longWait
	if !janitor {
		lw = p.waitAlarm(ctx, s)
	}
	g, granted, err := p.awaitGrant(ctx, w.ch, lw.after)
	if err == errAlarm {
		p.report(s, lw)
		g, granted, err = p.awaitGrant(ctx, w.ch, 0)
	}
	waited := time.Since(start)
	if !janitor {
		s.count.addWait(waited)
	}
	if granted {
		// The context may have ended while we woke: a caller that gave up
		// gets no lease. (One whose context ends just after this check
		// keeps the lease; its statements then fail on the interrupt.)
		err = ctx.Err()
	}
	if err == nil {
		// The common case takes no lock: the grant is ours alone, and the
		// waiter, now out of every queue, can serve another wait.
		putWaiter(w)
		if !janitor {
			p.logSlowAcquire(s.role, waited, nil)
		}
		return p.take(ctx, s, g)
	}
	p.mu.Lock()
	if !janitor {
		p.countEndLocked(s, err)
	}
	if !granted && !w.leave() {
		// Granted while we gave up: the grant is in the buffered channel.
		g, granted = <-w.ch, true
	}
	if granted {
		p.passOnLocked(s, g)
	}
	p.mu.Unlock()
	err = p.waitError(s, err)
	if !janitor {
		p.logSlowAcquire(s.role, waited, err)
	}
	return nil, err
}

// errAlarm is awaitGrant's error when its alarm rang: the wait goes on.
var errAlarm = errors.New("alarm")

// awaitGrant waits for a grant on ch until ctx, or the acquire timeout
// when ctx has no deadline, ends the wait; then err says why. With an
// alarm, it returns errAlarm once the wait has lasted that long.
func (p *pool) awaitGrant(ctx context.Context, ch <-chan grant, alarm time.Duration) (g grant, granted bool, err error) {
	timeout, stop := p.acquireTimer(ctx)
	defer stop()
	var ring <-chan time.Time
	if alarm > 0 {
		t := time.NewTimer(alarm)
		defer t.Stop()
		ring = t.C
	}
	if done := ctx.Done(); done == nil && timeout == nil && ring == nil {
		// Nothing can end the wait but a grant: a plain receive costs less
		// than a select, on a path every queued acquire takes.
		return <-ch, true, nil
	}
	select {
	case g = <-ch:
		return g, true, nil
	case <-ctx.Done():
		return g, false, ctx.Err()
	case <-timeout:
		return g, false, p.acquireTimeoutError()
	case <-ring:
		return g, false, errAlarm
	}
}

// passOnLocked gives a grant its waiter will not use to the next waiter (or
// back to the pool), so that no connection or slot is lost.
func (p *pool) passOnLocked(s *slots, g grant) {
	switch {
	case g.c != nil:
		p.putLocked(s, g.c)
	case g.err == nil:
		p.dropSlotLocked(s)
	}
}

// take turns a grant into a connection.
func (p *pool) take(ctx context.Context, s *slots, g grant) (*conn, error) {
	switch {
	case g.err != nil:
		return nil, g.err
	case g.c == nil:
		return p.openInSlot(ctx, s, true)
	}
	setInterrupt(g.c, ctx)
	return g.c, nil
}

// openInSlot opens a connection in a slot already counted in s.open and
// s.inUse; on failure, or a panic from the engine, it frees the slot for
// the next waiter. forLease says a caller waits for the connection: it
// waits for room under the process-wide cap (the pool's own work does
// not), and it is told if the file moved while the pool was parked.
func (p *pool) openInSlot(ctx context.Context, s *slots, forLease bool) (c *conn, err error) {
	kept := false
	defer func() {
		if c == nil && !kept {
			p.mu.Lock()
			p.dropSlotLocked(s)
			p.mu.Unlock()
		}
	}()
	c, err = p.dial(ctx, s.role, forLease)
	if err != nil {
		return nil, err
	}
	p.born(c)
	if s.role == RoleWriter {
		if err := p.setupWriter(c); err != nil {
			c.close()
			return nil, err
		}
	}
	p.mu.Lock()
	s.count.created++
	c.gen = p.gen
	p.mu.Unlock()
	if forLease && p.movedWhileParked() {
		// The connection is good, to the file now at the name: the next
		// lease takes it.
		kept = true
		p.putBack(s, c)
		return nil, movedError(p.t.name)
	}
	setInterrupt(c, ctx)
	return c, nil
}

// dial opens a connection of role for the pool, counted under the
// process-wide cap; with wait it waits for room (see budget.take).
func (p *pool) dial(ctx context.Context, role Role, wait bool) (*conn, error) {
	if err := p.bud.take(ctx, p, wait); err != nil {
		if err == errNoRoom {
			return nil, err
		}
		return nil, fmt.Errorf("sqlitepool: waiting for room under SetMaxConnections(%d) to open the %s of %q: %w", p.bud.max, role, p.t.name, err)
	}
	c, err := openConn(ctx, &p.t, role, &p.cfg, &p.forced)
	if err != nil {
		p.bud.put(p)
		return nil, err
	}
	if p.bud.max > 0 {
		c.owner = p
	}
	return c, nil
}

// release takes back a leased connection: cleaned, it goes to the longest
// waiter or to the idle list; if it cannot be cleaned (or the engine panics
// while cleaning), it is closed, and its slot goes to a waiter that will
// open a new one.
func (p *pool) release(c *conn) {
	s := p.slotsFor(c.role)
	done := false
	defer func() {
		if !done { // clean panicked: the panic goes on, the slot must not leak
			p.discard(s, c, false, reasonBroken, nil)
		}
	}()
	rolledBack, err := c.clean()
	if err == nil && p.testHookClean != nil {
		err = p.testHookClean(c)
	}
	done = true
	// Commits made on the lease are durable now: deliver them, from a
	// broken connection too.
	p.publishWriter(c)
	if rolledBack {
		p.logRollback(c)
	}
	now := p.now()
	switch {
	case err != nil || c.broken != nil:
		if c.movedErr != nil { // a commit refused: the others' file moved too
			p.retireMoved(c.gen)
		}
		p.discard(s, c, rolledBack, reasonBroken, cmp.Or(err, c.broken))
		return
	case c.expired(now):
		p.discard(s, c, rolledBack, reasonLifetime, nil)
		return
	case c.role == RoleWriter:
		p.walHardLimit(c)
	}
	p.mu.Lock()
	if c.gen != p.gen { // its file moved
		p.mu.Unlock()
		p.discard(s, c, rolledBack, reasonBroken, movedError(p.t.name))
		return
	}
	if rolledBack {
		s.count.rollbacks++
	}
	c.idleSince = now
	// Not out any more: a Close that gives up waiting must not list it.
	// Tested first: set only with a logger, and a pointer store costs a
	// write barrier while the collector marks.
	if c.caller != "" {
		c.caller = ""
	}
	c.changes.syncLocked(c) // a writer's hooks on only while someone subscribes
	// The longest waiter, if any, is woken after the unlock: waking it
	// under the lock made every other acquire wait for the wake-up too.
	// Out of the queue, it is ours alone to send to; if its context ends
	// meanwhile, it waits for this grant on its channel to pass it on.
	w := p.handOverLocked(s, c)
	p.mu.Unlock()
	if w != nil {
		w.ch <- grant{c: c}
	} else {
		p.pokeIfWaited()
	}
	if c.role == RoleWriter {
		p.walAfterRelease()
	}
}

// setupWriter prepares a new writer for the pool's own work: change
// notifications, the WAL policy, PRAGMA optimize; and it has the registry
// file the pool under the file it reached, which a hard link may reach too.
func (p *pool) setupWriter(c *conn) error {
	p.writerFile.Store(&fileRef{f: c.file})
	if p.refile != nil {
		p.refile()
	}
	p.hookWriter(c)
	if err := p.configureWAL(c); err != nil {
		return fmt.Errorf("sqlitepool: set up writer of %q: %w", p.t.name, err)
	}
	if err := p.optimize(c); err != nil {
		p.logOptimizeFailed(err) // only statistics: the writer works without
	}
	return nil
}

// discard closes a connection that cannot or should not be reused and
// frees its slot; the next demand opens a replacement. It closes before
// freeing: for the writer, a replacement must not open while the old
// connection might still hold a lock. close never panics, and its error has
// nowhere to go: the caller's work is done.
func (p *pool) discard(s *slots, c *conn, rolledBack bool, r reason, cause error) {
	if c.role == RoleWriter && fileMoved(c.file) {
		c.dropStaleWAL(p.t.dsn)
	}
	c.close()
	p.mu.Lock()
	s.count.closed++
	s.count.replaced[r]++
	if rolledBack {
		s.count.rollbacks++
	}
	p.dropSlotLocked(s)
	p.mu.Unlock()
	p.logReplaced(c, r, cause)
}

// putLocked hands a clean connection to the longest waiter, or makes it idle.
func (p *pool) putLocked(s *slots, c *conn) {
	if w := p.handOverLocked(s, c); w != nil {
		w.ch <- grant{c: c}
	}
}

// handOverLocked takes the longest waiter out of s's queue and returns it,
// for the caller to send c to; with no one waiting, c becomes idle.
func (p *pool) handOverLocked(s *slots, c *conn) *waiter {
	if w := s.waiters.pop(); w != nil {
		return w
	}
	s.idle = append(s.idle, c)
	s.inUse--
	p.checkDrainedLocked()
	return nil
}

// takeIdleLocked leases the most recently used idle connection of s, or
// returns nil if none is idle.
func (s *slots) takeIdleLocked() *conn {
	n := len(s.idle)
	if n == 0 {
		return nil
	}
	c := s.idle[n-1]
	s.idle[n-1] = nil
	s.idle = s.idle[:n-1]
	s.inUse++
	return c
}

// dropSlotLocked frees a slot whose connection is gone (never opened, or
// closed): the longest waiter gets it to open a new connection in.
func (p *pool) dropSlotLocked(s *slots) {
	if w := s.waiters.pop(); w != nil {
		w.ch <- grant{}
		return
	}
	s.open--
	s.inUse--
	p.checkDrainedLocked()
}

func (p *pool) checkDrainedLocked() {
	if p.gate.cur != nil {
		p.grantExclusiveLocked()
	}
	if p.drained != nil && p.writer.inUse == 0 && p.readers.inUse == 0 {
		close(p.drained)
		p.drained = nil
	}
}

// addWait records a wait that ended, granted or not.
func (c *counters) addWait(d time.Duration) {
	c.waitTime.Add(int64(d))
	for {
		m := c.maxWait.Load()
		if int64(d) <= m || c.maxWait.CompareAndSwap(m, int64(d)) {
			return
		}
	}
}

func (p *pool) countEndLocked(s *slots, err error) {
	if errors.Is(err, context.DeadlineExceeded) {
		s.count.timeouts++
	} else {
		s.count.cancels++
	}
}

func (p *pool) waitError(s *slots, err error) error {
	return fmt.Errorf("sqlitepool: waiting for the %s of %q: %w", s.role, p.t.name, err)
}

func (p *pool) closedError() error {
	return fmt.Errorf("%w: the pool of %q is closing", ErrClosed, p.t.name)
}
