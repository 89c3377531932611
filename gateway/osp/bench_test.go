package osp

import (
	"crypto/aes"
	"testing"

	"github.com/ProtonMail/go-crypto/eax"
)

type nopPeer struct{}

func (nopPeer) Send([]byte) error { return nil }

// BenchmarkSealData32 encodes and seals one secure DATA packet with a 32-byte
// payload (AckReq set), as a client does per reading.
func BenchmarkSealData32(b *testing.B) {
	c, _ := NewCipher(testKey, 8)
	base := MakeNonceBase(iv(0x11), iv(0x22))
	d := Data{DataType: 10, Payload: payload32()}
	body := make([]byte, 0, 64)
	out := make([]byte, 0, 128)
	var n Nonce
	b.ReportAllocs()
	seq := uint16(0)
	for b.Loop() {
		seq++
		d.MessageID = uint8(seq)
		body = d.AppendBody(body[:0])
		base.Put(&n, seq)
		out, _ = c.SealPacket(out[:0], &n, 0xbeef, seq, TypeData, FlagAckReq, body)
	}
}

// BenchmarkOpenData32 decodes, verifies and decrypts the same packet, as the
// server does per reading.
func BenchmarkOpenData32(b *testing.B) {
	c, _ := NewCipher(testKey, 8)
	base := MakeNonceBase(iv(0x11), iv(0x22))
	var n Nonce
	base.Put(&n, 3)
	pkt := unhex(b, vSecData)
	buf := make([]byte, len(pkt))
	b.ReportAllocs()
	for b.Loop() {
		copy(buf, pkt)
		p, err := Decode(buf)
		if err != nil {
			b.Fatal(err)
		}
		body, err := c.OpenPacket(&p, &n)
		if err != nil {
			b.Fatal(err)
		}
		var d Data
		if err := d.Unmarshal(body); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkHandshakeSecure runs one complete four-way handshake, both
// roles, over in-memory links.
func BenchmarkHandshakeSecure(b *testing.B) {
	r := newRig(b, func(c *ServerConfig) { c.Rand = nil })
	c := r.secureClient(func(cc *ClientConfig) { cc.Rand = nil })
	b.ReportAllocs()
	for b.Loop() {
		r.connect(c)
	}
}

// ackingHandler acknowledges every reading at once; it allocates nothing.
type ackingHandler struct {
	srv *Server
	n   int
}

func (h *ackingHandler) HandleData(r Reading) {
	h.n++
	if r.Flags&FlagAckReq != 0 {
		_ = h.srv.Ack(r.AckRef())
	}
}
func (h *ackingHandler) HandleEvent(Event) {}

// hotPath returns a server with one open session and count DATA packets
// (32-byte payload, AckReq) from its client, ready for Handle.
func hotPath(tb testing.TB, secure bool, count int) (*Server, *ackingHandler, [][]byte) {
	rec := newRecorder()
	sec := Security{}
	if secure {
		sec = Security{Secure: true, Key: testKey}
	}
	rec.devices[secDev] = sec
	h := &ackingHandler{}
	srv, err := NewServer(ServerConfig{Devices: rec, Handler: h})
	if err != nil {
		tb.Fatal(err)
	}
	h.srv = srv
	up := &queuePeer{}
	c, err := NewClient(ClientConfig{Device: secDev, Security: sec, Peer: up})
	if err != nil {
		tb.Fatal(err)
	}
	c.Connect()
	down := &queuePeer{}
	for range 4 {
		for _, p := range up.take() {
			srv.Handle(p, down)
		}
		for _, p := range down.take() {
			c.Handle(p)
		}
	}
	if !c.Open() {
		tb.Fatal("no session")
	}
	for range count {
		if _, err := c.SendData(10, payload32(), FlagAckReq); err != nil {
			tb.Fatal(err)
		}
		c.mu.Lock()
		c.cache[c.nextMsg].acked = true // keep the client's cache from filling
		c.mu.Unlock()
	}
	return srv, h, up.take()
}

// BenchmarkServerData measures Server.Handle for one DATA packet with
// AckReq plus the ACKNOWLEDGE it sends, in an open session.
func BenchmarkServerData(b *testing.B) {
	for _, secure := range []bool{false, true} {
		name := map[bool]string{false: "plain", true: "secure"}[secure]
		b.Run(name, func(b *testing.B) {
			const batch = 30000
			srv, _, pkts := hotPath(b, secure, batch)
			buf := make([]byte, 128)
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				if i == batch {
					b.StopTimer()
					srv, _, pkts = hotPath(b, secure, batch)
					i = 0
					b.StartTimer()
				}
				n := copy(buf, pkts[i])
				i++
				if err := srv.Handle(buf[:n], nopPeer{}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// TestDataPathAllocations pins the promise that the DATA hot path (Handle,
// the hand-up, Ack and the ACKNOWLEDGE) allocates nothing, in a plain
// session and in a secure one.
func TestDataPathAllocations(t *testing.T) {
	for _, secure := range []bool{false, true} {
		srv, h, pkts := hotPath(t, secure, 200)
		buf := make([]byte, 128)
		i := 0
		got := testing.AllocsPerRun(150, func() {
			n := copy(buf, pkts[i])
			i++
			if err := srv.Handle(buf[:n], nopPeer{}); err != nil {
				t.Fatal(err)
			}
		})
		if h.n < 150 {
			t.Fatalf("only %d readings", h.n)
		}
		if got != 0 {
			t.Errorf("secure=%v: %.0f allocs per DATA+ACK, want 0", secure, got)
		}
	}
}

// BenchmarkEAX seals and opens a secure DATA body (35 bytes under a 6-byte
// header, an 8-byte tag) with this package's EAX and, as the baseline of
// the same run, with github.com/ProtonMail/go-crypto/eax.
func BenchmarkEAX(b *testing.B) {
	block, _ := aes.NewCipher(testKey)
	lib, _ := eax.NewEAXWithNonceAndTagSize(block, 16, 8)
	c, _ := NewCipher(testKey, 8)
	var n Nonce
	MakeNonceBase(iv(0x11), iv(0x22)).Put(&n, 3)
	body, hdr := make([]byte, 35), make([]byte, 6)
	dst := make([]byte, 0, 64)
	b.Run("impl=library", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			dst = lib.Seal(dst[:0], n.Bytes(), body, hdr)
			if _, err := lib.Open(dst[:0], n.Bytes(), dst, hdr); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("impl=osp", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			dst = c.eax.seal(dst[:0], n.b[:], body, hdr, &n.work)
			if _, err := c.eax.open(dst[:0], n.b[:], dst, hdr, &n.work); err != nil {
				b.Fatal(err)
			}
		}
	})
}
