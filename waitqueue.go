package sqlitepool

import "sync"

// grant is what a waiter receives: a connection, or permission to open one
// in a slot freed for it (c == nil, err == nil), or an error.
type grant struct {
	c   *conn
	err error
}

// waiter is one goroutine waiting for a connection of a role.
type waiter struct {
	ch         chan grant // buffered: the granter never blocks
	prev, next *waiter
	q          *waitQueue // the queue w is in; nil once granted

	// Waiters of the Exclusive gate (exclusive.go): the role an acquire
	// waits for, or the Exclusive call.
	s *slots
	x *exclusive

	// janitor marks the janitor's own wait (catchUp): not the user's, so
	// not in Stats nor logged as a slow acquire.
	janitor bool
}

// waitQueue is a FIFO of waiters, a doubly linked list so that a waiter that
// gives up leaves it in O(1) without disturbing the order of the others.
// The pool's mutex guards it.
type waitQueue struct {
	head, tail *waiter
	n          int
}

func (q *waitQueue) len() int { return q.n }

func (q *waitQueue) push() *waiter {
	w := waiters.Get().(*waiter)
	q.pushWaiter(w)
	return w
}

// waiters keeps waiters (and their channels) for reuse: with more
// goroutines than connections, every acquire waits, and two allocations
// per acquire showed in the benchmarks.
var waiters = sync.Pool{New: func() any { return &waiter{ch: make(chan grant, 1)} }}

// putWaiter gives back a waiter whose grant was received: out of every
// queue, its channel empty, and no granter holds it any more.
func putWaiter(w *waiter) {
	if w.x == nil {
		*w = waiter{ch: w.ch}
		waiters.Put(w)
	}
}

// pushWaiter queues w, which is in no queue, last.
func (q *waitQueue) pushWaiter(w *waiter) {
	w.prev, w.q = q.tail, q
	if q.tail == nil {
		q.head = w
	} else {
		q.tail.next = w
	}
	q.tail = w
	q.n++
}

// pushFrontWaiter puts w at the head of the queue, ahead of every waiter:
// only for the janitor's short catch-up checkpoint (see catchUp).
func (q *waitQueue) pushFrontWaiter(w *waiter) {
	w.next, w.q = q.head, q
	if q.head == nil {
		q.tail = w
	} else {
		q.head.prev = w
	}
	q.head = w
	q.n++
}

// pop removes and returns the longest-waiting waiter, or nil.
func (q *waitQueue) pop() *waiter {
	w := q.head
	if w != nil {
		q.remove(w)
	}
	return w
}

// remove takes w out of the queue and reports whether it was still there: a
// waiter that is no longer queued has been (or is being) sent a grant.
func (q *waitQueue) remove(w *waiter) bool {
	if w.q != q {
		return false
	}
	if w.prev == nil {
		q.head = w.next
	} else {
		w.prev.next = w.next
	}
	if w.next == nil {
		q.tail = w.prev
	} else {
		w.next.prev = w.prev
	}
	w.prev, w.next, w.q = nil, nil, nil
	q.n--
	return true
}

// leave takes w out of whichever queue it is in (a waiter of the Exclusive
// gate moves from the gate's queue to its role's) and reports whether it
// was still queued.
func (w *waiter) leave() bool {
	return w.q != nil && w.q.remove(w)
}
