package gateway

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/edgegate/edgegate/gateway/admin"
	"github.com/edgegate/edgegate/gateway/certs"
	"github.com/edgegate/edgegate/gateway/ocs"
	"github.com/edgegate/edgegate/gateway/osp"
	"github.com/edgegate/edgegate/gateway/things"
	"github.com/edgegate/edgegate/store"
)

// bundledRig is a gateway forwarding to its bundled OCS, and an owner's
// client of that OCS (trusted through upstream.bundled.client_certs).
type bundledRig struct {
	*rig
	owner *ocs.Client
}

func startBundled(t *testing.T) *bundledRig {
	t.Helper()
	dir := t.TempDir()
	ownerCert, err := certs.LoadOrCreate(dir, certs.Spec{Name: "owner", Subject: pkix.Name{CommonName: "owner"}})
	if err != nil {
		t.Fatal(err)
	}
	r := startGateway(t, filepath.Join(dir, "data"), fmt.Sprintf(`
[upstream]
interval = "10ms"
poll_interval = "50ms"
backoff_min = "10ms"
backoff_max = "100ms"
[upstream.bundled]
enabled = true
listen = "127.0.0.1:0"
client_certs = [%q]
`, certs.CertPath(dir, "owner")))
	if r.g.ocs == nil || !r.g.ocs.bundled {
		t.Fatal("no bundled upstream")
	}
	var servers ocs.Trust
	if err := servers.AddFile(certs.CertPath(r.dir, "ocs-bundled")); err != nil {
		t.Fatal(err)
	}
	owner, err := ocs.Dial(r.g.ocs.url, ocs.ClientOptions{Cert: ownerCert, Servers: servers})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(owner.Close)
	return &bundledRig{rig: r, owner: owner}
}

// serviceinfo returns the device serviceinfo messages of msg at the OCS.
func (b *bundledRig) serviceinfo(id, module, msg string) []string {
	var out []string
	_ = b.g.ocs.store.ScanDeviceServiceInfo(id, func(m ocs.ModuleMessage) error {
		if m.Module == module && m.Msg == msg {
			out = append(out, m.Value)
		}
		return nil
	})
	return out
}

// TestUpstreamBundled runs the whole binding on one machine: readings up,
// a command and a firmware image down, pre-serviceinfo applied, a failed
// handshake reported, a native thing's update up, and the status.
func TestUpstreamBundled(t *testing.T) {
	b := startBundled(t)
	ctx := context.Background()
	id := admin.DeviceID{Type: 3, Module: 30}
	b.add(admin.DeviceSpec{ID: id, Secure: true, Key: testKey, Profile: "thermo"})
	ocsID := DefaultOCSDeviceID(store.DeviceID{Type: 3, Module: 30})
	s := newSensor(t, b.g.UDPAddr(), osp.DeviceID{Type: 3, Module: 30}, secure(), func(s *sensor, e osp.ClientEvent) {
		if e.Kind == osp.ClientCommand {
			_ = s.cl.RespondCommand(e.Command.ID, 0, append([]byte("ok: "), e.Command.Script...))
		}
	})
	s.open()
	for i := range 20 {
		s.sendAcked(10, []byte{0x08, byte(i), 0x01, 0xf4, 90})
	}
	eventually(t, "20 readings at the OCS", func() bool { return len(b.serviceinfo(ocsID, ocs.ModuleOSP, ocs.MsgReading)) == 20 })
	doc, err := ocs.ParseReadingDoc(b.serviceinfo(ocsID, ocs.ModuleOSP, ocs.MsgReading)[0])
	if err != nil || doc.Gateway != b.g.Identity().UUID || doc.Device != "3:30" || doc.Seq != 1 || !doc.Auth ||
		len(doc.Values) == 0 || doc.Values[0].Name != "temperature" || !strings.HasPrefix(doc.Link, "udp:") {
		t.Errorf("document %+v %v", doc, err)
	}

	// A command placed at the OCS reaches the sensor; its answer comes back.
	if err := b.owner.PutValue(ctx, ocsID, "cmd-1", []byte("led on")); err != nil {
		t.Fatal(err)
	}
	img := bytes.Repeat([]byte{1, 2, 3, 4, 5}, 100)
	if err := b.owner.PutValue(ctx, ocsID, "thermo-3.0", img); err != nil {
		t.Fatal(err)
	}
	if err := b.owner.PutServiceInfo(ctx, ocsID, []ocs.SviMessage{
		{Module: ocs.ModuleOSP, Msg: ocs.MsgCommand, ValueLen: -1, ValueID: "cmd-1", Enc: "ascii"},
		{Module: ocs.ModuleOSP, Msg: ocs.MsgFirmware, ValueLen: -1, ValueID: "thermo-3.0", Enc: "base64"},
	}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the command's result", func() bool { return len(b.serviceinfo(ocsID, ocs.ModuleOSP, ocs.MsgCommandResult)) == 1 })
	if res := b.serviceinfo(ocsID, ocs.ModuleOSP, ocs.MsgCommandResult)[0]; !strings.Contains(res, `"status":"done"`) ||
		!strings.Contains(res, `"response":"b2s6IGxlZCBvbg=="`) { // "ok: led on"
		t.Errorf("result %s", res)
	}
	eventually(t, "the firmware cached", func() bool { _, err := b.g.db.GetFirmware("thermo-3.0"); return err == nil })
	var got []byte
	for chunk := uint16(0); ; chunk++ {
		if err := s.cl.RequestFirmware("thermo-3.0", chunk); err != nil {
			t.Fatal(err)
		}
		e := s.wait(osp.ClientFirmware)
		if len(e.Firmware.Data) == 0 {
			break
		}
		got = append(got, e.Firmware.Data...)
	}
	if !bytes.Equal(got, img) {
		t.Errorf("firmware served %d bytes, want the %d at the OCS", len(got), len(img))
	}
	eventually(t, "the command's entry removed", func() bool {
		list, err := b.owner.ServiceInfo(ctx, ocsID)
		return err == nil && len(list) == 1 && list[0].Msg == ocs.MsgFirmware
	})

	// Pre-serviceinfo renames the device.
	if err := b.g.ocs.store.PutPreServiceInfo(ocsID, []ocs.ModuleMessage{{Module: "osp", Msg: "name", Value: "greenhouse"}}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the name from psi", func() bool {
		d, err := b.api.Device(ctx, id)
		th, _ := b.g.Hub().Get("osp:3:30")
		return err == nil && d.Name == "greenhouse" && th.Name == "greenhouse"
	})

	// A sensor without the device's security: the failed handshake is
	// posted as an error of the device.
	bad := newSensor(t, b.g.UDPAddr(), osp.DeviceID{Type: 3, Module: 30}, osp.Security{}, nil)
	_ = bad.cl.Connect()
	eventually(t, "the handshake failure at the OCS", func() bool {
		st, err := b.owner.State(ctx, ocsID)
		return err == nil && st.To2Error != nil && st.To2Error.EC == ocs.ECAuthFailed
	})

	// A native thing's update goes up under its own deviceId.
	lamp := things.Thing{ID: "native:lamp", Kind: things.KindNative, Name: "lamp",
		Properties: []things.Property{{Name: "on", Type: things.TypeBool}}}
	thingID := ThingOCSDeviceID(lamp.ID)
	eventually(t, "the native thing at the OCS", func() bool {
		// The subscription may start after the first Upsert: repeat it.
		_, _ = b.g.Hub().Upsert(lamp)
		return len(b.serviceinfo(thingID, ocs.ModuleNative, ocs.MsgUpdate)) > 0
	})

	if cs, err := b.g.db.Consumers(); err != nil || !strings.Contains(strings.Join(cs, ","), "ocs") {
		t.Errorf("the forwarder's cursor is not registered: %v %v", cs, err)
	}
	st, err := b.api.Status(ctx)
	if err != nil || st.Upstream == nil {
		t.Fatalf("status %+v %v", st.Upstream, err)
	}
	var us admin.UpstreamStatus
	if err := b.api.Call(ctx, "GET", "/v1/upstream/status", nil, &us); err != nil {
		t.Fatal(err)
	}
	if !us.Bundled || us.Forwarder.Forwarded < 20 || us.Forwarder.QueueDepth != 0 || us.Puller.Commands != 1 || us.Puller.Firmware != 1 {
		t.Errorf("upstream status %+v", us)
	}
	var out map[string]int
	if err := b.api.Call(ctx, "POST", "/v1/upstream/deadletters/discard", admin.UpstreamDeadLetterRequest{All: true}, &out); err != nil || out["count"] != 0 {
		t.Errorf("discard all: %v %v", out, err)
	}
	if err := b.api.Call(ctx, "POST", "/v1/upstream/deadletters/requeue", admin.UpstreamDeadLetterRequest{ID: "0000000000000001"}, nil); !errors.Is(err, admin.ErrNotFound) {
		t.Errorf("requeue of an unknown dead letter: %v", err)
	}
}

// TestUpstreamKeysPersist: the client and bundled-server key pairs are
// generated once and kept across restarts.
func TestUpstreamKeysPersist(t *testing.T) {
	dir := t.TempDir()
	cfg := "[upstream.bundled]\nenabled = true\nlisten = \"127.0.0.1:0\"\n"
	r := startGateway(t, dir, cfg)
	// The files the gateway wrote, read as they are (not created here).
	fp := func(name string) string {
		c, err := tls.LoadX509KeyPair(certs.CertPath(dir, name), certs.KeyPath(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		return certs.SHA256(c.Certificate[0])
	}
	client, server := fp(clientCertName), fp("ocs-bundled")
	r.stop()
	startGateway(t, dir, cfg)
	if fp(clientCertName) != client || fp("ocs-bundled") != server {
		t.Error("key pairs changed across a restart")
	}
}

func TestUpstreamConfigValidation(t *testing.T) {
	for _, c := range []struct {
		cfg, want string
	}{
		{"[upstream]\nurl = \"https://ocs.example.com:9009\"\n", "server_certs or server_pins"},
		{"[upstream]\nurl = \"http://ocs.example.com:9009\"\n", "loopback"},
		{"[upstream]\nurl = \"ftp://x\"\n", "scheme"},
		{"[upstream]\nurl = \"https://ocs\"\nserver_pins = [\"abc\"]\n", "upstream.server_pins = \"abc\": must be a SHA-256"},
		{"[upstream.bundled]\nenabled = true\nclient_pins = [\"abc\"]\n", "upstream.bundled.client_pins = \"abc\": must be a SHA-256"},
		{"[upstream]\nclient_cert = \"c.pem\"\n", "go together"},
		{"[upstream]\nclient_key_type = \"dsa\"\n", "ec or rsa"},
		{"[upstream]\nbatch_size = -1\n", "batch_size"},
		{"[upstream]\nbackoff_min = \"10s\"\nbackoff_max = \"1s\"\n", "backoff_max"},
		{"[upstream.bundled]\nenabled = true\nlisten = \"0.0.0.0:9009\"\n", "loopback only"},
	} {
		_, err := ParseConfig(strings.NewReader(c.cfg))
		if !errors.Is(err, ErrConfig) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%q: %v, want an error about %q", c.cfg, err, c.want)
		}
	}
	ok := "[upstream]\nurl = \"https://ocs.example.com:9009\"\nserver_pins = [\"" + strings.Repeat("ab:", 31) + "ab\"]\n"
	if _, err := ParseConfig(strings.NewReader(ok)); err != nil {
		t.Errorf("a pinned https upstream: %v", err)
	}
	if _, err := ParseConfig(strings.NewReader("[upstream]\nurl = \"http://127.0.0.1:9009\"\n")); err != nil {
		t.Errorf("plain http on loopback: %v", err)
	}
}

func TestThingOCSDeviceIDIsStable(t *testing.T) {
	a, b := ThingOCSDeviceID("native:lamp"), ThingOCSDeviceID("native:lamp")
	if a != b || !uuidRE.MatchString(a) || a[14] != '5' || a == ThingOCSDeviceID("native:lamp2") {
		t.Errorf("ThingOCSDeviceID %q %q", a, b)
	}
}
