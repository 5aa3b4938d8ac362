package replication

import (
	"context"
	"errors"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sqlitepool/sqlitepool"
	"github.com/stretchr/testify/require"
)

// follower is `litestream restore -f`, which keeps a copy of the database
// up to date from the replica, and a read-only pool on that copy that
// watches the newest row arrive.
type follower struct {
	proc *proc
	h    *sqlitepool.Handle
	stop context.CancelFunc
	done chan struct{} // watch returned

	mu      sync.Mutex // protects following fields
	top     int64      // the newest id seen
	lags    []time.Duration
	steady  int // lags[:steady] were seen before Litestream was first killed
	readErr error
}

// startFollower starts following the replica into path once it holds a
// first snapshot, and opens a read-only pool on the copy.
func startFollower(t *testing.T, bin, cfg, db, path, logPath string) *follower {
	t.Helper()
	var p *proc
	deadline := time.Now().Add(time.Minute)
	for {
		p = startLitestream(t, bin, logPath, "restore", "-f", "-config", cfg, "-o", path, db)
		if entered(t, p, logPath, deadline) {
			break
		}
		require.True(t, time.Now().Before(deadline), "litestream restore -f did not start following within a minute")
		time.Sleep(500 * time.Millisecond)
	}
	// The first restore leaves the copy in WAL mode (as the database it
	// was taken from); Litestream switches its header to a rollback
	// journal with the first update it applies. A connection opened
	// before then reads the copy in WAL mode, creates a -wal file that
	// puts every later connection in WAL mode too, and holds a shared
	// lock for as long as it stays open: Litestream waits for an
	// exclusive lock before each update, and would wait forever.
	waitFor(t, time.Minute, 50*time.Millisecond, func() bool { return rollbackJournal(t, path) },
		"litestream restore -f never switched the copy to a rollback journal")
	h, err := sqlitepool.Open(path, nil, sqlitepool.WithReadOnly())
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	f := &follower{proc: p, h: h, stop: cancel, done: make(chan struct{})}
	go f.watch(ctx)
	t.Cleanup(f.close)
	return f
}

// entered waits until the follower process logs that it follows the
// replica (true) or ends, as it does while the replica is still empty.
func entered(t *testing.T, p *proc, logPath string, deadline time.Time) bool {
	t.Helper()
	for time.Now().Before(deadline) {
		b, err := os.ReadFile(logPath)
		require.NoError(t, err)
		if strings.Contains(string(b), "entering follow mode") {
			return true
		}
		select {
		case <-p.exited:
			return false
		case <-time.After(50 * time.Millisecond):
		}
	}
	return false
}

// rollbackJournal reports whether the database header at path says it
// uses a rollback journal: its file format versions (bytes 18 and 19) are
// 1, not WAL's 2.
func rollbackJournal(t *testing.T, path string) bool {
	t.Helper()
	f, err := os.Open(path)
	require.NoError(t, err)
	defer f.Close()
	var b [2]byte
	if _, err := f.ReadAt(b[:], 18); err != nil {
		return false // not written yet
	}
	return b == [2]byte{1, 1}
}

// watch reads the newest row of the copy every 50ms until ctx ends: each
// time a newer one shows, its age (now minus its commit time) is a lag.
func (f *follower) watch(ctx context.Context) {
	defer close(f.done)
	for ctx.Err() == nil {
		var id, at int64
		err := f.h.QueryRow(ctx, "SELECT id, at FROM rows ORDER BY id DESC LIMIT 1").Scan(&id, &at)
		now := time.Now()
		f.mu.Lock()
		switch {
		case ctx.Err() != nil:
		case errors.Is(err, sqlitepool.ErrNoRows):
		case err != nil:
			f.readErr = err
		case id > f.top:
			f.top = id
			f.lags = append(f.lags, now.Sub(time.Unix(0, at)))
		}
		f.mu.Unlock()
		if f.readErr != nil {
			return
		}
		select {
		case <-ctx.Done():
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// markSteady notes that the lags measured so far were measured while
// Litestream ran without a break.
func (f *follower) markSteady() {
	f.mu.Lock()
	f.steady = len(f.lags)
	f.mu.Unlock()
}

// caughtUp reports whether the follower's pool has read the row id, or
// stopped reading after an error.
func (f *follower) caughtUp(id int64) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.top >= id || f.readErr != nil
}

// close stops watching, closes the pool and stops following.
func (f *follower) close() {
	f.stop()
	<-f.done
	f.h.Close()
	f.proc.kill()
}

// lagStats summarizes lags: the median, the 90th percentile and the
// largest.
func lagStats(lags []time.Duration) (p50, p90, most time.Duration) {
	if len(lags) == 0 {
		return 0, 0, 0
	}
	s := slices.Clone(lags)
	slices.Sort(s)
	return s[len(s)/2], s[len(s)*9/10], s[len(s)-1]
}
