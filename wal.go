package sqlitepool

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/ncruces/go-sqlite3"
)

// Why the pool checkpoints itself: SQLite's automatic checkpoint (PASSIVE,
// every 1000 pages) copies pages back into the database but cannot rewind
// the WAL while any reader holds a snapshot in it, and a busy pool almost
// always has a reader. The WAL then grows without bound (checkpoint
// starvation). The pool sees the WAL grow (a WAL hook counts the frames at
// each commit) and, past a limit, runs a TRUNCATE checkpoint from its
// janitor: it waits, up to a bound, for the readers of old snapshots to
// finish (a reader that starts meanwhile reads the database file, not the
// WAL, and does not hold it back), then empties the file.

// WALPolicy says who checkpoints the WAL of a pool's database.
type WALPolicy uint8

const (
	// WALBounded (the default) keeps the -wal file under the limit of
	// [WithWALLimit]: the pool runs SQLite's passive checkpoint every 1000
	// pages from its background janitor, on a connection of its own so that
	// writes go on meanwhile; from an eighth of the limit in use, a short
	// catch-up checkpoint on the writer lets the WAL start over; if readers
	// keep it from starting over, a TRUNCATE checkpoint (on the writer) from
	// half the limit; and it sets journal_size_limit to the limit.
	WALBounded WALPolicy = iota
	// WALSQLite leaves checkpoints to SQLite's automatic checkpoint: passive,
	// every 1000 pages, run by the committing write. Under continuous reads
	// the WAL can grow without bound.
	WALSQLite
	// WALExternal turns automatic checkpoints off, for a tool that manages
	// them itself (Litestream, for example): the pool never checkpoints. SQLite
	// still checkpoints when the last connection to the file closes; such a
	// tool keeps a connection of its own open.
	WALExternal
)

// MarshalText writes the policy's name, for Stats in JSON (expvar).
func (w WALPolicy) MarshalText() ([]byte, error) { return []byte(w.String()), nil }

// UnmarshalText reads a name written by MarshalText.
func (w *WALPolicy) UnmarshalText(b []byte) error {
	for _, p := range []WALPolicy{WALBounded, WALSQLite, WALExternal} {
		if p.String() == string(b) {
			*w = p
			return nil
		}
	}
	return fmt.Errorf("sqlitepool: unknown WAL policy %q", b)
}

// String returns the policy's name, as MarshalText does.
func (w WALPolicy) String() string {
	switch w {
	case WALBounded:
		return "bounded"
	case WALSQLite:
		return "sqlite"
	case WALExternal:
		return "external"
	}
	return "WALPolicy(" + strconv.Itoa(int(w)) + ")"
}

const (
	// DefaultWALLimit is the -wal file size past which a [WALBounded] pool
	// truncates it.
	DefaultWALLimit = 64 << 20
	// DefaultCheckpointTimeout bounds how long a [WALBounded] checkpoint
	// waits for readers, holding the writer.
	DefaultCheckpointTimeout = 200 * time.Millisecond

	minWALLimit  = 64 << 10
	passivePages = 1000 // SQLite's own autocheckpoint interval
)

// WithWALPolicy selects who checkpoints the WAL; see [WALPolicy]. The
// default is [WALBounded]. In-memory databases have no WAL, and ignore it.
func WithWALPolicy(w WALPolicy) Option {
	return func(c *config) error {
		if w > WALExternal {
			return fmt.Errorf("WithWALPolicy(%v): want WALBounded, WALSQLite or WALExternal", w)
		}
		c.walPolicy = w
		return nil
	}
}

// WithWALLimit sets the -wal file size, in bytes, that a [WALBounded] pool
// keeps the file under (it truncates it from half that size in use), and its
// journal_size_limit. At least 64 KiB; the default
// is [DefaultWALLimit].
func WithWALLimit(bytes int64) Option {
	return func(c *config) error {
		if bytes < minWALLimit {
			return fmt.Errorf("WithWALLimit(%d): want at least %d bytes", bytes, minWALLimit)
		}
		c.walLimit = bytes
		return nil
	}
}

// WithCheckpointTimeout bounds how long a [WALBounded] truncating
// checkpoint waits for readers of old snapshots, holding the writer; a
// checkpoint that runs out of time is counted in Stats and tried again.
// From 1ms to 10s; the default is [DefaultCheckpointTimeout].
func WithCheckpointTimeout(d time.Duration) Option {
	return func(c *config) error {
		if d < time.Millisecond || d > 10*time.Second {
			return fmt.Errorf("WithCheckpointTimeout(%v): want 1ms to 10s", d)
		}
		c.checkpointTimeout = d
		return nil
	}
}

// walState is what the pool knows of its WAL.
type walState struct {
	frames    atomic.Int64 // in the WAL after the last commit (the WAL hook)
	nextAt    atomic.Int64 // frames at which the janitor is woken
	frameSize atomic.Int64 // page size + frame header
	restarts  atomic.Int64 // times the WAL started over from its beginning

	seenRestarts int64 // the janitor's own: restarts at its last round
	// The janitor's own: frames when its catch-up last left the WAL
	// wholly copied back, or -1 once a round found a commit made since.
	copied int64

	// Guarded by pool.mu.
	checkpoints, busy uint64
	reclaimed         int64
}

// configureWAL applies the policy to a new writer. Called while the
// connection is set up, before anyone uses it.
func (p *pool) configureWAL(c *conn) error {
	if p.t.memory {
		return nil
	}
	switch p.cfg.walPolicy {
	case WALExternal:
		return c.raw.WALAutoCheckpoint(0)
	case WALSQLite:
		return nil
	}
	var pageSize int64
	stmt, _, err := c.raw.Prepare("PRAGMA page_size")
	if err != nil {
		return err
	}
	if stmt.Step() {
		pageSize = stmt.ColumnInt64(0)
	}
	if err := stmt.Close(); err != nil {
		return err
	}
	p.wal.frameSize.Store(pageSize + 24)
	p.wal.nextAt.Store(p.nextCheckpointAt(0))
	if err := c.raw.Exec("PRAGMA journal_size_limit=" + strconv.FormatInt(p.cfg.walLimit, 10)); err != nil {
		return err
	}
	// The hook replaces SQLite's automatic checkpoint: the janitor runs it.
	c.raw.WALHook(func(_ *sqlite3.Conn, _ string, frames int) error {
		if prev := p.wal.frames.Swap(int64(frames)); int64(frames) < prev {
			// The writer rewound the WAL (no reader was in it): count
			// from the start again.
			p.wal.restarts.Add(1)
			p.wal.nextAt.Store(p.nextCheckpointAt(int64(frames)))
		}
		return nil
	})
	return nil
}

// walBounded reports whether the pool runs the checkpoints itself.
// walInUse is the size of the WAL's frames after the last commit: what a
// checkpoint has to deal with, whatever the file's own size.
func (p *pool) walInUse() int64 { return p.wal.frames.Load() * p.wal.frameSize.Load() }

func (p *pool) walBounded() bool { return p.cfg.walPolicy == WALBounded && !p.t.memory }

// nextCheckpointAt is the frame count at which to look at the WAL again,
// from the frames it has now.
func (p *pool) nextCheckpointAt(frames int64) int64 { return frames + p.checkpointStep() }

// checkpointStep is how many frames the WAL grows between two looks at it:
// SQLite's interval, or a sixteenth of the limit if that is smaller.
func (p *pool) checkpointStep() int64 {
	step := int64(passivePages)
	if fs := p.wal.frameSize.Load(); fs > 0 {
		step = min(step, max(1, p.cfg.walLimit/fs/16))
	}
	return step
}

// walHardLimit runs on the writer's release, before it goes back: if the
// WAL reached the limit (the janitor fell behind), the releasing caller
// truncates it, waiting for readers up to the checkpoint timeout. Two
// atomic loads when it has not.
func (p *pool) walHardLimit(c *conn) {
	if !p.walBounded() {
		return
	}
	if p.walInUse() < p.cfg.walLimit {
		return
	}
	size := p.walSize()
	if size < p.cfg.walLimit {
		return
	}
	p.awaitCheckpointer(p.cfg.checkpointTimeout)
	busy, err := p.checkpoint(c, sqlite3.CHECKPOINT_TRUNCATE)
	p.countCheckpoint(sqlite3.CHECKPOINT_TRUNCATE, size, busy, err)
}

// walAfterRelease wakes the janitor when the WAL has grown enough to look
// at: two atomic loads on the writer's release.
func (p *pool) walAfterRelease() {
	if !p.walBounded() {
		return
	}
	if p.wal.frames.Load() >= p.wal.nextAt.Load() {
		select {
		case p.janitor.wake <- struct{}{}:
		default: // already woken
		}
	}
}

func (p *pool) walPath() string { return p.t.key + "-wal" }

func (p *pool) walSize() int64 {
	if p.t.memory {
		return 0
	}
	fi, err := os.Stat(p.walPath())
	if err != nil {
		return 0
	}
	return fi.Size()
}

// checkpointIfDue runs the checkpoint the WAL needs, if any: PASSIVE on
// the checkpointer, beside the writer; TRUNCATE on the writer, taken in
// turn like any lease.
func (p *pool) checkpointIfDue(ctx context.Context) {
	if !p.walBounded() {
		return
	}
	frames := p.wal.frames.Load()
	size := p.walSize()
	restarts := p.wal.restarts.Load()
	restarting := restarts != p.wal.seenRestarts
	p.wal.seenRestarts = restarts
	// No commit since the catch-up copied the WAL back: the next one starts
	// it over, unless a reader holds it (then it appends, and the count
	// moves). Until then the frames counted are none in use.
	copiedBack := frames == p.wal.copied
	if !copiedBack {
		p.wal.copied = -1
	}
	mode := sqlite3.CHECKPOINT_PASSIVE
	switch {
	// From half the limit in use, unless the WAL started over since the
	// last round: then the passive checkpoints and catch-ups keep up, and
	// holding every lease back to truncate would only stall a heavy write
	// load. Otherwise readers keep it from starting over: truncate, from
	// half so that the writer goes on while the janitor waits for the
	// readers, and the file stays under the limit (the writer's release
	// truncates at the limit itself). In use, not the file's size: a WAL
	// that starts over keeps its size (journal_size_limit cuts it to the
	// limit).
	case frames*p.wal.frameSize.Load() >= p.cfg.walLimit/2 && !restarting && !copiedBack:
		mode = sqlite3.CHECKPOINT_TRUNCATE
	case frames < p.wal.nextAt.Load():
		// Nothing new since the last pass (a tick, not a wake-up): a
		// WAL copied back but not started over since keeps its frames
		// count, and checkpointing it again would copy nothing.
		return
	}
	if mode == sqlite3.CHECKPOINT_TRUNCATE {
		busy, err := p.runCheckpoint(ctx, mode)
		if errors.Is(err, ErrClosed) || ctx.Err() != nil {
			return
		}
		p.countCheckpoint(mode, size, busy, err)
		return
	}
	skipped, done, busy, err := p.passiveCheckpoint(ctx)
	if skipped { // an Exclusive section: look again a little later
		p.wal.nextAt.Store(frames + max(1, p.checkpointStep()/8))
		return
	}
	if ctx.Err() != nil {
		return
	}
	p.countCheckpoint(mode, size, busy, err)
	if !done || err != nil || p.walInUse() < p.cfg.walLimit/8 {
		// The catch-up holds the writer while it syncs the WAL and the
		// database file (7 ms at the median on this project's machine):
		// only from an eighth of the limit in use. Measured with 8
		// goroutines inserting without pause, a catch-up every 1000 pages
		// made the p99 of an insert 11.5 ms; from an eighth, 4.3 ms.
		return
	}
	if p.wal.frames.Load() != frames {
		// Writes went on meanwhile: a second pass copies them, still
		// beside the writer, so that the catch-up on the writer finds
		// little left to copy.
		_, done, _, err = p.passiveCheckpoint(ctx)
	}
	if done && err == nil {
		p.catchUp(ctx)
	}
}

// countCheckpoint records a checkpoint's outcome and when to look again.
func (p *pool) countCheckpoint(mode sqlite3.CheckpointMode, size int64, busy bool, err error) {
	frames := p.wal.frames.Load()
	after := p.walSize()
	p.mu.Lock()
	switch {
	case err != nil:
	case busy:
		p.wal.busy++
	default:
		p.wal.checkpoints++
		p.wal.reclaimed += max(0, size-after)
	}
	p.mu.Unlock()
	switch {
	case err != nil || busy:
		// Retry soon: the readers in the way hold short snapshots, or the
		// janitor's next round tries again.
		p.wal.nextAt.Store(p.wal.frames.Load() + max(1, p.checkpointStep()/8))
		p.log(slog.LevelWarn, "sqlitepool: checkpoint could not finish in time; readers hold old snapshots",
			slog.String("mode", checkpointModeName(mode)), slog.Any("error", err),
			slog.Int64("wal_bytes", size))
	case mode == sqlite3.CHECKPOINT_TRUNCATE:
		p.wal.frames.Store(0)
		p.wal.nextAt.Store(p.nextCheckpointAt(0))
	default:
		p.wal.nextAt.Store(p.nextCheckpointAt(frames))
	}
}

// runCheckpoint runs a truncating checkpoint on the writer (truncating
// needs the write lock; PASSIVE ones run on the checkpointer). It first
// tries to catch a moment when no lease is out, holding new leases back
// for at most a quarter of the checkpoint timeout, the way Exclusive does:
// with no reader in a snapshot it cannot be kept from finishing. If leases
// stay out longer (a long read), it runs anyway and waits for those
// readers, up to the checkpoint timeout, while new readers go on.
func (p *pool) runCheckpoint(ctx context.Context, mode sqlite3.CheckpointMode) (busy bool, err error) {
	if mode == sqlite3.CHECKPOINT_TRUNCATE {
		xctx, cancel := context.WithTimeout(ctx, p.cfg.checkpointTimeout/4)
		x, xerr := p.acquireExclusive(xctx)
		cancel()
		if xerr == nil {
			defer p.endExclusive(x)
			if x.writer != nil { // else not open: nothing was written since
				return p.checkpoint(x.writer, mode)
			}
			return false, nil
		}
		if errors.Is(xerr, ErrClosed) {
			return false, xerr
		}
	}
	c, err := p.acquire(ctx, &p.writer)
	if err != nil {
		return false, err
	}
	defer p.release(c)
	return p.checkpoint(c, mode)
}

// checkpoint runs one checkpoint with the busy wait bounded by the
// checkpoint timeout, and reports whether readers kept it from finishing.
func (p *pool) checkpoint(c *conn, mode sqlite3.CheckpointMode) (busy bool, err error) {
	if mode != sqlite3.CHECKPOINT_PASSIVE {
		if err := c.raw.BusyTimeout(p.cfg.checkpointTimeout); err != nil {
			return false, err
		}
		defer c.raw.BusyTimeout(p.cfg.busyTimeout)
	}
	_, _, err = c.raw.WALCheckpoint("main", mode)
	if errors.Is(err, sqlite3.BUSY) {
		return true, nil
	}
	if err != nil {
		c.noteBroken(err)
	}
	return false, err
}

func checkpointModeName(m sqlite3.CheckpointMode) string {
	switch m {
	case sqlite3.CHECKPOINT_PASSIVE:
		return "passive"
	case sqlite3.CHECKPOINT_TRUNCATE:
		return "truncate"
	}
	return strconv.Itoa(int(m))
}
