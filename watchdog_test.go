package sqlitepool

import (
	"fmt"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
)

// watchdog catches a deadlock in a stress test: the workers count every
// operation they complete, and if the count stops moving for the stall
// time, the watchdog reports every goroutine's stack and aborts the
// workers, so that a deadlock fails the test instead of hanging the suite
// until go test's own timeout (which would show no invariant at all).
type watchdog struct {
	progress atomic.Int64
	fired    atomic.Bool
	stop     chan struct{}
	done     chan struct{}
}

// startWatchdog watches w.progress until stopWatch. On a stall it calls
// report with the goroutine dump, then abort (which should cancel what the
// workers wait on), once.
func startWatchdog(stall time.Duration, report func(msg string), abort func()) *watchdog {
	tk := time.NewTicker(stall / 20)
	w := &watchdog{stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer tk.Stop()
		w.run(stall, tk.C, report, abort)
	}()
	return w
}

// tick records one completed operation.
func (w *watchdog) tick() { w.progress.Add(1) }

// stopWatch ends the watch and waits for the watchdog's goroutine, so that
// it is not reported as leaked.
func (w *watchdog) stopWatch() {
	close(w.stop)
	<-w.done
}

// run checks the progress at each time clock gives, from the first.
func (w *watchdog) run(stall time.Duration, clock <-chan time.Time, report func(string), abort func()) {
	defer close(w.done)
	last, since := w.progress.Load(), time.Time{}
	for {
		select {
		case <-w.stop:
			return
		case now := <-clock:
			if n := w.progress.Load(); n != last || since.IsZero() {
				last, since = n, now
				continue
			}
			if now.Sub(since) < stall {
				continue
			}
			w.fired.Store(true)
			report(fmt.Sprintf("no operation completed for %v (%d so far); every goroutine:\n%s", stall, last, allStacks()))
			abort()
			return
		}
	}
}

// allStacks returns the stacks of every goroutine, growing the buffer
// until the dump fits.
func allStacks() []byte {
	buf := make([]byte, 1<<20)
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) {
			return buf[:n]
		}
		buf = make([]byte, 2*len(buf))
	}
}

func TestWatchdogFiresOnStallOnly(t *testing.T) {
	t.Run("stalled", func(t *testing.T) {
		var msg string
		aborted := make(chan struct{})
		w := startWatchdog(100*time.Millisecond, func(m string) { msg = m }, func() { close(aborted) })
		select {
		case <-aborted:
		case <-time.After(5 * time.Second):
			t.Fatal("the watchdog did not fire on a stall")
		}
		w.stopWatch()
		assert.True(t, w.fired.Load())
		assert.Contains(t, msg, "TestWatchdogFiresOnStallOnly", "the dump shows this test's goroutine")
	})
	t.Run("progressing", func(t *testing.T) {
		// A clock of the test's own: a loaded machine's late sleeps must
		// not look like a stall.
		clock := make(chan time.Time)
		const stall = 100 * time.Millisecond
		fired := make(chan string, 1)
		w := &watchdog{stop: make(chan struct{}), done: make(chan struct{})}
		go w.run(stall, clock, func(m string) { fired <- m }, func() {})
		now := time.Now()
		for range 50 { // 500 ms of operations, one every 10 ms
			w.tick()
			now = now.Add(10 * time.Millisecond)
			clock <- now
		}
		assert.False(t, w.fired.Load(), "fired while operations completed")
		for range 10 { // then 100 ms without one
			now = now.Add(10 * time.Millisecond)
			clock <- now
		}
		select {
		case <-fired:
		case <-time.After(5 * time.Second):
			t.Fatal("the watchdog did not fire once operations stopped")
		}
		<-w.done
		assert.True(t, w.fired.Load())
	})
}
