package sqlitepool

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"strings"

	"github.com/ncruces/go-sqlite3"
)

// How Backup copies: VACUUM INTO, run on a reader. It reads the whole
// database in one read transaction of its own, so the copy is the
// database as of one commit, however many commits the writer makes
// meanwhile, and in WAL mode a read transaction neither waits for the
// writer nor holds it back. The online backup API would copy the same
// pages, but it starts over whenever another connection writes between
// two of its steps: under steady writes it may never finish. VACUUM INTO
// cannot run inside a transaction (SQLite refuses it), so it runs on a
// reader of its own, never in the snapshot of a Read.

// BackupOption configures [Handle.Backup].
type BackupOption func(*backupConfig)

type backupConfig struct {
	overwrite bool
}

// BackupOverwrite lets [Handle.Backup] replace a file already at dst. The
// new copy takes its place in one rename: whoever opens dst meanwhile
// finds the old file or the new one, whole.
func BackupOverwrite() BackupOption {
	return func(c *backupConfig) { c.overwrite = true }
}

// Backup writes a copy of the database to the file dst: consistent (the
// database as of one commit), self-contained (one file in rollback-journal
// mode, which needs no -wal to be read) and compact (VACUUM INTO rebuilds
// it without free pages). It runs on a reader while writes go on: the
// writer is never held, and the copy holds what was committed when it
// began (not the uncommitted writes of a Write it is called in). It works
// on a pool opened [WithReadOnly] too.
//
// The copy is written to a temporary file in dst's directory, synced, and
// then moved to dst; if ctx ends first (the copy is interrupted) or
// anything fails, the temporary file is removed and nothing is left at
// dst. A process killed during a backup may leave the temporary file,
// named after dst with a ".backup-" infix. The copy gets the database
// file's permission bits ([WithFileMode] for an in-memory database).
//
// Backup refuses, with an error matching [fs.ErrExist], a dst that
// exists, unless [BackupOverwrite] is given; with [ErrInvalidName], a dst
// whose directory does not exist, a directory, or the database itself.
// It waits for a reader like [Handle.Read]; inside [Handle.Exclusive] it
// fails with [ErrReentrant] (back up after the section, or run VACUUM
// INTO on one of its connections).
func (h *Handle) Backup(ctx context.Context, dst string, opts ...BackupOption) (err error) {
	if h.closed.Load() {
		return h.errClosed()
	}
	var cfg backupConfig
	for _, opt := range opts {
		if opt != nil {
			opt(&cfg)
		}
	}
	p := h.p
	dst, err = p.backupTarget(dst, cfg.overwrite)
	if err != nil {
		return err
	}
	if err := p.checkReentry(leaseOf(ctx, p), &p.readers); err != nil {
		return err
	}
	mode := p.cfg.fileMode
	if fi, err := os.Stat(p.t.dsn); err == nil && !p.t.memory {
		mode = fi.Mode().Perm()
	}
	c, err := h.acquire(ctx, &p.readers)
	if err != nil {
		return err
	}
	tmp, err := createBackupFile(dst, mode)
	if err != nil {
		p.release(c)
		return p.backupError(dst, err)
	}
	placed := false
	defer func() {
		if !placed {
			os.Remove(tmp)
		}
	}()
	into := tmp
	if p.t.memory {
		// The output is attached through the connection's VFS: memdb's
		// would keep it in memory.
		u := url.URL{Scheme: "file", OmitHost: true, Path: filepath.ToSlash(tmp), RawQuery: "vfs=os"}
		if !strings.HasPrefix(u.Path, "/") { // a Windows drive letter
			u.Path = "/" + u.Path
		}
		into = u.String()
	}
	func() {
		defer p.release(c) // an engine panic goes on, the reader goes back
		err = c.vacuumInto(into)
	}()
	if err != nil {
		return p.backupError(dst, err)
	}
	if err := syncFile(tmp); err != nil {
		return p.backupError(dst, err)
	}
	// An end of ctx after the copy still counts: nothing is left at dst.
	if err := ctx.Err(); err != nil {
		return p.backupError(dst, err)
	}
	if cfg.overwrite {
		err = os.Rename(tmp, dst)
	} else {
		// A link fails if dst has appeared since it was checked: a rename
		// would replace it.
		err = os.Link(tmp, dst)
	}
	if err != nil {
		if errors.Is(err, fs.ErrExist) {
			return p.backupExists(dst)
		}
		return p.backupError(dst, err)
	}
	placed = true
	if !cfg.overwrite {
		os.Remove(tmp)
	}
	// The new name is durable once its directory is synced (on Unix:
	// Windows cannot open a directory to sync it, and needs no such step).
	if runtime.GOOS != "windows" {
		if err := syncFile(filepath.Dir(dst)); err != nil {
			return p.backupError(dst, err)
		}
	}
	return nil
}

// backupTarget checks dst before anything is copied, and returns it
// absolute.
func (p *pool) backupTarget(dst string, overwrite bool) (string, error) {
	bad := func(format string, args ...any) (string, error) {
		return "", fmt.Errorf("%w %q: Backup of %q: %s", ErrInvalidName, dst, p.t.name, fmt.Sprintf(format, args...))
	}
	if dst == "" {
		return bad("empty name; give the path of the file to write")
	}
	abs, err := filepath.Abs(dst)
	if err != nil {
		return bad("%v", err)
	}
	dir := filepath.Dir(abs)
	switch fi, err := os.Stat(dir); {
	case errors.Is(err, fs.ErrNotExist):
		return bad("directory %s does not exist; create it first", dir)
	case err != nil:
		return bad("%v", err)
	case !fi.IsDir():
		return bad("%s is not a directory", dir)
	}
	fi, err := os.Stat(abs)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return abs, nil
	case err != nil:
		return bad("%v", err)
	case fi.IsDir():
		return bad("%s is a directory; name a file inside it", abs)
	}
	if db, err := os.Stat(p.t.dsn); err == nil && !p.t.memory && os.SameFile(fi, db) {
		return bad("%s is the database itself; back it up to another file", abs)
	}
	if !overwrite {
		return "", p.backupExists(abs)
	}
	return abs, nil
}

func (p *pool) backupExists(dst string) error {
	return fmt.Errorf("sqlitepool: Backup of %q: %s exists; remove it, or pass BackupOverwrite() to replace it: %w", p.t.name, dst, fs.ErrExist)
}

func (p *pool) backupError(dst string, err error) error {
	return fmt.Errorf("sqlitepool: Backup of %q to %s: %w", p.t.name, dst, err)
}

// createBackupFile creates the empty temporary file that a backup to dst
// is written to, in dst's directory (a rename does not cross file
// systems), with mode exactly.
func createBackupFile(dst string, mode os.FileMode) (string, error) {
	f, err := os.CreateTemp(filepath.Dir(dst), "."+filepath.Base(dst)+".backup-*")
	if err != nil {
		return "", err
	}
	err = f.Chmod(mode)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(f.Name())
		return "", err
	}
	return f.Name(), nil
}

// vacuumInto writes the database into the empty file at path. A reader
// may attach nothing and write nothing (see configure), and VACUUM INTO
// attaches its output and writes it: both are lifted for this statement
// only. If they cannot be put back, the connection is closed on release.
func (c *conn) vacuumInto(path string) error {
	limit := c.raw.Limit(sqlite3.LIMIT_ATTACHED, 1)
	defer c.raw.Limit(sqlite3.LIMIT_ATTACHED, limit)
	if c.role == RoleReader {
		if err := c.raw.Exec("PRAGMA query_only=OFF"); err != nil {
			return c.wrap(err)
		}
		defer c.uninterrupted(func() {
			if err := c.raw.Exec("PRAGMA query_only=ON"); err != nil && c.broken == nil {
				c.broken = err
			}
		})
	}
	stmt, _, err := c.raw.Prepare("VACUUM INTO ?")
	if err != nil {
		return c.wrap(err)
	}
	defer stmt.Close()
	if err := stmt.BindText(1, path); err != nil {
		return c.wrap(err)
	}
	return c.wrap(stmt.Exec())
}

// syncFile flushes a file, or a directory's entries, to stable storage.
func syncFile(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	err = f.Sync()
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}
