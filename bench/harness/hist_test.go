package harness

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"testing"
	"time"
)

// TestHistogramQuantiles records 1..100,000 µs once each: every quantile
// must come back within the histogram's 1% error.
func TestHistogramQuantiles(t *testing.T) {
	var h Histogram
	const n = 100000
	for i := 1; i <= n; i++ {
		h.Record(time.Duration(i) * time.Microsecond)
	}
	if h.Count() != n {
		t.Fatalf("Count() = %d, want %d", h.Count(), n)
	}
	for _, q := range []float64{0.001, 0.5, 0.9, 0.99, 0.999, 1} {
		got := h.Quantile(q)
		want := time.Duration(math.Ceil(q*n)) * time.Microsecond
		if rel := math.Abs(float64(got-want)) / float64(want); rel > 0.01 {
			t.Errorf("Quantile(%v) = %v, want %v ± 1%%", q, got, want)
		}
	}
	if got, want := h.Mean(), n/2*time.Microsecond; math.Abs(float64(got-want))/float64(want) > 0.01 {
		t.Errorf("Mean() = %v, want %v ± 1%%", got, want)
	}
}

// TestHistogramSmallAndHuge checks the exact range below 128 ns and the
// clamp at the top.
func TestHistogramSmallAndHuge(t *testing.T) {
	var h Histogram
	h.Record(0)
	h.Record(-5)
	h.Record(100)
	h.Record(time.Hour)
	if got := h.Quantile(0.5); got != 0 {
		t.Errorf("Quantile(0.5) = %v, want 0", got)
	}
	if got := h.Quantile(0.75); got != 100 {
		t.Errorf("Quantile(0.75) = %v, want 100ns", got)
	}
	if got := h.Quantile(1); got < 30*time.Minute {
		t.Errorf("Quantile(1) = %v, want the top bucket (over 30 minutes)", got)
	}
}

func TestHistogramJSON(t *testing.T) {
	var h Histogram
	for i := range 1000 {
		h.Record(time.Duration(i*i) * time.Nanosecond)
	}
	b, err := json.Marshal(&h)
	if err != nil {
		t.Fatal(err)
	}
	var back Histogram
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if back != h {
		t.Errorf("histogram changed in a JSON round trip")
	}
}

func TestKind(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want string
	}{
		{errors.New("sqlite3: database is locked"), ErrBusy},
		{errors.New("sqlite.Exec: SQLITE_BUSY: something"), ErrBusy},
		{errors.New("sqlite3: database table is locked"), ErrLocked},
		{fmt.Errorf("wait: %w", context.DeadlineExceeded), ErrTimeout},
		{errors.New("sqlite3: interrupted"), ErrTimeout},
		{errors.New("no such table: x"), ErrOther},
	} {
		if got := Kind(tc.err); got != tc.want {
			t.Errorf("Kind(%q) = %q, want %q", tc.err, got, tc.want)
		}
	}
}
