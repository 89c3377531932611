package gateway

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/base32"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/edgegate/edgegate/gateway/admin"
	"github.com/edgegate/edgegate/gateway/mdns"
	"github.com/edgegate/edgegate/gateway/mdns/mdnstest"
	"github.com/edgegate/edgegate/gateway/pairing"
	"github.com/edgegate/edgegate/gateway/things"
)

const stewardConfig = "[mdns]\ninterfaces = [\"lo\"]\n[steward]\nenabled = true\nlisten = \"127.0.0.1:0\"\nabsent_after = \"60s\"\n"

// discoverSteward browses _wss._tcp on loopback for the steward whose TXT
// uuid is uuid, checks its TXT record and returns it.
func discoverSteward(t *testing.T, g *Gateway) mdns.Entry {
	t.Helper()
	for range 5 {
		ctx, cancel := context.WithTimeout(context.Background(), 1500*time.Millisecond)
		list, err := mdns.Browse(ctx, "_wss._tcp", []string{"lo"})
		cancel()
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range list {
			if u, _ := e.TXT("uuid"); e.Instance == "steward" && u == g.Identity().UUID {
				if n, _ := e.TXT("name"); n != g.Identity().Name {
					t.Errorf("TXT name %q, want %q", n, g.Identity().Name)
				}
				if e.Port != g.StewardAddr().(*net.TCPAddr).Port {
					t.Errorf("advertised port %d, listening on %v", e.Port, g.StewardAddr())
				}
				return e
			}
		}
	}
	t.Fatal("steward not found by mDNS")
	return mdns.Entry{}
}

// pinCertificate fetches /server.crt, checks it against the TXT sha256 and
// /server.sha1, and returns a pool holding only it.
func pinCertificate(t *testing.T, e mdns.Entry) *x509.CertPool {
	t.Helper()
	base := fmt.Sprintf("https://127.0.0.1:%d", e.Port)
	insecure := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}} //nolint:gosec // fetched once, then pinned by the fingerprint from TXT
	get := func(path string) string {
		resp, err := insecure.Get(base + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != 200 {
			t.Fatalf("%s: %s", path, resp.Status)
		}
		return string(b)
	}
	blk, _ := pem.Decode([]byte(get("/server.crt")))
	if blk == nil {
		t.Fatal("/server.crt is not PEM")
	}
	sum := sha256.Sum256(blk.Bytes)
	if fp, _ := e.TXT("sha256"); fp != hex.EncodeToString(sum[:]) {
		t.Fatalf("TXT sha256 %q does not match the served certificate", fp)
	}
	if s := get("/server.sha1"); !strings.HasPrefix(s, "SHA1 Fingerprint=") || len(strings.TrimSpace(s)) != len("SHA1 Fingerprint=")+59 {
		t.Errorf("/server.sha1 = %q", s)
	}
	if s := get("/server.sha256"); !strings.HasPrefix(s, "SHA256 Fingerprint=") {
		t.Errorf("/server.sha256 = %q", s)
	}
	cert, err := x509.ParseCertificate(blk.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	if cert.Subject.CommonName != "steward" || !strings.Contains(strings.Join(cert.DNSNames, " "), "steward.local") {
		t.Errorf("certificate %v %v", cert.Subject, cert.DNSNames)
	}
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return pool
}

type wsPeer struct {
	t *testing.T
	c *websocket.Conn
}

func dialSteward(t *testing.T, url string, pool *x509.CertPool) *wsPeer {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, _, err := websocket.Dial(ctx, url, &websocket.DialOptions{HTTPClient: &http.Client{Transport: &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: pool, ServerName: "localhost", MinVersion: tls.VersionTLS12}}}})
	if err != nil {
		t.Fatalf("dial %s: %v", url, err)
	}
	t.Cleanup(func() { c.CloseNow() })
	return &wsPeer{t: t, c: c}
}

func (p *wsPeer) send(s string) {
	p.t.Helper()
	if err := p.c.Write(context.Background(), websocket.MessageText, []byte(s)); err != nil {
		p.t.Fatal(err)
	}
}

func (p *wsPeer) recv() map[string]any {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, b, err := p.c.Read(ctx)
	if err != nil {
		p.t.Fatalf("recv: %v", err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		p.t.Fatal(err)
	}
	return m
}

func (p *wsPeer) call(s string) map[string]any { p.send(s); return p.recv() }

func (p *wsPeer) closedWith() websocket.StatusCode {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for {
		if _, _, err := p.c.Read(ctx); err != nil {
			return websocket.CloseStatus(err)
		}
	}
}

// at walks nested objects: at(m, "result", "passCode").
func at(m map[string]any, path ...string) any {
	var v any = m
	for _, k := range path {
		o, _ := v.(map[string]any)
		v = o[k]
	}
	return v
}

func str(m map[string]any, path ...string) string { s, _ := at(m, path...).(string); return s }

func firstKey(m map[string]any, path ...string) string {
	o, _ := at(m, path...).(map[string]any)
	for k := range o {
		return k
	}
	return ""
}

// answerTasks answers every perform request p receives with success,
// until it closes.
func answerTasks(p *wsPeer, simple bool, got chan<- map[string]any) {
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		_, b, err := p.c.Read(ctx)
		cancel()
		if err != nil {
			got <- map[string]any{"closed": int(websocket.CloseStatus(err))}
			return
		}
		var m map[string]any
		if json.Unmarshal(b, &m) != nil {
			continue
		}
		path := str(m, "path")
		switch {
		case strings.HasSuffix(path, "/perform"):
			tid := firstKey(m, "tasks")
			if simple {
				_ = p.c.Write(context.Background(), websocket.MessageText, fmt.Appendf(nil, `{"path":"/api/v1/thing/report","requestID":%q,"tasks":{%q:{"status":"success"}}}`, str(m, "requestID"), tid))
			} else {
				_ = p.c.Write(context.Background(), websocket.MessageText, fmt.Appendf(nil, `{"requestID":%q,"tasks":{%q:{"status":"success"}}}`, str(m, "requestID"), tid))
			}
		case strings.HasSuffix(path, "/report"): // a cancel
			eid := firstKey(m, "events")
			_ = p.c.Write(context.Background(), websocket.MessageText, fmt.Appendf(nil, `{"requestID":%q,"events":{%q:{"status":"success"}}}`, str(m, "requestID"), eid))
		case strings.HasSuffix(path, "/observe"):
			eid := firstKey(m, "events")
			if simple {
				_ = p.c.Write(context.Background(), websocket.MessageText, fmt.Appendf(nil, `{"path":"/api/v1/thing/report","requestID":%q,"events":{%q:{"status":"success"}}}`, str(m, "requestID"), eid))
			} else {
				_ = p.c.Write(context.Background(), websocket.MessageText, fmt.Appendf(nil, `{"requestID":%q,"events":{%q:{"status":"success"}}}`, str(m, "requestID"), eid))
			}
		}
		got <- m
	}
}

func TestStewardNativeEndToEnd(t *testing.T) {
	mdnstest.LockInstance(t, "steward")
	r := startGateway(t, t.TempDir(), stewardConfig)
	ctx := context.Background()
	e := discoverSteward(t, r.g)
	pool := pinCertificate(t, e)
	url := fmt.Sprintf("wss://localhost:%d/native", e.Port)
	const uuid = "01234567-89ab-cdef-0123-4567890abcde"

	p := dialSteward(t, url, pool)
	m := p.call(`{"path":"/api/v1/pair","requestID":1,"uuid":"` + uuid + `"}`)
	if at(m, "error", "permanent") != false {
		t.Fatalf("pairing outside the window: %v", m)
	}
	var st pairing.State
	if err := r.api.Call(ctx, http.MethodPost, "/v1/pairing", map[string]string{"for": "5m"}, &st); err != nil || !st.Open {
		t.Fatalf("open the window: %+v %v", st, err)
	}
	m = p.call(`{"path":"/api/v1/pair","requestID":2,"uuid":"` + uuid + `"}`)
	pass := str(m, "result", "passCode")
	if pass == "" || at(m, "result", "success") != true {
		t.Fatalf("pair: %v", m)
	}
	_ = r.api.Call(ctx, http.MethodDelete, "/v1/pairing", nil, &st)

	m = p.call(`{"path":"/api/v1/hello","requestID":3,"uuid":"` + uuid + `","passCode":"nope"}`)
	if at(m, "error", "permanent") != true || str(m, "error", "diagnostic") != "authentication failed" {
		t.Fatalf("wrong passcode: %v", m)
	}
	p.closedWith()

	p = dialSteward(t, url, pool)
	if m = p.call(`{"path":"/api/v1/hello","requestID":3,"uuid":"` + uuid + `","passCode":"` + pass + `"}`); str(m, "result", "status") != "success" {
		t.Fatalf("hello: %v", m)
	}
	m = p.call(`{"path":"/api/v1/prototype","requestID":4,"things":{"/device/lighting/acme/bulb":{"observe":["motion"],"perform":["on","off"],
		"properties":{"name":true,"status":["on","off"],"brightness":"percentage","color":{"model":["rgb"],"rgb":{"r":"u8","g":"u8","b":"u8"}}}}}}`)
	if str(m, "things", "/device/lighting/acme/bulb", "status") != "success" {
		t.Fatalf("prototype: %v", m)
	}
	m = p.call(`{"path":"/api/v1/register","requestID":5,"things":{"bulb-udn-1":{"prototype":"/device/lighting/acme/bulb","name":"porch","status":"off","info":{"brightness":10}}}}`)
	sid := str(m, "things", "bulb-udn-1", "thingID")
	if sid == "" {
		t.Fatalf("register: %v", m)
	}
	obs := p.recv() // observe of the declared event
	eid := firstKey(obs, "events")
	p.send(fmt.Sprintf(`{"requestID":%q,"events":{%q:{"status":"success"}}}`, str(obs, "requestID"), eid))
	var info StewardStatus
	if err := r.api.Call(ctx, http.MethodGet, "/v1/steward", nil, &info); err != nil || info.SHA256 != txt(e, "sha256") || info.Stats.HelloOK != 1 {
		t.Errorf("GET /v1/steward: %+v %v", info, err)
	}
	eventually(t, "observation confirmed", func() bool {
		var evs []map[string]any
		_ = r.api.Call(ctx, http.MethodGet, "/v1/steward/events", nil, &evs)
		return len(evs) == 1 && evs[0]["eventID"] == eid && evs[0]["confirmed"] == true
	})
	m = p.call(`{"path":"/api/v1/update","requestID":6,"things":{"` + sid + `":{"status":"on","info":{"brightness":80,"color":{"model":"rgb","rgb":{"r":255,"g":128,"b":0}}}}}}`)
	if str(m, "things", sid, "status") != "success" {
		t.Fatalf("update: %v", m)
	}
	if m = p.call(`{"path":"/api/v1/report","requestID":7,"events":{"` + eid + `":{"reason":"observe"}}}`); str(m, "events", eid, "status") != "success" {
		t.Fatalf("report: %v", m)
	}
	th, err := r.api.Thing(ctx, "native:bulb-udn-1")
	if err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]string{"brightness": "80 %", "color.rgb.g": "128 ", "status": "on ", "event.motion": "1 "} {
		if pr, ok := th.Property(name); !ok || pr.Value.String()+" "+pr.Unit != want {
			t.Errorf("%s = %s %s (present %v), want %s", name, pr.Value, pr.Unit, ok, want)
		}
	}
	// Perform through the admin API (gatewayctl things perform).
	got := make(chan map[string]any, 8)
	go answerTasks(p, false, got)
	var res map[string]any
	if err := r.api.Call(ctx, http.MethodPost, "/v1/things/native:bulb-udn-1/perform", admin.PerformRequest{Action: "on", Args: map[string]string{"level": "50"}}, &res); err != nil ||
		res["status"] != "done" || res["message"] != "performed" {
		t.Fatalf("perform: %v %v", res, err)
	}
	task := <-got
	if e := at(task, "tasks", firstKey(task, "tasks")).(map[string]any); e["thing"] != sid || e["perform"] != "on" || e["parameter"] != `{"level":"50"}` {
		t.Errorf("task %v", task)
	}
	var o map[string]any
	if err := r.api.Call(ctx, http.MethodPost, "/v1/steward/things/native:bulb-udn-1/observe", admin.ObserveRequest{Observe: "motion", Parameter: "{}", TestOnly: true}, &o); err != nil || o["confirmed"] != true {
		t.Errorf("test-only observe: %v %v", o, err)
	}
	if req := <-got; at(req, "events", firstKey(req, "events"), "testOnly") != true {
		t.Errorf("observe request %v", req)
	}
	if err := r.api.Call(ctx, http.MethodDelete, "/v1/steward/events/"+eid, nil, nil); err != nil {
		t.Errorf("cancel: %v", err)
	}
	if req := <-got; at(req, "events", eid, "reason") != "cancel" {
		t.Errorf("cancel request %v", req)
	}
	if err := r.api.Call(ctx, http.MethodDelete, "/v1/steward/events/"+eid, nil, nil); err == nil {
		t.Error("cancelled an unknown event")
	}
	// Re-attach after a reconnect.
	p.c.CloseNow()
	eventually(t, "absent", func() bool { th, _ := r.g.hub.Get("native:bulb-udn-1"); return !th.Present })
	p = dialSteward(t, url, pool)
	p.call(`{"path":"/api/v1/hello","requestID":1,"uuid":"` + uuid + `","passCode":"` + pass + `"}`)
	m = p.call(`{"path":"/api/v1/register","requestID":2,"things":{"bulb-udn-1":{"prototype":"/device/lighting/acme/bulb","name":"porch"}}}`)
	if s2 := str(m, "things", "bulb-udn-1", "thingID"); s2 == "" || s2 == sid {
		t.Fatalf("re-attach: %v", m)
	}
	var status struct {
		Steward map[string]any `json:"steward"`
	}
	if err := r.api.Call(ctx, http.MethodGet, "/v1/status", nil, &status); err != nil || status.Steward["reattached"] != float64(1) {
		t.Errorf("status steward %v %v", status.Steward, err)
	}
	// Revoke: the socket closes and the pairing is gone.
	var clients []map[string]any
	if err := r.api.Call(ctx, http.MethodGet, "/v1/steward/clients", nil, &clients); err != nil || len(clients) != 1 || clients[0]["name"] != uuid {
		t.Fatalf("clients %v %v", clients, err)
	}
	if err := r.api.Call(ctx, http.MethodDelete, "/v1/steward/clients/"+uuid, nil, nil); err != nil {
		t.Fatal(err)
	}
	if code := p.closedWith(); code != 4001 {
		t.Errorf("revoked socket closed with %d", code)
	}
	p = dialSteward(t, url, pool)
	if m = p.call(`{"path":"/api/v1/hello","requestID":1,"uuid":"` + uuid + `","passCode":"` + pass + `"}`); str(m, "error", "diagnostic") != "authentication failed" {
		t.Errorf("hello after revoke: %v", m)
	}
	// A restart restores the native thing from the store, absent, with its
	// last values and event count.
	r.stop()
	r = startGateway(t, r.dir, stewardConfig)
	th, ok := r.g.hub.Get("native:bulb-udn-1")
	if !ok || th.Present || th.Name != "porch" {
		t.Fatalf("after a restart: %+v", th)
	}
	for name, want := range map[string]things.Value{"brightness": things.FloatValue(80), "status": things.StringValue("on"), "event.motion": things.IntValue(1)} {
		if pr, _ := th.Property(name); !pr.Value.Equal(want) {
			t.Errorf("after a restart %s = %v, want %v", name, pr.Value, want)
		}
	}
}

func TestStewardSimpleEndToEnd(t *testing.T) {
	mdnstest.LockInstance(t, "steward")
	r := startGateway(t, t.TempDir(), stewardConfig+"plain_listen = \"127.0.0.1:0\"\n")
	ctx := context.Background()
	e := discoverSteward(t, r.g)
	pool := pinCertificate(t, e)
	url := fmt.Sprintf("wss://127.0.0.1:%d/manage", e.Port)

	p := dialSteward(t, url, pool)
	if m := p.call(`{"path":"/api/v1/thing/pair/testing1","name":"testing1","requestID":1}`); str(m, "error", "diagnostic") != "unknown api: /api/v1/thing/pair/testing1" {
		t.Fatalf("pairing outside the window: %v", m)
	}
	r.g.Pairing().Open(time.Minute) // the board's button
	p.send(`{"path":"/api/v1/thing/pair/testing1","name":"testing1","requestID":2}`)
	if m := p.recv(); str(m, "requestID") != "2" || m["result"] != nil {
		t.Fatalf("intermediate %v", m)
	}
	m := p.recv()
	id := str(m, "result", "thingID")
	key, err := base32.StdEncoding.WithPadding(base32.NoPadding).DecodeString(str(m, "result", "params", "base32"))
	if err != nil || id == "" {
		t.Fatalf("pair %v %v", m, err)
	}
	r.g.Pairing().Close()
	code := func(at time.Time) string { return totpCode(key, at) }
	if m = p.call(`{"path":"/api/v1/thing/hello/` + id + `","response":"` + code(time.Now().Add(-5*time.Minute)) + `","requestID":3}`); at(m, "error", "permanent") != false {
		t.Fatalf("stale code %v", m)
	}
	if m = p.call(`{"path":"/api/v1/thing/hello/` + id + `","response":"` + code(time.Now()) + `","requestID":4}`); at(m, "result", "success") != true {
		t.Fatalf("hello %v", m)
	}
	m = p.call(`{"path":"/api/v1/thing/prototype","requestID":5,"things":{"/device/climate/acme/meter":{"device":{"name":"Meter","maker":"Acme"},
		"observe":["motion"],"perform":["reset"],"name":true,"status":["present","absent"],"properties":{"temperature":"celsius","humidity":"percentage"}}}}`)
	if at(m, "things", "/device/climate/acme/meter", "success") != true {
		t.Fatalf("prototype %v", m)
	}
	m = p.call(`{"path":"/api/v1/thing/register","requestID":6,"things":{"t1":{"devicetype":"/device/climate/acme/meter","name":"cellar","status":"present",
		"device":{"name":"Meter","maker":"Acme","unit":{"serial":"9","udn":"meter-9"}},"info":{"temperature":11.5}}}}`)
	sid := str(m, "things", "t1", "thingID")
	if sid == "" || str(m, "requestID") != "6" {
		t.Fatalf("register %v", m)
	}
	// The steward asks for the declared event; the shipped client confirms
	// with a report reusing the requestID (no reply), then reports it.
	obs := p.recv()
	eid := firstKey(obs, "events")
	if str(obs, "path") != "/api/v1/thing/observe" || at(obs, "events", eid, "thingID") != sid {
		t.Fatalf("observe %v", obs)
	}
	p.send(fmt.Sprintf(`{"path":"/api/v1/thing/report","requestID":%q,"events":{%q:{"status":"success"}}}`, str(obs, "requestID"), eid))
	if m = p.call(`{"path":"/api/v1/thing/update","requestID":7,"things":{"` + sid + `":{"info":{"humidity":64}}}}`); at(m, "things", sid, "success") != true {
		t.Fatalf("update %v", m)
	}
	if m = p.call(`{"path":"/api/v1/thing/report","requestID":8,"events":{"` + eid + `":{"reason":"observe"}}}`); at(m, "events", eid, "success") != true || str(m, "requestID") != "8" {
		t.Fatalf("report %v", m)
	}
	if th, _ := r.g.hub.Get("native:meter-9"); !func() bool { p, _ := th.Property("event.motion"); return p.Value.Equal(things.IntValue(1)) }() {
		t.Errorf("event not fired in the hub: %+v", th.Properties)
	}
	th, _ := r.g.hub.Get("native:meter-9")
	if t1, _ := th.Property("temperature"); !t1.Value.Equal(things.FloatValue(11.5)) || t1.Unit != "Cel" {
		t.Errorf("temperature %+v", t1)
	}
	got := make(chan map[string]any, 8)
	go answerTasks(p, true, got)
	var res map[string]any
	if err := r.api.Call(ctx, http.MethodPost, "/v1/things/native:meter-9/perform", admin.PerformRequest{Action: "reset", TestOnly: true}, &res); err != nil ||
		res["status"] != "done" || res["message"] != "parameters accepted (test only)" {
		t.Fatalf("perform: %v %v", res, err)
	}
	if task := <-got; at(task, "tasks", firstKey(task, "tasks"), "testOnly") != true || at(task, "tasks", firstKey(task, "tasks"), "thingID") != sid {
		t.Errorf("task %v", task)
	}
	// Plain ws on loopback still needs a hello.
	pl := dialSteward(t, "ws://"+r.g.StewardPlainAddr().String()+"/manage", nil)
	if m = pl.call(`{"path":"/api/v1/thing/update","requestID":1,"things":{"` + sid + `":{}}}`); str(m, "error", "diagnostic") != "unknown api" {
		t.Errorf("plain ws without hello: %v", m)
	}
	if m = pl.call(`{"path":"/api/v1/thing/hello/` + id + `","response":"` + code(time.Now()) + `","requestID":2}`); at(m, "result", "success") != true {
		t.Fatalf("hello over plain ws %v", m)
	}
	if c := <-got; c["closed"] != 1001 { // the newer hello closed the older socket
		t.Errorf("older socket: %v", c)
	}
	m = pl.call(`{"path":"/api/v1/thing/register","requestID":3,"things":{"t1":{"devicetype":"/device/climate/acme/meter","name":"cellar","status":"present",
		"device":{"name":"Meter","maker":"Acme","unit":{"serial":"9","udn":"meter-9"}}}}}`)
	if str(m, "things", "t1", "thingID") == "" {
		t.Fatalf("re-attach %v", m)
	}
	if err := r.api.Call(ctx, http.MethodDelete, "/v1/steward/clients/testing1", nil, nil); err != nil {
		t.Fatal(err)
	}
	if c := pl.closedWith(); c != 4001 {
		t.Errorf("revoked socket closed with %d", c)
	}
}

// totpCode is RFC 6238 (HMAC-SHA1, 30 s, 6 digits), written again here
// from the RFC so the test does not trust the steward's own.
func totpCode(key []byte, at time.Time) string {
	return strconv.Itoa(1_000_000 + int(hotpSHA1(key, uint64(at.Unix()/30))%1_000_000))[1:]
}

func TestStewardConfig(t *testing.T) {
	for _, tc := range []struct{ toml, want string }{
		{"[steward]\nenabled = true\nplain_listen = \"0.0.0.0:8887\"\n", "steward.plain_listen"},
		{"[steward]\nlisten = \"nope\"\n", "steward.listen"},
		{"[steward]\nobserve = \"all\"\n", "steward.observe"},
		{"[steward]\nmax_message_bytes = 10\n", "steward.max_message_bytes"},
		{"[steward]\nmax_things = -1\n", "steward.max_things"},
	} {
		if _, err := ParseConfig(strings.NewReader(tc.toml)); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: %v", tc.toml, err)
		}
	}
	c, err := ParseConfig(strings.NewReader("[steward]\nenabled = true\nplain_listen = \"127.0.0.1:8887\"\n"))
	if err != nil || !c.Steward.Enabled {
		t.Fatalf("%+v %v", c.Steward, err)
	}
	// Off by default: no listener, but the pairing window and its endpoints.
	r := startGateway(t, t.TempDir(), "")
	if r.g.StewardAddr() != nil || r.g.Steward() != nil {
		t.Error("steward on without [steward]")
	}
	var st pairing.State
	if err := r.api.Call(context.Background(), http.MethodPost, "/v1/pairing", map[string]string{"for": "2s"}, &st); err != nil || !st.Open || !r.g.PairingOpen() {
		t.Errorf("pairing window %+v %v", st, err)
	}
}

func txt(e mdns.Entry, key string) string { v, _ := e.TXT(key); return v }
