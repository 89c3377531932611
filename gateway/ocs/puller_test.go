package ocs

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/edgegate/edgegate/store"
	"github.com/edgegate/edgegate/store/storetest"
)

// fakeSensor is a Commander: offline, busy, failing or answering with
// exit code 0 and the script reversed.
type fakeSensor struct {
	mu      sync.Mutex
	offline bool
	fail    int // next calls that fail
	scripts []string
}

func (s *fakeSensor) Command(ctx context.Context, dev store.DeviceID, script []byte) (CommandResult, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.offline {
		return CommandResult{}, fmt.Errorf("osp: %w", ErrDeviceOffline)
	}
	s.scripts = append(s.scripts, string(script))
	if s.fail > 0 {
		s.fail--
		return CommandResult{}, errors.New("osp: command timed out")
	}
	r := slices.Clone(script)
	slices.Reverse(r)
	return CommandResult{ID: uint8(len(s.scripts)), ExitCode: 0, Response: r}, nil
}

func (s *fakeSensor) got() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.scripts)
}

type fakeSettings struct {
	mu      sync.Mutex
	name    string
	profile string
}

func (f *fakeSettings) ApplySettings(dev store.DeviceID, s DeviceSettings) ([]string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var changed []string
	if s.Profile != nil && *s.Profile != f.profile {
		if *s.Profile == "nope" {
			return nil, errors.New("unknown profile")
		}
		f.profile = *s.Profile
		changed = append(changed, "profile")
	}
	if s.Name != nil && *s.Name != f.name {
		f.name = *s.Name
		changed = append(changed, "name")
	}
	return changed, nil
}

type devList []store.Device

func (d devList) ListDevices() ([]store.Device, error) { return d, nil }

type pullRig struct {
	t      *testing.T
	db     *storetest.DB
	ocs    *Store
	c      *Client
	sensor *fakeSensor
	set    *fakeSettings
	ranges atomic.Int64 // GET values requests
	p      *Puller
}

const pullDev = "dev-1-1"

func newPullRig(t *testing.T) *pullRig {
	r := &pullRig{t: t, db: storetest.MustOpen(t, store.Options{}), sensor: &fakeSensor{}, set: &fakeSettings{}}
	var err error
	if r.ocs, err = OpenStore(filepath.Join(t.TempDir(), "ocsd.db")); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.ocs.Close() })
	srv := NewServer(r.ocs, ServerOptions{})
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if req.Method == "GET" && strings.Contains(req.URL.Path, "/values/") {
			r.ranges.Add(1)
		}
		srv.ServeHTTP(w, req)
	}))
	t.Cleanup(hs.Close)
	r.c = NewClient(hs.Client(), hs.URL)
	r.p, err = NewPuller(PullerOptions{Owner: r.c, Devices: devList{{Type: 1, Module: 1}}, Binding: testBinding{},
		Commander: r.sensor, Firmware: r.db, Settings: r.set, KV: r.db.KV("ocs"), Gateway: testGW,
		ChunkSize: 32, FetchSize: 100, Log: testLog(t)})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// poll runs one poll and waits for its commands.
func (r *pullRig) poll() {
	r.p.Poll(context.Background())
	r.p.wg.Wait()
}

func (r *pullRig) putCommand(valueID, script string) {
	r.t.Helper()
	ctx := context.Background()
	if err := r.c.PutValue(ctx, pullDev, valueID, []byte(script)); err != nil {
		r.t.Fatal(err)
	}
	list, err := r.c.ServiceInfo(ctx, pullDev)
	if err != nil && !IsNotFound(err) {
		r.t.Fatal(err)
	}
	list = append(list, SviMessage{Module: ModuleOSP, Msg: MsgCommand, ValueLen: -1, ValueID: valueID, Enc: "ascii"})
	if err := r.c.PutServiceInfo(ctx, pullDev, list); err != nil {
		r.t.Fatal(err)
	}
}

// results returns the device serviceinfo messages of msg.
func (r *pullRig) results(msg string) []string {
	var out []string
	_ = r.ocs.ScanDeviceServiceInfo(pullDev, func(m ModuleMessage) error {
		if m.Module == ModuleOSP && m.Msg == msg {
			out = append(out, m.Value)
		}
		return nil
	})
	return out
}

func TestPullerRunsCommandsInOrder(t *testing.T) {
	r := newPullRig(t)
	ctx := context.Background()
	r.putCommand("c1", "set rate 10")
	r.putCommand("c2", "reboot")
	// Another module's entry is the OPS's business and stays.
	list, _ := r.c.ServiceInfo(ctx, pullDev)
	_ = r.c.PutValue(ctx, pullDev, "other", []byte("x"))
	_ = r.c.PutServiceInfo(ctx, pullDev, append(list, SviMessage{Module: "sdo_sys", Msg: "filedesc", ValueLen: 1, ValueID: "other", Enc: "base64"}))

	r.sensor.offline = true
	r.poll()
	if got := r.sensor.got(); len(got) != 0 {
		t.Fatalf("commands sent to an offline device: %q", got)
	}
	r.sensor.offline = false
	r.poll()
	if got := r.sensor.got(); !slices.Equal(got, []string{"set rate 10", "reboot"}) {
		t.Fatalf("scripts %q", got)
	}
	res := r.results(MsgCommandResult)
	if len(res) != 2 {
		t.Fatalf("results %q", res)
	}
	var d CommandResultDoc
	if err := json.Unmarshal([]byte(res[0]), &d); err != nil || d.ValueID != "c1" || d.Status != "done" ||
		string(d.Response) != "01 etar tes" || d.Gateway != testGW || d.CommandID != 1 {
		t.Errorf("result %+v %v", d, err)
	}
	list, err := r.c.ServiceInfo(ctx, pullDev)
	if err != nil || len(list) != 1 || list[0].Module != "sdo_sys" {
		t.Errorf("entries left %+v %v", list, err)
	}
	r.poll()
	if n := len(r.sensor.got()); n != 2 {
		t.Errorf("%d commands after a second poll", n)
	}
	if s := r.p.Stats(); s.Commands != 2 || s.Polls != 3 {
		t.Errorf("stats %+v", s)
	}
	// The last command of a list removes the list.
	_ = r.c.DeleteServiceInfo(ctx, pullDev)
	r.putCommand("c3", "ping")
	r.poll()
	if _, err := r.c.ServiceInfo(ctx, pullDev); !IsNotFound(err) {
		t.Errorf("list after its last command: %v", err)
	}
}

// TestPullerNeverRunsACommandTwice: an outcome kept before a crash is
// posted after the restart without running the command again.
func TestPullerNeverRunsACommandTwice(t *testing.T) {
	r := newPullRig(t)
	r.putCommand("c1", "open valve")
	kept, _ := json.Marshal(commandRecord{Doc: CommandResultDoc{Gateway: testGW, ValueID: "c1", Status: "done", ExitCode: 3}})
	if err := r.db.KV("ocs").Put(prefixCommand+pullDev+"/c1", kept); err != nil {
		t.Fatal(err)
	}
	r.poll()
	if got := r.sensor.got(); len(got) != 0 {
		t.Errorf("ran again: %q", got)
	}
	if res := r.results(MsgCommandResult); len(res) != 1 || !strings.Contains(res[0], `"exitCode":3`) {
		t.Errorf("results %q", res)
	}
	if _, err := r.db.KV("ocs").Get(prefixCommand + pullDev + "/c1"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("record kept after delivery: %v", err)
	}
}

func TestPullerReportsFailedCommands(t *testing.T) {
	r := newPullRig(t)
	r.putCommand("c1", "calibrate")
	r.sensor.fail = 3
	for range 3 {
		r.poll()
	}
	if n := len(r.sensor.got()); n != 3 {
		t.Errorf("%d attempts", n)
	}
	res := r.results(MsgCommandResult)
	if len(res) != 1 || !strings.Contains(res[0], `"status":"failed"`) || !strings.Contains(res[0], "timed out") {
		t.Errorf("results %q", res)
	}
	// A script that is missing or too long fails at once.
	r.putCommand("c2", strings.Repeat("x", 5000))
	list, _ := r.c.ServiceInfo(context.Background(), pullDev)
	_ = r.c.PutServiceInfo(context.Background(), pullDev, append(list, SviMessage{Module: ModuleOSP, Msg: MsgCommand, ValueLen: 4, ValueID: "gone"}))
	r.poll()
	if res := r.results(MsgCommandResult); len(res) != 3 || !strings.Contains(res[1], "1..4096") || !strings.Contains(res[2], "does not exist") {
		t.Errorf("results %q", res)
	}
}

func TestPullerFetchesFirmwareInRanges(t *testing.T) {
	r := newPullRig(t)
	ctx := context.Background()
	img := bytes.Repeat([]byte("firmware-image-"), 70) // 1050 bytes: 11 ranges of 100
	if err := r.c.PutValue(ctx, pullDev, "fw-1.2.bin", img); err != nil {
		t.Fatal(err)
	}
	_ = r.c.PutServiceInfo(ctx, pullDev, []SviMessage{{Module: ModuleOSP, Msg: MsgFirmware, ValueLen: -1, ValueID: "fw-1.2.bin", Enc: "base64"}})
	r.poll()
	fw, err := r.db.GetFirmware("fw-1.2.bin")
	sum := sha256.Sum256(img)
	if err != nil || fw.Size != 1050 || fw.ChunkSize != 32 || fw.SHA256 != hex.EncodeToString(sum[:]) {
		t.Fatalf("firmware %+v %v", fw, err)
	}
	if n := r.ranges.Load(); n != 11 {
		t.Errorf("%d ranged requests, want 11", n)
	}
	chunk, _ := r.db.FirmwareChunk("fw-1.2.bin", 32)
	if !bytes.Equal(chunk, img[1024:]) {
		t.Errorf("last chunk %q", chunk)
	}
	r.poll() // cached: no fetch, no second status
	if n := r.ranges.Load(); n != 11 {
		t.Errorf("fetched again: %d requests", n)
	}
	st := r.results(MsgFirmwareStatus)
	if len(st) != 1 || !strings.Contains(st[0], `"status":"cached"`) || !strings.Contains(st[0], fw.SHA256) {
		t.Errorf("status %q", st)
	}
	// The entry stays: it is the owner's statement that the image is wanted.
	if list, err := r.c.ServiceInfo(ctx, pullDev); err != nil || len(list) != 1 {
		t.Errorf("entries %+v %v", list, err)
	}
	// A valueLen the value does not have fails verification, once.
	_ = r.c.PutServiceInfo(ctx, pullDev, []SviMessage{{Module: ModuleOSP, Msg: MsgFirmware, ValueLen: 2000, ValueID: "fw-short"}})
	_ = r.c.PutValue(ctx, pullDev, "fw-short", img)
	r.poll()
	r.poll()
	if _, err := r.db.GetFirmware("fw-short"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("a short image was cached: %v", err)
	}
	if st := r.results(MsgFirmwareStatus); len(st) != 2 || !strings.Contains(st[1], `"status":"failed"`) {
		t.Errorf("status %q", st)
	}
}

func TestPullerAppliesPreServiceInfo(t *testing.T) {
	r := newPullRig(t)
	if err := r.ocs.PutPreServiceInfo(pullDev, []ModuleMessage{{ModuleOSP, PSIName, "greenhouse"}, {ModuleOSP, PSIProfile, "thermo"},
		{"sdo_sys", "maxver", "1"}}); err != nil {
		t.Fatal(err)
	}
	r.poll()
	r.poll()
	if r.set.name != "greenhouse" || r.set.profile != "thermo" || r.p.Stats().PSIApplied != 1 {
		t.Errorf("settings %+v, stats %+v", r.set, r.p.Stats())
	}
	_ = r.ocs.PutPreServiceInfo(pullDev, []ModuleMessage{{ModuleOSP, PSIProfile, "nope"}})
	r.poll()
	if r.set.profile != "thermo" {
		t.Errorf("a bad profile was applied")
	}
}

// TestPullerRunStops: Run polls at its interval and returns once its
// context ends, after the commands in flight.
func TestPullerRunStops(t *testing.T) {
	r := newPullRig(t)
	r.p.o.Interval = 5 * time.Millisecond
	r.putCommand("c1", "x")
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.p.Run(ctx) }()
	eventually(t, "the command", func() bool { return len(r.results(MsgCommandResult)) == 1 })
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}
