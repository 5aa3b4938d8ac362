package replication

import (
	"bufio"
	"bytes"
	"go/build"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// litestreamVersion is the Litestream the test runs; .ci/run installs it.
const litestreamVersion = "v0.5.18"

// lengthEnv sets how long TestLitestream writes.
const lengthEnv = "SQLITEPOOL_LITESTREAM"

// testLength is TestLitestream's writing time: lengthEnv, or 30s.
func testLength(t *testing.T) time.Duration {
	t.Helper()
	s := os.Getenv(lengthEnv)
	if s == "" {
		return 30 * time.Second
	}
	d, err := time.ParseDuration(s)
	require.NoError(t, err, "%s=%q", lengthEnv, s)
	require.GreaterOrEqual(t, d, 10*time.Second, "%s=%q", lengthEnv, s)
	return d
}

// binEnv names the Litestream binary to run; .ci/run sets it, so that a
// missing binary fails the test there instead of skipping it.
const binEnv = "SQLITEPOOL_LITESTREAM_BIN"

// litestreamBin finds the pinned Litestream: binEnv, or on PATH, or where
// go install puts it; the test is skipped when there is none.
func litestreamBin(t *testing.T) string {
	t.Helper()
	bin := os.Getenv(binEnv)
	if bin == "" {
		var err error
		if bin, err = exec.LookPath("litestream"); err != nil {
			dir := os.Getenv("GOBIN")
			if dir == "" {
				dir = filepath.Join(build.Default.GOPATH, "bin")
			}
			bin = filepath.Join(dir, "litestream")
			if _, err := os.Stat(bin); err != nil {
				t.Skipf("litestream not found; go install github.com/benbjohnson/litestream/cmd/litestream@%s", litestreamVersion)
			}
		}
	}
	out, err := exec.Command(bin, "version").Output()
	require.NoError(t, err, "%s version", bin)
	require.Equal(t, litestreamVersion, strings.TrimSpace(string(out)),
		"%s is not the pinned Litestream; go install github.com/benbjohnson/litestream/cmd/litestream@%s", bin, litestreamVersion)
	return bin
}

// acks collects the ids the application processes acknowledged.
type acks struct {
	mu    sync.Mutex // protects following fields
	ids   []int64
	fails []string
}

func (a *acks) add(id int64) {
	a.mu.Lock()
	a.ids = append(a.ids, id)
	a.mu.Unlock()
}

func (a *acks) fail(line string) {
	a.mu.Lock()
	a.fails = append(a.fails, line)
	a.mu.Unlock()
}

// snapshot returns the ids acknowledged so far and the failures reported.
func (a *acks) snapshot() ([]int64, []string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]int64(nil), a.ids...), append([]string(nil), a.fails...)
}

// proc is a child process the test starts, kills and restarts.
type proc struct {
	cmd    *exec.Cmd
	stderr *bytes.Buffer // the application's; Litestream's goes to its log
	exited chan struct{} // closed once it ended and was reaped
	err    error         // how it ended, once exited is closed
}

// start starts cmd, passing each line of its standard output, if it has
// one, to onLine; the process is killed when the test ends.
func start(t *testing.T, cmd *exec.Cmd, onLine func(string)) *proc {
	t.Helper()
	p := &proc{cmd: cmd, exited: make(chan struct{})}
	var out io.Reader
	if onLine != nil {
		p.stderr = new(bytes.Buffer)
		cmd.Stderr = p.stderr
		r, err := cmd.StdoutPipe()
		require.NoError(t, err)
		out = r
	}
	require.NoError(t, cmd.Start())
	go func() {
		if out != nil {
			// Read to the end before Wait, which closes the pipe.
			sc := bufio.NewScanner(out)
			for sc.Scan() {
				onLine(sc.Text())
			}
		}
		p.err = cmd.Wait()
		close(p.exited)
	}()
	t.Cleanup(p.kill)
	return p
}

// startApp starts an application process (TestApp) on path, and returns
// once its pool is open.
func startApp(t *testing.T, path string, a *acks) *proc {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestApp$", "-test.count=1")
	cmd.Env = append(os.Environ(), appEnv+"="+path)
	ready := make(chan struct{})
	p := start(t, cmd, func(line string) {
		switch {
		case strings.HasPrefix(line, ackLine):
			id, err := strconv.ParseInt(strings.TrimPrefix(line, ackLine), 10, 64)
			if err != nil {
				a.fail("bad line " + line)
				return
			}
			a.add(id)
		case line == readyLine:
			close(ready)
		case strings.HasPrefix(line, fail):
			a.fail(line)
		}
	})
	select {
	case <-ready:
	case <-p.exited:
		t.Fatalf("the application ended before its pool opened: %v: %s", p.err, p.stderr)
	case <-time.After(time.Minute):
		t.Fatal("the application did not open its pool within a minute")
	}
	return p
}

// startLitestream runs Litestream with args, its output appended to
// logPath.
func startLitestream(t *testing.T, bin, logPath string, args ...string) *proc {
	t.Helper()
	log, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	require.NoError(t, err)
	defer log.Close() // the child has its own copy
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = log, log
	return start(t, cmd, nil)
}

// kill sends SIGKILL, and waits for the process to end.
func (p *proc) kill() {
	p.cmd.Process.Signal(syscall.SIGKILL)
	<-p.exited
}

// stop sends SIGTERM, and reports how the process ended.
func (p *proc) stop() error {
	p.cmd.Process.Signal(syscall.SIGTERM)
	<-p.exited
	return p.err
}

// waitFor calls cond every interval, on the test's goroutine (cond may
// fail the test), until it holds; it fails the test after d. The bound is
// only there so that a stuck process ends the test: nothing is measured.
func waitFor(t *testing.T, d, interval time.Duration, cond func() bool, msg string, args ...any) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf(msg, args...)
		}
		time.Sleep(interval)
	}
}
