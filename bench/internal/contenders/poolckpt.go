package contenders

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/ncruces/go-sqlite3"

	"github.com/sqlitepool/sqlitepool"
	"github.com/sqlitepool/sqlitepool/bench/harness"
)

// PoolCheckpointer is an experiment, not a contender of the issue:
// sqlitepool with the writer's automatic checkpoint off
// (wal_autocheckpoint=0) and PASSIVE checkpoints run every 10 ms from a
// connection of their own. SQLite runs the automatic checkpoint inside the
// COMMIT that took the WAL past 1000 pages, so on a pool's one writer it
// stalls every queued writer; a separate connection checkpoints while the
// writer goes on. It prototypes, outside the library, a fix for the pool.
func PoolCheckpointer() harness.Contender {
	return harness.Local{Label: "sqlitepool-ckpt", Open: openPoolCheckpointer}
}

func openPoolCheckpointer(ctx context.Context, spec harness.Spec) (harness.Session, error) {
	h, err := sqlitepool.OpenContext(ctx, spec.Path, nil,
		sqlitepool.WithReaders(spec.Conns),
		sqlitepool.WithBusyTimeout(spec.BusyTimeout),
		sqlitepool.WithSetup(func(_ context.Context, c *sqlitepool.Conn, r sqlitepool.Role) error {
			if r == sqlitepool.RoleWriter {
				return c.Exec("PRAGMA wal_autocheckpoint=0")
			}
			return nil
		}))
	if err != nil {
		return nil, err
	}
	c, err := openRaw(spec)
	if err != nil {
		return nil, errors.Join(err, h.Close())
	}
	s := &ckptSession{poolSession: poolSession{h}, c: c, done: make(chan struct{})}
	s.wg.Go(s.loop)
	return s, nil
}

type ckptSession struct {
	poolSession
	c    *sqlite3.Conn
	done chan struct{}
	wg   sync.WaitGroup
}

// loop checkpoints until Close; a checkpoint that meets a busy lock just
// tries again next time.
func (s *ckptSession) loop() {
	t := time.NewTicker(10 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-s.done:
			return
		case <-t.C:
			s.c.Exec("PRAGMA wal_checkpoint(PASSIVE)")
		}
	}
}

func (s *ckptSession) Close() error {
	close(s.done)
	s.wg.Wait()
	return errors.Join(s.c.Close(), s.poolSession.Close())
}
