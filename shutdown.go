package sqlitepool

import (
	"context"
	"errors"
	"fmt"
)

// close refuses new acquires, fails the waiters and waits for every lease
// to come back, then closes the connections: the readers and, last, the
// writer (the last connection to close checkpoints the WAL and removes it,
// and only the writer can; under WALExternal none does, see configure).
//
// If ctx ends first, the leases still out are interrupted (every statement
// on them fails with ErrClosed from then on) and close returns at once with
// an error; the connections close when the last of those leases is
// released, and done is closed then. done is nil when close finished.
func (p *pool) close(ctx context.Context) (done <-chan struct{}, err error) {
	p.mu.Lock()
	p.closed = true
	p.parking.parked = false // a closed pool is closed, not parked
	p.closeGateLocked()
	for _, s := range []*slots{&p.writer, &p.readers} {
		for w := s.waiters.pop(); w != nil; w = s.waiters.pop() {
			w.ch <- grant{err: p.closedError()}
		}
	}
	p.mu.Unlock()
	// The janitor may hold a connection (a checkpoint, an optimize): it
	// gives it back before it stops.
	p.stopJanitor()
	// A park under way holds the gate and counts what it closes as in
	// use: it is no lease, and ends on its own, which close waits for
	// whatever ctx says; so does the janitor's goroutine that runs it.
	// No park starts once the pool is closed.
	p.parkers.Wait()
	p.mu.Lock()
	var parking chan struct{}
	if x := p.gate.cur; x != nil && x.park {
		parking = x.parked
	}
	p.mu.Unlock()
	if parking != nil {
		<-parking
	}

	p.mu.Lock()
	drained := make(chan struct{})
	p.drained = drained
	p.checkDrainedLocked()
	p.mu.Unlock()

	select {
	case <-drained:
		return nil, p.closeConns()
	case <-ctx.Done():
	}
	// select picks at random when both are ready (a ctx done already, and
	// no lease out): with nothing to interrupt, the close is a normal one.
	// No lease can be taken any more, so out only goes down.
	p.mu.Lock()
	out := p.writer.inUse + p.readers.inUse
	which := p.outLocked()
	p.mu.Unlock()
	if out == 0 {
		<-drained
		return nil, p.closeConns()
	}
	p.forced.Store(true)
	finished := make(chan struct{})
	go func() {
		<-drained
		p.closeConns() // nobody is left to hear of an error
		close(finished)
	}()
	return finished, fmt.Errorf("%w: closing the pool of %q: %s, interrupted; their connections close when they are released (a Lease dropped without Release is found by the garbage collector): %w",
		ErrClosed, p.t.name, which, ctx.Err())
}

// closeConns closes every connection, once none is leased.
func (p *pool) closeConns() error {
	p.notify.closeAll()

	p.mu.Lock()
	var conns []*conn
	for _, s := range []*slots{&p.readers, &p.writer} {
		conns = append(conns, s.idle...)
		s.count.closed += uint64(len(s.idle))
		s.open -= len(s.idle)
		s.idle = nil
	}
	p.mu.Unlock()

	if p.anchor != nil {
		conns = append(conns, p.anchor)
	}
	var errs []error
	for _, c := range conns {
		// The statistics are brought up to date for the next run before
		// the writer closes (an interrupted pool does not wait for that).
		if c.role == RoleWriter && !p.forced.Load() {
			if err := p.optimize(c); err != nil {
				p.logOptimizeFailed(err)
			}
		}
		errs = append(errs, c.close())
	}
	return errors.Join(errs...)
}
