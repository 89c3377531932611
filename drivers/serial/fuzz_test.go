package serial

import (
	"bytes"
	"testing"
	"time"

	"github.com/edgegate/edgegate/gateway/osp"
)

// FuzzFramer checks three properties on every input:
//
//  1. Any bytes, cut into any reads at any instants, with read timeouts in
//     between: the framer never panics, every packet it emits decodes with
//     osp.Decode (valid header, PacketSize equal to its length) within the
//     bound, and the packets and dropped runs, in the order reported, are
//     exactly the bytes fed.
//  2. Valid packets built from the input, each preceded by garbage and a
//     pause longer than the idle timeout, and cut into any reads: every packet
//     comes out, in order (garbage may add packets of its own).
//  3. The same packets back to back without garbage, cut into any reads:
//     exactly those packets come out and nothing is dropped.
//
// seed drives the cuts and pauses.
func FuzzFramer(f *testing.F) {
	for _, s := range fuzzSeeds(f) {
		f.Add(s, uint64(1))
		f.Add(s, uint64(0x9e3779b97f4a7c15))
	}
	f.Fuzz(func(t *testing.T, in []byte, seed uint64) {
		const idle = time.Second
		const max = 1024

		// 1. Arbitrary bytes.
		var out []byte
		rnd := xorshift(seed)
		fr := NewFramer(FramerConfig{MaxPacketSize: max, IdleTimeout: idle,
			OnDiscard: func(b []byte, err error) { out = append(out, b...) }})
		emit := func(pkt []byte) {
			p, err := osp.Decode(pkt)
			if err != nil || len(pkt) > max || p.Size != len(pkt) {
				t.Fatalf("emitted % x: %v", pkt, err)
			}
			out = append(out, pkt...)
		}
		now := t0
		for rest := in; len(rest) > 0; {
			n := min(1+int(rnd.next()%64), len(rest))
			now = now.Add(time.Duration(rnd.next() % uint64(2*idle)))
			if rnd.next()%4 == 0 {
				fr.Expire(now, emit)
			}
			fr.Feed(now, rest[:n], emit)
			rest = rest[n:]
		}
		fr.Flush(emit)
		if !bytes.Equal(out, in) {
			t.Fatalf("packets and drops do not add up to the input:\n in % x\nout % x", in, out)
		}
		if s := fr.Stats(); s.BytesIn != uint64(len(in)) || s.Bytes+s.DiscardedBytes != s.BytesIn || fr.Buffered() != 0 {
			t.Fatalf("stats %+v, buffered %d, input %d bytes", s, fr.Buffered(), len(in))
		}

		// 2 and 3. Packets built from the input.
		garbage, pkts := packetsFrom(t, in, max)
		for _, withGarbage := range []bool{true, false} {
			var got [][]byte
			fr := NewFramer(FramerConfig{MaxPacketSize: max, IdleTimeout: idle})
			emit := func(pkt []byte) { got = append(got, bytes.Clone(pkt)) }
			rnd := xorshift(seed)
			now := t0
			feedCut := func(b []byte) {
				for len(b) > 0 {
					n := min(1+int(rnd.next()%32), len(b))
					now = now.Add(time.Duration(rnd.next() % uint64(idle/4)))
					fr.Feed(now, b[:n], emit)
					b = b[n:]
				}
			}
			for i, p := range pkts {
				if withGarbage && len(garbage[i]) > 0 {
					feedCut(garbage[i])
					now = now.Add(idle)
				}
				feedCut(p)
			}
			fr.Flush(emit)
			if !withGarbage {
				if !equalPackets(got, pkts) || fr.Stats().DiscardedBytes != 0 {
					t.Fatalf("clean stream: got\n%swant\n%sstats %+v", dump(got), dump(pkts), fr.Stats())
				}
				continue
			}
			j := 0 // pkts[:j] found in got, in order
			for _, g := range got {
				if j < len(pkts) && bytes.Equal(g, pkts[j]) {
					j++
				}
			}
			if j != len(pkts) {
				t.Fatalf("with garbage: packet %d (% x) missing; got\n%s", j, pkts[j], dump(got))
			}
		}
	})
}

// packetsFrom reads packets and garbage out of b: per packet, a garbage
// length and bytes, a MsgType, flags, a body length and the body.
func packetsFrom(t *testing.T, b []byte, max int) (garbage, pkts [][]byte) {
	next := func() byte {
		if len(b) == 0 {
			return 0
		}
		c := b[0]
		b = b[1:]
		return c
	}
	take := func(n int) []byte {
		n = min(n, len(b))
		s := b[:n]
		b = b[n:]
		return s
	}
	for len(b) > 0 {
		g := take(int(next() % 16))
		typ := osp.MsgType(next()%8 + 1)
		flags := osp.Flags(next()) & 0x0f
		if typ != osp.TypeData {
			flags &= osp.FlagEAX
		}
		n := int(next())
		if n&0x80 != 0 {
			n = n * 8 % (max - osp.MaxHeaderLen) // two-byte PacketSize, up to the bound
		}
		body := take(n)
		p, err := osp.AppendHeader(nil, osp.Header{SID: 0x0102, SeqNum: uint16(len(pkts) + 1), Type: typ, Flags: flags, Size: osp.PacketSizeFor(len(body))})
		if err != nil {
			t.Fatal(err)
		}
		garbage = append(garbage, g)
		pkts = append(pkts, append(p, body...))
	}
	return garbage, pkts
}

// xorshift is a tiny deterministic generator for cuts and pauses.
type xorshiftState struct{ s uint64 }

func xorshift(seed uint64) *xorshiftState { return &xorshiftState{s: seed | 1} }

func (x *xorshiftState) next() uint64 {
	x.s ^= x.s << 13
	x.s ^= x.s >> 7
	x.s ^= x.s << 17
	return x.s
}

// fuzzSeeds are streams like the ones a line carries; testdata/fuzz/FuzzFramer
// holds more.
func fuzzSeeds(tb testing.TB) [][]byte {
	connect := plain(tb, 0, 1, osp.TypeConnect, 0, 10, 0)
	data := sealed(tb, 0x1234, 7, osp.TypeData, osp.FlagAckReq, 40)
	big := plain(tb, 0x1234, 8, osp.TypeData, 0, 300, 0)
	ping := plain(tb, 0x1234, 9, osp.TypePingReq, 0, 0, 0)
	return [][]byte{
		nil,
		connect,
		cat(connect, data, big, ping),
		cat([]byte("\r\nAT+OK\r\n"), data, []byte{0xff, 0x00}, ping),
		cat(data[:20], connect),
		cat([]byte{0, 0, 0, 1, 0x40, 0x86, 0x00}, ping),
		{0x00, 0x05, 0x01, 0x01, 0x80, 0x30, 0x00, 0x03, 0x12, 0x10, 0x02, 0x40, 0x41},
	}
}
