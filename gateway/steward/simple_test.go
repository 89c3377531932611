package steward

import (
	"context"
	"encoding/base32"
	"fmt"
	"testing"
	"time"

	"github.com/edgegate/edgegate/gateway/pairing"
	"github.com/edgegate/edgegate/gateway/things"
)

const simpleProto = `{"path":"/api/v1/thing/prototype/","requestID":3,"things":{"/device/sensor/macguffin/sound":{
  "device":{"name":"All-Ears Noise Detector","maker":"Macguffin Industries, Ltd."},
  "observe":["motion"],"perform":["speak"],"name":true,"status":["quiet","noisy"],
  "properties":{"noise":"db","threshold":"db"},"validate":{"observe":true,"perform":true}},
  "bad/path":{}}}`

const simpleRegister = `{"path":"/api/v1/thing/register","requestID":4,"things":{"t1":{"devicetype":"/device/sensor/macguffin/sound",
 "name":"Living Room noise sensor","status":"quiet",
 "device":{"name":"All-Ears Noise Detector","maker":"Macguffin Industries, Ltd.",
           "model":{"name":"m","descr":"d","number":"1"},
           "unit":{"serial":"s","udn":"5eb160e4-e770-4e97-b8ef-dd89aa0a80ed"}},
 "updated":1384567890123,"info":{"noise":20,"threshold":35}}}}`

// simplePair pairs name and returns its client ID and TOTP key.
func simplePair(t *testing.T, r *rig, name string) (string, secret) {
	t.Helper()
	p := r.dial("/manage")
	p.send(`{"path":"/api/v1/thing/pair/` + name + `","name":"` + name + `","requestID":1}`)
	inter := p.recv()
	if len(inter) != 2 || inter.str("requestID") != "1" || inter["timestamp"] == nil {
		t.Fatalf("intermediate reply %v", inter)
	}
	m := p.recv()
	res := m.obj("result")
	params := res.obj("params")
	if res["success"] != true || res.str("status") != "success" || res.str("thingID") == "" || m["timestamp"] == nil ||
		params.str("algorithm") != "sha1" || params["length"] != float64(40) || params["step"] != float64(30) ||
		params.str("protocol") != "totp" || params.str("name") != name+"@zephyr" || params.str("issuer") != "zephyr" {
		t.Fatalf("pair %v", m)
	}
	key, err := base32.StdEncoding.WithPadding(base32.NoPadding).DecodeString(params.str("base32"))
	if err != nil || len(key) != 40 {
		t.Fatalf("base32 %q: %v", params.str("base32"), err)
	}
	return res.str("thingID"), secret(key)
}

func simpleHello(t *testing.T, r *rig, id string, key secret, at time.Time) *peer {
	t.Helper()
	p := r.dial("/manage")
	m := p.call(fmt.Sprintf(`{"path":"/api/v1/thing/hello/%s","response":"%s","requestID":2}`, id, totp(key, at, 6)))
	res := m.obj("result")
	if res["success"] != true || res.str("name") != ".things" || res.obj("client").str("thingID") != ".things/"+id || m["timestamp"] == nil {
		t.Fatalf("hello %v", m)
	}
	return p
}

func TestSimpleFlow(t *testing.T) {
	r := newRig(t, func(o *Options) { o.ObserveDeclared, o.Timeouts.ObserveRetry = true, 200*time.Millisecond })
	p := r.dial("/manage")
	m := p.call(`{"path":"/api/v1/thing/pair/testing1","name":"testing1","requestID":1}`)
	wantError(t, m, false, "unknown api: /api/v1/thing/pair/testing1")
	if m["timestamp"] == nil || m.obj("error").str("videlicet") != "pairing window closed" {
		t.Errorf("closed window: %v", m)
	}
	r.win.Open(time.Minute)
	id, key := simplePair(t, r, "testing1")
	m = p.call(`{"path":"/api/v1/thing/pair/testing1","name":"testing1","requestID":7}`)
	if m.str("requestID") != "7" || m["error"] != nil {
		t.Fatalf("intermediate %v", m)
	}
	wantError(t, p.recv(), false, "duplicate uuid")
	wantError(t, p.call(`{"path":"/api/v1/thing/pair/x","name":"a/b","requestID":8}`), true, "invalid uuid")
	p.closed()
	r.win.Close()

	// TOTP: previous, current and next step; wrong codes are temporary.
	now := time.Now()
	p = r.dial("/manage")
	m = p.call(fmt.Sprintf(`{"path":"/api/v1/thing/hello/%s","response":"%s","requestID":2}`, id, totp(key, now.Add(-3*time.Minute), 6)))
	wantError(t, m, false, "invalid thingID/response pair (check your clock)")
	wantError(t, p.call(`{"path":"/api/v1/thing/hello/99","response":"123456","requestID":3}`), false, "invalid thingID/response pair")
	wantError(t, p.call(`{"path":"/api/v1/thing/hello/1","response":"12","requestID":4}`), true, "invalid response element")
	p.closed()
	for _, d := range []time.Duration{-30 * time.Second, 30 * time.Second} {
		simpleHello(t, r, id, key, now.Add(d)).c.CloseNow()
	}
	th := simpleHello(t, r, id, key, now)

	m = th.call(simpleProto)
	wantEntry(t, m, "things", "/device/sensor/macguffin/sound", false, "")
	wantEntry(t, m, "things", "bad/path", false, "invalid thingPath")

	m = th.call(simpleRegister)
	sid := wantEntry(t, m, "things", "t1", false, "").str("thingID")
	if m.str("requestID") != "4" || len(sid) != 8 {
		t.Fatalf("register %v", m)
	}
	hid := ThingID("5eb160e4-e770-4e97-b8ef-dd89aa0a80ed")
	if pr, _ := r.thing(hid).Property("noise"); pr.Unit != "dB" || !pr.Value.Equal(things.FloatValue(20)) {
		t.Errorf("noise %+v", pr)
	}

	// The observe request uses thingID; the shipped client answers with a
	// report reusing the requestID, which gets no reply.
	obs := th.recv()
	var eid string
	for k, v := range obs.obj("events") {
		eid = k
		if e := msg(v.(map[string]any)); obs.str("path") != "/api/v1/thing/observe" || e.str("thingID") != sid || e.str("parameter") != "{}" {
			t.Fatalf("observe %v", obs)
		}
	}
	th.send(fmt.Sprintf(`{"path":"/api/v1/thing/report","requestID":%q,"events":{%q:{"status":"proceed"}}}`, obs.str("requestID"), eid))
	again := th.recv() // proceed leaves it unconfirmed: sent again
	if again.obj("events").obj(eid) == nil {
		t.Fatalf("not re-sent: %v", again)
	}
	th.send(fmt.Sprintf(`{"path":"/api/v1/thing/report","requestID":%q,"events":{%q:{"status":"success"}}}`, again.str("requestID"), eid))

	m = th.call(fmt.Sprintf(`{"path":"/api/v1/thing/update","requestID":5,"things":{%q:{"status":"noisy","updated":1384567890123,"info":{"noise":41}},"00000000":{}}}`, sid))
	wantEntry(t, m, "things", sid, false, "")
	wantEntry(t, m, "things", "00000000", false, "invalid thingID")
	if v := value(r.thing(hid), "threshold"); !v.Equal(things.FloatValue(35)) {
		t.Errorf("info not merged: threshold %v", v)
	}
	m = th.call(fmt.Sprintf(`{"path":"/api/v1/thing/report","requestID":"6","events":{%q:{"reason":"observe"}}}`, eid))
	wantEntry(t, m, "events", eid, false, "")
	if v := value(r.thing(hid), "event.motion"); !v.Equal(things.IntValue(1)) {
		t.Errorf("event.motion = %v", v)
	}
	wantEntry(t, th.call(`{"path":"/api/v1/thing/report","requestID":"7","events":{"12345678":{"reason":"observe"}}}`), "events", "12345678", false, "invalid eventID")

	// Perform: the shipped client reports the task under report; no reply.
	done := make(chan things.Result, 1)
	go func() {
		res, err := r.hub.Perform(context.Background(), hid, "speak", map[string]string{"parameter": "hello"})
		if err != nil {
			t.Error(err)
		}
		done <- res
	}()
	task := th.recv()
	for k, v := range task.obj("tasks") {
		if e := msg(v.(map[string]any)); task.str("path") != "/api/v1/thing/perform" || e.str("thingID") != sid || e.str("perform") != "speak" {
			t.Fatalf("perform %v", task)
		}
		th.send(fmt.Sprintf(`{"path":"/api/v1/thing/report","requestID":%q,"tasks":{%q:{"status":"success"}}}`, task.str("requestID"), k))
	}
	if res := <-done; res.Status != things.StatusDone || res.Message != "performed" {
		t.Errorf("perform result %+v", res)
	}

	// A second hello for the same client closes the older socket (1001).
	th2 := simpleHello(t, r, id, key, time.Now())
	if code := th.closed(); code != 1001 {
		t.Errorf("older socket closed with %d", code)
	}
	eventually(t, "absent", func() bool { return !r.thing(hid).Present })
	m = th2.call(simpleRegister)
	if sid2 := wantEntry(t, m, "things", "t1", false, "").str("thingID"); sid2 == sid {
		t.Error("same thingID after re-attach")
	}
	th2.recv() // observe request
	wantEntry(t, th2.call(simpleRegister), "things", "t1", false, "UDN is already registered")

	// Fatal (permanent) register errors close the socket.
	wantError(t, th2.call(`{"path":"/api/v1/thing/register","requestID":9,"things":{"t2":{"devicetype":"/device/sensor/macguffin/sound","name":"n","status":"quiet","device":{"name":"d","unit":{}}}}}`),
		true, "missing device unit UDN in t2")
	th2.closed()
	th3 := simpleHello(t, r, id, key, time.Now())
	wantError(t, th3.call(`{"path":"/api/v1/thing/prototype","requestID":10,"things":{"/device/x/y":{"name":true,"status":[]}}}`), true, "missing device in /device/x/y")
	th3.closed()
	if st := r.st.Stats(); st.ClosedPermanent < 3 || st.HelloFailed != 2 || st.Paired != 1 || st.Occurrences != 1 {
		t.Errorf("stats %+v", st)
	}
}

func TestPairingCode(t *testing.T) {
	w := pairing.New(pairing.Options{RequireCode: true})
	r := newRig(t, func(o *Options) { o.Pairing = w })
	w.Open(time.Minute)
	code := w.State().Code
	p := r.dial("/manage")
	// A wrong code is refused before the intermediate reply.
	wantError(t, p.call(`{"path":"/api/v1/thing/pair/a","name":"a","requestID":1,"pairingCode":"000000x"}`), false, "invalid pairingCode element")
	p.send(`{"path":"/api/v1/thing/pair/a","name":"a","requestID":2,"paringCode":"` + code + `"}`)
	p.recv()
	if p.recv().obj("result")["success"] != true {
		t.Fatal("pairing with the code refused")
	}
	wantError(t, p.call(`{"path":"/api/v1/thing/pair/b","name":"b","requestID":3}`), true, "missing pairingCode element")
	p.closed()
	n := r.dial("/native")
	if n.call(`{"path":"/api/v1/pair","requestID":1,"uuid":"u","pairingCode":"`+code+`"}`).obj("result").str("passCode") == "" {
		t.Fatal("native pairing with the code refused")
	}
}
