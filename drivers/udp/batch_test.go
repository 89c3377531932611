package udp

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/edgegate/edgegate/gateway/osp"
)

// recvAll reads n datagrams from c, failing the test after a second without
// one.
func recvAll(t *testing.T, c *net.UDPConn, n int) [][]byte {
	t.Helper()
	var got [][]byte
	buf := make([]byte, 70000)
	for len(got) < n {
		_ = c.SetReadDeadline(time.Now().Add(time.Second))
		k, err := c.Read(buf)
		if err != nil {
			t.Fatalf("after %d of %d datagrams: %v", len(got), n, err)
		}
		got = append(got, append([]byte(nil), buf[:k]...))
	}
	return got
}

func addrPort(c *net.UDPConn) netip.AddrPort {
	return c.LocalAddr().(*net.UDPAddr).AddrPort()
}

// otherPeer is a Peer of another kind than the UDP link's.
type otherPeer struct{ sent [][]byte }

func (o *otherPeer) Send(pkt []byte) error {
	o.sent = append(o.sent, append([]byte(nil), pkt...))
	return nil
}

// twoPeers returns a link and two receivers with their peers on it, all
// closed when the test ends.
func twoPeers(t *testing.T) (l *Link, a, b *net.UDPConn, pa, pb *Peer) {
	t.Helper()
	l = New(listen(t), Options{})
	a, b = listen(t), listen(t)
	t.Cleanup(func() { l.Close(); a.Close(); b.Close() })
	return l, a, b, l.peer(addrPort(a)), l.peer(addrPort(b))
}

func TestBatchSendsInOrderPerPeer(t *testing.T) {
	l, a, b, pa, pb := twoPeers(t)

	q := NewBatch(100)
	// Equal sizes to one peer travel segmented; a size change starts
	// another message, and the order holds across them.
	queue := []struct {
		p   *Peer
		pkt string
	}{{pa, "p0"}, {pb, "p1"}, {pa, "p2"}, {pa, "long 3"}, {pb, "p4"}, {pa, "p5"}, {pa, "p6"}}
	for i, e := range queue {
		pkt := []byte(e.pkt)
		if !q.Queue(e.p, pkt) {
			t.Fatalf("packet %d refused", i)
		}
		pkt[0] = 'X' // Queue took a copy
	}
	var o otherPeer
	if q.Queue(&o, []byte("elsewhere")) {
		t.Fatal("the batch took a packet for a peer of another link kind")
	}
	if q.Len() != len(queue) {
		t.Fatalf("Len = %d, want %d", q.Len(), len(queue))
	}
	if s := l.Stats(); s.Sent != 0 {
		t.Fatalf("sent %d before Flush", s.Sent)
	}
	if err := q.Flush(); err != nil {
		t.Fatal(err)
	}
	if q.Len() != 0 {
		t.Fatalf("Len = %d after Flush", q.Len())
	}
	want := map[*net.UDPConn][]string{a: {"p0", "p2", "long 3", "p5", "p6"}, b: {"p1", "p4"}}
	for c, w := range want {
		got := recvAll(t, c, len(w))
		for i := range w {
			if string(got[i]) != w[i] {
				t.Errorf("datagram %d = %q, want %q", i, got[i], w[i])
			}
		}
	}
	if s := l.Stats(); s.Sent != uint64(len(queue)) || s.SendErrors != 0 {
		t.Fatalf("stats %+v, want %d sent and no errors", s, len(queue))
	}
}

// A batch sends what it holds before it takes more than its size, or more
// than PeerBatch packets for one peer.
func TestBatchSendsWhenFull(t *testing.T) {
	l, a, b, pa, pb := twoPeers(t)

	q := NewBatch(PeerBatch + 2)
	for i := range PeerBatch + 1 {
		q.Queue(pa, []byte(fmt.Sprintf("a%02d", i)))
	}
	if s := l.Stats(); s.Sent != PeerBatch || q.Len() != 1 {
		t.Fatalf("after %d packets for one peer: sent %d, holding %d", PeerBatch+1, s.Sent, q.Len())
	}
	if err := q.Flush(); err != nil {
		t.Fatal(err)
	}
	q = NewBatch(3)
	for i := range 4 { // the fourth finds the batch full
		q.Queue(pb, []byte(fmt.Sprintf("b%02d", i)))
	}
	if s := l.Stats(); s.Sent != PeerBatch+1+3 || q.Len() != 1 {
		t.Fatalf("after filling the batch: sent %d, holding %d", s.Sent, q.Len())
	}
	if err := q.Flush(); err != nil {
		t.Fatal(err)
	}
	for i, got := range recvAll(t, a, PeerBatch+1) {
		if want := fmt.Sprintf("a%02d", i); string(got) != want {
			t.Fatalf("datagram %d = %q, want %q", i, got, want)
		}
	}
	for i, got := range recvAll(t, b, 4) {
		if want := fmt.Sprintf("b%02d", i); string(got) != want {
			t.Fatalf("datagram %d = %q, want %q", i, got, want)
		}
	}
}

// A segmented message the kernel refuses goes again datagram by datagram,
// and the link stops segmenting.
func TestBatchFallsBackFromGSO(t *testing.T) {
	if !gsoSupported {
		t.Skip("no UDP segmentation here")
	}
	l := New(listen(t), Options{})
	defer l.Close()
	r := listen(t)
	defer r.Close()
	_ = r.SetReadBuffer(4 << 20)
	p := l.peer(addrPort(r))

	// More segments than any kernel's UDP_MAX_SEGMENTS: EINVAL. Queue never
	// builds one (PeerBatch), so the test builds it in place.
	const n = 300
	q := NewBatch(n)
	lb := q.linkOf(l)
	i := lb.add(p, []byte("s000"))
	for k := 1; k < n; k++ {
		lb.bufs[i] = append(lb.bufs[i], fmt.Sprintf("s%03d", k)...)
	}
	q.n = n
	if err := q.Flush(); err != nil {
		t.Fatal(err)
	}
	if l.gso.Load() {
		t.Error("the link still segments after the kernel refused")
	}
	for k, got := range recvAll(t, r, n) {
		if want := fmt.Sprintf("s%03d", k); string(got) != want {
			t.Fatalf("datagram %d = %q, want %q", k, got, want)
		}
	}
	if s := l.Stats(); s.Sent != n || s.SendErrors != 0 {
		t.Fatalf("stats %+v, want %d sent and no errors", s, n)
	}
	// Equal packets now go one message each.
	q.Queue(p, []byte("x1"))
	q.Queue(p, []byte("x2"))
	if lb.n != 2 {
		t.Fatalf("%d messages for two packets after the fallback", lb.n)
	}
	if err := q.Flush(); err != nil {
		t.Fatal(err)
	}
	if got := recvAll(t, r, 2); string(got[0]) != "x1" || string(got[1]) != "x2" {
		t.Fatalf("received %q", got)
	}
}

// Packets beyond gsoSegment are not segmented, however equal: a segment
// must fit the route's MTU.
func TestBatchSegmentsOnlySmallPackets(t *testing.T) {
	l := New(listen(t), Options{})
	defer l.Close()
	r := listen(t)
	defer r.Close()
	_ = r.SetReadBuffer(1 << 20)
	p := l.peer(addrPort(r))
	q := NewBatch(8)
	lb := q.linkOf(l)
	for _, size := range []int{gsoSegment, gsoSegment, gsoSegment + 1, gsoSegment + 1} {
		q.Queue(p, bytes.Repeat([]byte{byte(size)}, size))
	}
	wantMsgs := 3
	if !gsoSupported {
		wantMsgs = 4
	}
	if lb.n != wantMsgs {
		t.Fatalf("%d messages, want %d", lb.n, wantMsgs)
	}
	if err := q.Flush(); err != nil {
		t.Fatal(err)
	}
	for i, got := range recvAll(t, r, 4) {
		if want := gsoSegment + i/2; len(got) != want {
			t.Fatalf("datagram %d has %d bytes, want %d", i, len(got), want)
		}
	}
}

// A packet the kernel refuses is counted, reported, and does not hold back
// the packets around it.
func TestBatchSkipsFailedPacket(t *testing.T) {
	l := New(listen(t), Options{})
	defer l.Close()
	r := listen(t)
	defer r.Close()
	p := l.peer(addrPort(r))

	huge := bytes.Repeat([]byte{1}, 66000) // beyond any UDP datagram: EMSGSIZE
	q := NewBatch(8)
	for _, pkt := range [][]byte{huge, []byte("a"), huge, []byte("b"), []byte("c")} {
		q.Queue(p, pkt)
	}
	err := q.Flush()
	if err == nil {
		t.Fatal("Flush reported no error for an oversized datagram")
	}
	got := recvAll(t, r, 3)
	if string(got[0]) != "a" || string(got[1]) != "b" || string(got[2]) != "c" {
		t.Fatalf("received %q", got)
	}
	if s := l.Stats(); s.Sent != 3 || s.SendErrors != 2 {
		t.Fatalf("stats %+v, want 3 sent and 2 errors", s)
	}
}

// On a dual-stack socket the peers of IPv4 senders have IPv4-mapped
// addresses; a batch reaches them as Send does.
func TestBatchDualStack(t *testing.T) {
	c, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv6unspecified})
	if err != nil {
		t.Skip("no IPv6:", err)
	}
	l := New(c, Options{})
	defer l.Close()
	r := listen(t)
	defer r.Close()
	ap := addrPort(r)
	mapped := netip.AddrPortFrom(netip.AddrFrom16(ap.Addr().As16()), ap.Port())
	q := NewBatch(2)
	q.Queue(l.peer(mapped), []byte("mapped"))
	if err := q.Flush(); err != nil {
		t.Fatal(err)
	}
	if got := recvAll(t, r, 1); string(got[0]) != "mapped" {
		t.Fatalf("received %q", got[0])
	}
}

// A burst that waits in the socket before the link reads arrives whole and
// in order, with its sender's peer.
func TestLinkReadsBursts(t *testing.T) {
	l := New(listen(t), Options{Readers: 1})
	h := &recorder{ch: make(chan string, 100)}
	done := make(chan error, 1)
	s := listen(t)
	defer s.Close()
	to := l.Addr().(*net.UDPAddr)
	const n = 49
	for i := range n { // queued before the link reads
		if _, err := s.WriteToUDP([]byte(fmt.Sprintf("%03d", i)), to); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	go func() { done <- l.Run(ctx, h) }()
	for i := range n {
		select {
		case got := <-h.ch:
			if want := fmt.Sprintf("%03d from udp:%s", i, addrPort(s)); got != want {
				t.Fatalf("datagram %d: %q, want %q", i, got, want)
			}
		case <-time.After(2 * time.Second):
			t.Fatalf("datagram %d did not arrive", i)
		}
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if s := l.Stats(); s.Received != n {
		t.Fatalf("received %d, want %d", s.Received, n)
	}
}

// recorder is a Handler that reports each datagram with its peer.
type recorder struct{ ch chan string }

func (r *recorder) Handle(pkt []byte, from osp.Peer) error {
	r.ch <- fmt.Sprintf("%s from %s", pkt, from)
	return nil
}

// BenchmarkSend compares ways to send 16 ACK-sized datagrams: one Send
// each, one Batch to 16 peers (sendmmsg), and one Batch to one peer
// (sendmmsg with one segmented datagram). Receivers drain them.
func BenchmarkSend(b *testing.B) {
	for _, mode := range []struct {
		name  string
		peers int
		batch bool
	}{{"send", 16, false}, {"batch/16-peers", 16, true}, {"batch/1-peer", 1, true}} {
		b.Run(mode.name, func(b *testing.B) {
			l := New(listen(b), Options{})
			defer l.Close()
			var peers []*Peer
			for range mode.peers {
				r := listen(b)
				defer r.Close()
				go func() {
					buf := make([]byte, 100)
					for {
						if _, err := r.Read(buf); err != nil {
							return
						}
					}
				}()
				peers = append(peers, l.peer(addrPort(r)))
			}
			pkt := make([]byte, 15)
			q := NewBatch(16)
			b.ResetTimer()
			for range b.N {
				for i := range 16 {
					p := peers[i%len(peers)]
					if mode.batch {
						q.Queue(p, pkt)
					} else {
						_ = p.Send(pkt)
					}
				}
				_ = q.Flush()
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(16*b.N), "ns/datagram")
		})
	}
}
