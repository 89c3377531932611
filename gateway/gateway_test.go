package gateway

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/edgegate/edgegate/drivers/serial"
	"github.com/edgegate/edgegate/gateway/admin"
	"github.com/edgegate/edgegate/gateway/osp"
	"github.com/edgegate/edgegate/gateway/things"
	"github.com/edgegate/edgegate/store"
)

const testKey = "000102030405060708090a0b0c0d0e0f"

// rig is a running in-process gateway with its admin client.
type rig struct {
	t    *testing.T
	dir  string
	g    *Gateway
	api  *admin.Client
	stop func()
}

// newGateway opens a gateway on the configuration text with its data in
// dir; running it is the caller's.
func newGateway(tb testing.TB, dir, config string) *Gateway {
	tb.Helper()
	cfg, err := ParseConfig(strings.NewReader(config))
	if err != nil {
		tb.Fatal(err)
	}
	g, err := New(cfg, dir, nil)
	if err != nil {
		tb.Fatal(err)
	}
	return g
}

// runGateway runs g and returns once it is ready, with Run's context and a
// stop that ends Run and returns its error.
func runGateway(g *Gateway) (context.Context, func() error) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- g.Run(ctx) }()
	<-g.Ready()
	return ctx, func() error { cancel(); return <-done }
}

func startGateway(t *testing.T, dir, extra string) *rig {
	t.Helper()
	g := newGateway(t, dir, "[osp.udp]\nlisten = \"127.0.0.1:0\"\n[osp]\ncommand_timeout = \"3s\"\n"+extra)
	_, stopRun := runGateway(g)
	r := &rig{t: t, dir: dir, g: g, api: admin.NewClient(g.AdminSocket())}
	stopped := false
	r.stop = func() {
		if stopped {
			return
		}
		stopped = true
		r.api.Close()
		if err := stopRun(); err != nil {
			t.Errorf("Run: %v", err)
		}
	}
	t.Cleanup(r.stop)
	return r
}

func (r *rig) add(spec admin.DeviceSpec) admin.Device {
	r.t.Helper()
	d, err := r.api.AddDevice(context.Background(), spec)
	if err != nil {
		r.t.Fatalf("add %v: %v", spec.ID, err)
	}
	return d
}

// sensor is an OSP client on its own UDP socket.
type sensor struct {
	t    *testing.T
	conn *net.UDPConn
	cl   *osp.Client
	ev   chan osp.ClientEvent
}

func (s *sensor) Send(pkt []byte) error { _, err := s.conn.Write(pkt); return err }

func newSensor(t *testing.T, gw net.Addr, dev osp.DeviceID, sec osp.Security, onEvent func(*sensor, osp.ClientEvent)) *sensor {
	t.Helper()
	conn, err := net.DialUDP("udp", nil, gw.(*net.UDPAddr))
	if err != nil {
		t.Fatal(err)
	}
	s := &sensor{t: t, conn: conn, ev: make(chan osp.ClientEvent, 4096)}
	s.cl, err = osp.NewClient(osp.ClientConfig{Device: dev, Security: sec, Peer: s, AckTimeout: time.Second,
		OnEvent: func(e osp.ClientEvent) {
			if onEvent != nil {
				onEvent(s, e)
			}
			s.ev <- e
		}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(func() { cancel(); conn.Close() })
	go pump(conn, func(pkt []byte) { s.cl.Handle(pkt) })
	go func() {
		tk := time.NewTicker(50 * time.Millisecond)
		defer tk.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-tk.C:
				s.cl.Tick()
			}
		}
	}()
	return s
}

// pump hands each read from r (a datagram, a DTLS record) to handle until
// r fails.
func pump(r io.Reader, handle func([]byte)) {
	buf := make([]byte, osp.MaxPacketSize)
	for {
		n, err := r.Read(buf)
		if err != nil {
			return
		}
		handle(buf[:n])
	}
}

// pumpStream frames the byte stream from r (a serial line) into packets
// for handle until r fails.
func pumpStream(r io.Reader, handle func([]byte)) {
	fr := serial.NewFramer(serial.FramerConfig{})
	pump(r, func(b []byte) { fr.Feed(time.Now(), b, handle) })
}

func (s *sensor) wait(kind osp.ClientEventKind) osp.ClientEvent {
	s.t.Helper()
	deadline := time.After(5 * time.Second)
	for {
		select {
		case e := <-s.ev:
			if e.Kind == kind {
				return e
			}
		case <-deadline:
			s.t.Fatalf("no %v event", kind)
		}
	}
}

func (s *sensor) open() {
	s.t.Helper()
	if err := s.cl.Connect(); err != nil {
		s.t.Fatal(err)
	}
	s.wait(osp.ClientOpened)
}

func (s *sensor) sendAcked(dt uint16, payload []byte) {
	s.t.Helper()
	if _, err := s.cl.SendData(dt, payload, osp.FlagAckReq); err != nil {
		s.t.Fatal(err)
	}
	s.wait(osp.ClientAcked)
}

func secure() osp.Security {
	return osp.Security{Secure: true, Key: []byte{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15}}
}

// eventually polls cond for up to five seconds.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if cond() {
			return
		}
	}
	t.Fatalf("timed out waiting for %s", what)
}

func propValue(t things.Thing, name string) (things.Value, bool) {
	p, ok := t.Property(name)
	return p.Value, ok && !p.Value.IsZero()
}

func TestReadingsDecodedIntoThingsAndJournal(t *testing.T) {
	r := startGateway(t, t.TempDir(), "")
	ctx := context.Background()
	r.add(admin.DeviceSpec{ID: admin.DeviceID{Type: 1, Module: 42}, Secure: true, Key: testKey, Profile: "thermo", Name: "greenhouse"})
	s := newSensor(t, r.g.UDPAddr(), osp.DeviceID{Type: 1, Module: 42}, secure(), nil)
	s.open()
	// 25.00 Cel, 50.0 %, battery 85 %.
	s.sendAcked(10, []byte{0x09, 0xc4, 0x01, 0xf4, 0x55})
	// Too short for the climate DataType: kept raw, never dropped.
	s.sendAcked(10, []byte{0x01})

	rs, err := r.api.LastReadings(ctx, admin.DeviceID{Type: 1, Module: 42}, 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(rs) != 2 || !rs[0].AckReq || !rs[0].Authenticated || !bytes.Equal(rs[0].Payload, []byte{0x09, 0xc4, 0x01, 0xf4, 0x55}) {
		t.Fatalf("readings %+v", rs)
	}
	if len(rs[0].Values) != 3 || rs[0].Values[0].Name != "temperature" {
		t.Fatalf("decoded values %+v", rs[0].Values)
	}
	if f, _ := rs[0].Values[0].Value.AsFloat(); f != 25 {
		t.Errorf("temperature %v, want 25", f)
	}

	eventually(t, "the thing's state", func() bool {
		th, err := r.api.Thing(ctx, "osp:1:42")
		if err != nil {
			t.Fatal(err)
		}
		_, raw := propValue(th, things.RawPropertyName(10))
		return th.Present && raw
	})
	th, _ := r.api.Thing(ctx, "osp:1:42")
	if v, ok := propValue(th, "temperature"); !ok || v.String() != "25" {
		t.Errorf("temperature property %v", v)
	}
	if p, _ := th.Property("temperature"); p.Unit != "Cel" {
		t.Errorf("unit %q", p.Unit)
	}
	st, err := r.api.Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if st.Things.Undecoded != 1 || st.Things.Projected != 2 || st.Journal.LastSeq != 2 || st.Sessions != 1 {
		t.Errorf("status %+v", st)
	}
	if st.OSP["data"] != 2 {
		t.Errorf("osp counters %v", st.OSP)
	}
}

func TestCommandsFromAdminAndHub(t *testing.T) {
	r := startGateway(t, t.TempDir(), "")
	ctx := context.Background()
	id := admin.DeviceID{Type: 2, Module: 7}
	r.add(admin.DeviceSpec{ID: id, Profile: "thermo"})
	if _, err := r.api.Command(ctx, id, admin.CommandRequest{Script: "reboot"}); !errors.Is(err, admin.ErrUnavailable) {
		t.Fatalf("command without a session: %v, want ErrUnavailable", err)
	}
	s := newSensor(t, r.g.UDPAddr(), osp.DeviceID{Type: 2, Module: 7}, osp.Security{}, func(s *sensor, e osp.ClientEvent) {
		if e.Kind == osp.ClientCommand {
			_ = s.cl.RespondCommand(e.Command.ID, 3, append([]byte("did "), e.Command.Script...))
		}
	})
	s.open()
	res, err := r.api.Command(ctx, id, admin.CommandRequest{Script: "status now"})
	if err != nil {
		t.Fatal(err)
	}
	if res.ExitCode != 3 || string(res.Response) != "did status now" || res.ID == 0 {
		t.Errorf("result %+v", res)
	}
	// An action of the thing's profile goes through the hub to the sensor.
	out, err := r.g.Hub().Perform(ctx, "osp:2:7", "setInterval", map[string]string{"seconds": "60"})
	if err != nil {
		t.Fatal(err)
	}
	if out.Status != things.StatusDone || out.Message != "exit code 3: did interval 60" {
		t.Errorf("perform %+v", out)
	}
	if _, err := r.g.Hub().Perform(ctx, "osp:2:7", "setInterval", map[string]string{"seconds": "6\n0"}); !errors.Is(err, things.ErrInvalidArgs) {
		t.Errorf("control character in an argument: %v", err)
	}
}

func TestCommandTimesOutWhenTheSensorIsSilent(t *testing.T) {
	r := startGateway(t, t.TempDir(), "")
	id := admin.DeviceID{Type: 2, Module: 8}
	r.add(admin.DeviceSpec{ID: id})
	s := newSensor(t, r.g.UDPAddr(), osp.DeviceID{Type: 2, Module: 8}, osp.Security{}, nil)
	s.open()
	_, err := r.api.Command(context.Background(), id, admin.CommandRequest{Script: "x", TimeoutMS: 200})
	if !errors.Is(err, admin.ErrTimeout) {
		t.Fatalf("err %v, want ErrTimeout", err)
	}
}

func TestFirmwareServedInChunks(t *testing.T) {
	r := startGateway(t, t.TempDir(), "")
	ctx := context.Background()
	image := make([]byte, 1000)
	for i := range image {
		image[i] = byte(i * 7)
	}
	fw, err := r.api.PutFirmware(ctx, "thermo-2.1.0", 0, image)
	if err != nil {
		t.Fatal(err)
	}
	if fw.ChunkSize != 128 || fw.Chunks != 8 || fw.Size != 1000 {
		t.Fatalf("firmware %+v", fw)
	}
	r.add(admin.DeviceSpec{ID: admin.DeviceID{Type: 1, Module: 1}, Secure: true, Key: testKey})
	s := newSensor(t, r.g.UDPAddr(), osp.DeviceID{Type: 1, Module: 1}, secure(), nil)
	s.open()
	var got []byte
	for chunk := uint16(0); ; chunk++ {
		if err := s.cl.RequestFirmware("thermo-2.1.0", chunk); err != nil {
			t.Fatal(err)
		}
		e := s.wait(osp.ClientFirmware)
		if e.Firmware.ChunkID != chunk {
			t.Fatalf("chunk %d answered as %d", chunk, e.Firmware.ChunkID)
		}
		if len(e.Firmware.Data) == 0 {
			if chunk != 8 {
				t.Fatalf("empty chunk %d", chunk)
			}
			break
		}
		got = append(got, e.Firmware.Data...)
	}
	if !bytes.Equal(got, image) {
		t.Fatal("reassembled image differs")
	}
	if err := s.cl.RequestFirmware("nonexistent", 0); err != nil {
		t.Fatal(err)
	}
	if e := s.wait(osp.ClientFirmware); len(e.Firmware.Data) != 0 {
		t.Error("unknown firmware answered with data")
	}
	if _, err := r.api.PutFirmware(ctx, "bad name", 0, image); !errors.Is(err, admin.ErrInvalid) {
		t.Errorf("name with a space: %v", err)
	}
	if err := r.api.DeleteFirmware(ctx, "thermo-2.1.0"); err != nil {
		t.Fatal(err)
	}
	if list, _ := r.api.Firmware(ctx); len(list) != 0 {
		t.Errorf("firmware left: %+v", list)
	}
}

func TestRemoveDeviceEndsItsSession(t *testing.T) {
	r := startGateway(t, t.TempDir(), "")
	ctx := context.Background()
	id := admin.DeviceID{Type: 3, Module: 1}
	r.add(admin.DeviceSpec{ID: id, Profile: "thermo"})
	s := newSensor(t, r.g.UDPAddr(), osp.DeviceID{Type: 3, Module: 1}, osp.Security{}, nil)
	s.open()
	s.sendAcked(10, []byte{0, 1, 0, 2, 3})
	if d, err := r.api.Device(ctx, id); err != nil || !d.Connected {
		t.Fatalf("device %+v %v", d, err)
	}
	if err := r.api.RemoveDevice(ctx, id); err != nil {
		t.Fatal(err)
	}
	s.wait(osp.ClientClosed)
	if err := s.cl.Connect(); err != nil {
		t.Fatal(err)
	}
	if e := s.wait(osp.ClientClosed); !errors.Is(e.Err, osp.ErrRefused) {
		t.Errorf("reconnect of a removed device: %v", e.Err)
	}
	if _, err := r.api.Thing(ctx, "osp:3:1"); !errors.Is(err, admin.ErrNotFound) {
		t.Errorf("thing of a removed device: %v", err)
	}
	// Its journaled readings stay.
	if rs, err := r.api.LastReadings(ctx, id, 5); err != nil || len(rs) != 1 {
		t.Errorf("readings of a removed device: %v %v", rs, err)
	}
	if err := r.api.RemoveDevice(ctx, id); !errors.Is(err, admin.ErrNotFound) {
		t.Errorf("second remove: %v", err)
	}
	if _, err := r.api.LastReadings(ctx, admin.DeviceID{Type: 9, Module: 9}, 5); !errors.Is(err, admin.ErrNotFound) {
		t.Errorf("readings of an unknown device: %v", err)
	}
}

func TestAddDeviceValidation(t *testing.T) {
	r := startGateway(t, t.TempDir(), "")
	ctx := context.Background()
	id := admin.DeviceID{Type: 4, Module: 4}
	for _, tc := range []struct {
		spec admin.DeviceSpec
		want error
		msg  string
	}{
		{admin.DeviceSpec{ID: id, Profile: "nosuch"}, admin.ErrInvalid, "known: meter, thermo"},
		{admin.DeviceSpec{ID: id, Key: testKey}, admin.ErrInvalid, "only a secure device"},
		{admin.DeviceSpec{ID: id, Secure: true, Key: "abcd"}, admin.ErrInvalid, "32 hex digits"},
		{admin.DeviceSpec{ID: id, Secure: true, Key: testKey, TagLen: 3}, admin.ErrInvalid, "tag"},
		{admin.DeviceSpec{ID: admin.DeviceID{Type: 0, Module: 1}}, admin.ErrInvalid, "DeviceType 0"},
	} {
		_, err := r.api.AddDevice(ctx, tc.spec)
		if !errors.Is(err, tc.want) || !strings.Contains(err.Error(), tc.msg) {
			t.Errorf("%+v: %v, want %v mentioning %q", tc.spec, err, tc.want, tc.msg)
		}
	}
	d := r.add(admin.DeviceSpec{ID: id, Secure: true})
	if len(d.Key) != 32 {
		t.Fatalf("generated key %q", d.Key)
	}
	if _, err := r.api.AddDevice(ctx, admin.DeviceSpec{ID: id}); !errors.Is(err, admin.ErrConflict) {
		t.Errorf("add twice: %v", err)
	}
	again := r.add(admin.DeviceSpec{ID: id, Secure: true, Key: testKey, Replace: true, Name: "renamed"})
	if again.Key != "" || again.Name != "renamed" || again.OCSDeviceID != d.OCSDeviceID || !again.Added.Equal(d.Added) {
		t.Errorf("replaced %+v, first %+v", again, d)
	}
	list, err := r.api.Devices(ctx)
	if err != nil || len(list) != 1 || list[0].Key != "" {
		t.Errorf("list %+v %v", list, err)
	}
	fi, err := os.Stat(r.g.AdminSocket())
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("socket mode %v %v", fi.Mode(), err)
	}
}

func TestThingStateSurvivesRestartAndReplay(t *testing.T) {
	dir := t.TempDir()
	r := startGateway(t, dir, "")
	r.add(admin.DeviceSpec{ID: admin.DeviceID{Type: 1, Module: 5}, Profile: "thermo"})
	s := newSensor(t, r.g.UDPAddr(), osp.DeviceID{Type: 1, Module: 5}, osp.Security{}, nil)
	s.open()
	s.sendAcked(10, []byte{0x00, 0x64, 0x00, 0x0a, 0x01}) // 1.00 Cel
	s.sendAcked(10, []byte{0x00, 0xc8, 0x00, 0x0a, 0x02}) // 2.00 Cel
	r.stop()

	// Restart: the state comes back from the store.
	r = startGateway(t, dir, "")
	th, _ := r.api.Thing(context.Background(), "osp:1:5")
	if v, _ := propValue(th, "temperature"); v.String() != "2" || th.Present {
		t.Fatalf("restored thing %+v", th)
	}
	r.stop()

	// A crash before the projector's state reached the disk: wind its
	// cursor back and drop the state; the restart replays the journal.
	db, err := store.Open(filepath.Join(dir, DBFile), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := db.SetCursor(projectorConsumer, 0); err != nil {
		t.Fatal(err)
	}
	if err := db.DeleteThing("osp:1:5"); err != nil {
		t.Fatal(err)
	}
	db.Close()
	r = startGateway(t, dir, "")
	eventually(t, "replay", func() bool {
		th, _ := r.api.Thing(context.Background(), "osp:1:5")
		v, _ := propValue(th, "temperature")
		return v.String() == "2"
	})
	if st, _ := r.api.Status(context.Background()); st.Things.Projected != 2 {
		t.Errorf("projected %d", st.Things.Projected)
	}
}

func TestConfiguredDeviceWithUnknownProfileIsAConfigError(t *testing.T) {
	cfg, err := ParseConfig(strings.NewReader("[[device]]\ntype = 1\nmodule = 1\nprofile = \"nosuch\"\n[osp.udp]\nlisten = \"\"\n"))
	if err != nil {
		t.Fatal(err)
	}
	_, err = New(cfg, t.TempDir(), nil)
	if !errors.Is(err, ErrConfig) || !strings.Contains(err.Error(), "device[0].profile") {
		t.Fatalf("err %v", err)
	}
}

func TestProfileDirAddsProfiles(t *testing.T) {
	dir := t.TempDir()
	prof := "name = \"door\"\n[[datatype]]\nid = 1\nname = \"state\"\n  [[datatype.field]]\n  name = \"open\"\n  offset = 0\n  type = \"u8\"\n"
	if err := os.WriteFile(filepath.Join(dir, "door.toml"), []byte(prof), 0o644); err != nil {
		t.Fatal(err)
	}
	r := startGateway(t, t.TempDir(), "[things]\nprofile_dir = \""+dir+"\"\n")
	r.add(admin.DeviceSpec{ID: admin.DeviceID{Type: 5, Module: 1}, Profile: "door"})
	r.add(admin.DeviceSpec{ID: admin.DeviceID{Type: 5, Module: 2}, Profile: "thermo"})
	if err := os.WriteFile(filepath.Join(dir, "bad.toml"), []byte("name = 1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg, _ := ParseConfig(strings.NewReader("[things]\nprofile_dir = \"" + dir + "\"\n[osp.udp]\nlisten = \"\"\n"))
	if _, err := New(cfg, t.TempDir(), nil); err == nil || !strings.Contains(err.Error(), "bad.toml") {
		t.Errorf("a bad profile file: %v", err)
	}
}

func TestDefaultOCSDeviceIDIsStableUUIDv5(t *testing.T) {
	a := DefaultOCSDeviceID(store.DeviceID{Type: 1, Module: 4242})
	if a != DefaultOCSDeviceID(store.DeviceID{Type: 1, Module: 4242}) || a == DefaultOCSDeviceID(store.DeviceID{Type: 1, Module: 4243}) {
		t.Fatal("not a function of the device")
	}
	if len(a) != 36 || a[14] != '5' || !strings.Contains("89ab", string(a[19])) {
		t.Errorf("not a UUIDv5: %s", a)
	}
	// The ids are kept in registries and at the OCS: they never change.
	if a != "d6c9a6fc-4bf7-5935-afd4-287b148f8f9c" {
		t.Errorf("DefaultOCSDeviceID(1:4242) = %s, it was d6c9a6fc-4bf7-5935-afd4-287b148f8f9c", a)
	}
	if n := ThingOCSDeviceID("native:lamp-udn"); n != "52b1b8ce-d4f5-5419-883c-7d61bd7763d5" {
		t.Errorf("ThingOCSDeviceID(native:lamp-udn) = %s, it was 52b1b8ce-d4f5-5419-883c-7d61bd7763d5", n)
	}
}

// TestIdentityPersists checks that the gateway's UUID is created once,
// kept across a restart, and that the name comes from the configuration.
func TestIdentityPersists(t *testing.T) {
	dir := t.TempDir()
	r := startGateway(t, dir, "[gateway]\nname = \"barn gateway\"\n")
	st, err := r.api.Status(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if st.Name != "barn gateway" || !uuidRE.MatchString(st.UUID) || st.UUID[14] != '4' {
		t.Fatalf("identity %q %q", st.Name, st.UUID)
	}
	first := r.g.Identity()
	r.stop()
	r = startGateway(t, dir, "")
	if id := r.g.Identity(); id.UUID != first.UUID || id.Name == "" || id.Name == "barn gateway" {
		t.Fatalf("after restart %+v, first %+v", id, first)
	}
	if _, err := ParseConfig(strings.NewReader("[gateway]\nname = \"a\\nb\"\n")); !errors.Is(err, ErrConfig) || !strings.Contains(err.Error(), "gateway.name") {
		t.Fatalf("a name with a newline: %v", err)
	}
}

// TestAcksOfEveryCommitSize sends bursts of AckReq readings from several
// sensors at once: commits then hold more ACKs than the committer sends
// itself (ackInline), and those go through the acker's goroutine. Every
// reading must be acknowledged exactly once either way.
func TestAcksOfEveryCommitSize(t *testing.T) {
	r := startGateway(t, t.TempDir(), "")
	const sensors, each = 8, 120
	var acked [sensors]atomic.Int32
	var ss [sensors]*sensor
	for i := range sensors {
		dev := osp.DeviceID{Type: 1, Module: uint32(100 + i)}
		r.add(admin.DeviceSpec{ID: admin.DeviceID{Type: dev.Type, Module: dev.Module}, Secure: true, Key: testKey})
		ss[i] = newSensor(t, r.g.UDPAddr(), dev, secure(), func(_ *sensor, e osp.ClientEvent) {
			if e.Kind == osp.ClientAcked {
				acked[i].Add(1)
			}
		})
		ss[i].open()
	}
	for round := range 2 {
		// One reading each: small commits, sent by the committer.
		for i := range sensors {
			if _, err := ss[i].cl.SendData(10, []byte{byte(round)}, osp.FlagAckReq); err != nil {
				t.Fatal(err)
			}
		}
		eventually(t, "the single readings acknowledged", func() bool {
			for i := range sensors {
				if acked[i].Load() != int32(round*(each+1)+1) {
					return false
				}
			}
			return true
		})
		// Then a burst from all at once.
		var wg sync.WaitGroup
		for i := range sensors {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for k := range each {
					if _, err := ss[i].cl.SendData(10, []byte{byte(k)}, osp.FlagAckReq); err != nil {
						t.Error(err)
						return
					}
				}
			}()
		}
		wg.Wait()
		eventually(t, "the bursts acknowledged", func() bool {
			for i := range sensors {
				if acked[i].Load() != int32((round+1)*(each+1)) {
					return false
				}
			}
			return true
		})
	}
	in, handed := r.g.acks.inline.Load(), r.g.acks.handed.Load()
	t.Logf("commits whose ACKs the committer sent: %d; handed to the acker: %d", in, handed)
	if in == 0 {
		t.Error("no commit's ACKs sent by the committer")
	}
	if handed == 0 {
		t.Error("no commit's ACKs handed to the acker: the bursts never filled a commit")
	}
	time.Sleep(200 * time.Millisecond)
	for i := range sensors {
		if n := acked[i].Load(); n != 2*(each+1) {
			t.Errorf("sensor %d: %d ACKs, want %d", i, n, 2*(each+1))
		}
	}
	if n := r.g.acks.pending(); n != 0 {
		t.Errorf("%d ACKs still counted as pending after all were sent", n)
	}
}
