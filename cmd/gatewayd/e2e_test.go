package main

import (
	"bufio"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/edgegate/edgegate/gateway"
	"github.com/edgegate/edgegate/gateway/osp"
	"github.com/edgegate/edgegate/store"
)

var gatewaydBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "gatewayd-e2e")
	if err != nil {
		panic(err)
	}
	gatewaydBin = filepath.Join(dir, "gatewayd")
	if out, err := exec.Command("go", "build", "-o", gatewaydBin, ".").CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "building gatewayd: %v\n%s", err, out)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

const e2eKey = "000102030405060708090a0b0c0d0e0f"

var sensorID = osp.DeviceID{Type: 1, Module: 4242}

// daemon is a running gatewayd process.
type daemon struct {
	cmd  *exec.Cmd
	addr *net.UDPAddr
	done chan error
}

func startDaemon(t *testing.T, data string) *daemon {
	t.Helper()
	return startDaemonConfig(t, data, `
[osp.udp]
listen = "127.0.0.1:0"
[log]
level = "debug"
[[device]]
type = 1
module = 4242
secure = true
key = "`+e2eKey+`"
`)
}

// startDaemonConfig starts gatewayd on the configuration text, with its
// data in data, and waits until it listens.
func startDaemonConfig(t *testing.T, data, config string) *daemon {
	t.Helper()
	cfg := filepath.Join(data, "..", "gatewayd.toml")
	os.WriteFile(cfg, []byte(config), 0o600)
	cmd := exec.Command(gatewaydBin, "-config", cfg, "-data", data)
	stderr, _ := cmd.StderrPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	d := &daemon{cmd: cmd, done: make(chan error, 1)}
	addrc := make(chan string, 1)
	re := regexp.MustCompile(`osp udp listening" addr=(\S+)`)
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			line := sc.Text()
			if testing.Verbose() {
				fmt.Fprintln(os.Stderr, "gatewayd:", line)
			}
			if m := re.FindStringSubmatch(line); m != nil {
				addrc <- m[1]
			}
			if regexp.MustCompile(`(?i)key=[0-9a-f]{32}|` + e2eKey).MatchString(line) {
				fmt.Fprintln(os.Stderr, "SECRET IN LOG:", line)
				os.Exit(3)
			}
		}
		d.done <- cmd.Wait()
	}()
	select {
	case a := <-addrc:
		ua, err := net.ResolveUDPAddr("udp", a)
		if err != nil {
			t.Fatal(err)
		}
		d.addr = ua
	case <-time.After(20 * time.Second):
		cmd.Process.Kill()
		t.Fatal("gatewayd did not start listening")
	}
	t.Cleanup(func() { cmd.Process.Kill() })
	return d
}

// udpSensor is an OSP client on its own socket.
type udpSensor struct {
	conn *net.UDPConn
	cl   *osp.Client
	mu   sync.Mutex
	ack  [][]byte
}

func (s *udpSensor) Send(pkt []byte) error { _, err := s.conn.Write(pkt); return err }

func newSensor(t *testing.T, gw *net.UDPAddr) *udpSensor {
	t.Helper()
	conn, err := net.DialUDP("udp", nil, gw)
	if err != nil {
		t.Fatal(err)
	}
	s := &udpSensor{conn: conn}
	key := []byte{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15}
	s.cl, err = osp.NewClient(osp.ClientConfig{Device: sensorID, Security: osp.Security{Secure: true, Key: key}, Peer: s,
		AckTimeout: 200 * time.Millisecond,
		OnEvent: func(e osp.ClientEvent) {
			if e.Kind == osp.ClientAcked {
				s.mu.Lock()
				s.ack = append(s.ack, e.Payload)
				s.mu.Unlock()
			}
		}})
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		buf := make([]byte, 2048)
		for {
			n, err := conn.Read(buf)
			if err != nil {
				return
			}
			s.cl.Handle(buf[:n])
		}
	}()
	t.Cleanup(func() { conn.Close() })
	if err := s.cl.Connect(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "session open", s.cl.Open)
	return s
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// acked returns the payloads whose ACKNOWLEDGE the sensor received.
func (s *udpSensor) acked() [][]byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([][]byte(nil), s.ack...)
}

func (s *udpSensor) send(t *testing.T, n int, tag string) {
	for i := range n {
		if _, err := s.cl.SendData(10, []byte(fmt.Sprintf("%s-%03d", tag, i)), osp.FlagAckReq); err != nil {
			t.Fatal(err)
		}
	}
}

// journal reads every reading the database holds.
func journal(t *testing.T, data string) map[string]bool {
	t.Helper()
	db, err := store.Open(filepath.Join(data, gateway.DBFile), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	rds, err := db.Readings(0, 100000)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]bool{}
	for _, r := range rds {
		if r.Device != (store.DeviceID{Type: 1, Module: 4242}) || !r.Authenticated {
			t.Errorf("reading %+v", r)
		}
		out[string(r.Payload)] = true
	}
	return out
}

func TestEndToEndSecureUDP(t *testing.T) {
	data := filepath.Join(t.TempDir(), "data")
	d := startDaemon(t, data)
	s := newSensor(t, d.addr)
	s.send(t, 100, "r")
	waitFor(t, "100 ACKs", func() bool { return len(s.acked()) == 100 })
	d.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-d.done:
		if err != nil {
			t.Fatalf("gatewayd exited with %v after SIGTERM", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("gatewayd did not stop on SIGTERM")
	}
	got := journal(t, data)
	for _, p := range s.acked() {
		if !got[string(p)] {
			t.Errorf("acknowledged reading %q missing", p)
		}
	}
	if st, err := os.Stat(filepath.Join(data, gateway.DBFile)); err != nil || st.Mode().Perm() != 0o600 {
		t.Errorf("database mode %v, %v", st.Mode(), err)
	}
}

// TestKillNineLosesNothingAcknowledged kills gatewayd with SIGKILL in the
// middle of a stream, restarts it, and checks that every reading whose ACK
// the sensor received is on disk.
func TestKillNineLosesNothingAcknowledged(t *testing.T) {
	data := filepath.Join(t.TempDir(), "data")
	for round := range 3 {
		d := startDaemon(t, data)
		s := newSensor(t, d.addr)
		stop := make(chan struct{})
		var wg sync.WaitGroup
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				if _, err := s.cl.SendData(10, []byte(fmt.Sprintf("k%d-%05d", round, i)), osp.FlagAckReq); err != nil {
					time.Sleep(time.Millisecond) // cache full: wait for ACKs
				}
			}
		}()
		waitFor(t, "some ACKs", func() bool { return len(s.acked()) >= 50 })
		d.cmd.Process.Signal(syscall.SIGKILL)
		<-d.done
		close(stop)
		wg.Wait()
		time.Sleep(50 * time.Millisecond) // ACKs in flight on loopback
		acked := s.acked()
		got := journal(t, data)
		for _, p := range acked {
			if !got[string(p)] {
				t.Errorf("round %d: acknowledged reading %q lost", round, p)
			}
		}
		t.Logf("round %d: %d acknowledged, %d journaled in all", round, len(acked), len(got))
	}
}
