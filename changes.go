package sqlitepool

import (
	"strings"
	"sync"
	"sync/atomic"

	"github.com/ncruces/go-sqlite3"
)

// SubscriptionBuffer is how many undelivered changes a [Subscription]
// holds. When it is full the writer does not wait: the change is dropped
// and the next one delivered has Missed set.
const SubscriptionBuffer = 64

// Change is one committed transaction of the writer, as seen by a
// [Subscription]: the tables it changed that the subscription asked for.
type Change struct {
	// Seq numbers the pool's committed transactions that changed a table,
	// from 1, in commit order; gaps are transactions of other tables.
	Seq uint64
	// Tables maps each changed table (in lower case) to its row counts.
	Tables map[string]TableChange
	// Missed reports that changes were dropped before this one because the
	// subscriber fell behind: re-read what you track.
	Missed bool
}

// TableChange counts the rows of one table a transaction changed.
type TableChange struct {
	Inserts, Updates, Deletes int64
}

// Subscription delivers the changes committed by the pool's writer, from
// [Handle.Subscribe].
type Subscription struct {
	n      *notifier
	ch     chan Change
	tables map[string]bool // lower case; nil: every table
	missed bool            // guarded by n.mu
	closed bool            // guarded by n.mu
}

// C returns the channel of changes. It is closed by [Subscription.Close]
// and when the pool closes.
func (s *Subscription) C() <-chan Change { return s.ch }

// Close ends the subscription and closes its channel. Calling it again does
// nothing.
func (s *Subscription) Close() {
	s.n.mu.Lock()
	defer s.n.mu.Unlock()
	s.n.removeLocked(s)
}

// Subscribe delivers, after each transaction the writer commits, which of
// tables it changed (every table if none is named; names match
// case-insensitively) with insert, update and delete counts. A change is
// delivered once the connection that committed it is back in the pool (the
// COMMIT has returned, so the change is durable), never for a transaction
// that rolled back.
//
// Limits, from SQLite's update hook: changes to WITHOUT ROWID tables, and
// rows removed by a DELETE without WHERE on a table without triggers (the
// truncate optimization), are not seen; a ROLLBACK TO a savepoint does not
// take back the counts of the rows it undid, so counts are an upper bound
// when savepoints roll back.
//
// The writer runs the hooks only while a subscription is open: a
// subscription made while the writer is leased sees the commits of the
// next lease on, not necessarily those of the lease under way.
func (h *Handle) Subscribe(tables ...string) (*Subscription, error) {
	if h.closed.Load() {
		return nil, h.errClosed()
	}
	if h.p.cfg.readOnly { // nothing commits through the pool
		return nil, h.p.readOnlyError()
	}
	s := &Subscription{n: &h.p.notify, ch: make(chan Change, SubscriptionBuffer)}
	if len(tables) > 0 {
		s.tables = make(map[string]bool, len(tables))
		for _, t := range tables {
			s.tables[strings.ToLower(t)] = true
		}
	}
	p := h.p
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed { // the pool's close ends every subscription after this
		return nil, p.closedError()
	}
	n := &p.notify
	n.mu.Lock()
	if n.subs == nil {
		n.subs = make(map[*Subscription]struct{})
	}
	n.subs[s] = struct{}{}
	n.active.Add(1)
	n.mu.Unlock()
	// An idle writer is armed now, so the next lease reports its changes;
	// one in use is armed when it comes back.
	if idle := p.writer.idle; len(idle) > 0 {
		idle[0].changes.syncLocked(idle[0])
	}
	return s, nil
}

// notifier is a pool's subscriptions.
type notifier struct {
	// active counts the open subscriptions: the writer is armed (its hooks
	// registered) only while it is above 0. Incremented with the pool's mu
	// held too (see writerChanges.syncLocked).
	active atomic.Int32

	mu   sync.Mutex // protects the fields below and every Subscription's state
	subs map[*Subscription]struct{}
	seq  uint64
}

func (n *notifier) removeLocked(s *Subscription) {
	if s.closed {
		return
	}
	s.closed = true
	delete(n.subs, s)
	n.active.Add(-1)
	close(s.ch)
}

// closeAll ends every subscription: the pool is closing.
func (n *notifier) closeAll() {
	n.mu.Lock()
	defer n.mu.Unlock()
	for s := range n.subs {
		n.removeLocked(s)
	}
}

// publish hands committed transactions to the subscribers, in order,
// without ever blocking.
func (n *notifier) publish(batches []map[string]*TableChange) {
	n.mu.Lock()
	defer n.mu.Unlock()
	for _, b := range batches {
		n.seq++
		for s := range n.subs {
			var tables map[string]TableChange
			for t, tc := range b {
				if s.tables == nil || s.tables[t] {
					if tables == nil {
						tables = make(map[string]TableChange, len(b))
					}
					tables[t] = *tc
				}
			}
			if tables == nil {
				continue
			}
			select {
			case s.ch <- Change{Seq: n.seq, Tables: tables, Missed: s.missed}:
				s.missed = false
			default:
				s.missed = true
			}
		}
	}
}

// writerChanges follows the writer's transactions through SQLite's hooks.
// Only the goroutine holding the writer runs them, so no lock is needed.
//
// The hooks are registered only while someone subscribes (armed): each is a
// call out of the engine, and the update hook copies the table name of
// every row changed, a cost a single-row insert feels. The
// writer is armed or disarmed when it goes back to the pool (syncLocked),
// when it is opened, and by Subscribe if it is idle; a lease under way when
// Subscribe is called may therefore go unreported.
//
// The commit hook runs before the commit is done, and a COMMIT can still
// fail: its batch is only a candidate until the connection shows the
// transaction ended without a rollback (the next change, or the release).
// A COMMIT that fails leaving the transaction open (SQLITE_BUSY) would make
// a later change confirm a batch that may yet roll back; in WAL mode, which
// the writer always uses, the writer holds the write lock before COMMIT and
// its COMMIT does not return BUSY.
type writerChanges struct {
	n     *notifier
	armed bool // the hooks are registered

	pending   map[string]*TableChange   // the open transaction
	candidate map[string]*TableChange   // committing
	committed []map[string]*TableChange // done, to publish on release
}

// hookWriter prepares a new writer connection for Subscribe, arming it if
// anyone subscribes.
func (p *pool) hookWriter(c *conn) {
	c.changes = &writerChanges{n: &p.notify}
	// The commit and rollback hooks stay for the writer's life: they also
	// refuse commits to a moved file (moved.go) and tell whether a
	// statement's commit took effect (txn.go), and call commit and rollback
	// only while armed.
	c.raw.CommitHook(c.onCommit)
	c.raw.RollbackHook(c.onRollback)
	if p.notify.active.Load() > 0 {
		c.changes.arm(c.raw)
	}
}

// restoreHooks puts back the writer's hooks, which a lease may have
// replaced through Raw: they must outlive the lease. On a reader (nil) it
// does nothing.
func (w *writerChanges) restoreHooks(c *conn) {
	if w == nil {
		return
	}
	c.raw.CommitHook(c.onCommit)
	c.raw.RollbackHook(c.onRollback)
	if w.armed {
		c.raw.UpdateHook(w.update)
	} else {
		c.raw.UpdateHook(nil)
	}
}

// syncLocked arms a clean writer if anyone subscribes and disarms it if no
// one does. It is called with p.mu held, on the writer going back to the
// pool or idle in it, so that it cannot interleave with Subscribe's arming
// of the idle writer. On a reader it is a nil check.
func (w *writerChanges) syncLocked(c *conn) {
	if w != nil && w.armed != (w.n.active.Load() > 0) {
		if w.armed {
			w.disarm(c.raw)
		} else {
			w.arm(c.raw)
		}
	}
}

// arm registers the update hook (the commit and rollback hooks are always
// there). Registering one is a pointer store in the engine: no I/O, no
// statement.
func (w *writerChanges) arm(raw *sqlite3.Conn) {
	w.armed = true
	raw.UpdateHook(w.update)
}

func (w *writerChanges) disarm(raw *sqlite3.Conn) {
	raw.UpdateHook(nil)
	w.armed = false
	w.pending, w.candidate = nil, nil
	clear(w.committed)
	w.committed = w.committed[:0]
}

func (w *writerChanges) update(op sqlite3.AuthorizerActionCode, _, table string, _ int64) {
	if w.n.active.Load() == 0 {
		return // the last subscription closed during this lease
	}
	w.confirm()
	if w.pending == nil {
		w.pending = make(map[string]*TableChange)
	}
	t := strings.ToLower(table)
	tc := w.pending[t]
	if tc == nil {
		tc = &TableChange{}
		w.pending[t] = tc
	}
	switch op {
	case sqlite3.AUTH_INSERT:
		tc.Inserts++
	case sqlite3.AUTH_UPDATE:
		tc.Updates++
	case sqlite3.AUTH_DELETE:
		tc.Deletes++
	}
}

func (w *writerChanges) commit() bool {
	w.confirm()
	w.candidate, w.pending = w.pending, nil
	return true
}

func (w *writerChanges) rollback() {
	w.pending, w.candidate = nil, nil
}

// confirm moves a candidate batch to the committed ones: its transaction
// ended without a rollback.
func (w *writerChanges) confirm() {
	if w.candidate != nil {
		w.committed = append(w.committed, w.candidate)
		w.candidate = nil
	}
}

// publishWriter delivers what a released writer committed. Outside any
// transaction, the last one ended: a candidate batch still there did commit
// (a rollback would have dropped it).
func (p *pool) publishWriter(c *conn) {
	w := c.changes
	if w == nil || w.candidate == nil && len(w.committed) == 0 {
		return // the common case: nothing to deliver, no engine call
	}
	if c.raw.GetAutocommit() {
		w.confirm()
	}
	w.pending, w.candidate = nil, nil
	if len(w.committed) > 0 {
		p.notify.publish(w.committed)
		clear(w.committed)
		w.committed = w.committed[:0]
	}
}
