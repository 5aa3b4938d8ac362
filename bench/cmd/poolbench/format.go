package main

import (
	"fmt"
	"math"
	"sort"
	"strings"
	"time"
)

// ops formats a throughput with three significant figures: 256k, 4.21k, 812.
func ops(v float64) string {
	switch {
	case v >= 1e6:
		return sig(v/1e6) + "M"
	case v >= 1e3:
		return sig(v/1e3) + "k"
	}
	return sig(v)
}

func sig(v float64) string {
	switch {
	case v >= 100:
		return fmt.Sprintf("%.0f", v)
	case v >= 10:
		return fmt.Sprintf("%.1f", v)
	}
	return fmt.Sprintf("%.2f", v)
}

// dur formats a latency with three significant figures in ns, µs, ms or s.
func dur(d time.Duration) string {
	v := float64(d)
	switch {
	case d <= 0:
		return "-"
	case v >= 1e9:
		return sig(v/1e9) + " s"
	case v >= 1e6:
		return sig(v/1e6) + " ms"
	case v >= 1e3:
		return sig(v/1e3) + " µs"
	}
	return sig(v) + " ns"
}

// ratio formats a/b as "1.23×", or "-" when b is missing.
func ratio(a, b float64) string {
	if b <= 0 || a <= 0 || math.IsNaN(a/b) {
		return "-"
	}
	if a/b >= 100 {
		return fmt.Sprintf("%.0f×", a/b)
	}
	return fmt.Sprintf("%.2f×", a/b)
}

// errorsText lists error counts by kind, busy first: "busy 12, other 3",
// or "0".
func errorsText(m map[string]int64) string {
	if len(m) == 0 {
		return "0"
	}
	kinds := make([]string, 0, len(m))
	for k := range m {
		kinds = append(kinds, k)
	}
	sort.Slice(kinds, func(i, j int) bool {
		if (kinds[i] == "busy") != (kinds[j] == "busy") {
			return kinds[i] == "busy"
		}
		return kinds[i] < kinds[j]
	})
	var parts []string
	for _, k := range kinds {
		parts = append(parts, fmt.Sprintf("%s %d", k, m[k]))
	}
	return strings.Join(parts, ", ")
}
