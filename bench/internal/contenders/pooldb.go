package contenders

import (
	"context"
	"database/sql"

	"github.com/sqlitepool/sqlitepool"
	"github.com/sqlitepool/sqlitepool/bench/harness"
	"github.com/sqlitepool/sqlitepool/bench/harness/sqlbench"
)

// PoolDB is database/sql on the pool: the *sql.DB of sqlitepool.OpenDB,
// with the pool's readers and writer, running the database/sql
// contender's code (statements prepared once, writes in BeginTx +
// tx.Stmt). database/sql's limits stay as OpenDB sets them: the pool
// bounds the real connections.
func PoolDB() harness.Contender {
	return sqlbench.NewDB("OpenDB", false, openPoolDB)
}

// PoolDBText is PoolDB with the SQL text on every call, as sqlc's
// generated code does by default: the pool runs it from its statement
// cache.
func PoolDBText() harness.Contender {
	return sqlbench.NewDB("OpenDB-text", true, openPoolDB)
}

func openPoolDB(ctx context.Context, spec harness.Spec) (*sql.DB, error) {
	return sqlitepool.OpenDB(spec.Path, nil,
		sqlitepool.WithReaders(spec.Conns),
		sqlitepool.WithBusyTimeout(spec.BusyTimeout))
}
