package sqlitepool

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ncruces/go-sqlite3"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

// TestStressInvariants runs a few hundred goroutines against three database
// files and a named in-memory database for stressDuration: handles opened
// and closed (the pool of one file closes and reopens all the time while
// others use it), reads, writes, nested writes with savepoints that roll
// back, leases by hand, Exclusive sections, contexts with random deadlines
// on every call and panics inside callbacks. Every written row carries an
// id used once in the whole run. At the end:
//
//   - exactly the rows whose write was acknowledged (Write, Exec, Tx.End or
//     Savepoint returned nil) are in each database, and
//     PRAGMA integrity_check is ok;
//   - every pool that was opened (up to stressMaxEntries of them) has no
//     handle, no lease, no waiter and no open connection left, and no
//     connection broke;
//   - the registry is empty, the file descriptors and goroutines are back
//     to what they were;
//   - and throughout, a watchdog fails the test if no operation completes
//     for 10 s.
//
// SQLITEPOOL_STRESS=10m runs it for ten minutes.
func TestStressInvariants(t *testing.T) {
	runStress(t, 0)
}

// TestStressInvariantsUnderACap runs the stress test with a process-wide
// cap of stressCap connections, fewer than the pools would open, and
// stressTenants more databases, each kept open by a handle of its own for
// the whole run, that the cold workers visit in turn: pools park and
// reopen all the time, connections close to make room, and leases wait
// for it. The same invariants hold, every tenant database keeps exactly
// its acknowledged rows, and the connections counted under the cap never
// exceed it.
func TestStressInvariantsUnderACap(t *testing.T) {
	runStress(t, stressCap)
}

// stressCap is the cap of TestStressInvariantsUnderACap: the largest
// Exclusive needs 4 (3 readers and the writer), and the in-memory
// database's anchor holds one for the whole run.
const stressCap = 6

// stressTenants is how many tenant databases the capped run adds.
const stressTenants = 8

func runStress(t *testing.T, maxConns int) {
	base := openFDs(t)
	var b *budget
	if maxConns > 0 {
		b = useBudget(t, maxConns)
	}
	s := newStress(t, maxConns > 0)
	d := stressDuration(t)
	deadline := time.Now().Add(d)
	var wg sync.WaitGroup
	for g := range stressWorkers {
		wg.Go(func() { s.worker(g, deadline) })
	}
	workersDone := make(chan struct{})
	go func() {
		wg.Wait()
		close(workersDone)
	}()
	select {
	case <-workersDone:
	case <-s.root.Done(): // the watchdog gave up on them
		select {
		case <-workersDone:
		case <-time.After(30 * time.Second):
			s.dog.stopWatch()
			t.Fatalf("workers still stuck 30 s after the watchdog cancelled them:\n%s", allStacks())
		}
	}
	s.dog.stopWatch()
	s.abort()
	if s.dog.fired.Load() {
		return // the watchdog reported; the invariants below would only add noise
	}

	s.checkMemory()
	s.checkEntries()
	if b != nil {
		parks := uint64(0)
		for i, db := range s.tenants {
			h := s.tenantHandles[i]
			parks += h.Stats().Parks
			s.checkRows(db, h)
			require.NoError(t, h.Close())
		}
		assert.Greater(t, parks, uint64(stressTenants), "the tenant pools did not park")
		assert.LessOrEqual(t, b.peak, maxConns, "connections open at once")
		assert.Zero(t, openUnder(b), "connections left counted under the cap")
		t.Logf("under a cap of %d: %d connections at most, %d parks of the tenant pools", maxConns, b.peak, parks)
	}
	assert.Empty(t, registryKeys(), "registry entries left")
	assert.Equal(t, base, openFDs(t), "file descriptors")
	for _, db := range s.dbs[:stressFiles] {
		s.checkFile(db)
	}
	assert.Empty(t, registryKeys(), "registry entries left after the check")
	assert.Equal(t, base, openFDs(t), "file descriptors after the check")
	goleak.VerifyNone(t)
	s.report(d)
}

const (
	stressWorkers = 240
	// stressColdWorkers use only the cold database, each opening it for a
	// few operations and closing it, so that its pool closes and reopens
	// all the time while others use it.
	stressColdWorkers = 3
	stressFiles       = 3 // hot, warm, cold; then the in-memory database
	stressStall       = 10 * time.Second
	// stressMaxEntries bounds the registry entries kept for the end
	// checks: a ten-minute run opens the cold pool many thousand times.
	stressMaxEntries = 5000
)

// stressKind is one kind of operation of a worker.
type stressKind int

const (
	kindReopen stressKind = iota
	kindRead
	kindQuery
	kindWrite
	kindNested
	kindExec
	kindWriterLease
	kindReaderLease
	kindExclusive
	kindPanic
	numKinds
)

var kindNames = [numKinds]string{"reopen", "read", "query", "write", "nested", "exec", "writer-lease", "reader-lease", "exclusive", "panic"}

// stressWeights is how often each kind is picked, out of their sum.
var stressWeights = [numKinds]int{8, 18, 10, 18, 10, 8, 8, 6, 1, 5}

var (
	errBoom  = errors.New("boom: fn failed on purpose")
	errInner = errors.New("inner savepoint failed on purpose")
)

// stressDB is one database of the run and what the run knows of it.
type stressDB struct {
	name   string
	memory bool
	opts   []Option
	inits  atomic.Int64 // init runs that succeeded: one per pool created

	mu      sync.Mutex     // protects the fields below
	acked   map[int64]bool // ids whose write returned nil
	entries map[*entry]bool
}

// stress is the shared state of one run.
type stress struct {
	t     *testing.T
	dbs   []*stressDB
	root  context.Context // every operation's context derives from it
	abort context.CancelFunc
	dog   *watchdog
	// anchor keeps the in-memory database alive for the whole run: the
	// memdb VFS deletes it with its last connection, and its rows are
	// checked at the end.
	anchor *Handle
	// tenants are the capped run's extra databases, each with a handle
	// kept for the whole run, so that its pool parks rather than closes.
	tenants       []*stressDB
	tenantHandles []*Handle

	nextID            atomic.Int64
	ops, errs         [numKinds]atomic.Int64
	acked, rejected   atomic.Int64
	panics, busy      atomic.Int64
	unexpected        atomic.Int64
	snapshotMismatchs atomic.Int64
}

func newStress(t *testing.T, tenants bool) *stress {
	dir := t.TempDir()
	s := &stress{t: t}
	s.root, s.abort = context.WithCancel(context.Background())
	for i, name := range []string{"hot.db", "warm.db", "cold.db"} {
		db := &stressDB{name: filepath.Join(dir, name), opts: []Option{WithReaders(3)}}
		switch i {
		case 1: // connections replaced now and then, while in use
			db.opts = append(db.opts, WithMaxLifetime(30*time.Millisecond))
		case 2: // few readers: leases wait for each other
			db.opts = []Option{WithReaders(1)}
		}
		s.dbs = append(s.dbs, db)
	}
	s.dbs = append(s.dbs, &stressDB{name: "file:/" + t.Name() + "?vfs=memdb", memory: true, opts: []Option{WithReaders(2)}})
	for _, db := range s.dbs {
		db.acked = make(map[int64]bool)
		db.entries = make(map[*entry]bool)
	}
	var err error
	mem := s.dbs[stressFiles]
	s.anchor, err = Open(mem.name, mem.init, mem.opts...)
	require.NoError(t, err)
	mem.noteEntry(s.anchor)
	for i := range stressTenants {
		if !tenants {
			break
		}
		db := &stressDB{name: filepath.Join(dir, fmt.Sprintf("tenant%d.db", i)), opts: []Option{WithReaders(1)},
			acked: make(map[int64]bool), entries: make(map[*entry]bool)}
		h, err := Open(db.name, db.init, db.opts...)
		require.NoError(t, err)
		s.tenants = append(s.tenants, db)
		s.tenantHandles = append(s.tenantHandles, h)
	}
	s.dog = startWatchdog(stressStall, func(msg string) { t.Error(msg) }, s.abort)
	return s
}

// init creates the table and counts the pools created: nothing after init
// can fail the creation.
func (db *stressDB) init(ctx context.Context, c *Conn) error {
	err := createTable(ctx, c)
	if err == nil {
		db.inits.Add(1)
	}
	return err
}

func (db *stressDB) noteEntry(h *Handle) {
	db.mu.Lock()
	defer db.mu.Unlock()
	if db.entries[h.e] {
		return
	}
	if len(db.entries) < stressMaxEntries {
		db.entries[h.e] = true
	}
}

// worker runs random operations until the deadline. The first workers
// visit the cold database only, the others one of the rest.
func (s *stress) worker(g int, deadline time.Time) {
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), uint64(g)))
	w := &stressWorker{s: s, rng: rng}
	// In the capped run, more workers visit the cold and tenant databases.
	if g < stressColdWorkers || g < 2*stressTenants && len(s.tenants) > 0 {
		w.db = s.dbs[2]
		for s.live(deadline) {
			if len(s.tenants) > 0 && rng.IntN(4) > 0 {
				w.db = s.tenants[rng.IntN(len(s.tenants))]
			} else {
				w.db = s.dbs[2]
			}
			w.open()
			for range 1 + rng.IntN(3) {
				if w.h != nil {
					w.op(w.pickNotReopen())
				}
			}
			w.close()
			time.Sleep(time.Duration(rng.IntN(5000)) * time.Microsecond)
		}
		return
	}
	w.db = s.dbs[[]int{0, 1, 3}[g%3]]
	for s.live(deadline) {
		if w.h == nil {
			w.open()
			continue
		}
		w.op(w.pick())
	}
	w.close()
}

func (s *stress) live(deadline time.Time) bool {
	return s.root.Err() == nil && time.Now().Before(deadline)
}

// stressWorker is one goroutine of the run, with its handle (nil while it
// has none).
type stressWorker struct {
	s   *stress
	rng *rand.Rand
	db  *stressDB
	h   *Handle
}

func (w *stressWorker) pick() stressKind {
	n := w.rng.IntN(sumWeights())
	for k, wt := range stressWeights {
		if n < wt {
			return stressKind(k)
		}
		n -= wt
	}
	panic("unreachable")
}

func (w *stressWorker) pickNotReopen() stressKind {
	for {
		if k := w.pick(); k != kindReopen {
			return k
		}
	}
}

func sumWeights() (n int) {
	for _, wt := range stressWeights {
		n += wt
	}
	return n
}

// ctx returns the context of one call: the run's own (no deadline), an
// already ended one, or a deadline from 0 to 5 ms away (most calls then
// fail, waiting or running) or 0 to 20 ms away.
func (w *stressWorker) ctx() (context.Context, context.CancelFunc) {
	switch n := w.rng.IntN(10); {
	case n < 4:
		return w.s.root, func() {}
	case n == 4:
		ctx, cancel := context.WithCancel(w.s.root)
		cancel()
		return ctx, cancel
	case n < 8:
		return context.WithTimeout(w.s.root, time.Duration(w.rng.IntN(5000))*time.Microsecond)
	}
	return context.WithTimeout(w.s.root, time.Duration(w.rng.IntN(20000))*time.Microsecond)
}

// op runs one operation of kind k and counts it.
func (w *stressWorker) op(k stressKind) {
	ctx, cancel := w.ctx()
	defer cancel()
	var err error
	switch k {
	case kindReopen:
		w.close()
		if w.rng.IntN(2) == 0 {
			time.Sleep(time.Duration(w.rng.IntN(1000)) * time.Microsecond)
		}
		err = w.openCtx(ctx)
	case kindRead:
		err = w.read(ctx)
	case kindQuery:
		err = w.query(ctx)
	case kindWrite:
		err = w.write(ctx)
	case kindNested:
		err = w.nested(ctx)
	case kindExec:
		id := w.s.nextID.Add(1)
		err = w.h.Exec(ctx, "INSERT INTO t(id, v) VALUES (?, 'exec')", id)
		w.outcome(err, id)
	case kindWriterLease:
		err = w.writerLease(ctx)
	case kindReaderLease:
		err = w.readerLease(ctx)
	case kindExclusive:
		err = w.exclusive(ctx)
	case kindPanic:
		err = w.panicking(ctx)
	}
	w.s.ops[k].Add(1)
	if err != nil {
		w.s.errs[k].Add(1)
		w.check(k, ctx, err)
	}
	w.s.dog.tick()
}

// check fails the test on an error the operation may not return: only the
// test's own errors, and a context error from a context that ended. (A
// busy wait given up because the context ended, in memory where a commit
// locks readers out, or on a reader opening while a checkpoint holds the
// WAL, matches the context's error too.)
func (w *stressWorker) check(k stressKind, ctx context.Context, err error) {
	switch {
	case errors.Is(err, errBoom), errors.Is(err, errInner):
		return
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		if ctx.Err() != nil {
			if errors.Is(err, sqlite3.BUSY) {
				w.s.busy.Add(1)
			}
			return
		}
	}
	if w.s.unexpected.Add(1) <= 20 {
		w.s.t.Errorf("%s on %s: unexpected error (context: %v): %v", kindNames[k], w.db.name, ctx.Err(), err)
	}
}

// outcome records the ids of one write attempt: in the database if err is
// nil, absent otherwise.
func (w *stressWorker) outcome(err error, ids ...int64) {
	if err != nil {
		w.s.rejected.Add(int64(len(ids)))
		return
	}
	w.ack(ids...)
}

func (w *stressWorker) ack(ids ...int64) {
	w.s.acked.Add(int64(len(ids)))
	w.db.mu.Lock()
	defer w.db.mu.Unlock()
	for _, id := range ids {
		w.db.acked[id] = true
	}
}

func (w *stressWorker) open() {
	ctx, cancel := w.ctx()
	defer cancel()
	if err := w.openCtx(ctx); err != nil {
		w.check(kindReopen, ctx, err)
	}
	w.s.ops[kindReopen].Add(1)
	w.s.dog.tick()
}

func (w *stressWorker) openCtx(ctx context.Context) error {
	h, err := OpenContext(ctx, w.db.name, w.db.init, w.db.opts...)
	if err != nil {
		return err
	}
	w.db.noteEntry(h)
	w.h = h
	return nil
}

// close closes the worker's handle, sometimes twice (the second does
// nothing), sometimes with a context that may end first: no lease of this
// worker is out, so it never has to wait for one.
func (w *stressWorker) close() {
	if w.h == nil {
		return
	}
	var err error
	if w.rng.IntN(4) == 0 {
		ctx, cancel := w.ctx()
		err = w.h.CloseContext(ctx)
		cancel()
	} else {
		err = w.h.Close()
	}
	if err != nil && w.s.unexpected.Add(1) <= 20 {
		w.s.t.Errorf("close of %s: %v", w.db.name, err)
	}
	if w.rng.IntN(8) == 0 {
		assert.NoError(w.s.t, w.h.Close(), "second close")
	}
	w.h = nil
}

// read counts the rows twice in one Read: both see the same snapshot,
// whatever the writer commits meanwhile.
func (w *stressWorker) read(ctx context.Context) error {
	return w.h.Read(ctx, func(_ context.Context, c *Conn) error {
		var a, b int64
		if err := c.QueryRow("SELECT count(*) FROM t").Scan(&a); err != nil {
			return err
		}
		if w.rng.IntN(4) == 0 {
			time.Sleep(time.Duration(w.rng.IntN(500)) * time.Microsecond)
		}
		if err := c.QueryRow("SELECT count(*) FROM t").Scan(&b); err != nil {
			return err
		}
		if a != b && w.s.snapshotMismatchs.Add(1) <= 5 {
			w.s.t.Errorf("%s: one Read saw %d rows, then %d", w.db.name, a, b)
		}
		return nil
	})
}

func (w *stressWorker) query(ctx context.Context) error {
	if w.rng.IntN(2) == 0 {
		var n int64
		return w.h.QueryRow(ctx, "SELECT coalesce(max(id), 0) FROM t").Scan(&n)
	}
	stop := w.rng.IntN(5)
	i := 0
	for row, err := range w.h.Query(ctx, "SELECT id, v FROM t ORDER BY id DESC LIMIT 10") {
		if err != nil {
			return err
		}
		var id int64
		var v string
		if err := row.Scan(&id, &v); err != nil {
			return err
		}
		if i++; i > stop {
			break // the reader goes back with the statement unfinished
		}
	}
	return nil
}

// write inserts one row, or fails on purpose after inserting it.
func (w *stressWorker) write(ctx context.Context) error {
	id := w.s.nextID.Add(1)
	fail := w.rng.IntN(8) == 0
	err := w.h.Write(ctx, func(_ context.Context, c *Conn) error {
		if err := c.Exec("INSERT INTO t(id, v) VALUES (?, 'write')", id); err != nil {
			return err
		}
		if fail {
			return errBoom
		}
		return nil
	})
	if fail && err == nil {
		w.s.t.Errorf("%s: Write returned nil for a fn that failed", w.db.name)
	}
	w.outcome(err, id)
	return err
}

// nested inserts a row, then another in a savepoint that commits, fails
// or panics (recovered inside fn); the inner row is there only if its
// savepoint committed and the Write too. Sometimes it reads inside Write
// with c.Context(), which the pool serves at once.
func (w *stressWorker) nested(ctx context.Context) error {
	outer, inner := w.s.nextID.Add(1), w.s.nextID.Add(1)
	mode := w.rng.IntN(3)
	readInside := w.rng.IntN(4) == 0
	innerKept := false
	err := w.h.Write(ctx, func(_ context.Context, c *Conn) error {
		innerKept = false
		if err := c.Exec("INSERT INTO t(id, v) VALUES (?, 'outer')", outer); err != nil {
			return err
		}
		err := savepointRecovered(c, func(c *Conn) error {
			if err := c.Exec("INSERT INTO t(id, v) VALUES (?, 'inner')", inner); err != nil {
				return err
			}
			switch mode {
			case 1:
				return errInner
			case 2:
				panic(errInner)
			}
			return nil
		})
		if err != nil && !errors.Is(err, errInner) {
			return err // the context ended: give up the whole Write
		}
		innerKept = err == nil
		if readInside {
			return w.h.Read(c.Context(), func(_ context.Context, r *Conn) error {
				var n int64
				return r.QueryRow("SELECT count(*) FROM t").Scan(&n)
			})
		}
		return nil
	})
	switch {
	case err != nil:
		w.outcome(err, outer, inner)
	case innerKept:
		w.ack(outer, inner)
	default:
		w.ack(outer)
		w.s.rejected.Add(1)
	}
	return err
}

// savepointRecovered runs c.Savepoint(fn), turning a panic of fn into its
// value as an error.
func savepointRecovered(c *Conn, fn func(*Conn) error) (err error) {
	defer func() {
		if v := recover(); v != nil {
			e, ok := v.(error)
			if !ok {
				panic(v)
			}
			err = e
		}
	}()
	return c.Savepoint(fn)
}

// writerLease inserts a row on a Writer lease: in a transaction of Begin
// and End, in a Savepoint outside any transaction (a transaction of its
// own), or in a transaction left open, which Release rolls back.
func (w *stressWorker) writerLease(ctx context.Context) error {
	l, err := w.h.Writer(ctx)
	if err != nil {
		return err
	}
	defer l.Release()
	c, id := l.Conn(), w.s.nextID.Add(1)
	switch w.rng.IntN(4) {
	case 0, 1:
		err = func() (err error) {
			tx, err := c.Begin()
			if err != nil {
				return err
			}
			defer tx.End(&err)
			return c.Exec("INSERT INTO t(id, v) VALUES (?, 'tx')", id)
		}()
	case 2:
		err = c.Savepoint(func(c *Conn) error {
			return c.Exec("INSERT INTO t(id, v) VALUES (?, 'savepoint')", id)
		})
	case 3:
		if _, err := c.Begin(); err == nil {
			c.Exec("INSERT INTO t(id, v) VALUES (?, 'abandoned')", id)
		}
		w.s.rejected.Add(1) // Release rolls it back
		return nil
	}
	w.outcome(err, id)
	return err
}

// readerLease reads in a transaction of Begin and End on a Reader lease,
// then releases it twice.
func (w *stressWorker) readerLease(ctx context.Context) error {
	l, err := w.h.Reader(ctx)
	if err != nil {
		return err
	}
	defer l.Release()
	c := l.Conn()
	err = func() (err error) {
		tx, err := c.Begin()
		if err != nil {
			return err
		}
		defer tx.End(&err)
		var n int64
		return c.QueryRow("SELECT count(*) FROM t").Scan(&n)
	}()
	l.Release()
	return err
}

// exclusive truncates the WAL, or counts the rows on every reader.
func (w *stressWorker) exclusive(ctx context.Context) error {
	truncate := w.rng.IntN(2) == 0
	return w.h.Exclusive(ctx, func(_ context.Context, wr *Conn, readers []*Conn) error {
		if truncate {
			return wr.Exec("PRAGMA wal_checkpoint(TRUNCATE)")
		}
		for _, r := range readers {
			var n int64
			if err := r.QueryRow("SELECT count(*) FROM t").Scan(&n); err != nil {
				return err
			}
		}
		return nil
	})
}

// panicking panics inside a callback (Read, Write after an insert, or
// rarely Exclusive), recovers, and checks that the pool still serves.
func (w *stressWorker) panicking(ctx context.Context) error {
	id := w.s.nextID.Add(1)
	var where string
	func() {
		defer func() {
			if v := recover(); v != nil {
				w.s.panics.Add(1)
			}
		}()
		switch n := w.rng.IntN(20); {
		case n < 9:
			where = "Read"
			w.h.Read(ctx, func(_ context.Context, c *Conn) error {
				var x int64
				c.QueryRow("SELECT count(*) FROM t").Scan(&x)
				panic("in Read")
			})
		case n < 19:
			where = "Write"
			w.h.Write(ctx, func(_ context.Context, c *Conn) error {
				c.Exec("INSERT INTO t(id, v) VALUES (?, 'panicked')", id)
				panic("in Write")
			})
		default:
			where = "Exclusive"
			w.h.Exclusive(ctx, func(context.Context, *Conn, []*Conn) error { panic("in Exclusive") })
		}
	}()
	w.s.rejected.Add(1) // the Write that panicked, or no write at all
	// The pool serves after the panic, its connections clean.
	err := w.h.Read(w.s.root, func(_ context.Context, c *Conn) error {
		var n int64
		return c.QueryRow("SELECT count(*) FROM t").Scan(&n)
	})
	if err != nil && w.s.root.Err() == nil && w.s.unexpected.Add(1) <= 20 {
		w.s.t.Errorf("%s: Read after a panic in %s: %v", w.db.name, where, err)
	}
	return nil
}

// checkMemory checks the in-memory database through the handle that kept
// it alive, then closes that handle.
func (s *stress) checkMemory() {
	db := s.dbs[stressFiles]
	s.checkRows(db, s.anchor)
	require.NoError(s.t, s.anchor.Close())
}

// checkFile opens a file database again and checks its rows.
func (s *stress) checkFile(db *stressDB) {
	h, err := Open(db.name, nil)
	require.NoError(s.t, err)
	defer func() { require.NoError(s.t, h.Close()) }()
	s.checkRows(db, h)
}

// checkRows compares the ids in db with the acknowledged ones, and runs
// PRAGMA integrity_check.
func (s *stress) checkRows(db *stressDB, h *Handle) {
	t := s.t
	present := make(map[int64]bool)
	for row, err := range h.Query(context.Background(), "SELECT id FROM t") {
		require.NoError(t, err)
		var id int64
		require.NoError(t, row.Scan(&id))
		present[id] = true
	}
	missing, nMissing := diffIDs(db.acked, present)
	extra, nExtra := diffIDs(present, db.acked)
	assert.Empty(t, missing, "%s: acknowledged writes missing (%d of %d)", db.name, nMissing, len(db.acked))
	assert.Empty(t, extra, "%s: rows present whose write was not acknowledged (%d)", db.name, nExtra)

	var lines []string
	for row, err := range h.Query(context.Background(), "PRAGMA integrity_check") {
		require.NoError(t, err)
		var line string
		require.NoError(t, row.Scan(&line))
		lines = append(lines, line)
	}
	assert.Equal(t, []string{"ok"}, lines, "%s: integrity_check", db.name)
}

// diffIDs returns the first 20 ids of a that b lacks, and how many there
// are in all.
func diffIDs(a, b map[int64]bool) (first []int64, n int) {
	for id := range a {
		if !b[id] {
			first = append(first, id)
		}
	}
	slices.Sort(first)
	return first[:min(len(first), 20)], len(first)
}

// checkEntries checks every kept pool: no handle, lease, waiter or open
// connection left, every connection opened also closed, none broken.
func (s *stress) checkEntries() {
	t := s.t
	bad := 0
	for _, db := range s.dbs {
		for e := range db.entries {
			reg.mu.Lock()
			refs, closing := e.refs, e.closing
			reg.mu.Unlock()
			select {
			case <-e.gone:
			default:
				closing = false
			}
			st := e.pool.stats()
			w, r := st.Writer, st.Readers
			ok := refs == 0 && closing &&
				w.Open+r.Open == 0 && w.InUse+r.InUse == 0 && w.Waiting+r.Waiting == 0 &&
				w.Created == w.Closed && r.Created == r.Closed &&
				w.Replaced.Broken+r.Replaced.Broken == 0 &&
				!st.Exclusive.Running && st.Exclusive.Waiting == 0
			if !ok {
				if bad++; bad <= 5 {
					t.Errorf("%s: pool left in use: refs %d, gone %v, stats %+v", db.name, refs, closing, st)
				}
			}
		}
	}
}

// registryKeys lists the registry's entries.
func registryKeys() []string {
	reg.mu.Lock()
	defer reg.mu.Unlock()
	var keys []string
	for k := range reg.entries {
		keys = append(keys, k)
	}
	return keys
}

// report logs the figures of the run.
func (s *stress) report(d time.Duration) {
	var b strings.Builder
	var total int64
	for k := range numKinds {
		n := s.ops[k].Load()
		total += n
		fmt.Fprintf(&b, " %s %d (%d errors);", kindNames[k], n, s.errs[k].Load())
	}
	s.t.Logf("%v, %d workers: %d operations:%s", d, stressWorkers, total, b.String())
	s.t.Logf("writes: %d acknowledged and present, %d rejected and absent; %d panics recovered; %d busy waits ended by their context",
		s.acked.Load(), s.rejected.Load(), s.panics.Load(), s.busy.Load())
	for _, db := range s.dbs {
		s.t.Logf("%s: %d pools created and closed, %d of them checked at the end, %d rows",
			filepath.Base(db.name), db.inits.Load(), len(db.entries), len(db.acked))
	}
}
