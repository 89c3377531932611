package gateway

import (
	"slices"
	"sync"
	"time"

	"github.com/edgegate/edgegate/gateway/admin"
	"github.com/edgegate/edgegate/store"
)

// Reading rates for the status page's charts: journaled readings counted in
// rateBuckets buckets of rateStep, in total and per device, on the monotonic
// clock.
const (
	rateStep    = 10 * time.Second
	rateBuckets = 60
)

// rateSeries is one ring of counts; slot i counts bucket i mod rateBuckets.
type rateSeries struct {
	counts [rateBuckets]uint32
	last   int64 // the bucket number counts[last%rateBuckets] holds
}

func (s *rateSeries) add(b int64) {
	s.advance(b)
	s.counts[b%rateBuckets]++
}

// advance clears the slots of the buckets between s.last and b.
func (s *rateSeries) advance(b int64) {
	if b <= s.last {
		return
	}
	for i := s.last + 1; i <= b && i <= s.last+rateBuckets; i++ {
		s.counts[i%rateBuckets] = 0
	}
	s.last = b
}

// oldestFirst returns the counts up to bucket b, oldest first.
func (s *rateSeries) oldestFirst(b int64) []uint32 {
	c := *s
	c.advance(b)
	out := make([]uint32, rateBuckets)
	for i := range out {
		out[i] = c.counts[(b+1+int64(i))%rateBuckets]
	}
	return out
}

// rateTracker counts journaled readings over time.
type rateTracker struct {
	start time.Time // monotonic origin
	mu    sync.Mutex
	total rateSeries
	devs  map[store.DeviceID]*rateSeries
}

func newRateTracker() *rateTracker {
	return &rateTracker{start: time.Now(), devs: map[store.DeviceID]*rateSeries{}}
}

func (r *rateTracker) bucket(now time.Time) int64 { return int64(now.Sub(r.start) / rateStep) }

// add counts one reading of dev. It runs on the store's committer
// goroutine: a lock and two increments.
func (r *rateTracker) add(dev store.DeviceID) {
	b := r.bucket(time.Now())
	r.mu.Lock()
	r.total.add(b)
	s := r.devs[dev]
	if s == nil {
		s = &rateSeries{last: b}
		r.devs[dev] = s
	}
	s.add(b)
	r.mu.Unlock()
}

func (r *rateTracker) snapshot() admin.Rates {
	now := time.Now()
	b := r.bucket(now)
	r.mu.Lock()
	defer r.mu.Unlock()
	out := admin.Rates{Step: rateStep, End: now, Total: r.total.oldestFirst(b), Devices: make(map[string][]uint32, len(r.devs))}
	for id, s := range r.devs {
		c := s.oldestFirst(b)
		if slices.ContainsFunc(c, func(n uint32) bool { return n > 0 }) {
			out.Devices[id.String()] = c
		}
	}
	return out
}
