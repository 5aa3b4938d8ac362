//go:build unix

package sqlitepool

import (
	"bufio"
	"context"
	"encoding/binary"
	"math/rand/v2"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// crashKills is how many times TestCrash kills the plain writers:
// SQLITEPOOL_CRASHES, 20 by default. The checkpoint and Exclusive modes get
// half of that each, at least 10.
func crashKills(t *testing.T) int {
	if s := os.Getenv("SQLITEPOOL_CRASHES"); s != "" {
		n, err := strconv.Atoi(s)
		require.NoError(t, err, "SQLITEPOOL_CRASHES")
		return n
	}
	return 20
}

// crashMode is one way TestCrash kills its children.
type crashMode struct {
	name    string // the child's mode
	kills   int
	trigger string               // the line after which to kill
	nth     func() int           // at the nth such line
	delay   func() time.Duration // and this long after it
	section bool                 // the trigger begins a section
}

// TestCrash kills a process writing through a pool with SIGKILL, at a
// random moment, again and again on one database, and checks after each
// kill that a fresh Open recovers the hot WAL it left: every write the child
// saw committed is there, integrity_check is ok, and the pool works.
//
// The child is this test binary running TestCrashChild. It acknowledges a
// write on its standard output once Handle.Write returned nil. The pool
// runs WAL with synchronous=NORMAL: a commit is in the WAL file, in the
// operating system's cache but not synced to the disk, when Write returns.
// That is durable against the death of the process (what this test
// checks), not against a power loss or an operating system crash, which
// may lose the last commits (synchronous=FULL closes that gap).
//
// Three modes: plain writers, killed 2 to 200 ms after their first
// acknowledgement; writers plus a loop of TRUNCATE checkpoints in Exclusive
// sections (and a 64 KiB WAL limit, so that the pool's janitor truncates
// too), killed 0 to 2 ms after a checkpoint starts; writers plus Exclusive
// sections that write a batch and VACUUM, killed 0 to 20 ms after one
// starts.
func TestCrash(t *testing.T) {
	if testing.Short() {
		t.Skip("kills child processes")
	}
	n := crashKills(t)
	modes := []crashMode{{
		name:    crashWrite,
		kills:   n,
		trigger: ackLine,
		nth:     func() int { return 1 },
		delay:   func() time.Duration { return time.Duration(2+rand.IntN(199)) * time.Millisecond },
	}, {
		name:    crashCheckpoint,
		kills:   max(10, n/2),
		trigger: beginLine,
		nth:     func() int { return 1 + rand.IntN(3) },
		delay:   func() time.Duration { return time.Duration(rand.IntN(2000)) * time.Microsecond },
		section: true,
	}, {
		name:    crashExclusive,
		kills:   max(10, n/2),
		trigger: beginLine,
		nth:     func() int { return 1 + rand.IntN(3) },
		delay:   func() time.Duration { return time.Duration(rand.IntN(20)) * time.Millisecond },
		section: true,
	}}
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) { crashRepeatedly(t, m) })
	}
}

// crashRepeatedly kills m.kills children of mode m, one after the other on
// one database, and checks it after each kill: all the writes acknowledged
// so far, by this child and the ones before, must be there.
func crashRepeatedly(t *testing.T, m crashMode) {
	path := tempDB(t)
	var acked []int64
	var inside, hot int
	stages := map[string]int{} // of the checkpoints killed
	for run := range m.kills {
		r := crashOnce(t, m, path, int64(run+1)*1e8) // ids of its own
		acked = append(acked, r.acks...)
		if r.inside {
			inside++
			if m.name == crashCheckpoint {
				stages[checkpointStage(path)]++
			}
		}
		if verifyCrash(t, path, acked, -int64(run+1)) {
			hot++
		}
		if t.Failed() {
			t.Fatalf("after kill %d (%d acknowledgements, last lines %q)", run+1, len(r.acks), r.tail)
		}
	}
	t.Logf("%d kills survived, %d left a hot WAL; %d acknowledged writes, all found after every later kill: 0 lost",
		m.kills, hot, len(acked))
	assert.Positive(t, hot, "no kill left a WAL to recover")
	if m.section {
		t.Logf("%d kills inside a section", inside)
		assert.Positive(t, inside, "no kill landed inside a section")
	}
	if m.name == crashCheckpoint {
		// Timing, not asserted: a fast disk may copy too fast to be caught.
		t.Logf("where those kills stopped the checkpoint: %v", stages)
	}
}

// crashRun is what one killed child printed.
type crashRun struct {
	acks   []int64
	inside bool     // it died between a begin line and its end line
	tail   []string // its last lines, for failure messages
}

// crashOnce runs a child in mode m on path, with ids from first on, kills
// it and returns what it acknowledged before it died.
func crashOnce(t *testing.T, m crashMode, path string, first int64) (r crashRun) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestCrashChild$", "-test.count=1")
	cmd.Env = append(os.Environ(), crashChildEnv+"="+m.name+":"+strconv.FormatInt(first, 10)+":"+path)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	stdout, err := cmd.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())

	lines := make(chan string, 256)
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			lines <- sc.Text()
		}
	}()
	kill := func() { assert.NoError(t, cmd.Process.Kill()) }
	nth, seen, killed := m.nth(), 0, false
	var timer <-chan time.Time
	giveUp := time.After(30 * time.Second)
	// Read to the end of the pipe, past the kill: the lines still in it
	// were written before the child died, and their writes had committed.
	for line, ok := <-lines; ok; {
		switch {
		case strings.HasPrefix(line, ackLine):
			id, err := strconv.ParseInt(line[len(ackLine):], 10, 64)
			if assert.NoError(t, err) { // and read on: the child must die
				r.acks = append(r.acks, id)
			}
		case line == beginLine:
			r.inside = true
		case line == endLine:
			r.inside = false
		case strings.HasPrefix(line, failLine):
			t.Errorf("child: %s", line)
		}
		r.tail = append(r.tail, line)
		if len(r.tail) > 5 {
			r.tail = r.tail[1:]
		}
		if !killed && timer == nil && strings.HasPrefix(line, m.trigger) {
			if seen++; seen == nth {
				if d := m.delay(); d > 0 {
					timer = time.After(d)
				} else {
					kill()
					killed = true
				}
			}
		}
		select {
		case line, ok = <-lines:
		case <-timer:
			kill()
			killed, timer = true, nil
			line, ok = <-lines
		case <-giveUp:
			kill()
			t.Errorf("no %q line in 30s", m.trigger)
			for range lines { // let the pipe close before Wait
			}
			ok = false
		}
	}
	err = cmd.Wait()
	ws, _ := cmd.ProcessState.Sys().(syscall.WaitStatus)
	if !ws.Signaled() || ws.Signal() != syscall.SIGKILL {
		t.Errorf("child did not die of SIGKILL: %v; stderr:\n%s", err, stderr.String())
	}
	if !killed && !t.Failed() {
		t.Errorf("child died before it was killed")
	}
	return r
}

// verifyCrash opens path after a kill and checks that every id of acked is
// there, that the database is intact and that the pool writes and reads,
// with a row of id probe. It reports whether there was a WAL to recover.
func verifyCrash(t *testing.T, path string, acked []int64, probe int64) (hot bool) {
	t.Helper()
	if fi, err := os.Stat(path + "-wal"); err == nil && fi.Size() > 0 {
		hot = true
	}
	ctx := context.Background()
	h, err := Open(path, createTable)
	require.NoError(t, err, "open after the kill")
	defer func() { assert.NoError(t, h.Close()) }()

	var problems []string
	for row, err := range h.Query(ctx, "PRAGMA integrity_check") {
		require.NoError(t, err)
		var s string
		require.NoError(t, row.Scan(&s))
		problems = append(problems, s)
	}
	assert.Equal(t, []string{"ok"}, problems, "integrity_check")

	have := make(map[int64]bool, len(acked))
	for row, err := range h.Query(ctx, "SELECT id FROM t") {
		require.NoError(t, err)
		var id int64
		require.NoError(t, row.Scan(&id))
		have[id] = true
	}
	var lost []int64
	for _, id := range acked {
		if !have[id] {
			lost = append(lost, id)
		}
	}
	assert.Empty(t, lost[:min(len(lost), 10)], "acknowledged writes lost: %d of %d (the first 10 shown)", len(lost), len(acked))

	require.NoError(t, h.Exec(ctx, "INSERT INTO t(id, v) VALUES (?, 'after the kill')", probe))
	var v string
	require.NoError(t, h.QueryRow(ctx, "SELECT v FROM t WHERE id = ?", probe).Scan(&v))
	assert.Equal(t, "after the kill", v)
	return hot
}

// checkpointStage tells, from the WAL-index a killed child left in the
// -shm file (a shared mapping, so its last state survives the process),
// how far the checkpoint it was killed in got. SQLite records the frames a
// checkpoint will copy (nBackfillAttempted) before copying them, and the
// frames copied (nBackfill) once they are all in the database file and it
// is synced; TRUNCATE then empties the WAL. See
// https://sqlite.org/walformat.html#the_wal_index_file_format.
func checkpointStage(path string) string {
	f, err := os.Open(path + "-shm")
	if err != nil {
		return "no WAL-index"
	}
	defer f.Close()
	var hdr [136]byte
	if _, err := f.ReadAt(hdr[:], 0); err != nil {
		return "no WAL-index"
	}
	u32 := func(off int) uint32 { return binary.NativeEndian.Uint32(hdr[off:]) }
	frames, attempted, copied := u32(16), u32(128), u32(96)
	switch {
	case frames == 0:
		return "WAL empty"
	case attempted < frames:
		return "before the copy"
	case copied < frames:
		return "during the copy"
	}
	return "copied, not truncated"
}
