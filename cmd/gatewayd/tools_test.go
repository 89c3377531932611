package main

import (
	"fmt"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

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
	socket := d.socket
	const sensors = 4
	addSensors(t, socket, 100, sensors)
	if out := gatewayctl(t, socket, "devices", "list"); strings.Count(out, "7:10") != sensors {
		t.Fatalf("devices list:\n%s", out)
	}

	sim := startOspsim(t, "-gateway", fmt.Sprintf("127.0.0.1:%d", port),
		"-n", strconv.Itoa(sensors), "-type", "7", "-module", "100", "-secure", "-key", e2eKey,
		"-count", "1500", "-rate", "250", "-payload", "16", "-admin", socket, "-verify", "-wait", "30s")

	for round := range 3 {
		time.Sleep(1200 * time.Millisecond)
		d.kill()
		t.Logf("round %d: gatewayd killed", round)
		time.Sleep(200 * time.Millisecond)
		d = startDaemonConfig(t, data, config)
	}
	out := sim.wait(t, 90*time.Second)
	t.Logf("ospsim:\n%s", out)
	checkNoneLost(t, out)
	if n := ackCount(t, out); n < sensors*1000 {
		t.Errorf("only %d ACKs through three restarts", n)
	}
	// The daemon's own view agrees: the readings are there, decoded.
	if out := gatewayctl(t, socket, "readings", "--device", "7:100", "--last", "3"); !strings.Contains(out, "temperature=") {
		t.Errorf("readings:\n%s", out)
	}
	d.stop(t)
}
