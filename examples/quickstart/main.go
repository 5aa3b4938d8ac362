// Quickstart shows two packages of one program, orders and reports, that
// each open the same SQLite database by its path, on their own and at the
// same time, and end up sharing one sqlitepool pool: one init, one writer
// connection, a few read-only readers.
//
// Usage:
//
//	go run ./examples/quickstart [-db path]
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/sqlitepool/sqlitepool"
	"github.com/sqlitepool/sqlitepool/examples/quickstart/orders"
	"github.com/sqlitepool/sqlitepool/examples/quickstart/reports"
)

// The workload: small enough to finish in a blink, large enough for the
// goroutines to overlap and queue.
const (
	writers   = 4  // goroutines placing orders
	perWriter = 50 // orders each of them places
	readers   = 4  // goroutines reading the totals meanwhile
	perReader = 50 // reads each of them makes
)

func main() {
	db := flag.String("db", "", "database file (default: a new one in a temporary directory, removed at exit)")
	flag.Parse()
	if err := mainErr(*db); err != nil {
		fmt.Fprintln(os.Stderr, "quickstart:", err)
		os.Exit(1)
	}
}

func mainErr(path string) (err error) {
	switch {
	case path == ":memory:":
		// Each Open of ":memory:" makes a private pool: the two packages
		// would not see each other's data.
		return errors.New(`-db ":memory:" would give each package a database of its own; use "file:/shop?vfs=memdb" to share one in memory`)
	case path == "":
		dir, derr := os.MkdirTemp("", "sqlitepool-quickstart-")
		if derr != nil {
			return derr
		}
		defer func() { err = errors.Join(err, os.RemoveAll(dir)) }()
		path = filepath.Join(dir, "shop.db")
	}
	_, err = run(context.Background(), path, os.Stdout)
	return err
}

// summary is what a run did and saw.
type summary struct {
	Before, After reports.Totals   // the totals before and after the orders came in
	Placed        orders.Placed    // what the orders package placed
	Seen          reports.Seen     // what the reports package read meanwhile
	Stats         sqlitepool.Stats // the pool's figures, taken while both handles were open
	SameStats     bool             // the orders' and the reports' handles reported the same figures
	WALLeft       bool             // a -wal file was left after the last Close (file databases only)
}

// run opens the database from both packages, has them work concurrently,
// closes them and writes a report to out.
func run(ctx context.Context, path string, out io.Writer) (summary, error) {
	// Both packages open the database at the same time, as independent
	// subsystems starting up would. The first Open creates the pool and runs
	// schema.Init on its writer; the other waits for that and joins the pool.
	var (
		wg         sync.WaitGroup
		o          *orders.Store
		r          *reports.Reports
		oErr, rErr error
	)
	wg.Go(func() { o, oErr = orders.Open(path) })
	wg.Go(func() { r, rErr = reports.Open(path) })
	wg.Wait()

	var sum summary
	err := errors.Join(oErr, rErr)
	if err == nil {
		sum, err = work(ctx, o, r)
	}
	// Each package closes its own handle; the pool closes with the last one.
	if o != nil {
		err = errors.Join(err, o.Close())
	}
	if r != nil {
		err = errors.Join(err, r.Close())
	}
	if err != nil {
		return sum, err
	}

	// The last Close closed the readers first and the writer last, so the
	// writer could checkpoint the WAL into the database and delete it.
	if !strings.HasPrefix(path, "file:") {
		_, err := os.Stat(path + "-wal")
		sum.WALLeft = !errors.Is(err, os.ErrNotExist)
	}
	return sum, write(out, path, sum)
}

// work has orders write and reports read at the same time, then checks that
// the reports counted exactly what the orders placed.
func work(ctx context.Context, o *orders.Store, r *reports.Reports) (summary, error) {
	var sum summary
	var err error
	// A database given with -db may hold orders from earlier runs.
	if sum.Before, err = r.Totals(ctx); err != nil {
		return sum, err
	}

	// Writes queue for the one writer; reads run on reader connections and,
	// in WAL mode, never wait for the writer.
	var (
		wg         sync.WaitGroup
		pErr, sErr error
	)
	wg.Go(func() { sum.Placed, pErr = o.Place(ctx, writers, perWriter) })
	wg.Go(func() { sum.Seen, sErr = r.Watch(ctx, readers, perReader) })
	wg.Wait()
	if err := errors.Join(pErr, sErr); err != nil {
		return sum, err
	}

	if sum.After, err = r.Totals(ctx); err != nil {
		return sum, err
	}
	if n, c := sum.After.Orders-sum.Before.Orders, sum.After.Cents-sum.Before.Cents; n != sum.Placed.Orders || c != sum.Placed.Cents {
		return sum, fmt.Errorf("reports counted %d new orders of %d cents, orders placed %d of %d",
			n, c, sum.Placed.Orders, sum.Placed.Cents)
	}

	// Two handles, one pool: both report the very same figures.
	sum.Stats = o.Stats()
	sum.SameStats = sum.Stats == r.Stats()
	return sum, nil
}

// write prints the summary and the pool's figures.
func write(out io.Writer, path string, s summary) error {
	var b strings.Builder
	fmt.Fprintf(&b, "database  %s\n", path)
	fmt.Fprintf(&b, "orders    placed %d orders (%s) from %d goroutines, one Write each\n",
		s.Placed.Orders, money(s.Placed.Cents), writers)
	fmt.Fprintf(&b, "reports   %d reads from %d goroutines meanwhile saw %d to %d orders; afterwards counted %d new (%s)\n",
		s.Seen.Reads, readers, s.Seen.Min-s.Before.Orders, s.Seen.Max-s.Before.Orders,
		s.After.Orders-s.Before.Orders, money(s.After.Cents-s.Before.Cents))
	fmt.Fprintf(&b, "one pool  both handles report the same stats: %t; writer connections created: %d\n",
		s.SameStats, s.Stats.Writer.Created)
	fmt.Fprintf(&b, "\npool stats with %d handles open:\n", s.Stats.Handles)

	tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "role\topen\tin use\tidle\tacquires\twaits\twait time\tcreated\tclosed\trollbacks on release\t")
	for _, role := range []struct {
		name string
		rs   sqlitepool.RoleStats
	}{{"writer", s.Stats.Writer}, {"readers", s.Stats.Readers}} {
		rs := role.rs
		fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%d\t%d\t%v\t%d\t%d\t%d\t\n", role.name,
			rs.Open, rs.InUse, rs.Idle, rs.Acquires, rs.Waits, rs.WaitTime.Round(10*time.Microsecond), rs.Created, rs.Closed, rs.RollbacksOnRelease)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if s.WALLeft {
		fmt.Fprintf(&b, "\nafter the last Close: %s-wal is still there\n", filepath.Base(path))
	} else {
		fmt.Fprintf(&b, "\nafter the last Close: the WAL was checkpointed and removed\n")
	}
	_, err := io.WriteString(out, b.String())
	return err
}

func money(cents int64) string { return fmt.Sprintf("$%d.%02d", cents/100, cents%100) }
