package serial

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/edgegate/edgegate/gateway/osp"
)

// benchStream is a sensor line's traffic: mostly small secure DATA packets,
// some PINGREQs, a few larger readings and firmware requests.
func benchStream(tb testing.TB) (stream []byte, packets int) {
	for i := range 200 {
		var p []byte
		switch i % 10 {
		case 0, 1, 2, 3, 4:
			p = sealed(tb, 0x1234, uint16(i+1), osp.TypeData, osp.FlagAckReq, 32) // 8-byte tag, 24-byte reading
		case 5, 6:
			p = plain(tb, 0x1234, uint16(i+1), osp.TypePingReq, 0, 0, 0)
		case 7, 8:
			p = sealed(tb, 0x1234, uint16(i+1), osp.TypeData, osp.FlagAckReq, 200)
		case 9:
			p = sealed(tb, 0x1234, uint16(i+1), osp.TypeFirmware, 0, 30)
		}
		stream = append(stream, p...)
	}
	return stream, 200
}

// BenchmarkFramer measures bytes per second through the framer for reads of
// different sizes: 1 (a byte per interrupt), 16 (a UART FIFO), 64 (a USB
// full-speed packet), 4096 (a backlog), and for pure noise.
func BenchmarkFramer(b *testing.B) {
	stream, packets := benchStream(b)
	for _, chunk := range []int{1, 16, 64, 4096} {
		b.Run(fmt.Sprintf("read=%d", chunk), func(b *testing.B) {
			f := NewFramer(FramerConfig{MaxPacketSize: DefaultMaxPacketSize, IdleTimeout: time.Second})
			n := 0
			emit := func([]byte) { n++ }
			b.SetBytes(int64(len(stream)))
			b.ReportAllocs()
			for b.Loop() {
				for rest := stream; len(rest) > 0; {
					k := min(chunk, len(rest))
					f.Feed(t0, rest[:k], emit)
					rest = rest[k:]
				}
			}
			if n != packets*b.N {
				b.Fatalf("%d packets, want %d", n, packets*b.N)
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(n), "ns/packet")
		})
	}
	b.Run("noise", func(b *testing.B) {
		noise := make([]byte, 64<<10)
		r := rand.New(rand.NewPCG(1, 2))
		for i := range noise {
			noise[i] = byte(r.Uint32())
		}
		f := NewFramer(FramerConfig{MaxPacketSize: DefaultMaxPacketSize, IdleTimeout: time.Second})
		b.SetBytes(int64(len(noise)))
		b.ReportAllocs()
		for b.Loop() {
			for rest := noise; len(rest) > 0; rest = rest[64:] {
				f.Feed(t0, rest[:64], nil)
			}
			f.Flush(nil)
		}
	})
}

// BenchmarkLinkPTY runs packets through a Link over a pseudo-terminal, one
// write per packet as a sensor sends them, and reports the process CPU time
// per packet (both ends: an upper bound for the link) and what that is as a
// share of one core at 115200 baud line rate (8N1: 11520 bytes/s).
func BenchmarkLinkPTY(b *testing.B) {
	m, s, err := openPTY()
	if err != nil {
		b.Skip(err)
	}
	defer m.Close()
	defer s.Close()
	stream, packets := benchStream(b)
	var pkts [][]byte
	for rest := stream; len(rest) > 0; {
		h, _, _ := osp.ParseHeader(rest)
		pkts = append(pkts, rest[:h.Size])
		rest = rest[h.Size:]
	}
	var got atomic.Int64
	done := make(chan struct{}, 1)
	var want atomic.Int64
	h := handlerFunc(func([]byte, osp.Peer) error {
		if got.Add(1) == want.Load() {
			done <- struct{}{}
		}
		return nil
	})
	up := make(chan struct{}, 1)
	l := New(Config{Path: s.Name()}, Options{OnState: func(e Event) {
		if e.State == StateUp {
			up <- struct{}{}
		}
	}})
	ctx, cancel := context.WithCancel(context.Background())
	ran := make(chan error, 1)
	go func() { ran <- l.Run(ctx, h) }()
	defer func() { cancel(); <-ran }()
	<-up

	cpu0 := cpuTime()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		want.Store(int64((i + 1) * packets))
		for _, p := range pkts {
			if _, err := m.Write(p); err != nil {
				b.Fatal(err)
			}
		}
		<-done
	}
	b.StopTimer()
	n := float64(b.N * packets)
	cpuPerPacket := float64((cpuTime() - cpu0).Nanoseconds()) / n
	perSecond := 11520 / (float64(len(stream)) / float64(packets))
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/n, "ns/packet")
	b.ReportMetric(cpuPerPacket, "cpu-ns/packet")
	b.ReportMetric(100*cpuPerPacket*perSecond/1e9, "%cpu@115200")
}

type handlerFunc func([]byte, osp.Peer) error

func (f handlerFunc) Handle(p []byte, from osp.Peer) error { return f(p, from) }

func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
