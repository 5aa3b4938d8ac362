package harness

import "time"

// Spec is one cell: everything a contender needs to run it, in-process or
// in the wazero child (it crosses the pipe as JSON).
type Spec struct {
	Path        string        `json:"path"`        // the database file
	Workload    Workload      `json:"workload"`    // what each operation does
	Concurrency int           `json:"concurrency"` // goroutines issuing operations
	Conns       int           `json:"conns"`       // read connections a pool may open
	BusyTimeout time.Duration `json:"busy_timeout"`
	Warmup      time.Duration `json:"warmup"`   // run, then discarded
	Duration    time.Duration `json:"duration"` // measured
	Users       int64         `json:"users"`    // keys are drawn from 1..Users
	Posts       int64         `json:"posts"`    // and 1..Posts
	Seed        uint64        `json:"seed"`     // for the key draws
}

// Round is what one run of a cell measured.
type Round struct {
	Ops     int64   `json:"ops"`     // operations that succeeded
	Seconds float64 `json:"seconds"` // from the first start to the last finish
	// Mallocs is the heap allocation count over the measured phase (all
	// goroutines of the process; the runner itself allocates nothing per
	// operation).
	Mallocs uint64 `json:"mallocs"`
	// Errors counts failed operations by kind (see Kind); ErrorSamples
	// keeps one message of each kind.
	Errors       map[string]int64  `json:"errors,omitempty"`
	ErrorSamples map[string]string `json:"error_samples,omitempty"`
	// Latency holds every operation's latency, failed ones included: a
	// caller waited that long either way.
	Latency *Histogram `json:"latency"`
}

// OpsPerSec is the round's throughput of successful operations.
func (r *Round) OpsPerSec() float64 {
	if r.Seconds <= 0 {
		return 0
	}
	return float64(r.Ops) / r.Seconds
}

// AllocsPerOp is allocations per operation, failed ones included.
func (r *Round) AllocsPerOp() float64 {
	n := r.Ops
	for _, c := range r.Errors {
		n += c
	}
	if n == 0 {
		return 0
	}
	return float64(r.Mallocs) / float64(n)
}
