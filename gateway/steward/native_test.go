package steward

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/edgegate/edgegate/gateway/things"
)

const nativeProto = `{"path":"/api/v1/prototype","requestID":3,"things":{
 "/device/sensor/macguffin/sound":{"observe":["motion"],"perform":["speak"],
  "properties":{"name":true,"status":["quiet","noisy"],"noise":"decibels","threshold":"decibels"},
  "validate":{"observe":true,"perform":true}},
 "/device/sensor/macguffin/empty":{"observe":[]},
 "nodevice":{"properties":{}}}}`

const nativeRegister = `{"path":"/api/v1/register","requestID":4,"things":{"UDN1":{
 "prototype":"/device/sensor/macguffin/sound","name":"Living room","status":"quiet",
 "device":{"name":"All-Ears","maker":"Macguffin","unit":{"serial":"1","udn":"UDN1"}},
 "updated":1384567890123,"info":{"noise":20,"threshold":35}}}}`

// nativePair pairs uuid and returns its passcode.
func nativePair(t *testing.T, r *rig, uuid string) string {
	t.Helper()
	p := r.dial("/native")
	m := p.call(`{"path":"/api/v1/pair","requestID":1,"uuid":"` + uuid + `"}`)
	res := m.obj("result")
	if m.str("requestID") != "1" || res.str("status") != "success" || res["success"] != true || res.str("passCode") == "" {
		t.Fatalf("pair: %v", m)
	}
	return res.str("passCode")
}

func nativeHello(t *testing.T, r *rig, uuid, pass string) *peer {
	t.Helper()
	p := r.dial("/native")
	m := p.call(`{"path":"/api/v1/hello","requestID":2,"uuid":"` + uuid + `","passcode":"` + pass + `"}`)
	if m.obj("result").str("status") != "success" || m.obj("result")["success"] != true {
		t.Fatalf("hello: %v", m)
	}
	return p
}

func TestNativeFlow(t *testing.T) {
	r := newRig(t, func(o *Options) { o.ObserveDeclared = true })
	const uuid = "01234567-89ab-cdef-0123-4567890abcde"

	// Pairing is closed by default.
	p := r.dial("/native")
	wantError(t, p.call(`{"path":"/api/v1/pair","requestID":1,"uuid":"`+uuid+`"}`), false, "pairing window closed")
	wantError(t, p.call(`{"path":"/api/v1/register","requestID":2,"things":{}}`), false, "unknown api")
	r.win.Open(time.Minute)
	pass := nativePair(t, r, uuid)
	wantError(t, p.call(`{"path":"/api/v1/pair","requestID":3,"uuid":"`+uuid+`"}`), false, "duplicate uuid")
	r.win.Close()

	// A wrong passcode is a permanent error: the socket closes.
	wantError(t, p.call(`{"path":"/api/v1/hello","requestID":4,"uuid":"`+uuid+`","passcode":"WRONG"}`), true, "authentication failed")
	p.closed()

	th := nativeHello(t, r, uuid, pass)
	m := th.call(nativeProto)
	wantEntry(t, m, "things", "/device/sensor/macguffin/sound", false, "")
	wantEntry(t, m, "things", "/device/sensor/macguffin/empty", true, "missing properties parameter")
	wantEntry(t, m, "things", "nodevice", false, "invalid thingPath")
	if e := wantEntry(t, th.call(nativeProto), "things", "/device/sensor/macguffin/sound", false, ""); e.str("diagnostic") != "previously defined" {
		t.Errorf("redefinition: %v", e)
	}

	m = th.call(nativeRegister)
	sid := wantEntry(t, m, "things", "UDN1", false, "").str("thingID")
	if len(sid) != 8 {
		t.Fatalf("thingID %q", sid)
	}
	id := ThingID("UDN1")
	hubThing := r.thing(id)
	if hubThing.Kind != things.KindNative || hubThing.Name != "Living room" || !hubThing.Present {
		t.Fatalf("hub thing %+v", hubThing)
	}
	if p, _ := hubThing.Property("noise"); p.Unit != "dB" || p.Type != things.TypeFloat || !p.Value.Equal(things.FloatValue(20)) {
		t.Errorf("noise %+v", p)
	}
	if _, ok := hubThing.Action("speak"); !ok {
		t.Errorf("actions %+v", hubThing.Actions)
	}

	// The steward asks the thing to observe its declared event; the
	// draft's answer is a detailed result without a path.
	obs := th.recv()
	if obs.str("path") != "/api/v1/observe" {
		t.Fatalf("observe request %v", obs)
	}
	var eid string
	for k, v := range obs.obj("events") {
		eid = k
		e := msg(v.(map[string]any))
		if e.str("thing") != sid || e.str("observe") != "motion" || e["testOnly"] != false {
			t.Fatalf("observe entry %v", e)
		}
	}
	th.send(fmt.Sprintf(`{"requestID":%q,"events":{%q:{"status":"success"}}}`, obs.str("requestID"), eid))
	eventually(t, "observation confirmed", func() bool {
		ev := r.st.Events()
		return len(ev) == 1 && ev[0].Confirmed
	})

	// Update merges info key by key.
	wantEntry(t, th.call(`{"path":"/api/v1/update","requestID":5,"things":{"`+sid+`":{"status":"noisy","info":{"noise":41}}}}`), "things", sid, false, "")
	hubThing = r.thing(id)
	if !value(hubThing, "noise").Equal(things.FloatValue(41)) || !value(hubThing, "threshold").Equal(things.FloatValue(35)) ||
		!value(hubThing, "status").Equal(things.StringValue("noisy")) {
		t.Errorf("after update %+v", hubThing.Properties)
	}
	wantEntry(t, th.call(`{"path":"/api/v1/update","requestID":6,"things":{"nope":{"status":"x"}}}`), "things", "nope", true, "no such thingID")

	// Reports: an occurrence fires the event in the hub.
	sctx, stopSub := context.WithTimeout(context.Background(), 5*time.Second)
	defer stopSub()
	sub := r.hub.Subscribe(sctx, 16)
	wantEntry(t, th.call(`{"path":"/api/v1/report","requestID":7,"events":{"`+eid+`":{"reason":"observe"}}}`), "events", eid, false, "")
	fired := false
	for ev := range sub.Events() {
		if ev.Type == things.ThingChanged && ev.ThingID == id && len(ev.Changed) == 1 && ev.Changed[0].Name == "event.motion" {
			if !ev.Changed[0].Value.Equal(things.IntValue(1)) {
				t.Errorf("occurrence %v", ev.Changed)
			}
			fired = true
			break
		}
	}
	if !fired {
		t.Error("the occurrence did not reach the hub's subscribers")
	}
	stopSub()
	wantEntry(t, th.call(`{"path":"/api/v1/report","requestID":8,"events":{"99999999":{"reason":"observe"}}}`), "events", "99999999", true, "invalid eventID")
	wantEntry(t, th.call(`{"path":"/api/v1/report","requestID":9,"events":{"`+eid+`":{"reason":"bogus"}}}`), "events", eid, true, "invalid reason")

	// Perform through the hub; the thing answers with a detailed result.
	done := make(chan error, 1)
	go func() {
		res, err := r.hub.Perform(context.Background(), id, "speak", map[string]string{"parameter": "hello"})
		if err == nil && (res.Status != things.StatusDone || res.Message != "performed") {
			err = fmt.Errorf("result %+v, want the thing's answer", res)
		}
		done <- err
	}()
	task := th.recv()
	if len(task.obj("tasks")) != 1 {
		t.Fatalf("perform %v", task)
	}
	var tid string
	for k, v := range task.obj("tasks") {
		tid = k
		e := msg(v.(map[string]any))
		if task.str("path") != "/api/v1/perform" || e.str("thing") != sid || e.str("perform") != "speak" || e.str("parameter") != "hello" {
			t.Fatalf("perform %v", task)
		}
	}
	th.send(fmt.Sprintf(`{"requestID":%q,"tasks":{%q:{"status":"success"}}}`, task.str("requestID"), tid))
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	// testOnly, answered with a per-task error.
	go func() {
		_, err := r.st.PerformTask(context.Background(), id, "speak", "{}", true)
		done <- err
	}()
	task = th.recv()
	for k, v := range task.obj("tasks") {
		if msg(v.(map[string]any))["testOnly"] != true {
			t.Errorf("testOnly not sent: %v", task)
		}
		th.send(fmt.Sprintf(`{"requestID":%q,"tasks":{%q:{"error":{"permanent":true,"diagnostic":"invalid parameter value for task performance"}}}}`, task.str("requestID"), k))
	}
	var te *ThingError
	if err := <-done; !errors.As(err, &te) || !te.Permanent || !errors.Is(err, ErrRejected) {
		t.Fatalf("testOnly error %v", err)
	}
	if _, err := r.hub.Perform(context.Background(), id, "dance", nil); !errors.Is(err, things.ErrUnknownAction) {
		t.Errorf("undeclared action: %v", err)
	}

	// Cancel: the steward sends reason cancel under report.
	go func() { done <- r.st.Cancel(context.Background(), eid) }()
	c := th.recv()
	if c.str("path") != "/api/v1/report" || c.obj("events").obj(eid).str("reason") != "cancel" {
		t.Fatalf("cancel %v", c)
	}
	th.send(fmt.Sprintf(`{"requestID":%q,"events":{%q:{"status":"success"}}}`, c.str("requestID"), eid))
	if err := <-done; err != nil || len(r.st.Events()) != 0 {
		t.Fatalf("cancel: %v %v", err, r.st.Events())
	}

	// A live UDN cannot be registered twice.
	other := nativeHello(t, r, uuid, pass)
	th.closed() // the newer hello closed the older socket
	eventually(t, "absent after close", func() bool { return !r.thing(id).Present })
	m = other.call(nativeRegister)
	sid2 := wantEntry(t, m, "things", "UDN1", false, "").str("thingID")
	if sid2 == sid || !r.thing(id).Present {
		t.Errorf("re-attach: thingID %s (was %s)", sid2, sid)
	}
	if o := other.recv(); o.str("path") != "/api/v1/observe" {
		t.Fatalf("observe after re-attach: %v", o)
	}
	wantEntry(t, other.call(nativeRegister), "things", "UDN1", true, "UDN is already registered")
	// The old session's thingID is gone.
	wantEntry(t, other.call(`{"path":"/api/v1/update","requestID":10,"things":{"`+sid+`":{"status":"quiet"}}}`), "things", sid, true, "no such thingID")
}

func TestNativeStateSurvivesRestart(t *testing.T) {
	r := newRig(t, nil)
	r.win.Open(time.Minute)
	pass := nativePair(t, r, "u1")
	th := nativeHello(t, r, "u1", pass)
	wantEntry(t, th.call(nativeProto), "things", "/device/sensor/macguffin/sound", false, "")
	sid := wantEntry(t, th.call(nativeRegister), "things", "UDN1", false, "").str("thingID")
	wantEntry(t, th.call(`{"path":"/api/v1/update","requestID":5,"things":{"`+sid+`":{"info":{"noise":50}}}}`), "things", sid, false, "")
	th.c.CloseNow()
	r.stop()
	r.win.Close()
	r.start(func(o *Options) {
		o.Restore = func(t *things.Thing) {
			if t.ID == ThingID("UDN1") {
				for i := range t.Properties {
					if t.Properties[i].Name == "noise" {
						t.Properties[i].Value = things.FloatValue(50)
					}
				}
				t.Properties = append(t.Properties, things.Property{Name: "event.motion", Type: things.TypeInt, Value: things.IntValue(3)})
				t.LastSeen = time.Unix(1_700_000_000, 0)
			}
		}
	})
	th2 := r.thing(ThingID("UDN1"))
	if th2.Present || !th2.LastSeen.Equal(time.Unix(1_700_000_000, 0)) || !value(th2, "noise").Equal(things.FloatValue(50)) ||
		!value(th2, "event.motion").Equal(things.IntValue(3)) {
		t.Fatalf("restored %+v", th2)
	}
	p := nativeHello(t, r, "u1", pass) // the pairing survived
	if e := wantEntry(t, p.call(nativeProto), "things", "/device/sensor/macguffin/sound", false, ""); e.str("diagnostic") != "previously defined" {
		t.Error("prototype not restored")
	}
	wantEntry(t, p.call(nativeRegister), "things", "UDN1", false, "")
	if !r.thing(ThingID("UDN1")).Present {
		t.Error("not present after re-attach")
	}
	// The occurrences counted before the restart go on counting.
	observed := make(chan error, 1)
	go func() {
		_, err := r.st.Observe(context.Background(), ThingID("UDN1"), "motion", "{}", false)
		observed <- err
	}()
	obs := p.recv()
	var eid string
	for k := range obs.obj("events") {
		eid = k
	}
	p.send(fmt.Sprintf(`{"requestID":%q,"events":{%q:{"status":"success"}}}`, obs.str("requestID"), eid))
	if err := <-observed; err != nil {
		t.Fatal(err)
	}
	wantEntry(t, p.call(`{"path":"/api/v1/report","requestID":8,"events":{"`+eid+`":{"reason":"observe"}}}`), "events", eid, false, "")
	if v := value(r.thing(ThingID("UDN1")), "event.motion"); !v.Equal(things.IntValue(4)) {
		t.Errorf("event.motion = %v after a restored count of 3 and one occurrence", v)
	}
	if got := r.st.Stats(); got.Reattached != 1 || got.Clients != 1 || got.Attached != 1 {
		t.Errorf("stats %+v", got)
	}
}

// TestClientIDsAreNotReused checks that a pairing's client ID is never
// handed out again, after a revocation and across a restart, so that a new
// pairing cannot inherit a revoked one's things.
func TestClientIDsAreNotReused(t *testing.T) {
	r := newRig(t, nil)
	r.win.Open(time.Minute)
	nativePair(t, r, "a")
	nativePair(t, r, "b")
	if _, err := r.st.Revoke("b"); err != nil {
		t.Fatal(err)
	}
	r.stop()
	r.start(nil)
	nativePair(t, r, "c")
	var ids []string
	for _, c := range r.st.Clients() {
		ids = append(ids, c.Name+"="+c.ID)
	}
	if got := fmt.Sprint(ids); got != "[a=1 c=3]" {
		t.Errorf("clients %s, want [a=1 c=3]", got)
	}
}
