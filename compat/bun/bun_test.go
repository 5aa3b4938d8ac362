// Package bun_test runs github.com/uptrace/bun with its SQLite dialect
// (sqlitedialect) unchanged on a *sql.DB from sqlitepool.OpenDB.
package bun_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/uptrace/bun"
	"github.com/uptrace/bun/dialect/sqlitedialect"
	"go.uber.org/goleak"

	"github.com/sqlitepool/sqlitepool/compat/internal/poolcheck"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

type Item struct {
	bun.BaseModel `bun:"table:items"`

	ID        int64     `bun:"id,pk,autoincrement"`
	Owner     int       `bun:"owner,notnull"`
	Qty       int64     `bun:"qty,notnull"`
	Done      bool      `bun:"done,notnull"`
	CreatedAt time.Time `bun:"created_at,notnull"`
}

type Stock struct {
	bun.BaseModel `bun:"table:stock"`

	Name  string `bun:"name,pk"`
	Units int64  `bun:"units,notnull"`
}

const (
	steps = 30 // per goroutine
	units = 1_000_000
)

// TestInventory takes items out of stock from 16 goroutines: each step is
// a RunInTx that reads the stock row, lowers it and inserts an item (its
// id from RETURNING); then the item is read back and marked done with an
// update outside the transaction, and every fifth step a read-only
// RunInTx checks, twice in its one snapshot, that stock plus items is the
// starting stock. Every sixth step inserts two items in one bulk insert.
// Bun made the tables.
func TestInventory(t *testing.T) {
	db := poolcheck.Open(t, nil)
	bdb := bun.NewDB(db.DB, sqlitedialect.New())
	ctx := t.Context()
	for _, model := range []any{(*Item)(nil), (*Stock)(nil)} {
		if _, err := bdb.NewCreateTable().Model(model).Exec(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := bdb.NewInsert().Model(&Stock{Name: "widgets", Units: units}).Exec(ctx); err != nil {
		t.Fatal(err)
	}
	base := time.Date(2026, 3, 4, 5, 6, 7, 800_000_000, time.UTC)

	db.Run(t, steps, func(ctx context.Context, g, i int) error {
		items := []Item{{Owner: g, Qty: int64(1 + i%4), CreatedAt: base.Add(time.Duration(i) * time.Minute)}}
		if i%6 == 5 {
			items = append(items, Item{Owner: g, Qty: 1, CreatedAt: base})
		}
		err := bdb.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
			var s Stock
			if err := tx.NewSelect().Model(&s).Where("name = ?", "widgets").Scan(ctx); err != nil {
				return err
			}
			var qty int64
			for _, it := range items {
				qty += it.Qty
			}
			res, err := tx.NewUpdate().Model((*Stock)(nil)).
				Set("units = ?", s.Units-qty).Where("name = ?", "widgets").Exec(ctx)
			if err != nil {
				return err
			}
			if n, err := res.RowsAffected(); err != nil || n != 1 {
				return fmt.Errorf("stock update: %d rows, %v", n, err)
			}
			_, err = tx.NewInsert().Model(&items).Exec(ctx)
			return err
		})
		if err != nil {
			return err
		}
		for _, it := range items {
			if it.ID == 0 {
				return errors.New("insert left an item's id at 0")
			}
			var got Item
			if err := bdb.NewSelect().Model(&got).Where("id = ?", it.ID).Scan(ctx); err != nil {
				return err
			}
			if got.Owner != it.Owner || got.Qty != it.Qty || got.Done || !got.CreatedAt.Equal(it.CreatedAt) {
				return fmt.Errorf("item read back as %+v, want %+v", got, it)
			}
			if _, err := bdb.NewUpdate().Model((*Item)(nil)).Set("done = ?", true).Where("id = ?", it.ID).Exec(ctx); err != nil {
				return err
			}
		}
		if i%5 == 0 {
			return checkTotal(ctx, bdb)
		}
		return nil
	})

	if err := checkTotal(ctx, bdb); err != nil {
		t.Error(err)
	}
	n, err := bdb.NewSelect().Model((*Item)(nil)).Where("done").Count(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if want := poolcheck.Goroutines * (steps + steps/6); n != want {
		t.Errorf("%d items done, want %d", n, want)
	}
}

// checkTotal sums stock and items in one read-only transaction, twice.
func checkTotal(ctx context.Context, bdb *bun.DB) error {
	return bdb.RunInTx(ctx, &sql.TxOptions{ReadOnly: true}, func(ctx context.Context, tx bun.Tx) error {
		for range 2 {
			var stock, taken int64
			if err := tx.NewSelect().Model((*Stock)(nil)).Column("units").Where("name = ?", "widgets").Scan(ctx, &stock); err != nil {
				return err
			}
			if err := tx.NewSelect().Model((*Item)(nil)).ColumnExpr("coalesce(sum(qty), 0)").Scan(ctx, &taken); err != nil {
				return err
			}
			if stock+taken != units {
				return fmt.Errorf("stock %d + items %d = %d, want %d", stock, taken, stock+taken, units)
			}
		}
		return nil
	})
}
