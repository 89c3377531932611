package main

import (
	"context"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/edgegate/edgegate/gateway/admin"
)

type fakeHealth struct {
	ready chan struct{}
	ok    atomic.Bool
}

func (f *fakeHealth) Ready() <-chan struct{} { return f.ready }
func (f *fakeHealth) Health() admin.Health {
	return admin.Health{OK: f.ok.Load(), Checks: []admin.Check{{Name: "loops", OK: f.ok.Load(), Detail: "tick 11s ago"}}}
}

type recorder struct {
	mu     sync.Mutex
	states []string
}

func (r *recorder) send(s string) error {
	r.mu.Lock()
	r.states = append(r.states, s)
	r.mu.Unlock()
	return nil
}

func (r *recorder) count(prefix string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, s := range r.states {
		if strings.HasPrefix(s, prefix) {
			n++
		}
	}
	return n
}

// TestWatchdogOnlyWhileHealthy: READY once the gateway is ready, WATCHDOG
// while it is healthy and never while it is not, STOPPING at the end.
func TestWatchdogOnlyWhileHealthy(t *testing.T) {
	h := &fakeHealth{ready: make(chan struct{})}
	rec := &recorder{}
	n := notifier{send: rec.send, interval: 5 * time.Millisecond, log: discard()}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { n.run(ctx, h, make(chan struct{})); close(done) }()
	time.Sleep(20 * time.Millisecond)
	if n := rec.count(""); n != 0 {
		t.Fatalf("notified %d times before ready", n)
	}
	h.ok.Store(true)
	close(h.ready)
	waitFor(t, "watchdog pings", func() bool { return rec.count("WATCHDOG=1") >= 3 })
	rec.mu.Lock()
	if rec.states[0] != "READY=1\nSTATUS=serving" {
		t.Errorf("first state %q", rec.states[0])
	}
	rec.mu.Unlock()
	h.ok.Store(false)
	time.Sleep(10 * time.Millisecond) // a ping may be on its way
	before := rec.count("WATCHDOG=1")
	time.Sleep(50 * time.Millisecond)
	if got := rec.count("WATCHDOG=1"); got != before {
		t.Errorf("%d watchdog pings while unhealthy", got-before)
	}
	if n := rec.count("STATUS=unhealthy"); n != 1 {
		t.Errorf("%d STATUS=unhealthy", n)
	}
	h.ok.Store(true)
	waitFor(t, "watchdog pings again", func() bool { return rec.count("WATCHDOG=1") > before })
	cancel()
	<-done
	if last := rec.states[len(rec.states)-1]; !strings.HasPrefix(last, "STOPPING=1") { // run has returned
		t.Errorf("last state %q", last)
	}
}

// TestSystemdNotifyProtocol runs gatewayd under a fake systemd: a
// NOTIFY_SOCKET datagram socket and WATCHDOG_USEC. It must say READY=1,
// feed the watchdog, and say STOPPING=1 on SIGTERM.
func TestSystemdNotifyProtocol(t *testing.T) {
	dir := t.TempDir()
	sockPath := filepath.Join(dir, "notify.sock")
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: sockPath, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	msgs := make(chan string, 100)
	go func() {
		buf := make([]byte, 4096)
		for {
			n, _, err := conn.ReadFromUnix(buf)
			if err != nil {
				close(msgs)
				return
			}
			msgs <- string(buf[:n])
		}
	}()
	cfg := filepath.Join(dir, "gatewayd.toml")
	os.WriteFile(cfg, []byte("[osp.udp]\nlisten = \"127.0.0.1:0\"\n"), 0o600)
	cmd := exec.Command(gatewaydBin, "-config", cfg, "-data", filepath.Join(dir, "data"))
	cmd.Env = append(os.Environ(), "NOTIFY_SOCKET="+sockPath, "WATCHDOG_USEC=200000")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill() })
	expect := func(prefix string) {
		t.Helper()
		deadline := time.After(20 * time.Second)
		for {
			select {
			case m, ok := <-msgs:
				if !ok {
					t.Fatalf("socket closed before %q", prefix)
				}
				if strings.HasPrefix(m, prefix) {
					return
				}
			case <-deadline:
				t.Fatalf("no %q from gatewayd", prefix)
			}
		}
	}
	expect("READY=1")
	for range 3 {
		expect("WATCHDOG=1")
	}
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	expect("STOPPING=1")
	errc := make(chan error, 1)
	go func() { errc <- cmd.Wait() }()
	select {
	case err := <-errc:
		if err != nil {
			t.Errorf("gatewayd exit: %v", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("gatewayd did not stop")
	}
}

func discard() *slog.Logger { return slog.New(slog.DiscardHandler) }
