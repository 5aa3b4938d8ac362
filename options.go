package sqlitepool

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"os"
	"runtime"
	"strings"
	"time"
)

// An Option configures the pool created by [Open]. Options configure the
// pool on the Open that creates it; a later Open of the same database whose
// options differ from the pool's fails with [ErrOptionsConflict] (see
// [OpenContext]).
type Option func(*config) error

// InitFunc prepares a database (schema, migrations, data) on the writer,
// before the Open that brings it returns. In a pool opened [WithReadOnly],
// it runs on a reader, and can only check the database. It runs outside any transaction;
// whatever it leaves uncommitted is rolled back.
//
// Each distinct init runs once per pool: the creating Open's before any
// caller gets a handle, and another package's, given to a later Open of the
// same database, when that Open first brings it (see [OpenContext]), so
// packages sharing a database can each set up their own tables. Two inits
// are the same when they are the same function value: one top-level
// function, or one closure value passed again. A closure made anew for each
// Open (a function literal that captures variables, a method value) is a
// new init each time and runs on each such Open. Since a pool is created
// again after its last Close, and at every start of the process, an init
// must expect to find its work done already (CREATE TABLE IF NOT EXISTS,
// PRAGMA user_version).
type InitFunc func(ctx context.Context, c *Conn) error

// SetupFunc configures every new connection of a pool, the writer and each
// reader, replacements included, after the pool's own pragmas. Put your own
// pragmas, functions and collations here: a setting made on one pooled
// connection does not reach the others.
type SetupFunc func(ctx context.Context, c *Conn, role Role) error

const (
	// MaxReaders bounds [WithReaders]: each connection is a WASM instance
	// that reserves address space, and past a few times the core count more
	// readers only add memory.
	MaxReaders = 256

	defaultBusyTimeout = 5 * time.Second
)

// config is the pool's configuration, fixed when the pool is created.
type config struct {
	readers        int
	busyTimeout    time.Duration
	acquireTimeout time.Duration
	synchronous    string
	foreignKeys    bool
	setup          SetupFunc
	stmtCacheSize  int

	// Lifecycle (options_lifecycle.go).
	minReaders   int
	idleTimeout  time.Duration
	maxLifetime  time.Duration
	parkAfter    time.Duration
	janitorEvery time.Duration    // how often the janitor runs; derived, tests set it
	clock        func() time.Time // time.Now; tests set a fake one

	// WAL, optimize, memory, observability.
	walPolicy         WALPolicy
	walLimit          int64
	checkpointTimeout time.Duration
	optimizeEvery     time.Duration
	maxMemory         int64 // bytes; 0: the engine's default
	cacheSize         int   // KiB; 0: SQLite's default
	logger            *slog.Logger
	slowAcquire       time.Duration

	// Safe defaults (safety.go).
	defensive     bool
	trustedSchema bool
	fileMode      os.FileMode

	readOnly bool // readers only (readonly.go)

	vfs string // tests only: open files through this VFS (fault injection)
}

func defaultConfig() config {
	return config{
		readers:       defaultReaders(),
		busyTimeout:   defaultBusyTimeout,
		synchronous:   "NORMAL",
		foreignKeys:   true,
		stmtCacheSize: DefaultStmtCacheSize,
		idleTimeout:   DefaultIdleTimeout,
		maxLifetime:   DefaultMaxLifetime,
		parkAfter:     DefaultParkAfter,
		clock:         time.Now,

		walLimit:          DefaultWALLimit,
		checkpointTimeout: DefaultCheckpointTimeout,
		optimizeEvery:     DefaultOptimizeInterval,

		defensive: true,
		fileMode:  DefaultFileMode,
	}
}

// defaultReaders is one reader per core the Go scheduler uses, at least 2:
// SQLite on this engine is CPU-bound, so more readers than cores only queue
// on the scheduler instead of on the pool.
func defaultReaders() int {
	return max(2, runtime.GOMAXPROCS(0))
}

// newConfig applies opts to the defaults. Errors name the database and the
// option so the caller knows what to change.
func newConfig(name string, opts []Option) (config, error) {
	cfg := defaultConfig()
	for _, opt := range opts {
		if opt == nil {
			continue
		}
		if err := opt(&cfg); err != nil {
			return config{}, fmt.Errorf("%w for %q: %w", ErrInvalidOption, name, err)
		}
	}
	if cfg.minReaders > cfg.readers {
		return config{}, fmt.Errorf("%w for %q: WithMinReaders(%d) is more than the %d readers of WithReaders", ErrInvalidOption, name, cfg.minReaders, cfg.readers)
	}
	if cfg.janitorEvery == 0 {
		cfg.janitorEvery = janitorInterval(cfg.idleTimeout, cfg.maxLifetime, cfg.parkAfter)
	}
	return cfg, nil
}

// WithReaders sets how many read-only connections the pool may open, from 1
// to [MaxReaders]. Readers are opened on demand. The default is GOMAXPROCS,
// at least 2.
func WithReaders(n int) Option {
	return func(c *config) error {
		if n < 1 || n > MaxReaders {
			return fmt.Errorf("WithReaders(%d): want 1 to %d readers", n, MaxReaders)
		}
		c.readers = n
		return nil
	}
}

// WithBusyTimeout sets SQLite's busy_timeout on every connection: how long a
// statement waits for a lock held by another process (or by a checkpoint)
// before it fails with SQLITE_BUSY. Inside one process the pool queues
// writers itself. The default is 5s; 0 fails at once.
func WithBusyTimeout(d time.Duration) Option {
	return func(c *config) error {
		if d < 0 || d > math.MaxInt32*time.Millisecond {
			return fmt.Errorf("WithBusyTimeout(%v): want 0 to %v", d, math.MaxInt32*time.Millisecond)
		}
		c.busyTimeout = d
		return nil
	}
}

// WithAcquireTimeout bounds how long Reader, Writer, Read, Write and
// Exclusive wait for connections when their context has no deadline. Such a
// timeout returns an error matching both [ErrAcquireTimeout] and
// [context.DeadlineExceeded]. The default, 0, waits as long as the context
// allows.
func WithAcquireTimeout(d time.Duration) Option {
	return func(c *config) error {
		if d < 0 {
			return fmt.Errorf("WithAcquireTimeout(%v): want 0 (none) or more", d)
		}
		c.acquireTimeout = d
		return nil
	}
}

// WithSynchronous sets PRAGMA synchronous on every connection: "OFF",
// "NORMAL" (the default: in WAL mode a commit survives a crash of the
// process, and only a power loss may roll back the last transactions),
// "FULL" or "EXTRA".
func WithSynchronous(mode string) Option {
	return func(c *config) error {
		m := strings.ToUpper(mode)
		switch m {
		case "OFF", "NORMAL", "FULL", "EXTRA":
			c.synchronous = m
			return nil
		}
		return fmt.Errorf("WithSynchronous(%q): want OFF, NORMAL, FULL or EXTRA", mode)
	}
}

// WithForeignKeys sets PRAGMA foreign_keys on every connection. The default
// is on, unlike SQLite's own default.
func WithForeignKeys(on bool) Option {
	return func(c *config) error {
		c.foreignKeys = on
		return nil
	}
}

// WithSetup runs fn on every new connection of the pool, after the pool's
// pragmas and before the connection is used. An error (or a panic) from fn
// fails the open of that connection; on the writer of a new pool it fails
// Open.
func WithSetup(fn SetupFunc) Option {
	return func(c *config) error {
		if fn == nil {
			return errors.New("WithSetup(nil): want a function")
		}
		c.setup = fn
		return nil
	}
}

// maxStmtCacheSize bounds [WithStmtCacheSize]: a prepared statement holds
// engine memory, and a cache this large is a leak by another name.
const maxStmtCacheSize = 10000

// WithStmtCacheSize sets how many prepared statements each connection keeps
// for [Conn.Prep], [Conn.Exec] and the query helpers, least recently used
// first out. 0 keeps none: statements are finalized on release. The default
// is [DefaultStmtCacheSize].
func WithStmtCacheSize(n int) Option {
	return func(c *config) error {
		if n < 0 || n > maxStmtCacheSize {
			return fmt.Errorf("WithStmtCacheSize(%d): want 0 to %d", n, maxStmtCacheSize)
		}
		c.stmtCacheSize = n
		return nil
	}
}
