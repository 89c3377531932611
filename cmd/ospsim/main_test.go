package main

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"net"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/edgegate/edgegate/gateway"
	"github.com/edgegate/edgegate/gateway/osp"
	"github.com/edgegate/edgegate/scripts/udpecho/echo"
	"github.com/edgegate/edgegate/store"
)

// TestSimulatorAgainstGateway runs secure sensors with 10% packet loss
// against an in-process gateway and checks that every acknowledged reading
// is in the journal and that loss was recovered by RESEND or retransmission.
func TestSimulatorAgainstGateway(t *testing.T) {
	cfgText := "[osp.udp]\nlisten = \"127.0.0.1:0\"\n[osp]\nresend_timeout = \"200ms\"\n"
	for m := 100; m < 104; m++ {
		cfgText += "[[device]]\ntype = 1\nmodule = " + strconv.Itoa(m) + "\nsecure = true\nkey = \"000102030405060708090a0b0c0d0e0f\"\n"
	}
	cfg, err := gateway.ParseConfig(strings.NewReader(cfgText))
	if err != nil {
		t.Fatal(err)
	}
	data := t.TempDir()
	g, err := gateway.New(cfg, data, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- g.Run(ctx) }()
	<-g.Ready()

	o := defaults()
	o.n, o.count, o.rate, o.secure, o.key, o.module, o.loss = 4, 150, 300, true, testKey, 100, 0.1
	o.ackTimeout, o.handshakeTimeout, o.wait = 300*time.Millisecond, 300*time.Millisecond, 20*time.Second
	res := simulate(context.Background(), target{udp: g.UDPAddr().(*net.UDPAddr)}, o)
	if res.sessions != 4 || res.sent != 600 || res.acked != 600 {
		t.Fatalf("sessions %d sent %d acked %d; failures %v", res.sessions, res.sent, res.acked, res.failures)
	}
	if res.resends == 0 {
		t.Error("10% loss caused no RESEND")
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	db, err := store.Open(data+"/"+gateway.DBFile, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	rds, err := db.Readings(0, 10000)
	if err != nil {
		t.Fatal(err)
	}
	distinct := map[string]bool{}
	for _, r := range rds {
		distinct[r.Device.String()+string(r.Payload[:8])] = true
	}
	if len(distinct) != 600 {
		t.Errorf("%d distinct readings journaled, want 600 (%d records)", len(distinct), len(rds))
	}
}

// runCLI runs ospsim's command line and returns its stdout and the JSON
// line that ends it.
func runCLI(t *testing.T, args ...string) (string, map[string]float64, error) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	err := run(append(args, "-json"), &stdout, &stderr)
	out := stdout.String()
	lines := strings.Split(strings.TrimSpace(out), "\n")
	var js map[string]any
	if jerr := json.Unmarshal([]byte(lines[len(lines)-1]), &js); jerr != nil {
		t.Fatalf("last line is not JSON: %v\nstdout:\n%s\nstderr:\n%s", jerr, out, stderr.String())
	}
	nums := map[string]float64{}
	for k, v := range js {
		if f, ok := v.(float64); ok {
			nums[k] = f
		}
	}
	return out, nums, err
}

// TestVerify provisions the sensors through the admin API, runs them with
// a window of 8 unacknowledged readings, and finds every acknowledged
// reading in the journal.
func TestVerify(t *testing.T) {
	g := newTestGateway(t, 0)
	o := g.options(4, 200)
	o.provision, o.verify, o.window, o.dataTypes, o.payload = true, true, 8, []uint16{10, 11}, 20
	res, err := runOSP(context.Background(), target{udp: g.addr}, o)
	if err != nil {
		t.Fatal(err)
	}
	if res.sessions != 4 || res.acked != 800 || len(res.failures) > 0 {
		t.Fatalf("sessions %d acked %d failures %v", res.sessions, res.acked, res.failures)
	}
	if !res.verified || res.lost != 0 || res.checkedAck != 800 {
		t.Errorf("verified %v: %d of %d acknowledged readings lost", res.verified, res.lost, res.checkedAck)
	}
	// The link's two readers can reorder a sensor's packets: the gateway
	// then asks for a RESEND of a packet it gets anyway, and journals it
	// twice.
	if !res.store || res.appends < 800 || res.appends > 800+uint64(res.resends+res.retransmits) || res.fsyncs != res.appends/100 {
		t.Errorf("store counters over the run: %d appends, %d fsyncs; want 800 (+%d resent), 8",
			res.appends, res.fsyncs, res.resends+res.retransmits)
	}
	types := map[uint16]int{}
	modules := map[uint32]bool{}
	seen := map[string]bool{}
	for _, r := range g.journal {
		if k := r.Device.String() + string(r.Payload[:8]); !seen[k] {
			seen[k] = true
			types[r.DataType]++
		}
		if len(r.Payload) != 20 || r.Payload[13] != byte(r.Device.Module) {
			t.Fatalf("payload %x of %s does not end its header with the ModuleID", r.Payload, r.Device)
		}
		modules[r.Device.Module] = true
	}
	if types[10] != 400 || types[11] != 400 || len(modules) != 4 {
		t.Errorf("DataTypes %v over modules %v; want 400 each of 10 and 11 round-robin, 4 modules", types, modules)
	}
}

// TestVerifyCatchesDroppedReadings runs the command line against a gateway
// that acknowledges every reading but stores only nine in ten.
func TestVerifyCatchesDroppedReadings(t *testing.T) {
	g := newTestGateway(t, 10)
	out, js, err := runCLI(t, "-gateway", g.addr.String(), "-admin", g.sock, "-provision", "-verify",
		"-n", "2", "-count", "100", "-rate", "0", "-secure", "-key", hex.EncodeToString(testKey), "-module", "100")
	if err == nil || !strings.Contains(err.Error(), "20 acknowledged readings") {
		t.Errorf("exit error %v, want 20 acknowledged readings missing", err)
	}
	if !strings.Contains(out, "readings lost (acknowledged but absent): 20\n") || js["lost"] != 20 || js["acked"] != 200 {
		t.Errorf("output:\n%s", out)
	}
}

// TestReconnectAfterRestart restarts the gateway (sessions forgotten, the
// port closed for 300 ms) in the middle of a run: the sensors notice the
// silence, open new sessions, send their unacknowledged readings again, and
// every acknowledged reading is in the journal.
func TestReconnectAfterRestart(t *testing.T) {
	g := newTestGateway(t, 0)
	o := g.options(3, 300)
	o.provision, o.verify, o.rate = true, true, 250
	go func() {
		for g.journalLen() < 150 {
			time.Sleep(10 * time.Millisecond)
		}
		g.restart(300 * time.Millisecond)
	}()
	res, err := runOSP(context.Background(), target{udp: g.addr}, o)
	if err != nil {
		t.Fatal(err)
	}
	if res.sessions != 3 || res.sent != 900 || res.acked != 900 || len(res.failures) > 0 {
		t.Fatalf("sessions %d sent %d acked %d failures %v", res.sessions, res.sent, res.acked, res.failures)
	}
	if res.reconnects < 3 || g.count(osp.EventSessionOpened) < 6 {
		t.Errorf("%d reconnects, %d sessions opened; want every sensor reconnected", res.reconnects, g.count(osp.EventSessionOpened))
	}
	if !res.verified || res.lost != 0 {
		t.Errorf("%d acknowledged readings lost", res.lost)
	}
	if res.store {
		t.Error("store counters reported across a restart")
	}
}

// TestPauseResume pauses every session after 15 readings for longer than
// -silence: the gateway sees the pause and the resumption by the next
// DATA, nobody reconnects, and every reading is acknowledged.
func TestPauseResume(t *testing.T) {
	g := newTestGateway(t, 0)
	o := g.options(2, 30)
	o.provision, o.verify, o.pauseEvery, o.pause = true, true, 15, 700*time.Millisecond
	res, err := runOSP(context.Background(), target{udp: g.addr}, o)
	if err != nil {
		t.Fatal(err)
	}
	if res.sessions != 2 || res.acked != 60 || res.lost != 0 || len(res.failures) > 0 {
		t.Fatalf("sessions %d acked %d lost %d failures %v", res.sessions, res.acked, res.lost, res.failures)
	}
	if res.pauses != 2 || res.reconnects != 0 {
		t.Errorf("%d pauses, %d reconnects; want 2 and 0", res.pauses, res.reconnects)
	}
	if p, r := g.count(osp.EventSessionPaused), g.count(osp.EventSessionResumed); p != 2 || r != 2 {
		t.Errorf("gateway saw %d pauses and %d resumptions, want 2 each", p, r)
	}
	if res.elapsed < o.pause {
		t.Errorf("load phase took %v, shorter than the pause", res.elapsed)
	}
}

// TestHold opens sessions without sending, holds them and closes them.
func TestHold(t *testing.T) {
	g := newTestGateway(t, 0)
	o := g.options(20, 0)
	o.provision, o.hold = true, 300*time.Millisecond
	start := time.Now()
	res, err := runOSP(context.Background(), target{udp: g.addr}, o)
	if err != nil {
		t.Fatal(err)
	}
	if res.sessions != 20 || res.sent != 0 || res.handshakesPerSec() <= 0 {
		t.Fatalf("sessions %d sent %d handshakes/s %.0f", res.sessions, res.sent, res.handshakesPerSec())
	}
	if time.Since(start) < o.hold {
		t.Errorf("run took %v, less than -hold", time.Since(start))
	}
	// The terminating CONNECTs are on their way.
	for deadline := time.Now().Add(2 * time.Second); g.count(osp.EventSessionClosed) < 20 && time.Now().Before(deadline); {
		time.Sleep(10 * time.Millisecond)
	}
	if c := g.count(osp.EventSessionClosed); c != 20 {
		t.Errorf("%d sessions closed, want 20", c)
	}
}

// sizeConn records the sizes of the datagrams an echo server reads.
type sizeConn struct {
	net.PacketConn
	mu    sync.Mutex
	sizes map[int]int
}

func (c *sizeConn) ReadFrom(b []byte) (int, net.Addr, error) {
	n, a, err := c.PacketConn.ReadFrom(b)
	if err == nil {
		c.mu.Lock()
		c.sizes[n]++
		c.mu.Unlock()
	}
	return n, a, err
}

// serveEcho runs scripts/udpecho's server on pc until the test ends.
func serveEcho(t *testing.T, pc net.PacketConn) {
	srv := echo.New(pc, 2)
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-served; err != nil {
			t.Error(err)
		}
	})
}

// TestEcho drives scripts/udpecho's server with datagrams of the size of a
// secure DATA packet with a 32-byte payload.
func TestEcho(t *testing.T) {
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	sc := &sizeConn{PacketConn: pc, sizes: map[int]int{}}
	serveEcho(t, sc)

	// The size of a real packet: a secure DATA with AckReq, sealed.
	ciph, err := osp.NewCipher(testKey, 0)
	if err != nil {
		t.Fatal(err)
	}
	d := osp.Data{MessageID: 7, DataType: 10, Payload: make([]byte, 32)}
	var nonce osp.Nonce
	pkt, err := ciph.SealPacket(nil, &nonce, 0x1234, 2, osp.TypeData, osp.FlagAckReq, d.AppendBody(nil))
	if err != nil {
		t.Fatal(err)
	}

	out, js, err := runCLI(t, "-echo", pc.LocalAddr().String(), "-n", "4", "-window", "4", "-count", "500")
	if err != nil {
		t.Fatal(err)
	}
	if js["echoed"] < 2000 || js["echo_rps"] <= 0 || js["packet_bytes"] != float64(len(pkt)) || js["window"] != 4 {
		t.Errorf("want 2000 answers to %d-byte requests:\n%s", len(pkt), out)
	}
	sc.mu.Lock()
	defer sc.mu.Unlock()
	if len(sc.sizes) != 1 || sc.sizes[len(pkt)] < 2000 {
		t.Errorf("server read datagrams of sizes %v, want only %d bytes", sc.sizes, len(pkt))
	}
}

// TestEchoPaced checks -echo with -rate: each worker sends that many
// requests a second, so the run's rate is workers × rate, not the maximum,
// and -count still ends it.
func TestEchoPaced(t *testing.T) {
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	serveEcho(t, pc)

	out, js, err := runCLI(t, "-echo", pc.LocalAddr().String(), "-n", "4", "-window", "4", "-rate", "200",
		"-count", "1000000", "-duration", "1s")
	if err != nil {
		t.Fatal(err)
	}
	// 4 workers × 200/s for 1 s: 800 (a loaded machine's ticker drops some).
	if js["echoed"] < 400 || js["echoed"] > 880 || js["echo_rps"] > 1000 || js["p99_ms"] <= 0 {
		t.Errorf("want about 800 answers at about 800/s:\n%s", out)
	}

	out, js, err = runCLI(t, "-echo", pc.LocalAddr().String(), "-n", "2", "-window", "4", "-rate", "500", "-count", "50")
	if err != nil {
		t.Fatal(err)
	}
	if js["echoed"] != 100 || js["sent"] != 100 {
		t.Errorf("want -count 50 to end each worker after 50 answers:\n%s", out)
	}
}

// TestAckShareShortPayload sends 4-byte payloads (too short for the
// counter) with AckReq on every other packet: every packet counts as sent,
// half are acknowledged, and their latency is still measured.
func TestAckShareShortPayload(t *testing.T) {
	g := newTestGateway(t, 0)
	o := g.options(2, 40)
	o.provision, o.payload, o.ackShare = true, 4, 0.5
	res, err := runOSP(context.Background(), target{udp: g.addr}, o)
	if err != nil {
		t.Fatal(err)
	}
	if res.sent != 80 || res.ackReq != 40 || res.acked != 40 || len(res.latencies) != 40 {
		t.Fatalf("sent %d, %d with AckReq, %d acknowledged, %d latencies; want 80, 40, 40, 40",
			res.sent, res.ackReq, res.acked, len(res.latencies))
	}
	if n := g.journalLen(); n < 80 {
		t.Errorf("%d readings journaled, want 80", n)
	}
}
