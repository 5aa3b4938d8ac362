package sqlitepool

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"path/filepath"
	"reflect"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestConfigRulesCoverEveryField fails when a field is added to config
// without a rule in configRules: a later Open's value for it would be
// dropped in silence.
func TestConfigRulesCoverEveryField(t *testing.T) {
	rules := make(map[string]int)
	for _, r := range configRules {
		rules[r.field]++
	}
	typ := reflect.TypeFor[config]()
	for i := range typ.NumField() {
		name := typ.Field(i).Name
		assert.Equal(t, 1, rules[name], "config.%s: want exactly one rule in configRules", name)
		delete(rules, name)
	}
	assert.Empty(t, rules, "rules for fields config does not have")
}

func setupNothing(context.Context, *Conn, Role) error { return nil }

// TestConfigRulesDetectEachField changes each field of the configuration
// through an option and checks that its rule, and only it, reports the
// change.
func TestConfigRulesDetectEachField(t *testing.T) {
	set := func(f func(c *config)) Option { return func(c *config) error { f(c); return nil } }
	changes := map[string]Option{
		"readers":           WithReaders(defaultReaders() + 1),
		"busyTimeout":       WithBusyTimeout(time.Second),
		"acquireTimeout":    WithAcquireTimeout(time.Second),
		"synchronous":       WithSynchronous("full"),
		"foreignKeys":       WithForeignKeys(false),
		"setup":             WithSetup(setupNothing),
		"stmtCacheSize":     WithStmtCacheSize(3),
		"minReaders":        WithMinReaders(1),
		"idleTimeout":       WithIdleTimeout(time.Second),
		"maxLifetime":       WithMaxLifetime(time.Second),
		"parkAfter":         WithParkAfter(time.Second),
		"janitorEvery":      set(func(c *config) { c.janitorEvery = time.Hour }),
		"clock":             set(func(c *config) { c.clock = newFakeClock().Now }),
		"walPolicy":         WithWALPolicy(WALExternal),
		"walLimit":          WithWALLimit(1 << 20),
		"checkpointTimeout": WithCheckpointTimeout(time.Second),
		"optimizeEvery":     WithOptimize(0),
		"maxMemory":         WithMaxMemory(64 << 20),
		"cacheSize":         WithCacheSize(100),
		"logger":            WithLogger(slog.New(slog.DiscardHandler)),
		"slowAcquire":       WithSlowAcquire(time.Second),
		"defensive":         WithDefensive(false),
		"trustedSchema":     WithTrustedSchema(true),
		"fileMode":          WithFileMode(0o644),
		"readOnly":          WithReadOnly(),
		"vfs":               set(func(c *config) { c.vfs = "other" }),
	}
	p := &pool{cfg: defaultConfig()}
	for _, r := range configRules {
		t.Run(r.field, func(t *testing.T) {
			opt := changes[r.field]
			require.NotNil(t, opt, "no option in this test changes config.%s", r.field)
			err := checkOptions(p, "x.db", []Option{opt})
			require.ErrorIs(t, err, ErrOptionsConflict)
			assert.Contains(t, err.Error(), r.option+":")
			for _, other := range configRules {
				if other.field != r.field {
					assert.NotContains(t, err.Error(), other.option+":", "a rule reports a field it does not own")
				}
			}
		})
	}
}

func TestOpenOptionsConflict(t *testing.T) {
	path := tempDB(t)
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	h := openT(t, path, createTable, WithReaders(3), WithSetup(setupNothing), WithLogger(logger))
	before := dirNames(t, filepath.Dir(path))

	conflicts := []struct {
		name string
		opts []Option
		want []string // in the message, besides the database's name
	}{
		{"readers", []Option{WithReaders(4)}, []string{"WithReaders: the pool has 3, this Open asks for 4"}},
		{"foreign-keys", []Option{WithForeignKeys(false)}, []string{"WithForeignKeys: the pool has true, this Open asks for false"}},
		{"two-options", []Option{WithReaders(3), WithBusyTimeout(time.Second), WithSynchronous("FULL")},
			[]string{"WithBusyTimeout: the pool has 5s, this Open asks for 1s", "WithSynchronous: the pool has NORMAL, this Open asks for FULL"}},
		{"default-value-given", []Option{WithReaders(defaultReaders())}, []string{"WithReaders: the pool has 3"}},
		{"another-setup", []Option{WithSetup(func(context.Context, *Conn, Role) error { return nil })}, []string{"WithSetup: the pool has", "setupNothing"}},
		{"another-logger", []Option{WithLogger(slog.New(slog.NewTextHandler(io.Discard, nil)))}, []string{"WithLogger: the pool has the logger at"}},
	}
	for _, tc := range conflicts {
		t.Run(tc.name, func(t *testing.T) {
			h2, err := Open(path, createTable, tc.opts...)
			require.ErrorIs(t, err, ErrOptionsConflict)
			assert.Nil(t, h2)
			assert.Contains(t, err.Error(), path)
			for _, w := range tc.want {
				assert.Contains(t, err.Error(), w)
			}
			assert.Contains(t, err.Error(), "open it with the same options, or with none")
			assert.Equal(t, 1, h.Stats().Handles, "a rejected Open took a reference")
			assert.Equal(t, before, dirNames(t, filepath.Dir(path)))
		})
	}

	accepted := []struct {
		name string
		opts []Option
	}{
		{"none", nil},
		{"nil-option", []Option{nil}},
		{"same-values", []Option{WithReaders(3), WithForeignKeys(true), WithBusyTimeout(defaultBusyTimeout)}},
		{"same-setup-and-logger", []Option{WithSetup(setupNothing), WithLogger(logger)}},
	}
	for _, tc := range accepted {
		t.Run(tc.name, func(t *testing.T) {
			h2, err := Open(path, createTable, tc.opts...)
			require.NoError(t, err)
			assert.Equal(t, 2, h.Stats().Handles)
			require.NoError(t, h2.Close())
		})
	}

	_, err := Open(path, createTable, WithReaders(0))
	require.ErrorIs(t, err, ErrInvalidOption, "an invalid option is reported as such")
	assert.Equal(t, 1, h.Stats().Handles)
	assert.Equal(t, 3, h.Stats().Readers.Max)
}

// TestOpenRacingOptionsConflict races Opens asking for two reader counts:
// the Open that creates the pool sets it, every Open asking for the other
// count fails, and every one asking for the same gets the pool.
func TestOpenRacingOptionsConflict(t *testing.T) {
	for range 20 {
		path := tempDB(t)
		const n = 16
		handles := make([]*Handle, n)
		errs := make([]error, n)
		var wg sync.WaitGroup
		start := make(chan struct{})
		for i := range n {
			wg.Go(func() {
				<-start
				handles[i], errs[i] = Open(path, createTable, WithReaders(3+i%2))
			})
		}
		close(start)
		wg.Wait()

		won := -1
		for i, err := range errs {
			if err == nil {
				won = 3 + i%2
				break
			}
		}
		require.NotEqual(t, -1, won, "no Open got the pool: %v", errs)
		var opened int
		for i := range n {
			if 3+i%2 == won {
				require.NoError(t, errs[i], "an Open asking for the pool's readers")
				assert.Equal(t, won, handles[i].Stats().Readers.Max)
				opened++
				continue
			}
			require.ErrorIs(t, errs[i], ErrOptionsConflict)
			assert.Nil(t, handles[i])
		}
		assert.Equal(t, n/2, opened)
		for _, h := range handles {
			if h != nil {
				assert.Equal(t, opened, h.Stats().Handles, "a rejected Open kept a reference")
			}
		}
		for _, h := range handles {
			if h != nil {
				require.NoError(t, h.Close())
			}
		}
		assert.False(t, registered(t, path), "the pool outlived its handles")
	}
}

// TestOpenRunsEachInit opens one database with the inits of two
// packages: each runs once, on the Open that first brings it.
func TestOpenRunsEachInit(t *testing.T) {
	path := tempDB(t)
	ctx := context.Background()
	var runsA, runsB atomic.Int32
	initA := func(ctx context.Context, c *Conn) error {
		runsA.Add(1)
		return c.Exec("CREATE TABLE IF NOT EXISTS a(x)")
	}
	initB := func(ctx context.Context, c *Conn) error {
		runsB.Add(1)
		return c.Exec("CREATE TABLE IF NOT EXISTS b(x)")
	}
	openT(t, path, initA)
	h := openT(t, path, initB)
	assert.Equal(t, int32(1), runsA.Load())
	assert.Equal(t, int32(1), runsB.Load(), "the later Open's init did not run")
	require.NoError(t, h.Exec(ctx, "INSERT INTO b VALUES (1)"), "the later init's table")

	openT(t, path, initA)
	openT(t, path, initB)
	openT(t, path, nil)
	assert.Equal(t, int32(1), runsA.Load(), "an init ran twice on one pool")
	assert.Equal(t, int32(1), runsB.Load(), "an init ran twice on one pool")
	assert.Equal(t, 5, h.Stats().Handles)

	// A closure made for each Open is a new init each time.
	var runsC atomic.Int32
	initC := func(table string) InitFunc {
		return func(ctx context.Context, c *Conn) error {
			runsC.Add(1)
			return c.Exec("CREATE TABLE IF NOT EXISTS " + table + "(x)")
		}
	}
	openT(t, path, initC("c1"))
	openT(t, path, initC("c2"))
	assert.Equal(t, int32(2), runsC.Load())
	require.NoError(t, h.Exec(ctx, "INSERT INTO c2 VALUES (1)"))
}

// TestOpenLaterInitFails checks that a later Open whose init fails gets
// the error and no handle, leaves the pool as it was, and that the next
// Open with that init runs it again.
func TestOpenLaterInitFails(t *testing.T) {
	path := tempDB(t)
	h := openT(t, path, createTable)
	var runs atomic.Int32
	boom := errors.New("boom")
	initB := func(ctx context.Context, c *Conn) error {
		if runs.Add(1) == 1 {
			if err := c.Exec("BEGIN; CREATE TABLE b(x)"); err != nil {
				return err
			}
			return boom
		}
		return c.Exec("CREATE TABLE b(x)")
	}
	h2, err := Open(path, initB)
	require.ErrorIs(t, err, ErrInitFailed)
	require.ErrorIs(t, err, boom)
	assert.Contains(t, err.Error(), path)
	assert.Nil(t, h2)
	st := h.Stats()
	assert.Equal(t, 1, st.Handles, "the failed Open kept a reference")
	assert.Zero(t, st.Writer.InUse)
	assert.Equal(t, uint64(1), st.Writer.RollbacksOnRelease, "what the failed init began was rolled back")
	require.NoError(t, h.Exec(context.Background(), "INSERT INTO t(v) VALUES (1)"), "the pool goes on")

	h3, err := Open(path, initB)
	require.NoError(t, err, "the next Open runs the failed init again")
	assert.Equal(t, int32(2), runs.Load())
	require.NoError(t, h3.Exec(context.Background(), "INSERT INTO b VALUES (1)"))
	require.NoError(t, h3.Close())
}

// TestOpenLaterInitFailsAlone checks that a later Open whose init fails
// after every other handle closed closes the pool as a last Close would.
func TestOpenLaterInitFailsAlone(t *testing.T) {
	path := tempDB(t)
	h := openT(t, path, createTable)
	inInit, closed := make(chan struct{}), make(chan struct{})
	go func() {
		<-inInit
		assert.NoError(t, h.Close())
		close(closed)
	}()
	_, err := Open(path, func(ctx context.Context, c *Conn) error {
		close(inInit)
		// The other handle's Close returns at once: the running init holds
		// a reference of its own.
		<-closed
		return errors.New("boom")
	})
	require.ErrorIs(t, err, ErrInitFailed)
	assert.False(t, registered(t, path), "the pool outlived its handles")
}

// TestOpenRacingLaterInit races Opens of an open pool with one new init:
// it runs once, and every Open gets the pool after it ran.
func TestOpenRacingLaterInit(t *testing.T) {
	path := tempDB(t)
	h := openT(t, path, createTable)
	var runs atomic.Int32
	initB := func(ctx context.Context, c *Conn) error {
		runs.Add(1)
		time.Sleep(10 * time.Millisecond) // widen the window for racing Opens
		return c.Exec("CREATE TABLE IF NOT EXISTS b(x)")
	}
	handles, errs := openAtOnce(8, func(int) string { return path }, initB)
	for i, err := range errs {
		require.NoError(t, err)
		require.NoError(t, handles[i].Exec(context.Background(), "INSERT INTO b VALUES (1)"), "an Open returned before its init ran")
		require.NoError(t, handles[i].Close())
	}
	assert.Equal(t, int32(1), runs.Load())
	assert.Equal(t, 1, h.Stats().Handles)
}
