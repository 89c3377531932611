package main

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/edgegate/edgegate/drivers/serial"
	"github.com/edgegate/edgegate/gateway/osp"
)

// The line tests run the sensors over a pty against the test gateway's OSP
// server behind a real drivers/serial.Link, which opens the pty's slave
// through -pty-link as gatewayd would.

// checkGoroutines fails the test if goroutines it started outlive it. Call it
// first, so that its cleanup runs last.
func checkGoroutines(t *testing.T) {
	t.Helper()
	base := runtime.NumGoroutine()
	t.Cleanup(func() {
		deadline := time.Now().Add(2 * time.Second)
		for runtime.NumGoroutine() > base {
			if time.Now().After(deadline) {
				buf := make([]byte, 1<<16)
				t.Errorf("%d goroutines left, %d before:\n%s", runtime.NumGoroutine(), base, buf[:runtime.Stack(buf, true)])
				return
			}
			time.Sleep(5 * time.Millisecond)
		}
	})
}

// newSerialGateway starts the test gateway with a serial link on path,
// which need not exist yet (the link retries it every 10 to 100 ms).
func newSerialGateway(t *testing.T, path string) (*testGateway, *serial.Link) {
	t.Helper()
	link := serial.New(serial.Config{Path: path}, serial.Options{BackoffMin: 10 * time.Millisecond, BackoffMax: 100 * time.Millisecond})
	g := newTestGatewayOn(t, 0, func(g *testGateway) {
		g.serve(func(ctx context.Context, srv *osp.Server) error { return link.Run(ctx, srv) })
	})
	return g, link
}

// lineOptions returns simulator options for n sensors on a new pty linked
// at path, with short timers.
func lineOptions(g *testGateway, path string, n, count int) options {
	o := defaults()
	o.n, o.count, o.rate, o.module = n, count, 0, 100
	o.secure, o.key = true, testKey
	o.admin, o.provision, o.verify = g.sock, true, true
	// Every packet of every window must fit on the line within the ACK
	// timeout, or the sensors retransmit what is still waiting for the
	// line (see lineWarning).
	o.window, o.ackTimeout, o.handshakeTimeout, o.silence, o.wait = 8, 500*time.Millisecond, 500*time.Millisecond, time.Second, 10*time.Second
	o.pty, o.ptyLink = true, path
	return o
}

func runLine(t *testing.T, o options) *result {
	t.Helper()
	if err := o.check(); err != nil {
		t.Fatal(err)
	}
	ln, err := openLine(&o)
	if err != nil {
		t.Skipf("no pty here: %v", err)
	}
	res, err := runOSP(context.Background(), target{line: ln}, o)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Lstat(o.ptyLink); o.ptyLink != "" && !os.IsNotExist(err) {
		t.Errorf("-pty-link left behind: %v", err)
	}
	return res
}

// checkAllAcked checks that every reading was acknowledged and is in the
// journal.
func checkAllAcked(t *testing.T, res *result, n, count int) {
	t.Helper()
	if res.sessions != n || res.sent != n*count || res.acked != n*count || len(res.failures) > 0 {
		t.Fatalf("sessions %d sent %d acked %d; want %d, %d, %d; failures %v", res.sessions, res.sent, res.acked, n, n*count, n*count, res.failures)
	}
	if !res.verified || res.lost != 0 || res.checkedAck != n*count {
		t.Errorf("verified %v: %d of %d acknowledged readings lost", res.verified, res.lost, res.checkedAck)
	}
}

// TestLineGarbageAndSplit runs five secure sensors over one pty, with
// garbage before one packet in ten and every packet written in pieces: the
// handshakes take turns, the gateway's framer resynchronises, and every
// acknowledged reading is in the journal.
func TestLineGarbageAndSplit(t *testing.T) {
	checkGoroutines(t)
	const n, count = 5, 150
	path := filepath.Join(t.TempDir(), "ttyOSP")
	g, link := newSerialGateway(t, path)
	o := lineOptions(g, path, n, count)
	o.garbage, o.split, o.dataTypes = 0.1, true, []uint16{10, 11}
	res := runLine(t, o)
	checkAllAcked(t, res, n, count)
	l := res.line
	if l.garbageRuns == 0 || l.splits < l.packetsOut*9/10 || l.writes <= l.packetsOut+l.garbageRuns {
		t.Errorf("line: %d garbage runs, %d packets split of %d, %d writes", l.garbageRuns, l.splits, l.packetsOut, l.writes)
	}
	if st := link.Stats(); st.DiscardedBytes == 0 || st.PacketsIn == 0 {
		t.Errorf("the gateway's link dropped no garbage: %+v", st)
	}
	if l.packetsIn == 0 || l.stray > 0 {
		t.Errorf("line: %d packets in, %d stray", l.packetsIn, l.stray)
	}
	if c := g.count(osp.EventSessionOpened); c < n {
		t.Errorf("gateway opened %d sessions, want %d", c, n)
	}
}

// TestLineHangup hangs the pty up twice while the sensors send: the
// gateway's link finds the new pair through the link and reopens it, and the
// sessions carry on.
func TestLineHangup(t *testing.T) {
	checkGoroutines(t)
	const n, count = 3, 200
	path := filepath.Join(t.TempDir(), "ttyOSP")
	g, link := newSerialGateway(t, path)
	o := lineOptions(g, path, n, count)
	o.rate, o.hangupAfter = 150, 500*time.Millisecond
	res := runLine(t, o)
	checkAllAcked(t, res, n, count)
	if res.line.hangups < 2 || res.line.reopens != res.line.hangups {
		t.Errorf("%d hangups, %d reopens; want 2 or more, and a reopen each", res.line.hangups, res.line.reopens)
	}
	if st := link.Stats(); st.Reopens < 2 {
		t.Errorf("the gateway's link reopened %d times, want 2 or more", st.Reopens)
	}
}

// ptyBridge joins two pty pairs master to master, as socat with two raw
// ptys does: what is written to one slave is read from the other, like two
// serial ports joined by a null-modem cable. It returns the slaves' paths.
func ptyBridge(t *testing.T) (a, b string) {
	t.Helper()
	ma, sa, err := openPTY()
	if err != nil {
		t.Skipf("no pty here: %v", err)
	}
	mb, sb, err := openPTY()
	if err != nil {
		ma.Close()
		sa.Close()
		t.Skipf("no pty here: %v", err)
	}
	done := make(chan struct{}, 2)
	go func() { io.Copy(mb, ma); done <- struct{}{} }()
	go func() { io.Copy(ma, mb); done <- struct{}{} }()
	t.Cleanup(func() {
		ma.Close()
		mb.Close()
		<-done
		<-done
		sa.Close()
		sb.Close()
	})
	return sa.Name(), sb.Name()
}

// TestLineSerialPath runs the sensors with -serial on one end of a pty
// bridge (opened with go.bug.st/serial, as a real tty) and the gateway's link
// on the other, and hangs up ospsim's end twice: ospsim closes its port and
// opens it again, and the sessions carry on.
func TestLineSerialPath(t *testing.T) {
	checkGoroutines(t)
	const n, count = 3, 150
	gwEnd, simEnd := ptyBridge(t)
	g, _ := newSerialGateway(t, gwEnd)
	o := lineOptions(g, "", n, count)
	o.pty, o.serial = false, simEnd
	o.rate, o.hangupAfter = 150, 400*time.Millisecond
	res := runLine(t, o)
	checkAllAcked(t, res, n, count)
	if res.line.hangups < 2 || res.line.reopens != res.line.hangups || res.line.name != simEnd {
		t.Errorf("line %s: %d hangups, %d reopens; want 2 or more, and a reopen each", res.line.name, res.line.hangups, res.line.reopens)
	}
}

// TestLineBurstCLI runs the command line with -burst and garbage, and checks
// the path it prints and its JSON line. (It does not count goroutines: run's
// signal handling starts os/signal's own, for good.)
func TestLineBurstCLI(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "ttyOSP")
	g, _ := newSerialGateway(t, path)
	var stdout, stderr bytes.Buffer
	err := run([]string{"-pty", "-pty-link", path, "-burst", "4", "-garbage", "0.1", "-admin", g.sock, "-provision", "-verify",
		"-n", "4", "-count", "100", "-rate", "0", "-secure", "-key", hex.EncodeToString(testKey), "-module", "100",
		"-window", "8", "-ack-timeout", "500ms", "-handshake-timeout", "500ms", "-json"}, &stdout, &stderr)
	if err != nil {
		t.Fatalf("%v\nstdout:\n%s\nstderr:\n%s", err, stdout.String(), stderr.String())
	}
	if !strings.Contains(stderr.String(), "serial: "+path+"\n") {
		t.Errorf("stderr does not name the path:\n%s", stderr.String())
	}
	lines := strings.Split(strings.TrimSpace(stdout.String()), "\n")
	var js map[string]float64
	_ = json.Unmarshal([]byte(lines[len(lines)-1]), &js) // the numbers only
	if js["acked"] != 400 || js["lost"] != 0 || js["bursts"] == 0 || js["line_writes"] >= js["line_packets_out"] {
		t.Errorf("want 400 acknowledged, none lost, packets written in bursts:\n%s", stdout.String())
	}
}

// TestLineOptions checks the line options' combinations.
func TestLineOptions(t *testing.T) {
	for _, tc := range []struct {
		args []string
		err  string
	}{
		{[]string{"-serial", "/dev/null", "-pty"}, "exclude each other"},
		{[]string{"-garbage", "0.1"}, "need -serial or -pty"},
		{[]string{"-split"}, "need -serial or -pty"},
		{[]string{"-pty", "-garbage", "2"}, "-garbage must be 0..1"},
		{[]string{"-pty", "-burst", "-1"}, "invalid -burst"},
		{[]string{"-pty", "-hangup-after", "1s"}, "needs -pty-link"},
		{[]string{"-serial", "/dev/null", "-pty-link", "x"}, "goes with -pty"},
		{[]string{"-pty", "-echo", "127.0.0.1:1"}, "UDP only"},
		{[]string{"-serial", "/nonexistent/tty"}, "/nonexistent/tty"},
	} {
		err := run(tc.args, &bytes.Buffer{}, &bytes.Buffer{})
		if err == nil || !strings.Contains(err.Error(), tc.err) {
			t.Errorf("%v: error %v, want %q", tc.args, err, tc.err)
		}
	}
}
