package sqlitepool

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ncruces/go-sqlite3"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

// TestSQLStress runs 64 goroutines on one database through a *sql.DB of
// OpenDB and, beside it, the pool's own Write and Exec on another handle,
// for stressDuration (SQLITEPOOL_STRESS=10m for ten minutes): Exec,
// queries, read-modify-write transactions on a counter, read-only
// transactions, sql.Conn sessions (a temp table on the writer, two reads
// on a reader) and calls whose context ends at random. Invariants: the
// counter equals the increments whose commit was acknowledged; no call
// fails but by its own context ending, and none with SQLITE_BUSY; a read
// transaction sees one snapshot; never more than one writer open or
// leased, none replaced; nothing leased at the end; goroutines back to
// where they were once the *sql.DB and the handle are closed.
func TestSQLStress(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	path := tempDB(t)
	h, err := Open(path, func(ctx context.Context, c *Conn) error {
		return c.Exec(`CREATE TABLE counter(id INTEGER PRIMARY KEY, n INTEGER NOT NULL);
			INSERT INTO counter VALUES (1, 0);
			CREATE TABLE items(id INTEGER PRIMARY KEY, g INTEGER, v TEXT)`)
	}, WithReaders(3))
	require.NoError(t, err)
	db, err := OpenDB(path, nil)
	require.NoError(t, err)

	var (
		increments atomic.Int64 // committed, acknowledged
		ops        atomic.Int64
		failures   = make(chan error, 64)
	)
	fail := func(err error) {
		select {
		case failures <- err:
		default:
		}
	}
	// check accepts an error only from a call whose context ended, and
	// never SQLITE_BUSY.
	check := func(what string, ctx context.Context, err error) bool {
		if err == nil {
			return true
		}
		if errors.Is(err, sqlite3.BUSY) || ctx.Err() == nil {
			fail(fmt.Errorf("%s: %w", what, err))
		}
		return false
	}

	deadline := time.Now().Add(stressDuration(t))
	stop := make(chan struct{})
	var sampler sync.WaitGroup
	var maxWriters atomic.Int64
	sampler.Go(func() {
		for {
			s := h.Stats()
			if n := int64(max(s.Writer.Open, s.Writer.InUse)); n > maxWriters.Load() {
				maxWriters.Store(n)
			}
			select {
			case <-stop:
				return
			case <-time.After(time.Millisecond):
			}
		}
	})

	var wg sync.WaitGroup
	for g := range 64 {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(g), 14))
			for time.Now().Before(deadline) {
				ctx, cancel := context.Background(), context.CancelFunc(func() {})
				if rng.IntN(5) == 0 { // a call whose context ends early
					ctx, cancel = context.WithTimeout(ctx, time.Duration(rng.IntN(2000))*time.Microsecond)
				}
				sqlStressOp(rng.IntN(9), g, ctx, db, h, &increments, check)
				cancel()
				ops.Add(1)
			}
		})
	}
	wg.Wait()
	close(stop)
	sampler.Wait()
	close(failures)
	for err := range failures {
		t.Error(err)
	}

	var n int64
	require.NoError(t, db.QueryRow("SELECT n FROM counter WHERE id = 1").Scan(&n))
	require.Equal(t, increments.Load(), n, "the counter equals the acknowledged increments")
	s := h.Stats()
	require.Zero(t, s.Writer.InUse+s.Readers.InUse, "nothing stays leased")
	require.LessOrEqual(t, maxWriters.Load(), int64(1), "never two writers")
	require.Equal(t, 1, s.Writer.Max)
	require.Zero(t, s.Writer.Replaced.Broken+s.Readers.Replaced.Broken)
	require.Equal(t, uint64(1), s.Writer.Created, "the one writer served everything")
	var check2 string
	require.NoError(t, db.QueryRow("PRAGMA integrity_check").Scan(&check2))
	require.Equal(t, "ok", check2)
	t.Logf("%d operations, %d increments, writer waits %d, reader waits %d", ops.Load(), n, s.Writer.Waits, s.Readers.Waits)
	require.NoError(t, db.Close())
	require.NoError(t, h.Close())
}

// sqlStressOp runs operation op of TestSQLStress.
func sqlStressOp(op, g int, ctx context.Context, db *sql.DB, h *Handle, increments *atomic.Int64,
	check func(string, context.Context, error) bool) {
	switch op {
	case 0: // Exec
		_, err := db.ExecContext(ctx, "INSERT INTO items(g, v) VALUES (?, ?)", g, "exec")
		check("Exec", ctx, err)
	case 1: // a query
		rows, err := db.QueryContext(ctx, "SELECT id, v FROM items WHERE g = ? ORDER BY id DESC LIMIT 5", g)
		if !check("Query", ctx, err) {
			return
		}
		for rows.Next() {
			var id int64
			var v string
			if !check("Scan", ctx, rows.Scan(&id, &v)) {
				break
			}
		}
		check("Rows", ctx, rows.Err())
		check("Rows.Close", ctx, rows.Close())
	case 2, 3: // read-modify-write
		tx, err := db.BeginTx(ctx, nil)
		if !check("BeginTx", ctx, err) {
			return
		}
		var n int64
		err = tx.QueryRowContext(ctx, "SELECT n FROM counter WHERE id = 1").Scan(&n)
		if err == nil {
			_, err = tx.ExecContext(ctx, "UPDATE counter SET n = ? WHERE id = 1", n+1)
		}
		if err != nil {
			tx.Rollback()
			check("read-modify-write", ctx, err)
			return
		}
		if check("Commit", ctx, tx.Commit()) {
			increments.Add(1)
		}
	case 4: // read-only transaction: one snapshot
		tx, err := db.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
		if !check("BeginTx(ReadOnly)", ctx, err) {
			return
		}
		defer tx.Rollback()
		var a, b int64
		if !check("read", ctx, tx.QueryRowContext(ctx, "SELECT n FROM counter").Scan(&a)) ||
			!check("read again", ctx, tx.QueryRowContext(ctx, "SELECT n FROM counter").Scan(&b)) {
			return
		}
		if a != b {
			check("snapshot", context.Background(), fmt.Errorf("a read-only Tx read %d then %d", a, b))
		}
	case 5: // a session on the writer: a temp table lives as long as the sql.Conn
		conn, err := db.Conn(ctx)
		if !check("Conn", ctx, err) {
			return
		}
		defer conn.Close()
		if _, err := conn.ExecContext(ctx, "CREATE TEMP TABLE IF NOT EXISTS mine(a)"); !check("temp", ctx, err) {
			return
		}
		if _, err := conn.ExecContext(ctx, "INSERT INTO mine VALUES (1)"); !check("temp insert", ctx, err) {
			return
		}
		var n int
		if check("temp read", ctx, conn.QueryRowContext(ctx, "SELECT count(*) FROM mine").Scan(&n)) && n < 1 {
			check("temp", context.Background(), errors.New("the sql.Conn lost its temp table"))
		}
		_, err = conn.ExecContext(ctx, "DROP TABLE mine")
		check("drop temp", ctx, err)
	case 6: // a session of reads
		conn, err := db.Conn(ctx)
		if !check("Conn", ctx, err) {
			return
		}
		defer conn.Close()
		var n int64
		check("session read", ctx, conn.QueryRowContext(ctx, "SELECT count(*) FROM items").Scan(&n))
		check("session read", ctx, conn.QueryRowContext(ctx, "SELECT n FROM counter").Scan(&n))
	case 7: // the pool's own Write, beside database/sql
		err := h.Write(ctx, func(ctx context.Context, c *Conn) error {
			return c.Exec("UPDATE counter SET n = n + 1 WHERE id = 1")
		})
		if check("Write", ctx, err) {
			increments.Add(1)
		}
	case 8: // a query that writes, and the pool's Exec
		var id int64
		err := db.QueryRowContext(ctx, "INSERT INTO items(g, v) VALUES (?, 'returning') RETURNING id", g).Scan(&id)
		check("INSERT RETURNING", ctx, err)
		check("Handle.Exec", ctx, h.Exec(ctx, "DELETE FROM items WHERE g = ? AND id < ?", g, id-20))
	}
}
