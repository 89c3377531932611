package oco

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"
)

func TestTimestamp(t *testing.T) {
	for _, c := range []struct {
		in   Timestamp
		want string
	}{
		{17180000001234, "1718000000.1234"},
		{17180000000001, "1718000000.0001"},
		{17180000000000, "1718000000.0000"},
		{5, "0.0005"},
		{-15, "-0.0015"},
	} {
		if got := c.in.String(); got != c.want {
			t.Errorf("%d: got %s, want %s", c.in, got, c.want)
		}
		b, _ := json.Marshal(c.in)
		if string(b) != c.want {
			t.Errorf("%d: JSON %s, want %s", c.in, b, c.want)
		}
		var back Timestamp
		if err := json.Unmarshal(b, &back); err != nil || back != c.in {
			t.Errorf("%s: read back %d, %v", b, back, err)
		}
	}
	var ts Timestamp
	if err := json.Unmarshal([]byte("12.345678"), &ts); err != nil || ts != 123456 {
		t.Errorf("12.345678: %d %v", ts, err)
	}
	if err := json.Unmarshal([]byte(`"x"`), &ts); err == nil {
		t.Error("a string is a timestamp")
	}
	tm := time.Unix(1718000000, 123456789)
	if got := TimestampOf(tm).String(); got != "1718000000.1234" {
		t.Errorf("TimestampOf: %s", got)
	}
}

func TestSignature(t *testing.T) {
	// RFC 4231-style check against a published HMAC-SHA256 value.
	const want = "f7bc83f430538424b13298e6aa6fb143ef4d59a14946175997479dbc2d1a3cd8"
	body := []byte("The quick brown fox jumps over the lazy dog")
	if got := sign("key", body); got != want {
		t.Fatalf("sign: %s", got)
	}
	if !verifySignature("key", body, want) || !verifySignature("key", body, strings.ToUpper(want)) {
		t.Error("verify refuses the right signature")
	}
	for _, bad := range []string{"", "zz", want[:62], want + "00", strings.Replace(want, "f7", "f8", 1)} {
		if verifySignature("key", body, bad) {
			t.Errorf("verify accepts %q", bad)
		}
	}
	if verifySignature("other", body, want) {
		t.Error("verify accepts another key")
	}
}

func TestParseResponse(t *testing.T) {
	for _, c := range []struct {
		name, body string
		want       Response
		err        error
	}{
		{"current hello", `{"id":1,"error":null,"result":{"success":true,"params":{"update":1},"timestamp":1718000000.123456}}`,
			Response{Success: true, Params: map[string]json.RawMessage{"update": json.RawMessage("1")}, Timestamp: 1718000000.123456, HasTimestamp: true}, nil},
		{"empty params as PHP list", `{"id":1,"error":null,"result":{"success":true,"params":[],"timestamp":5}}`,
			Response{Success: true, Params: map[string]json.RawMessage{}, Timestamp: 5, HasTimestamp: true}, nil},
		{"null params, success string", `{"result":{"success":"1","params":null}}`,
			Response{Success: true, Params: map[string]json.RawMessage{}}, nil},
		{"timestamp as string", `{"result":{"success":false,"timestamp":"12.5"}}`,
			Response{Params: map[string]json.RawMessage{}, Timestamp: 12.5, HasTimestamp: true}, nil},
		{"legacy unknown method", `{"error":"Unknown Method","result":null}`, Response{}, ErrUnknownMethod},
		{"error object", `{"error":{"code":-32601,"message":"Method not found"},"result":null}`, Response{}, ErrRejected},
		{"no result", `{"id":1,"error":null}`, Response{}, ErrProtocol},
		{"result not an object", `{"result":[1]}`, Response{}, ErrProtocol},
		{"params a non-empty list", `{"result":{"success":true,"params":[1]}}`, Response{}, ErrProtocol},
		{"params a string", `{"result":{"success":true,"params":"x"}}`, Response{}, ErrProtocol},
		{"success not boolean", `{"result":{"success":"yes"}}`, Response{}, ErrProtocol},
		{"timestamp not a number", `{"result":{"success":true,"timestamp":"soon"}}`, Response{}, ErrProtocol},
		{"not JSON", `<html>oops</html>`, Response{}, ErrProtocol},
		{"empty", ``, Response{}, ErrProtocol},
	} {
		got, err := ParseResponse("m", []byte(c.body))
		if c.err != nil {
			if !errors.Is(err, c.err) {
				t.Errorf("%s: err %v, want %v", c.name, err, c.err)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s: %v", c.name, err)
			continue
		}
		if fmt.Sprint(got) != fmt.Sprint(c.want) {
			t.Errorf("%s: got %+v, want %+v", c.name, got, c.want)
		}
	}
}

func TestParseServerError(t *testing.T) {
	for _, c := range []struct {
		name   string
		status int
		reason string
		body   string
		msg    string
		is     []error
		isNot  []error
	}{
		{"current unknown method", 400, "Bad Request", "Unknown method", "Unknown method", []error{ErrUnknownMethod, ErrRejected}, []error{ErrUnauthorized}},
		{"v1.0.1 reason phrase", 400, "Unknown Method", "", "Unknown Method", []error{ErrUnknownMethod}, nil},
		{"v1.0.1 parameter mismatch", 400, "Parameter Mismatch", "", "Parameter Mismatch", []error{ErrRejected}, []error{ErrUnknownMethod}},
		{"signature", 401, "Unauthorized", "Invalid agent signature", "Invalid agent signature", []error{ErrUnauthorized}, []error{ErrRejected}},
		{"v1.0.1 computer", 404, "Computer Not Found", "", "Computer Not Found", []error{ErrNotFound}, nil},
		{"v1.0.1 forbidden", 403, "Client Self-Registration Disabled", "", "Client Self-Registration Disabled", []error{ErrUnauthorized}, nil},
		{"job not found", 400, "Bad Request", "Job »7« not found", "Job »7« not found", []error{ErrNotFound, ErrRejected}, nil},
		{"bare reason only", 500, "Internal Server Error", "", "", []error{ErrServerFailure}, nil},
		{"php fatal", 500, "Internal Server Error", "<br />\n<b>Fatal error</b>:  Uncaught PDOException", "Fatal error : Uncaught PDOException", []error{ErrServerFailure}, nil},
	} {
		err := ParseServerError("oco.agent.hello", c.status, c.reason, []byte(c.body))
		if err.Message != c.msg {
			t.Errorf("%s: message %q, want %q", c.name, err.Message, c.msg)
		}
		for _, e := range c.is {
			if !errors.Is(err, e) {
				t.Errorf("%s: not %v", c.name, e)
			}
		}
		for _, e := range c.isNot {
			if errors.Is(err, e) {
				t.Errorf("%s: is %v", c.name, e)
			}
		}
		if !strings.Contains(err.Error(), fmt.Sprint(c.status)) {
			t.Errorf("%s: %q lacks the status", c.name, err.Error())
		}
	}
	long := ParseServerError("m", 400, "", bytes.Repeat([]byte("x"), 5000))
	if len(long.Message) != maxErrorBody {
		t.Errorf("long body kept as %d bytes", len(long.Message))
	}
	if got := reasonPhrase("400 Parameter Mismatch"); got != "Parameter Mismatch" {
		t.Errorf("reasonPhrase: %q", got)
	}
}

func mustResponse(t *testing.T, body string) Response {
	t.Helper()
	r, err := ParseResponse("m", []byte(body))
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestParseHello(t *testing.T) {
	r := mustResponse(t, `{"id":1,"error":null,"result":{"success":true,"params":{
		"server-key":"s3rv3r","agent-key":null,"update":1,"logins-since":"1970-01-01 00:00:00",
		"software-jobs":[
			{"id":12,"container-id":"3","package-id":"7","download":true,"procedure":"sh install.sh","sequence-mode":1,"restart":null,"shutdown":null,"exit":null},
			{"id":"dynamic-4","container-id":"deployment_rule::2","package-id":8,"download":false,"procedure":"true","sequence-mode":0,"restart":5,"shutdown":null,"exit":0}
		],"events":[],"update-passwords":[]},"timestamp":1.5}}`)
	h, err := ParseHello("m", r)
	if err != nil {
		t.Fatal(err)
	}
	if h.ServerKey.Reveal() != "s3rv3r" || !h.AgentKey.IsZero() || !h.Update || len(h.Jobs) != 2 {
		t.Fatalf("hello %+v", h)
	}
	j0, j1 := h.Jobs[0], h.Jobs[1]
	if string(j0.ID) != "12" || j0.Container != "3" || string(j0.PackageID) != `"7"` || !j0.Download || j0.SequenceMode != 1 || j0.Restart != nil {
		t.Errorf("job 0 %+v", j0)
	}
	if string(j1.ID) != `"dynamic-4"` || j1.IDText() != "dynamic-4" || j1.Container != "deployment_rule::2" || *j1.Restart != 5 || *j1.Exit != 0 || j1.Shutdown != nil {
		t.Errorf("job 1 %+v", j1)
	}
	// The seed text's single job object.
	r = mustResponse(t, `{"result":{"success":true,"params":{"server-key":"a","agent-key":"b","update":0,
		"software-jobs":{"id":123,"container-id":12,"package-id":1234,"download":true,"procedure":"x","sequence-mode":0,"restart":null,"shutdown":null,"exit":null}}}}`)
	if h, err = ParseHello("m", r); err != nil || len(h.Jobs) != 1 || string(h.Jobs[0].ID) != "123" || h.Update {
		t.Errorf("seed hello: %+v %v", h, err)
	}
	for _, bad := range []string{
		`{"software-jobs":[{"id":{"x":1},"procedure":"x"}]}`,
		`{"software-jobs":[{"procedure":"x"}]}`,
		`{"software-jobs":[{"id":1,"download":true,"procedure":"x"}]}`,
		`{"software-jobs":[{"id":"","procedure":"x"}]}`,
		`{"software-jobs":[{"id":1,"procedure":7}]}`,
		`{"software-jobs":[{"id":1,"restart":-1}]}`,
		`{"software-jobs":"none"}`,
		`{"server-key":5}`,
		`{"update":"soon"}`,
		`{"software-jobs":[{"id":"` + strings.Repeat("9", 300) + `"}]}`,
	} {
		r := mustResponse(t, `{"result":{"success":true,"params":`+bad+`}}`)
		if _, err := ParseHello("m", r); !errors.Is(err, ErrProtocol) {
			t.Errorf("%s: err %v", bad, err)
		}
	}
}

func TestParseJobReply(t *testing.T) {
	r := mustResponse(t, `{"result":{"success":true,"params":{"server-key":"k","job-succeeded":true}}}`)
	if jr, err := ParseJobReply("m", r); err != nil || !jr.Succeeded {
		t.Errorf("%+v %v", jr, err)
	}
	r = mustResponse(t, `{"result":{"success":true,"params":{"job-succeeded":"maybe"}}}`)
	if _, err := ParseJobReply("m", r); !errors.Is(err, ErrProtocol) {
		t.Errorf("err %v", err)
	}
}

func TestPHPVersionCompare(t *testing.T) {
	for _, c := range []struct {
		a, b string
		want int
	}{
		{"1.0.0", "1.1.7", -1},
		{"1.1.7", "1.1.7", 0},
		{"1.2.0", "1.1.7", 1},
		{"1.1.10", "1.1.7", 1},
		{"1.1.7.1", "1.1.7", 1},
		{"1.1.7rc1", "1.1.7", -1},
		{"1.1.7-dev", "1.1.7", -1},
		{"1.1.7pl1", "1.1.7", 1},
		{"dev", "1.1.7", -1},
		{"v2.0.0", "1.1.7", -1},
		{"edgegate", "1.1.7", -1},
		{"1.2.0-edgegate-dev", "1.1.7", 1},
		{"1.2.0-edgegate-v0.3.1-4-gabcdef", "1.1.7", 1},
		{"2", "1.1.7", 1},
		{"", "1.1.7", -1},
		{"1.1.7", "", 1},
		{"", "", 0},
		{"1.0", "1.0.0", -1},
		{"1.0.0", "1.0", 1},
	} {
		if got := phpVersionCompare(c.a, c.b); got != c.want {
			t.Errorf("version_compare(%q, %q) = %d, want %d", c.a, c.b, got, c.want)
		}
	}
	for in, want := range map[string]string{"1.0rc1": "1.0.rc.1", "1.0-beta_2+x": "1.0.beta.2.x", "a..b": "a.b", "1/2": "1./.2"} {
		if got := phpCanonVersion(in); got != want {
			t.Errorf("canon(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestWireAgentVersion(t *testing.T) {
	for in, want := range map[string]string{
		"":             "1.2.0-edgegate",
		"dev":          "1.2.0-edgegate-dev",
		"v0.4.1":       "1.2.0-edgegate-v0.4.1",
		"0.9.0":        "1.2.0-edgegate-0.9.0",
		"2.0.0":        "2.0.0",
		"1.1.7":        "1.1.7",
		" 3.1.0-rc1 ":  "3.1.0-rc1",
		"1.1.6-hotfix": "1.2.0-edgegate-1.1.6-hotfix",
	} {
		got := WireAgentVersion(in)
		if got != want {
			t.Errorf("WireAgentVersion(%q) = %q, want %q", in, got, want)
		}
		if phpVersionCompare(got, signedSince) < 0 {
			t.Errorf("%q would not be signed", got)
		}
	}
}

func TestSecretRedacted(t *testing.T) {
	s := NewSecret("hunter2-key")
	var buf bytes.Buffer
	log := slog.New(slog.NewJSONHandler(&buf, nil))
	log.Info("x", "key", s, "any", any(s))
	log.Info("y", slog.Any("key", s))
	b, _ := json.Marshal(struct{ K Secret }{s})
	out := strings.Join([]string{
		fmt.Sprint(s), fmt.Sprintf("%s %v %q %x %#v %+v %d", s, s, s, s, s, s, s), s.String(), s.GoString(),
		buf.String(), string(b), fmt.Sprint(struct{ K Secret }{s}), fmt.Sprintf("%+v", &struct{ K Secret }{s}),
	}, "\n")
	if strings.Contains(out, "hunter2") {
		t.Fatalf("the key leaks:\n%s", out)
	}
	if !strings.Contains(out, redacted) {
		t.Fatalf("no redaction marker:\n%s", out)
	}
	if s.Reveal() != "hunter2-key" || !s.Equal(NewSecret("hunter2-key")) || s.Equal(NewSecret("x")) || s.IsZero() {
		t.Error("Reveal/Equal/IsZero")
	}
	if NewSecret("").String() != "" {
		t.Error("an empty secret prints")
	}
}

func TestServerErrorHint(t *testing.T) {
	for msg, want := range map[string]string{
		"Agent timestamp too old":              "clock",
		"Client self-registration is disabled": "self-registration",
		"Agent key mismatch":                   "forget-keys",
		"Computer not found":                   "removed",
		"Content type mismatch":                "proxy",
	} {
		e := &ServerError{Method: "oco.agent.hello", Status: http.StatusUnauthorized, Message: msg}
		if h := e.Hint(); !strings.Contains(h, want) {
			t.Errorf("%q: hint %q", msg, h)
		}
	}
}
