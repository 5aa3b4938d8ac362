// Package orders records the shop's orders. It opens the database itself,
// by its path, like an independent subsystem or plugin would: nothing in its
// API says who else uses the file, yet it shares the process's one pool for
// it with every other package.
package orders

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/sqlitepool/sqlitepool"
	"github.com/sqlitepool/sqlitepool/examples/quickstart/schema"
)

// Store records orders in one database.
type Store struct {
	h *sqlitepool.Handle
}

// Open opens the store on the database at path. Close it when done.
func Open(path string) (*Store, error) {
	// schema.Init rather than an init of our own: the tables are shared with
	// the reports package, and the pool runs this one init once, on whichever
	// package's Open comes first.
	h, err := sqlitepool.Open(path, schema.Init)
	if err != nil {
		return nil, fmt.Errorf("orders: %w", err)
	}
	return &Store{h: h}, nil
}

// Close releases the store's handle. The pool stays open for the other
// packages that still hold one.
func (s *Store) Close() error { return s.h.Close() }

// Stats returns the figures of the pool behind the store.
func (s *Store) Stats() sqlitepool.Stats { return s.h.Stats() }

// Placed is what [Store.Place] recorded.
type Placed struct {
	Orders int64
	Cents  int64
}

// Place records perWorker orders from each of workers goroutines, every
// order in a transaction of its own, as the handlers of a server would.
func (s *Store) Place(ctx context.Context, workers, perWorker int) (Placed, error) {
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex // protects total
		total Placed
		errs  = make([]error, workers)
	)
	for w := range workers {
		wg.Go(func() {
			customer := fmt.Sprintf("customer-%d", w)
			for i := range perWorker {
				cents := int64(100 + 10*w + i)
				if err := s.place(ctx, customer, cents); err != nil {
					errs[w] = err
					return
				}
				mu.Lock()
				total.Orders++
				total.Cents += cents
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	return total, errors.Join(errs...)
}

// place records one order and adds it to its customer's running totals.
func (s *Store) place(ctx context.Context, customer string, cents int64) error {
	// Write waits its turn for the pool's one writer (first come, first
	// served, so these goroutines never see "database is locked") and runs
	// fn inside BEGIN IMMEDIATE ... COMMIT: both statements commit together,
	// or neither does.
	err := s.h.Write(ctx, func(ctx context.Context, c *sqlitepool.Conn) error {
		// The customer row comes first: foreign_keys is on in every pooled
		// connection, so an order needs its customer. credit is given the
		// ctx fn received, so it runs on this connection, in this
		// transaction.
		if err := credit(ctx, s.h, customer, cents); err != nil {
			return err
		}
		return c.Exec(`INSERT INTO orders(customer, cents) VALUES (?, ?)`, customer, cents)
	})
	if err != nil {
		return fmt.Errorf("orders: place an order of %s: %w", customer, err)
	}
	return nil
}

// credit adds an order of cents to the customer's running totals. Like a
// function that takes a *sql.Tx, it knows nothing of the transaction it
// runs in: given the ctx of a Write, it joins that Write's transaction;
// given any other, it commits on its own.
func credit(ctx context.Context, h *sqlitepool.Handle, customer string, cents int64) error {
	return h.Exec(ctx, `INSERT INTO customers(name, orders, cents) VALUES (?, 1, ?)
		ON CONFLICT(name) DO UPDATE SET orders = orders + 1, cents = cents + excluded.cents`,
		customer, cents)
}
