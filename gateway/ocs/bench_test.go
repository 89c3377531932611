package ocs

import (
	"context"
	"crypto/x509"
	"encoding/binary"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/edgegate/edgegate/store"
	"github.com/edgegate/edgegate/store/storetest"
)

// fillJournal appends n readings of 16 bytes round-robin over devs
// devices, without waiting for each commit.
func fillJournal(tb testing.TB, db *store.DB, n, devs int) {
	tb.Helper()
	var wg sync.WaitGroup
	var mu sync.Mutex
	var firstErr error
	wg.Add(n)
	for i := range n {
		p := binary.BigEndian.AppendUint64(make([]byte, 0, 16), uint64(i))
		p = append(p, 0x08, 0x34, 0x01, 0xf4, 90, 0, 0, 0)
		db.AppendAsync(store.Reading{Device: store.DeviceID{Type: 1, Module: uint32(1 + i%devs)}, SID: 1,
			MessageID: uint8(i), DataType: 10, Flags: flagAckReq, Payload: p, Link: "udp:127.0.0.1:40000", Authenticated: true},
			func(_ uint64, err error) {
				if err != nil {
					mu.Lock()
					firstErr = err
					mu.Unlock()
				}
				wg.Done()
			})
	}
	wg.Wait()
	if firstErr != nil {
		tb.Fatal(firstErr)
	}
}

// cpuTime is the process's user+system CPU time.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// drainRun is one timed drain: the journal's readings forwarded from the
// cursor to the last one.
type drainRun struct {
	readings      int
	wall, cpu     time.Duration
	posts         uint64
	batches       uint64
	lastBatchSize int64
}

// drain forwards everything db's journal holds to the OCS at c and waits
// until the cursor reaches the end.
func drain(tb testing.TB, db *store.DB, up Uploader, o ForwarderOptions) drainRun {
	tb.Helper()
	_, _, last, _, err := db.JournalStats()
	if err != nil {
		tb.Fatal(err)
	}
	o.Upstream, o.Journal, o.KV, o.Binding, o.Gateway = up, db, db.KV("ocs"), testBinding{}, testGW
	if o.Interval == 0 {
		o.Interval = time.Millisecond
	}
	o.Log = slog.New(slog.DiscardHandler)
	f, err := NewForwarder(o)
	if err != nil {
		tb.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	cpu0, t0 := cpuTime(), time.Now()
	go func() {
		defer close(done)
		_ = f.Run(ctx)
	}()
	for {
		if c, _ := db.Cursor("ocs"); c >= last {
			break
		}
		time.Sleep(time.Millisecond)
	}
	r := drainRun{readings: int(last), wall: time.Since(t0), cpu: cpuTime() - cpu0}
	cancel()
	<-done
	s := f.Stats()
	r.posts, r.batches, r.lastBatchSize = s.Posts, s.Batches, s.BatchSize
	return r
}

// benchOCS serves the contract from a fresh store over mutual TLS on
// loopback (what ocsd does), or, with null, a handler that reads the body
// and answers 200 (the forwarder's own cost).
func benchOCS(tb testing.TB, null bool) *Client {
	tb.Helper()
	pki := newPKI(tb)
	var h http.Handler
	if null {
		h = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _, _ = io.Copy(io.Discard, r.Body) })
	} else {
		st, err := OpenStore(filepath.Join(tb.TempDir(), "ocsd.db"))
		if err != nil {
			tb.Fatal(err)
		}
		tb.Cleanup(func() { st.Close() })
		h = NewServer(st, ServerOptions{})
	}
	hs := serveTLS(tb, h, pki.server, Trust{Certs: []*x509.Certificate{pki.client.Leaf}})
	c, err := Dial(hs.URL, ClientOptions{Cert: pki.client, Servers: Trust{Certs: []*x509.Certificate{pki.server.Leaf}}, MaxConns: 16})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(c.Close)
	return c
}

// BenchmarkForward measures the forwarding rate from the journal to an OCS
// over mutual TLS on loopback: the contract's server on its own bbolt file
// (ocs), against a server that discards the body (null: the baseline of
// the same run). Readings come from 8 devices; the batch size is fixed.
// CPU is the whole process's: forwarder and server.
func BenchmarkForward(b *testing.B) {
	for _, c := range []struct {
		name  string
		null  bool
		batch int
	}{{"null/batch=512", true, 512}, {"null/batch=2048", true, 2048}, {"ocs/batch=512", false, 512}, {"ocs/batch=128", false, 128}, {"ocs/batch=2048", false, 2048}} {
		b.Run(c.name, func(b *testing.B) {
			db := storetest.MustOpen(b, store.Options{MaxBatch: 1024, Logger: slog.New(slog.DiscardHandler)})
			fillJournal(b, db.DB, max(b.N, 1), 8)
			up := benchOCS(b, c.null)
			b.ResetTimer()
			r := drain(b, db.DB, up, ForwarderOptions{BatchSize: c.batch, MinBatch: c.batch})
			b.StopTimer()
			b.ReportMetric(float64(r.readings)/r.wall.Seconds(), "readings/s")
			b.ReportMetric(float64(r.cpu.Microseconds())/float64(r.readings), "cpu-µs/reading")
			b.ReportMetric(float64(r.readings)/float64(max(r.posts, 1)), "readings/post")
		})
	}
}

// TestDrainBacklog measures how long a backlog of EDGEGATE_DRAIN_READINGS
// readings (1000000 in docs/benchmarks.md; skipped when unset) takes to
// drain to the contract's server over mutual TLS, with the forwarder's
// defaults (adaptive batches up to 2048, 4 in flight) from 32 devices.
// scripts/bench-upstream.sh runs it.
func TestDrainBacklog(t *testing.T) {
	n, _ := strconv.Atoi(os.Getenv("EDGEGATE_DRAIN_READINGS"))
	if n <= 0 {
		t.Skip("set EDGEGATE_DRAIN_READINGS to run")
	}
	batch := 0 // the default
	if v, err := strconv.Atoi(os.Getenv("EDGEGATE_DRAIN_BATCH")); err == nil && v > 0 {
		batch = v
	}
	parallel, _ := strconv.Atoi(os.Getenv("EDGEGATE_DRAIN_PARALLEL"))
	db := storetest.MustOpen(t, store.Options{MaxBatch: 1024, Logger: slog.New(slog.DiscardHandler)})
	t0 := time.Now()
	fillJournal(t, db.DB, n, 32)
	fill := time.Since(t0)
	up := benchOCS(t, false)
	r := drain(t, db.DB, up, ForwarderOptions{BatchSize: batch, Parallel: parallel})
	fmt.Printf("RESULT drain_readings=%d\n", r.readings)
	fmt.Printf("RESULT drain_fill_s=%.1f\n", fill.Seconds())
	fmt.Printf("RESULT drain_s=%.1f\n", r.wall.Seconds())
	fmt.Printf("RESULT drain_rps=%.0f\n", float64(r.readings)/r.wall.Seconds())
	fmt.Printf("RESULT drain_cpu_s=%.1f\n", r.cpu.Seconds())
	fmt.Printf("RESULT drain_cpu_cores=%.2f\n", r.cpu.Seconds()/r.wall.Seconds())
	fmt.Printf("RESULT drain_posts=%d\n", r.posts)
	fmt.Printf("RESULT drain_batches=%d\n", r.batches)
	fmt.Printf("RESULT drain_batch_size_end=%d\n", r.lastBatchSize)
}
