package replication

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
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
	require.NoError(t, os.WriteFile(cfg, fmt.Appendf(nil,
		"dbs:\n  - path: %s\n    replica:\n      type: file\n      path: %s\n", db, replica), 0o644))
	t.Cleanup(func() {
		if t.Failed() {
			b, _ := os.ReadFile(logPath)
			t.Logf("litestream's output:\n%s", b)
		}
	})

	var a acks
	app := startApp(t, db, &a)
	ls := startLitestream(t, bin, logPath, "replicate", "-config", cfg)

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
	for range kills {
		time.Sleep(pause)
		ls.kill()
		// The application writes on while no replicator runs: the WAL
		// keeps every frame, as nothing checkpoints it.
		time.Sleep(pause / 4)
		ls = startLitestream(t, bin, logPath, "replicate", "-config", cfg)
	}
	time.Sleep(pause)

	require.NoError(t, app.stop(), "the application's clean stop: %s", app.stderr)
	// On SIGTERM Litestream ships what the WAL still holds, then exits.
	require.NoError(t, ls.stop(), "litestream's clean stop")
	ids, fails := a.snapshot()
	require.Empty(t, fails, "the application failed")

	restored := filepath.Join(dir, "restored.db")
	out, err := exec.Command(bin, "restore", "-config", cfg, "-o", restored, db).CombinedOutput()
	require.NoError(t, err, "litestream restore: %s", out)
	rows, missing, check := checkCopy(t, restored, ids)
	t.Logf("%d rows acknowledged in %v by %d application runs (1 clean restart, %d SIGKILLs of the application, %d of Litestream); "+
		"the restored copy has %d rows, %d acknowledged ones missing, integrity_check %s",
		len(ids), length, kills+2, kills, kills, rows, missing, check)
}

// checkCopy opens a restored database and checks that it passes
// integrity_check and holds every acknowledged id; it returns its row
// count, the number of acknowledged ids it lacks and integrity_check's
// answer.
func checkCopy(t *testing.T, path string, ids []int64) (rows int64, missing int, check string) {
	t.Helper()
	ctx := context.Background()
	h, err := sqlitepool.Open(path, nil)
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
	require.NotEmpty(t, ids, "nothing acknowledged")
	return int64(len(have)), missing, check
}
