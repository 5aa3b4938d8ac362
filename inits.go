package sqlitepool

import (
	"context"
	"fmt"
	"sync"
	"unsafe"
)

// initRuns are the inits run on one pool, each distinct function value
// once (see funcValue): the creating Open's, run by newPool, and those of
// later Opens, each run by the first Open that brings it. Packages that
// share a database each bring their own schema; running only the first
// Open's init would leave the others' tables missing without a word.
type initRuns struct {
	mu   sync.Mutex // protects runs
	runs map[unsafe.Pointer]*initRun
}

// initRun is one init's run: done is closed when it ends, err set before.
// A failed run leaves the map, so that the next Open with that init tries
// again.
type initRun struct {
	done chan struct{}
	err  error
	// gaveUp is set with err when the running Open's own context ended; a
	// waiter whose context is live tries again instead of failing for
	// someone else's cancellation.
	gaveUp bool
}

// ran records init as run by the Open that created the pool.
func (r *initRuns) ran(init InitFunc) {
	if init == nil {
		return
	}
	run := &initRun{done: make(chan struct{})}
	close(run.done)
	r.mu.Lock()
	r.runs = map[unsafe.Pointer]*initRun{funcOf(init).p: run}
	r.mu.Unlock()
}

// ensure runs init on h's pool unless it ran there already, or waits for
// the Open running it and shares its outcome. name is the database as this
// Open gave it.
func (r *initRuns) ensure(ctx context.Context, h *Handle, name string, init InitFunc) error {
	if init == nil {
		return nil
	}
	key := funcOf(init).p
	for {
		r.mu.Lock()
		run := r.runs[key]
		if run == nil {
			run = &initRun{done: make(chan struct{})}
			if r.runs == nil {
				r.runs = make(map[unsafe.Pointer]*initRun)
			}
			r.runs[key] = run
			r.mu.Unlock()
			return r.run(ctx, h, name, init, key, run)
		}
		r.mu.Unlock()
		select {
		case <-run.done:
		case <-ctx.Done():
			return fmt.Errorf("sqlitepool: waiting for the init of %q: %w", name, ctx.Err())
		}
		if run.err == nil {
			return nil
		}
		if run.gaveUp && ctx.Err() == nil {
			continue // the failed run has left the map
		}
		return run.err
	}
}

// run runs init on the writer, leased like any other: it waits its turn,
// and the pool's other handles go on meanwhile. What init leaves
// uncommitted is rolled back on release, as after the first init. A panic
// that escapes (init's own are errors already) still ends the run.
func (r *initRuns) run(ctx context.Context, h *Handle, name string, init InitFunc, key unsafe.Pointer, run *initRun) (err error) {
	defer func() {
		if err == nil {
			close(run.done)
			return
		}
		r.mu.Lock()
		delete(r.runs, key)
		r.mu.Unlock()
		run.err = err
		run.gaveUp = ctx.Err() != nil
		close(run.done)
	}()
	err = fmt.Errorf("sqlitepool: running the init of %q panicked", name)
	c, err := h.acquireOpen(ctx, h.p.initSlots())
	if err != nil {
		return err
	}
	defer h.p.release(c)
	if err := runInit(ctx, c, init); err != nil {
		return fmt.Errorf("%w for %q: %w", ErrInitFailed, name, err)
	}
	return nil
}
