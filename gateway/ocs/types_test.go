package ocs

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"
)

func readTestdata(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return bytes.TrimSpace(b)
}

func TestTimestamp(t *testing.T) {
	base := time.Date(2021, 3, 4, 10, 11, 12, 0, time.UTC)
	fmtCases := []struct {
		in   time.Time
		want string
	}{
		{base, "2021-03-04T10:11:12"},
		{base.Add(500 * time.Millisecond), "2021-03-04T10:11:12.5"},
		{base.Add(123456 * time.Microsecond), "2021-03-04T10:11:12.123456"},
		{base.Add(1), "2021-03-04T10:11:12.000000001"},
		{base.In(time.FixedZone("CET", 3600)), "2021-03-04T10:11:12"},
	}
	for _, c := range fmtCases {
		if got := FormatTimestamp(c.in); got != c.want {
			t.Errorf("FormatTimestamp(%v) = %q, want %q", c.in, got, c.want)
		}
		back, err := ParseTimestamp(c.want)
		if err != nil || !back.Equal(c.in) {
			t.Errorf("ParseTimestamp(%q) = %v, %v; want %v", c.want, back, err, c.in)
		}
	}
	parseCases := []struct {
		in   string
		want time.Time
		ok   bool
	}{
		{"2021-03-04T10:11", base.Add(-12 * time.Second), true},
		{"2021-03-04T10:11:12.123456789", base.Add(123456789), true},
		{"2021-03-04T10:11:12Z", time.Time{}, false},
		{"2021-03-04T10:11:12+01:00", time.Time{}, false},
		{"2021-03-04T10:11:12.", time.Time{}, false},
		{"2021-03-04T10:11:12.1234567891", time.Time{}, false},
		{"2021-03-04 10:11:12", time.Time{}, false},
		{"", time.Time{}, false},
	}
	for _, c := range parseCases {
		got, err := ParseTimestamp(c.in)
		if (err == nil) != c.ok || (c.ok && !got.Equal(c.want)) {
			t.Errorf("ParseTimestamp(%q) = %v, %v; want %v ok=%v", c.in, got, err, c.want, c.ok)
		}
	}
}

func TestJavaTimestamp(t *testing.T) {
	base := time.Date(2021, 3, 4, 10, 11, 12, 0, time.UTC)
	for in, want := range map[time.Time]string{
		base:                             "2021-03-04 10:11:12.0",
		base.Add(123 * time.Millisecond): "2021-03-04 10:11:12.123",
		base.Add(1):                      "2021-03-04 10:11:12.000000001",
	} {
		if got := javaTimestamp(in); got != want {
			t.Errorf("javaTimestamp(%v) = %q, want %q", in, got, want)
		}
	}
}

// TestRecordedShapes decodes the shapes quoted in ocs-wire.md and checks
// that encoding them again gives the same bytes.
func TestRecordedShapes(t *testing.T) {
	cases := []struct {
		file string
		v    any
	}{
		{"devicestate.json", new(DeviceState)},
		{"sessioninfo.json", new(To2DeviceSessionInfo)},
		{"sessioninfo-empty.json", new(To2DeviceSessionInfo)},
		{"svimessage.json", new([]SviMessage)},
		{"to0request.json", new(To0Request)},
	}
	for _, c := range cases {
		in := readTestdata(t, c.file)
		if err := json.Unmarshal(in, c.v); err != nil {
			t.Fatalf("%s: %v", c.file, err)
		}
		out, err := marshal(c.v)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(out, in) {
			t.Errorf("%s: round trip\n got %s\nwant %s", c.file, out, in)
		}
	}
	empty, _ := marshal(To2DeviceSessionInfo{&Message41Store{}, &Message45Store{}, &Message47Store{}, &DeviceCryptoInfo{}})
	if want := readTestdata(t, "sessioninfo-empty.json"); !bytes.Equal(empty, want) {
		t.Errorf("empty session info\n got %s\nwant %s", empty, want)
	}
}

func TestDeviceStateMerge(t *testing.T) {
	s := func(v string) *string { return &v }
	ws := 7200
	cur := DeviceState{To2State: s("to2begin"), To0Timestamp: s("2021-03-04T10:11:12"), To0Ws: &ws,
		To2Error: &ProtocolError{EC: 1}, To0Error: &ProtocolError{EC: 2}}
	cur.Merge(DeviceState{To2State: s("to2end")})
	if *cur.To2State != "to2end" || *cur.To0Timestamp != "2021-03-04T10:11:12" || *cur.To0Ws != 7200 {
		t.Errorf("present fields: %+v", cur)
	}
	if cur.To2Error != nil || cur.To0Error != nil {
		t.Errorf("errors not cleared: %+v", cur)
	}
}

func TestFragment(t *testing.T) {
	var m Message45Store
	if err := json.Unmarshal([]byte(`{"n7":"\"YQ==\"","nn":null,"xb":"[1,\"<\u0041>\"]"}`), &m); err != nil {
		t.Fatal(err)
	}
	if got := string(m.XB); got != `"[1,\"<\u0041>\"]"` {
		t.Errorf("xb kept as %s", got)
	}
	if s, ok := m.N7.Text(); !ok || s != `"YQ=="` {
		t.Errorf("n7 text %q %v", s, ok)
	}
	if _, ok := Fragment(nil).Text(); ok {
		t.Error("nil fragment has text")
	}
	if f := FragmentOf(`"x"`); string(f) != `"\"x\""` {
		t.Errorf("FragmentOf = %s", f)
	}
	for _, bad := range []string{`{"n7":1}`, `{"n7":{}}`, `{"n7":[]}`, `{"n7":true}`} {
		if err := json.Unmarshal([]byte(bad), &m); err == nil {
			t.Errorf("%s accepted", bad)
		}
	}
}

func TestVoucherGUID(t *testing.T) {
	id, err := VoucherGUID(readTestdata(t, "voucher.json"))
	if err != nil || id != "1fae14fb-deca-405a-abdd-b25391b9d932" {
		t.Fatalf("VoucherGUID = %q, %v", id, err)
	}
	for _, bad := range []string{``, `{}`, `{"oh":{"g":"AAAA"}}`, `{"oh":{"g":1}}`, `[]`} {
		if _, err := VoucherGUID([]byte(bad)); err == nil {
			t.Errorf("VoucherGUID(%s) accepted", bad)
		}
	}
}
