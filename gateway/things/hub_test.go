package things

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"runtime"
	"slices"
	"sync"
	"testing"
	"time"
)

// checkGoroutines fails the test if, at cleanup, more goroutines run than at
// the call, after a bounded wait for them to finish. Register it before the
// cleanups that stop things (cleanups run last-in first-out).
func checkGoroutines(t *testing.T) {
	t.Helper()
	base := runtime.NumGoroutine()
	t.Cleanup(func() {
		deadline := time.Now().Add(2 * time.Second)
		for {
			n := runtime.NumGoroutine()
			if n <= base {
				return
			}
			if time.Now().After(deadline) {
				buf := make([]byte, 1<<16)
				buf = buf[:runtime.Stack(buf, true)]
				t.Errorf("%d goroutines, baseline %d:\n%s", n, base, buf)
				return
			}
			runtime.Gosched()
			time.Sleep(time.Millisecond)
		}
	})
}

// clock is a manual clock for Options.Now.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
	return c.t
}

func newHub(t *testing.T, opts Options) *Hub {
	t.Helper()
	h := New(opts)
	t.Cleanup(h.Close)
	return h
}

func thermoThing(t *testing.T, moduleID uint32) Thing {
	return OSPThing(1, moduleID, "", loadThermo(t))
}

// recv returns the next event, failing after a generous timeout.
func recv(t *testing.T, s *Subscription) Event {
	t.Helper()
	select {
	case ev, ok := <-s.Events():
		if !ok {
			t.Fatal("subscription closed")
		}
		return ev
	case <-time.After(5 * time.Second):
		t.Fatal("no event")
	}
	return Event{}
}

func waitClosed(t *testing.T, s *Subscription) {
	t.Helper()
	timeout := time.After(5 * time.Second)
	for {
		select {
		case _, ok := <-s.Events():
			if !ok {
				return
			}
		case <-timeout:
			t.Fatal("subscription not closed")
		}
	}
}

func TestHubRegistry(t *testing.T) {
	h := newHub(t, Options{})
	for _, id := range []uint32{30, 10, 20} {
		if err := h.Register(thermoThing(t, id)); err != nil {
			t.Fatal(err)
		}
	}
	if err := h.Register(thermoThing(t, 10)); !errors.Is(err, ErrThingExists) {
		t.Errorf("Register twice: %v", err)
	}
	var ids []string
	for _, th := range h.List() {
		ids = append(ids, th.ID)
	}
	if want := []string{"osp:1:10", "osp:1:20", "osp:1:30"}; !slices.Equal(ids, want) {
		t.Errorf("List IDs = %v, want %v", ids, want)
	}
	got, ok := h.Get("osp:1:10")
	if !ok || len(got.Properties) != 3 {
		t.Fatalf("Get = %+v, %v", got, ok)
	}
	got.Properties[0].Name = "mutated"
	got.Actions[1].Params[0] = "mutated"
	if again, _ := h.Get("osp:1:10"); again.Properties[0].Name != "temperature" || again.Actions[1].Params[0] != "seconds" {
		t.Error("Get returned the hub's own slices")
	}
	if _, ok := h.Get("osp:1:99"); ok {
		t.Error("Get of an unknown thing")
	}
	if err := h.Remove("osp:1:20"); err != nil {
		t.Fatal(err)
	}
	if err := h.Remove("osp:1:20"); !errors.Is(err, ErrUnknownThing) {
		t.Errorf("Remove twice: %v", err)
	}
	if len(h.List()) != 2 || h.Len() != 2 {
		t.Errorf("List after Remove = %v", h.List())
	}

	invalid := []Thing{
		{Kind: KindNative},
		{ID: "x"},
		{ID: "x", Kind: KindNative, Properties: []Property{{Name: "a", Type: TypeInt}, {Name: "a", Type: TypeInt}}},
		{ID: "x", Kind: KindNative, Properties: []Property{{Name: "", Type: TypeInt}}},
		{ID: "x", Kind: KindNative, Properties: []Property{{Name: "a"}}},
		{ID: "x", Kind: KindNative, Properties: []Property{{Name: "a", Type: TypeInt, Value: StringValue("1")}}},
		{ID: "x", Kind: KindNative, Actions: []Action{{Name: "go"}, {Name: "go"}}},
		{ID: "x", Kind: KindNative, Actions: []Action{{}}},
	}
	for _, th := range invalid {
		if _, err := h.Upsert(th); !errors.Is(err, ErrInvalidThing) {
			t.Errorf("Upsert(%+v) = %v, want ErrInvalidThing", th, err)
		}
	}
}

func TestHubUpdate(t *testing.T) {
	clk := newClock()
	h := newHub(t, Options{Now: clk.Now})
	id := "osp:1:4242"
	if err := h.Register(thermoThing(t, 4242)); err != nil {
		t.Fatal(err)
	}
	t1 := clk.Advance(time.Second)
	p := loadThermo(t)
	if err := h.Update(id, p.DecodeOrRaw(10, []byte{0x08, 0x66, 0x02, 0x8F, 0x5A}), t1); err != nil {
		t.Fatal(err)
	}
	th, _ := h.Get(id)
	if !th.LastSeen.Equal(t1) {
		t.Errorf("LastSeen = %v, want %v", th.LastSeen, t1)
	}
	if pr, _ := th.Property("temperature"); !pr.Value.Equal(FloatValue(21.5)) || !pr.Updated.Equal(t1) {
		t.Errorf("temperature = %+v", pr)
	}

	// Int into a Float property converts; a new name adds a property; a raw
	// payload is kept and flagged; zero time means now.
	t2 := clk.Advance(time.Second)
	if err := h.Update(id, append([]PropertyValue{{Name: "temperature", Value: IntValue(22)}}, p.DecodeOrRaw(99, []byte{7})...), time.Time{}); err != nil {
		t.Fatal(err)
	}
	th, _ = h.Get(id)
	if pr, _ := th.Property("temperature"); !pr.Value.Equal(FloatValue(22)) {
		t.Errorf("temperature = %v (%v)", pr.Value, pr.Value.Type())
	}
	if pr, ok := th.Property("raw_99"); !ok || !pr.Raw || pr.Type != TypeBytes || !pr.Updated.Equal(t2) {
		t.Errorf("raw_99 = %+v, %v", pr, ok)
	}
	if !th.LastSeen.Equal(t2) {
		t.Errorf("LastSeen = %v, want %v", th.LastSeen, t2)
	}

	// A type mismatch fails the whole update and changes nothing.
	err := h.Update(id, []PropertyValue{{Name: "humidity", Value: FloatValue(1)}, {Name: "battery", Value: StringValue("full")}}, clk.Advance(time.Second))
	if !errors.Is(err, ErrPropertyType) {
		t.Errorf("mismatch: %v", err)
	}
	if after, _ := h.Get(id); after.LastSeen != th.LastSeen || !after.Properties[1].Value.Equal(FloatValue(65.5)) {
		t.Errorf("failed update changed the thing: %+v", after)
	}

	// An older reading does not replace the latest value, nor LastSeen.
	if err := h.Update(id, []PropertyValue{{Name: "battery", Value: IntValue(1)}}, t1.Add(-time.Hour)); err != nil {
		t.Fatal(err)
	}
	if after, _ := h.Get(id); !after.Properties[2].Value.Equal(IntValue(90)) || !after.LastSeen.Equal(t2) {
		t.Errorf("older reading applied: %+v", after)
	}

	if err := h.Update("osp:1:1", []PropertyValue{{Name: "x", Value: IntValue(1)}}, t1); !errors.Is(err, ErrUnknownThing) {
		t.Errorf("unknown thing: %v", err)
	}
	for _, bad := range []PropertyValue{{Name: "", Value: IntValue(1)}, {Name: "x"}} {
		if err := h.Update(id, []PropertyValue{bad}, t1); !errors.Is(err, ErrInvalidValue) {
			t.Errorf("Update(%+v) = %v, want ErrInvalidValue", bad, err)
		}
	}
}

func TestHubUpsertReplaceKeepsState(t *testing.T) {
	h := newHub(t, Options{})
	id := "osp:1:1"
	if _, err := h.Upsert(thermoThing(t, 1)); err != nil {
		t.Fatal(err)
	}
	at := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	if err := h.Update(id, []PropertyValue{{Name: "battery", Value: IntValue(50)}, {Name: "raw_7", Value: BytesValue([]byte{1}), Raw: true}}, at); err != nil {
		t.Fatal(err)
	}
	if err := h.SetPresent(id, true); err != nil {
		t.Fatal(err)
	}
	sub := h.Subscribe(t.Context(), 4)
	added, err := h.Upsert(Thing{ID: id, Kind: KindOSP, Name: "renamed", Properties: []Property{{Name: "battery", Type: TypeInt, Unit: "%"}}})
	if err != nil || added {
		t.Fatalf("Upsert = %v, %v", added, err)
	}
	if ev := recv(t, sub); ev.Type != ThingAdded || !ev.Replaced || ev.Thing.Name != "renamed" || !ev.Present || len(ev.Thing.Properties) != 2 {
		t.Errorf("replacement event = %+v", ev)
	}
	th, _ := h.Get(id)
	if th.Name != "renamed" || !th.Present || !th.LastSeen.Equal(at) {
		t.Errorf("replaced thing = %+v", th)
	}
	names := make([]string, len(th.Properties))
	for i, p := range th.Properties {
		names[i] = p.Name
	}
	if !slices.Equal(names, []string{"battery", "raw_7"}) {
		t.Errorf("properties = %v, want battery (kept value) and raw_7 (kept reading)", names)
	}
	if !th.Properties[0].Value.Equal(IntValue(50)) {
		t.Errorf("battery = %v", th.Properties[0].Value)
	}
}

// eventSummary is the part of an event the fan-out test compares.
func eventSummary(ev Event) string {
	return fmt.Sprintf("%d %v %s present=%v changed=%v lost=%d", ev.Seq, ev.Type, ev.ThingID, ev.Present, ev.Changed, ev.Lost)
}

func TestSubscribeFanOut(t *testing.T) {
	checkGoroutines(t)
	clk := newClock()
	h := newHub(t, Options{Now: clk.Now})
	ctx := t.Context()
	subs := []*Subscription{h.Subscribe(ctx, 16), h.Subscribe(ctx, 16), h.Subscribe(ctx, 0)}

	id := "osp:1:5"
	if err := h.Register(thermoThing(t, 5)); err != nil {
		t.Fatal(err)
	}
	if err := h.Update(id, []PropertyValue{{Name: "battery", Value: IntValue(80)}}, clk.Advance(time.Second)); err != nil {
		t.Fatal(err)
	}
	if err := h.SetPresent(id, true); err != nil {
		t.Fatal(err)
	}
	if err := h.SetPresent(id, true); err != nil { // no change, no event
		t.Fatal(err)
	}
	if err := h.Remove(id); err != nil {
		t.Fatal(err)
	}
	want := []string{
		"1 ThingAdded osp:1:5 present=false changed=[] lost=0",
		"2 ThingChanged osp:1:5 present=false changed=[battery=80] lost=0",
		"3 PresenceChanged osp:1:5 present=true changed=[] lost=0",
		"4 ThingRemoved osp:1:5 present=true changed=[] lost=0",
	}
	for i, s := range subs {
		var got []string
		for j := range want {
			ev := recv(t, s)
			if j == 0 && (ev.Thing.ID != id || len(ev.Thing.Properties) != 3 || ev.Replaced) {
				t.Errorf("ThingAdded carries %+v", ev.Thing)
			}
			got = append(got, eventSummary(ev))
		}
		if !slices.Equal(got, want) {
			t.Errorf("subscriber %d got\n%q\nwant\n%q", i, got, want)
		}
	}
	for _, s := range subs {
		select {
		case ev := <-s.Events():
			t.Errorf("extra event %s", eventSummary(ev))
		default:
		}
	}
}

// scriptOwner is a small OSP owner: it renders the action through the
// device's profile into a COMMAND script and queues it, as the OSP server
// will. It records what it queued.
type scriptOwner struct {
	profile *Profile
	mu      sync.Mutex
	queued  []string
	fail    error
}

func (o *scriptOwner) Perform(ctx context.Context, thingID, action string, args map[string]string) (Result, error) {
	if err := ctx.Err(); err != nil {
		return Result{}, err
	}
	if o.fail != nil {
		return Result{}, o.fail
	}
	script, err := o.profile.CommandScript(action, args)
	if err != nil {
		return Result{}, err
	}
	args["mutated"] = "by owner" // must not reach the caller's map
	o.mu.Lock()
	defer o.mu.Unlock()
	o.queued = append(o.queued, thingID+" "+string(script))
	return Result{Status: StatusQueued, Ref: fmt.Sprint(len(o.queued))}, nil
}

func TestPerform(t *testing.T) {
	h := newHub(t, Options{})
	p := loadThermo(t)
	if err := h.Register(OSPThing(1, 9, "", p)); err != nil {
		t.Fatal(err)
	}
	if err := h.Register(Thing{ID: "native:lamp", Kind: KindNative, Actions: []Action{{Name: "on"}}}); err != nil {
		t.Fatal(err)
	}
	owner := &scriptOwner{profile: p}
	h.RegisterOwner(KindOSP, owner)
	ctx := t.Context()

	args := map[string]string{"seconds": "30"}
	res, err := h.Perform(ctx, "osp:1:9", "setInterval", args)
	if err != nil || res.Status != StatusQueued || res.Ref != "1" {
		t.Fatalf("Perform = %+v, %v", res, err)
	}
	if len(args) != 1 {
		t.Errorf("owner modified the caller's args: %v", args)
	}
	if _, err := h.Perform(ctx, "osp:1:9", "reboot", nil); err != nil {
		t.Fatal(err)
	}
	if want := []string{"osp:1:9 interval 30", "osp:1:9 reboot"}; !slices.Equal(owner.queued, want) {
		t.Errorf("queued %q, want %q", owner.queued, want)
	}

	errTests := []struct {
		name   string
		thing  string
		action string
		args   map[string]string
		want   error
	}{
		{"unknown thing", "osp:1:10", "reboot", nil, ErrUnknownThing},
		{"unknown action", "osp:1:9", "selfDestruct", nil, ErrUnknownAction},
		{"missing arg", "osp:1:9", "setInterval", nil, ErrInvalidArgs},
		{"undeclared arg", "osp:1:9", "setInterval", map[string]string{"seconds": "1", "ms": "2"}, ErrInvalidArgs},
		{"owner rejects control chars", "osp:1:9", "setInterval", map[string]string{"seconds": "1\r\nreboot"}, ErrInvalidArgs},
		{"no owner", "native:lamp", "on", nil, ErrNoOwner},
	}
	for _, tt := range errTests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := h.Perform(ctx, tt.thing, tt.action, tt.args)
			if !errors.Is(err, tt.want) {
				t.Errorf("err = %v, want %v", err, tt.want)
			}
		})
	}

	errOffline := errors.New("device offline")
	owner.fail = errOffline
	if _, err := h.Perform(ctx, "osp:1:9", "reboot", nil); !errors.Is(err, errOffline) {
		t.Errorf("owner error not wrapped: %v", err)
	}
	owner.fail = nil
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := h.Perform(cctx, "osp:1:9", "reboot", nil); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled ctx: %v", err)
	}
	h.RegisterOwner(KindOSP, nil)
	if _, err := h.Perform(ctx, "osp:1:9", "reboot", nil); !errors.Is(err, ErrNoOwner) {
		t.Errorf("after unregistering: %v", err)
	}
}

// memPersister is an in-memory Persister that records every call, as the
// bbolt store would persist them.
type memPersister struct {
	mu      sync.Mutex
	states  map[string][]byte // latest PutState per thing
	puts    int
	history []histCall
	fail    error
}

type histCall struct {
	id    string
	at    time.Time
	value []byte
}

func newMemPersister() *memPersister { return &memPersister{states: make(map[string][]byte)} }

func (m *memPersister) PutState(id string, value []byte, at time.Time) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.fail != nil {
		return m.fail
	}
	m.states[id] = append([]byte(nil), value...)
	m.puts++
	return nil
}

func (m *memPersister) AppendHistory(id string, at time.Time, value []byte) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.fail != nil {
		return m.fail
	}
	m.history = append(m.history, histCall{id, at, append([]byte(nil), value...)})
	return nil
}

func (m *memPersister) state(t *testing.T, id string) StateRecord {
	t.Helper()
	m.mu.Lock()
	defer m.mu.Unlock()
	var rec StateRecord
	if err := json.Unmarshal(m.states[id], &rec); err != nil {
		t.Fatalf("state of %s: %v (%s)", id, err, m.states[id])
	}
	return rec
}

var _ Persister = (*memPersister)(nil)

func TestPersisterSeesEveryChange(t *testing.T) {
	clk := newClock()
	mp := newMemPersister()
	h := newHub(t, Options{Now: clk.Now, Persister: mp})
	id := "osp:1:4242"
	p := loadThermo(t)
	if err := h.Register(OSPThing(1, 4242, "", p)); err != nil {
		t.Fatal(err)
	}
	if mp.puts != 1 || mp.state(t, id).ID != id {
		t.Fatalf("registration not persisted: %d puts", mp.puts)
	}
	t1 := clk.Advance(time.Second)
	if err := h.Update(id, p.DecodeOrRaw(10, []byte{0x08, 0x66, 0x02, 0x8F, 0x5A}), t1); err != nil {
		t.Fatal(err)
	}
	t2 := clk.Advance(time.Second)
	if err := h.Update(id, p.DecodeOrRaw(10, []byte{0xFF}), t2); err != nil { // short: kept raw
		t.Fatal(err)
	}
	if err := h.SetPresent(id, true); err != nil {
		t.Fatal(err)
	}
	if mp.puts != 4 || len(mp.history) != 2 {
		t.Fatalf("%d PutState, %d AppendHistory; want 4 and 2", mp.puts, len(mp.history))
	}
	hist, err := ParseHistory(mp.history[1].at, mp.history[1].value)
	if err != nil {
		t.Fatal(err)
	}
	if !mp.history[1].at.Equal(t2) || !hist.At.Equal(t2) || len(hist.Values) != 1 || hist.Values[0].Name != "raw_10" || !hist.Values[0].Raw {
		t.Errorf("history[1] = %s at %v", mp.history[1].value, mp.history[1].at)
	}
	rec := mp.state(t, id)
	th, _ := h.Get(id)
	if !rec.Present || !rec.LastSeen.Equal(t2) || len(rec.Properties) != len(th.Properties) {
		t.Fatalf("state = %+v, hub = %+v", rec, th)
	}
	for i, pr := range rec.Properties {
		if pr.Name != th.Properties[i].Name || !pr.Value.Equal(th.Properties[i].Value) || pr.Raw != th.Properties[i].Raw {
			t.Errorf("persisted %+v, hub has %+v", pr, th.Properties[i])
		}
	}

	// A failing store is reported, wrapped; the hub state is applied anyway.
	errDisk := errors.New("disk full")
	mp.mu.Lock()
	mp.fail = errDisk
	mp.mu.Unlock()
	if err := h.Update(id, []PropertyValue{{Name: "battery", Value: IntValue(1)}}, clk.Advance(time.Second)); !errors.Is(err, errDisk) {
		t.Errorf("Update with failing store: %v", err)
	}
	if th, _ := h.Get(id); !th.Properties[2].Value.Equal(IntValue(1)) {
		t.Errorf("battery = %v", th.Properties[2].Value)
	}
}

// TestPersisterOrder: with concurrent writers, the last state the persister
// receives is the hub's final state (calls follow the order of changes).
func TestPersisterOrder(t *testing.T) {
	mp := newMemPersister()
	h := newHub(t, Options{Persister: mp})
	id := "native:counter"
	if err := h.Register(Thing{ID: id, Kind: KindNative}); err != nil {
		t.Fatal(err)
	}
	sub := h.Subscribe(t.Context(), 4) // a subscriber that never reads must not matter
	_ = sub
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 200 {
				name := fmt.Sprintf("w%d", w)
				if err := h.Update(id, []PropertyValue{{Name: name, Value: IntValue(int64(i))}}, time.Time{}); err != nil {
					t.Error(err)
					return
				}
				if i%50 == 0 {
					_ = h.SetPresent(id, i%100 == 0)
					_ = h.List()
				}
			}
		}()
	}
	wg.Wait()
	if len(mp.history) != 8*200 {
		t.Errorf("%d history records, want %d", len(mp.history), 8*200)
	}
	rec := mp.state(t, id)
	th, _ := h.Get(id)
	if rec.Present != th.Present || !rec.LastSeen.Equal(th.LastSeen) || len(rec.Properties) != 8 {
		t.Fatalf("final state %+v, hub %+v", rec, th)
	}
	for i, pr := range rec.Properties {
		if pr.Name != th.Properties[i].Name || !pr.Value.Equal(th.Properties[i].Value) {
			t.Errorf("persisted %s=%v, hub %s=%v", pr.Name, pr.Value, th.Properties[i].Name, th.Properties[i].Value)
		}
	}
}

func TestStatusTextRoundTrip(t *testing.T) {
	for _, s := range []Status{StatusDone, StatusQueued} {
		b, err := s.MarshalText()
		if err != nil {
			t.Fatal(err)
		}
		var got Status
		if err := got.UnmarshalText(b); err != nil || got != s {
			t.Errorf("%s: got %v, %v", b, got, err)
		}
	}
	var s Status
	if err := s.UnmarshalText([]byte("lost")); err == nil {
		t.Error("an unknown status decoded")
	}
}

// TestBatchWritesEachStateOnce: between BeginBatch and EndBatch every
// reading still reaches the history, and each changed thing's state is
// written once, at EndBatch, with its last values; a thing removed during
// the batch is not written back.
func TestBatchWritesEachStateOnce(t *testing.T) {
	clk := newClock()
	mp := newMemPersister()
	h := newHub(t, Options{Now: clk.Now, Persister: mp})
	p := loadThermo(t)
	for _, m := range []uint32{1, 2, 3} {
		if err := h.Register(OSPThing(1, m, "", p)); err != nil {
			t.Fatal(err)
		}
	}
	base := mp.puts
	h.BeginBatch()
	for i := range 10 {
		for _, id := range []string{"osp:1:1", "osp:1:2", "osp:1:3"} {
			if err := h.Update(id, []PropertyValue{{Name: "battery", Value: IntValue(int64(i))}}, clk.Advance(time.Millisecond)); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := h.Remove("osp:1:3"); err != nil {
		t.Fatal(err)
	}
	if mp.puts != base || len(mp.history) != 30 {
		t.Fatalf("inside the batch: %d state writes, %d history entries; want 0 and 30", mp.puts-base, len(mp.history))
	}
	if err := h.EndBatch(); err != nil {
		t.Fatal(err)
	}
	if mp.puts != base+2 {
		t.Fatalf("EndBatch wrote %d states, want 2", mp.puts-base)
	}
	for _, id := range []string{"osp:1:1", "osp:1:2"} {
		rec := mp.state(t, id)
		th, _ := h.Get(id)
		if !rec.LastSeen.Equal(th.LastSeen) || !rec.Properties[2].Value.Equal(IntValue(9)) {
			t.Errorf("%s: persisted %+v, hub has %+v", id, rec, th)
		}
	}
	// After the batch, writes are immediate again.
	if err := h.SetPresent("osp:1:1", true); err != nil || mp.puts != base+3 {
		t.Errorf("after EndBatch: %v, %d writes", err, mp.puts-base)
	}
}
