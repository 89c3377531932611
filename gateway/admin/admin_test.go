package admin

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/edgegate/edgegate/gateway/things"
)

// stubBackend answers from fields; err, when set, fails every call.
type stubBackend struct {
	err     error
	devices []Device
	spec    DeviceSpec
	fwName  string
	fwChunk int
	fwData  []byte
}

func (b *stubBackend) Status(context.Context) (Status, error) { return Status{Version: "v"}, b.err }
func (b *stubBackend) Devices(context.Context) ([]Device, error) {
	return b.devices, b.err
}
func (b *stubBackend) Device(_ context.Context, id DeviceID) (Device, error) {
	return Device{ID: id}, b.err
}
func (b *stubBackend) AddDevice(_ context.Context, s DeviceSpec) (Device, error) {
	b.spec = s
	return Device{ID: s.ID, Secure: s.Secure}, b.err
}
func (b *stubBackend) RemoveDevice(context.Context, DeviceID) error              { return b.err }
func (b *stubBackend) Sessions(context.Context) ([]Session, error)               { return nil, b.err }
func (b *stubBackend) Readings(context.Context, ReadingQuery) ([]Reading, error) { return nil, b.err }
func (b *stubBackend) Command(_ context.Context, id DeviceID, script []byte) (CommandResult, error) {
	return CommandResult{Device: id, ExitCode: 1, Response: script}, b.err
}
func (b *stubBackend) Firmware(context.Context) ([]Firmware, error) { return nil, b.err }
func (b *stubBackend) PutFirmware(_ context.Context, name string, chunk int, data []byte) (Firmware, error) {
	b.fwName, b.fwChunk, b.fwData = name, chunk, data
	return Firmware{Name: name, Size: int64(len(data))}, b.err
}
func (b *stubBackend) DeleteFirmware(context.Context, string) error   { return b.err }
func (b *stubBackend) Things(context.Context) ([]things.Thing, error) { return nil, b.err }
func (b *stubBackend) Thing(context.Context, string) (things.Thing, error) {
	return things.Thing{}, b.err
}
func (b *stubBackend) Ports(context.Context) ([]Port, error) {
	return []Port{{Name: "/dev/ttyUSB0", USB: true, VID: "10c4", PID: "ea60"}}, b.err
}

func serve(t *testing.T, b Backend) (*Client, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "api.sock")
	ln, err := ListenUnix(path)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- NewServer(b, nil).Serve(ctx, ln) }()
	c := NewClient(path)
	t.Cleanup(func() {
		c.Close()
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	})
	return c, path
}

func TestRoundTrip(t *testing.T) {
	b := &stubBackend{devices: []Device{{ID: DeviceID{1, 2}, Name: "a"}}}
	c, _ := serve(t, b)
	ctx := context.Background()
	list, err := c.Devices(ctx)
	if err != nil || len(list) != 1 || list[0].ID != (DeviceID{1, 2}) || list[0].Name != "a" {
		t.Fatalf("devices %+v %v", list, err)
	}
	d, err := c.AddDevice(ctx, DeviceSpec{ID: DeviceID{7, 4294967295}, Secure: true, Key: "00"})
	if err != nil || d.ID != (DeviceID{7, 4294967295}) || b.spec.Key != "00" {
		t.Fatalf("add %+v %v (spec %+v)", d, err, b.spec)
	}
	res, err := c.Command(ctx, DeviceID{1, 2}, CommandRequest{Script: "hi\x00there"})
	if err != nil || string(res.Response) != "hi\x00there" || res.ExitCode != 1 {
		t.Fatalf("command %+v %v", res, err)
	}
	image := []byte{0, 1, 2, 255}
	if _, err := c.PutFirmware(ctx, "fw-1.0", 64, image); err != nil || b.fwName != "fw-1.0" || b.fwChunk != 64 || string(b.fwData) != string(image) {
		t.Fatalf("firmware %q %d %x %v", b.fwName, b.fwChunk, b.fwData, err)
	}
	ports, err := c.Ports(ctx)
	if err != nil || len(ports) != 1 || ports[0].VID != "10c4" {
		t.Errorf("ports %+v %v", ports, err)
	}
	sessions, err := c.Sessions(ctx)
	if err != nil || sessions == nil {
		t.Errorf("an empty list must decode as [] not null: %v %v", sessions, err)
	}
}

func TestErrorsKeepTheirClass(t *testing.T) {
	for _, want := range []error{ErrNotFound, ErrInvalid, ErrConflict, ErrUnavailable, ErrTimeout} {
		c, _ := serve(t, &stubBackend{err: fmt.Errorf("wrapped: %w", want)})
		_, err := c.Device(context.Background(), DeviceID{1, 1})
		if !errors.Is(err, want) || !strings.Contains(err.Error(), "wrapped") {
			t.Errorf("%v: got %v", want, err)
		}
		for _, other := range []error{ErrNotFound, ErrInvalid, ErrConflict, ErrUnavailable, ErrTimeout} {
			if other != want && errors.Is(err, other) {
				t.Errorf("%v also matches %v", err, other)
			}
		}
	}
	c, _ := serve(t, &stubBackend{err: errors.New("disk on fire")})
	var ae *Error
	if _, err := c.Status(context.Background()); !errors.As(err, &ae) || ae.Status != 500 || ae.Code != "internal" {
		t.Errorf("internal error: %v", err)
	}
}

func TestBadRequests(t *testing.T) {
	_, path := serve(t, &stubBackend{})
	hc := &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, "unix", path)
	}}}
	defer hc.CloseIdleConnections()
	for _, tc := range []struct {
		method, path, body string
		status             int
	}{
		{"GET", "/v1/devices/1:x", "", 400},
		{"GET", "/v1/devices/65536:1", "", 400},
		{"GET", "/v1/devices/1", "", 400},
		{"POST", "/v1/devices", `{"id":"1:2","bogus":true}`, 400},
		{"POST", "/v1/devices", `{"id":"1:2"`, 400},
		{"POST", "/v1/devices", `{"id":"x"}`, 400},
		{"GET", "/v1/devices/1:2/readings?last=0", "", 400},
		{"GET", "/v1/readings?from=-1", "", 400},
		{"POST", "/v1/devices/1:2/command", `{"script":"a","timeoutMs":-5}`, 400},
		{"PUT", "/v1/firmware/x?chunkSize=abc", "data", 400},
		{"GET", "/v2/nothing", "", 404},
		{"DELETE", "/v1/status", "", 404},
		{"POST", "/v1/devices", `{"id":"1:2"}`, 201},
	} {
		req, _ := http.NewRequest(tc.method, "http://x"+tc.path, strings.NewReader(tc.body))
		resp, err := hc.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var eb errorBody
		_ = json.NewDecoder(resp.Body).Decode(&eb)
		resp.Body.Close()
		if resp.StatusCode != tc.status {
			t.Errorf("%s %s %s: status %d (%+v), want %d", tc.method, tc.path, tc.body, resp.StatusCode, eb, tc.status)
		}
		if tc.status == 400 && (eb.Code != "invalid" || eb.Error == "") {
			t.Errorf("%s %s: body %+v", tc.method, tc.path, eb)
		}
	}
}

func TestListenUnix(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "s.sock")
	ln, err := ListenUnix(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi, _ := os.Stat(path); fi.Mode().Perm() != 0o600 {
		t.Errorf("mode %v", fi.Mode())
	}
	if _, err := ListenUnix(path); err == nil || !strings.Contains(err.Error(), "in use") {
		t.Errorf("second listener on a live socket: %v", err)
	}
	// A socket left by a process that died is replaced.
	ln.(*net.UnixListener).SetUnlinkOnClose(false)
	ln.Close()
	ln, err = ListenUnix(path)
	if err != nil {
		t.Fatalf("stale socket: %v", err)
	}
	ln.Close()
	file := filepath.Join(dir, "file")
	os.WriteFile(file, nil, 0o600)
	if _, err := ListenUnix(file); err == nil || !strings.Contains(err.Error(), "not a socket") {
		t.Errorf("regular file: %v", err)
	}
}

func TestParseDeviceID(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want DeviceID
		ok   bool
	}{
		{"1:2", DeviceID{1, 2}, true},
		{"65535:4294967295", DeviceID{65535, 4294967295}, true},
		{"0:0", DeviceID{}, true},
		{"65536:1", DeviceID{}, false},
		{"1:4294967296", DeviceID{}, false},
		{"1", DeviceID{}, false},
		{"-1:2", DeviceID{}, false},
		{"1:2:3", DeviceID{}, false},
		{" 1:2", DeviceID{}, false},
	} {
		got, err := ParseDeviceID(tc.in)
		if (err == nil) != tc.ok || got != tc.want {
			t.Errorf("%q: %v %v", tc.in, got, err)
		}
		if err != nil && !errors.Is(err, ErrInvalid) {
			t.Errorf("%q: %v is not ErrInvalid", tc.in, err)
		}
	}
}

// FuzzRequestBodies feeds arbitrary bytes to the API's JSON decoders: they
// fail with ErrInvalid or decode, and a decoded device id prints back to
// itself.
func FuzzRequestBodies(f *testing.F) {
	f.Add([]byte(`{"id":"1:2","secure":true,"key":"00112233445566778899aabbccddeeff","tagLen":8}`))
	f.Add([]byte(`{"script":"reboot","timeoutMs":100}`))
	f.Add([]byte(`{"id":"65535:4294967295"}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		for _, v := range []any{&DeviceSpec{}, &CommandRequest{}} {
			req, _ := http.NewRequest("POST", "http://x/", strings.NewReader(string(b)))
			if err := decodeBody(req, v); err != nil && !errors.Is(err, ErrInvalid) {
				t.Fatalf("decode error %v is not ErrInvalid", err)
			}
		}
		if id, err := ParseDeviceID(string(b)); err == nil {
			if again, err := ParseDeviceID(id.String()); err != nil || again != id {
				t.Fatalf("%q -> %v -> %v %v", b, id, again, err)
			}
		}
	})
}
