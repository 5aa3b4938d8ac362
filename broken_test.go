package sqlitepool

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"testing"

	"github.com/ncruces/go-sqlite3"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// invalidateCaches makes every reader read the file again: a commit changes
// the database under their page caches.
func invalidateCaches(t *testing.T, h *Handle) {
	t.Helper()
	require.NoError(t, h.Exec(context.Background(), "INSERT INTO t(v) VALUES ('bump')"))
}

func TestReaderBrokenByAnIOErrorIsReplaced(t *testing.T) {
	path := tempDB(t)
	faults, plan := withFaults(t, path)
	h := openT(t, path, createTable, faults, WithReaders(1))
	ctx := context.Background()
	readInt(t, h, "SELECT count(*) FROM t") // the reader is open

	for _, how := range []string{"hand-stepped", "helper"} {
		t.Run(how, func(t *testing.T) {
			before := h.Stats().Readers
			invalidateCaches(t, h)
			plan.failReads(sqlite3.IOERR_READ)
			err := h.Read(ctx, func(_ context.Context, c *Conn) error {
				if how == "helper" {
					var n int64
					return c.QueryRow("SELECT count(*) FROM t").Scan(&n)
				}
				stmt, err := c.Prep("SELECT count(*) FROM t")
				if err != nil {
					return err
				}
				stmt.Step() // the error is left on the statement: release sees it
				return nil
			})
			plan.heal()
			if how == "helper" {
				require.ErrorIs(t, err, sqlite3.IOERR, "the caller sees the error")
			}
			require.Positive(t, plan.reads.Load())

			after := h.Stats().Readers
			assert.Equal(t, before.Replaced.Broken+1, after.Replaced.Broken, "closed as broken")
			assert.Equal(t, 0, after.Open)
			assert.Positive(t, readInt(t, h, "SELECT count(*) FROM t"), "a new reader serves")
			assert.Equal(t, before.Created+1, h.Stats().Readers.Created)
		})
	}
}

func TestWriterBrokenByAnIOErrorIsReplaced(t *testing.T) {
	path := tempDB(t)
	faults, plan := withFaults(t, path)
	h := openT(t, path, createTable, faults)
	ctx := context.Background()
	require.NoError(t, h.Exec(ctx, "INSERT INTO t(v) VALUES ('kept')"))

	plan.failWrites(sqlite3.IOERR_WRITE)
	err := h.Exec(ctx, "INSERT INTO t(v) VALUES ('lost')")
	plan.heal()
	require.ErrorIs(t, err, sqlite3.IOERR)
	st := h.Stats().Writer
	assert.Equal(t, uint64(1), st.Replaced.Broken)

	require.NoError(t, h.Exec(ctx, "INSERT INTO t(v) VALUES ('after')"))
	assert.Equal(t, uint64(2), h.Stats().Writer.Created, "a new writer")
	assert.Equal(t, int64(0), readInt(t, h, "SELECT count(*) FROM t WHERE v = 'lost'"))
	assert.Equal(t, int64(2), readInt(t, h, "SELECT count(*) FROM t"))
}

// TestFullDiskIsNotBroken: SQLITE_FULL reaches the caller of Write, the
// transaction is rolled back (no row of it stays), and the same writer
// serves again once there is room. The disk fills at COMMIT (the WAL is
// written then), or in the middle of the transaction, when a small page
// cache spills to the WAL.
func TestFullDiskIsNotBroken(t *testing.T) {
	for _, when := range []string{"at-commit", "mid-transaction"} {
		t.Run(when, func(t *testing.T) {
			path := tempDB(t)
			faults, plan := withFaults(t, path)
			h := openT(t, path, createTable, faults, WithCacheSize(64))
			ctx := context.Background()
			require.NoError(t, h.Exec(ctx, "INSERT INTO t(v) VALUES ('before')"))
			rows := 3
			if when == "mid-transaction" {
				rows = 200 // 800 KB of rows through a 64 KiB cache
			}

			plan.failWrites(sqlite3.FULL)
			inserted := 0
			err := h.Write(ctx, func(_ context.Context, c *Conn) error {
				for range rows {
					if err := c.Exec("INSERT INTO t(v) VALUES ('no room' || zeroblob(4000))"); err != nil {
						return err
					}
					inserted++
				}
				return nil
			})
			require.ErrorIs(t, err, sqlite3.FULL)
			require.Positive(t, plan.writes.Load())
			if when == "mid-transaction" {
				assert.Less(t, inserted, rows, "fn saw the error")
			} else {
				assert.Equal(t, rows, inserted, "the error came at COMMIT")
			}
			require.ErrorIs(t, h.Exec(ctx, "INSERT INTO t(v) VALUES ('no room')"), sqlite3.FULL)
			plan.heal()

			require.NoError(t, h.Write(ctx, func(_ context.Context, c *Conn) error {
				for range rows {
					if err := c.Exec("INSERT INTO t(v) VALUES ('room again' || zeroblob(4000))"); err != nil {
						return err
					}
				}
				return nil
			}))
			st := h.Stats().Writer
			assert.Equal(t, uint64(0), st.Replaced.Broken)
			assert.Equal(t, uint64(1), st.Created, "the same writer")
			assert.Equal(t, int64(0), readInt(t, h, "SELECT count(*) FROM t WHERE v LIKE 'no room%'"), "rolled back")
			assert.Equal(t, int64(rows+1), readInt(t, h, "SELECT count(*) FROM t"))
			var ok string
			require.NoError(t, h.QueryRow(ctx, "PRAGMA integrity_check").Scan(&ok))
			assert.Equal(t, "ok", ok)
		})
	}
}

func TestStatementErrorsDoNotBreakTheConnection(t *testing.T) {
	h := openT(t, tempDB(t), func(ctx context.Context, c *Conn) error {
		return c.Exec("CREATE TABLE u(id INTEGER PRIMARY KEY, v UNIQUE)")
	})
	ctx := context.Background()
	require.NoError(t, h.Exec(ctx, "INSERT INTO u(v) VALUES (1)"))
	require.ErrorIs(t, h.Exec(ctx, "INSERT INTO u(v) VALUES (1)"), sqlite3.CONSTRAINT)
	require.Error(t, h.Exec(ctx, "INSERT INTO nowhere VALUES (1)"))
	require.Error(t, h.Read(ctx, func(_ context.Context, c *Conn) error { return c.Exec("SELEKT 1") }))
	st := h.Stats()
	assert.Zero(t, st.Writer.Replaced.Broken+st.Readers.Replaced.Broken)
	assert.Equal(t, uint64(1), st.Writer.Created)
}

// TestSetupFailingOnAReplacement: the caller who needed the replacement
// gets the hook's error; the pool keeps serving once the hook works.
func TestSetupFailingOnAReplacement(t *testing.T) {
	path := tempDB(t)
	faults, plan := withFaults(t, path)
	var failing atomic.Bool
	hookErr := errors.New("setup refused")
	h := openT(t, path, createTable, faults, WithReaders(1), WithSetup(func(ctx context.Context, c *Conn, r Role) error {
		if failing.Load() {
			return hookErr
		}
		return nil
	}))
	ctx := context.Background()
	readInt(t, h, "SELECT count(*) FROM t")

	invalidateCaches(t, h)
	plan.failReads(sqlite3.IOERR_READ)
	require.Error(t, h.Read(ctx, func(_ context.Context, c *Conn) error { return c.Exec("SELECT count(*) FROM t") }))
	plan.heal()
	failing.Store(true)
	err := h.Read(ctx, func(_ context.Context, c *Conn) error { return nil })
	require.ErrorIs(t, err, hookErr, "the caller sees why no reader opened")
	failing.Store(false)
	assert.Positive(t, readInt(t, h, "SELECT count(*) FROM t"))
	st := h.Stats().Readers
	assert.Equal(t, uint64(1), st.Replaced.Broken)
	assert.Equal(t, 1, st.Open)
}

func TestIsBroken(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want bool
	}{
		{nil, false},
		{sqlite3.IOERR_READ, true},
		{fmt.Errorf("wrapped: %w", sqlite3.IOERR_SHORT_READ), true},
		{sqlite3.CORRUPT, true},
		{sqlite3.NOTADB, true},
		{sqlite3.FULL, false},
		{sqlite3.BUSY, false},
		{sqlite3.CONSTRAINT_UNIQUE, false},
		{sqlite3.INTERRUPT, false},
		{errors.New("other"), false},
	} {
		assert.Equal(t, tc.want, isBroken(tc.err), "%v", tc.err)
	}
}
