package sqlitepool

import (
	"errors"
	"fmt"
	"os"

	"github.com/ncruces/go-sqlite3"
)

// A read-only pool has readers and no writer: for a database another
// process writes, a file or directory this process may not write, or a
// dataset that must not change. Its writer slots have room for none, so
// every path that takes the writer fails in pool.acquire, in one place.

// WithReadOnly makes a pool of readers only. It opens no writer, never
// switches the journal mode, never creates the database file (a missing
// one is refused with [ErrInvalidName]) and writes nothing to it: its
// connections are opened with SQLITE_OPEN_READONLY, and its janitor runs
// no checkpoint and no PRAGMA optimize, so the WAL options have no effect.
// [Handle.Write], [Handle.Writer], [Handle.Exec], [Handle.ExecResult],
// [Handle.Exclusive] and [Handle.Subscribe] fail with an error matching
// [ErrReadOnly]; the [InitFunc] runs on a reader, where it can check the
// schema (PRAGMA user_version) but not change it.
//
// Each [Handle.Read] and each one-shot query ([Handle.QueryRow],
// [Handle.Query]) starts a read transaction of its own, and so sees the
// newest commit of the process that writes the database.
//
// To read a database in WAL mode beside its writer, SQLite needs the
// database's -wal and -shm files: a reader creates them when they are
// missing and the directory lets it, and leaves them (only a connection
// that can write removes them). The engine opens the -wal for writing even
// to read it: when the process can neither write those files nor create
// them, Open fails with [ErrReadOnly]. A database with a rollback journal
// (journal_mode=DELETE) needs nothing beside its file.
//
// A pool is shared by every Open of the database in the process, and
// WithReadOnly is part of its configuration: an Open WithReadOnly of a
// database whose read-write pool is open fails with [ErrOptionsConflict]
// (open it without options to share that pool, and read through it), and
// an Open without options of a database whose read-only pool is open
// shares that pool, whose writes fail with ErrReadOnly. In-memory
// databases refuse the option: nothing could ever write them.
func WithReadOnly() Option {
	return func(c *config) error {
		c.readOnly = true
		return nil
	}
}

// readOnlyError is the error of a write asked of a read-only pool.
func (p *pool) readOnlyError() error {
	return fmt.Errorf("%w: the pool of %q was opened WithReadOnly and has no writer; write through a pool opened without it (in the process that writes the database, or here once every handle of this one is closed)", ErrReadOnly, p.t.name)
}

// initSlots are the connections an init runs on: the writer, or a reader
// in a read-only pool.
func (p *pool) initSlots() *slots {
	if p.cfg.readOnly {
		return &p.readers
	}
	return &p.writer
}

// checkReadable reads the schema cookie of a new reader of a read-only
// pool, so that a database it cannot read fails Open, or the reader's
// open, with the reason: SQLite opens the file without reading it.
func (c *conn) checkReadable(t *target) error {
	_, err := c.pragma("PRAGMA schema_version")
	if (errors.Is(err, sqlite3.READONLY) || errors.Is(err, sqlite3.CANTOPEN)) && inWALMode(t.dsn) {
		return fmt.Errorf("%w: %q is in WAL mode, and this process can neither open its -wal and -shm files for writing nor create them in its directory; the engine needs them to read it: let the process write them (and the directory, when they are missing), or switch the database to a rollback journal (PRAGMA journal_mode=DELETE) where it is written: %w", ErrReadOnly, t.name, err)
	}
	return err
}

// inWALMode reports whether the header of the database file at path says
// WAL (its read and write versions are 2).
func inWALMode(path string) bool {
	f, err := os.Open(path)
	if err != nil {
		return false
	}
	defer f.Close()
	var v [2]byte
	_, err = f.ReadAt(v[:], 18)
	return err == nil && v == [2]byte{2, 2}
}

// checkReadOnly refuses, before anything is opened, what a read-only pool
// cannot serve: a database in memory, which nothing could ever write, and
// a missing file, which it would have to create.
func checkReadOnly(t target, cfg config) error {
	switch {
	case !cfg.readOnly:
		return nil
	case t.memory:
		return fmt.Errorf("%w for %q: WithReadOnly on an in-memory database, which nothing could ever write; open it without WithReadOnly", ErrInvalidOption, t.name)
	case t.info == nil:
		return fmt.Errorf("%w %q: the file does not exist, and a pool opened WithReadOnly creates nothing; check the path, or create the database first", ErrInvalidName, t.name)
	}
	return nil
}
