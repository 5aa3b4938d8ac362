// Package harness runs one benchmark cell (a contender, a workload, a
// number of goroutines) for a fixed time and measures it: operations,
// latency histogram, errors by kind, allocations.
//
// It has no dependencies on purpose. The bench module uses it with the
// current engine, and the bench/wazero module uses it with the last
// wazero-based engine (ncruces v0.32.0): one module cannot require two
// versions of the engine, so everything both sides share lives here, and
// the wazero side runs in a child process that speaks JSON ([Serve],
// [Remote]).
//
// # Contenders
//
// A [Contender] runs cells. Most are in-process: [Local] adapts an open
// function that returns a [Session], whose [Worker]s the runner drives, one
// goroutine each. A [Worker] implements the three primitive operations of
// every workload; the runner composes them (see [Workload]).
package harness
