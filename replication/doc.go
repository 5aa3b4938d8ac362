// Package replication holds sqlitepool's end-to-end test with Litestream
// run as its own process, the way the README's "Replication and backups"
// section advises: an application writing through a pool with
// sqlitepool.WALExternal, Litestream replicating its database to a file
// replica, both killed with SIGKILL and restarted several times, then a
// restore that must hold every row the application saw committed.
//
// It is a module of its own so that the test's tooling stays out of the
// library's dependencies. It needs the pinned Litestream on PATH or in
// $(go env GOPATH)/bin:
//
//	go install github.com/benbjohnson/litestream/cmd/litestream@v0.5.18
//	go test -race -count=1 -v .
//
// SQLITEPOOL_LITESTREAM sets how long the test writes (default 30s), for
// example SQLITEPOOL_LITESTREAM=10m; SQLITEPOOL_LITESTREAM_BIN names the
// Litestream binary, which must then exist.
package replication
