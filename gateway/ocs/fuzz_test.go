package ocs

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// fuzzRoutes are the POST/PUT routes; may500 marks where the reference
// itself answers 500 for some bodies.
var fuzzRoutes = []struct {
	method, path string
	may500       bool
}{
	{"POST", "/v1/devices/voucher", false},
	{"POST", "/v1/devices//voucher", false},
	{"POST", "/v1/devices/" + devID + "/state", false},
	{"POST", "/v1/devices/" + devID + "/errors", true}, // empty or null body: NPE
	{"PUT", "/v1/devices/" + devID + "/msgs", false},
	{"POST", "/v1/devices/" + devID + "/msgs", false},
	{"PUT", "/v1/devices/" + devID + "/values/v", false},
	{"POST", "/v1/devices/" + devID + "/sessioninfo", false},
	{"POST", "/v1/signatures/" + devID, true},                      // empty body
	{"POST", "/v1/ciphers/" + devID + "?operation=encipher", true}, // EC owner key
}

func FuzzServerBodies(f *testing.F) {
	for _, name := range []string{"voucher.json", "devicestate.json", "sessioninfo.json", "sessioninfo-empty.json", "svimessage.json"} {
		b := readTestdata(f, name)
		for i := range fuzzRoutes {
			f.Add(uint8(i), b, true)
		}
	}
	f.Add(uint8(3), []byte(""), true)
	f.Add(uint8(4), []byte("null"), false)
	f.Add(uint8(5), []byte(`[{"module":1}]`), true)
	f.Add(uint8(7), []byte(`{"message41Store":{"n6":{}}}`), true)
	st, err := OpenStore(filepath.Join(f.TempDir(), "ocsd.db"))
	if err != nil {
		f.Fatal(err)
	}
	defer st.Close()
	k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err := st.SetOwnerKey(k); err != nil {
		f.Fatal(err)
	}
	h := NewServer(st, ServerOptions{})
	f.Fuzz(func(t *testing.T, route uint8, body []byte, asJSON bool) {
		rt := fuzzRoutes[int(route)%len(fuzzRoutes)]
		req := httptest.NewRequest(rt.method, rt.path, bytes.NewReader(body))
		if asJSON {
			req.Header.Set("Content-Type", "application/json")
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		code := w.Code
		if code >= 200 && code < 300 || code >= 400 && code < 500 || code == http.StatusInternalServerError && rt.may500 {
			return
		}
		t.Errorf("%s %s %q: status %d", rt.method, rt.path, body, code)
	})
}

// fuzzClientCalls are the client methods that parse a response body.
var fuzzClientCalls = []func(c *Client) error{
	func(c *Client) error { _, err := c.State(context.Background(), devID); return err },
	func(c *Client) error { _, err := c.ServiceInfo(context.Background(), devID); return err },
	func(c *Client) error { _, err := c.PreServiceInfo(context.Background(), devID); return err },
	func(c *Client) error { _, err := c.SetupInfo(context.Background(), devID); return err },
	func(c *Client) error { _, err := c.SessionInfo(context.Background(), devID); return err },
	func(c *Client) error { _, err := c.Resale(context.Background(), devID); return err },
	func(c *Client) error { _, err := c.Sign(context.Background(), devID, "x"); return err },
	func(c *Client) error { _, err := c.Health(context.Background()); return err },
	func(c *Client) error { _, err := c.Voucher(context.Background(), devID); return err },
	func(c *Client) error { _, err := c.Value(context.Background(), devID, "v", 0, 10); return err },
}

// FuzzClientResponses feeds arbitrary answers to every client method that
// decodes one: an error or a value, never a panic, and a non-2xx status
// always surfaces as an *HTTPError with that status.
func FuzzClientResponses(f *testing.F) {
	for _, name := range []string{"devicestate.json", "sessioninfo.json", "sessioninfo-empty.json", "svimessage.json", "voucher.json"} {
		b := readTestdata(f, name)
		for i := range fuzzClientCalls {
			f.Add(uint8(i), uint16(200), b)
		}
	}
	f.Add(uint8(5), uint16(200), []byte("true"))
	f.Add(uint8(3), uint16(200), []byte(`{"r3":[{"po":"x"}],"g3":1}`))
	f.Add(uint8(1), uint16(404), []byte(""))
	f.Add(uint8(4), uint16(500), []byte("{"))
	var (
		mu     sync.Mutex
		status int
		body   []byte
	)
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		st, b := status, body
		mu.Unlock()
		w.WriteHeader(st)
		_, _ = w.Write(b)
	}))
	defer hs.Close()
	c := NewClient(hs.Client(), hs.URL)
	f.Fuzz(func(t *testing.T, call uint8, st uint16, b []byte) {
		code := 200 + int(st)%400 // 200..599
		if code >= 300 && code < 400 {
			code += 100 // no redirects
		}
		mu.Lock()
		status, body = code, b
		mu.Unlock()
		err := fuzzClientCalls[int(call)%len(fuzzClientCalls)](c)
		if code >= 400 && StatusOf(err) != code {
			t.Errorf("status %d answered as %v", code, err)
		}
	})
}

// FuzzParseTimestamp: whatever parses formats back to a text that parses
// to the same instant, without zone.
func FuzzParseTimestamp(f *testing.F) {
	for _, s := range []string{"2021-03-04T10:11:12.123456", "2021-03-04T10:11", "2021-03-04T10:11:12Z", "2021-03-04T10:11:12.",
		"9999-12-31T23:59:59.999999999", "0000-01-01T00:00:00"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		ts, err := ParseTimestamp(s)
		if err != nil {
			return
		}
		out := FormatTimestamp(ts)
		if strings.ContainsAny(out, "Z+") {
			t.Fatalf("%q formatted with a zone: %q", s, out)
		}
		back, err := ParseTimestamp(out)
		if err != nil || !back.Equal(ts) {
			t.Fatalf("%q -> %v -> %q -> %v, %v", s, ts, out, back, err)
		}
	})
}

// FuzzVoucherGUID: a voucher's GUID is a canonical lower-case UUID or an
// error.
func FuzzVoucherGUID(f *testing.F) {
	f.Add(readTestdata(f, "voucher.json"))
	f.Add([]byte(`{"oh":{"g":"AAAAAAAAAAAAAAAAAAAAAQ=="}}`))
	f.Add([]byte(`{"oh":{"g":"AAAA"}}`))
	f.Add([]byte(`{"oh":null}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		id, err := VoucherGUID(b)
		if err != nil {
			return
		}
		if len(id) != 36 || strings.ToLower(id) != id || strings.Count(id, "-") != 4 {
			t.Fatalf("GUID %q", id)
		}
	})
}

// FuzzSessionInfo: a session info that decodes encodes again, and that
// encoding decodes to the same fragments (kept byte for byte).
func FuzzSessionInfo(f *testing.F) {
	for _, name := range []string{"sessioninfo.json", "sessioninfo-empty.json"} {
		f.Add(readTestdata(f, name))
	}
	f.Add([]byte(`{"message45Store":{"n7":"\"\\u0041\"","nn":null,"xb":"[1,\"x\"]"}}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		var si To2DeviceSessionInfo
		if json.Unmarshal(b, &si) != nil {
			return
		}
		out, err := marshal(si)
		if err != nil {
			t.Fatalf("marshal: %v", err)
		}
		var back To2DeviceSessionInfo
		if err := json.Unmarshal(out, &back); err != nil {
			t.Fatalf("re-decode %s: %v", out, err)
		}
		out2, _ := marshal(back)
		if !bytes.Equal(out, out2) {
			t.Fatalf("not stable:\n%s\n%s", out, out2)
		}
	})
}

// FuzzReadingDoc: a reading document that parses encodes to one that
// parses to the same document.
func FuzzReadingDoc(f *testing.F) {
	f.Add(`{"gw":"g","seq":1,"boot":1,"mono":5,"t":"2026-12-03T11:32:07.012416795","dev":"7:100","sid":1,"dataType":10,` +
		`"msgId":17,"cached":false,"saved":false,"ackReq":true,"auth":true,"link":"udp:127.0.0.1:1","rssi":-80.5,"snr":7.25,` +
		`"payload":"CDQB9FoAAAA=","values":[{"name":"temperature","value":{"type":"float","value":21}}]}`)
	f.Add(`{"gw":"g","seq":2,"t":"2026-12-03T11:32","dev":"1:1","values":[{"name":"raw_3","value":{"type":"bytes","value":"AA=="},"raw":true}]}`)
	f.Add(`{"gw":"g","seq":0}`)
	f.Add(`{"gw":"g","seq":1,"dev":"1:1","t":"2026-12-03T11:32:07Z"}`)
	f.Fuzz(func(t *testing.T, s string) {
		d, err := ParseReadingDoc(s)
		if err != nil {
			return
		}
		out, err := encodeDoc(d)
		if err != nil {
			t.Fatalf("encode %+v: %v", d, err)
		}
		back, err := ParseReadingDoc(out)
		if err != nil {
			t.Fatalf("re-parse %s: %v", out, err)
		}
		if again, _ := encodeDoc(back); again != out {
			t.Fatalf("not stable:\n%s\n%s", out, again)
		}
	})
}
