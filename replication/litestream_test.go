package replication

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sqlitepool/sqlitepool"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestLitestream runs the pinned Litestream beside an application that
// writes through a WALExternal pool (TestApp): Litestream replicates the
// database to a file replica while the test kills the application with
// SIGKILL and restarts it, several times, then does the same to
// Litestream; it then stops both cleanly and restores the replica into a
// new file. Every row the application acknowledged must be there, and the
// copy must pass integrity_check.
//
// Meanwhile `litestream restore -f` follows the replica into a copy that a
// WithReadOnly pool reads: it must see the newest acknowledged row in the
// end, and each newer row it sees gives a lag (its age when it showed).
func TestLitestream(t *testing.T) {
	bin := litestreamBin(t)
	length := testLength(t)
	kills := max(3, int(length/(20*time.Second)))
	pause := length / time.Duration(2*kills+2)

	dir := t.TempDir()
	db := filepath.Join(dir, "app.db")
	replica := filepath.Join(dir, "replica")
	cfg := filepath.Join(dir, "litestream.yml")
	logPath := filepath.Join(dir, "litestream.log")
	followPath := filepath.Join(dir, "follower.db")
	followLog := filepath.Join(dir, "follower.log")
	require.NoError(t, os.WriteFile(cfg, fmt.Appendf(nil,
		"dbs:\n  - path: %s\n    replica:\n      type: file\n      path: %s\n", db, replica), 0o644))
	t.Cleanup(func() {
		if t.Failed() {
			b, _ := os.ReadFile(logPath)
			t.Logf("litestream replicate's output:\n%s", b)
			b, _ = os.ReadFile(followLog)
			t.Logf("litestream restore -f's output:\n%s", b)
		}
	})

	var a acks
	begin := time.Now()
	app := startApp(t, db, &a)
	ls := startLitestream(t, bin, logPath, "replicate", "-config", cfg)
	fol := startFollower(t, bin, cfg, db, followPath, followLog)

	// A clean restart first: the pool's Close leaves the -wal file and its
	// frames, so that Litestream goes on from where it was.
	time.Sleep(pause)
	require.NoError(t, app.stop(), "the application's clean stop: %s", app.stderr)
	app = startApp(t, db, &a)
	for range kills {
		time.Sleep(pause)
		app.kill()
		app = startApp(t, db, &a)
	}
	fol.markSteady()
	for range kills {
		time.Sleep(pause)
		ls.kill()
		// The application writes on while no replicator runs: the WAL
		// keeps every frame, as nothing checkpoints it.
		time.Sleep(pause / 4)
		shipped := newestTXID(t, replica)
		ls = startLitestream(t, bin, logPath, "replicate", "-config", cfg)
		// Killed before it ships anything, a Litestream tests nothing:
		// it opens the database and reads the WAL first, which takes
		// seconds on a busy machine.
		waitFor(t, 2*time.Minute, 50*time.Millisecond, func() bool { return newestTXID(t, replica) > shipped },
			"the restarted litestream shipped nothing")
	}
	time.Sleep(pause)

	require.NoError(t, app.stop(), "the application's clean stop: %s", app.stderr)
	wrote := time.Since(begin).Round(time.Second)
	ids, fails := a.snapshot()
	require.Empty(t, fails, "the application failed")
	require.NotEmpty(t, ids, "nothing acknowledged")
	newest := slices.Max(ids)
	// Litestream ships what the WAL still holds. A SIGTERM before it
	// did would end it before it ships anything more (the WAL keeps
	// the frames for its next run): stop it once the replica has the
	// newest row.
	restored := filepath.Join(dir, "restored.db")
	waitFor(t, 2*time.Minute, time.Second, func() bool { return restoreHas(t, bin, cfg, db, restored, newest) },
		"the replica never had the newest acknowledged row %d", newest)
	require.NoError(t, ls.stop(), "litestream's clean stop")

	out, err := exec.Command(bin, "restore", "-config", cfg, "-force", "-o", restored, db).CombinedOutput()
	require.NoError(t, err, "litestream restore: %s", out)
	rows, missing, check := checkCopy(t, restored, ids)
	t.Logf("%d rows acknowledged in %v by %d application runs (1 clean restart, %d SIGKILLs of the application, %d of Litestream); "+
		"the restored copy has %d rows, %d acknowledged ones missing, integrity_check %s",
		len(ids), wrote, kills+2, kills, kills, rows, missing, check)

	// The follower catches up with the last of the replica.
	waitFor(t, 2*time.Minute, 50*time.Millisecond, func() bool { return fol.caughtUp(newest) },
		"the follower's pool never saw the newest acknowledged row %d", newest)
	fol.close()
	require.NoError(t, fol.readErr, "a read on the follower's pool failed")
	steady, all := fol.lags[:fol.steady], fol.lags
	p50, p90, most := lagStats(steady)
	_, _, mostAll := lagStats(all)
	rows, missing, check = checkCopy(t, followPath, ids)
	t.Logf("follower: a WithReadOnly pool on the copy `litestream restore -f` keeps, read every 50ms: "+
		"lag while Litestream ran p50 %v, p90 %v, max %v (%d newer rows seen); max %v with its SIGKILLs; "+
		"the copy has %d rows, %d acknowledged ones missing, integrity_check %s",
		p50.Round(time.Millisecond), p90.Round(time.Millisecond), most.Round(time.Millisecond), len(steady),
		mostAll.Round(time.Millisecond), rows, missing, check)
}

// newestTXID returns the newest transaction the replica holds, as the
// hexadecimal name its newest LTX file ends with ("" when it has none):
// the names sort as the ids do.
func newestTXID(t *testing.T, replica string) string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(replica, "ltx", "*", "*.ltx"))
	require.NoError(t, err)
	newest := ""
	for _, f := range files {
		_, txid, ok := strings.Cut(strings.TrimSuffix(filepath.Base(f), ".ltx"), "-")
		if ok && txid > newest {
			newest = txid
		}
	}
	return newest
}

// restoreHas restores the replica into path and reports whether the copy
// holds the row id.
func restoreHas(t *testing.T, bin, cfg, db, path string, id int64) bool {
	t.Helper()
	out, err := exec.Command(bin, "restore", "-config", cfg, "-force", "-o", path, db).CombinedOutput()
	require.NoError(t, err, "litestream restore: %s", out)
	h, err := sqlitepool.Open(path, nil, sqlitepool.WithReadOnly())
	require.NoError(t, err)
	defer h.Close()
	var n int64
	require.NoError(t, h.QueryRow(context.Background(), "SELECT count(*) FROM rows WHERE id = ?", id).Scan(&n))
	return n == 1
}

// checkCopy opens a restored database read-only and checks that it passes
// integrity_check and holds every acknowledged id; it returns its row
// count, the number of acknowledged ids it lacks and integrity_check's
// answer.
func checkCopy(t *testing.T, path string, ids []int64) (rows int64, missing int, check string) {
	t.Helper()
	ctx := context.Background()
	h, err := sqlitepool.Open(path, nil, sqlitepool.WithReadOnly())
	require.NoError(t, err)
	defer func() { require.NoError(t, h.Close()) }()

	require.NoError(t, h.QueryRow(ctx, "PRAGMA integrity_check").Scan(&check))
	assert.Equal(t, "ok", check, "integrity_check of the restored copy")

	have := make(map[int64]bool)
	for r, err := range h.Query(ctx, "SELECT id FROM rows") {
		require.NoError(t, err)
		var id int64
		require.NoError(t, r.Scan(&id))
		have[id] = true
	}
	var first []int64
	for _, id := range ids {
		if !have[id] {
			missing++
			if len(first) < 10 {
				first = append(first, id)
			}
		}
	}
	assert.Zero(t, missing, "acknowledged ids missing from the restored copy, the first: %v", first)
	return int64(len(have)), missing, check
}
