package steward

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/edgegate/edgegate/gateway/things"
)

func TestDecode(t *testing.T) {
	for _, tc := range []struct {
		in       string
		err      error
		id, path string
	}{
		{`{"path":"/api/v1/pair","requestID":1}`, nil, "1", "/api/v1/pair"},
		{`{"path":"/api/v1/pair","requestID":"1"}`, nil, "1", "/api/v1/pair"},
		{` {"requestID":"abc"}`, nil, "abc", ""},
		{`{"requestID":1.5,"path":"/x"}`, nil, "1.5", "/x"},
		{`{"requestID":1e21}`, nil, "1e+21", ""},
		{`{"requestID":-7}`, nil, "-7", ""},
		{`{"requestID":123456789012}`, nil, "123456789012", ""},
		{`{"RequestID":"x","path":"/p"}`, nil, "x", "/p"},
		{`{"requestID":"1","path":5}`, nil, "1", "5"},
		{`{"requestID":"1","path":null}`, nil, "1", ""},
		{`{"path":"/api/v1/pair"}`, ErrNoRequestID, "", ""},
		{`{"requestID":""}`, ErrNoRequestID, "", ""},
		{`{"requestID":0}`, ErrNoRequestID, "", ""},
		{`{"requestID":true}`, ErrNoRequestID, "", ""},
		{`{"requestID":null}`, ErrNoRequestID, "", ""},
		{`{"requestID":{}}`, ErrNoRequestID, "", ""},
		{`[1,2]`, ErrInvalidJSON, "", ""},
		{`null`, ErrInvalidJSON, "", ""},
		{`{"requestID":1`, ErrInvalidJSON, "", ""},
		{``, ErrInvalidJSON, "", ""},
		{`"x"`, ErrInvalidJSON, "", ""},
	} {
		m, err := Decode([]byte(tc.in))
		if !errors.Is(err, tc.err) {
			t.Errorf("%s: err %v, want %v", tc.in, err, tc.err)
			continue
		}
		if err == nil && (m.RequestID != tc.id || m.Path != tc.path) {
			t.Errorf("%s: requestID %q path %q, want %q %q", tc.in, m.RequestID, m.Path, tc.id, tc.path)
		}
	}
}

func TestFieldVariants(t *testing.T) {
	m, err := Decode([]byte(`{"requestID":2,"uuid":"u","passCode":"P","paringCode":"123456","things":{"b":{"x":1},"a":2}}`))
	if err != nil {
		t.Fatal(err)
	}
	if p, ok := m.String("passcode", "passCode"); !ok || p != "P" {
		t.Errorf("passcode = %q %v", p, ok)
	}
	if c, ok := m.String("pairingCode", "paringCode"); !ok || c != "123456" {
		t.Errorf("pairingCode = %q %v", c, ok)
	}
	list, ok := m.Entries("things")
	if !ok || len(list) != 2 || list[0].Key != "a" || list[0].IsObject() || !list[1].IsObject() {
		t.Errorf("entries %+v", list)
	}
	if _, ok := m.Entries("events"); ok {
		t.Error("events present")
	}
}

func TestRoute(t *testing.T) {
	for _, tc := range []struct {
		path string
		op   op
		gen  Generation
		arg  string
	}{
		{"/api/v1/pair", opPair, Native, ""},
		{"/api/v1/hello", opHello, Native, ""},
		{"/api/v1/thing/pair/testing1", opPair, Simple, "testing1"},
		{"/api/v1/thing/hello/1", opHello, Simple, "1"},
		{"/api/v1/thing/prototype/", opPrototype, Simple, ""},
		{"/api/v1/thing/register", opRegister, Simple, ""},
		{"/api/v1/update", opUpdate, Native, ""},
		{"/api/v1/thing/report", opReport, Simple, ""},
		{"/api/v1/report", opReport, Native, ""},
		{"/api/v1/prototypes", opUnknown, 0, ""},
		{"/api/v1/thing/observe", opUnknown, 0, ""},
		{"/api/v1/actor/list", opUnknown, 0, ""},
		{"", opUnknown, 0, ""},
	} {
		o, g, a := route(tc.path)
		if o != tc.op || g != tc.gen || a != tc.arg {
			t.Errorf("route(%q) = %v %v %q, want %v %v %q", tc.path, o, g, a, tc.op, tc.gen, tc.arg)
		}
	}
}

func TestReplyShapes(t *testing.T) {
	for _, tc := range []struct {
		r    Reply
		want string
	}{
		{Reply{RequestID: "1", Timestamp: 1384567890}, `{"requestID":"1","timestamp":1384567890}`},
		{Reply{RequestID: "2", Error: &ErrorBody{Permanent: true, Diagnostic: "authentication failed"}},
			`{"requestID":"2","error":{"permanent":true,"diagnostic":"authentication failed"}}`},
		{Reply{RequestID: "2", Result: success()}, `{"requestID":"2","result":{"status":"success","success":true}}`},
		{Reply{RequestID: "4", Things: map[string]Result{"UDN1": {Status: "success", Success: true, ThingID: "04718230"}}},
			`{"requestID":"4","things":{"UDN1":{"status":"success","success":true,"thingID":"04718230"}}}`},
		{Reply{RequestID: "5", Things: map[string]Result{"x": failure(false, "invalid thingID")}},
			`{"requestID":"5","things":{"x":{"error":{"permanent":false,"diagnostic":"invalid thingID"}}}}`},
		{Reply{RequestID: "9", Error: &ErrorBody{Diagnostic: "duplicate uuid", Videlicet: "user/.things/1"}},
			`{"requestID":"9","error":{"permanent":false,"diagnostic":"duplicate uuid","videlicet":"user/.things/1"}}`},
	} {
		b, err := json.Marshal(tc.r)
		if err != nil || string(b) != tc.want {
			t.Errorf("got %s %v\nwant %s", b, err, tc.want)
		}
	}
	b, _ := json.Marshal(Request{Path: opPath(Simple, "observe"), RequestID: "1", Events: map[string]any{
		"58213570": observeEntry{ThingID: "04718230", Observe: "motion", Parameter: "{}"}}})
	if want := `{"path":"/api/v1/thing/observe","requestID":"1","events":{"58213570":{"thingID":"04718230","observe":"motion","parameter":"{}","testOnly":false}}}`; string(b) != want {
		t.Errorf("observe %s", b)
	}
	b, _ = json.Marshal(Request{Path: opPath(Native, "perform"), RequestID: "10", Tasks: map[string]any{
		"taskID1": performEntry{Thing: "thingID1", Perform: "on", Parameter: "{}", TestOnly: true}}})
	if want := `{"path":"/api/v1/perform","requestID":"10","tasks":{"taskID1":{"thing":"thingID1","perform":"on","parameter":"{}","testOnly":true}}}`; string(b) != want {
		t.Errorf("perform %s", b)
	}
}

func TestDictionaryTyping(t *testing.T) {
	p, err := newPrototype(protoRecord{Path: "/device/climate/x/y", Properties: map[string]json.RawMessage{
		"name":        json.RawMessage(`true`),
		"status":      json.RawMessage(`["on","off"]`),
		"temperature": json.RawMessage(`"celsius"`),
		"noise":       json.RawMessage(`"db"`),
		"lastSample":  json.RawMessage(`"timestamp"`),
		"location":    json.RawMessage(`"coordinates"`),
		"wind":        json.RawMessage(`"knots"`),
		"color":       json.RawMessage(`{"model":["rgb","hue"],"rgb":{"r":"u8","g":"u8","b":"u8"}}`),
		"placement":   json.RawMessage(`true`),
	}})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, pr := range p.thing("native:u", "n").Properties {
		got[pr.Name] = pr.Type.String() + " " + pr.Unit
	}
	want := map[string]string{
		"status": "string ", "temperature": "float Cel", "noise": "float dB", "lastSample": "int ms",
		"location": "string ", "wind": "float knots", "color.model": "string ", "color.rgb.r": "float ",
		"color.rgb.g": "float ", "color.rgb.b": "float ", "placement": "string ",
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s: %q, want %q", k, got[k], v)
		}
	}
	if _, ok := got["name"]; ok {
		t.Error("name is a property")
	}
	var info map[string]json.RawMessage
	_ = json.Unmarshal([]byte(`{"temperature":"21.5","noise":40,"lastSample":"2013-03-28T15:52:49.680Z",
		"location":[47.5,19.0],"color":{"model":"rgb","rgb":{"r":255,"g":0,"b":"7"}},"placement":12,
		"extra":{"on":true,"n":3,"s":"x","l":[1]},"gone":null}`), &info)
	vals, err := values(p.specs, info, "", 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	gv := map[string]things.Value{}
	for _, v := range vals {
		gv[v.Name] = v.Value
	}
	ts := time.Date(2013, 3, 28, 15, 52, 49, 680e6, time.UTC).UnixMilli()
	for name, w := range map[string]things.Value{
		"temperature": things.FloatValue(21.5), "noise": things.FloatValue(40), "lastSample": things.IntValue(ts),
		"location": things.StringValue("[47.5,19.0]"), "color.model": things.StringValue("rgb"),
		"color.rgb.r": things.FloatValue(255), "color.rgb.b": things.FloatValue(7), "placement": things.StringValue("12"),
		"extra.on": things.BoolValue(true), "extra.n": things.FloatValue(3), "extra.s": things.StringValue("x"),
		"extra.l": things.StringValue("[1]"),
	} {
		if !gv[name].Equal(w) {
			t.Errorf("%s = %v (%v), want %v", name, gv[name], gv[name].Type(), w)
		}
	}
	if _, ok := gv["gone"]; ok {
		t.Error("null kept")
	}
	_ = json.Unmarshal([]byte(`{"temperature":"warm"}`), &info)
	if _, err := values(p.specs, map[string]json.RawMessage{"temperature": info["temperature"]}, "", 0, nil); err == nil || !strings.Contains(err.Error(), "temperature") {
		t.Errorf("non-number accepted: %v", err)
	}
	for _, bad := range []string{`1`, `null`, `""`, `[{}]`, `false`} {
		if _, err := parseSpec(json.RawMessage(bad), 0); err == nil {
			t.Errorf("spec %s accepted", bad)
		}
	}
}

func TestTOTP(t *testing.T) {
	// RFC 6238 appendix B, SHA-1, 8 digits.
	key := secret("12345678901234567890")
	for _, tc := range []struct {
		at   int64
		want string
	}{{59, "94287082"}, {1111111109, "07081804"}, {1111111111, "14050471"}, {1234567890, "89005924"}, {2000000000, "69279037"}} {
		if got := totp(key, time.Unix(tc.at, 0), 8); got != tc.want {
			t.Errorf("totp(%d) = %s, want %s", tc.at, got, tc.want)
		}
	}
	now := time.Unix(1_700_000_015, 0)
	for _, d := range []time.Duration{-30 * time.Second, 0, 30 * time.Second} {
		if !checkTOTP(key, totp(key, now.Add(d), 6), now) {
			t.Errorf("window %v refused", d)
		}
	}
	for _, d := range []time.Duration{-60 * time.Second, 60 * time.Second} {
		if checkTOTP(key, totp(key, now.Add(d), 6), now) {
			t.Errorf("window %v accepted", d)
		}
	}
	if checkTOTP(key, "12345", now) || checkTOTP(key, "", now) {
		t.Error("short response accepted")
	}
	k := newTOTPKey()
	if len(k) != totpKeyLen || strings.Trim(string(k), alphanumeric) != "" || len(base32Key(k)) != 64 {
		t.Errorf("key %d chars, base32 %d", len(k), len(base32Key(k)))
	}
	p := newPasscode()
	if !checkPasscode(passHash(string(p)), string(p)) || checkPasscode(passHash(string(p)), string(p)+"x") || checkPasscode(nil, "") {
		t.Error("passcode check")
	}
	for _, s := range []string{k.String(), p.String()} {
		if s != "[redacted]" {
			t.Errorf("secret shown: %s", s)
		}
	}
}
