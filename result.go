package sqlitepool

import "context"

// Result reports what a write did, as database/sql's Result does: the
// rowid of the last row it inserted and the number of rows it changed.
type Result struct {
	// LastInsertRowID is the rowid of the last row the statement inserted,
	// or of the last row inserted on the connection before it if it
	// inserted none (SQLite keeps it per connection).
	LastInsertRowID int64
	// RowsAffected is the number of rows the statement inserted, updated
	// or deleted; 0 for other statements.
	RowsAffected int64
}

// ExecResult is [Handle.Exec] that also reports what the statement did.
// Read the rowid and the count here, or with [Conn.LastInsertRowID] and
// [Conn.Changes] inside Write: outside the lease that ran the statement,
// last_insert_rowid() and changes() in later SQL run on whatever
// connection that call gets, and tell of someone else's write. A statement
// with RETURNING tells the same, in SQL.
func (h *Handle) ExecResult(ctx context.Context, sql string, args ...any) (Result, error) {
	var r Result
	err := h.Write(ctx, func(_ context.Context, c *Conn) error {
		if err := c.Exec(sql, args...); err != nil {
			return err
		}
		r = Result{LastInsertRowID: c.LastInsertRowID(), RowsAffected: c.Changes()}
		return nil
	})
	if err != nil {
		return Result{}, err
	}
	return r, nil
}
