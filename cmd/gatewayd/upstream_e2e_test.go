package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509/pkix"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/edgegate/edgegate/gateway"
	"github.com/edgegate/edgegate/gateway/certs"
	"github.com/edgegate/edgegate/gateway/ocs"
	"github.com/edgegate/edgegate/gateway/osp"
	"github.com/edgegate/edgegate/store"
)

var ocsdListenRE = regexp.MustCompile(`msg="ocsd listening" addr=(\S+)`)

// startOcsd runs the ocsd binary on addr with its data in data, trusting
// the client certificates named, and waits until it listens.
func startOcsd(t *testing.T, addr, data string, clientCerts ...string) *proc {
	t.Helper()
	args := []string{"-listen", addr, "-data", data}
	for _, c := range clientCerts {
		args = append(args, "-client-cert", c)
	}
	p, _ := startProc(t, "ocsd", exec.Command(tool(t, "ocsd"), args...), ocsdListenRE, nil)
	return p
}

// upstreamSetup prepares an ocsd and a gatewayd that forwards to it over
// mutual TLS: the gateway's client key pair is made ahead (the gateway
// loads it), so ocsd can trust it from its first start; an owner key pair
// lets the test use the OCS as the owner does.
type upstreamSetup struct {
	dir, gwData, ocsData string
	ocsAddr              string
	owner                tls.Certificate
	clientCerts          []string
}

func newUpstreamSetup(t *testing.T) *upstreamSetup {
	t.Helper()
	dir := t.TempDir()
	u := &upstreamSetup{dir: dir, gwData: filepath.Join(dir, "data"), ocsData: filepath.Join(dir, "ocsd"),
		ocsAddr: fmt.Sprintf("127.0.0.1:%d", freeTCPPort(t))}
	for _, d := range []string{u.gwData, u.ocsData} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := certs.LoadOrCreate(u.gwData, certs.Spec{Name: "upstream-client", Subject: pkix.Name{CommonName: "e2e gateway"}}); err != nil {
		t.Fatal(err)
	}
	var err error
	if u.owner, err = certs.LoadOrCreate(dir, certs.Spec{Name: "owner", Subject: pkix.Name{CommonName: "owner"}}); err != nil {
		t.Fatal(err)
	}
	u.clientCerts = []string{certs.CertPath(u.gwData, "upstream-client"), certs.CertPath(dir, "owner")}
	return u
}

func (u *upstreamSetup) startOcsd(t *testing.T) *proc {
	return startOcsd(t, u.ocsAddr, u.ocsData, u.clientCerts...)
}

// config is gatewayd's configuration: UDP on port, the upstream at ocsd
// trusted by its certificate file (host name checked: 127.0.0.1 is in it).
func (u *upstreamSetup) config(port int, extra string) string {
	return fmt.Sprintf(`
[osp.udp]
listen = "127.0.0.1:%d"
[log]
level = "info"
[upstream]
url = "https://%s"
server_certs = [%q]
interval = "50ms"
poll_interval = "200ms"
backoff_min = "50ms"
backoff_max = "400ms"
timeout = "5s"
`, port, u.ocsAddr, filepath.Join(u.ocsData, "ocsd-cert.pem")) + extra
}

// ownerClient is the owner's client of the OCS.
func (u *upstreamSetup) ownerClient(t *testing.T) *ocs.Client {
	t.Helper()
	var servers ocs.Trust
	if err := servers.AddFile(filepath.Join(u.ocsData, "ocsd-cert.pem")); err != nil {
		t.Fatal(err)
	}
	c, err := ocs.Dial("https://"+u.ocsAddr, ocs.ClientOptions{Cert: u.owner, Servers: servers})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c
}

// ocsStore opens ocsd's database (ocsd must not be running); it is closed
// when the test ends.
func (u *upstreamSetup) ocsStore(t *testing.T) *ocs.Store {
	t.Helper()
	st, err := ocs.OpenStore(filepath.Join(u.ocsData, "ocsd.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

// waitDrained waits until gatewayd's forwarder has nothing left to send.
func waitDrained(t *testing.T, socket string, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		out, err := exec.Command(tool(t, "gatewayctl"), "-socket", socket, "upstream", "status", "--json").Output()
		var st struct {
			Forwarder struct {
				QueueDepth uint64 `json:"queueDepth"`
				Outbox     int64  `json:"outbox"`
			} `json:"forwarder"`
		}
		if err == nil && json.Unmarshal(out, &st) == nil && st.Forwarder.QueueDepth == 0 && st.Forwarder.Outbox == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the forwarder did not drain: %s %v", out, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestUpstreamThroughOutageAndKillNine streams ospsim readings through
// gatewayd to ocsd while ocsd is stopped for a while and restarted, and
// gatewayd is killed with SIGKILL during the outage and again while the
// backlog drains. Afterwards every reading
// the gateway journaled (every acknowledged one among them, which ospsim
// checks) is at the OCS exactly once after de-duplication on (gw, seq), in
// order per device.
func TestUpstreamThroughOutageAndKillNine(t *testing.T) {
	u := newUpstreamSetup(t)
	o := u.startOcsd(t)
	port := freeUDPPort(t)
	config := u.config(port, "")
	d := startDaemonConfig(t, u.gwData, config)
	socket := d.socket
	const sensors = 4
	addSensors(t, socket, 100, sensors)
	sim := startOspsim(t, "-gateway", fmt.Sprintf("127.0.0.1:%d", port),
		"-n", strconv.Itoa(sensors), "-type", "7", "-module", "100", "-secure", "-key", e2eKey,
		"-count", "1000", "-rate", "200", "-payload", "16", "-admin", socket, "-verify", "-wait", "30s")

	time.Sleep(1200 * time.Millisecond)
	o.stop(t) // the OCS goes away; the gateway keeps journaling
	t.Log("ocsd stopped")
	time.Sleep(1000 * time.Millisecond)
	d.kill()
	t.Log("gatewayd killed")
	d = startDaemonConfig(t, u.gwData, config)
	time.Sleep(800 * time.Millisecond)
	o = u.startOcsd(t)
	t.Log("ocsd restarted")
	// Once more while the backlog drains: what the OCS confirmed after the
	// last cursor write is sent again.
	time.Sleep(150 * time.Millisecond)
	d.kill()
	t.Log("gatewayd killed while draining")
	d = startDaemonConfig(t, u.gwData, config)
	out := sim.wait(t, 60*time.Second)
	checkNoneLost(t, out)
	waitDrained(t, socket, 30*time.Second)
	gw := identity(t, socket)
	d.stop(t)
	o.stop(t)

	// The gateway's journal against the OCS's device serviceinfo.
	rds := readings(t, u.gwData)
	st := u.ocsStore(t)
	journaled := map[store.DeviceID][]store.Reading{}
	for _, r := range rds {
		journaled[r.Device] = append(journaled[r.Device], r)
	}
	total, dups := 0, 0
	for dev, want := range journaled {
		id := gateway.DefaultOCSDeviceID(dev)
		seen := map[uint64]bool{}
		var order []uint64
		err := st.ScanDeviceServiceInfo(id, func(m ocs.ModuleMessage) error {
			doc, err := ocs.ParseReadingDoc(m.Value)
			if err != nil {
				return err
			}
			if doc.Gateway != gw {
				return fmt.Errorf("document from gateway %s", doc.Gateway)
			}
			if seen[doc.Seq] {
				dups++
				return nil
			}
			seen[doc.Seq] = true
			order = append(order, doc.Seq)
			return nil
		})
		if err != nil {
			t.Fatalf("device %v: %v", dev, err)
		}
		if len(order) != len(want) {
			t.Errorf("device %v: %d distinct readings at the OCS, %d journaled", dev, len(order), len(want))
		}
		for i := range min(len(order), len(want)) {
			if order[i] != want[i].Seq {
				t.Errorf("device %v: reading %d at the OCS is seq %d, journal order says %d", dev, i, order[i], want[i].Seq)
				break
			}
		}
		total += len(order)
	}
	t.Logf("%d readings journaled, %d at the OCS after de-duplication, %d duplicates", len(rds), total, dups)
	if len(rds) < sensors*900 {
		t.Errorf("only %d readings journaled", len(rds))
	}
}

// identity returns the gateway's UUID from its status.
func identity(t *testing.T, socket string) string {
	t.Helper()
	var st struct {
		UUID string `json:"uuid"`
	}
	if err := json.Unmarshal([]byte(gatewayctl(t, socket, "status", "--json")), &st); err != nil || st.UUID == "" {
		t.Fatalf("status: %v", err)
	}
	return st.UUID
}

// TestUpstreamCommandAndFirmwareEndToEnd places a command and a firmware
// image at ocsd as the owner does; the command reaches a simulated sensor
// and its answer the OCS, and the sensor fetches the image chunk by chunk
// from the gateway.
func TestUpstreamCommandAndFirmwareEndToEnd(t *testing.T) {
	u := newUpstreamSetup(t)
	o := u.startOcsd(t)
	owner := u.ownerClient(t)
	d := startDaemonConfig(t, u.gwData, u.config(0, fmt.Sprintf("[[device]]\ntype = 1\nmodule = 4242\nsecure = true\nkey = %q\n", e2eKey)))
	socket := d.socket
	id := gateway.DefaultOCSDeviceID(store.DeviceID{Type: 1, Module: 4242})
	ctx := context.Background()
	img := make([]byte, 3000)
	for i := range img {
		img[i] = byte(i * 13)
	}
	for v, b := range map[string][]byte{"cmd-7": []byte("set interval 60"), "sensor-2.0.bin": img} {
		if err := owner.PutValue(ctx, id, v, b); err != nil {
			t.Fatal(err)
		}
	}
	if err := owner.PutServiceInfo(ctx, id, []ocs.SviMessage{
		{Module: "osp", Msg: "command", ValueLen: -1, ValueID: "cmd-7", Enc: "ascii"},
		{Module: "osp", Msg: "firmware", ValueLen: -1, ValueID: "sensor-2.0.bin", Enc: "base64"},
	}); err != nil {
		t.Fatal(err)
	}

	var mu sync.Mutex
	var cmds []string
	fw := make(chan osp.FirmwareResponse, 1)
	cl := dialSensor(t, d.addr, 0, func(cl *osp.Client, e osp.ClientEvent) {
		switch e.Kind {
		case osp.ClientCommand:
			mu.Lock()
			cmds = append(cmds, string(e.Command.Script))
			mu.Unlock()
			_ = cl.RespondCommand(e.Command.ID, 0, []byte("interval=60"))
		case osp.ClientFirmware:
			fw <- e.Firmware
		}
	})
	waitFor(t, "the owner's command at the sensor", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(cmds) == 1 && cmds[0] == "set interval 60"
	})
	waitFor(t, "the command's entry removed at the OCS", func() bool {
		list, err := owner.ServiceInfo(ctx, id)
		return err == nil && len(list) == 1 && list[0].Msg == "firmware"
	})
	waitFor(t, "the firmware cached", func() bool {
		return strings.Contains(gatewayctl(t, socket, "firmware", "list"), "sensor-2.0.bin")
	})
	var got []byte
	for chunk := uint16(0); ; chunk++ {
		if err := cl.RequestFirmware("sensor-2.0.bin", chunk); err != nil {
			t.Fatal(err)
		}
		var r osp.FirmwareResponse
		select {
		case r = <-fw:
		case <-time.After(5 * time.Second):
			t.Fatalf("no answer to FIRMWARE chunk %d", chunk)
		}
		if len(r.Data) == 0 {
			break
		}
		got = append(got, r.Data...)
	}
	if !bytes.Equal(got, img) {
		t.Fatalf("the sensor got %d bytes of firmware, the owner placed %d", len(got), len(img))
	}
	d.stop(t)
	o.stop(t)
	st := u.ocsStore(t)
	var results, statuses []string
	_ = st.ScanDeviceServiceInfo(id, func(m ocs.ModuleMessage) error {
		switch m.Msg {
		case "command-result":
			results = append(results, m.Value)
		case "firmware-status":
			statuses = append(statuses, m.Value)
		}
		return nil
	})
	if len(results) != 1 || !strings.Contains(results[0], `"status":"done"`) || !strings.Contains(results[0], `"valueId":"cmd-7"`) {
		t.Errorf("command results at the OCS: %q", results)
	}
	if len(statuses) != 1 || !strings.Contains(statuses[0], `"status":"cached"`) || !strings.Contains(statuses[0], `"size":3000`) {
		t.Errorf("firmware status at the OCS: %q", statuses)
	}
}
