package store_test

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/edgegate/edgegate/store"
	"github.com/edgegate/edgegate/store/storetest"
)

// secretKey has bytes distinctive enough to be spotted in any encoding.
var secretKey = []byte{0x9c, 0x3e, 0xab, 0x71, 0xd2, 0x05, 0xee, 0x48, 0x6f, 0xb3, 0x1a, 0xc7, 0x84, 0x59, 0xf0, 0x2d}

// keyForms returns the ways a key could appear in text.
func keyForms(key []byte) []string {
	dec := strings.Trim(fmt.Sprint(key), "[]")
	return []string{
		hex.EncodeToString(key), strings.ToUpper(hex.EncodeToString(key)),
		hex.EncodeToString(key[:4]), // even a fragment
		base64.StdEncoding.EncodeToString(key), base64.RawURLEncoding.EncodeToString(key),
		base64.StdEncoding.EncodeToString(key[:6]),
		string(key), dec, dec[:12], fmt.Sprintf("%q", key), fmt.Sprintf("%#v", key),
		"0x9c", "156, 62",
	}
}

// assertNoKey fails when s contains key in any of its forms.
func assertNoKey(t *testing.T, what, s string, key []byte) {
	t.Helper()
	for _, f := range keyForms(key) {
		if strings.Contains(s, f) {
			t.Errorf("%s leaks the key (%q) in: %s", what, f, s)
		}
	}
}

func secureDevice() store.Device {
	return store.Device{
		Type: 1, Module: 4242, Name: "greenhouse", Secure: true, Key: bytes.Clone(secretKey),
		TagLen: 8, Profile: "climate", OCSDeviceID: "dev-1", MaxMessageID: 200,
		Added: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC),
	}
}

func TestDeviceID(t *testing.T) {
	id := store.DeviceID{Type: 1, Module: 4242}
	if got := id.String(); got != "1:4242" {
		t.Fatalf("String = %q", got)
	}
	for _, s := range []string{"1:4242", "65535:4294967295", "0:0"} {
		id, err := store.ParseDeviceID(s)
		if err != nil || id.String() != s {
			t.Errorf("ParseDeviceID(%q) = %v, %v", s, id, err)
		}
	}
	for _, s := range []string{"", "1", "1:", ":1", "65536:1", "1:4294967296", "-1:2", "1:2:3", "0x1:2", " 1:2"} {
		if _, err := store.ParseDeviceID(s); !errors.Is(err, store.ErrInvalid) {
			t.Errorf("ParseDeviceID(%q) err = %v, want ErrInvalid", s, err)
		}
	}
	b, err := json.Marshal(map[string]store.DeviceID{"d": id})
	if err != nil || string(b) != `{"d":"1:4242"}` {
		t.Fatalf("json = %s, %v", b, err)
	}
	var back map[string]store.DeviceID
	if err := json.Unmarshal(b, &back); err != nil || back["d"] != id {
		t.Fatalf("json back = %v, %v", back, err)
	}
}

func TestDeviceRegistry(t *testing.T) {
	clk := newClock()
	db := storetest.MustOpen(t, store.Options{Now: clk.Now})

	if _, err := db.GetDevice(1, 4242); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("GetDevice on empty registry: %v, want ErrNotFound", err)
	}
	d := secureDevice()
	if err := db.PutDevice(d); err != nil {
		t.Fatal(err)
	}
	plain := store.Device{Type: 1, Module: 7, Name: "plain"}
	if err := db.PutDevice(plain); err != nil {
		t.Fatal(err)
	}
	got, err := db.GetDevice(1, 4242)
	if err != nil {
		t.Fatal(err)
	}
	assertDeviceEqual(t, got, d)
	got, err = db.GetDevice(1, 7)
	if err != nil {
		t.Fatal(err)
	}
	if got.TagLen != store.DefaultTagLen || got.MaxMessageID != store.DefaultMaxMessageID || !got.Added.Equal(clk.Now()) {
		t.Fatalf("defaults not applied: %v", got)
	}
	list, err := db.ListDevices()
	if err != nil || len(list) != 2 || list[0].Module != 7 || list[1].Module != 4242 {
		t.Fatalf("ListDevices = %v, %v (want ordered by module)", list, err)
	}
	if err := db.DeleteDevice(1, 7); err != nil {
		t.Fatal(err)
	}
	if err := db.DeleteDevice(1, 7); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("second delete: %v, want ErrNotFound", err)
	}
	if _, err := db.GetDevice(1, 7); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("deleted device: %v", err)
	}
}

func TestPutDeviceValidation(t *testing.T) {
	db := storetest.MustOpen(t, store.Options{})
	tests := []struct {
		name string
		mod  func(*store.Device)
	}{
		{"secure without key", func(d *store.Device) { d.Key = nil }},
		{"secure with short key", func(d *store.Device) { d.Key = d.Key[:15] }},
		{"secure with long key", func(d *store.Device) { d.Key = append(d.Key, 0) }},
		{"plain with key", func(d *store.Device) { d.Secure = false }},
		{"tag too short", func(d *store.Device) { d.TagLen = 3 }},
		{"tag too long", func(d *store.Device) { d.TagLen = 17 }},
		{"negative tag", func(d *store.Device) { d.TagLen = -1 }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := secureDevice()
			tt.mod(&d)
			err := db.PutDevice(d)
			if !errors.Is(err, store.ErrInvalid) {
				t.Fatalf("err = %v, want ErrInvalid", err)
			}
			if !strings.HasPrefix(err.Error(), "store: put device: ") {
				t.Fatalf("err %q lacks the operation prefix", err)
			}
			assertNoKey(t, "validation error", err.Error(), secretKey)
		})
	}
	for _, tl := range []int{4, 16} {
		d := secureDevice()
		d.TagLen = tl
		if err := db.PutDevice(d); err != nil {
			t.Errorf("tag length %d: %v", tl, err)
		}
	}
	if list, _ := db.ListDevices(); len(list) != 1 {
		t.Fatalf("invalid devices were stored: %v", list)
	}
}

// TestDeviceNeverPrintsKey runs a Device through every printing path a
// developer might use and checks the key never appears.
func TestDeviceNeverPrintsKey(t *testing.T) {
	d := secureDevice()
	pd := &d
	type wrapper struct {
		D   store.Device
		P   *store.Device
		All []store.Device
	}
	w := wrapper{D: d, P: pd, All: []store.Device{d, d}}

	var outs []string
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x", "%X", "%d", "%T %v"} {
		outs = append(outs, fmt.Sprintf(verb, d), fmt.Sprintf(verb, pd), fmt.Sprintf(verb, w), fmt.Sprintf(verb, []store.Device{d}))
	}
	outs = append(outs, d.String(), d.GoString(), fmt.Sprint(d), fmt.Sprintln(map[string]store.Device{"k": d}))

	var buf bytes.Buffer
	for _, h := range []slog.Handler{slog.NewTextHandler(&buf, nil), slog.NewJSONHandler(&buf, nil)} {
		l := slog.New(h)
		l.Info("device", "d", d, "p", pd, "list", []store.Device{d}, "w", w, slog.Any("any", d), slog.Group("g", "d", d))
		l.With("d", d).Warn("with")
	}
	outs = append(outs, buf.String())
	for _, v := range []any{d, pd, w, []store.Device{d}} {
		b, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		outs = append(outs, string(b))
	}
	for _, s := range outs {
		assertNoKey(t, "printed device", s, secretKey)
	}
	// The printed forms still say what matters.
	if s := buf.String(); !strings.Contains(s, "1:4242") || !strings.Contains(s, "greenhouse") || !strings.Contains(s, "[redacted]") {
		t.Fatalf("log output lost the device's identity: %s", s)
	}
	if s := fmt.Sprintf("%v", store.Device{Type: 2, Module: 3}); !strings.Contains(s, "Key:none") {
		t.Fatalf("plain device: %s", s)
	}
}

func assertDeviceEqual(t *testing.T, got, want store.Device) {
	t.Helper()
	if got.Type != want.Type || got.Module != want.Module || got.Name != want.Name || got.Secure != want.Secure ||
		!bytes.Equal(got.Key, want.Key) || got.TagLen != want.TagLen || got.Profile != want.Profile ||
		got.OCSDeviceID != want.OCSDeviceID || got.MaxMessageID != want.MaxMessageID || !got.Added.Equal(want.Added) {
		t.Fatalf("device = %v, want %v (keys equal: %t)", got, want, bytes.Equal(got.Key, want.Key))
	}
}
