package sqlitepool

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/ncruces/go-sqlite3"
	"github.com/ncruces/go-sqlite3/vfs"
)

// Role tells a pool's writer connection from its readers.
type Role uint8

const (
	// RoleWriter is the pool's one read-write connection.
	RoleWriter Role = iota + 1
	// RoleReader is a read-only connection (SQLITE_OPEN_READONLY and
	// query_only).
	RoleReader
)

// String returns "writer" or "reader".
func (r Role) String() string {
	switch r {
	case RoleWriter:
		return "writer"
	case RoleReader:
		return "reader"
	}
	return fmt.Sprintf("Role(%d)", uint8(r))
}

// conn is one pooled connection of the engine, with what the pool keeps
// for it across leases. A lease lends it through a [Conn].
type conn struct {
	raw  *sqlite3.Conn
	role Role
	db   string // the database's name, for error messages
	pool *pool  // set when the pool starts tracking it (leak.go)

	cache      stmtCache // prepared statements; see Prep
	savepoints int       // nesting depth of Savepoint, for unique names

	// begin and commit run every Read and Write: prepared once, kept out
	// of the cache (no lookup, no eviction, nothing to reset on release).
	beginStmt, commitStmt *sqlite3.Stmt
	// pin holds a reader's snapshot for Read (snapshot.go).
	pin *sqlite3.Stmt

	changes *writerChanges // the writer's transactions, for Subscribe
	intr    *interrupter   // the engine's interrupt context; see interrupt.go
	ends    txnEnds        // the writer's commits and rollbacks, from its hooks

	// rawUsed says Raw was called since the last clean (or the open): only
	// through Raw can a blob, a backup or a statement outside the cache
	// hold a transaction that autocommit does not show.
	rawUsed bool

	// Lifecycle (lifecycle.go, broken.go).
	expires   int64  // Unix ns; 0: never
	idleSince int64  // Unix ns, coarse: when it last went back to the pool
	broken    error  // an error that showed the connection unusable
	caller    string // file:line that took the lease, only with a logger; guarded by the pool's mu

	// The database file (moved.go): the engine's handle of it (nil in
	// memory), the error of a commit refused because it moved, and the
	// pool's generation of files when c was opened.
	file     vfs.File
	movedErr error
	gen      uint64

	// snapshot says a reader holds the Read pin (snapshot.go) now.
	snapshot bool
	// poolReadOnly says c belongs to a pool opened WithReadOnly.
	poolReadOnly bool
	// lent is the rest of the batch of Conns that c's next leases get
	// (lent.go, nextLent).
	lent []Conn

	// Leak detection (leak.go): the tracker while no Lease holds it, and
	// the record of c that the tracker's cleanup gets.
	tracker *tracker
	leak    *leakRec

	// owner is the pool whose room under the process-wide cap c holds,
	// given back when c closes; nil without a cap.
	owner *pool
}

// exec is Conn.Exec.
func (c *conn) exec(sql string, args []any) (err error) {
	defer func() { err = c.sqlError("Exec", sql, err) }()
	defer c.recoverOOM(&err)
	e, _, err := c.prep(sql)
	if err != nil {
		return err
	}
	switch {
	case e.script && len(args) == 0:
		return c.wrap(c.raw.Exec(sql))
	case e.script:
		return c.scriptWithArgs(sql)
	case e.stmt == nil && len(args) == 0:
		return nil
	case e.stmt == nil:
		return fmt.Errorf("%w: Exec on %q: %d arguments for no statement", ErrInvalidArgument, c.db, len(args))
	}
	if err := bindArgs(e.stmt, args); err != nil {
		return inCall(err, "Exec", c.db)
	}
	ends := c.ends
	return c.wrap(c.committedAnyway(e.stmt.Exec(), ends))
}

// scriptWithArgs explains why SQL with arguments was refused: a syntax error
// after the first statement, or a second statement. Only on this error path
// is the rest prepared.
func (c *conn) scriptWithArgs(sql string) error {
	if first, tail, err := c.raw.Prepare(sql); err == nil {
		first.Close()
		rest, _, err := c.raw.Prepare(tail)
		rest.Close()
		// Other errors ("no such table") may just be a later statement
		// that depends on an earlier one.
		if err != nil && strings.Contains(err.Error(), "syntax error") {
			return c.wrap(err)
		}
	}
	return fmt.Errorf("%w: Exec on %q: arguments bind one statement, and the SQL has more; run them one by one", ErrInvalidArgument, c.db)
}

// wrap explains the engine errors a pool user is likely to misread: a write
// through a reader, and an interrupt, which is the lease's context ending
// and so also matches that context's error. So does a busy wait given up
// while that context is done: the engine's busy handler stops retrying
// then, and the SQLITE_BUSY that follows is the context's doing, not a
// second writer's.
func (c *conn) wrap(err error) error {
	if err == nil {
		return nil
	}
	c.noteBroken(err)
	switch {
	case c.movedErr != nil && errors.Is(err, sqlite3.CONSTRAINT_COMMITHOOK):
		return fmt.Errorf("%w: %w", c.movedErr, err)
	case c.poolReadOnly && errors.Is(err, sqlite3.READONLY):
		return fmt.Errorf("%w: %q: the pool was opened WithReadOnly, and its connections cannot write: %w", ErrReadOnly, c.db, err)
	case c.role == RoleReader && errors.Is(err, sqlite3.READONLY):
		return fmt.Errorf("%w: %q: reader connections cannot write; use Handle.Write or Handle.Writer: %w", ErrReadOnly, c.db, err)
	}
	return c.errFromFn(err)
}

// errFromFn makes an error that the engine raised because the lease's
// context ended match that context's error too: an interrupt, or a busy
// wait the engine gave up because the context was done. wrap does this for
// the pool's own calls; Read, Write and Exclusive do it for what fn returns
// (a statement fn stepped by hand returns the engine's INTERRUPT alone).
func (c *conn) errFromFn(err error) error {
	if err == nil || !(errors.Is(err, sqlite3.INTERRUPT) || errors.Is(err, sqlite3.BUSY)) {
		return err
	}
	cerr := c.raw.GetInterrupt().Err()
	if cerr == nil || errors.Is(err, cerr) {
		return err
	}
	return fmt.Errorf("%w: %w", cerr, err)
}

// rollback ends an open transaction on purpose (so it is not counted as a
// rollback on release). The interrupt is cleared first: the engine refuses
// every statement, ROLLBACK included, while it is done. A failure is left for
// clean to find.
func (c *conn) rollback() {
	c.uninterrupted(func() {
		if !c.raw.GetAutocommit() {
			c.raw.Exec("ROLLBACK")
		}
	})
}

// uninterrupted runs fn with the interrupt cleared, then restores it: the
// engine refuses every statement while the lease's context is done, and a
// rollback must run anyway.
func (c *conn) uninterrupted(fn func()) {
	old := c.raw.SetInterrupt(context.Background())
	defer c.raw.SetInterrupt(old)
	fn()
}

// clean makes c fit for the next lease: the lease's context forgotten (the
// engine returns INTERRUPT for every call while it is done), unfinished
// statements reset (a stepped, unreset statement holds a read transaction
// open even though autocommit reads true, and pins the WAL), and an open
// transaction rolled back. It reports whether it rolled back; an error means
// c cannot be reused.
func (c *conn) clean() (rolledBack bool, err error) {
	c.intr.lease = nil
	if c.raw.GetInterrupt() != c.intr { // changed through Raw
		c.raw.SetInterrupt(c.intr)
	}
	rawUsed := c.rawUsed
	c.rawUsed = false
	if rawUsed {
		// First: the resets and the rollback below may end a transaction.
		c.changes.restoreHooks(c)
	}
	if err := c.cache.release(); err != nil {
		c.noteBroken(err) // a statement stepped by hand through Prep failed
	}
	// The common case: nothing else was left open. Only otherwise look for
	// the user's own statements still running, and roll back. Without Raw,
	// the cache's statements were all the lease could leave running, and
	// they are reset: autocommit alone tells.
	if c.raw.GetAutocommit() && (!rawUsed || c.raw.TxnState("") == sqlite3.TXN_NONE) {
		return false, nil
	}
	for s := range c.raw.Stmts() {
		if s.Busy() {
			s.Reset() // its error is the statement's, already seen or not, by its user
		}
	}
	if !c.raw.GetAutocommit() {
		rolledBack = true
		// Uninterrupted: a pool closed by force interrupts everything, and
		// the rollback must run anyway.
		var err error
		c.uninterrupted(func() { err = c.raw.Exec("ROLLBACK") })
		if err != nil {
			return rolledBack, fmt.Errorf("sqlitepool: %q: rollback on release: %w", c.db, err)
		}
	}
	// One check covers what could still hold a transaction: a rollback that
	// did not end it, a statement that stayed busy, and a blob or backup left
	// open through Raw (not a statement, yet it pins the WAL). TxnState("")
	// is the highest state over all schemas, attached ones included.
	if c.raw.TxnState("") != sqlite3.TXN_NONE {
		return rolledBack, fmt.Errorf("sqlitepool: %q: a transaction stays open after release (an unclosed blob or backup?)", c.db)
	}
	return rolledBack, nil
}
