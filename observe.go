package sqlitepool

import (
	"context"
	"expvar"
	"fmt"
	"log/slog"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"time"
)

// WithLogger sends the pool's events worth a log line to l: a connection
// closed early (broken, idle or at the end of its lifetime), a transaction
// rolled back on release and a [Lease] dropped without Release (both with
// the file:line that took the lease), a connection that failed to open in
// the background, a checkpoint that could not finish (once only when
// another process holds the WAL), a WAL that writes keep growing and that
// has not started over for a long time under [WALExternal], and acquires
// slower than [WithSlowAcquire]. With it, every lease records its caller, which
// the errors of a Close or an Open that gives up waiting for leases also
// list. Without it (the default) the pool logs nothing, and captures no
// caller: a stack walk costs several times a whole lease.
func WithLogger(l *slog.Logger) Option {
	return func(c *config) error {
		if l == nil {
			return fmt.Errorf("WithLogger(nil): want a logger, or leave the option out")
		}
		c.logger = l
		return nil
	}
}

// WithSlowAcquire logs, at level Warn on the [WithLogger] logger, every
// acquire that waits longer than d for its connection: once when its wait
// passes d (with the call site that waits), and again when it ends. 0 (the
// default) logs none.
func WithSlowAcquire(d time.Duration) Option {
	return func(c *config) error {
		if d < 0 {
			return fmt.Errorf("WithSlowAcquire(%v): want 0 (off) or more", d)
		}
		c.slowAcquire = d
		return nil
	}
}

func (p *pool) log(level slog.Level, msg string, attrs ...slog.Attr) {
	l := p.cfg.logger
	if l == nil || !l.Enabled(context.Background(), level) {
		return
	}
	attrs = append(attrs, slog.String("db", p.t.name))
	l.LogAttrs(context.Background(), level, msg, attrs...)
}

func (p *pool) logReplaced(c *conn, r reason, cause error) {
	if p.cfg.logger == nil {
		return
	}
	level := slog.LevelInfo
	attrs := []slog.Attr{slog.String("role", c.role.String()), slog.String("reason", r.String())}
	if r == reasonBroken {
		level = slog.LevelWarn
		if cause != nil {
			attrs = append(attrs, slog.String("error", cause.Error()))
		}
	}
	p.log(level, "sqlitepool: connection closed, replaced on demand", attrs...)
}

func (p *pool) logRollback(c *conn) {
	if p.cfg.logger == nil {
		return
	}
	attrs := []slog.Attr{slog.String("role", c.role.String())}
	if c.caller != "" {
		attrs = append(attrs, slog.String("leased_at", c.caller))
	}
	p.log(slog.LevelWarn, "sqlitepool: lease released inside a transaction; rolled back", attrs...)
}

func (p *pool) logOpenFailed(r Role, err error) {
	p.log(slog.LevelError, "sqlitepool: background open failed; retrying later",
		slog.String("role", r.String()), slog.String("error", err.Error()))
}

func (p *pool) logOptimizeFailed(err error) {
	p.log(slog.LevelWarn, "sqlitepool: PRAGMA optimize failed", slog.String("error", err.Error()))
}

func (p *pool) logSlowAcquire(r Role, waited time.Duration, err error) {
	if p.cfg.logger == nil || p.cfg.slowAcquire == 0 || waited < p.cfg.slowAcquire {
		return
	}
	attrs := []slog.Attr{slog.String("role", r.String()), slog.Duration("waited", waited)}
	if err != nil {
		attrs = append(attrs, slog.String("error", err.Error()))
	}
	p.log(slog.LevelWarn, "sqlitepool: slow acquire", attrs...)
}

// pkgDir is this package's source directory, to tell its frames from the
// caller's in a stack.
var pkgDir = func() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Dir(file)
}()

// callerOutside returns file:line of the first caller outside this package
// and database/sql, through which the pool's *sql.DB is called (this
// package's tests count as outside). Only called when a logger is set: it
// costs a stack walk.
func callerOutside() string {
	var pcs [32]uintptr
	frames := runtime.CallersFrames(pcs[:runtime.Callers(2, pcs[:])])
	for {
		f, more := frames.Next()
		if strings.HasPrefix(f.Function, "database/sql.") {
			continue
		}
		if filepath.Dir(f.File) != pkgDir || strings.HasSuffix(f.File, "_test.go") {
			return fmt.Sprintf("%s:%d", f.File, f.Line)
		}
		if !more {
			return ""
		}
	}
}

// expvarPools is the expvar map "sqlitepool", made on first use: expvar
// panics if a name is published twice.
var expvarPools = sync.OnceValue(func() *expvar.Map { return expvar.NewMap("sqlitepool") })

// PublishExpvar publishes the pool's [Stats] through the standard expvar
// package (served as JSON on /debug/vars by net/http's default mux), in the
// map "sqlitepool" under the database's name. Publishing again, from any
// handle of any pool of that name, replaces the entry; after the pool
// closes, the entry shows its final figures.
func (h *Handle) PublishExpvar() {
	expvarPools().Set(h.Name(), expvar.Func(func() any { return h.Stats() }))
}
