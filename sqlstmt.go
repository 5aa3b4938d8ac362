package sqlitepool

import (
	"context"
	"database/sql/driver"

	"github.com/ncruces/go-sqlite3"
)

// sqlStmt is a statement of database/sql: its text, checked when it was
// prepared. database/sql keeps a *sql.Stmt across uses of its connection,
// each of which may lease another pool connection, so each call runs the
// text through the statement cache of the connection it gets: a lookup,
// prepared once per pool connection.
type sqlStmt struct {
	c      *sqlConn
	query  string
	inputs int
}

var (
	_ driver.Stmt             = (*sqlStmt)(nil)
	_ driver.StmtExecContext  = (*sqlStmt)(nil)
	_ driver.StmtQueryContext = (*sqlStmt)(nil)
)

// numInput is NumInput for stmt: its parameter count, or -1 when a
// parameter has a name (database/sql then leaves the count to bindNamed).
func numInput(stmt *sqlite3.Stmt) int {
	n := stmt.BindCount()
	for i := 1; i <= n; i++ {
		if stmt.BindName(i) != "" {
			return -1
		}
	}
	return n
}

// Close does nothing: the statement belongs to the pool's cache.
func (s *sqlStmt) Close() error { return nil }

// NumInput returns the parameter count, or -1 with named parameters.
func (s *sqlStmt) NumInput() int { return s.inputs }

// Exec is ExecContext without a context.
func (s *sqlStmt) Exec(args []driver.Value) (driver.Result, error) {
	return s.ExecContext(context.Background(), namedValues(args))
}

// Query is QueryContext without a context.
func (s *sqlStmt) Query(args []driver.Value) (driver.Rows, error) {
	return s.QueryContext(context.Background(), namedValues(args))
}

// ExecContext runs the statement as the connection's ExecContext does.
func (s *sqlStmt) ExecContext(ctx context.Context, args []driver.NamedValue) (driver.Result, error) {
	return s.c.ExecContext(ctx, s.query, args)
}

// QueryContext runs the statement as the connection's QueryContext does.
func (s *sqlStmt) QueryContext(ctx context.Context, args []driver.NamedValue) (driver.Rows, error) {
	return s.c.QueryContext(ctx, s.query, args)
}

func namedValues(args []driver.Value) []driver.NamedValue {
	nv := make([]driver.NamedValue, len(args))
	for i, v := range args {
		nv[i] = driver.NamedValue{Ordinal: i + 1, Value: v}
	}
	return nv
}
