package sqlitepool

import (
	"fmt"
	"os"

	"github.com/ncruces/go-sqlite3"
	"github.com/ncruces/go-sqlite3/vfs"
)

// A database file deleted, renamed or replaced (renamed over) while
// connections have it open is a trap. Each connection keeps the old file
// open, and in WAL mode SQLite goes on committing to it without a word (it
// checks that the file has not moved only in rollback-journal mode): the
// commits go to a file no one will open again, and the -wal and -shm files
// left under the database's name are taken by the next connection to the
// new file as its own, which then reads the old database's pages over the
// new one's. So the pool asks whether the file moved:
//
//   - the writer, on every commit (a commit hook: one fstat and one stat,
//     about a microsecond, next to the 15 µs of a small write);
//     a commit to a moved file is turned into a rollback and fails with
//     ErrMoved;
//   - a reader, on one acquire of an idle reader in movedProbeEvery, which
//     costs the other acquires nothing (a mask of a counter already kept);
//   - the janitor, on each round, for a pool nobody uses.
//
// The first to see the move retires every connection to the old file: idle
// ones at once, leased ones on release. Before the old writer closes, its
// WAL and shared memory are removed from the database's name, so that new
// connections open the new file (or fail, if there is none) clean.

// movedProbeEvery is how many idle-reader acquires share one probe; a power
// of two. A probe is two stats, 3 to 7 µs here: at 64 it cost 2% of a point
// read through Read on one goroutine (BenchmarkPointRead), at 256 still
// 1.3% in a profile; at 1024, a few nanoseconds a read. The janitor's
// round bounds how late an idle pool notices.
const movedProbeEvery = 1024

// noteFile keeps the engine's handle of c's main database file, to ask it
// later whether its name still leads to it. An in-memory database has none.
func (c *conn) noteFile() {
	if f, err := c.raw.FileControl("main", sqlite3.FCNTL_FILE_POINTER); err == nil {
		c.file, _ = f.(vfs.File)
	}
}

// fileMoved reports whether c's database file is no longer the file at its
// name. A failure to tell (a permission error on the directory) counts as
// not moved: it says nothing about the file.
func fileMoved(f vfs.File) bool {
	moved, err := hasMoved(f)
	return err == nil && moved
}

// hasMoved asks f, or the first file it wraps that can tell (the engine
// wraps its files in a checksum layer that cannot), whether it moved.
func hasMoved(f vfs.File) (bool, error) {
	for f != nil {
		if m, ok := f.(vfs.FileHasMoved); ok {
			return m.HasMoved()
		}
		u, ok := f.(interface{ Unwrap() vfs.File })
		if !ok {
			break
		}
		f = u.Unwrap()
	}
	return false, nil
}

// movedError explains a move to the caller who ran into it.
func movedError(db string) error {
	return fmt.Errorf("%w: %q is no longer the file the pool opened (deleted, renamed or replaced); nothing was written to it; the pool reopens the file now at that name, if any: retry, or restore the file", ErrMoved, db)
}

// onCommit is the writer's commit hook, registered for its whole life: it
// turns a commit to a moved file into a rollback, then lets Subscribe's
// bookkeeping see the commit.
func (c *conn) onCommit() bool {
	if fileMoved(c.file) {
		c.movedErr = movedError(c.db)
		c.broken = c.movedErr // closed on release
		return false
	}
	if c.changes != nil && c.changes.armed && !c.changes.commit() {
		return false
	}
	c.ends.commits++
	return true
}

// onRollback is the writer's rollback hook, registered for its whole life:
// SQLite calls it when a transaction rolls back, a COMMIT that failed after
// the commit hook let it through included.
func (c *conn) onRollback() {
	c.ends.rollbacks++
	if c.changes != nil && c.changes.armed {
		c.changes.rollback()
	}
}

// probeMoved is an acquire's check of an idle reader it took: if the file
// moved, the reader is closed, the pool retires the others, and the caller
// gets ErrMoved.
func (p *pool) probeMoved(s *slots, c *conn) error {
	if !fileMoved(c.file) {
		return nil
	}
	err := movedError(p.t.name)
	p.retireMoved(c.gen)
	p.discard(s, c, false, reasonBroken, err)
	return err
}

// janitorProbeMoved lets the janitor notice a move in a pool no one uses:
// it asks the file of any idle connection.
func (p *pool) janitorProbeMoved() {
	p.mu.Lock()
	var f vfs.File
	var gen uint64
	for _, s := range []*slots{&p.writer, &p.readers} {
		if n := len(s.idle); n > 0 {
			f, gen = s.idle[n-1].file, s.idle[n-1].gen
			break
		}
	}
	p.mu.Unlock()
	// The connection may be leased meanwhile: asking its file is two
	// stats, safe from any goroutine.
	if fileMoved(f) {
		p.retireMoved(gen)
	}
}

// retireMoved closes the idle connections to a file that moved, once per
// move (gen is the generation of the connection that saw it), and makes
// release close the leased ones: the next demand opens the file now at the
// database's name.
func (p *pool) retireMoved(gen uint64) {
	type victim struct {
		s *slots
		c *conn
	}
	var victims []victim
	p.mu.Lock()
	if gen != p.gen {
		p.mu.Unlock()
		return // seen already
	}
	p.gen++
	if p.gate.cur == nil { // an Exclusive takes the idle ones; release retires them
		for _, s := range []*slots{&p.writer, &p.readers} {
			for _, c := range s.idle {
				victims = append(victims, victim{s, c})
			}
			s.inUse += len(s.idle) // counted until closed
			clear(s.idle)
			s.idle = s.idle[:0]
		}
	}
	p.mu.Unlock()
	if p.refile != nil {
		p.refile() // a link to the file now at the name finds the pool
	}
	for _, v := range victims {
		p.discard(v.s, v.c, false, reasonBroken, movedError(p.t.name))
	}
}

// dropStaleWAL runs before a writer whose file moved closes. Its WAL and
// shared memory are still under the database's name, where the next
// connection would take them for the new file's. It copies to the old file
// what it can (a passive checkpoint, which waits for no one), then removes
// them, if they are still the ones c has open.
func (c *conn) dropStaleWAL(path string) {
	c.uninterrupted(func() { c.raw.Exec("PRAGMA wal_checkpoint(PASSIVE)") })
	f, err := c.raw.FileControl("main", sqlite3.FCNTL_JOURNAL_POINTER)
	wal, _ := f.(vfs.File)
	if err != nil || wal == nil {
		return
	}
	if moved, err := hasMoved(wal); err != nil || moved {
		return // someone else's WAL now: not ours to remove
	}
	os.Remove(path + "-wal")
	os.Remove(path + "-shm")
}
