package sqlitepool

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/ncruces/go-sqlite3"
	_ "github.com/ncruces/go-sqlite3/vfs/memdb" // ":memory:" pools share one memdb database
)

// This file is the one place that opens and closes physical connections, so
// that a later database/sql adapter can take them from another source.

// openConn opens a connection of the given role and configures it: the
// pool's pragmas, then the user's setup. On error nothing stays open.
func openConn(ctx context.Context, t *target, role Role, cfg *config, forced *atomic.Bool) (*conn, error) {
	// OpenContext is the engine's only open that takes a memory cap (a
	// context value), and it opens read-write: a reader's URI says mode=ro.
	octx := ctx
	if cfg.maxMemory > 0 {
		octx = sqlite3.WithMaxMemory(ctx, cfg.maxMemory)
	}
	raw, err := sqlite3.OpenContext(octx, engineDSN(t, role, cfg))
	if err != nil {
		// The engine's VFS does not fall back to read-only when it may not
		// write the file (or create it in its directory), as SQLite's unix
		// VFS does: it fails, and so the writer cannot write.
		if role == RoleWriter && errors.Is(err, fs.ErrPermission) {
			return nil, fmt.Errorf("%w: the writer cannot open %q for writing; check the permissions of the file and its directory, or open it WithReadOnly to read it only: %w", ErrReadOnly, t.name, err)
		}
		// The pool creates the file only when it creates the pool: a
		// connection opened later finds none if it was deleted meanwhile.
		if _, serr := os.Stat(t.dsn); !t.memory && errors.Is(serr, fs.ErrNotExist) {
			return nil, fmt.Errorf("%w: %q no longer exists; restore it, or close every handle and Open it again to create a new database: %w", ErrMoved, t.name, err)
		}
		return nil, fmt.Errorf("sqlitepool: open %s of %q: %w", role, t.name, err)
	}
	c := &conn{raw: raw, role: role, db: t.name, rawUsed: true, poolReadOnly: cfg.readOnly} // setup hooks may use Raw
	if !t.memory {
		c.noteFile()
	}
	c.cache.max = cfg.stmtCacheSize
	ok := false
	defer func() {
		if !ok { // an error, or a panic that goes on
			c.close()
		}
	}()
	// ctx bounds the set-up too (pragmas, the user's hook); the caller sets
	// the interrupt of the lease afterwards.
	if ctx.Done() != nil {
		raw.SetInterrupt(ctx)
	}
	// Wrap before clearing the interrupt: wrap adds the context's error to
	// an INTERRUPT only while the context is still set.
	err = c.wrap(c.configure(ctx, t, cfg))
	c.installInterrupter(forced)
	switch {
	case err == nil:
	case strings.HasPrefix(err.Error(), "sqlitepool: "):
		return nil, err // the pool's own, which names the database already
	default:
		return nil, fmt.Errorf("sqlitepool: set up %s of %q: %w", role, t.name, err)
	}
	ok = true
	return c, nil
}

// engineDSN is the URI the engine opens for role: read-only for readers;
// for the writer, read-write without creating the file (the pool creates
// it, see createFile: a file deleted under the pool is not silently made
// again, empty). modeof gives the -wal and -journal files the database
// file's mode and owner, as SQLite's unix VFS does: the engine would
// create them 0666 less the umask.
func engineDSN(t *target, role Role, cfg *config) string {
	var q []string
	if role == RoleReader {
		q = append(q, "mode=ro")
	}
	if t.memory {
		return strings.Join(append([]string{t.dsn}, q...), "&") // already a URI with a query
	}
	if role == RoleWriter {
		q = append(q, "mode=rw")
	}
	// SQLite decodes %XX in URI parameters, but not '+'.
	q = append(q, "modeof="+strings.ReplaceAll(url.QueryEscape(t.dsn), "+", "%20"))
	if cfg.vfs != "" {
		q = append(q, "vfs="+cfg.vfs)
	}
	u := url.URL{Scheme: "file", OmitHost: true, Path: filepath.ToSlash(t.dsn), RawQuery: strings.Join(q, "&")}
	if !strings.HasPrefix(u.Path, "/") { // a Windows drive letter
		u.Path = "/" + u.Path
	}
	return u.String()
}

func (c *conn) configure(ctx context.Context, t *target, cfg *config) error {
	// busy_timeout first: the pragmas below may meet a lock held by another
	// process, or by a connection that is recovering the WAL.
	if err := c.raw.BusyTimeout(cfg.busyTimeout); err != nil {
		return err
	}
	if err := c.harden(cfg); err != nil {
		return err
	}
	// The last connection to a file checkpoints the WAL as it closes, and
	// removes it: under WALExternal that is the replicator's to do, whose
	// WAL would vanish under it. Readers too, though opened read-only they
	// cannot checkpoint: whichever role closes last, none does.
	if cfg.walPolicy == WALExternal && !t.memory {
		if _, err := c.raw.Config(sqlite3.DBCONFIG_NO_CKPT_ON_CLOSE, true); err != nil {
			return err
		}
	}
	if c.role == RoleWriter {
		var err error
		if !t.memory {
			created := createShm(t.dsn)
			err = c.enableWAL(ctx, cfg.busyTimeout)
			if err != nil && created {
				os.Remove(t.dsn + "-shm") // the file is not ours to leave things next to
			}
		}
		// SQLite silently opens a write-protected file read-only, and a file
		// of a newer format read-only once it has read its header, which
		// enableWAL does; in a read-only directory, the switch to WAL fails.
		if ro, _ := c.raw.ReadOnly("main"); ro && err == nil {
			err = sqlite3.READONLY
		}
		if errors.Is(err, sqlite3.READONLY) {
			return fmt.Errorf("%w: the writer cannot write to %q; check the permissions of the file and its directory (or open it WithReadOnly to read it only), or whether a newer SQLite wrote it: %w", ErrReadOnly, t.name, err)
		}
		if err != nil {
			return err
		}
	}
	pragmas := "PRAGMA synchronous=" + cfg.synchronous + "; PRAGMA foreign_keys=" + onOff(cfg.foreignKeys) + ";"
	if cfg.cacheSize != 0 {
		pragmas += " PRAGMA cache_size=-" + strconv.Itoa(cfg.cacheSize) + ";" // negative: KiB
	}
	if cfg.readOnly && !t.memory {
		if err := c.checkReadable(t); err != nil {
			return err
		}
	}
	if c.role == RoleReader {
		// Opening read-only already forbids writes; query_only also refuses
		// them on the way in, before any lock is taken.
		pragmas += " PRAGMA query_only=ON;"
		// mode=ro covers the main database only: ATTACH (and VACUUM INTO,
		// which attaches its output) would create a missing file. No
		// attached database at all, checked before any file is opened. A
		// setup hook may raise the limit.
		c.raw.Limit(sqlite3.LIMIT_ATTACHED, 0)
	}
	if err := c.raw.Exec(pragmas); err != nil {
		return err
	}
	if cfg.setup != nil {
		return runSetup(ctx, c, cfg.setup)
	}
	return nil
}

// enableWAL sets journal_mode=WAL, retrying while the database is busy: the
// change can fail with SQLITE_BUSY without calling the busy handler while
// another connection is opening or recovering the file.
func (c *conn) enableWAL(ctx context.Context, busyTimeout time.Duration) error {
	deadline := time.Now().Add(busyTimeout)
	for delay := time.Millisecond; ; delay = min(2*delay, 50*time.Millisecond) {
		mode, err := c.pragma("PRAGMA journal_mode=WAL")
		if err == nil {
			if mode != "wal" {
				return fmt.Errorf("journal_mode=WAL left the database in mode %q", mode)
			}
			// Switched from a rollback journal, the connection opens the
			// WAL only at its next transaction. A writer closed before one
			// (every read went to readers) would leave the -wal and -shm
			// files the readers made behind: open it now.
			_, err = c.pragma("PRAGMA user_version")
			return err
		}
		if !errors.Is(err, sqlite3.BUSY) || time.Now().After(deadline) {
			return err
		}
		select {
		case <-time.After(delay):
		case <-ctx.Done():
			return fmt.Errorf("%w: %w", ctx.Err(), err)
		}
	}
}

// pragma runs a statement and returns the first column of its first row.
func (c *conn) pragma(sql string) (string, error) {
	stmt, _, err := c.raw.Prepare(sql)
	if err != nil {
		return "", err
	}
	defer stmt.Close()
	if stmt.Step() {
		return stmt.ColumnText(0), nil
	}
	return "", stmt.Err()
}

func runSetup(ctx context.Context, c *conn, fn SetupFunc) (err error) {
	defer func() {
		if v := recover(); v != nil {
			err = &PanicError{Value: v, Stack: debug.Stack()}
		}
	}()
	l := &Conn{conn: c, hold: &noTracker}
	defer l.endLease()
	return fn(ctx, l, c.role)
}

// close finalizes the statements the connection still has (the engine
// refuses to close a connection that has some) and closes it. An engine
// panic (it panics on out-of-memory and misuse) becomes an error: the
// callers are freeing slots and registry entries, which must happen anyway.
func (c *conn) close() (err error) {
	defer func() {
		if v := recover(); v != nil {
			err = fmt.Errorf("sqlitepool: close %s of %q: %w", c.role, c.db, &PanicError{Value: v, Stack: debug.Stack()})
		}
	}()
	defer c.giveRoom() // after the close, whatever it did
	c.untrack()
	for _, s := range slices.Collect(c.raw.Stmts()) {
		s.Close()
	}
	if err := c.raw.Close(); err != nil {
		return fmt.Errorf("sqlitepool: close %s of %q: %w", c.role, c.db, err)
	}
	return nil
}

// giveRoom gives back the room c held under the process-wide cap, once.
func (c *conn) giveRoom() {
	if p := c.owner; p != nil {
		c.owner = nil
		p.bud.put(p)
	}
}

func onOff(b bool) string {
	if b {
		return "ON"
	}
	return "OFF"
}
