package sqlitepool

import (
	"context"
	"math/rand/v2"
	"sync"
	"time"
)

// reason says why the pool closed a connection before the pool itself
// closed: each is counted in Stats.
type reason uint8

const (
	reasonBroken   reason = iota // an error showed it unusable, or its clean-up failed
	reasonIdle                   // a reader unused for the idle timeout
	reasonLifetime               // open for its maximum lifetime
)

func (r reason) String() string {
	switch r {
	case reasonIdle:
		return "idle"
	case reasonLifetime:
		return "lifetime"
	}
	return "broken"
}

// janitor is the pool's background goroutine: it closes idle and expired
// connections, keeps the minimum of readers open, parks the pool once
// idle, and runs the work that must not delay a caller (checkpoints,
// PRAGMA optimize). A parked pool has none; the acquire that unparks it
// starts a new one.
type janitor struct {
	stop    context.CancelFunc // guarded by pool.mu; nil while none runs
	stopped sync.WaitGroup
	wake    chan struct{} // a checkpoint is due; buffered, never blocks
}

// now is the pool's coarse clock, in Unix nanoseconds: set by the janitor
// on each round, so the hot path reads an atomic instead of the time.
func (p *pool) now() int64 { return p.clock.Load() }

// born stamps a new connection with its expiry, jittered: up to 10% before
// the maximum lifetime, and starts tracking it for leaked leases.
func (p *pool) born(c *conn) {
	p.track(c)
	c.expires = 0
	if d := p.cfg.maxLifetime; d > 0 {
		jitter := time.Duration(rand.Int64N(int64(d)/10 + 1))
		c.expires = p.cfg.clock().Add(d - jitter).UnixNano()
	}
}

func (c *conn) expired(now int64) bool { return c.expires != 0 && now >= c.expires }

// startJanitorLocked starts the background goroutine; close and park
// stop it. Called with p.mu held, while none runs.
func (p *pool) startJanitorLocked() {
	ctx, cancel := context.WithCancel(context.Background())
	p.janitor.stop = cancel
	p.nextOptimize = p.now() + int64(p.cfg.optimizeEvery)
	p.janitor.stopped.Go(func() {
		t := time.NewTicker(p.cfg.janitorEvery)
		defer t.Stop()
		defer p.closeCheckpointer()
		p.topUp(ctx)
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				p.tidy(ctx)
			case <-p.janitor.wake:
				p.checkpointIfDue(ctx)
			}
		}
	})
}

// stopJanitor stops the janitor and waits for it: it may hold a connection.
// A new one starts only on an acquire that unparks the pool, which neither
// a closing pool nor one whose park holds the gate admits: no janitor can
// start while this waits.
func (p *pool) stopJanitor() {
	p.mu.Lock()
	stop := p.janitor.stop
	p.janitor.stop = nil
	p.mu.Unlock()
	if stop != nil {
		stop()
	}
	p.janitor.stopped.Wait()
}

// tidy is one round of the janitor.
func (p *pool) tidy(ctx context.Context) {
	now := p.cfg.clock().UnixNano()
	p.clock.Store(now)
	p.retire(now)
	p.tidyCheckpointer(now)
	p.janitorProbeMoved()
	p.topUp(ctx)
	p.optimizeIfDue(ctx, now)
	p.checkpointIfDue(ctx)
	p.watchExternalWAL(now)
	p.parkIfIdle(now)
}

// retire closes the idle connections that expired, and the idle readers
// beyond the minimum unused for the idle timeout. The writer is reopened at
// once: it is one connection, and the next write should not wait for it.
func (p *pool) retire(now int64) {
	type victim struct {
		s *slots
		c *conn
		r reason
	}
	var victims []victim
	p.mu.Lock()
	if p.closed || p.gate.cur != nil { // Exclusive takes every idle one
		p.mu.Unlock()
		return
	}
	idleBefore := now - int64(p.cfg.idleTimeout)
	for _, s := range []*slots{&p.writer, &p.readers} {
		kept := s.idle[:0]
		open := s.open
		for _, c := range s.idle {
			switch {
			case c.expired(now):
				victims = append(victims, victim{s, c, reasonLifetime})
			case s.role == RoleReader && p.cfg.idleTimeout > 0 && open > p.cfg.minReaders && c.idleSince <= idleBefore:
				victims = append(victims, victim{s, c, reasonIdle})
			default:
				kept = append(kept, c)
				continue
			}
			open--
			s.inUse++ // the slot stays counted until the connection is closed
		}
		clear(s.idle[len(kept):])
		s.idle = kept
	}
	p.mu.Unlock()

	for _, v := range victims {
		p.discard(v.s, v.c, false, v.r, nil)
		if v.s.role == RoleWriter {
			p.reopenWriter()
		}
	}
}

// reopenWriter opens a writer in its free slot if no one has yet.
func (p *pool) reopenWriter() {
	p.openIdle(&p.writer, p.writer.max)
}

// topUp opens readers until the minimum is open.
func (p *pool) topUp(ctx context.Context) {
	for ctx.Err() == nil {
		opened, err := p.openIdle(&p.readers, p.cfg.minReaders)
		if err != nil {
			p.logOpenFailed(RoleReader, err)
		}
		if !opened {
			return // done, or failed: tried again next round
		}
	}
}

// openIdle opens one connection of s for the pool itself, as long as fewer
// than upTo are open, and makes it idle. It does not wait for room under
// the process-wide cap, nor open while the gate is closed (an Exclusive
// holds every slot anyway; a park must end with nothing open).
func (p *pool) openIdle(s *slots, upTo int) (opened bool, err error) {
	p.mu.Lock()
	if p.closed || p.gate.cur != nil || s.open >= upTo {
		p.mu.Unlock()
		return false, nil
	}
	s.open++
	s.inUse++
	p.mu.Unlock()
	c, err := p.openInSlot(context.Background(), s, false)
	if err == errNoRoom {
		return false, nil // the leases come first: tried again next round
	}
	if err != nil {
		return false, err
	}
	p.putBack(s, c)
	return true, nil
}

// putBack makes a connection the pool opened for itself available.
func (p *pool) putBack(s *slots, c *conn) {
	p.mu.Lock()
	c.idleSince = p.now()
	c.changes.syncLocked(c)
	p.putLocked(s, c)
	p.mu.Unlock()
	p.pokeIfWaited()
}
