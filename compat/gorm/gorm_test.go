// Package gorm_test runs GORM unchanged on a *sql.DB from
// sqlitepool.OpenDB, through github.com/glebarez/sqlite (a pure-Go
// dialector) handed the *sql.DB in its Conn field.
package gorm_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/glebarez/sqlite"
	"go.uber.org/goleak"
	"gorm.io/gorm"
	"gorm.io/gorm/logger"

	"github.com/sqlitepool/sqlitepool/compat/internal/poolcheck"
)

func TestMain(m *testing.M) {
	// A PrepareStmt session's statement store starts a goroutine that
	// expires entries and never ends (GORM's internal/lru says so).
	goleak.VerifyTestMain(m, goleak.IgnoreAnyFunction("gorm.io/gorm/internal/lru.NewLRU[...].func1"))
}

type Account struct {
	ID        uint
	Owner     string `gorm:"uniqueIndex;not null"`
	Balance   int64  `gorm:"not null"`
	Active    bool   `gorm:"not null"`
	CreatedAt time.Time
}

type Transfer struct {
	ID        uint
	FromID    uint  `gorm:"not null;index"`
	ToID      uint  `gorm:"not null"`
	Amount    int64 `gorm:"not null"`
	Memo      string
	CreatedAt time.Time
}

const (
	accounts = 6
	opening  = 500
	steps    = 30 // per goroutine
)

var errUndo = errors.New("undo the nested transaction")

// TestBank moves money between accounts from 16 goroutines, in
// db.Transaction: First reads the source inside the transaction, two
// Updates with gorm.Expr, a Create that gets its id from RETURNING, and
// every fifth step a nested Transaction (a savepoint) whose error rolls
// back only its own insert. Half the goroutines use a PrepareStmt
// session. Each transfer is read back with First; the balances' sum is
// checked after every step. AutoMigrate made the schema.
func TestBank(t *testing.T) {
	db := poolcheck.Open(t, nil)
	gdb, err := gorm.Open(sqlite.Dialector{Conn: db.DB}, &gorm.Config{Logger: logger.Discard})
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	if err := gdb.WithContext(ctx).AutoMigrate(&Account{}, &Transfer{}); err != nil {
		t.Fatal(err)
	}
	prepared := gdb.Session(&gorm.Session{PrepareStmt: true})
	defer closePrepared(prepared)
	var ids []uint
	for i := range accounts {
		a := Account{Owner: fmt.Sprint("owner ", i), Balance: opening, Active: i%2 == 0}
		if err := gdb.WithContext(ctx).Create(&a).Error; err != nil {
			t.Fatal(err)
		}
		ids = append(ids, a.ID)
	}

	db.Run(t, steps, func(ctx context.Context, g, i int) error {
		g0 := gdb
		if g%2 == 1 {
			g0 = prepared
		}
		q := g0.WithContext(ctx)
		from, to := ids[(g+i)%accounts], ids[(g+i+1+g%4)%accounts]
		tr := Transfer{FromID: from, ToID: to, Amount: int64(1 + i%3), Memo: fmt.Sprint("by ", g)}
		err := q.Transaction(func(tx *gorm.DB) error {
			var a Account
			if err := tx.First(&a, from).Error; err != nil {
				return err
			}
			if err := tx.Model(&Account{}).Where("id = ?", from).Update("balance", gorm.Expr("balance - ?", tr.Amount)).Error; err != nil {
				return err
			}
			if err := tx.Model(&Account{}).Where("id = ?", to).Update("balance", gorm.Expr("balance + ?", tr.Amount)).Error; err != nil {
				return err
			}
			if err := tx.Create(&tr).Error; err != nil {
				return err
			}
			if i%5 == 0 {
				err := tx.Transaction(func(tx *gorm.DB) error {
					if err := tx.Create(&Transfer{FromID: from, ToID: to, Amount: 1000, Memo: "undone"}).Error; err != nil {
						return err
					}
					return errUndo
				})
				if !errors.Is(err, errUndo) {
					return fmt.Errorf("nested transaction: %v, want errUndo", err)
				}
			}
			return nil
		})
		if err != nil {
			return err
		}
		if tr.ID == 0 {
			return errors.New("Create left the transfer's ID at 0")
		}
		var got Transfer
		if err := q.First(&got, tr.ID).Error; err != nil {
			return err
		}
		if got.FromID != from || got.ToID != to || got.Amount != tr.Amount || !got.CreatedAt.Equal(tr.CreatedAt) {
			return fmt.Errorf("transfer read back as %+v, want %+v", got, tr)
		}
		var total int64
		if err := q.Model(&Account{}).Select("sum(balance)").Scan(&total).Error; err != nil {
			return err
		}
		if total != accounts*opening {
			return fmt.Errorf("balances sum to %d, want %d", total, accounts*opening)
		}
		return nil
	})

	var n, undone int64
	if err := gdb.Model(&Transfer{}).Count(&n).Error; err != nil {
		t.Fatal(err)
	}
	if want := int64(poolcheck.Goroutines * steps); n != want {
		t.Errorf("%d transfers, want %d", n, want)
	}
	if err := gdb.Model(&Transfer{}).Where("memo = ?", "undone").Count(&undone).Error; err != nil {
		t.Fatal(err)
	}
	if undone != 0 {
		t.Errorf("%d transfers of rolled-back savepoints were kept", undone)
	}
	var list []Account
	if err := gdb.Order("id").Find(&list).Error; err != nil {
		t.Fatal(err)
	}
	for _, a := range list {
		var in, out int64
		gdb.Model(&Transfer{}).Where("to_id = ?", a.ID).Select("coalesce(sum(amount), 0)").Scan(&in)
		gdb.Model(&Transfer{}).Where("from_id = ?", a.ID).Select("coalesce(sum(amount), 0)").Scan(&out)
		if a.Balance != opening+in-out {
			t.Errorf("account %d: balance %d, want %d", a.ID, a.Balance, opening+in-out)
		}
		if want := a.ID%2 == 1; a.Active != want { // ids start at 1, owner 0 active
			t.Errorf("account %d: active %v, want %v", a.ID, a.Active, want)
		}
	}
}

// closePrepared closes the statements a PrepareStmt session prepared on
// the *sql.DB.
func closePrepared(db *gorm.DB) {
	if p, ok := db.ConnPool.(*gorm.PreparedStmtDB); ok {
		p.Close()
	}
}
