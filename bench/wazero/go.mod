module github.com/sqlitepool/sqlitepool/bench/wazero

go 1.26.0

replace github.com/sqlitepool/sqlitepool/bench/harness => ../harness

require (
	github.com/ncruces/go-sqlite3 v0.32.0
	github.com/ncruces/julianday v1.0.0 // indirect
	github.com/sqlitepool/sqlitepool/bench/harness v0.0.0-00010101000000-000000000000
	github.com/tetratelabs/wazero v1.11.0 // indirect
	golang.org/x/sys v0.41.0 // indirect
)
