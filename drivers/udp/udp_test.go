package udp

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"runtime"
	"sync"
	"testing"
	"time"

	"golang.org/x/net/ipv4"

	"github.com/edgegate/edgegate/gateway/osp"
)

// devices is a DeviceLookup over a map.
type devices map[osp.DeviceID]osp.Security

func (d devices) LookupDevice(id osp.DeviceID) (osp.Security, error) {
	s, ok := d[id]
	if !ok {
		return s, osp.ErrUnknownDevice
	}
	return s, nil
}

type collect struct {
	mu sync.Mutex
	rd []osp.Reading
	ch chan struct{}
}

func (c *collect) HandleData(r osp.Reading) {
	c.mu.Lock()
	r.Payload = append([]byte(nil), r.Payload...)
	c.rd = append(c.rd, r)
	c.mu.Unlock()
	c.ch <- struct{}{}
}
func (c *collect) HandleEvent(osp.Event) {}

// sensor is an OSP client on its own UDP socket.
type sensor struct {
	conn *net.UDPConn
	to   *net.UDPAddr
}

func (s *sensor) Send(pkt []byte) error { _, err := s.conn.WriteToUDP(pkt, s.to); return err }

func listen(t testing.TB) *net.UDPConn {
	t.Helper()
	c, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestOSPOverUDP(t *testing.T) {
	base := runtime.NumGoroutine()
	key := []byte("0123456789abcdef")
	dev := osp.DeviceID{Type: 1, Module: 77}
	col := &collect{ch: make(chan struct{}, 100)}
	srv, err := osp.NewServer(osp.ServerConfig{Devices: devices{dev: {Secure: true, Key: key}}, Handler: col, AutoAck: true})
	if err != nil {
		t.Fatal(err)
	}
	gw := listen(t)
	link := New(gw, Options{})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- link.Run(ctx, srv) }()

	sc := listen(t)
	defer sc.Close()
	s := &sensor{conn: sc, to: gw.LocalAddr().(*net.UDPAddr)}
	acked := make(chan uint8, 10)
	cl, err := osp.NewClient(osp.ClientConfig{Device: dev, Security: osp.Security{Secure: true, Key: key}, Peer: s,
		OnEvent: func(e osp.ClientEvent) {
			if e.Kind == osp.ClientAcked {
				acked <- e.MessageID
			}
		}})
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		buf := make([]byte, 2048)
		for {
			n, err := sc.Read(buf)
			if err != nil {
				return
			}
			cl.Handle(buf[:n])
		}
	}()
	if err := cl.Connect(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for !cl.Open() {
		if time.Now().After(deadline) {
			t.Fatal("handshake over UDP did not complete")
		}
		time.Sleep(5 * time.Millisecond)
	}
	id, err := cl.SendData(10, []byte("21.5C"), osp.FlagAckReq)
	if err != nil {
		t.Fatal(err)
	}
	select {
	case got := <-acked:
		if got != id {
			t.Fatalf("acked %d, sent %d", got, id)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no ACK")
	}
	<-col.ch
	col.mu.Lock()
	if len(col.rd) != 1 || string(col.rd[0].Payload) != "21.5C" {
		t.Fatalf("readings %+v", col.rd)
	}
	p, ok := col.rd[0].Peer.(*Peer)
	col.mu.Unlock()
	if !ok || p.Addr().Port() != uint16(sc.LocalAddr().(*net.UDPAddr).Port) || p.String() == "" {
		t.Fatalf("peer %v", col.rd[0].Peer)
	}
	st := link.Stats()
	if st.Received != 3 || st.Sent != 3 || st.Peers != 1 {
		t.Errorf("stats %+v", st)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	sc.Close()
	for i := 0; runtime.NumGoroutine() > base && i < 100; i++ {
		time.Sleep(10 * time.Millisecond)
	}
	if n := runtime.NumGoroutine(); n > base {
		t.Errorf("%d goroutines left, %d before", n, base)
	}
}

type countHandler struct {
	mu sync.Mutex
	n  int
}

func (h *countHandler) Handle(pkt []byte, from osp.Peer) error {
	h.mu.Lock()
	h.n++
	h.mu.Unlock()
	return nil
}

func TestConnectRateLimit(t *testing.T) {
	now := time.Unix(1000, 0)
	var mu sync.Mutex
	var errs []error
	gw := listen(t)
	link := New(gw, Options{Readers: 1, ConnectRate: 1, ConnectBurst: 3, Now: func() time.Time { mu.Lock(); defer mu.Unlock(); return now },
		OnError: func(_ netip.AddrPort, _ []byte, err error) { mu.Lock(); errs = append(errs, err); mu.Unlock() }})
	h := &countHandler{}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- link.Run(ctx, h) }()
	sc := listen(t)
	defer sc.Close()
	init, _ := osp.AppendPlain(nil, 0, 1, osp.TypeConnect, 0, []byte{1, 0, 1, 0, 0, 0, 1})
	ping, _ := osp.AppendPlain(nil, 5, 9, osp.TypePingReq, 0, nil)
	send := func(p []byte, n int) {
		for range n {
			sc.WriteToUDP(p, gw.LocalAddr().(*net.UDPAddr))
		}
	}
	wait := func(total uint64) {
		for i := 0; link.Stats().Received < total && i < 500; i++ {
			time.Sleep(2 * time.Millisecond)
		}
	}
	send(init, 10)
	send(ping, 5) // other packets are not limited
	wait(15)
	mu.Lock()
	now = now.Add(2 * time.Second) // two more tokens
	mu.Unlock()
	send(init, 5)
	wait(20)
	cancel()
	<-done
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.n != 3+5+2 {
		t.Errorf("handled %d, want 10", h.n)
	}
	if st := link.Stats(); st.RateLimited != 10 {
		t.Errorf("rate limited %d, want 10", st.RateLimited)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(errs) != 10 || !errors.Is(errs[0], ErrRateLimited) {
		t.Errorf("errors %v", errs)
	}
}

// countingBatch counts a batchConn's reads and the datagrams they return.
type countingBatch struct {
	batchConn
	reads, msgs int
}

func (c *countingBatch) ReadBatch(ms []ipv4.Message, flags int) (int, error) {
	n, err := c.batchConn.ReadBatch(ms, flags)
	c.reads++
	c.msgs += n
	return n, err
}

// record keeps copies of what it is handed, with the source.
type record struct {
	mu   sync.Mutex
	pkts [][]byte
	from []netip.AddrPort
}

func (r *record) Handle(pkt []byte, from osp.Peer) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.pkts = append(r.pkts, append([]byte(nil), pkt...))
	r.from = append(r.from, from.(*Peer).Addr())
	return nil
}

func (r *record) len() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.pkts)
}

// TestReadsInBatches queues datagrams of different sizes from two sources
// before the link reads, so that its reads find several at once: each is
// handed on whole, with its own source, in the order each source sent
// them, and one too large for OSP is reported, not handed on.
func TestReadsInBatches(t *testing.T) {
	eachLoopback(t, func(t *testing.T, network string, gw *net.UDPConn) {
		var mu sync.Mutex
		var errs []error
		link := New(gw, Options{ // the default Readers must keep each source's order
			OnError: func(_ netip.AddrPort, _ []byte, err error) { mu.Lock(); errs = append(errs, err); mu.Unlock() }})
		cb := &countingBatch{batchConn: link.bw}
		link.bw = cb
		var srcs [2]*net.UDPConn
		for i := range srcs {
			var err error
			if srcs[i], err = net.ListenUDP(network, &net.UDPAddr{IP: gw.LocalAddr().(*net.UDPAddr).IP}); err != nil {
				t.Fatal(err)
			}
			defer srcs[i].Close()
		}
		const each = 3*ReadBatch + 3
		for i := range each {
			for s, c := range srcs {
				pkt := make([]byte, 10+i*37+s)
				for j := range pkt {
					pkt[j] = byte(i + j + s)
				}
				if _, err := c.WriteToUDP(pkt, gw.LocalAddr().(*net.UDPAddr)); err != nil {
					t.Fatal(err)
				}
			}
		}
		if _, err := srcs[0].WriteToUDP(make([]byte, osp.MaxPacketSize+100), gw.LocalAddr().(*net.UDPAddr)); err != nil {
			t.Fatal(err)
		}
		h := &record{}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- link.Run(ctx, h) }()
		for i := 0; link.Stats().Received < 2*each+1 && i < 1000; i++ {
			time.Sleep(2 * time.Millisecond)
		}
		cancel()
		if err := <-done; err != nil {
			t.Fatalf("Run: %v", err)
		}
		if h.len() != 2*each {
			t.Fatalf("handled %d datagrams, want %d", h.len(), 2*each)
		}
		next := [2]int{}
		for k, pkt := range h.pkts {
			s := -1
			for i, c := range srcs {
				if c.LocalAddr().(*net.UDPAddr).AddrPort() == h.from[k] {
					s = i
				}
			}
			if s < 0 {
				t.Fatalf("datagram %d from %v, sent by neither source", k, h.from[k])
			}
			i := next[s]
			next[s]++
			want := make([]byte, 10+i*37+s)
			for j := range want {
				want[j] = byte(i + j + s)
			}
			if string(pkt) != string(want) {
				t.Fatalf("source %d datagram %d: %d bytes, want %d bytes %x…", s, i, len(pkt), len(want), want[:4])
			}
		}
		mu.Lock()
		defer mu.Unlock()
		if len(errs) != 1 || !errors.Is(errs[0], osp.ErrTooLarge) {
			t.Errorf("errors %v, want one %v", errs, osp.ErrTooLarge)
		}
		if runtime.GOOS == "linux" && cb.reads >= cb.msgs {
			t.Errorf("%d reads for %d datagrams: recvmmsg took one at a time", cb.reads, cb.msgs)
		}
	})
}

// eachLoopback runs f as a subtest over IPv4 and over IPv6 loopback, with a
// socket listening there (closed when the subtest ends); a family the
// machine lacks is skipped.
func eachLoopback(t *testing.T, f func(t *testing.T, network string, ln *net.UDPConn)) {
	for _, tc := range []struct{ network, ip string }{{"udp4", "127.0.0.1"}, {"udp6", "::1"}} {
		t.Run(tc.network, func(t *testing.T) {
			ln, err := net.ListenUDP(tc.network, &net.UDPAddr{IP: net.ParseIP(tc.ip)})
			if err != nil {
				t.Skipf("no %s loopback: %v", tc.network, err)
			}
			t.Cleanup(func() { ln.Close() })
			f(t, tc.network, ln)
		})
	}
}
