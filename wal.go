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
	// half the limit; and it sets journal_size_limit to the limit. Beside
	// another process that keeps the WAL from starting over (a replicator
	// such as Litestream holds a read transaction), truncations fail: the
	// pool then tries them less and less often, and logs the cause once.
	// With Litestream, use [WALExternal].
	WALBounded WALPolicy = iota
	// WALSQLite leaves checkpoints to SQLite's automatic checkpoint: passive,
	// every 1000 pages, run by the committing write. Under continuous reads
	// the WAL can grow without bound.
	WALSQLite
	// WALExternal leaves every checkpoint to another process, a replicator
	// such as Litestream run beside the program: the pool never
	// checkpoints, not even when its last connection closes (the -wal file
	// stays, with its frames), sets wal_autocheckpoint=0 and leaves
	// journal_size_limit alone. With Litestream, use this policy: under
	// [WALBounded] the pool's truncations fight the replicator's read
	// transaction. The pool still counts the WAL's frames ([WALStats]
	// Frames and Restarts) and, with [WithLogger], says when writes go on
	// and the WAL has not started over for a long time: nothing
	// checkpoints it any more, and it grows without bound.
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
	frames    atomic.Int64  // in the WAL after the last commit (the WAL hook)
	appended  atomic.Uint64 // frames appended, summed over the commits
	nextAt    atomic.Int64  // frames at which the janitor is woken
	frameSize atomic.Int64  // page size + frame header
	restarts  atomic.Int64  // times the WAL started over from its beginning

	seenRestarts int64 // the janitor's own: restarts at its last round
	// The janitor's own: frames when its catch-up last left the WAL
	// wholly copied back, or -1 once a round found a commit made since.
	copied int64

	// The janitor's own, under WALExternal: when it last saw the WAL start
	// over, the restarts and frames appended then and at its last round,
	// and whether it said the WAL stalled since.
	stallSince    int64 // Unix ns
	stallRestarts int64
	stallLast     uint64
	stallLogged   bool

	// Guarded by pool.mu.
	checkpoints, busy uint64
	yielded           uint64 // passive checkpoints BUSY: another one ran
	reclaimed         int64
	// Truncations another process kept from finishing: none is tried
	// before retryAt (Unix ns, the configured clock), and the wait doubles
	// at each failure.
	retryAt      int64
	backoff      time.Duration
	othersLogged bool // the cause was logged
	// A passive checkpoint met another process's checkpoint: logged.
	yieldLogged bool
}

// configureWAL applies the policy to a new writer. Called while the
// connection is set up, before anyone uses it.
func (p *pool) configureWAL(c *conn) error {
	if p.t.memory {
		return nil
	}
	switch p.cfg.walPolicy {
	case WALExternal:
		if err := c.raw.WALAutoCheckpoint(0); err != nil {
			return err
		}
		// Installed after WALAutoCheckpoint, which would remove it: the
		// hook only counts, and checkpoints nothing.
		c.raw.WALHook(p.walHook)
		return nil
	case WALSQLite:
		// SQLite's automatic checkpoint is a WAL hook of its own: the
		// pool's would replace it.
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
	c.raw.WALHook(p.walHook)
	return nil
}

// walHook runs at each commit of the writer with the frames now in the
// WAL. Fewer than at the last commit: the WAL started over from its
// beginning (no reader was in it), after a checkpoint copied it back.
func (p *pool) walHook(_ *sqlite3.Conn, _ string, frames int) error {
	n := int64(frames)
	prev := p.wal.frames.Swap(n)
	if n >= prev {
		p.wal.appended.Add(uint64(n - prev))
		return nil
	}
	p.wal.appended.Add(uint64(n))
	p.wal.restarts.Add(1)
	if p.walBounded() { // count from the start again
		p.wal.nextAt.Store(p.nextCheckpointAt(n))
	}
	return nil
}

// walBounded reports whether the pool runs the checkpoints itself.
// walInUse is the size of the WAL's frames after the last commit: what a
// checkpoint has to deal with, whatever the file's own size.
func (p *pool) walInUse() int64 { return p.wal.frames.Load() * p.wal.frameSize.Load() }

func (p *pool) walBounded() bool {
	return p.cfg.walPolicy == WALBounded && !p.t.memory && !p.cfg.readOnly
}

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
	if size < p.cfg.walLimit || p.truncationsDeferred() {
		return
	}
	clear, done := p.holdCheckpointer(p.cfg.checkpointTimeout)
	defer done()
	alone := clear && p.readersIdle()
	busy, err := p.checkpoint(c, sqlite3.CHECKPOINT_TRUNCATE)
	p.countCheckpoint(sqlite3.CHECKPOINT_TRUNCATE, size, busy, alone, err)
}

// readersIdle reports whether no reader of the pool is leased: then none
// holds a snapshot, and whatever keeps a checkpoint from finishing is
// another process's (the writer that runs it holds none either).
func (p *pool) readersIdle() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.readers.inUse == 0
}

const (
	// Waits between truncations after another process kept one from
	// finishing: each try holds the writer for up to the checkpoint
	// timeout. Short at first, for a process that reads for a moment (a
	// backup, the sqlite3 shell); long for one that never lets go (a
	// replicator), so that it costs the writes next to nothing.
	minTruncateBackoff = time.Second
	maxTruncateBackoff = 5 * time.Minute
)

// truncationsDeferred reports whether truncations wait: another process
// kept the last one from finishing, and its back-off has not run out.
func (p *pool) truncationsDeferred() bool {
	p.mu.Lock()
	at := p.wal.retryAt
	p.mu.Unlock()
	return at != 0 && p.cfg.clock().UnixNano() < at
}

// deferTruncationsLocked starts or doubles the wait before the next
// truncation, and reports whether the cause is to be logged (the first
// time only).
func (p *pool) deferTruncationsLocked() (logIt bool) {
	w := &p.wal
	w.backoff = min(max(2*w.backoff, minTruncateBackoff), maxTruncateBackoff)
	w.retryAt = p.cfg.clock().Add(w.backoff).UnixNano()
	logIt = !w.othersLogged
	w.othersLogged = true
	return logIt
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

// externalStallAfter is how long writes may go on under WALExternal with
// the WAL never starting over before the pool logs it. A working
// replicator checkpoints within minutes of a burst of writes, and the next
// write after a checkpoint that copied everything starts the WAL over; a
// quarter of an hour without that means the replicator stopped
// checkpointing, or none runs.
const externalStallAfter = 15 * time.Minute

// watchExternalWAL runs on each round of the janitor under WALExternal: it
// logs, once until the WAL starts over again, that writes went on for
// externalStallAfter and the WAL did not start over.
func (p *pool) watchExternalWAL(now int64) {
	if p.cfg.walPolicy != WALExternal || p.t.memory || p.cfg.readOnly || p.cfg.logger == nil {
		return
	}
	w := &p.wal
	restarts, appended := w.restarts.Load(), w.appended.Load()
	wrote := appended != w.stallLast
	w.stallLast = appended
	if w.stallSince == 0 || restarts != w.stallRestarts {
		w.stallSince, w.stallRestarts, w.stallLogged = now, restarts, false
		return
	}
	// Writes since the last round: a pause in writes is no stall, as the
	// WAL starts over only at a write.
	if !wrote || w.stallLogged || now-w.stallSince < int64(externalStallAfter) {
		return
	}
	w.stallLogged = true
	p.log(slog.LevelWarn, "sqlitepool: writes go on and the WAL has not started over for a long time; under WALExternal only the replicator checkpoints it: has it stopped, or is none running?",
		slog.Duration("since", time.Duration(now-w.stallSince)), slog.Int64("wal_bytes", p.walSize()))
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
	case frames*p.wal.frameSize.Load() >= p.cfg.walLimit/2 && !restarting && !copiedBack && !p.truncationsDeferred():
		mode = sqlite3.CHECKPOINT_TRUNCATE
	case frames < p.wal.nextAt.Load():
		// Nothing new since the last pass (a tick, not a wake-up): a
		// WAL copied back but not started over since keeps its frames
		// count, and checkpointing it again would copy nothing.
		return
	}
	if mode == sqlite3.CHECKPOINT_TRUNCATE {
		p.truncate(ctx, size)
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
	p.countCheckpoint(mode, size, busy, false, err)
	if !done || err != nil || p.walInUse() < p.cfg.walLimit/8 {
		// The catch-up holds the writer while it syncs the WAL and the
		// database file, milliseconds that every insert waiting behind it
		// pays: only from an eighth of the limit in use, which kept the
		// insert p99 down under steady inserts (bench/README.md).
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
// alone says that no reader of the pool held a snapshot while it ran.
func (p *pool) countCheckpoint(mode sqlite3.CheckpointMode, size int64, busy, alone bool, err error) {
	frames := p.wal.frames.Load()
	after := p.walSize()
	others, logOthers, yielded, logYield := false, false, false, false
	p.mu.Lock()
	switch {
	case err != nil:
	case busy && mode == sqlite3.CHECKPOINT_PASSIVE:
		// A passive checkpoint does not wait for readers: SQLite makes it
		// BUSY only while another connection checkpoints, and the pool's
		// own (the catch-up on the janitor's goroutine, truncations that
		// hold the checkpointer back) never run beside it. Another process
		// checkpoints, which a replicator does.
		yielded = true
		p.wal.yielded++
		logYield = !p.wal.yieldLogged
		p.wal.yieldLogged = true
	case busy:
		p.wal.busy++
		// Nothing of the pool's was in the way: another process holds the
		// WAL, and may for good. Trying again at every release would make
		// each write wait out the checkpoint timeout.
		if others = alone && mode == sqlite3.CHECKPOINT_TRUNCATE; others {
			logOthers = p.deferTruncationsLocked()
		}
	default:
		p.wal.checkpoints++
		p.wal.reclaimed += max(0, size-after)
		if mode == sqlite3.CHECKPOINT_TRUNCATE {
			p.wal.retryAt, p.wal.backoff = 0, 0
		}
	}
	p.mu.Unlock()
	switch {
	case others:
		p.wal.nextAt.Store(p.wal.frames.Load() + max(1, p.checkpointStep()/8))
		if logOthers {
			p.log(slog.LevelWarn, "sqlitepool: another process holds the WAL, and no reader of the pool does: truncations are tried less often from now on; a replicator such as Litestream? use WALExternal",
				slog.Int64("wal_bytes", size))
		}
	case yielded:
		p.wal.nextAt.Store(p.wal.frames.Load() + max(1, p.checkpointStep()/8))
		if logYield {
			p.log(slog.LevelWarn, "sqlitepool: another process checkpoints the WAL, and the pool's checkpoints give way to it; a replicator such as Litestream? use WALExternal",
				slog.Int64("wal_bytes", size))
		}
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

// truncate runs a truncating checkpoint on the writer (truncating needs
// the write lock; PASSIVE ones run on the checkpointer) and counts it. It
// first tries to catch a moment when no lease is out, holding new leases
// back for at most a quarter of the checkpoint timeout, the way Exclusive
// does: with no reader in a snapshot, only another process can keep it
// from finishing. If leases stay out longer (a long read), it runs anyway
// and waits for those readers, up to the checkpoint timeout, while new
// readers go on.
//
// It counts the outcome before it gives the writer back: the writer's
// release, its own included, truncates at the limit unless a failure just
// deferred truncations.
func (p *pool) truncate(ctx context.Context, size int64) {
	const mode = sqlite3.CHECKPOINT_TRUNCATE
	count := func(busy, alone bool, err error) {
		if ctx.Err() == nil { // the pool closing interrupted it
			p.countCheckpoint(mode, size, busy, alone, err)
		}
	}
	xctx, cancel := context.WithTimeout(ctx, p.cfg.checkpointTimeout/4)
	x, xerr := p.acquireExclusive(xctx)
	cancel()
	if xerr == nil {
		defer p.endExclusive(x)
		if p.truncationsDeferred() {
			return
		}
		if x.writer == nil { // not open: nothing was written since
			count(false, true, nil)
			return
		}
		busy, err := p.checkpoint(x.writer, mode)
		count(busy, true, err)
		return
	}
	if errors.Is(xerr, ErrClosed) {
		return
	}
	c, err := p.acquire(ctx, &p.writer)
	if err != nil {
		if !errors.Is(err, ErrClosed) {
			count(false, false, err)
		}
		return
	}
	defer p.release(c)
	// A release may have tried, and failed, while this one waited.
	if p.truncationsDeferred() {
		return
	}
	clear, done := p.holdCheckpointer(p.cfg.checkpointTimeout)
	defer done()
	busy, err := p.checkpoint(c, mode)
	count(busy, clear && p.readersIdle(), err)
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
