package serial

import (
	"bytes"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/edgegate/edgegate/gateway/osp"
)

// t0 is the framer tests' clock origin; they pass instants, never sleep.
var t0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// plain builds a packet without EAX with a body of n bytes from seed. The
// body bytes have a reserved MsgType nibble (0x9), so no header can be found
// inside them and the table tests' outcomes do not depend on false headers
// (the fuzz target covers those).
func plain(tb testing.TB, sid, seq uint16, typ osp.MsgType, flags osp.Flags, n int, seed byte) []byte {
	tb.Helper()
	body := make([]byte, n)
	for i := range body {
		body[i] = 0x90 | (seed+byte(i))&0x0f
	}
	p, err := osp.AppendPlain(nil, sid, seq, typ, flags, body)
	if err != nil {
		tb.Fatal(err)
	}
	return p
}

// sealed builds a packet with the E flag and n bytes of (pretend) ciphertext
// and MAC: the framer never looks past the header. Like plain's, the bytes
// cannot start a header.
func sealed(tb testing.TB, sid, seq uint16, typ osp.MsgType, flags osp.Flags, n int) []byte {
	tb.Helper()
	p, err := osp.AppendHeader(nil, osp.Header{SID: sid, SeqNum: seq, Type: typ, Flags: flags | osp.FlagEAX, Size: osp.PacketSizeFor(n)})
	if err != nil {
		tb.Fatal(err)
	}
	for i := range n {
		p = append(p, 0xC0|byte(i)&0x0f)
	}
	return p
}

func cat(parts ...[]byte) []byte { return bytes.Join(parts, nil) }

// discard is one run the framer reported through OnDiscard.
type discard struct {
	b   []byte
	err error
}

// framerRun drives a Framer and records what it emits and drops.
type framerRun struct {
	f     *Framer
	pkts  [][]byte
	drops []discard
}

func newFramerRun(cfg FramerConfig) *framerRun {
	r := &framerRun{}
	cfg.OnDiscard = func(b []byte, err error) { r.drops = append(r.drops, discard{bytes.Clone(b), err}) }
	r.f = NewFramer(cfg)
	return r
}

func (r *framerRun) emit(pkt []byte) { r.pkts = append(r.pkts, bytes.Clone(pkt)) }

// checkInvariant: every byte fed is in a packet, dropped, or buffered.
func (r *framerRun) checkInvariant(tb testing.TB) {
	tb.Helper()
	s := r.f.Stats()
	if s.BytesIn != s.Bytes+s.DiscardedBytes+uint64(r.f.Buffered()) {
		tb.Fatalf("BytesIn %d != Bytes %d + DiscardedBytes %d + Buffered %d", s.BytesIn, s.Bytes, s.DiscardedBytes, r.f.Buffered())
	}
}

// step is one event of a framer table test: bytes fed at an instant, or an
// Expire or Flush call.
type step struct {
	at     time.Duration
	data   []byte
	expire bool
	flush  bool
}

func feed(at time.Duration, parts ...[]byte) step { return step{at: at, data: cat(parts...)} }

// bytewise feeds b one byte per millisecond from at.
func bytewise(at time.Duration, b []byte) []step {
	var s []step
	for i := range b {
		s = append(s, step{at: at + time.Duration(i)*time.Millisecond, data: b[i : i+1]})
	}
	return s
}

func TestFramer(t *testing.T) {
	connect := plain(t, 0, 1, osp.TypeConnect, 0, 10, 0x10) // 16 bytes
	data := sealed(t, 0x1234, 7, osp.TypeData, osp.FlagAckReq|osp.FlagCached, 40)
	big := plain(t, 0x1234, 8, osp.TypeData, osp.FlagSaved, 300, 0) // two-byte PacketSize
	ping := plain(t, 0x1234, 9, osp.TypePingReq, 0, 0, 0)           // header only
	if len(big) != 307 || big[5]&0x80 == 0 {
		t.Fatalf("big packet: %d bytes, PacketSize % x", len(big), big[5:7])
	}
	// CONNECT with AckReq: a header ParseHeader refuses on the flag rule.
	badFlags := []byte{0, 0, 0, 1, 0x12, 0x06}
	const idle = 100 * time.Millisecond

	tests := []struct {
		name   string
		max    int
		steps  []step
		want   [][]byte
		drops  []error // reasons of the dropped runs, in order
		bytes  uint64  // DiscardedBytes
		frames uint64  // DiscardedFrames
		buffer int     // Buffered at the end
	}{
		{name: "one packet", steps: []step{feed(0, connect)}, want: [][]byte{connect}},
		{name: "back to back in one read", steps: []step{feed(0, connect, data, big, ping, connect)},
			want: [][]byte{connect, data, big, ping, connect}},
		{name: "byte by byte", steps: bytewise(0, cat(data, big, ping)), want: [][]byte{data, big, ping}},
		{name: "split across reads with pauses", steps: []step{
			feed(0, data[:3]), feed(40*time.Millisecond, data[3:20]), feed(80*time.Millisecond, data[20:], big[:6]),
			feed(150*time.Millisecond, big[6:200]), feed(240*time.Millisecond, big[200:], ping),
		}, want: [][]byte{data, big, ping}},
		{name: "split inside the two-byte PacketSize", steps: []step{feed(0, big[:6]), feed(time.Millisecond, big[6:])},
			want: [][]byte{big}},
		{name: "split inside the header", steps: []step{feed(0, connect[:2]), feed(time.Millisecond, connect[2:5]), feed(2*time.Millisecond, connect[5:])},
			want: [][]byte{connect}},
		{name: "leading garbage", steps: []step{feed(0, []byte{0xff, 0xfe, 0xff, 0x00, 0x97}, connect)},
			want: [][]byte{connect}, drops: []error{osp.ErrReservedMsgType}, bytes: 5},
		{name: "garbage between packets", steps: []step{feed(0, data, []byte("\r\nAT+OK\r\n"), ping)},
			want: [][]byte{data, ping}, drops: []error{ErrGarbage}, bytes: 9},
		{name: "garbage header breaking a flag rule", steps: []step{feed(0, badFlags, connect)},
			want: [][]byte{connect}, drops: []error{osp.ErrFlags}, bytes: 6},
		{name: "PacketSize smaller than the header", steps: []step{feed(0, []byte{0, 0, 0, 1, 0x40, 0x03}, connect)},
			want: [][]byte{connect}, drops: []error{osp.ErrPacketSize}, bytes: 6},
		{name: "PacketSize not minimally encoded", steps: []step{feed(0, []byte{0, 0, 0, 1, 0x40, 0x86, 0x00}, connect)},
			want: [][]byte{connect}, drops: []error{osp.ErrPacketSize}, bytes: 7},
		{name: "PacketSize above the bound", max: 256, steps: []step{feed(0, big, ping)},
			want: [][]byte{ping}, drops: []error{osp.ErrTooLarge}, bytes: uint64(len(big))},
		{name: "garbage only, kept until judged", steps: []step{feed(0, []byte{0, 0, 0})},
			buffer: 3},
		{name: "truncated packet then a good one after the idle timeout", steps: []step{
			feed(0, data[:25]), feed(idle+time.Millisecond, connect),
		}, want: [][]byte{connect}, drops: []error{ErrCutShort}, bytes: 25, frames: 1},
		{name: "truncated packet expired by a read timeout", steps: []step{
			feed(0, ping, data[:25]), {at: idle - time.Millisecond, expire: true}, {at: idle, expire: true}, feed(idle+time.Millisecond, connect),
		}, want: [][]byte{ping, connect}, drops: []error{ErrCutShort}, bytes: 25, frames: 1},
		{name: "idle measured from the last byte", steps: []step{
			feed(0, data[:10]), feed(90*time.Millisecond, data[10:20]), {at: 150 * time.Millisecond, expire: true},
			feed(180*time.Millisecond, data[20:]),
		}, want: [][]byte{data}},
		{name: "packet hidden behind a false header is found at expiry", steps: []step{
			// The cut DATA announces 46 bytes: the PINGREQ and 4 more bytes go
			// into it, so nothing is emitted until the line idles.
			feed(0, data[:8]), feed(time.Millisecond, ping), feed(2*time.Millisecond, connect[:4]),
			{at: 2*time.Millisecond + idle, expire: true},
		}, want: [][]byte{ping}, drops: []error{ErrCutShort, ErrGarbage}, bytes: 12, frames: 1},
		{name: "flush discards a pending packet", steps: []step{feed(0, ping, big[:100]), {flush: true}},
			want: [][]byte{ping}, drops: []error{ErrCutShort}, bytes: 100, frames: 1},
		{name: "flush of a cut header", steps: []step{feed(0, big[:6]), {flush: true}},
			drops: []error{osp.ErrTruncated}, bytes: 6},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := newFramerRun(FramerConfig{MaxPacketSize: tc.max, IdleTimeout: idle})
			for _, s := range tc.steps {
				switch now := t0.Add(s.at); {
				case s.expire:
					r.f.Expire(now, r.emit)
				case s.flush:
					r.f.Flush(r.emit)
				default:
					r.f.Feed(now, s.data, r.emit)
				}
				r.checkInvariant(t)
			}
			if !equalPackets(r.pkts, tc.want) {
				t.Errorf("packets:\n%s\nwant:\n%s", dump(r.pkts), dump(tc.want))
			}
			if len(r.drops) != len(tc.drops) {
				t.Fatalf("dropped runs %v, want reasons %v", r.drops, tc.drops)
			}
			for i, d := range r.drops {
				if !errors.Is(d.err, tc.drops[i]) {
					t.Errorf("drop %d (% x): %v, want %v", i, d.b, d.err, tc.drops[i])
				}
				if errors.Is(d.err, ErrCutShort) == errors.Is(d.err, ErrGarbage) {
					t.Errorf("drop %d: %v is not exactly one of ErrCutShort and ErrGarbage", i, d.err)
				}
			}
			s := r.f.Stats()
			if s.DiscardedBytes != tc.bytes || s.DiscardedFrames != tc.frames || r.f.Buffered() != tc.buffer {
				t.Errorf("discarded %d bytes, %d frames, %d buffered; want %d, %d, %d", s.DiscardedBytes, s.DiscardedFrames, r.f.Buffered(), tc.bytes, tc.frames, tc.buffer)
			}
			if s.Packets != uint64(len(tc.want)) {
				t.Errorf("Stats.Packets %d, want %d", s.Packets, len(tc.want))
			}
		})
	}
}

func TestFramerDeadline(t *testing.T) {
	f := NewFramer(FramerConfig{IdleTimeout: 50 * time.Millisecond})
	if _, ok := f.Deadline(); ok {
		t.Fatal("deadline with an empty buffer")
	}
	ping := plain(t, 1, 1, osp.TypePingReq, 0, 0, 0)
	f.Feed(t0, ping[:3], nil)
	if dl, ok := f.Deadline(); !ok || !dl.Equal(t0.Add(50*time.Millisecond)) {
		t.Fatalf("Deadline %v %v, want t0+50ms", dl, ok)
	}
	f.Feed(t0.Add(10*time.Millisecond), nil, nil) // no bytes: not a sign of life
	if dl, _ := f.Deadline(); !dl.Equal(t0.Add(50 * time.Millisecond)) {
		t.Fatalf("an empty Feed moved the deadline to %v", dl)
	}
	if f.Expire(t0.Add(49*time.Millisecond), nil) || f.Buffered() != 3 {
		t.Fatal("expired early")
	}
	if !f.Expire(t0.Add(50*time.Millisecond), nil) || f.Buffered() != 0 {
		t.Fatal("did not expire at the deadline")
	}
	if _, ok := NewFramer(FramerConfig{}).Deadline(); ok {
		t.Fatal("deadline without an idle timeout")
	}
}

func TestFramerNoIdleTimeoutWaits(t *testing.T) {
	r := newFramerRun(FramerConfig{})
	data := plain(t, 1, 2, osp.TypeData, 0, 20, 0)
	r.f.Feed(t0, data[:10], r.emit)
	r.f.Expire(t0.Add(time.Hour), r.emit)
	r.f.Feed(t0.Add(2*time.Hour), data[10:], r.emit)
	if !equalPackets(r.pkts, [][]byte{data}) || len(r.drops) != 0 {
		t.Fatalf("packets %s drops %v", dump(r.pkts), r.drops)
	}
}

// TestFramerKeepsNoReference: Feed copies what it keeps, and a handler may
// scribble over the packet it is given (decrypting in place).
func TestFramerKeepsNoReference(t *testing.T) {
	a := plain(t, 1, 2, osp.TypeData, 0, 20, 0)
	b := plain(t, 1, 3, osp.TypeData, 0, 20, 0x40)
	var got [][]byte
	f := NewFramer(FramerConfig{})
	emit := func(pkt []byte) {
		got = append(got, bytes.Clone(pkt))
		for i := range pkt {
			pkt[i] = 0xEE
		}
	}
	in := cat(a, b[:10])
	f.Feed(t0, in, emit)
	for i := range in {
		in[i] = 0
	}
	f.Feed(t0, b[10:], emit)
	if !equalPackets(got, [][]byte{a, b}) {
		t.Fatalf("got %s", dump(got))
	}
}

func TestFramerBufferBounded(t *testing.T) {
	// A false header announcing the bound holds the stream until that many
	// bytes came, never more.
	const max = 64
	f := NewFramer(FramerConfig{MaxPacketSize: max})
	head := []byte{0, 1, 0, 1, 0x40, max}
	f.Feed(t0, head, nil)
	for range 100 {
		f.Feed(t0, []byte{0, 0, 0, 0, 0, 0, 0}, nil)
		if f.Buffered() >= max {
			t.Fatalf("buffered %d bytes, bound %d", f.Buffered(), max)
		}
	}
	if s := f.Stats(); s.Packets != 1 {
		t.Fatalf("the false packet was not emitted: %+v", s)
	}
}

func equalPackets(a, b [][]byte) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if !bytes.Equal(a[i], b[i]) {
			return false
		}
	}
	return true
}

func dump(pkts [][]byte) string {
	var b bytes.Buffer
	for _, p := range pkts {
		fmt.Fprintf(&b, "  % x\n", p)
	}
	return b.String()
}
