package harness

import (
	"encoding/json"
	"math"
	"math/bits"
	"time"
)

// Histogram counts latencies in log-linear buckets: exact below 128 ns,
// then 64 buckets per power of two, so a quantile is off by less than 1%.
// Recording is an array increment: no allocation and no lock, because
// each worker has its own histogram and the runner merges them at the end.
type Histogram struct {
	counts [nBuckets]uint64
	n      uint64
}

const (
	subBits  = 6
	sub      = 1 << subBits // buckets per power of two
	maxShift = 34           // latencies up to 2^41 ns (about 36 minutes)
	nBuckets = 2*sub + maxShift*sub
)

func bucketOf(ns int64) int {
	v := uint64(max(ns, 0))
	if v < 2*sub {
		return int(v)
	}
	shift := bits.Len64(v) - subBits - 1 // v>>shift is in [sub, 2*sub)
	if shift > maxShift {
		return nBuckets - 1
	}
	return 2*sub + (shift-1)*sub + int(v>>shift) - sub
}

// bucketMid is the middle of bucket i, in nanoseconds.
func bucketMid(i int) float64 {
	if i < 2*sub {
		return float64(i)
	}
	shift := (i-2*sub)/sub + 1
	m := uint64((i-2*sub)%sub + sub)
	lo := m << shift
	return float64(lo) + float64(uint64(1)<<shift)/2
}

// Record adds one latency.
func (h *Histogram) Record(d time.Duration) {
	h.counts[bucketOf(int64(d))]++
	h.n++
}

// Count is the number of latencies recorded.
func (h *Histogram) Count() uint64 { return h.n }

// Merge adds o's counts to h.
func (h *Histogram) Merge(o *Histogram) {
	for i, c := range o.counts {
		h.counts[i] += c
	}
	h.n += o.n
}

// Quantile returns the latency at quantile q (0 < q ≤ 1), or 0 when
// nothing was recorded.
func (h *Histogram) Quantile(q float64) time.Duration {
	if h.n == 0 {
		return 0
	}
	rank := uint64(math.Ceil(q * float64(h.n)))
	rank = max(rank, 1)
	var seen uint64
	for i, c := range h.counts {
		seen += c
		if seen >= rank {
			return time.Duration(bucketMid(i))
		}
	}
	return time.Duration(bucketMid(nBuckets - 1))
}

// Mean returns the mean latency, from bucket middles.
func (h *Histogram) Mean() time.Duration {
	if h.n == 0 {
		return 0
	}
	var sum float64
	for i, c := range h.counts {
		if c > 0 {
			sum += float64(c) * bucketMid(i)
		}
	}
	return time.Duration(sum / float64(h.n))
}

// MarshalJSON writes the non-empty buckets as [index, count] pairs: a
// histogram crosses the pipe from the wazero child, and most buckets are
// empty.
func (h *Histogram) MarshalJSON() ([]byte, error) {
	pairs := [][2]uint64{}
	for i, c := range h.counts {
		if c > 0 {
			pairs = append(pairs, [2]uint64{uint64(i), c})
		}
	}
	return json.Marshal(pairs)
}

// UnmarshalJSON reads what MarshalJSON wrote.
func (h *Histogram) UnmarshalJSON(b []byte) error {
	var pairs [][2]uint64
	if err := json.Unmarshal(b, &pairs); err != nil {
		return err
	}
	*h = Histogram{}
	for _, p := range pairs {
		if p[0] < nBuckets {
			h.counts[p[0]] += p[1]
			h.n += p[1]
		}
	}
	return nil
}
