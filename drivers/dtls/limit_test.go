package dtls

import (
	"net/netip"
	"testing"
	"time"
)

func TestLimiter(t *testing.T) {
	now := time.Unix(1000, 0)
	l := newLimiter(Options{HandshakeRate: 2, HandshakeBurst: 3, MaxAddrs: 4, Now: func() time.Time { return now }})
	a, b := netip.MustParseAddr("192.0.2.1"), netip.MustParseAddr("192.0.2.2")
	for i := range 3 {
		if !l.allow(a) {
			t.Fatalf("burst: refused at %d", i)
		}
	}
	if l.allow(a) {
		t.Fatal("allowed beyond the burst")
	}
	if !l.allow(b) {
		t.Fatal("one address's flood limits another")
	}
	now = now.Add(500 * time.Millisecond) // one token at 2/s
	if !l.allow(a) || l.allow(a) {
		t.Fatal("refill is not one token per 500 ms")
	}
	now = now.Add(time.Hour) // refill caps at the burst
	for range 3 {
		l.allow(a)
	}
	if l.allow(a) {
		t.Fatal("refill exceeded the burst")
	}
	for i := range 100 { // many addresses: the table stays bounded
		l.allow(netip.AddrFrom4([4]byte{198, 51, 100, byte(i)}))
	}
	if n := len(l.buckets); n > 4 {
		t.Fatalf("%d buckets remembered, max 4", n)
	}
}
