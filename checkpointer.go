package sqlitepool

import (
	"context"
	"errors"
	"sync/atomic"
	"time"

	"github.com/ncruces/go-sqlite3"
	"github.com/ncruces/go-sqlite3/vfs"
)

// fileRef holds a connection's main file for pool.writerFile.
type fileRef struct {
	f       vfs.File
	retired atomic.Bool // its move was reported to retireMoved
}

// checkpointer is the janitor's own connection for PASSIVE checkpoints.
//
// A checkpoint copies WAL frames into the database file and syncs it: a
// few milliseconds for SQLite's 1000 pages. Run on the writer (SQLite's
// autocheckpoint runs inside the COMMIT that crossed the mark), it stalls
// every queued write for that long, which is what made the pool's writes
// slower than the split database/sql pattern. A PASSIVE checkpoint needs
// no write lock, so on a connection of its own it runs beside the writer.
// Readers cannot run it: they are opened read-only.
//
// Only the janitor goroutine touches conn and its stamps; the checkpoint
// flag that keeps it out of Exclusive sections is pool.mu's.
type checkpointer struct {
	conn     *sqlite3.Conn
	room     bool   // it holds room under the process-wide cap
	gen      uint64 // the pool's file generation it opened: see retireMoved
	expires  int64  // Unix ns; the maximum lifetime, as for pooled ones
	lastUsed int64  // Unix ns; closed once idle for the idle timeout
}

// passiveCheckpoint runs a PASSIVE checkpoint on the checkpointer,
// opening it first if needed. It reports skipped when an Exclusive section
// holds (or waits for) the pool: its caller may be checkpointing, backing
// up or restoring itself, and must meet no lock of ours.
//
// done reports that it copied every frame of the WAL as it found it: only
// the frames committed meanwhile are left (see catchUp).
func (p *pool) passiveCheckpoint(ctx context.Context) (skipped, done, busy bool, err error) {
	p.mu.Lock()
	if p.closed || p.gate.cur != nil || p.truncating {
		p.mu.Unlock()
		if p.testHookCheckpoint != nil {
			p.testHookCheckpoint(true)
		}
		return true, false, false, nil
	}
	p.checkpointing = make(chan struct{})
	gen := p.gen
	p.mu.Unlock()
	defer func() {
		p.mu.Lock()
		close(p.checkpointing)
		p.checkpointing = nil
		if p.gate.cur != nil { // it waited for this checkpoint
			p.grantExclusiveLocked()
		}
		p.mu.Unlock()
	}()

	k := &p.ckpt
	if k.conn != nil && k.gen != gen { // the file moved: it has the old one
		p.closeCheckpointer()
	}
	// The writer's file must still be the one at the name, which the
	// checkpointer opens (or shares): if the file was replaced and the pool
	// has not noticed yet, a checkpoint would copy the old database's WAL,
	// still under the name, into the new file. Asked before the open, and
	// after it for a replacement in between (the checkpointer never
	// checkpoints on close, so closing it then copies nothing).
	if p.writerMoved(gen) {
		p.closeCheckpointer()
		return true, false, false, nil
	}
	if k.conn == nil {
		if err := p.openCheckpointer(ctx, gen); err == errNoRoom {
			return true, false, false, nil
		} else if err != nil {
			return false, false, false, err
		}
		if p.bud.max > 0 {
			// Room under the cap is for leases: given back at once.
			defer p.closeCheckpointer()
		}
		if p.writerMoved(gen) {
			p.closeCheckpointer()
			return true, false, false, nil
		}
	}
	if p.testHookCheckpoint != nil {
		p.testHookCheckpoint(false)
	}
	k.lastUsed = p.now()
	nLog, nCkpt, err := k.conn.WALCheckpoint("main", sqlite3.CHECKPOINT_PASSIVE)
	switch {
	case errors.Is(err, sqlite3.BUSY): // another process checkpoints
		return false, false, true, nil
	case err != nil:
		// Whatever went wrong (an I/O error, an interrupt at close), the
		// next checkpoint starts on a fresh connection.
		p.closeCheckpointer()
	}
	return false, nLog == nCkpt, false, err
}

// catchUp runs a PASSIVE checkpoint on the writer, right after the
// checkpointer copied the WAL: it copies only the frames committed
// meanwhile, so it holds the writer briefly, and it leaves the WAL wholly
// copied when the next write begins. That write then starts the WAL over
// from its beginning (if no reader still reads the old frames), rather
// than append to it: under a steady stream of writes there is otherwise
// never such a moment, and the WAL grows until a truncation, which holds
// every lease back, is due.
//
// It takes the writer ahead of the queued writes (acquireWriterFirst):
// behind them, it would have their frames to copy too, holding the writer
// the longer. A writer lease held long (a long transaction) is not waited
// for past the checkpoint timeout: the next round tries again.
//
// Once it copied everything, the frames count stays where it is until the
// next commit, though none of those frames is in use any more: it notes
// the count (wal.copied) so that the janitor's rounds before that commit
// neither truncate a WAL about to start over nor copy it again. Noted
// while it holds the writer, before any commit can start the WAL over.
func (p *pool) catchUp(ctx context.Context) {
	ctx, cancel := context.WithTimeout(ctx, p.cfg.checkpointTimeout)
	defer cancel()
	c := p.acquireWriterFirst(ctx)
	if c == nil {
		return
	}
	defer p.release(c)
	nLog, nCkpt, err := c.raw.WALCheckpoint("main", sqlite3.CHECKPOINT_PASSIVE)
	switch {
	case errors.Is(err, sqlite3.BUSY): // another process checkpoints
	case err != nil:
		c.noteBroken(err)
	case nLog == nCkpt:
		frames := p.wal.frames.Load()
		p.wal.copied = frames
		p.wal.nextAt.Store(p.nextCheckpointAt(frames))
	}
}

// acquireWriterFirst takes the writer ahead of every queued acquire, for
// the janitor's catch-up checkpoint; nil if it cannot now: the pool
// closing, an Exclusive section under way or waiting (it comes first), the
// writer being reopened, or ctx ending.
func (p *pool) acquireWriterFirst(ctx context.Context) *conn {
	s := &p.writer
	p.mu.Lock()
	if p.closed || p.gate.cur != nil || s.open < s.max {
		p.mu.Unlock()
		return nil
	}
	// Not counted in Stats: the janitor's acquires are not the user's.
	if c := s.takeIdleLocked(); c != nil {
		p.mu.Unlock()
		setInterrupt(c, ctx)
		return c
	}
	w := waiters.Get().(*waiter)
	w.janitor = true
	s.waiters.pushFrontWaiter(w)
	p.mu.Unlock()
	c, err := p.wait(ctx, s, w)
	if err != nil {
		return nil
	}
	return c
}

// openCheckpointer opens the checkpointer: read-write, no setup hook (no
// code of the user's ever runs on it), query_only so that nothing but a
// checkpoint can write through it.
func (p *pool) openCheckpointer(ctx context.Context, gen uint64) error {
	// Under the process-wide cap, it opens only when there is room: the
	// leases come first, and the next round tries again.
	if err := p.bud.take(ctx, p, false); err != nil {
		return err
	}
	octx := ctx
	if p.cfg.maxMemory > 0 {
		octx = sqlite3.WithMaxMemory(ctx, p.cfg.maxMemory)
	}
	c, err := sqlite3.OpenContext(octx, engineDSN(&p.t, RoleWriter, &p.cfg))
	if err != nil {
		p.bud.put(p)
		return err
	}
	ok := false
	defer func() {
		if !ok {
			c.Close()
			p.bud.put(p)
		}
	}()
	// SQLite checkpoints when the last connection to a file closes: the
	// checkpointer may be that connection to a file that replaced the
	// pool's, with the old WAL beside it (see writerMoved).
	if _, err := c.Config(sqlite3.DBCONFIG_NO_CKPT_ON_CLOSE, true); err != nil {
		return err
	}
	c.SetInterrupt(ctx) // the janitor's: ends with the pool
	// Another process may be recovering the WAL as it opens.
	if err := c.BusyTimeout(p.cfg.checkpointTimeout); err != nil {
		return err
	}
	// Reading the header is what tells a fresh connection the database is
	// in WAL mode; until then a checkpoint does nothing.
	if err := c.Exec("PRAGMA query_only=ON; PRAGMA user_version"); err != nil {
		return err
	}
	ok = true
	p.ckpt = checkpointer{conn: c, room: p.bud.max > 0, gen: gen, lastUsed: p.now()}
	if d := p.cfg.maxLifetime; d > 0 {
		p.ckpt.expires = p.now() + int64(d)
	}
	return nil
}

// writerMoved reports whether the newest writer's file is no longer the
// one at the database's name, and tells the pool once. Until a new writer
// opens (after the old one removed its stale WAL), it stays true.
func (p *pool) writerMoved(gen uint64) bool {
	wf := p.writerFile.Load()
	if wf == nil || !fileMoved(wf.f) {
		return false
	}
	if wf.retired.CompareAndSwap(false, true) {
		p.retireMoved(gen)
	}
	return true
}

// holdCheckpointer waits for a checkpoint under way on the checkpointer,
// if any, for at most d, and keeps the next from starting until done is
// called. clear reports that none runs: one still running after d makes
// a truncation BUSY by itself.
func (p *pool) holdCheckpointer(d time.Duration) (clear bool, done func()) {
	done = func() {
		p.mu.Lock()
		p.truncating = false
		p.mu.Unlock()
	}
	var t *time.Timer
	timedOut := false
	for {
		p.mu.Lock()
		// Looked at again after each wait: another may have started.
		ch := p.checkpointing
		if ch == nil || timedOut {
			p.truncating = true
			p.mu.Unlock()
			if t != nil {
				t.Stop()
			}
			return ch == nil, done
		}
		p.mu.Unlock()
		if t == nil {
			t = time.NewTimer(d)
		}
		select {
		case <-ch:
		case <-t.C:
			timedOut = true
		}
	}
}

// tidyCheckpointer closes the checkpointer when it has been idle for the
// idle timeout or open for the maximum lifetime.
func (p *pool) tidyCheckpointer(now int64) {
	k := &p.ckpt
	if k.conn == nil {
		return
	}
	idle := p.cfg.idleTimeout > 0 && now-k.lastUsed >= int64(p.cfg.idleTimeout)
	if idle || (k.expires != 0 && now >= k.expires) {
		p.closeCheckpointer()
	}
}

// closeCheckpointer closes the checkpointer, if open. The writer is
// normally open, so SQLite's close neither checkpoints nor removes the WAL;
// if it did (the writer being replaced), that would be harmless.
func (p *pool) closeCheckpointer() {
	if c := p.ckpt.conn; c != nil {
		room := p.ckpt.room
		p.ckpt = checkpointer{}
		c.Close()
		if room {
			p.bud.put(p)
		}
	}
}
