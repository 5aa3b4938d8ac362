package replication

import (
	"context"
	"math/rand/v2"
	"os"
	"os/signal"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/sqlitepool/sqlitepool"
	"github.com/stretchr/testify/require"
)

// appEnv makes TestApp run, with the database's path; TestLitestream sets
// it on the application processes it starts and kills.
const appEnv = "SQLITEPOOL_LITESTREAM_APP"

// Lines the application prints. Each goes out in one write(2) to the pipe
// (os.Stdout has no buffer), so lines from several goroutines never mix
// and a SIGKILL cannot cut one.
const (
	ackLine   = "ack "  // + the id of a row whose Write returned nil
	readyLine = "ready" // the pool is open
	fail      = "fail " // + an error the application did not expect
)

// appWriters and appReaders are the application's goroutines.
const (
	appWriters = 4
	appReaders = 2
)

// createRows makes the table the application writes: at is the commit's
// time in Unix nanoseconds, for the follower's lag.
func createRows(_ context.Context, c *sqlitepool.Conn) error {
	return c.Exec(`CREATE TABLE IF NOT EXISTS rows (id INTEGER PRIMARY KEY, at INTEGER NOT NULL, pad BLOB NOT NULL)`)
}

// TestApp is the application TestLitestream replicates and kills: it
// writes rows through a WALExternal pool from appWriters goroutines,
// printing the id of each row whose Write returned nil, while appReaders
// goroutines read in snapshots. SIGTERM stops it cleanly (the pool's
// Close leaves the -wal file to Litestream). It stops by itself after ten
// minutes past the test's own length, or when its standard output is
// gone (SIGPIPE), should the test die first.
func TestApp(t *testing.T) {
	path := os.Getenv(appEnv)
	if path == "" {
		t.Skip("run by TestLitestream")
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM)
	defer stop()
	ctx, cancel := context.WithTimeout(ctx, testLength(t)+10*time.Minute)
	defer cancel()

	h, err := sqlitepool.Open(path, createRows, sqlitepool.WithWALPolicy(sqlitepool.WALExternal))
	require.NoError(t, err)
	say(readyLine)

	var wg sync.WaitGroup
	for range appWriters {
		wg.Go(func() { write(ctx, h) })
	}
	for range appReaders {
		wg.Go(func() { read(ctx, h) })
	}
	wg.Wait()
	require.NoError(t, h.Close())
}

// write inserts rows until ctx ends: one row per Write, and one Write in
// ten a batch of 20 rows in one transaction.
func write(ctx context.Context, h *sqlitepool.Handle) {
	for ctx.Err() == nil {
		n := 1
		if rand.IntN(10) == 0 {
			n = 20
		}
		ids := make([]int64, 0, n)
		err := h.Write(ctx, func(ctx context.Context, c *sqlitepool.Conn) error {
			ids = ids[:0]
			for range n {
				err := c.Exec("INSERT INTO rows(at, pad) VALUES (?, randomblob(?))",
					time.Now().UnixNano(), rand.IntN(1500))
				if err != nil {
					return err
				}
				ids = append(ids, c.LastInsertRowID())
			}
			return nil
		})
		if ctx.Err() != nil {
			return // the commit may or may not have happened: not acknowledged
		}
		if err != nil {
			say(fail + err.Error())
			os.Exit(1)
		}
		for _, id := range ids {
			say(ackLine + strconv.FormatInt(id, 10))
		}
		time.Sleep(time.Millisecond) // leave the 2-core machine some room
	}
}

// read holds a snapshot for a moment, in a loop, as a busy application's
// readers do: Litestream's checkpoints meet them.
func read(ctx context.Context, h *sqlitepool.Handle) {
	for ctx.Err() == nil {
		err := h.Read(ctx, func(ctx context.Context, c *sqlitepool.Conn) error {
			var n, top int64
			if err := c.QueryRow("SELECT count(*), coalesce(max(id), 0) FROM rows").Scan(&n, &top); err != nil {
				return err
			}
			time.Sleep(2 * time.Millisecond)
			return nil
		})
		if err != nil && ctx.Err() == nil {
			say(fail + err.Error())
			os.Exit(1)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// say prints one line in one write.
func say(line string) {
	os.Stdout.WriteString(line + "\n")
}
