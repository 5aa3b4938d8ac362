package contenders

import (
	"context"

	"github.com/sqlitepool/sqlitepool"
	"github.com/sqlitepool/sqlitepool/bench/harness"
)

// Pool is sqlitepool on its fastest idiomatic paths: Reader + Conn.Prep
// for reads (no transaction), Write + Conn.Prep for writes.
func Pool() harness.Contender {
	return harness.Local{Label: "sqlitepool", Open: openPool}
}

func openPool(ctx context.Context, spec harness.Spec) (harness.Session, error) {
	h, err := sqlitepool.OpenContext(ctx, spec.Path, nil,
		sqlitepool.WithReaders(spec.Conns),
		sqlitepool.WithBusyTimeout(spec.BusyTimeout))
	if err != nil {
		return nil, err
	}
	return poolSession{h}, nil
}

type poolSession struct{ h *sqlitepool.Handle }

func (s poolSession) NewWorker() (harness.Worker, error) {
	w := &poolWorker{h: s.h}
	// Made once: a closure built per Write would allocate per operation.
	w.write = w.insertRows
	return w, nil
}

func (s poolSession) Close() error { return s.h.Close() }

type poolWorker struct {
	h     *sqlitepool.Handle
	rows  []harness.Like // the rows of the Write under way
	write func(context.Context, *sqlitepool.Conn) error
}

func (w *poolWorker) PointRead(id int64) (u harness.User, err error) {
	l, err := w.h.Reader(context.Background())
	if err != nil {
		return u, err
	}
	defer l.Release()
	stmt, err := l.Conn().Prep(harness.SQLPointRead)
	if err != nil {
		return u, err
	}
	stmt.BindInt64(1, id)
	if !stmt.Step() {
		return u, noRow(stmt.Err())
	}
	u = harness.User{ID: stmt.ColumnInt64(0), Name: stmt.ColumnText(1), Email: stmt.ColumnText(2), CreatedAt: stmt.ColumnInt64(3)}
	return u, nil
}

func (w *poolWorker) JoinAgg(postID int64) (n int, err error) {
	l, err := w.h.Reader(context.Background())
	if err != nil {
		return 0, err
	}
	defer l.Release()
	stmt, err := l.Conn().Prep(harness.SQLJoinAgg)
	if err != nil {
		return 0, err
	}
	stmt.BindInt64(1, postID)
	for stmt.Step() {
		_, _ = stmt.ColumnText(0), stmt.ColumnInt64(1)
		n++
	}
	return n, stmt.Err()
}

func (w *poolWorker) Insert(rows []harness.Like) error {
	w.rows = rows
	return w.h.Write(context.Background(), w.write)
}

func (w *poolWorker) insertRows(_ context.Context, c *sqlitepool.Conn) error {
	stmt, err := c.Prep(harness.SQLInsert)
	if err != nil {
		return err
	}
	return insertRows(stmt, w.rows)
}

func (w *poolWorker) Close() error { return nil }
