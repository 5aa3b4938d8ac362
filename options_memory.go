package sqlitepool

import (
	"fmt"

	"github.com/ncruces/go-sqlite3"
)

// Each connection is an instance of the engine with its own linear memory:
// it reserves 256 MiB of address space by default, commits pages only as
// SQLite allocates, and never gives them back until it closes. These two
// options bound what one connection may use; WithMaxLifetime bounds how long
// it keeps what it grew to.

const (
	minMaxMemory = 1 << 20 // the engine needs some room to open at all
	maxMaxMemory = 1 << 32 // the engine's limit: 65536 pages of 64 KiB
	maxCacheSize = 1 << 22 // KiB: 4 GiB of page cache
)

// WithMaxMemory caps the memory of each connection, in bytes, from 1 MiB to
// 4 GiB (the engine's sqlite3.WithMaxMemory; the default is 256 MiB on
// 64-bit systems). A statement that needs more fails: through the pool's
// helpers (Exec, QueryRow, Query) with an error matching sqlite3.NOMEM, and
// the connection stays usable; a statement stepped by hand makes the engine
// panic, as it does on any out-of-memory. Leave room for the page cache
// ([WithCacheSize]) and the statement cache.
func WithMaxMemory(bytes int64) Option {
	return func(c *config) error {
		if bytes < minMaxMemory || bytes > maxMaxMemory {
			return fmt.Errorf("WithMaxMemory(%d): want %d to %d bytes", bytes, int64(minMaxMemory), int64(maxMaxMemory))
		}
		c.maxMemory = bytes
		return nil
	}
}

// WithCacheSize sets each connection's page cache, in KiB (PRAGMA
// cache_size with a negative value). SQLite's default is 2000 KiB.
func WithCacheSize(kib int) Option {
	return func(c *config) error {
		if kib < 1 || kib > maxCacheSize {
			return fmt.Errorf("WithCacheSize(%d): want 1 to %d KiB", kib, maxCacheSize)
		}
		c.cacheSize = kib
		return nil
	}
}

// recoverOOM turns the engine's out-of-memory panic (it treats SQLITE_NOMEM
// as fatal) into an error matching sqlite3.NOMEM, for the pool's helpers: a
// capped connection that meets a statement too big for it stays usable.
// Other panics go on.
func (c *conn) recoverOOM(errp *error) {
	v := recover()
	if v == nil {
		return
	}
	if err, ok := v.(error); ok && err.Error() == "sqlite3: out of memory" {
		*errp = fmt.Errorf("sqlitepool: %q: the statement needs more memory than the connection may use (WithMaxMemory): %w", c.db, sqlite3.NOMEM)
		return
	}
	panic(v)
}
