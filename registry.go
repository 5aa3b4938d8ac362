package sqlitepool

import (
	"context"
	"fmt"
	"io/fs"
	"os"
	"sync"
)

// registry is the process's pools, one per canonical database. Its mutex is
// held only to read and change the maps and the reference counts: opening
// connections, running init, closing and every system call (the stats that
// match hard links included) happen outside it, so Opens of different
// databases never wait on each other, nor on the number of pools open.
type registry struct {
	mu      sync.Mutex // protects entries, files and every entry's refs, closing and id
	entries map[string]*entry
	// files finds the entry of a file by its identity, for the first
	// Open of another name of it (a hard link), in one lookup however
	// many pools are open. It says which file an entry's name reached
	// when last looked at (see refile), not which it reaches now: a hit
	// is checked against the entry's name before it is joined.
	files map[fileID]*entry
}

var reg = registry{entries: make(map[string]*entry), files: make(map[fileID]*entry)}

// entry is one pool's place in the registry, from the first Open that
// creates it until its last handle is closed. Private in-memory pools have
// an entry too, outside the map.
type entry struct {
	key string // "" for a private in-memory pool
	// file says the key is a file's path, which other names (hard links)
	// may reach too.
	file bool

	// ready is closed when creation ends; pool or err is set before.
	ready chan struct{}
	pool  *pool
	err   error
	// creatorGaveUp is set with err when creation failed because the
	// creating Open's own context ended; a waiter whose context is live
	// tries again instead of failing for someone else's cancellation.
	creatorGaveUp bool

	// refs counts open handles; closing is set when it drops to 0, and gone
	// is closed once the pool is closed and the entry left the map.
	refs    int
	closing bool
	gone    chan struct{}

	inits initRuns // the inits run on the pool

	// id is the identity under which files holds this entry, if filed.
	id    fileID
	filed bool
}

// Open returns a handle to the process's pool for the database name, creating
// the pool (and running init on its writer) if no handle to it is open. It is
// [OpenContext] with [context.Background].
func Open(name string, init InitFunc, opts ...Option) (*Handle, error) {
	return OpenContext(context.Background(), name, init, opts...)
}

// OpenContext returns a handle to the process's pool for the database name.
//
// The first Open of a database creates its pool: it opens the writer, runs
// init on it exactly once, and only then returns. Opens racing on the same
// database wait for that and share its outcome: the pool, or init's error
// (wrapping [ErrInitFailed]), after which no pool is left and the next Open
// tries again.
//
// The options of the Open that creates the pool configure it. A later Open
// (or one that waited for the creation) that gives options is checked
// against that configuration: an option whose value differs from the pool's
// fails the Open with an error matching [ErrOptionsConflict], which names
// each such option and both values. Options left out take the pool's
// values, so an Open with no options shares the pool as it is. Functions
// ([WithSetup], [WithLogger]'s logger) match only the same function value
// or logger: keep it in a variable that every Open passes, or pass it only
// where the pool is created.
//
// A later Open whose init has not run on the pool yet runs it before it
// returns, once per pool, on the writer leased like any other lease (the
// pool's other handles go on meanwhile); Opens racing with the same init
// wait for that run and share its outcome. If it fails, that Open (and its
// waiters) get the error, wrapping [ErrInitFailed], and no handle; the pool
// goes on, and the next Open with that init runs it again. See [InitFunc]
// for when two inits are the same.
//
// An Open that fails this way leaves the pool as it found it: it returns
// no handle and keeps no reference (a failed init's Open drops the one it
// took to run init, closing the pool if every other handle closed
// meanwhile).
//
// ctx bounds the wait, the opening of the writer (its pragmas and the
// [WithSetup] hook) and init, which also receives it; if the creating Open's
// ctx ends meanwhile, waiters whose own ctx is live try again rather than
// fail.
//
// Every call returns a new handle that must be closed once with
// [Handle.Close]; the pool closes when its last handle does. See the package
// documentation for the names that reach one pool.
func OpenContext(ctx context.Context, name string, init InitFunc, opts ...Option) (*Handle, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("sqlitepool: open %q: %w", name, err)
	}
	cfg, err := newConfig(name, opts)
	if err != nil {
		return nil, err
	}
	t, err := resolve(name)
	if err != nil {
		return nil, err
	}
	if err := checkReadOnly(t, cfg); err != nil {
		return nil, err
	}
	if t.key == "" {
		e := &entry{refs: 1, gone: make(chan struct{})}
		if e.pool, err = newPool(ctx, t, cfg, init, nil); err != nil {
			return nil, err
		}
		return newHandle(e), nil
	}
	var id fileID
	hasID := false
	if t.info != nil {
		id, hasID = fileIdentity(t.info)
	}
	for {
		reg.mu.Lock()
		e := reg.entries[t.key]
		if e == nil && hasID {
			// The lock is let go while a hit is checked: another Open of
			// this name may have made its entry meanwhile.
			if e = reg.sameFileLocked(id, t.info); e == nil {
				e = reg.entries[t.key]
			}
		}
		if e == nil {
			e = &entry{key: t.key, file: !t.memory, ready: make(chan struct{}), gone: make(chan struct{}), refs: 1}
			reg.entries[t.key] = e
			if hasID {
				reg.fileLocked(e, id)
			}
			reg.mu.Unlock()
			return reg.create(ctx, e, t, cfg, init)
		}
		closing := e.closing
		reg.mu.Unlock()

		if !closing {
			select {
			case <-e.ready:
			case <-ctx.Done():
				return nil, fmt.Errorf("sqlitepool: waiting for %q to open: %w", name, ctx.Err())
			}
			if e.err != nil {
				if e.creatorGaveUp && ctx.Err() == nil {
					continue // the failed entry has left the map
				}
				return nil, e.err
			}
			if err := checkOptions(e.pool, name, opts); err != nil {
				return nil, err
			}
			reg.mu.Lock()
			if !e.closing {
				e.refs++
				reg.mu.Unlock()
				return e.join(ctx, name, init)
			}
			reg.mu.Unlock()
		}
		// The last handle is closing this pool: a new one may open only
		// once it is gone, or the file would have two writers.
		select {
		case <-e.gone:
		case <-ctx.Done():
			return nil, fmt.Errorf("sqlitepool: waiting for the previous pool of %q to close, with %s; they must be released first: %w", name, e.pool.out(), ctx.Err())
		}
	}
}

// create makes the pool of a new entry and publishes the outcome. A panic
// that escapes newPool (init's own panics are errors already) still removes
// the entry and wakes the waiters before it goes on.
func (r *registry) create(ctx context.Context, e *entry, t target, cfg config, init InitFunc) (h *Handle, err error) {
	done := false
	defer func() {
		if done {
			return
		}
		if err == nil {
			err = fmt.Errorf("sqlitepool: creating the pool of %q panicked", t.name)
		}
		r.mu.Lock()
		delete(r.entries, e.key)
		r.unfileLocked(e)
		r.mu.Unlock()
		e.err = err
		e.creatorGaveUp = ctx.Err() != nil // init may not wrap ctx.Err (a bare INTERRUPT)
		close(e.ready)
		close(e.gone)
	}()
	var refile func()
	if e.file {
		refile = func() { r.refile(e) }
	}
	p, err := newPool(ctx, t, cfg, init, refile)
	if err != nil {
		return nil, err
	}
	e.pool = p
	e.inits.ran(init)
	done = true
	close(e.ready)
	return newHandle(e), nil
}

// join turns the reference an Open took on e's ready pool into a handle,
// once the Open's init has run there (see initRuns). If it cannot run,
// the reference is dropped again: the Open leaves the pool as it found it.
func (e *entry) join(ctx context.Context, name string, init InitFunc) (*Handle, error) {
	h := newHandle(e)
	ok := false
	defer func() {
		if !ok {
			// The init's error is the one to report; the pool closes
			// here only if every other handle closed meanwhile, and then
			// the file is left as after any last Close.
			_ = h.Close()
		}
	}()
	if err := e.inits.ensure(ctx, h, name, init); err != nil {
		return nil, err
	}
	ok = true
	return h, nil
}

// sameFileLocked finds the entry of the file info describes (whose
// identity is id) under another name: a hard link's key is its own path,
// and two pools on one file, each with its own WAL and shared memory, would
// not even see each other's locks. It is called with r.mu held and returns
// with it held, but lets it go to stat the entry's name: no system call
// runs under the registry's lock.
//
// The index says which file an entry's name reached when last looked at.
// The file that counts is the one at the name now (a pool whose file was
// replaced or renamed away serves the file now at its name, moved.go), so
// a hit is joined only if the entry's name still reaches info's file: a
// file renamed away from a pool's name, or a new file given the inode of a
// deleted one, is not that pool's. A hit that fails the check is dropped
// from the index.
func (r *registry) sameFileLocked(id fileID, info fs.FileInfo) *entry {
	for {
		e := r.files[id]
		if e == nil {
			return nil
		}
		r.mu.Unlock()
		cur, err := os.Stat(e.key)
		same := err == nil && os.SameFile(cur, info)
		r.mu.Lock()
		switch {
		case r.files[id] != e:
			continue // refiled or gone meanwhile: what was checked is stale
		case !same || r.entries[e.key] != e:
			// An entry out of the map is not joined even if its name
			// still reaches the file: Open would wait for it to be gone,
			// find it again, and never end.
			r.unfileLocked(e)
			return nil
		}
		return e
	}
}

// fileLocked files e under id, in place of any entry filed there before:
// the newest look at a name is the likeliest to be right, and a stale one
// is caught when it is hit.
func (r *registry) fileLocked(e *entry, id fileID) {
	r.unfileLocked(e)
	if old := r.files[id]; old != nil {
		old.filed = false
	}
	r.files[id] = e
	e.id, e.filed = id, true
}

// unfileLocked takes e out of the index, if it is there.
func (r *registry) unfileLocked(e *entry) {
	if e.filed && r.files[e.id] == e {
		delete(r.files, e.id)
	}
	e.filed = false
}

// refile looks at the file now at e's name and files e under it. The pool
// calls it when it opens a writer, which reaches the file at the name then
// (at creation, the first time the file is sure to exist), and when it sees
// its file moved, so that a link to the new file finds the pool before the
// pool reopens it. The stat runs before the lock is taken.
func (r *registry) refile(e *entry) {
	fi, err := os.Stat(e.key)
	var id fileID
	ok := false
	if err == nil {
		id, ok = fileIdentity(fi)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.entries[e.key] != e {
		return // gone (or failed): it must not come back into the index
	}
	if !ok {
		r.unfileLocked(e) // no file at the name: nothing can link to it
		return
	}
	r.fileLocked(e, id)
}

// release drops one reference; the last one closes the pool and then
// removes the entry, so an Open that arrives meanwhile waits for gone. If
// ctx ends before the leases come back, release returns the pool's error at
// once and the entry stays until the pool has closed.
func (e *entry) release(ctx context.Context) error {
	reg.mu.Lock()
	e.refs--
	if e.refs > 0 {
		reg.mu.Unlock()
		return nil
	}
	e.closing = true
	reg.mu.Unlock()

	finished := true
	// Deferred so that even a panic cannot leave later Opens of this
	// database waiting on gone forever.
	defer func() {
		if finished {
			e.remove()
		}
	}()
	done, err := e.pool.close(ctx)
	if done != nil {
		finished = false
		go func() {
			<-done
			e.remove()
		}()
	}
	return err
}

// remove takes the entry of a closed pool out of the registry and wakes
// the Opens waiting for it.
func (e *entry) remove() {
	reg.mu.Lock()
	if e.key != "" && reg.entries[e.key] == e {
		delete(reg.entries, e.key)
	}
	reg.unfileLocked(e)
	reg.mu.Unlock()
	close(e.gone)
}

func (e *entry) handles() int {
	reg.mu.Lock()
	defer reg.mu.Unlock()
	return e.refs
}
