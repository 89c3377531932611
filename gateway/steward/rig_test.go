package steward

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/edgegate/edgegate/gateway/certs"
	"github.com/edgegate/edgegate/gateway/pairing"
	"github.com/edgegate/edgegate/gateway/things"
	"github.com/edgegate/edgegate/store"
	"github.com/edgegate/edgegate/store/storetest"
)

// rig is a steward serving TLS on a loopback port, on a real store and hub.
type rig struct {
	t    *testing.T
	st   *Steward
	hub  *things.Hub
	win  *pairing.Window
	db   *storetest.DB
	cert tls.Certificate
	addr string
	stop func()
}

func newRig(t *testing.T, mod func(*Options)) *rig {
	t.Helper()
	db := storetest.MustOpen(t, store.Options{})
	r := &rig{t: t, db: db, cert: testCert(t), win: pairing.New(pairing.Options{})}
	r.start(mod)
	return r
}

// start (re)starts the steward on the rig's store with a new hub.
func (r *rig) start(mod func(*Options)) {
	t := r.t
	r.hub = things.New(things.Options{})
	opts := Options{Store: r.db.KV("steward"), Hub: r.hub, Pairing: r.win, Certificate: r.cert,
		UUID: "2f402f80-da50-11e1-9b23-0123456789ab", Name: "zephyr"}
	if mod != nil {
		mod(&opts)
	}
	st, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	r.hub.RegisterOwner(things.KindNative, st)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	r.st, r.addr = st, ln.Addr().String()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- st.Run(ctx, ln, nil) }()
	stopped := false
	r.stop = func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
		r.hub.Close()
	}
	t.Cleanup(r.stop)
}

// testCert is a steward certificate as the gateway makes it, in a
// temporary directory.
func testCert(tb testing.TB) tls.Certificate {
	tb.Helper()
	cert, err := certs.LoadOrCreate(tb.TempDir(), certs.Spec{Name: "steward", Subject: pkix.Name{CommonName: "steward"},
		DNSNames: []string{"localhost", "steward.local"}, IPs: []net.IP{net.IPv4(127, 0, 0, 1)}})
	if err != nil {
		tb.Fatal(err)
	}
	return cert
}

// peer is a WebSocket client pinning the steward's certificate.
type peer struct {
	t *testing.T
	c *websocket.Conn
}

func (r *rig) dial(path string) *peer {
	r.t.Helper()
	pool := x509.NewCertPool()
	pool.AddCert(r.cert.Leaf)
	return dialPinned(r.t, "wss://"+r.addr+path, pool)
}

func dialPinned(t *testing.T, url string, pool *x509.CertPool) *peer {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, _, err := websocket.Dial(ctx, url, dialOptions(pool))
	if err != nil {
		t.Fatalf("dial %s: %v", url, err)
	}
	c.SetReadLimit(1 << 20)
	p := &peer{t: t, c: c}
	t.Cleanup(func() { c.CloseNow() })
	return p
}

func (p *peer) send(s string) {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := p.c.Write(ctx, websocket.MessageText, []byte(s)); err != nil {
		p.t.Fatalf("send: %v", err)
	}
}

// msg is a received JSON object.
type msg map[string]any

func (m msg) obj(k string) msg {
	v, _ := m[k].(map[string]any)
	return v
}

func (m msg) str(k string) string {
	v, _ := m[k].(string)
	return v
}

func (p *peer) recv() msg {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	typ, b, err := p.c.Read(ctx)
	if err != nil {
		p.t.Fatalf("recv: %v", err)
	}
	if typ != websocket.MessageText {
		p.t.Fatalf("frame type %v", typ)
	}
	var m msg
	if err := json.Unmarshal(b, &m); err != nil {
		p.t.Fatalf("recv %s: %v", b, err)
	}
	return m
}

// call sends a request and returns the next message.
func (p *peer) call(s string) msg {
	p.t.Helper()
	p.send(s)
	return p.recv()
}

// closed waits for the socket to close and returns the close code.
func (p *peer) closed() websocket.StatusCode {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for {
		_, b, err := p.c.Read(ctx)
		if err != nil {
			if ctx.Err() != nil {
				p.t.Fatal("socket not closed")
			}
			return websocket.CloseStatus(err)
		}
		p.t.Logf("before close: %s", b)
	}
}

// wantError checks an error reply.
func wantError(t *testing.T, m msg, permanent bool, diagnostic string) {
	t.Helper()
	e := m.obj("error")
	if e == nil || e["permanent"] != permanent || !strings.HasPrefix(e.str("diagnostic"), diagnostic) {
		t.Fatalf("want error %v %q, got %v", permanent, diagnostic, m)
	}
}

// wantEntry checks one entry of a detailed result: "" is success.
func wantEntry(t *testing.T, m msg, group, key string, permanent bool, diagnostic string) msg {
	t.Helper()
	e := m.obj(group).obj(key)
	if diagnostic == "" {
		if e.str("status") != "success" || e["success"] != true {
			t.Fatalf("%s %s: want success, got %v", group, key, m)
		}
		return e
	}
	er := e.obj("error")
	if er == nil || er["permanent"] != permanent || er.str("diagnostic") != diagnostic {
		t.Fatalf("%s %s: want error %v %q, got %v", group, key, permanent, diagnostic, m)
	}
	return e
}

// eventually polls cond for up to 5 s.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func (r *rig) thing(id string) things.Thing {
	r.t.Helper()
	th, ok := r.hub.Get(id)
	if !ok {
		r.t.Fatalf("no thing %s in the hub", id)
	}
	return th
}

func value(th things.Thing, name string) things.Value {
	p, _ := th.Property(name)
	return p.Value
}
