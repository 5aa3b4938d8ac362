package contenders

import (
	_ "github.com/ncruces/go-sqlite3/driver" // registers "sqlite3"

	"github.com/sqlitepool/sqlitepool/bench/harness"
	"github.com/sqlitepool/sqlitepool/bench/harness/sqlbench"
)

// DatabaseSQL is one *sql.DB on ncruces' driver, for reads and writes.
func DatabaseSQL() harness.Contender {
	return sqlbench.New("database/sql", "sqlite3", false)
}

// DatabaseSQLText is DatabaseSQL with the SQL text on every call, as
// sqlc's generated code does by default: ncruces' driver prepares it each
// time.
func DatabaseSQLText() harness.Contender {
	return sqlbench.NewText("database/sql-text", "sqlite3")
}

// Split is the common split pattern on ncruces' driver: a writer *sql.DB
// with MaxOpenConns(1) and a read-only reader *sql.DB.
func Split() harness.Contender {
	return sqlbench.New("split", "sqlite3", true)
}
