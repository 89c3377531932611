package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// The serial end-to-end tests run gatewayd with an [[osp.serial]] link on a
// pseudo-terminal that ospsim creates (-pty) and keeps a symbolic link to
// (-pty-link). gatewayd starts first, with a path that does not exist yet:
// its serial link retries it with backoff, so the order of the two starts
// cannot race.

// serialConfig is gatewayd's configuration with a serial link on path. UDP
// stays on (on a free loopback port): startDaemonConfig waits for its log
// line.
func serialConfig(path string) string {
	return fmt.Sprintf("[osp.udp]\nlisten = \"127.0.0.1:0\"\n[log]\nlevel = \"info\"\n[[osp.serial]]\npath = %q\n", path)
}

// TestSerialOspsimGarbageSplit provisions three secure sensors with
// gatewayctl and runs them through ospsim over one pty, with garbage before
// one packet in twenty and every packet written in two or three pieces:
// gatewayd's framer resynchronises, the sessions recover what the garbage
// destroyed, and every reading ospsim saw acknowledged is in the journal.
func TestSerialOspsimGarbageSplit(t *testing.T) {
	tool(t, "ospsim") // built before gatewayd starts: the link's backoff stays short
	dir := t.TempDir()
	link := filepath.Join(dir, "ttyOSP")
	data := filepath.Join(dir, "data")
	d := startDaemonConfig(t, data, serialConfig(link))
	socket := d.socket
	const sensors, count = 3, 300
	addSensors(t, socket, 200, sensors)

	// -window 16: three windows cross the split line in about 120 ms, well
	// within the ACK timeout (see ospsim's lineWarning).
	sim := startOspsim(t, "-pty", "-pty-link", link, "-n", strconv.Itoa(sensors), "-type", "7", "-module", "200",
		"-secure", "-key", e2eKey, "-count", strconv.Itoa(count), "-rate", "0", "-window", "16", "-payload", "16",
		"-garbage", "0.05", "-split", "-handshake-timeout", "3s", "-admin", socket, "-verify", "-wait", "20s")
	out := sim.wait(t, 30*time.Second)
	t.Logf("ospsim:\n%s", out)
	if !strings.Contains(out, "serial: "+link+"\n") {
		t.Errorf("ospsim did not print the path")
	}
	checkNoneLost(t, out)
	if n := ackCount(t, out); n != sensors*count {
		t.Errorf("%d ACKs, want %d", n, sensors*count)
	}
	if m := regexp.MustCompile(`line faults: (\d+) garbage runs`).FindStringSubmatch(out); m == nil || m[1] == "0" {
		t.Errorf("no garbage was injected")
	}
	if out := gatewayctl(t, socket, "readings", "--device", "7:200", "--last", "3"); !strings.Contains(out, "temperature=") {
		t.Errorf("readings:\n%s", out)
	}
	d.stop(t)
}

var lineCPU = flag.Duration("line-cpu", 0,
	"TestSerialLineRateCPU: measure gatewayd's CPU for this long at 115200 baud line rate (0: skip)")

// TestSerialLineRateCPU measures the CPU time gatewayd spends on one serial
// line saturated at 115200 baud: ospsim paces its writes to 11520 bytes/s
// (8N1), four secure sensors sending as fast as the line allows. It reads
// gatewayd's utime+stime from /proc before and after and logs the share of
// one core; it asserts nothing about it. It takes -line-cpu plus a few
// seconds, so it runs only when asked:
//
//	go test -run SerialLineRateCPU -v ./cmd/gatewayd -args -line-cpu 10s
func TestSerialLineRateCPU(t *testing.T) {
	if *lineCPU <= 0 {
		t.Skip("measures only with -line-cpu DURATION (e.g. go test -run SerialLineRateCPU -v ./cmd/gatewayd -args -line-cpu 10s)")
	}
	ospsim := tool(t, "ospsim")
	dir := t.TempDir()
	link := filepath.Join(dir, "ttyOSP")
	data := filepath.Join(dir, "data")
	d := startDaemonConfig(t, data, serialConfig(link))
	socket := d.socket
	const sensors = 4
	addSensors(t, socket, 300, sensors)
	pid := d.cmd.Process.Pid
	idle0, idleAt := cpuTime(t, pid), time.Now()
	time.Sleep(2 * time.Second)
	idle := float64(cpuTime(t, pid)-idle0) / float64(time.Since(idleAt))

	warmup := time.Second
	sim := exec.Command(ospsim, "-pty", "-pty-link", link, "-n", strconv.Itoa(sensors), "-type", "7", "-module", "300",
		"-secure", "-key", e2eKey, "-count", "1000000", "-duration", (*lineCPU + 2*warmup).String(), "-rate", "0",
		"-window", "8", "-line-rate", "11520", "-admin", socket, "-verify", "-json")
	var simOut bytes.Buffer
	sim.Stdout = &simOut
	stderr, err := sim.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := sim.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sim.Process.Kill() })
	established := make(chan struct{})
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			if strings.Contains(sc.Text(), "sessions established") {
				close(established)
				break
			}
		}
		io.Copy(io.Discard, stderr)
	}()
	select {
	case <-established:
	case <-time.After(20 * time.Second):
		t.Fatal("ospsim established no sessions")
	}
	time.Sleep(warmup)
	cpu0, at := cpuTime(t, pid), time.Now()
	time.Sleep(*lineCPU)
	cpu, wall := cpuTime(t, pid)-cpu0, time.Since(at)
	if err := sim.Wait(); err != nil {
		t.Fatalf("ospsim: %v\n%s", err, simOut.String())
	}
	lines := strings.Split(strings.TrimSpace(simOut.String()), "\n")
	var js map[string]float64
	_ = json.Unmarshal([]byte(lines[len(lines)-1]), &js) // the numbers only
	if js["lost"] != 0 || js["acked"] == 0 {
		t.Errorf("ospsim:\n%s", simOut.String())
	}
	t.Logf("ospsim:\n%s", simOut.String())
	t.Logf("line: %.0f bytes/s written, %.0f DATA/s, %.0f acknowledged/s", js["line_bytes_out"]/js["elapsed_s"], js["sent_per_s"], js["acked_per_s"])
	t.Logf("gatewayd uses %.1f%% of a core at 115200 baud line rate (%v CPU in %v; %.2f%% idle, no line open)",
		100*float64(cpu)/float64(wall), cpu, wall.Round(time.Millisecond), 100*idle)
	d.stop(t)
}

// cpuTime returns the user and system CPU time of process pid, from
// /proc/PID/stat (utime and stime, in clock ticks of 1/100 s: USER_HZ is 100
// on every Linux architecture).
func cpuTime(t *testing.T, pid int) time.Duration {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		t.Skipf("no /proc: %v", err)
	}
	// The command name is in parentheses and may hold spaces: count the
	// fields after it. utime and stime are fields 14 and 15 of the line,
	// 12 and 13 after the name.
	f := strings.Fields(string(b[bytes.LastIndexByte(b, ')')+1:]))
	if len(f) < 13 {
		t.Fatalf("/proc/%d/stat: %q", pid, b)
	}
	utime, err1 := strconv.ParseUint(f[11], 10, 64)
	stime, err2 := strconv.ParseUint(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		t.Fatalf("/proc/%d/stat: %q", pid, b)
	}
	return time.Duration(utime+stime) * 10 * time.Millisecond
}
