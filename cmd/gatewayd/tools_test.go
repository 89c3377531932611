package main

import (
	"bytes"
	"fmt"
	"net"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

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

func gatewayctl(t *testing.T, socket string, args ...string) string {
	t.Helper()
	out, err := exec.Command(tool(t, "gatewayctl"), append([]string{"-socket", socket}, args...)...).CombinedOutput()
	if err != nil {
		t.Fatalf("gatewayctl %v: %v\n%s", args, err, out)
	}
	return string(out)
}

// TestOspsimThroughKillNine provisions sensors with gatewayctl, streams
// secure readings from ospsim, kills gatewayd with SIGKILL three times in
// the middle of the stream and restarts it on the same port; ospsim
// reconnects, and at the end checks through the admin API that every
// reading it saw acknowledged is in the journal.
func TestOspsimThroughKillNine(t *testing.T) {
	data := filepath.Join(t.TempDir(), "data")
	port := freeUDPPort(t)
	config := fmt.Sprintf("[osp.udp]\nlisten = \"127.0.0.1:%d\"\n[log]\nlevel = \"info\"\n", port)
	d := startDaemonConfig(t, data, config)
	socket := filepath.Join(data, "gatewayd.sock")
	const sensors = 4
	for i := range sensors {
		gatewayctl(t, socket, "devices", "add", "--type", "7", "--module", strconv.Itoa(100+i),
			"--secure", "--key", e2eKey, "--profile", "thermo")
	}
	if out := gatewayctl(t, socket, "devices", "list"); strings.Count(out, "7:10") != sensors {
		t.Fatalf("devices list:\n%s", out)
	}

	sim := exec.Command(tool(t, "ospsim"), "-gateway", fmt.Sprintf("127.0.0.1:%d", port),
		"-n", strconv.Itoa(sensors), "-type", "7", "-module", "100", "-secure", "-key", e2eKey,
		"-count", "1500", "-rate", "250", "-payload", "16", "-admin", socket, "-verify", "-wait", "30s")
	var simOut bytes.Buffer
	sim.Stdout, sim.Stderr = &simOut, &simOut
	if err := sim.Start(); err != nil {
		t.Fatal(err)
	}
	simDone := make(chan error, 1)
	go func() { simDone <- sim.Wait() }()
	t.Cleanup(func() { sim.Process.Kill() })

	for round := range 3 {
		time.Sleep(1200 * time.Millisecond)
		d.cmd.Process.Signal(syscall.SIGKILL)
		<-d.done
		t.Logf("round %d: gatewayd killed", round)
		time.Sleep(200 * time.Millisecond)
		d = startDaemonConfig(t, data, config)
	}
	select {
	case err := <-simDone:
		if err != nil {
			t.Fatalf("ospsim: %v\n%s", err, simOut.String())
		}
	case <-time.After(90 * time.Second):
		t.Fatalf("ospsim did not finish\n%s", simOut.String())
	}
	out := simOut.String()
	t.Logf("ospsim:\n%s", out)
	if !regexp.MustCompile(`readings lost \(acknowledged but absent\): 0\b`).MatchString(out) {
		t.Errorf("ospsim found lost readings")
	}
	m := regexp.MustCompile(`ACKs received: (\d+)`).FindStringSubmatch(out)
	if m == nil {
		t.Fatal("no ACK count in ospsim's output")
	}
	if n, _ := strconv.Atoi(m[1]); n < sensors*1000 {
		t.Errorf("only %d ACKs through three restarts", n)
	}
	// The daemon's own view agrees: the readings are there, decoded.
	if out := gatewayctl(t, socket, "readings", "--device", "7:100", "--last", "3"); !strings.Contains(out, "temperature=") {
		t.Errorf("readings:\n%s", out)
	}
	d.cmd.Process.Signal(syscall.SIGTERM)
	if err := <-d.done; err != nil {
		t.Errorf("gatewayd after SIGTERM: %v", err)
	}
}
