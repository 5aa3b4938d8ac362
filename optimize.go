package sqlitepool

import (
	"context"
	"fmt"
	"time"
)

// SQLite recommends PRAGMA optimize for long-lived connections: with an
// analysis limit when the connection opens, from time to time, and before
// it closes. It runs ANALYZE only on the tables whose statistics are stale,
// and with the limit each takes milliseconds. Readers cannot write the
// statistics, so the pool runs it on the writer, asking it to look at every
// table (0x10002), not only those the writer used itself.

// DefaultOptimizeInterval is how often the pool runs PRAGMA optimize unless
// [WithOptimize] says otherwise.
const DefaultOptimizeInterval = time.Hour

const optimizeSQL = "PRAGMA analysis_limit=400; PRAGMA optimize=0x10002"

// WithOptimize runs PRAGMA optimize on the writer when it opens, every d
// from the pool's janitor, and when the pool closes. 0 turns it off
// entirely. The default is [DefaultOptimizeInterval].
func WithOptimize(every time.Duration) Option {
	return func(c *config) error {
		if every < 0 {
			return fmt.Errorf("WithOptimize(%v): want 0 (off) or more", every)
		}
		c.optimizeEvery = every
		return nil
	}
}

// optimize runs PRAGMA optimize on the writer c.
func (p *pool) optimize(c *conn) error {
	if p.cfg.optimizeEvery == 0 {
		return nil
	}
	p.mu.Lock()
	p.optimizeRuns++
	p.mu.Unlock()
	return c.wrap(c.raw.Exec(optimizeSQL))
}

// optimizeIfDue runs the periodic optimize, taking the writer in turn.
func (p *pool) optimizeIfDue(ctx context.Context, now int64) {
	if p.cfg.optimizeEvery == 0 || p.cfg.readOnly || now < p.nextOptimize {
		return
	}
	p.nextOptimize = now + int64(p.cfg.optimizeEvery)
	c, err := p.acquire(ctx, &p.writer)
	if err != nil {
		return // closing
	}
	defer p.release(c)
	if err := p.optimize(c); err != nil {
		p.logOptimizeFailed(err)
	}
}
