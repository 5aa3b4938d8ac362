package replication

import (
	"bufio"
	"bytes"
	"go/build"
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

// litestreamBin finds the pinned Litestream, on PATH or where go install
// puts it; the test is skipped when there is none.
func litestreamBin(t *testing.T) string {
	t.Helper()
	bin, err := exec.LookPath("litestream")
	if err != nil {
		dir := os.Getenv("GOBIN")
		if dir == "" {
			dir = filepath.Join(build.Default.GOPATH, "bin")
		}
		bin = filepath.Join(dir, "litestream")
		if _, err := os.Stat(bin); err != nil {
			t.Skipf("litestream not found; go install github.com/benbjohnson/litestream/cmd/litestream@%s", litestreamVersion)
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
	name   string
	cmd    *exec.Cmd
	done   chan struct{} // its standard output was read to the end
	stderr *bytes.Buffer
}

// startApp starts an application process (TestApp) on path, and returns
// once its pool is open.
func startApp(t *testing.T, path string, a *acks) *proc {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestApp$", "-test.count=1")
	cmd.Env = append(os.Environ(), appEnv+"="+path)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	p := &proc{name: "app", cmd: cmd, done: make(chan struct{}), stderr: &stderr}
	t.Cleanup(p.kill)
	ready := make(chan struct{})
	go func() {
		defer close(p.done)
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			line := sc.Text()
			switch {
			case strings.HasPrefix(line, ackLine):
				id, err := strconv.ParseInt(strings.TrimPrefix(line, ackLine), 10, 64)
				if err != nil {
					a.fail("bad line " + line)
					continue
				}
				a.add(id)
			case line == readyLine:
				close(ready)
			case strings.HasPrefix(line, fail):
				a.fail(line)
			}
		}
	}()
	select {
	case <-ready:
	case <-p.done:
		p.wait()
		t.Fatalf("the application ended before its pool opened: %s", stderr.String())
	case <-time.After(time.Minute):
		t.Fatal("the application did not open its pool within a minute")
	}
	return p
}

// startLitestream runs `litestream replicate -config cfg`, its output
// appended to logPath.
func startLitestream(t *testing.T, bin, cfg, logPath string) *proc {
	t.Helper()
	log, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	require.NoError(t, err)
	defer log.Close() // the child has its own copy
	cmd := exec.Command(bin, "replicate", "-config", cfg)
	cmd.Stdout, cmd.Stderr = log, log
	require.NoError(t, cmd.Start())
	p := &proc{name: "litestream", cmd: cmd, done: make(chan struct{})}
	close(p.done)
	t.Cleanup(p.kill)
	return p
}

// kill sends SIGKILL, and waits for the process to end.
func (p *proc) kill() {
	if p.cmd.ProcessState != nil {
		return
	}
	p.cmd.Process.Signal(syscall.SIGKILL)
	p.wait()
}

// stop sends SIGTERM, and reports how the process ended.
func (p *proc) stop() error {
	p.cmd.Process.Signal(syscall.SIGTERM)
	return p.wait()
}

// wait reads the process's output to its end, then reaps it.
func (p *proc) wait() error {
	<-p.done
	return p.cmd.Wait()
}
