package sqlitepool

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// rssKiB reads this process's resident set size.
func rssKiB(t testing.TB) int64 {
	t.Helper()
	f, err := os.Open("/proc/self/status")
	if err != nil {
		t.Skip("no /proc/self/status on this system")
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "VmRSS:"); ok {
			n, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			require.NoError(t, err)
			return n
		}
	}
	t.Fatal("no VmRSS")
	return 0
}

// TestRSSChild is the child of TestMemoryPerConnection: with
// SQLITEPOOL_RSS_READERS=n it opens a pool, opens n readers and a read on
// each, lets them go idle, and prints its RSS before and after.
func TestRSSChild(t *testing.T) {
	s := os.Getenv("SQLITEPOOL_RSS_READERS")
	if s == "" {
		t.Skip("run by TestMemoryPerConnection")
	}
	n, err := strconv.Atoi(s)
	require.NoError(t, err)
	before := rssKiB(t)
	h, err := Open(filepath.Join(t.TempDir(), "rss.db"), createTable, WithReaders(n))
	require.NoError(t, err)
	var leases []*Lease
	for range n {
		l, err := h.Reader(context.Background())
		require.NoError(t, err)
		queryInt(t, l.Conn(), "SELECT count(*) FROM t")
		leases = append(leases, l)
	}
	for _, l := range leases {
		l.Release()
	}
	fmt.Printf("RSS %d %d\n", before, rssKiB(t))
	require.NoError(t, h.Close())
}

// TestMemoryPerConnection measures, each in a fresh process, the RSS of an
// idle pool with 1, 8 and 32 readers (plus the writer), for the README.
func TestMemoryPerConnection(t *testing.T) {
	if testing.Short() {
		t.Skip("starts child processes")
	}
	grown := map[int]int64{}
	for _, n := range []int{1, 8, 32} {
		cmd := exec.Command(os.Args[0], "-test.run=^TestRSSChild$", "-test.count=1", "-test.v")
		cmd.Env = append(os.Environ(), "SQLITEPOOL_RSS_READERS="+strconv.Itoa(n))
		out, err := cmd.CombinedOutput()
		require.NoError(t, err, "%s", out)
		var before, after int64
		for _, line := range strings.Split(string(out), "\n") {
			if _, err := fmt.Sscanf(line, "RSS %d %d", &before, &after); err == nil {
				break
			}
		}
		require.Positive(t, after, "%s", out)
		grown[n] = after - before
		t.Logf("idle pool, writer + %2d readers: RSS +%5.1f MiB (%.2f MiB per connection)",
			n, float64(grown[n])/1024, float64(grown[n])/1024/float64(n+1))
	}
	assert.Greater(t, grown[32], grown[1], "readers cost memory")
}
