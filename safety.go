package sqlitepool

import (
	"errors"
	"fmt"
	"io/fs"
	"os"

	"github.com/ncruces/go-sqlite3"
)

// The safe defaults: what a database file, or SQL that reaches the pool,
// may do to the process and to the file.

// DefaultFileMode is the mode of a database file the pool creates, unless
// [WithFileMode] says otherwise: readable and writable by its owner only.
const DefaultFileMode os.FileMode = 0o600

// harden sets SQLite's defences on a new connection, before any of the
// pool's statements or the user's run on it.
//
// Defensive mode refuses what only corrupts a database: writes to the
// schema table through PRAGMA writable_schema, writes to shadow tables and
// sqlite_dbpage, turning the journal off. trusted_schema=OFF stops the
// schema of a database file (a view, a trigger, a default or a generated
// column) from calling functions not marked innocuous, so that opening a
// file someone else made cannot run the application's own SQL functions.
// This engine's build already has trusted_schema off; setting it states
// the pool's default whatever the build.
func (c *conn) harden(cfg *config) error {
	if _, err := c.raw.Config(sqlite3.DBCONFIG_DEFENSIVE, cfg.defensive); err != nil {
		return fmt.Errorf("defensive mode: %w", err)
	}
	if _, err := c.raw.Config(sqlite3.DBCONFIG_TRUSTED_SCHEMA, cfg.trustedSchema); err != nil {
		return fmt.Errorf("trusted_schema: %w", err)
	}
	return nil
}

// createFile creates the database file of a new pool if it does not exist
// yet, with the configured mode exactly (the umask does not apply: the mode
// was asked for). The engine would create it 0666 less the umask, often
// readable by everyone. An empty file is a valid, empty database.
func createFile(t *target, mode os.FileMode) error {
	f, err := os.OpenFile(t.dsn, os.O_RDWR|os.O_CREATE|os.O_EXCL, mode)
	switch {
	case errors.Is(err, fs.ErrExist):
		return nil // an existing database keeps its mode
	case errors.Is(err, fs.ErrPermission):
		return fmt.Errorf("%w: the writer cannot create %q; check the permissions of its directory: %w", ErrReadOnly, t.name, err)
	case err != nil:
		return fmt.Errorf("sqlitepool: create %q: %w", t.name, err)
	}
	err = f.Chmod(mode)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(t.dsn)
		return fmt.Errorf("sqlitepool: create %q: %w", t.name, err)
	}
	return nil
}

// createShm creates the -shm file of a database about to switch to WAL,
// with the database file's mode, if it does not exist yet; it reports
// whether it did. The engine creates it 0666 less the umask and, unlike
// SQLite's unix VFS and unlike the -wal file (see engineDSN), does not give
// it the database's mode. It is created empty: SQLite initializes an empty
// or stale -shm that no connection holds. Errors are left for the engine,
// which meets them again and reports them.
func createShm(db string) bool {
	fi, err := os.Stat(db)
	if err != nil {
		return false
	}
	mode := fi.Mode().Perm()
	f, err := os.OpenFile(db+"-shm", os.O_RDWR|os.O_CREATE|os.O_EXCL, mode)
	if err != nil {
		return false
	}
	f.Chmod(mode) // past the umask, as SQLite's unix VFS does
	f.Close()
	return true
}

// WithFileMode sets the permission bits of a database file the pool
// creates (an existing file keeps its own), exactly, whatever the umask.
// Its -wal and -shm files get the database file's mode. The default is
// [DefaultFileMode], 0600. mode must hold permission bits only, and let
// the owner read and write.
func WithFileMode(mode os.FileMode) Option {
	return func(c *config) error {
		if mode&^fs.ModePerm != 0 || mode&0o600 != 0o600 {
			return fmt.Errorf("WithFileMode(%#o): want permission bits only (at most 0777), with owner read and write (0600)", uint32(mode))
		}
		c.fileMode = mode
		return nil
	}
}

// WithDefensive sets SQLite's defensive mode (SQLITE_DBCONFIG_DEFENSIVE) on
// every connection. It is on by default: it refuses statements that can
// only corrupt a database, such as writing to sqlite_schema with PRAGMA
// writable_schema. Turn it off only for tools that repair databases that
// way.
func WithDefensive(on bool) Option {
	return func(c *config) error {
		c.defensive = on
		return nil
	}
}

// WithTrustedSchema sets PRAGMA trusted_schema on every connection. It is
// off by default: views, triggers, defaults and generated columns of the
// schema may call only functions marked innocuous (SQLite's built-ins that
// have no side effects, and functions registered with
// [sqlite3.INNOCUOUS]), so a database file made by someone else cannot call
// the application's functions. Turn it on only for database files the
// application alone writes, whose schema uses such functions.
func WithTrustedSchema(on bool) Option {
	return func(c *config) error {
		c.trustedSchema = on
		return nil
	}
}
