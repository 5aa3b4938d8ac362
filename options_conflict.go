package sqlitepool

import (
	"fmt"
	"log/slog"
	"reflect"
	"runtime"
	"strings"
	"unsafe"
)

// A pool's configuration is fixed when its first Open creates it. An Open
// that finds the pool already open cannot change it, so the options it
// gives are checked against it here instead of being dropped in silence.

// configRule says how one field of config is compared between the pool and
// a later Open. Every field has one: a test fails when a field is added to
// config without a rule here.
type configRule struct {
	field  string              // the config field, as reflect names it
	option string              // what sets it, for the error message
	value  func(c *config) any // a comparable value, printable with %v
}

var configRules = []configRule{
	{"readers", "WithReaders", func(c *config) any { return c.readers }},
	{"busyTimeout", "WithBusyTimeout", func(c *config) any { return c.busyTimeout }},
	{"acquireTimeout", "WithAcquireTimeout", func(c *config) any { return c.acquireTimeout }},
	{"synchronous", "WithSynchronous", func(c *config) any { return c.synchronous }},
	{"foreignKeys", "WithForeignKeys", func(c *config) any { return c.foreignKeys }},
	{"setup", "WithSetup", func(c *config) any { return funcOf(c.setup) }},
	{"stmtCacheSize", "WithStmtCacheSize", func(c *config) any { return c.stmtCacheSize }},
	{"minReaders", "WithMinReaders", func(c *config) any { return c.minReaders }},
	{"idleTimeout", "WithIdleTimeout", func(c *config) any { return c.idleTimeout }},
	{"maxLifetime", "WithMaxLifetime", func(c *config) any { return c.maxLifetime }},
	{"parkAfter", "WithParkAfter", func(c *config) any { return c.parkAfter }},
	// Derived from the two above unless a test sets it; an Open's options
	// are applied to the pool's configuration, so only an option that
	// sets it can change it.
	{"janitorEvery", "the janitor's interval", func(c *config) any { return c.janitorEvery }},
	{"clock", "the clock", func(c *config) any { return funcOf(c.clock) }},
	{"walPolicy", "WithWALPolicy", func(c *config) any { return c.walPolicy }},
	{"walLimit", "WithWALLimit", func(c *config) any { return c.walLimit }},
	{"checkpointTimeout", "WithCheckpointTimeout", func(c *config) any { return c.checkpointTimeout }},
	{"optimizeEvery", "WithOptimize", func(c *config) any { return c.optimizeEvery }},
	{"maxMemory", "WithMaxMemory", func(c *config) any { return c.maxMemory }},
	{"cacheSize", "WithCacheSize", func(c *config) any { return c.cacheSize }},
	{"logger", "WithLogger", func(c *config) any { return loggerOf(c.logger) }},
	{"slowAcquire", "WithSlowAcquire", func(c *config) any { return c.slowAcquire }},
	{"defensive", "WithDefensive", func(c *config) any { return c.defensive }},
	{"trustedSchema", "WithTrustedSchema", func(c *config) any { return c.trustedSchema }},
	{"fileMode", "WithFileMode", func(c *config) any { return fmt.Sprintf("%#o", uint32(c.fileMode)) }},
	{"readOnly", "WithReadOnly", func(c *config) any { return c.readOnly }},
	{"vfs", "the VFS", func(c *config) any { return c.vfs }},
}

// checkOptions reports, with an error matching [ErrOptionsConflict], the
// options of a later Open of name that differ from what the pool p runs
// with. The options are applied to a copy of the pool's configuration, not
// to the defaults: an option left out takes the pool's value, so only what
// the Open asks for is compared, and an Open with no options accepts the
// pool as it is. The options were validated by newConfig already.
func checkOptions(p *pool, name string, opts []Option) error {
	if len(opts) == 0 {
		return nil
	}
	asked := p.cfg
	for _, opt := range opts {
		if opt == nil {
			continue
		}
		if err := opt(&asked); err != nil {
			return fmt.Errorf("%w for %q: %w", ErrInvalidOption, name, err)
		}
	}
	var diffs []string
	for _, r := range configRules {
		has, wants := r.value(&p.cfg), r.value(&asked)
		if has != wants {
			diffs = append(diffs, fmt.Sprintf("%s: the pool has %v, this Open asks for %v", r.option, has, wants))
		}
	}
	if diffs == nil {
		return nil
	}
	return fmt.Errorf("%w of %q: %s; open it with the same options, or with none to share the pool as it is",
		ErrOptionsConflict, name, strings.Join(diffs, "; "))
}

// funcValue identifies a function value, for comparing functions, which Go
// cannot compare. Two values are the same when they are the same function
// value: one top-level function or method expression (its value is static),
// or one closure value passed again. A closure made anew (each evaluation of
// a function literal that captures variables, each method value) is another
// function, even with the same code: it may capture other state, and
// taking it for the same would drop it in silence.
type funcValue struct {
	p    unsafe.Pointer // the value's closure record; nil for a nil func
	name string         // the code's name, for messages
}

func (f funcValue) String() string {
	if f.p == nil {
		return "none"
	}
	return fmt.Sprintf("%s (%p)", f.name, f.p)
}

// funcOf returns f's identity. F must be a func type, whose value is one
// pointer to its closure record; funcValue holds that pointer, so the
// record cannot be freed and its address reused by another closure while
// the identity is kept.
func funcOf[F any](f F) funcValue {
	v := reflect.ValueOf(f)
	if v.Kind() != reflect.Func {
		panic("sqlitepool: funcOf of a non-function")
	}
	if v.IsNil() {
		return funcValue{}
	}
	name := "func"
	if fn := runtime.FuncForPC(v.Pointer()); fn != nil {
		name = fn.Name()
	}
	return funcValue{p: *(*unsafe.Pointer)(unsafe.Pointer(&f)), name: name}
}

// loggerValue is a logger compared by identity, shown by its address.
type loggerValue struct{ l *slog.Logger }

func loggerOf(l *slog.Logger) loggerValue { return loggerValue{l} }

func (v loggerValue) String() string {
	if v.l == nil {
		return "none"
	}
	return fmt.Sprintf("the logger at %p", v.l)
}
