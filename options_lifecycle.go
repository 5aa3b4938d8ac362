package sqlitepool

import (
	"fmt"
	"time"
)

const (
	// DefaultIdleTimeout is how long a reader beyond [WithMinReaders] may
	// stay unused before the pool closes it, unless [WithIdleTimeout] says
	// otherwise.
	DefaultIdleTimeout = 10 * time.Minute
	// DefaultMaxLifetime is how long a connection lives before the pool
	// replaces it, unless [WithMaxLifetime] says otherwise. Replacing gives
	// back memory: a connection's engine memory grows with its largest
	// query and never shrinks.
	DefaultMaxLifetime = time.Hour
)

// WithMinReaders keeps n readers open even when idle, opened in the
// background when the pool is created and after any is closed, so that
// the first reads after a quiet period do not pay for opening one. The
// default is 0: readers open on demand. n must not exceed [WithReaders].
func WithMinReaders(n int) Option {
	return func(c *config) error {
		if n < 0 || n > MaxReaders {
			return fmt.Errorf("WithMinReaders(%d): want 0 to %d", n, MaxReaders)
		}
		c.minReaders = n
		return nil
	}
}

// WithIdleTimeout closes a reader that has not been leased for d, as long
// as more than [WithMinReaders] are open; a new one opens on the next
// demand. The writer is never closed for being idle: it is the connection
// that checkpoints. 0 keeps idle readers open. The default is
// [DefaultIdleTimeout].
func WithIdleTimeout(d time.Duration) Option {
	return func(c *config) error {
		if d < 0 {
			return fmt.Errorf("WithIdleTimeout(%v): want 0 (never) or more", d)
		}
		c.idleTimeout = d
		return nil
	}
}

// WithMaxLifetime replaces each connection, the writer included, after it
// has been open for about d: up to 10% sooner, at random, so that
// connections opened together do not all expire together. A connection in
// use is replaced when it is released, an idle one by the pool's
// background janitor. 0 keeps connections for the life of the pool. The
// default is [DefaultMaxLifetime].
func WithMaxLifetime(d time.Duration) Option {
	return func(c *config) error {
		if d < 0 {
			return fmt.Errorf("WithMaxLifetime(%v): want 0 (never) or more", d)
		}
		c.maxLifetime = d
		return nil
	}
}

// janitorInterval is how often the janitor looks at idle connections: often
// enough that a connection outlives its idle timeout or lifetime by a
// small fraction, rarely enough to cost nothing.
func janitorInterval(limits ...time.Duration) time.Duration {
	d := time.Minute
	for _, limit := range limits {
		if limit > 0 {
			d = min(d, limit/10)
		}
	}
	return max(d, 10*time.Millisecond)
}
