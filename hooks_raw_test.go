package sqlitepool

import (
	"context"
	"errors"
	"testing"

	"github.com/ncruces/go-sqlite3"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestWriterHooksSetThroughRawLastOneLease: the writer's commit and
// rollback hooks are the pool's for the connection's life (Subscribe, the
// moved-file check, and whether an interrupted statement committed all
// rely on them). A lease that replaced them through Raw must not leave the
// next leases without them: a later subscriber would be told of a
// transaction that rolled back (rollback hook replaced), or of no commit
// at all (commit hook replaced).
func TestWriterHooksSetThroughRawLastOneLease(t *testing.T) {
	replace := map[string]func(raw *sqlite3.Conn){
		"rollback hook": func(raw *sqlite3.Conn) { raw.RollbackHook(func() {}) },
		"both hooks": func(raw *sqlite3.Conn) {
			raw.CommitHook(func() bool { return true })
			raw.RollbackHook(nil)
		},
	}
	for name, replace := range replace {
		t.Run(name, func(t *testing.T) {
			h := openT(t, tempDB(t), twoTables)
			ctx := context.Background()
			require.NoError(t, h.Write(ctx, func(_ context.Context, c *Conn) error {
				replace(c.Raw())
				return nil
			}))
			s, err := h.Subscribe()
			require.NoError(t, err)
			defer s.Close()

			errRefused := errors.New("refused")
			err = h.Write(ctx, func(_ context.Context, c *Conn) error {
				require.NoError(t, c.Exec("INSERT INTO a(v) VALUES ('rolled back')"))
				return errRefused
			})
			require.ErrorIs(t, err, errRefused)
			require.NoError(t, h.Exec(ctx, "INSERT INTO b(v) VALUES ('committed')"))
			ch := next(t, s)
			assert.NotContains(t, ch.Tables, "a", "a rolled-back transaction was published")
			assert.Equal(t, TableChange{Inserts: 1}, ch.Tables["b"])
			none(t, s)
			assert.Equal(t, uint64(1), h.Stats().Writer.Created, "the same writer throughout")
		})
	}
}
