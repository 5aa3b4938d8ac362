package sqlitepool

import (
	"fmt"
	"os"
	"time"
)

// DefaultParkAfter is how long a pool may go without a lease before it
// parks, unless [WithParkAfter] says otherwise.
const DefaultParkAfter = 10 * time.Minute

// WithParkAfter parks the pool once it has gone d without a lease while its
// handles stay open: it closes its connections (the readers, then the
// writer, which checkpoints the WAL and removes it as at the last Close,
// except under [WALExternal]) and stops its background goroutine, so that
// a process holding handles to many databases keeps resources only for
// those in use. The next lease reopens what it needs, transparently: it
// pays for opening its connection (and the pool's [WithMinReaders] open in
// the background). Handles, subscriptions, options and [Stats] counters
// survive a park; [Stats] tells whether the pool is parked and how often it
// was. 0 never parks on idle time; [SetMaxConnections] may still park a
// pool to make room. In-memory databases never park: their data lives
// only in their connections. The default is [DefaultParkAfter].
func WithParkAfter(d time.Duration) Option {
	return func(c *config) error {
		if d < 0 {
			return fmt.Errorf("WithParkAfter(%v): want 0 (never) or more", d)
		}
		c.parkAfter = d
		return nil
	}
}

// parking is what the pool keeps about its parks.
type parking struct {
	// Guarded by pool.mu.
	parked bool
	parks  uint64
	// file is the database file at the name when the pool parked: the
	// first lease to open a connection afterwards checks that it is still
	// the one there (movedWhileParked).
	file os.FileInfo

	// The janitor's own: the pool's lease count at its last round, and
	// since when (Unix ns) it has not changed.
	uses      uint64
	idleSince int64
}

// parkIfIdle runs on each round of the janitor: once no lease was taken
// for the park delay, it parks the pool, from a goroutine of its own (the
// park stops the janitor and waits for it).
func (p *pool) parkIfIdle(now int64) {
	if p.cfg.parkAfter == 0 || p.t.memory {
		return
	}
	p.mu.Lock()
	uses := p.usesLocked()
	busy := p.writer.inUse+p.readers.inUse > 0
	p.mu.Unlock()
	k := &p.parking
	if uses != k.uses || busy {
		k.uses, k.idleSince = uses, now
		return
	}
	if now-k.idleSince < int64(p.cfg.parkAfter) {
		return
	}
	k.idleSince = now // not again at once, if it cannot park now
	p.parkers.Go(func() { p.park() })
}

// usesLocked counts the leases and Exclusive sections taken on the pool.
func (p *pool) usesLocked() uint64 {
	return p.writer.count.acquires + p.readers.count.acquires + p.gate.sections
}

// park closes every connection of an idle pool and stops its janitor; the
// next acquire reopens what it needs (unparkLocked). It reports whether it
// parked: a pool closing or parked already, in memory, with a lease out
// (and so any waiter), an Exclusive section, or a checkpoint under way is
// not idle.
//
// While it runs it holds the pool's Exclusive gate: acquires and Exclusive
// calls that come meanwhile queue there, in order, and are served as soon
// as it is done, opening new connections.
func (p *pool) park() bool {
	p.mu.Lock()
	if p.closed || p.parking.parked || p.t.memory || p.gate.cur != nil ||
		p.checkpointing != nil || p.truncating || p.writer.inUse+p.readers.inUse > 0 {
		p.mu.Unlock()
		return false
	}
	x := &exclusive{park: true, sent: true, parked: make(chan struct{})}
	p.gate.cur = x
	defer close(x.parked)
	// Readers first, the writer last: the last connection to the file
	// checkpoints the WAL and removes it, and only the writer can.
	var conns []*conn
	for _, s := range []*slots{&p.readers, &p.writer} {
		conns = append(conns, s.idle...)
		s.inUse += len(s.idle) // counted until closed
		clear(s.idle)
		s.idle = s.idle[:0]
	}
	p.mu.Unlock()

	// The janitor closes the checkpointer as it ends.
	p.stopJanitor()

	info, err := os.Stat(p.t.dsn)
	if err != nil {
		info = nil
	}
	// Asked after the stat: a file moved before it is seen here, and the
	// pool then treats the park as a move, leaving no stale WAL behind.
	moved := false
	if len(conns) > 0 {
		moved = fileMoved(conns[0].file)
	}
	var w *conn
	if n := len(conns); n > 0 && conns[n-1].role == RoleWriter {
		w = conns[n-1]
		if moved {
			w.dropStaleWAL(p.t.dsn)
		}
	}
	for _, c := range conns {
		c.close()
	}
	// Nothing of the closed connections stays reachable from a parked
	// pool: the writer's latest lease and file name the old writer.
	p.writerLease.clear()
	p.writerFile.Store(nil)
	if w != nil && p.cfg.walPolicy != WALExternal && p.walSize() == 0 {
		// The writer's close copied the WAL back and removed it: the next
		// writer's first commit starts it from nothing.
		p.wal.frames.Store(0)
		p.wal.nextAt.Store(p.nextCheckpointAt(0))
	}

	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range conns {
		s := p.slotsFor(c.role)
		s.open--
		s.inUse--
		s.count.closed++
		if moved {
			s.count.replaced[reasonBroken]++
		}
	}
	if moved {
		p.gen++
		info = nil
	}
	if len(p.conns) == 0 {
		p.conns = nil // a map keeps its buckets: the next connection makes one
	}
	p.parking.file = info
	p.parking.parks++
	p.parking.parked = !p.closed
	p.openGateLocked()
	p.checkDrainedLocked()
	return true
}

// unparkLocked restarts a parked pool's janitor, for an acquire about to
// open a connection in it.
func (p *pool) unparkLocked() {
	if !p.parking.parked {
		return
	}
	p.parking.parked = false
	now := p.cfg.clock().UnixNano()
	p.clock.Store(now)
	p.parking.uses, p.parking.idleSince = p.usesLocked(), now
	p.startJanitorLocked()
}

// movedWhileParked reports whether the file at the database's name is no
// longer the one the pool had when it parked. The first lease to open a
// connection after a park asks, once: that connection opened the file now
// at the name, and its caller learns that it is another database, as one
// that runs into a move while the pool is open does.
func (p *pool) movedWhileParked() bool {
	p.mu.Lock()
	was := p.parking.file
	p.parking.file = nil
	p.mu.Unlock()
	if was == nil {
		return false
	}
	now, err := os.Stat(p.t.dsn)
	if err != nil || os.SameFile(was, now) {
		return false
	}
	if p.refile != nil {
		p.refile() // a link to the new file finds the pool
	}
	return true
}
