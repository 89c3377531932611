//go:build unix

package josp

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/edgegate/edgegate/gateway/josp/wire"
	"github.com/edgegate/edgegate/gateway/things"
	"github.com/edgegate/edgegate/store"
	"github.com/edgegate/edgegate/store/storetest"
)

// BenchmarkUpdateFanout measures UPD_MSG fan-out: one thing updated at
// 1,000 updates per second, each update sent to 50 connected services
// over loopback TCP. Each op is one update. It reports the process's CPU
// (percent of one core: the endpoint, the hub and the 50 service readers,
// which share the process) and the latency from Hub.Update to the
// service's reading of the UPD_MSG (p50, p99, max, over every service's
// every update). The baseline "raw" sub-benchmark writes the same frames
// to 50 loopback connections from the publishing goroutine, with no JOSP,
// hub or queue at all: "josp" ÷ "raw" is what the endpoint adds to the
// system calls and the readers that any fan-out costs.
//
//	go test -run '^$' -bench UpdateFanout -benchtime 5s ./gateway/josp/
func BenchmarkUpdateFanout(b *testing.B) {
	const services, rate = 50, 1000
	b.Run("raw", func(b *testing.B) { benchFanout(b, services, rate, rawFanout) })
	b.Run("josp", func(b *testing.B) { benchFanout(b, services, rate, jospFanout) })
}

// fanout starts n services and returns a function that publishes update
// i, and a cleanup.
type fanout func(b *testing.B, n int, onFrame func(svc int, frame []byte)) (publish func(i int), stop func())

func benchFanout(b *testing.B, n, rate int, start fanout) {
	sent := make([]atomic.Int64, b.N)
	var mu sync.Mutex
	lat := make([]time.Duration, 0, n*b.N)
	var got atomic.Int64
	onFrame := func(_ int, f []byte) {
		now := time.Now().UnixNano()
		i := bytes.Index(f, []byte("new="))
		if i < 0 {
			return
		}
		j := bytes.IndexByte(f[i:], '.')
		v, err := strconv.Atoi(string(f[i+4 : i+j]))
		if err != nil || v < 0 || v >= len(sent) {
			return
		}
		d := time.Duration(now - sent[v].Load())
		mu.Lock()
		lat = append(lat, d)
		mu.Unlock()
		got.Add(1)
	}
	publish, stop := start(b, n, onFrame)
	defer stop()
	interval := time.Second / time.Duration(rate)
	cpu0, wall0 := cpuTime(), time.Now()
	b.ResetTimer()
	next := time.Now()
	for i := range b.N {
		if d := time.Until(next); d > 0 {
			time.Sleep(d)
		}
		next = next.Add(interval)
		sent[i].Store(time.Now().UnixNano())
		publish(i)
	}
	deadline := time.Now().Add(10 * time.Second)
	for got.Load() < int64(n*b.N) && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	b.StopTimer()
	cpu, wall := cpuTime()-cpu0, time.Since(wall0)
	if got.Load() != int64(n*b.N) {
		b.Fatalf("%d of %d updates received", got.Load(), n*b.N)
	}
	slices.Sort(lat)
	q := func(p float64) float64 { return float64(lat[int(p*float64(len(lat)-1))].Microseconds()) }
	b.ReportMetric(100*cpu.Seconds()/wall.Seconds(), "cpu-%")
	b.ReportMetric(q(0.5), "p50-µs")
	b.ReportMetric(q(0.99), "p99-µs")
	b.ReportMetric(float64(lat[len(lat)-1].Microseconds()), "max-µs")
	b.ReportMetric(float64(b.N)/wall.Seconds(), "updates/s")
}

// cpuTime returns the process's user and system CPU time.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// benchService reads frames from nc and hands them to onFrame.
func benchService(nc net.Conn, svc int, onFrame func(int, []byte), wg *sync.WaitGroup) {
	defer wg.Done()
	fr := wire.NewFrameReader(nc, 0)
	for {
		f, err := fr.Next()
		if err != nil {
			return
		}
		onFrame(svc, f)
	}
}

func jospFanout(b *testing.B, n int, onFrame func(int, []byte)) (func(int), func()) {
	db := storetest.MustOpen(b, store.Options{Logger: slog.New(slog.DiscardHandler)})
	hub := things.New(things.Options{})
	th := things.Thing{ID: "native:meter", Kind: things.KindNative, Name: "meter", Properties: []things.Property{{Name: "power", Type: things.TypeFloat}}}
	if err := hub.Register(th); err != nil {
		b.Fatal(err)
	}
	ep, err := New(Options{Hub: hub, History: db, KV: db.KV("josp"), Host: "127.0.0.1", Everyone: wire.PermState, SendQueue: 4096})
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- ep.Run(ctx) }()
	var addr string
	for deadline := time.Now().Add(5 * time.Second); addr == "" && time.Now().Before(deadline); time.Sleep(time.Millisecond) {
		if o, err := ep.Object(th.ID); err == nil {
			addr = o.Addr
		}
	}
	var wg sync.WaitGroup
	var conns []net.Conn
	for i := range n {
		nc, err := net.Dial("tcp", addr)
		if err != nil {
			b.Fatal(err)
		}
		fr := wire.NewFrameReader(nc, 0)
		if _, err := fr.ReadLine(64); err != nil {
			b.Fatal(err)
		}
		fmt.Fprintf(nc, "bench/user/%d\n##", i)
		for range 3 { // the presentation
			if _, err := fr.Next(); err != nil {
				b.Fatal(err)
			}
		}
		conns = append(conns, nc)
		wg.Add(1)
		go benchService(&replay{Conn: nc, fr: fr}, i, onFrame, &wg)
	}
	// Update 0 must change the value: start from -1.
	_ = hub.Update(th.ID, []things.PropertyValue{{Name: "power", Value: things.FloatValue(-1)}}, time.Time{})
	for ep.Stats().FramesOut < uint64(4*n) {
		time.Sleep(time.Millisecond)
	}
	publish := func(i int) {
		if err := hub.Update(th.ID, []things.PropertyValue{{Name: "power", Value: things.FloatValue(float64(i))}}, time.Time{}); err != nil {
			b.Fatal(err)
		}
	}
	return publish, func() {
		cancel()
		<-done
		for _, c := range conns {
			c.Close()
		}
		wg.Wait()
		hub.Close()
	}
}

// replay reads what a FrameReader already buffered before the
// connection: the benchmark's services hand their reader over.
type replay struct {
	net.Conn
	fr *wire.FrameReader
}

func (r *replay) Read(p []byte) (int, error) {
	if n := r.fr.Buffered(); n > 0 {
		b, _ := r.fr.ReadFull(min(n, len(p)))
		return copy(p, b), nil
	}
	return r.Conn.Read(p)
}

// rawFanout is the baseline: each update's frame formatted once and
// written to the 50 connections by the publishing goroutine, one write
// each, with nothing in between.
func rawFanout(b *testing.B, n int, onFrame func(int, []byte)) (func(int), func()) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	var wg sync.WaitGroup
	var servers, conns []net.Conn
	for i := range n {
		nc, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			b.Fatal(err)
		}
		sc, err := ln.Accept()
		if err != nil {
			b.Fatal(err)
		}
		servers = append(servers, sc)
		conns = append(conns, nc, sc)
		wg.Add(1)
		go benchService(nc, i, onFrame, &wg)
	}
	publish := func(i int) {
		m := wire.Update{Time: time.Now(), ObjID: "AAAAA-00000-00000", CompPath: "Properties>power", CmdType: wire.CmdRange,
			Payload: string(wire.AppendRangePayload(nil, float64(i), float64(i-1)))}
		f := wire.AppendFrame(nil, m.Append(nil))
		for _, sc := range servers {
			if _, err := sc.Write(f); err != nil {
				b.Fatal(err)
			}
		}
	}
	return publish, func() {
		for _, c := range conns {
			c.Close()
		}
		wg.Wait()
		ln.Close()
	}
}
