package sqlitepool

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func twoTables(ctx context.Context, c *Conn) error {
	return c.Exec("CREATE TABLE a(id INTEGER PRIMARY KEY, v); CREATE TABLE b(id INTEGER PRIMARY KEY, v)")
}

// next receives one change, failing if none comes.
func next(t *testing.T, s *Subscription) Change {
	t.Helper()
	select {
	case ch, ok := <-s.C():
		require.True(t, ok, "subscription closed")
		return ch
	case <-time.After(5 * time.Second):
		t.Fatal("no change delivered")
		return Change{}
	}
}

// none checks that nothing is waiting on s.
func none(t *testing.T, s *Subscription) {
	t.Helper()
	select {
	case ch := <-s.C():
		t.Fatalf("unexpected change %+v", ch)
	default:
	}
}

// ended drains s and checks that its channel is closed.
func ended(t *testing.T, s *Subscription) {
	t.Helper()
	timeout := time.After(5 * time.Second)
	for {
		select {
		case _, ok := <-s.C():
			if !ok {
				return
			}
		case <-timeout:
			t.Fatal("the subscription's channel is still open")
		}
	}
}

func TestSubscribeCountsCommittedChanges(t *testing.T) {
	h := openT(t, tempDB(t), twoTables)
	ctx := context.Background()
	all, err := h.Subscribe()
	require.NoError(t, err)
	defer all.Close()
	onlyB, err := h.Subscribe("B")
	require.NoError(t, err)
	defer onlyB.Close()

	require.NoError(t, h.Write(ctx, func(_ context.Context, c *Conn) error {
		return c.Exec("INSERT INTO a(v) VALUES (1), (2), (3); UPDATE a SET v = 0 WHERE id = 1; DELETE FROM a WHERE id = 2")
	}))
	ch := next(t, all)
	assert.Equal(t, uint64(1), ch.Seq)
	assert.Equal(t, map[string]TableChange{"a": {Inserts: 3, Updates: 1, Deletes: 1}}, ch.Tables)
	assert.False(t, ch.Missed)
	none(t, onlyB)

	require.NoError(t, h.Exec(ctx, "INSERT INTO b(v) VALUES ('x')"))
	assert.Equal(t, map[string]TableChange{"b": {Inserts: 1}}, next(t, onlyB).Tables)
	assert.Equal(t, uint64(2), next(t, all).Seq)
}

func TestSubscribeNothingForRollbacksOrReads(t *testing.T) {
	h := openT(t, tempDB(t), twoTables)
	ctx := context.Background()
	s, err := h.Subscribe()
	require.NoError(t, err)
	defer s.Close()

	boom := errors.New("boom")
	require.ErrorIs(t, h.Write(ctx, func(_ context.Context, c *Conn) error {
		require.NoError(t, c.Exec("INSERT INTO a(v) VALUES (1)"))
		return boom
	}), boom)
	assert.Panics(t, func() {
		h.Write(ctx, func(_ context.Context, c *Conn) error {
			c.Exec("INSERT INTO a(v) VALUES (1)")
			panic("no")
		})
	})
	l, err := h.Writer(ctx)
	require.NoError(t, err)
	defer l.Release() // also on a failure: cleanup closes the pool
	require.NoError(t, l.Conn().Exec("BEGIN; INSERT INTO a(v) VALUES (1); ROLLBACK"))
	require.NoError(t, l.Conn().Exec("BEGIN; INSERT INTO a(v) VALUES (1)")) // left open: rolled back on release
	l.Release()
	require.NoError(t, h.Read(ctx, func(_ context.Context, c *Conn) error { return c.Exec("SELECT * FROM a") }))
	none(t, s)

	// A later commit is delivered alone.
	require.NoError(t, h.Exec(ctx, "INSERT INTO a(v) VALUES (1)"))
	assert.Equal(t, map[string]TableChange{"a": {Inserts: 1}}, next(t, s).Tables)
	none(t, s)
}

func TestSubscribeDeliversOnReleaseInCommitOrder(t *testing.T) {
	h := openT(t, tempDB(t), twoTables)
	ctx := context.Background()
	s, err := h.Subscribe()
	require.NoError(t, err)
	defer s.Close()

	l, err := h.Writer(ctx)
	require.NoError(t, err)
	defer l.Release() // also on a failure: cleanup closes the pool
	c := l.Conn()
	require.NoError(t, c.Exec("INSERT INTO a(v) VALUES (1)")) // autocommit
	require.NoError(t, c.Exec("BEGIN IMMEDIATE; INSERT INTO b(v) VALUES (1); INSERT INTO b(v) VALUES (2); COMMIT"))
	require.NoError(t, c.Exec("BEGIN IMMEDIATE; DELETE FROM a WHERE id = 1; COMMIT"))
	none(t, s) // committed, but the lease is still out
	l.Release()

	first, second, third := next(t, s), next(t, s), next(t, s)
	assert.Equal(t, map[string]TableChange{"a": {Inserts: 1}}, first.Tables)
	assert.Equal(t, map[string]TableChange{"b": {Inserts: 2}}, second.Tables)
	assert.Equal(t, map[string]TableChange{"a": {Deletes: 1}}, third.Tables)
	assert.Equal(t, []uint64{1, 2, 3}, []uint64{first.Seq, second.Seq, third.Seq})
}

func TestSlowSubscriberNeverBlocksTheWriter(t *testing.T) {
	h := openT(t, tempDB(t), twoTables)
	s, err := h.Subscribe("a")
	require.NoError(t, err)
	defer s.Close()
	ctx := context.Background()
	const writes = SubscriptionBuffer + 10
	done := make(chan error, 1)
	go func() {
		for i := range writes {
			if err := h.Exec(ctx, "INSERT INTO a(v) VALUES (?)", i); err != nil {
				done <- err
				return
			}
		}
		done <- nil
	}()
	select {
	case err := <-done:
		require.NoError(t, err)
	case <-time.After(10 * time.Second):
		go func() { // unblock the writer, so that the test can end
			for range s.C() {
			}
		}()
		t.Fatal("the writer waited for a subscriber that does not read")
	}
	for range SubscriptionBuffer {
		ch := next(t, s)
		assert.False(t, ch.Missed)
	}
	none(t, s)
	require.NoError(t, h.Exec(ctx, "INSERT INTO a(v) VALUES ('after')"))
	ch := next(t, s)
	assert.True(t, ch.Missed, "the change after a drop says so")
	assert.Equal(t, uint64(writes+1), ch.Seq)
	require.NoError(t, h.Exec(ctx, "INSERT INTO a(v) VALUES ('later')"))
	assert.False(t, next(t, s).Missed)
}

func TestSubscriptionCloseAndPoolClose(t *testing.T) {
	h, err := Open(tempDB(t), twoTables)
	require.NoError(t, err)
	ctx := context.Background()
	s, err := h.Subscribe()
	require.NoError(t, err)

	// Close concurrent with writes, twice.
	var wg sync.WaitGroup
	started := make(chan struct{})
	wg.Go(func() {
		for i := range 50 {
			assert.NoError(t, h.Exec(ctx, "INSERT INTO a(v) VALUES (?)", i))
			if i == 5 {
				close(started)
			}
		}
	})
	<-started
	s.Close()
	s.Close()
	wg.Wait()
	ended(t, s) // drains what came before Close, then ends

	kept, err := h.Subscribe()
	require.NoError(t, err)
	require.NoError(t, h.Close())
	ended(t, kept) // the pool's close closes its subscriptions
	kept.Close()   // after the pool closed: nothing happens
	_, err = h.Subscribe()
	require.ErrorIs(t, err, ErrClosed)
}

func TestSubscribeSeesReplacementWriter(t *testing.T) {
	h := openT(t, tempDB(t), twoTables)
	ctx := context.Background()
	s, err := h.Subscribe()
	require.NoError(t, err)
	defer s.Close()
	h.p.testHookClean = func(c *conn) error {
		if c.role == RoleWriter {
			return errors.New("injected")
		}
		return nil
	}
	require.NoError(t, h.Exec(ctx, "INSERT INTO a(v) VALUES (1)"))
	assert.Equal(t, map[string]TableChange{"a": {Inserts: 1}}, next(t, s).Tables, "a durable commit on a connection then discarded")
	l, err := h.Writer(ctx)
	require.NoError(t, err)
	defer l.Release() // also on a failure: cleanup closes the pool
	require.NoError(t, l.Conn().Exec("BEGIN IMMEDIATE; INSERT INTO b(v) VALUES (1)"))
	l.Release() // the open transaction is rolled back, the connection discarded
	h.p.testHookClean = nil
	none(t, s)
	require.NoError(t, h.Exec(ctx, "INSERT INTO b(v) VALUES (1)"))
	assert.Equal(t, map[string]TableChange{"b": {Inserts: 1}}, next(t, s).Tables, "the replacement writer has the hooks")
	assert.Equal(t, uint64(3), h.Stats().Writer.Created)
}

// TestSubscribeDocumentedLimits pins the limits Subscribe documents, which
// come from SQLite's update hook: if SQLite starts reporting these, the
// documentation should change with this test.
func TestSubscribeDocumentedLimits(t *testing.T) {
	h := openT(t, tempDB(t), func(ctx context.Context, c *Conn) error {
		return c.Exec("CREATE TABLE kv(k TEXT PRIMARY KEY, v) WITHOUT ROWID; CREATE TABLE a(id INTEGER PRIMARY KEY, v)")
	})
	ctx := context.Background()
	s, err := h.Subscribe()
	require.NoError(t, err)
	defer s.Close()
	require.NoError(t, h.Exec(ctx, "INSERT INTO kv VALUES ('k', 1)"))
	require.NoError(t, h.Exec(ctx, "INSERT INTO a(v) VALUES (1), (2)"))
	assert.Equal(t, map[string]TableChange{"a": {Inserts: 2}}, next(t, s).Tables, "WITHOUT ROWID changes are not seen")
	require.NoError(t, h.Exec(ctx, "DELETE FROM a"))
	require.NoError(t, h.Exec(ctx, "INSERT INTO a(v) VALUES (3)"))
	assert.Equal(t, map[string]TableChange{"a": {Inserts: 1}}, next(t, s).Tables, "a DELETE without WHERE is not seen")

	// REPLACE: a row it overwrites (same rowid) counts as an insert, and a
	// row it deletes for another UNIQUE conflict is not seen.
	require.NoError(t, h.Exec(ctx, "CREATE TABLE u(id INTEGER PRIMARY KEY, name UNIQUE); INSERT INTO u VALUES (1, 'x')"))
	assert.Equal(t, map[string]TableChange{"u": {Inserts: 1}}, next(t, s).Tables)
	require.NoError(t, h.Exec(ctx, "INSERT OR REPLACE INTO u VALUES (1, 'y')"))
	assert.Equal(t, map[string]TableChange{"u": {Inserts: 1}}, next(t, s).Tables, "an overwrite by REPLACE counts as an insert")
	require.NoError(t, h.Exec(ctx, "INSERT OR REPLACE INTO u VALUES (2, 'y')"))
	assert.Equal(t, map[string]TableChange{"u": {Inserts: 1}}, next(t, s).Tables, "the row REPLACE deleted is not seen")
	assert.Equal(t, int64(1), readInt(t, h, "SELECT count(*) FROM u"))
}

func TestSubscribeSavepointsAndFailedCommits(t *testing.T) {
	h := openT(t, tempDB(t), func(ctx context.Context, c *Conn) error {
		return c.Exec(`CREATE TABLE a(id INTEGER PRIMARY KEY, v);
			CREATE TABLE child(id INTEGER PRIMARY KEY, a REFERENCES a(id) DEFERRABLE INITIALLY DEFERRED)`)
	})
	ctx := context.Background()
	s, err := h.Subscribe()
	require.NoError(t, err)
	defer s.Close()
	boom := errors.New("boom")

	t.Run("rolled-back-savepoint-counts-as-upper-bound", func(t *testing.T) {
		require.NoError(t, h.Write(ctx, func(_ context.Context, c *Conn) error {
			require.NoError(t, c.Exec("INSERT INTO a(v) VALUES (1)"))
			require.ErrorIs(t, c.Savepoint(func(c *Conn) error {
				require.NoError(t, c.Exec("INSERT INTO a(v) VALUES (2)"))
				return boom
			}), boom)
			return nil
		}))
		assert.Equal(t, int64(1), readInt(t, h, "SELECT count(*) FROM a"))
		assert.Equal(t, map[string]TableChange{"a": {Inserts: 2}}, next(t, s).Tables,
			"documented: the row undone by ROLLBACK TO is still counted")
	})
	t.Run("fully-rolled-back-with-savepoints", func(t *testing.T) {
		require.ErrorIs(t, h.Write(ctx, func(_ context.Context, c *Conn) error {
			require.NoError(t, c.Savepoint(func(c *Conn) error {
				return c.Exec("INSERT INTO a(v) VALUES (3)")
			}))
			return boom
		}), boom)
		none(t, s)
	})
	t.Run("commit-refused-by-deferred-foreign-key", func(t *testing.T) {
		err := h.Write(ctx, func(_ context.Context, c *Conn) error {
			return c.Exec("INSERT INTO child(a) VALUES (999)")
		})
		require.Error(t, err)
		assert.Zero(t, readInt(t, h, "SELECT count(*) FROM child"))
		none(t, s)
	})
	t.Run("nothing-before-write-returns", func(t *testing.T) {
		require.NoError(t, h.Write(ctx, func(_ context.Context, c *Conn) error {
			require.NoError(t, c.Exec("INSERT INTO a(v) VALUES (4)"))
			none(t, s)
			return nil
		}))
		assert.Equal(t, map[string]TableChange{"a": {Inserts: 1}}, next(t, s).Tables)
	})
}

// TestSubscribeHooksOnlyWhileSubscribed checks that the writer's hooks are
// registered only while someone subscribes, and that a subscription made
// while the writer is idle or leased sees the next lease's commits.
func TestSubscribeHooksOnlyWhileSubscribed(t *testing.T) {
	ctx := context.Background()
	armed := func(t *testing.T, h *Handle) bool {
		t.Helper()
		var ok bool
		require.NoError(t, h.Write(ctx, func(_ context.Context, c *Conn) error {
			ok = c.changes.armed
			return nil
		}))
		return ok
	}

	t.Run("writer-idle", func(t *testing.T) {
		h := openT(t, tempDB(t), twoTables)
		require.NoError(t, h.Exec(ctx, "INSERT INTO a(v) VALUES (0)"))
		assert.False(t, armed(t, h), "no subscriber, no hooks")
		s, err := h.Subscribe("a")
		require.NoError(t, err)
		require.NoError(t, h.Exec(ctx, "INSERT INTO a(v) VALUES (1)"))
		assert.Equal(t, map[string]TableChange{"a": {Inserts: 1}}, next(t, s).Tables)
		s.Close()
		require.NoError(t, h.Exec(ctx, "INSERT INTO a(v) VALUES (2)")) // disarmed on this release
		assert.False(t, armed(t, h), "the last subscription closed")
	})
	t.Run("writer-leased", func(t *testing.T) {
		h := openT(t, tempDB(t), twoTables)
		l, err := h.Writer(ctx)
		require.NoError(t, err)
		defer l.Release() // also on a failure: cleanup closes the pool
		s, err := h.Subscribe("a")
		require.NoError(t, err)
		defer s.Close()
		l.Release() // arms the writer for the next lease
		require.NoError(t, h.Exec(ctx, "INSERT INTO a(v) VALUES (3)"))
		assert.Equal(t, map[string]TableChange{"a": {Inserts: 1}}, next(t, s).Tables)
	})
}
