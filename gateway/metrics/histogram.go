package metrics

import (
	"fmt"
	"io"
	"math"
	"slices"
	"sync/atomic"
)

// Histogram counts observations into classic Prometheus buckets: each
// bucket counts the values at or below its upper bound, written
// cumulatively with an le label, plus _sum and _count. Update is lock free
// and allocates nothing.
type Histogram struct {
	name   string
	bounds []float64
	counts []atomic.Uint64 // per bucket, not cumulative; the last is +Inf
	sum    atomic.Uint64   // float64 bits
	count  atomic.Uint64
}

func newHistogram(name string, bounds []float64) *Histogram {
	b := slices.Clone(bounds)
	slices.Sort(b)
	b = slices.Compact(b)
	return &Histogram{name: name, bounds: b, counts: make([]atomic.Uint64, len(b)+1)}
}

// Update records one observation.
func (h *Histogram) Update(v float64) {
	i, _ := slices.BinarySearch(h.bounds, v)
	h.counts[i].Add(1)
	for {
		old := h.sum.Load()
		if h.sum.CompareAndSwap(old, math.Float64bits(math.Float64frombits(old)+v)) {
			break
		}
	}
	h.count.Add(1)
}

func (h *Histogram) write(w io.Writer) {
	fmt.Fprintf(w, "# TYPE %s histogram\n", h.name)
	var cum uint64
	for i, b := range h.bounds {
		cum += h.counts[i].Load()
		fmt.Fprintf(w, "%s_bucket{le=\"%s\"} %d\n", h.name, formatFloat(b), cum)
	}
	cum += h.counts[len(h.bounds)].Load()
	fmt.Fprintf(w, "%s_bucket{le=\"+Inf\"} %d\n", h.name, cum)
	fmt.Fprintf(w, "%s_sum %s\n", h.name, formatFloat(math.Float64frombits(h.sum.Load())))
	fmt.Fprintf(w, "%s_count %d\n", h.name, h.count.Load())
}
