//go:build unix

package sqlitepool

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// crashChildEnv makes TestCrashChild run, as "<mode>:<first id>:<path>";
// TestCrash sets it on the processes it kills.
const crashChildEnv = "SQLITEPOOL_CRASH_CHILD"

// What a crash child does besides its plain writers.
const (
	crashWrite      = "write"      // only the writers
	crashCheckpoint = "checkpoint" // a tiny WAL limit, and TRUNCATE checkpoints in a loop
	crashExclusive  = "exclusive"  // Exclusive sections that write a batch and VACUUM
)

// Lines a crash child prints. Each goes out in one write(2) to the pipe:
// os.Stdout has no buffer, and lines from several goroutines do not mix.
const (
	ackLine   = "ack "   // + the id of a row whose Write returned nil
	beginLine = "begin"  // a checkpoint, or an Exclusive section, starts
	endLine   = "end"    // and has ended
	failLine  = "fail "  // + an error the child did not expect; it exits
	crashPad  = 3 * 1024 // the largest row, so that rows span pages
)

// TestCrashChild is the process TestCrash kills with SIGKILL. It writes
// rows through a pool until then, printing the id of each write that
// committed; see crashChildEnv. It stops by itself after a minute, or when
// its standard output is gone (SIGPIPE), should the parent die first.
func TestCrashChild(t *testing.T) {
	spec := os.Getenv(crashChildEnv)
	if spec == "" {
		t.Skip("run by TestCrash")
	}
	parts := strings.SplitN(spec, ":", 3)
	require.Len(t, parts, 3, "%s=%q", crashChildEnv, spec)
	mode, path := parts[0], parts[2]
	first, err := strconv.ParseInt(parts[1], 10, 64)
	require.NoError(t, err)

	var opts []Option
	var section func(*crashChild, *Conn) error
	switch mode {
	case crashWrite:
	case crashCheckpoint:
		// The janitor truncates the WAL from 16 KiB: every few writes.
		opts = append(opts, WithWALLimit(minWALLimit))
		section = (*crashChild).checkpoint
	case crashExclusive:
		section = (*crashChild).vacuum
	default:
		t.Fatalf("unknown crash mode %q", mode)
	}
	h, err := Open(path, createTable, opts...)
	require.NoError(t, err)
	defer h.Close()

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var next atomic.Int64
	next.Store(first)
	c := crashChild{ctx: ctx, h: h, next: &next}
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(c.writeLoop)
	}
	if section != nil {
		wg.Go(func() { c.sectionLoop(section) })
	}
	wg.Wait()
	t.Error("not killed within a minute")
}

// crashChild is the state a crash child's goroutines share.
type crashChild struct {
	ctx  context.Context // the child's lifetime
	h    *Handle
	next *atomic.Int64 // the last id taken
}

// say prints one line in one write.
func (*crashChild) say(line string) {
	os.Stdout.WriteString(line + "\n")
}

// insert inserts a row of a random size on c and returns its id.
func (cc *crashChild) insert(c *Conn) (int64, error) {
	id := cc.next.Add(1)
	return id, c.Exec("INSERT INTO t(id, v) VALUES (?, randomblob(?))", id, rand.IntN(crashPad))
}

// writeLoop writes rows one Write at a time, and acknowledges each once
// Write returned nil: the row is committed.
func (cc *crashChild) writeLoop() {
	for cc.ctx.Err() == nil {
		var id int64
		err := cc.h.Write(cc.ctx, func(_ context.Context, c *Conn) (err error) {
			id, err = cc.insert(c)
			return err
		})
		if err != nil {
			cc.fail(err)
			return
		}
		cc.say(ackLine + strconv.FormatInt(id, 10))
	}
}

// fail reports an error to the parent, which fails the test: the child's
// own test never ends, so its t.Error would not be seen. Past the child's
// minute, errors are expected.
func (cc *crashChild) fail(err error) {
	if cc.ctx.Err() == nil {
		cc.say(failLine + strings.ReplaceAll(err.Error(), "\n", " "))
		os.Exit(2)
	}
}

// sectionLoop runs fn in Exclusive sections, fn marking where the part to
// be killed in begins, and the section marking where it ends; with a pause
// between sections for the writers to fill the WAL.
func (cc *crashChild) sectionLoop(fn func(cc *crashChild, w *Conn) error) {
	for cc.ctx.Err() == nil {
		err := cc.h.Exclusive(cc.ctx, func(_ context.Context, w *Conn, _ []*Conn) error {
			if err := fn(cc, w); err != nil {
				return err
			}
			cc.say(endLine)
			return nil
		})
		if err != nil {
			cc.fail(err)
			return
		}
		time.Sleep(time.Duration(rand.IntN(5)) * time.Millisecond)
	}
}

// batch inserts n rows in one transaction on the writer w, and
// acknowledges them once it committed.
func (cc *crashChild) batch(w *Conn, n int) (err error) {
	ids := make([]int64, 0, n)
	tx, err := w.Begin()
	if err != nil {
		return err
	}
	func() {
		defer tx.End(&err)
		for range n {
			var id int64
			if id, err = cc.insert(w); err != nil {
				return
			}
			ids = append(ids, id)
		}
	}()
	if err != nil {
		return err
	}
	for _, id := range ids {
		cc.say(ackLine + strconv.FormatInt(id, 10))
	}
	return nil
}

// checkpoint gives the WAL some pages to copy back, then empties it.
func (cc *crashChild) checkpoint(w *Conn) error {
	if err := cc.batch(w, 200); err != nil {
		return err
	}
	cc.say(beginLine)
	var busy, logged, copied int
	if err := w.QueryRow("PRAGMA wal_checkpoint(TRUNCATE)").Scan(&busy, &logged, &copied); err != nil {
		return err
	}
	if busy != 0 {
		return fmt.Errorf("TRUNCATE checkpoint inside Exclusive was busy (%d of %d frames copied)", copied, logged)
	}
	return nil
}

// vacuum writes a batch, then rewrites the whole database through the WAL.
func (cc *crashChild) vacuum(w *Conn) error {
	cc.say(beginLine)
	if err := cc.batch(w, 50); err != nil {
		return err
	}
	return w.Exec("VACUUM")
}
