package sqlitepool

import "fmt"

// pinSQL is the statement a reader holds on its row for the length of a
// Read. It opens a read transaction (it reads the database header) and has
// one row whatever the schema.
const pinSQL = "PRAGMA schema_version"

// inSnapshot runs fn on a reader inside one read transaction, the way
// Handle.Read promises. SQLite keeps a connection's read transaction, and
// so its snapshot of the database, for as long as any of its statements is
// active: stepped and not yet reset. Stepping pinSQL to its row before fn
// and resetting it after holds one snapshot across fn's statements, even
// those that run to completion, as BEGIN ... COMMIT would. It costs one
// statement instead of two (measured: BenchmarkPointRead), and the
// snapshot is taken when fn starts rather than at its first read.
//
// fn may still begin and end a transaction of its own (Conn.Begin,
// Conn.Savepoint): the pin keeps the snapshot either way; release rolls
// back whatever fn leaves open.
func (c *conn) inSnapshot(fn func() error) error {
	pin, err := c.ownStmt(&c.pin, pinSQL)
	if err == nil && !pin.Step() {
		err = c.wrap(pin.Err())
		pin.Reset()
		if err == nil { // no row: cannot happen, but the snapshot would not be held
			err = fmt.Errorf("%s returned no row", pinSQL)
		}
	}
	if err != nil {
		return fmt.Errorf("sqlitepool: begin read on %q: %w", c.db, err)
	}
	// Reset ends the snapshot (with fn's statements, which release resets)
	// even if fn panics. Its error would be a step's, and the pin's step
	// succeeded.
	c.snapshot = true
	defer func() {
		c.snapshot = false
		pin.Reset()
	}()
	return fn()
}
