package sqlitepool

import (
	"context"
	"errors"
	"testing"

	"github.com/ncruces/go-sqlite3"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestPanicWhileHoldingEachKindOfLease: fn panics in the middle of its
// work, a transaction open, a statement half stepped, under every way of
// holding a connection. The panic reaches the caller unchanged, the work is
// rolled back, the connections come back clean (not replaced), and the pool
// serves every role afterwards.
func TestPanicWhileHoldingEachKindOfLease(t *testing.T) {
	h := openT(t, tempDB(t), createTable, WithReaders(2))
	ctx := context.Background()
	seed(t, h, 3)
	holdReaders(t, h, 2)       // so that a reader opened later would be a replacement
	boom := errors.New("boom") // an error value, to check it is not wrapped

	kinds := []struct {
		name string
		fn   func()
	}{
		{"Reader", func() {
			l, err := h.Reader(ctx)
			require.NoError(t, err)
			defer l.Release()
			s, err := l.Conn().Prep("SELECT id FROM t")
			require.NoError(t, err)
			require.True(t, s.Step()) // half stepped: holds a read transaction
			panic(boom)
		}},
		{"Writer", func() {
			l, err := h.Writer(ctx)
			require.NoError(t, err)
			defer l.Release()
			require.NoError(t, l.Conn().Exec("BEGIN IMMEDIATE; INSERT INTO t(v) VALUES ('inside')"))
			panic(boom)
		}},
		{"Read", func() {
			h.Read(ctx, func(_ context.Context, c *Conn) error {
				s, err := c.Prep("SELECT id FROM t")
				require.NoError(t, err)
				require.True(t, s.Step())
				panic(boom)
			})
		}},
		{"Write", func() {
			h.Write(ctx, func(_ context.Context, c *Conn) error {
				require.NoError(t, c.Exec("INSERT INTO t(v) VALUES ('inside')"))
				panic(boom)
			})
		}},
		{"Exclusive", func() {
			h.Exclusive(ctx, func(_ context.Context, w *Conn, readers []*Conn) error {
				require.NoError(t, w.Exec("BEGIN IMMEDIATE; INSERT INTO t(v) VALUES ('inside')"))
				for _, r := range readers {
					require.NoError(t, r.Exec("BEGIN; SELECT count(*) FROM t"))
				}
				panic(boom)
			})
		}},
		{"Savepoint", func() {
			h.Write(ctx, func(_ context.Context, c *Conn) error {
				require.NoError(t, c.Exec("INSERT INTO t(v) VALUES ('inside')"))
				return c.Savepoint(func(c *Conn) error {
					require.NoError(t, c.Exec("INSERT INTO t(v) VALUES ('inside')"))
					panic(boom)
				})
			})
		}},
		{"Savepoint-on-a-Writer-lease", func() {
			l, err := h.Writer(ctx)
			require.NoError(t, err)
			defer l.Release()
			l.Conn().Savepoint(func(c *Conn) error {
				require.NoError(t, c.Exec("INSERT INTO t(v) VALUES ('inside')"))
				panic(boom)
			})
		}},
		{"Query", func() {
			for row, err := range h.Query(ctx, "SELECT id FROM t") {
				require.NoError(t, err)
				_ = row
				panic(boom)
			}
		}},
		{"Tx.End", func() {
			l, err := h.Writer(ctx)
			require.NoError(t, err)
			defer l.Release()
			func() (err error) {
				tx, err := l.Conn().Begin()
				require.NoError(t, err)
				defer tx.End(&err)
				require.NoError(t, l.Conn().Exec("INSERT INTO t(v) VALUES ('inside')"))
				panic(boom)
			}()
		}},
	}
	for _, k := range kinds {
		t.Run(k.name, func(t *testing.T) {
			before := h.Stats()
			require.PanicsWithError(t, boom.Error(), k.fn)
			requireIdle(t, h)
			st := h.Stats()
			assert.Equal(t, before.Writer.Created, st.Writer.Created, "writer replaced")
			assert.Equal(t, before.Readers.Created, st.Readers.Created, "a reader replaced")
			assert.Zero(t, st.Writer.Replaced.Broken+st.Readers.Replaced.Broken)

			// Every connection is back outside any transaction, and the
			// pool serves each role.
			require.NoError(t, h.Exclusive(ctx, func(_ context.Context, w *Conn, readers []*Conn) error {
				for _, c := range append([]*Conn{w}, readers...) {
					assert.Equal(t, sqlite3.TXN_NONE, c.Raw().TxnState(""), c.Role().String())
					assert.True(t, c.Raw().GetAutocommit())
				}
				return nil
			}))
			require.NoError(t, h.Exec(ctx, "INSERT INTO t(v) VALUES ('after')"))
			assert.Zero(t, readInt(t, h, "SELECT count(*) FROM t WHERE v = 'inside'"), "work of the panicking fn kept")
			require.NoError(t, h.Exec(ctx, "DELETE FROM t WHERE v = 'after'"))
			assert.Equal(t, int64(3), readInt(t, h, "SELECT count(*) FROM t"))
		})
	}
}
