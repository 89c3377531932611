package main

import (
	"bufio"
	"bytes"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/edgegate/edgegate/gateway"
	"github.com/edgegate/edgegate/gateway/osp"
	"github.com/edgegate/edgegate/store"
)

// The helpers the end-to-end tests share: the programs they build and run
// (gatewayd, gatewayctl, ospsim, ocsd), free loopback ports, a secure OSP
// sensor on UDP, and the gateway's journal read from its database.

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

var (
	toolsOnce sync.Once
	toolsDir  string
	toolsErr  error
)

// tool returns the path of a freshly built gatewayctl, ospsim or ocsd.
func tool(t *testing.T, name string) string {
	t.Helper()
	toolsOnce.Do(func() {
		toolsDir = filepath.Dir(gatewaydBin) // removed by TestMain
		out, err := exec.Command("go", "build", "-o", toolsDir+"/", "../gatewayctl", "../ospsim", "../ocsd").CombinedOutput()
		if err != nil {
			toolsErr = fmt.Errorf("building the tools: %v\n%s", err, out)
		}
	})
	if toolsErr != nil {
		t.Fatal(toolsErr)
	}
	return filepath.Join(toolsDir, name)
}

// freeUDPPort returns a loopback UDP port that was free a moment ago, so
// that a restarted gatewayd can listen where its sensors expect it.
func freeUDPPort(t *testing.T) int {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	return pc.LocalAddr().(*net.UDPAddr).Port
}

// freeTCPPort returns a loopback TCP port that was free a moment ago.
func freeTCPPort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// waitFor polls cond every 5 ms and fails the test after 10 seconds.
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

// proc is a running program whose log (its stderr) the test reads.
type proc struct {
	name string
	cmd  *exec.Cmd
	done chan error // cmd.Wait's result, once the log has ended
}

// startProc starts cmd and reads its log: each line is echoed with -v and
// handed to check (when not nil). It waits until a line matches ready and
// returns that line's submatches. The process is killed when the test
// ends.
func startProc(t *testing.T, name string, cmd *exec.Cmd, ready *regexp.Regexp, check func(line string)) (*proc, []string) {
	t.Helper()
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &proc{name: name, cmd: cmd, done: make(chan error, 1)}
	up := make(chan []string, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			line := sc.Text()
			if testing.Verbose() {
				fmt.Fprintln(os.Stderr, name+":", line)
			}
			if m := ready.FindStringSubmatch(line); m != nil {
				select {
				case up <- m:
				default:
				}
			}
			if check != nil {
				check(line)
			}
		}
		p.done <- cmd.Wait()
	}()
	var m []string
	select {
	case m = <-up:
	case <-time.After(20 * time.Second):
		cmd.Process.Kill()
		t.Fatalf("%s did not start: no line of its log matched %q", name, ready)
	}
	t.Cleanup(func() { cmd.Process.Kill() })
	return p, m
}

// kill ends the program with SIGKILL and waits for it.
func (p *proc) kill() {
	p.cmd.Process.Signal(syscall.SIGKILL)
	<-p.done
}

// stop sends SIGTERM and checks that the program exits 0.
func (p *proc) stop(t *testing.T) {
	t.Helper()
	p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-p.done:
		if err != nil {
			t.Errorf("%s exited with %v after SIGTERM", p.name, err)
		}
	case <-time.After(15 * time.Second):
		t.Fatalf("%s did not stop on SIGTERM", p.name)
	}
}

const e2eKey = "000102030405060708090a0b0c0d0e0f"

var sensorID = osp.DeviceID{Type: 1, Module: 4242}

// daemon is a running gatewayd process.
type daemon struct {
	*proc
	addr   *net.UDPAddr // where its OSP UDP link listens
	socket string       // its admin socket
}

var (
	udpListeningRE = regexp.MustCompile(`osp udp listening" addr=(\S+)`)
	// secretRE matches a device key in the log, which must never be there.
	secretRE = regexp.MustCompile(`(?i)key=[0-9a-f]{32}|` + e2eKey)
)

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
// data in data, and waits until it listens. A key in its log ends the test
// binary.
func startDaemonConfig(t *testing.T, data, config string) *daemon {
	t.Helper()
	cfg := filepath.Join(data, "..", "gatewayd.toml")
	os.WriteFile(cfg, []byte(config), 0o600)
	p, m := startProc(t, "gatewayd", exec.Command(gatewaydBin, "-config", cfg, "-data", data), udpListeningRE, func(line string) {
		if secretRE.MatchString(line) {
			fmt.Fprintln(os.Stderr, "SECRET IN LOG:", line)
			os.Exit(3)
		}
	})
	ua, err := net.ResolveUDPAddr("udp", m[1])
	if err != nil {
		t.Fatal(err)
	}
	return &daemon{proc: p, addr: ua, socket: filepath.Join(data, "gatewayd.sock")}
}

func gatewayctl(t *testing.T, socket string, args ...string) string {
	t.Helper()
	out, err := exec.Command(tool(t, "gatewayctl"), append([]string{"-socket", socket}, args...)...).CombinedOutput()
	if err != nil {
		t.Fatalf("gatewayctl %v: %v\n%s", args, err, out)
	}
	return string(out)
}

// addSensors provisions n secure thermo sensors of DeviceType 7, ModuleIDs
// module to module+n-1, with the key e2eKey.
func addSensors(t *testing.T, socket string, module, n int) {
	t.Helper()
	for i := range n {
		gatewayctl(t, socket, "devices", "add", "--type", "7", "--module", strconv.Itoa(module+i),
			"--secure", "--key", e2eKey, "--profile", "thermo")
	}
}

// ospsimRun is a running ospsim whose output (stdout and stderr) is
// collected.
type ospsimRun struct {
	cmd  *exec.Cmd
	out  bytes.Buffer
	done chan error
}

// startOspsim runs ospsim with args; it is killed when the test ends.
func startOspsim(t *testing.T, args ...string) *ospsimRun {
	t.Helper()
	s := &ospsimRun{cmd: exec.Command(tool(t, "ospsim"), args...), done: make(chan error, 1)}
	s.cmd.Stdout, s.cmd.Stderr = &s.out, &s.out
	if err := s.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { s.done <- s.cmd.Wait() }()
	t.Cleanup(func() { s.cmd.Process.Kill() })
	return s
}

// wait waits for ospsim to finish and returns its output; the test fails
// when ospsim fails or is not done within the time given (it is killed
// then).
func (s *ospsimRun) wait(t *testing.T, within time.Duration) string {
	t.Helper()
	select {
	case err := <-s.done:
		if err != nil {
			t.Fatalf("ospsim: %v\n%s", err, s.out.String())
		}
	case <-time.After(within):
		s.cmd.Process.Kill()
		<-s.done
		t.Fatalf("ospsim did not finish\n%s", s.out.String())
	}
	return s.out.String()
}

// udpPeer sends an OSP client's packets on its own UDP socket.
type udpPeer struct{ conn *net.UDPConn }

func (p udpPeer) Send(pkt []byte) error { _, err := p.conn.Write(pkt); return err }

// dialSensor connects the secure sensor sensorID (key e2eKey) to the
// gateway at gw, hands the client's events to onEvent (when not nil) and
// waits until the session is open. Its socket is closed when the test
// ends.
func dialSensor(t *testing.T, gw *net.UDPAddr, ackTimeout time.Duration, onEvent func(*osp.Client, osp.ClientEvent)) *osp.Client {
	t.Helper()
	conn, err := net.DialUDP("udp", nil, gw)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	key := []byte{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15}
	var cl *osp.Client
	cl, err = osp.NewClient(osp.ClientConfig{Device: sensorID, Security: osp.Security{Secure: true, Key: key}, Peer: udpPeer{conn},
		AckTimeout: ackTimeout,
		OnEvent: func(e osp.ClientEvent) {
			if onEvent != nil {
				onEvent(cl, e)
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
			cl.Handle(buf[:n])
		}
	}()
	if err := cl.Connect(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "session open", cl.Open)
	return cl
}

// readings reads every reading the gateway's database holds (gatewayd
// must not be running).
func readings(t *testing.T, data string) []store.Reading {
	t.Helper()
	db, err := store.Open(filepath.Join(data, gateway.DBFile), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	rds, err := db.Readings(0, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	return rds
}

var (
	noneLostRE = regexp.MustCompile(`readings lost \(acknowledged but absent\): 0\b`)
	acksRE     = regexp.MustCompile(`ACKs received: (\d+)`)
)

// checkNoneLost checks ospsim's report (of -verify) that every reading it
// saw acknowledged is in the gateway's journal.
func checkNoneLost(t *testing.T, out string) {
	t.Helper()
	if !noneLostRE.MatchString(out) {
		t.Errorf("ospsim found lost readings:\n%s", out)
	}
}

// ackCount returns the number of ACKs ospsim's report says it received.
func ackCount(t *testing.T, out string) int {
	t.Helper()
	m := acksRE.FindStringSubmatch(out)
	if m == nil {
		t.Fatal("no ACK count in ospsim's output")
	}
	n, _ := strconv.Atoi(m[1])
	return n
}
