package steward

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/edgegate/edgegate/gateway/things"
)

// benchSize is the number of things and the load's duration of
// BenchmarkThousandThings: 1,000 and 10 s, or STEWARD_BENCH_THINGS and
// STEWARD_BENCH_SECONDS.
func benchSize() (n int, d time.Duration) {
	n, d = 1000, 10*time.Second
	if v, err := strconv.Atoi(os.Getenv("STEWARD_BENCH_THINGS")); err == nil && v > 0 {
		n = v
	}
	if v, err := strconv.Atoi(os.Getenv("STEWARD_BENCH_SECONDS")); err == nil && v > 0 {
		d = time.Duration(v) * time.Second
	}
	return n, d
}

// load is one run's figures.
type load struct {
	updates  uint64
	cpu      float64 // cores (process CPU time / wall time)
	rssMB    float64
	lat      []time.Duration
	errors   uint64
	duration time.Duration
}

func (l load) pct(p float64) time.Duration {
	if len(l.lat) == 0 {
		return 0
	}
	slices.Sort(l.lat)
	return l.lat[min(len(l.lat)-1, int(float64(len(l.lat))*p))]
}

// BenchmarkThousandThings connects 1,000 native things over TLS, each
// sending an update a second, and reports the process's CPU (cores) and
// RSS during the load and the update-to-hub latency, against a baseline
// measured in the same run: the same clients against a bare TLS WebSocket
// server that answers every frame with a canned success.
//
//	go test -run '^$' -bench ThousandThings -benchtime 1x ./gateway/steward/
func BenchmarkThousandThings(b *testing.B) {
	n, d := benchSize()
	for range b.N {
		base := runBaseline(b, n, d)
		st := runSteward(b, n, d)
		b.ReportMetric(float64(st.updates)/st.duration.Seconds(), "updates/s")
		b.ReportMetric(st.cpu, "cores")
		b.ReportMetric(st.cpu/max(base.cpu, 1e-9), "cpu-x-baseline")
		b.ReportMetric(st.rssMB, "rss-MB")
		b.ReportMetric(st.rssMB-base.rssMB, "rss-MB-over-baseline")
		b.ReportMetric(float64(st.pct(0.5).Microseconds())/1000, "p50-ms")
		b.ReportMetric(float64(st.pct(0.99).Microseconds())/1000, "p99-ms")
		b.ReportMetric(float64(st.pct(1).Microseconds())/1000, "max-ms")
		b.Logf("baseline: %.0f updates/s, %.3f cores, %.1f MB RSS; steward: %.0f updates/s, %.3f cores, %.1f MB RSS, latency p50 %v p99 %v max %v, %d errors, %d hub events seen",
			float64(base.updates)/base.duration.Seconds(), base.cpu, base.rssMB,
			float64(st.updates)/st.duration.Seconds(), st.cpu, st.rssMB, st.pct(0.5), st.pct(0.99), st.pct(1), st.errors, len(st.lat))
	}
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func rssMB() float64 {
	b, _ := os.ReadFile("/proc/self/status")
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "VmRSS:" {
			kb, _ := strconv.ParseFloat(f[1], 64)
			return kb / 1024
		}
	}
	return 0
}

// drive runs n clients (connect sets each up) sending one update a second
// for d, and measures the process while they do.
func drive(b *testing.B, n int, d time.Duration, connect func(i int) (*websocket.Conn, string)) load {
	conns := make([]*websocket.Conn, n)
	sids := make([]string, n)
	var wg sync.WaitGroup
	sem := make(chan struct{}, 32)
	for i := range n {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			conns[i], sids[i] = connect(i)
		}()
	}
	wg.Wait()
	var updates, errs atomic.Uint64
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	c0, t0 := cpuTime(), time.Now()
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := conns[i]
			// Spread the clients over the second.
			time.Sleep(time.Duration(i) * time.Second / time.Duration(n))
			tk := time.NewTicker(time.Second)
			defer tk.Stop()
			for seq := 1; ; seq++ {
				msg := fmt.Sprintf(`{"path":"/api/v1/update","requestID":%d,"things":{%q:{"info":{"seq":%d,"sent":%d}}}}`, seq, sids[i], seq, time.Now().UnixNano())
				if err := c.Write(ctx, websocket.MessageText, []byte(msg)); err != nil {
					return
				}
				if _, _, err := c.Read(ctx); err != nil {
					if ctx.Err() == nil {
						errs.Add(1)
					}
					return
				}
				updates.Add(1)
				select {
				case <-ctx.Done():
					return
				case <-tk.C:
				}
			}
		}()
	}
	<-ctx.Done()
	wall := time.Since(t0)
	cpu := cpuTime() - c0
	rss := rssMB()
	wg.Wait()
	for _, c := range conns {
		if c != nil {
			c.CloseNow()
		}
	}
	return load{updates: updates.Load(), cpu: cpu.Seconds() / wall.Seconds(), rssMB: rss, errors: errs.Load(), duration: wall}
}

func benchDial(b *testing.B, url string, pool *x509.CertPool) *websocket.Conn {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, _, err := websocket.Dial(ctx, url, dialOptions(pool))
	if err != nil {
		b.Fatalf("dial: %v", err)
	}
	return c
}

// runBaseline drives a TLS WebSocket server that decodes each frame and
// answers with a canned success: the transport's floor.
func runBaseline(b *testing.B, n int, d time.Duration) load {
	cert := testCert(b)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		c, err := websocket.Accept(w, req, nil)
		if err != nil {
			return
		}
		defer c.CloseNow()
		for {
			_, f, err := c.Read(context.Background())
			if err != nil {
				return
			}
			m, err := Decode(f)
			if err != nil {
				return
			}
			_ = c.Write(context.Background(), websocket.MessageText, []byte(`{"requestID":"`+m.RequestID+`","things":{"x":{"status":"success","success":true}}}`))
		}
	}), TLSConfig: &tls.Config{Certificates: []tls.Certificate{cert}}}
	go func() { _ = srv.ServeTLS(ln, "", "") }()
	defer srv.Close()
	pool := x509.NewCertPool()
	pool.AddCert(cert.Leaf)
	url := "wss://" + ln.Addr().String() + "/native"
	return drive(b, n, d, func(i int) (*websocket.Conn, string) { return benchDial(b, url, pool), fmt.Sprintf("%08d", i) })
}

// runSteward drives the steward: each client says hello, registers its
// thing, then updates it; a hub subscriber measures the latency from each
// update's send to its change in the hub.
func runSteward(b *testing.B, n int, d time.Duration) load {
	r := newBenchRig(b, n)
	defer r.stop()
	pool := x509.NewCertPool()
	pool.AddCert(r.cert.Leaf)
	url := "wss://" + r.addr + "/native"
	var mu sync.Mutex
	var lat []time.Duration
	sctx, scancel := context.WithCancel(context.Background())
	sub := r.hub.Subscribe(sctx, 1<<16)
	subDone := make(chan struct{})
	go func() {
		defer close(subDone)
		for ev := range sub.Events() {
			if ev.Type != things.ThingChanged {
				continue
			}
			for _, pv := range ev.Changed {
				if pv.Name == "sent" {
					if f, ok := pv.Value.AsFloat(); ok {
						mu.Lock()
						lat = append(lat, time.Since(time.Unix(0, int64(f))))
						mu.Unlock()
					}
				}
			}
		}
	}()
	res := drive(b, n, d, func(i int) (*websocket.Conn, string) {
		c := benchDial(b, url, pool)
		ctx := context.Background()
		call := func(s string) string {
			if err := c.Write(ctx, websocket.MessageText, []byte(s)); err != nil {
				b.Fatal(err)
			}
			_, f, err := c.Read(ctx)
			if err != nil {
				b.Fatal(err)
			}
			return string(f)
		}
		call(fmt.Sprintf(`{"path":"/api/v1/hello","requestID":"h","uuid":"bench-%d","passcode":"p"}`, i))
		call(`{"path":"/api/v1/prototype","requestID":"p","things":{"/device/sensor/bench/meter":{"properties":{"status":["ok"],"seq":"id","sent":"id"}}}}`)
		rep := call(fmt.Sprintf(`{"path":"/api/v1/register","requestID":"r","things":{"bench-udn-%d":{"prototype":"/device/sensor/bench/meter","name":"meter %d"}}}`, i, i))
		m, err := Decode([]byte(rep))
		if err != nil {
			b.Fatal(err)
		}
		list, _ := m.Entries("things")
		if len(list) != 1 {
			b.Fatalf("register: %s", rep)
		}
		sid, _ := list[0].String("thingID")
		if sid == "" {
			b.Fatalf("register: %s", rep)
		}
		return c, sid
	})
	scancel()
	<-subDone
	res.lat = lat
	if s := r.st.Stats(); s.Updates == 0 {
		b.Fatalf("no updates reached the steward: %+v", s)
	}
	return res
}
