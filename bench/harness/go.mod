module github.com/sqlitepool/sqlitepool/bench/harness

go 1.26.0
