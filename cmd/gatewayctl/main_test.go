package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/edgegate/edgegate/gateway/admin"
	"github.com/edgegate/edgegate/gateway/gatewaytest"
	"github.com/edgegate/edgegate/gateway/osp"
)

// startGateway runs an in-process gateway and returns its admin socket and
// OSP UDP address.
func startGateway(t *testing.T) (string, *net.UDPAddr) {
	t.Helper()
	g := gatewaytest.Start(t, "")
	return g.AdminSocket(), g.UDPAddr().(*net.UDPAddr)
}

// ctl runs gatewayctl with args and returns its output and error.
func ctl(t *testing.T, socket string, args ...string) (string, error) {
	t.Helper()
	var out, errOut bytes.Buffer
	err := run(context.Background(), append([]string{"-socket", socket}, args...), &out, &errOut)
	return out.String() + errOut.String(), err
}

func mustCtl(t *testing.T, socket string, args ...string) string {
	t.Helper()
	out, err := ctl(t, socket, args...)
	if err != nil {
		t.Fatalf("gatewayctl %v: %v\n%s", args, err, out)
	}
	return out
}

// sensor opens a plain OSP session for dev that answers COMMANDs with exit
// code 0 and "ok " + the script, and sends one acknowledged reading.
func sensor(t *testing.T, gw *net.UDPAddr, dev osp.DeviceID, payload []byte) {
	t.Helper()
	conn, err := net.DialUDP("udp", nil, gw)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	opened, acked := make(chan struct{}, 1), make(chan struct{}, 1)
	var cl *osp.Client
	cl, err = osp.NewClient(osp.ClientConfig{Device: dev, Peer: peer{conn}, OnEvent: func(e osp.ClientEvent) {
		switch e.Kind {
		case osp.ClientOpened:
			opened <- struct{}{}
		case osp.ClientAcked:
			acked <- struct{}{}
		case osp.ClientCommand:
			_ = cl.RespondCommand(e.Command.ID, 0, append([]byte("ok "), e.Command.Script...))
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
	cl.Connect()
	waitFor(t, opened)
	if _, err := cl.SendData(10, payload, osp.FlagAckReq); err != nil {
		t.Fatal(err)
	}
	waitFor(t, acked)
}

type peer struct{ c *net.UDPConn }

func (p peer) Send(b []byte) error { _, err := p.c.Write(b); return err }

func waitFor(t *testing.T, c chan struct{}) {
	t.Helper()
	select {
	case <-c:
	case <-time.After(5 * time.Second):
		t.Fatal("timed out")
	}
}

func TestDevicesReadingsCommandFirmware(t *testing.T) {
	sock, gw := startGateway(t)

	out := mustCtl(t, sock, "devices", "add", "--type", "1", "--module", "4242", "--secure", "--profile", "thermo", "--name", "greenhouse")
	if !strings.Contains(out, "generated: flash it into the sensor") || !strings.Contains(out, "thermo") {
		t.Errorf("add output:\n%s", out)
	}
	mustCtl(t, sock, "devices", "add", "--type", "1", "--module", "7", "--profile", "thermo")
	out = mustCtl(t, sock, "devices", "list")
	if !strings.Contains(out, "1:4242") || !strings.Contains(out, "greenhouse") || !strings.Contains(out, "1:7") {
		t.Errorf("list:\n%s", out)
	}
	if strings.Count(out, "\n") != 3 {
		t.Errorf("list has %d lines:\n%s", strings.Count(out, "\n"), out)
	}

	sensor(t, gw, osp.DeviceID{Type: 1, Module: 7}, []byte{0x09, 0xc4, 0x01, 0xf4, 0x55})
	out = mustCtl(t, sock, "readings", "--device", "1:7", "--last", "5")
	if !strings.Contains(out, "09c401f455") || !strings.Contains(out, "temperature=25") {
		t.Errorf("readings:\n%s", out)
	}
	out = mustCtl(t, sock, "sessions")
	if !strings.Contains(out, "1:7") || !strings.Contains(out, "open") {
		t.Errorf("sessions:\n%s", out)
	}
	out = mustCtl(t, sock, "command", "--device", "1:7", "interval 60")
	if !strings.Contains(out, "exit code: 0") || !strings.Contains(out, `"ok interval 60"`) {
		t.Errorf("command:\n%s", out)
	}
	out = mustCtl(t, sock, "command", "--json", "--device", "1:7", "x")
	var res admin.CommandResult
	if err := json.Unmarshal([]byte(out), &res); err != nil || string(res.Response) != "ok x" {
		t.Errorf("command --json: %v\n%s", err, out)
	}

	img := filepath.Join(t.TempDir(), "fw.bin")
	os.WriteFile(img, bytes.Repeat([]byte{0xab}, 300), 0o644)
	out = mustCtl(t, sock, "firmware", "add", "--chunk-size", "100", "thermo-2.0", img)
	if !strings.Contains(out, "300 bytes in 3 chunks of 100") {
		t.Errorf("firmware add:\n%s", out)
	}
	if out = mustCtl(t, sock, "firmware", "list"); !strings.Contains(out, "thermo-2.0") {
		t.Errorf("firmware list:\n%s", out)
	}
	mustCtl(t, sock, "firmware", "remove", "thermo-2.0")

	out = mustCtl(t, sock, "things", "osp:1:7")
	if !strings.Contains(out, "temperature") || !strings.Contains(out, "Cel") || !strings.Contains(out, "setInterval") {
		t.Errorf("thing:\n%s", out)
	}
	out = mustCtl(t, sock, "ports")
	if !strings.HasPrefix(out, "PORT") {
		t.Errorf("ports:\n%s", out)
	}
	out = mustCtl(t, sock, "status", "--json")
	var st admin.Status
	if err := json.Unmarshal([]byte(out), &st); err != nil || st.Devices != 2 || st.Journal.LastSeq != 1 {
		t.Errorf("status --json: %v %+v", err, st)
	}
	out = mustCtl(t, sock, "devices", "remove", "1:4242")
	if !strings.Contains(out, "removed 1:4242") {
		t.Errorf("remove: %s", out)
	}
	if out, err := ctl(t, sock, "devices", "remove", "1:4242"); err == nil || !strings.Contains(out+err.Error(), "not found") {
		t.Errorf("remove twice: %v %s", err, out)
	}
}

func TestUsageErrors(t *testing.T) {
	sock, _ := startGateway(t)
	for _, args := range [][]string{
		{},
		{"frobnicate"},
		{"devices", "add", "--module", "1"},
		{"devices", "add", "--type", "70000", "--module", "1"},
		{"devices", "remove"},
		{"devices", "remove", "nope"},
		{"readings"},
		{"readings", "--device", "1:1", "--last", "0"},
		{"command", "--device", "1:1"},
		{"firmware", "add", "only-name"},
		{"devices", "list", "--bogus"},
	} {
		out, err := ctl(t, sock, args...)
		if !errors.Is(err, errUsage) {
			t.Errorf("%v: %v (want a usage error)\n%s", args, err, out)
		}
	}
	// A gateway-side refusal is not a usage error.
	if _, err := ctl(t, sock, "devices", "add", "--type", "1", "--module", "1", "--profile", "nosuch"); err == nil || errors.Is(err, errUsage) || !strings.Contains(err.Error(), "unknown profile") {
		t.Errorf("unknown profile: %v", err)
	}
	if _, err := ctl(t, sock, "command", "--device", "1:1", "x"); err == nil || !strings.Contains(err.Error(), "not found") {
		t.Errorf("command to an unknown device: %v", err)
	}
	if err := run(context.Background(), []string{"-socket", filepath.Join(t.TempDir(), "none.sock"), "status"}, &bytes.Buffer{}, &bytes.Buffer{}); err == nil {
		t.Error("no gateway: no error")
	}
}

// TestDeps keeps the CLI free of the database: it talks to gatewayd only.
func TestDeps(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", ".").Output()
	if err != nil {
		t.Fatal(err)
	}
	for _, pkg := range strings.Fields(string(out)) {
		if strings.HasPrefix(pkg, "go.etcd.io/bbolt") || pkg == "github.com/edgegate/edgegate/store" || pkg == "testing" {
			t.Errorf("gatewayctl depends on %s", pkg)
		}
	}
}

func TestUpstreamCommands(t *testing.T) {
	socket, _ := startGateway(t)
	if _, err := ctl(t, socket, "upstream", "status"); err == nil || !strings.Contains(err.Error(), "no upstream OCS is configured") {
		t.Errorf("upstream status without an upstream: %v", err)
	}
	g := gatewaytest.Start(t, "[upstream.bundled]\nenabled = true\nlisten = \"127.0.0.1:0\"\n")
	socket = g.AdminSocket()
	out := mustCtl(t, socket, "upstream", "status")
	for _, want := range []string{"(bundled, in-process)", "queue        0 readings", "dead letters 0"} {
		if !strings.Contains(out, want) {
			t.Errorf("upstream status lacks %q:\n%s", want, out)
		}
	}
	var st map[string]any
	if err := json.Unmarshal([]byte(mustCtl(t, socket, "upstream", "--json")), &st); err != nil || st["bundled"] != true {
		t.Errorf("upstream --json: %v %v", st, err)
	}
	if out := mustCtl(t, socket, "upstream", "discard", "--all"); !strings.Contains(out, "0 dead letters discarded") {
		t.Errorf("discard --all: %s", out)
	}
	if _, err := ctl(t, socket, "upstream", "requeue"); !errors.Is(err, errUsage) {
		t.Errorf("requeue without an id: %v", err)
	}
	if _, err := ctl(t, socket, "upstream", "requeue", "00000000000000ff"); err == nil || !strings.Contains(err.Error(), "not found") {
		t.Errorf("requeue of an unknown dead letter: %v", err)
	}
}

// TestUpstreamDeadLetters: an OCS that refuses a device's POSTs with 422
// parks them; upstream status lists them and requeue posts them again.
func TestUpstreamDeadLetters(t *testing.T) {
	var refuse atomic.Bool
	refuse.Store(true)
	var accepted atomic.Int64
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != "POST" {
			w.WriteHeader(404) // no owner serviceinfo
			return
		}
		if refuse.Load() {
			w.WriteHeader(422)
			_, _ = w.Write([]byte("unknown device"))
			return
		}
		accepted.Add(1)
	}))
	defer hs.Close()
	g := gatewaytest.Start(t, "[upstream]\nurl = \""+hs.URL+"\"\ninterval = \"10ms\"\n")
	sock := g.AdminSocket()
	mustCtl(t, sock, "devices", "add", "--type", "1", "--module", "5")
	sensor(t, g.UDPAddr().(*net.UDPAddr), osp.DeviceID{Type: 1, Module: 5}, []byte{1, 2, 3})
	deadline := time.Now().Add(10 * time.Second)
	var out string
	for !strings.Contains(out, "dead letters 1") {
		if time.Now().After(deadline) {
			t.Fatalf("no dead letter:\n%s", out)
		}
		time.Sleep(20 * time.Millisecond)
		out = mustCtl(t, sock, "upstream", "status")
	}
	for _, want := range []string{"osp 1:5", "422", `"unknown device"`, "1..1", "upstream requeue"} {
		if !strings.Contains(out, want) {
			t.Errorf("status lacks %q:\n%s", want, out)
		}
	}
	refuse.Store(false)
	if out := mustCtl(t, sock, "upstream", "requeue", "--all"); !strings.Contains(out, "1 dead letters requeued") {
		t.Errorf("requeue: %s", out)
	}
	deadline = time.Now().Add(10 * time.Second)
	for accepted.Load() == 0 {
		if time.Now().After(deadline) {
			t.Fatal("the requeued post never came")
		}
		time.Sleep(10 * time.Millisecond)
	}
}
