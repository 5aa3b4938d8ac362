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

func TestSubscribeCountsCommittedChanges(t *testing.T) {
	h := openT(t, tempDB(t), twoTables)
	ctx := context.Background()
	all, err := h.Subscribe()
	require.NoError(t, err)
	defer all.Close()
	onlyB, err := h.Subscribe("B")
	require.NoError(t, err)
	defer onlyB.Close()

	require.NoError(t, h.Write(ctx, func(c *Conn) error {
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
	require.ErrorIs(t, h.Write(ctx, func(c *Conn) error {
		require.NoError(t, c.Exec("INSERT INTO a(v) VALUES (1)"))
		return boom
	}), boom)
	assert.Panics(t, func() {
		h.Write(ctx, func(c *Conn) error {
			c.Exec("INSERT INTO a(v) VALUES (1)")
			panic("no")
		})
	})
	l, err := h.Writer(ctx)
	require.NoError(t, err)
	require.NoError(t, l.Conn().Exec("BEGIN; INSERT INTO a(v) VALUES (1); ROLLBACK"))
	require.NoError(t, l.Conn().Exec("BEGIN; INSERT INTO a(v) VALUES (1)")) // left open: rolled back on release
	l.Release()
	require.NoError(t, h.Read(ctx, func(c *Conn) error { return c.Exec("SELECT * FROM a") }))
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
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	const writes = SubscriptionBuffer + 10
	for i := range writes {
		require.NoError(t, h.Exec(ctx, "INSERT INTO a(v) VALUES (?)", i), "the writer waited for a subscriber")
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
	wg.Go(func() {
		for i := range 50 {
			assert.NoError(t, h.Exec(ctx, "INSERT INTO a(v) VALUES (?)", i))
		}
	})
	time.Sleep(time.Millisecond)
	s.Close()
	s.Close()
	wg.Wait()
	for range s.C() { // drains what came before Close, then ends
	}

	kept, err := h.Subscribe()
	require.NoError(t, err)
	require.NoError(t, h.Close())
	_, open := <-kept.C()
	assert.False(t, open, "the pool's close closes its subscriptions")
	kept.Close() // after the pool closed: nothing happens
	_, err = h.Subscribe()
	require.ErrorIs(t, err, ErrClosed)
}

func TestSubscribeSeesReplacementWriter(t *testing.T) {
	h := openT(t, tempDB(t), twoTables)
	ctx := context.Background()
	s, err := h.Subscribe()
	require.NoError(t, err)
	defer s.Close()
	h.p.testHookClean = func(c *Conn) error {
		if c.Role() == RoleWriter {
			return errors.New("injected")
		}
		return nil
	}
	require.NoError(t, h.Exec(ctx, "INSERT INTO a(v) VALUES (1)"))
	h.p.testHookClean = nil
	assert.Equal(t, map[string]TableChange{"a": {Inserts: 1}}, next(t, s).Tables, "a durable commit on a connection then discarded")
	require.NoError(t, h.Exec(ctx, "INSERT INTO b(v) VALUES (1)"))
	assert.Equal(t, map[string]TableChange{"b": {Inserts: 1}}, next(t, s).Tables, "the replacement writer has the hooks")
	assert.Equal(t, uint64(2), h.Stats().Writer.Created)
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
}
