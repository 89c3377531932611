package dtls

import (
	"net/netip"
	"sync"
	"time"
)

// limiter is a token bucket per source IP address, remembering a bounded
// number of addresses (the same scheme as drivers/udp's CONNECT limiter).
type limiter struct {
	rate, burst float64
	max         int
	now         func() time.Time

	mu      sync.Mutex
	buckets map[netip.Addr]*bucket
}

type bucket struct {
	tokens float64
	last   time.Time
}

func newLimiter(o Options) *limiter {
	return &limiter{rate: o.HandshakeRate, burst: o.HandshakeBurst, max: o.MaxAddrs, now: o.Now,
		buckets: make(map[netip.Addr]*bucket)}
}

// allow takes a token for ip, reporting false when its bucket is empty.
func (l *limiter) allow(ip netip.Addr) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	b := l.buckets[ip]
	if b == nil {
		if len(l.buckets) >= l.max {
			// Forget an arbitrary half: what is lost is only the history of
			// addresses that may be flooding, which then start full again.
			n := 0
			for k := range l.buckets {
				delete(l.buckets, k)
				if n++; n >= l.max/2 {
					break
				}
			}
		}
		b = &bucket{tokens: l.burst, last: now}
		l.buckets[ip] = b
	}
	b.tokens += now.Sub(b.last).Seconds() * l.rate
	if b.tokens > l.burst {
		b.tokens = l.burst
	}
	b.last = now
	if b.tokens < 1 {
		return false
	}
	b.tokens--
	return true
}
