package dtls

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/netip"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/edgegate/edgegate/gateway/osp"
	piondtls "github.com/pion/dtls/v3"
	"github.com/pion/logging"
)

var quiet = &logging.DefaultLoggerFactory{Writer: io.Discard, DefaultLogLevel: logging.LogLevelDisabled}

// keyMap is a KeyLookup over a map, remembering what it was asked.
type keyMap struct {
	mu    sync.Mutex
	keys  map[string][]byte
	asked []string
}

var errUnknown = errors.New("test: unknown device")

func (k *keyMap) PSK(id string) ([]byte, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.asked = append(k.asked, id)
	key, ok := k.keys[id]
	if !ok {
		return nil, errUnknown
	}
	return key, nil
}

func (k *keyMap) wasAsked() []string {
	k.mu.Lock()
	defer k.mu.Unlock()
	return append([]string(nil), k.asked...)
}

var key4242 = []byte("0123456789abcdef")

func keys() *keyMap { return &keyMap{keys: map[string][]byte{"1:4242": key4242}} }

// echo sends every packet back on the peer it came from and hands the peer
// to the test.
type echo struct {
	peers chan *Peer
}

func newEcho() *echo { return &echo{peers: make(chan *Peer, 100)} }

func (e *echo) Handle(pkt []byte, from osp.Peer) error {
	p, ok := from.(*Peer)
	if !ok {
		return fmt.Errorf("peer %T", from)
	}
	select {
	case e.peers <- p:
	default:
	}
	return from.Send(pkt)
}

// errs collects what OnError reports.
type errs struct {
	mu   sync.Mutex
	list []error
}

func (e *errs) onError(_ netip.AddrPort, _ []byte, err error) {
	e.mu.Lock()
	e.list = append(e.list, err)
	e.mu.Unlock()
}

func (e *errs) has(target error) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, err := range e.list {
		if errors.Is(err, target) {
			return true
		}
	}
	return false
}

// start runs a link on a loopback port until the test ends; stop ends it
// early and returns Run's error.
func start(t *testing.T, cfg Config, kl KeyLookup, opts Options, h Handler) (l *Link, stop func() error) {
	t.Helper()
	if cfg.Listen == "" {
		cfg.Listen = "127.0.0.1:0"
	}
	l, err := New(cfg, kl, opts)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- l.Run(ctx, h) }()
	var once sync.Once
	var runErr error
	stop = func() error {
		once.Do(func() {
			cancel()
			select {
			case runErr = <-done:
			case <-time.After(5 * time.Second):
				runErr = errors.New("Run did not return")
			}
		})
		return runErr
	}
	t.Cleanup(func() {
		if err := stop(); err != nil {
			t.Error(err)
		}
	})
	return l, stop
}

func pskClient(identity string, key []byte, suites ...piondtls.CipherSuiteID) []piondtls.ClientOption {
	if len(suites) == 0 {
		suites = pskSuites
	}
	return []piondtls.ClientOption{
		piondtls.WithPSK(func([]byte) ([]byte, error) { return key, nil }),
		piondtls.WithPSKIdentityHint([]byte(identity)),
		piondtls.WithCipherSuites(suites...),
	}
}

// dial opens a DTLS client to addr and runs its handshake within timeout.
func dial(t *testing.T, addr net.Addr, timeout time.Duration, opts ...piondtls.ClientOption) (*piondtls.Conn, error) {
	t.Helper()
	pc, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	return dialOn(t, pc, addr, timeout, opts...)
}

func dialOn(t *testing.T, pc net.PacketConn, addr net.Addr, timeout time.Duration, opts ...piondtls.ClientOption) (*piondtls.Conn, error) {
	t.Helper()
	opts = append(opts, piondtls.WithLoggerFactory(quiet))
	c, err := piondtls.ClientWithOptions(pc, addr, opts...)
	if err != nil {
		pc.Close()
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	if err := c.HandshakeContext(ctx); err != nil {
		c.Close()
		return nil, err
	}
	t.Cleanup(func() { c.Close() })
	return c, nil
}

func mustDial(t *testing.T, addr net.Addr, opts ...piondtls.ClientOption) *piondtls.Conn {
	t.Helper()
	c, err := dial(t, addr, 5*time.Second, opts...)
	if err != nil {
		t.Fatalf("handshake: %v", err)
	}
	return c
}

// roundTrip sends pkt and expects it back. The datagram is sent again after
// a second without the echo, five times at most: pion's server keeps one
// application record that arrives before it has marked its handshake
// complete and drops the others (pion/dtls v3.1.15 conn.go, "Never block its
// packet reader on early application data"), which a client that writes at
// once after its own handshake can meet on a loaded machine. A sensor's OSP
// layer retransmits the same way; what the tests check is that the
// association carries data.
func roundTrip(t *testing.T, c *piondtls.Conn, pkt []byte) {
	t.Helper()
	buf := make([]byte, 2048)
	var n int
	var err error
	for range 5 {
		if _, err := c.Write(pkt); err != nil {
			t.Fatal(err)
		}
		_ = c.SetReadDeadline(time.Now().Add(time.Second))
		if n, err = c.Read(buf); err == nil {
			break
		}
	}
	if err != nil {
		t.Fatalf("echo: %v", err)
	}
	if !bytes.Equal(buf[:n], pkt) {
		t.Fatalf("echo % x, sent % x", buf[:n], pkt)
	}
}

// eventually polls cond; pion's timers run on the wall clock.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func pingPacket(t *testing.T) []byte {
	t.Helper()
	p, err := osp.AppendPlain(nil, 5, 9, osp.TypePingReq, 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestPSKEcho(t *testing.T) {
	for _, suite := range pskSuites {
		t.Run(piondtls.CipherSuiteName(suite), func(t *testing.T) {
			h := newEcho()
			l, _ := start(t, Config{PSK: true}, keys(), Options{}, h)
			c := mustDial(t, l.Addr(), pskClient("1:4242", key4242, suite)...)
			if st, _ := c.ConnectionState(); st.CipherSuiteID != suite {
				t.Errorf("suite %v", st.CipherSuiteID)
			}
			ping := pingPacket(t)
			roundTrip(t, c, ping)
			p := <-h.peers
			if p.Identity() != "1:4242" {
				t.Errorf("identity %q", p.Identity())
			}
			if d, ok := p.Device(); !ok || d != (osp.DeviceID{Type: 1, Module: 4242}) {
				t.Errorf("device %v %v", d, ok)
			}
			local := c.LocalAddr().(*net.UDPAddr)
			if want := fmt.Sprintf("dtls:127.0.0.1:%d", local.Port); p.String() != want || p.Addr().Port() != uint16(local.Port) {
				t.Errorf("peer %q, want %q", p, want)
			}
			if p.MTU() != DefaultMTU-recordOverhead {
				t.Errorf("MTU %d", p.MTU())
			}
			if err := p.Send(make([]byte, p.MTU()+1)); !errors.Is(err, ErrTooLarge) {
				t.Errorf("oversized send: %v", err)
			}
			// A packet of exactly MTU bytes fits one datagram of Config.MTU.
			big := bytes.Repeat([]byte{0xA5}, p.MTU())
			roundTrip(t, c, big)
			eventually(t, "the echo counted", func() bool { return l.Stats().Sent == 2 })
			st := l.Stats()
			if st.HandshakesOK != 1 || st.HandshakesFailed != 0 || st.Received != 2 || st.SendErrors != 1 || st.ConnsOpen != 1 {
				t.Errorf("stats %+v", st)
			}
		})
	}
}

// devices is an osp.DeviceLookup over a map.
type devices map[osp.DeviceID]osp.Security

func (d devices) LookupDevice(id osp.DeviceID) (osp.Security, error) {
	s, ok := d[id]
	if !ok {
		return s, osp.ErrUnknownDevice
	}
	return s, nil
}

type readings struct {
	mu sync.Mutex
	rd []osp.Reading
}

func (r *readings) HandleData(rd osp.Reading) {
	r.mu.Lock()
	rd.Payload = append([]byte(nil), rd.Payload...)
	r.rd = append(r.rd, rd)
	r.mu.Unlock()
}
func (r *readings) HandleEvent(osp.Event) {}

// connPeer is the sensor's side: OSP packets into DTLS records.
type connPeer struct{ c *piondtls.Conn }

func (p connPeer) Send(pkt []byte) error { _, err := p.c.Write(pkt); return err }

// TestOSPOverDTLS runs a secure OSP session, handshake and an acknowledged
// DATA packet, inside a PSK DTLS connection.
func TestOSPOverDTLS(t *testing.T) {
	dev := osp.DeviceID{Type: 1, Module: 4242}
	sec := osp.Security{Secure: true, Key: key4242}
	rd := &readings{}
	srv, err := osp.NewServer(osp.ServerConfig{Devices: devices{dev: sec}, Handler: rd, AutoAck: true})
	if err != nil {
		t.Fatal(err)
	}
	l, _ := start(t, Config{PSK: true}, keys(), Options{}, srv)
	c := mustDial(t, l.Addr(), pskClient(dev.String(), key4242)...)

	acked := make(chan uint8, 10)
	cl, err := osp.NewClient(osp.ClientConfig{Device: dev, Security: sec, Peer: connPeer{c},
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
			n, err := c.Read(buf)
			if err != nil {
				return
			}
			_ = cl.Handle(buf[:n])
		}
	}()
	if err := cl.Connect(); err != nil {
		t.Fatal(err)
	}
	eventually(t, "OSP handshake", cl.Open)
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
	// AutoAck may send the ACK before the reading reaches the handler.
	eventually(t, "the reading", func() bool { rd.mu.Lock(); defer rd.mu.Unlock(); return len(rd.rd) > 0 })
	rd.mu.Lock()
	defer rd.mu.Unlock()
	if len(rd.rd) != 1 || string(rd.rd[0].Payload) != "21.5C" {
		t.Fatalf("readings %+v", rd.rd)
	}
	if p, ok := rd.rd[0].Peer.(*Peer); !ok || p.Identity() != dev.String() {
		t.Fatalf("reading's peer %v", rd.rd[0].Peer)
	}
}

func TestWrongPSKRefused(t *testing.T) {
	e := &errs{}
	l, _ := start(t, Config{PSK: true, HandshakeTimeout: 500 * time.Millisecond}, keys(), Options{OnError: e.onError}, newEcho())
	// The server drops the client's Finished, which does not decrypt
	// (RFC 6347 4.1.2.7): both sides fail by timeout.
	if c, err := dial(t, l.Addr(), 1500*time.Millisecond, pskClient("1:4242", []byte("fedcba9876543210"))...); err == nil {
		c.Close()
		t.Fatal("handshake with a wrong key succeeded")
	}
	eventually(t, "failed handshake counted", func() bool { return l.Stats().HandshakesFailed >= 1 })
	// The client's retransmissions after the server gave up open nothing:
	// only a ClientHello opens a connection.
	if st := l.Stats(); st.HandshakesOK != 0 || st.HandshakesFailed != 1 || st.ConnsOpen != 0 {
		t.Errorf("stats %+v", st)
	}
	if !e.has(context.DeadlineExceeded) {
		t.Errorf("OnError got %v", e.list)
	}
}

func TestUnknownIdentityRefused(t *testing.T) {
	for _, tc := range []struct {
		identity string
		asked    bool
		want     error
	}{
		{"1:999", true, errUnknown},
		{"01:4242", false, ErrIdentity}, // the right key, but not the canonical identity
		{"sensor", false, ErrIdentity},
	} {
		t.Run(tc.identity, func(t *testing.T) {
			e := &errs{}
			km := keys()
			l, _ := start(t, Config{PSK: true}, km, Options{OnError: e.onError}, newEcho())
			t0 := time.Now()
			if c, err := dial(t, l.Addr(), 3*time.Second, pskClient(tc.identity, key4242)...); err == nil {
				c.Close()
				t.Fatal("handshake succeeded")
			}
			// A fatal alert, not a timeout, ends the client's handshake.
			if d := time.Since(t0); d > 2*time.Second {
				t.Errorf("client failed after %v: no alert", d)
			}
			eventually(t, "failed handshake counted", func() bool { return l.Stats().HandshakesFailed == 1 })
			if asked := km.wasAsked(); tc.asked != (len(asked) == 1 && asked[0] == tc.identity) {
				t.Errorf("KeyLookup asked %q", asked)
			}
			if !e.has(tc.want) {
				t.Errorf("OnError got %v, want %v", e.list, tc.want)
			}
		})
	}
}

func TestCertificateMode(t *testing.T) {
	cert := selfSigned(t)
	h := newEcho()
	l, _ := start(t, Config{Certificate: &cert}, nil, Options{}, h)

	// The client pins the certificate.
	pool := x509.NewCertPool()
	pool.AddCert(cert.Leaf)
	for name, opts := range map[string][]piondtls.ClientOption{
		"pinned":   {piondtls.WithRootCAs(pool), piondtls.WithServerName(testCN)},
		"insecure": {piondtls.WithInsecureSkipVerify(true)},
	} {
		t.Run(name, func(t *testing.T) {
			c := mustDial(t, l.Addr(), opts...)
			roundTrip(t, c, pingPacket(t))
			if p := <-h.peers; p.Identity() != "" {
				t.Errorf("identity %q in certificate mode", p.Identity())
			} else if _, ok := p.Device(); ok {
				t.Error("device in certificate mode")
			}
		})
	}
	t.Run("other root refused", func(t *testing.T) {
		other := selfSigned(t)
		pool := x509.NewCertPool()
		pool.AddCert(other.Leaf)
		if c, err := dial(t, l.Addr(), 3*time.Second, piondtls.WithRootCAs(pool), piondtls.WithServerName(testCN)); err == nil {
			c.Close()
			t.Fatal("client accepted a certificate it does not trust")
		}
	})
	t.Run("PSK client refused", func(t *testing.T) {
		if c, err := dial(t, l.Addr(), 3*time.Second, pskClient("1:4242", key4242)...); err == nil {
			c.Close()
			t.Fatal("PSK handshake on a certificate-only listener")
		}
	})
}

func TestBothModes(t *testing.T) {
	cert := selfSigned(t)
	h := newEcho()
	l, _ := start(t, Config{PSK: true, Certificate: &cert}, keys(), Options{}, h)

	c := mustDial(t, l.Addr(), pskClient("1:4242", key4242)...)
	roundTrip(t, c, pingPacket(t))
	if p := <-h.peers; p.Identity() != "1:4242" {
		t.Errorf("PSK identity %q", p.Identity())
	}
	c = mustDial(t, l.Addr(), piondtls.WithInsecureSkipVerify(true))
	roundTrip(t, c, pingPacket(t))
	if p := <-h.peers; p.Identity() != "" {
		t.Errorf("certificate connection identity %q", p.Identity())
	}
	if st, _ := c.ConnectionState(); !strings.Contains(piondtls.CipherSuiteName(st.CipherSuiteID), "ECDHE_ECDSA") {
		t.Errorf("suite %s", piondtls.CipherSuiteName(st.CipherSuiteID))
	}
}

func TestIdleTimeout(t *testing.T) {
	l, _ := start(t, Config{PSK: true, IdleTimeout: 400 * time.Millisecond}, keys(), Options{}, newEcho())
	c := mustDial(t, l.Addr(), pskClient("1:4242", key4242)...)
	// Traffic keeps the connection open past the timeout…
	for range 5 {
		roundTrip(t, c, pingPacket(t))
		time.Sleep(150 * time.Millisecond)
	}
	if st := l.Stats(); st.IdleClosed != 0 || st.ConnsOpen != 1 {
		t.Fatalf("closed while active: %+v", st)
	}
	// …silence closes it, with a close_notify the client sees.
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := c.Read(make([]byte, 100)); !errors.Is(err, io.EOF) {
		t.Errorf("client read %v, want EOF", err)
	}
	eventually(t, "idle close", func() bool { st := l.Stats(); return st.IdleClosed == 1 && st.ConnsOpen == 0 })
}

func TestCancelClosesEveryConn(t *testing.T) {
	base := runtime.NumGoroutine()
	func() {
		l, stop := start(t, Config{PSK: true}, keys(), Options{}, newEcho())
		var conns []*piondtls.Conn
		for range 3 {
			c := mustDial(t, l.Addr(), pskClient("1:4242", key4242)...)
			roundTrip(t, c, pingPacket(t))
			conns = append(conns, c)
		}
		if n := l.Stats().ConnsOpen; n != 3 {
			t.Fatalf("%d conns open", n)
		}
		ended := make(chan error, len(conns))
		for _, c := range conns {
			go func() {
				_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
				_, err := c.Read(make([]byte, 100))
				ended <- err
			}()
		}
		if err := stop(); err != nil {
			t.Fatalf("Run: %v", err)
		}
		if n := l.Stats().ConnsOpen; n != 0 {
			t.Errorf("%d conns open after Run", n)
		}
		for range conns {
			if err := <-ended; !errors.Is(err, io.EOF) {
				t.Errorf("client read %v, want EOF", err)
			}
		}
		for _, c := range conns {
			c.Close()
		}
		// The socket is released.
		pc, err := net.ListenPacket("udp", l.Addr().String())
		if err != nil {
			t.Fatalf("port still bound: %v", err)
		}
		pc.Close()
	}()
	eventually(t, "goroutines to end", func() bool { return runtime.NumGoroutine() <= base })
}

func TestConcurrentClients(t *testing.T) {
	const n = 20
	km := &keyMap{keys: map[string][]byte{}}
	for i := range n {
		km.keys[fmt.Sprintf("7:%d", i)] = []byte(fmt.Sprintf("key-%012d", i))
	}
	var mu sync.Mutex
	seen := map[*Peer]string{}
	h := handlerFunc(func(pkt []byte, from osp.Peer) error {
		p := from.(*Peer)
		if string(pkt) != p.Identity() {
			return fmt.Errorf("packet %q on the peer of %q", pkt, p.Identity())
		}
		mu.Lock()
		seen[p] = p.Identity()
		mu.Unlock()
		return from.Send(pkt)
	})
	e := &errs{}
	l, _ := start(t, Config{PSK: true}, km, Options{OnError: e.onError}, h)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			id := fmt.Sprintf("7:%d", i)
			c, err := dial(t, l.Addr(), 10*time.Second, pskClient(id, km.keys[id])...)
			if err != nil {
				t.Errorf("%s: %v", id, err)
				return
			}
			for range 3 {
				if _, err := c.Write([]byte(id)); err != nil {
					t.Errorf("%s: %v", id, err)
					return
				}
				buf := make([]byte, 100)
				_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
				m, err := c.Read(buf)
				if err != nil || string(buf[:m]) != id {
					t.Errorf("%s: got %q, %v", id, buf[:m], err)
					return
				}
			}
		})
	}
	wg.Wait()
	mu.Lock()
	defer mu.Unlock()
	ids := map[string]bool{}
	for _, id := range seen {
		ids[id] = true
	}
	if len(seen) != n || len(ids) != n {
		t.Errorf("%d peers, %d identities, want %d", len(seen), len(ids), n)
	}
	eventually(t, "the last echo counted", func() bool { return l.Stats().Sent == 3*n })
	if st := l.Stats(); st.HandshakesOK != n || st.Received != 3*n || st.ConnsOpen != n {
		t.Errorf("stats %+v, errors %v", st, e.list)
	}
}

type handlerFunc func(pkt []byte, from osp.Peer) error

func (f handlerFunc) Handle(pkt []byte, from osp.Peer) error { return f(pkt, from) }

func TestHandshakeRateLimit(t *testing.T) {
	var mu sync.Mutex
	now := time.Unix(1000, 0)
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	e := &errs{}
	l, _ := start(t, Config{PSK: true}, keys(), Options{HandshakeRate: 1, HandshakeBurst: 3, Now: clock, OnError: e.onError}, newEcho())
	for range 3 { // different ports, one IP: one bucket
		mustDial(t, l.Addr(), pskClient("1:4242", key4242)...)
	}
	if c, err := dial(t, l.Addr(), 300*time.Millisecond, pskClient("1:4242", key4242)...); err == nil {
		c.Close()
		t.Fatal("fourth handshake within the burst")
	}
	eventually(t, "rate limit counted", func() bool { return l.Stats().RateLimited >= 1 })
	if !e.has(ErrRateLimited) {
		t.Errorf("OnError got %v", e.list)
	}
	mu.Lock()
	now = now.Add(time.Second) // one more token
	mu.Unlock()
	mustDial(t, l.Addr(), pskClient("1:4242", key4242)...)
	eventually(t, "fourth handshake", func() bool { return l.Stats().HandshakesOK == 4 })
	if st := l.Stats(); st.HandshakesFailed != 0 || st.RateLimited != 1 {
		t.Errorf("stats %+v", st)
	}
}

func TestMaxConns(t *testing.T) {
	e := &errs{}
	// MaxHandshakes 2: the default (1 here) would refuse the second client
	// while the server still finishes the first handshake.
	l, _ := start(t, Config{PSK: true, MaxConns: 2}, keys(), Options{MaxHandshakes: 2, OnError: e.onError}, newEcho())
	c1 := mustDial(t, l.Addr(), pskClient("1:4242", key4242)...)
	mustDial(t, l.Addr(), pskClient("1:4242", key4242)...)
	eventually(t, "two conns", func() bool { return l.Stats().ConnsOpen == 2 })
	if c, err := dial(t, l.Addr(), 300*time.Millisecond, pskClient("1:4242", key4242)...); err == nil {
		c.Close()
		t.Fatal("third connection accepted with MaxConns 2")
	}
	eventually(t, "refusal counted", func() bool { return l.Stats().Refused >= 1 })
	if !e.has(ErrTooManyConns) {
		t.Errorf("OnError got %v", e.list)
	}
	c1.Close() // close_notify frees its slot
	eventually(t, "slot freed", func() bool { return l.Stats().ConnsOpen == 1 })
	mustDial(t, l.Addr(), pskClient("1:4242", key4242)...)
}

// deaf is a client socket that never delivers what it receives: its
// handshake stalls after the first ClientHello, holding a server slot.
type deaf struct{ *net.UDPConn }

func (d deaf) ReadFrom(b []byte) (int, net.Addr, error) {
	for {
		if _, _, err := d.UDPConn.ReadFrom(b); err != nil {
			return 0, nil, err
		}
	}
}

func TestMaxHandshakes(t *testing.T) {
	l, _ := start(t, Config{PSK: true, HandshakeTimeout: time.Second}, keys(), Options{MaxHandshakes: 1}, newEcho())
	pc, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	stalled := make(chan error, 1)
	go func() {
		_, err := dialOn(t, deaf{pc}, l.Addr(), 1200*time.Millisecond, pskClient("1:4242", key4242)...)
		stalled <- err
	}()
	eventually(t, "a handshake in progress", func() bool { return l.Stats().Handshaking == 1 })
	if c, err := dial(t, l.Addr(), 300*time.Millisecond, pskClient("1:4242", key4242)...); err == nil {
		c.Close()
		t.Fatal("second handshake with MaxHandshakes 1")
	}
	if st := l.Stats(); st.Refused < 1 {
		t.Errorf("stats %+v", st)
	}
	if err := <-stalled; err == nil {
		t.Error("deaf client completed its handshake")
	}
	eventually(t, "stalled handshake timed out", func() bool { return l.Stats().Handshaking == 0 })
	mustDial(t, l.Addr(), pskClient("1:4242", key4242)...)
}

func TestConfigErrors(t *testing.T) {
	rsaLike := &tls.Certificate{Certificate: [][]byte{{1}}, PrivateKey: "not a key"}
	ecKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	for _, tc := range []struct {
		name string
		cfg  Config
		kl   KeyLookup
		opts Options
		want []string
	}{
		{"no listen", Config{PSK: true}, keys(), Options{}, []string{"Listen", `""`}},
		{"bad listen", Config{Listen: "nope", PSK: true}, keys(), Options{}, []string{"Listen", `"nope"`}},
		{"no mode", Config{Listen: "127.0.0.1:0"}, nil, Options{}, []string{"PSK", "false"}},
		{"PSK without keys", Config{Listen: "127.0.0.1:0", PSK: true}, nil, Options{}, []string{"PSK", "KeyLookup"}},
		{"non-ECDSA key", Config{Listen: "127.0.0.1:0", Certificate: rsaLike}, nil, Options{}, []string{"Certificate", "string"}},
		{"empty chain", Config{Listen: "127.0.0.1:0", Certificate: &tls.Certificate{PrivateKey: ecKey}}, nil, Options{}, []string{"Certificate", "empty"}},
		{"handshake timeout", Config{Listen: "127.0.0.1:0", PSK: true, HandshakeTimeout: -time.Second}, keys(), Options{}, []string{"HandshakeTimeout", "-1s"}},
		{"idle timeout", Config{Listen: "127.0.0.1:0", PSK: true, IdleTimeout: -time.Second}, keys(), Options{}, []string{"IdleTimeout", "-1s"}},
		{"small MTU", Config{Listen: "127.0.0.1:0", PSK: true, MTU: 20}, keys(), Options{}, []string{"MTU", "20"}},
		{"big MTU", Config{Listen: "127.0.0.1:0", PSK: true, MTU: 9000}, keys(), Options{}, []string{"MTU", "9000"}},
		{"max conns", Config{Listen: "127.0.0.1:0", PSK: true, MaxConns: -1}, keys(), Options{}, []string{"MaxConns", "-1"}},
		{"rate", Config{Listen: "127.0.0.1:0", PSK: true}, keys(), Options{HandshakeRate: -1}, []string{"HandshakeRate", "-1"}},
		{"unresolvable", Config{Listen: "no.such.host.invalid:1", PSK: true}, keys(), Options{}, []string{"Listen", "no.such.host.invalid"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l, err := New(tc.cfg, tc.kl, tc.opts)
			if err == nil {
				l.Close()
				t.Fatal("accepted")
			}
			if !errors.Is(err, ErrConfig) {
				t.Errorf("%v is not ErrConfig", err)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("%q does not name %q", err, w)
				}
			}
		})
	}
}

func TestBindErrorAtNew(t *testing.T) {
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	l, err := New(Config{Listen: pc.LocalAddr().String(), PSK: true}, keys(), Options{})
	if err == nil {
		l.Close()
		t.Fatal("bound a port in use")
	}
	if errors.Is(err, ErrConfig) || !strings.Contains(err.Error(), pc.LocalAddr().String()) {
		t.Errorf("error %v", err)
	}
}

func TestCloseWithoutRun(t *testing.T) {
	l, err := New(Config{Listen: "127.0.0.1:0", PSK: true}, keys(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	pc, err := net.ListenPacket("udp", addr)
	if err != nil {
		t.Fatalf("port not released: %v", err)
	}
	pc.Close()
	if err := l.Run(context.Background(), newEcho()); err != nil {
		t.Errorf("Run after Close: %v", err)
	}
	if err := l.Run(context.Background(), newEcho()); !errors.Is(err, ErrRunning) {
		t.Errorf("second Run: %v", err)
	}
}

func TestHandlerErrorKeepsConn(t *testing.T) {
	e := &errs{}
	boom := errors.New("test: bad packet")
	h := handlerFunc(func(pkt []byte, from osp.Peer) error {
		if string(pkt) == "bad" {
			return boom
		}
		return from.Send(pkt)
	})
	l, _ := start(t, Config{PSK: true}, keys(), Options{OnError: e.onError}, h)
	c := mustDial(t, l.Addr(), pskClient("1:4242", key4242)...)
	if _, err := c.Write([]byte("bad")); err != nil {
		t.Fatal(err)
	}
	roundTrip(t, c, []byte("good"))
	if !e.has(boom) {
		t.Errorf("OnError got %v", e.list)
	}
}

// TestRestartedClient is RFC 6347 section 4.2.8: a client that restarts and
// handshakes again from the same address and port replaces its old
// association at once, instead of waiting for IdleTimeout.
func TestRestartedClient(t *testing.T) {
	h := newEcho()
	l, _ := start(t, Config{PSK: true}, keys(), Options{}, h)
	pc, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	laddr := pc.LocalAddr().(*net.UDPAddr)
	c, err := dialOn(t, pc, l.Addr(), 5*time.Second, pskClient("1:4242", key4242)...)
	if err != nil {
		t.Fatal(err)
	}
	roundTrip(t, c, []byte("before"))
	old := <-h.peers
	pc.Close() // the sensor reboots: no close_notify

	pc2, err := net.ListenUDP("udp", laddr)
	if err != nil {
		t.Fatal(err)
	}
	c2, err := dialOn(t, pc2, l.Addr(), 3*time.Second, pskClient("1:4242", key4242)...)
	if err != nil {
		t.Fatalf("handshake after restart: %v", err)
	}
	roundTrip(t, c2, []byte("after"))
	if p := <-h.peers; p == old || p.Addr() != old.Addr() {
		t.Errorf("new peer %v, old %v", p, old)
	}
	eventually(t, "old association closed", func() bool { return l.Stats().ConnsOpen == 1 })
	if st := l.Stats(); st.Reassociated != 1 || st.HandshakesOK != 2 {
		t.Errorf("stats %+v", st)
	}
	if err := old.Send([]byte("x")); err == nil {
		t.Error("send on the replaced association")
	}
}

// clientHello captures the first datagram of a pion client: a ClientHello.
func clientHello(t *testing.T, opts ...piondtls.ClientOption) []byte {
	t.Helper()
	sink, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer sink.Close()
	go func() { _, _ = dial(t, sink.LocalAddr(), 300*time.Millisecond, opts...) }()
	buf := make([]byte, 2048)
	_ = sink.SetReadDeadline(time.Now().Add(5 * time.Second))
	n, _, err := sink.ReadFrom(buf)
	if err != nil {
		t.Fatal(err)
	}
	if !isClientHello(buf[:n]) {
		t.Fatalf("not a ClientHello: % x", buf[:n])
	}
	return buf[:n]
}

// TestSpoofedHelloKeepsAssociation: a ClientHello from the address of an
// established client that never completes its handshake (as a spoofed one
// would not) leaves the established association working.
func TestSpoofedHelloKeepsAssociation(t *testing.T) {
	hello := clientHello(t, pskClient("1:4242", key4242)...)
	l, _ := start(t, Config{PSK: true, HandshakeTimeout: 300 * time.Millisecond}, keys(), Options{}, newEcho())
	pc, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	c, err := dialOn(t, pc, l.Addr(), 5*time.Second, pskClient("1:4242", key4242)...)
	if err != nil {
		t.Fatal(err)
	}
	roundTrip(t, c, []byte("before"))
	// The forged hello, written on the client's own socket.
	if _, err := pc.WriteTo(hello, l.Addr()); err != nil {
		t.Fatal(err)
	}
	eventually(t, "second handshake pending", func() bool { return l.Stats().Handshaking == 1 })
	roundTrip(t, c, []byte("during"))
	eventually(t, "pending handshake given up", func() bool { return l.Stats().HandshakesFailed == 1 })
	roundTrip(t, c, []byte("after"))
	if st := l.Stats(); st.Reassociated != 0 || st.ConnsOpen != 1 || st.HandshakesOK != 1 {
		t.Errorf("stats %+v", st)
	}
}

func TestIsClientHello(t *testing.T) {
	hello := clientHello(t, pskClient("1:4242", key4242)...)
	for _, tc := range []struct {
		name string
		d    []byte
		want bool
	}{
		{"hello", hello, true},
		{"short", hello[:recordHeaderLen], false},
		{"epoch 1", append(append(append([]byte(nil), hello[:3]...), 0, 1), hello[5:]...), false},
		{"application data", append([]byte{23}, hello[1:]...), false},
		{"server hello", append(append([]byte(nil), hello[:recordHeaderLen]...), append([]byte{2}, hello[recordHeaderLen+1:]...)...), false},
		{"empty", nil, false},
	} {
		if got := isClientHello(tc.d); got != tc.want {
			t.Errorf("%s: %v", tc.name, got)
		}
	}
}

// testCN is the name in the certificates selfSigned issues.
const testCN = "edgegate-test"

// selfSigned issues an in-memory self-signed P-256 certificate for testCN.
func selfSigned(t *testing.T) tls.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: testCN}, DNSNames: []string{testCN},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}, BasicConstraintsValid: true}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}
}
