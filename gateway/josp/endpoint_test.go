package josp

import (
	"bytes"
	"errors"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/edgegate/edgegate/gateway/josp/wire"
	"github.com/edgegate/edgegate/gateway/logring"
	"github.com/edgegate/edgegate/gateway/things"
	"github.com/edgegate/edgegate/store"
	"github.com/edgegate/edgegate/store/storetest"
)

func TestPresentationStructureAndUpdates(t *testing.T) {
	r := newRig(t, nil)
	o := r.object("native:lamp")
	if !wire.IsObjID(o.ObjID) || o.OwnerID != wire.AnonymousID || o.Name != "Kitchen Lamp" {
		t.Fatalf("object %+v", o)
	}
	if len(o.Skipped) != 2 {
		t.Errorf("skipped %v, want the string property and the two-parameter action", o.Skipped)
	}
	c := dial(t, o.Addr, "viewer/anyone/1")
	if c.objID != o.ObjID {
		t.Fatalf("objId line %s, object %s", c.objID, o.ObjID)
	}
	inf := c.expect(wire.TypeObjectInfo).(wire.ObjectInfo)
	if inf.Name != "Kitchen Lamp" || inf.JODVersion != "2.2.4" || inf.OwnerID != wire.AnonymousID || inf.CloudConnected {
		t.Errorf("info %+v", inf)
	}
	sm := c.expect(wire.TypeObjectStructure).(wire.ObjectStructure)
	// Floats with a decimal point, states as strings, components arrays.
	for _, want := range []string{`{"name":"root",`, `"min":0.0,"max":100.0,"step":10.0,"state":"0.0","type":"RangeState"`,
		`{"name":"on","descr":"","state":"false","type":"BooleanState","stateBoolean":false}`,
		`{"name":"temperature","descr":"Cel",`, `{"name":"reboot","descr":"Restart the lamp","state":"false","type":"BooleanAction"`,
		`"type":"RangeAction"`, `,"type":"Container"}`} {
		if !bytes.Contains(sm.JSON, []byte(want)) {
			t.Errorf("structure lacks %s:\n%s", want, sm.JSON)
		}
	}
	if bytes.Contains(sm.JSON, []byte("label")) || bytes.Contains(sm.JSON, []byte("schedule")) {
		t.Errorf("structure has pillars it cannot have:\n%s", sm.JSON)
	}
	st, err := sm.Structure()
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{"Properties>temperature", "Properties>on", "Actions>reboot", "Actions>setLevel"} {
		if _, ok := st.Find(p); !ok {
			t.Errorf("no %s", p)
		}
	}
	sp := c.expect(wire.TypeServicePerms).(wire.ServicePerms) // State: no OBJ_PERMS
	if sp.Perm != wire.PermState {
		t.Fatalf("level %v", sp.Perm)
	}

	if err := r.hub.Update("native:lamp", []things.PropertyValue{{Name: "temperature", Value: things.FloatValue(21.5)},
		{Name: "on", Value: things.BoolValue(true)}}, time.Time{}); err != nil {
		t.Fatal(err)
	}
	u := c.update()
	if u.CompPath != "Properties>temperature" || u.CmdType != wire.CmdRange || u.Payload != "new=21.500000,old=0.000000" {
		t.Errorf("update %+v", u)
	}
	u = c.update()
	if u.CompPath != "Properties>on" || u.CmdType != wire.CmdBoolean || u.Payload != "new=true,old=false" {
		t.Errorf("update %+v", u)
	}
	// The same value again is no change; the next change names the old value.
	_ = r.hub.Update("native:lamp", []things.PropertyValue{{Name: "temperature", Value: things.FloatValue(21.5)}}, time.Time{})
	_ = r.hub.Update("native:lamp", []things.PropertyValue{{Name: "temperature", Value: things.IntValue(-3)}}, time.Time{})
	if u := c.update(); u.Payload != "new=-3.000000,old=21.500000" {
		t.Errorf("update %+v", u)
	}
	// A new numeric property the thing did not describe: the structure is
	// sent again.
	_ = r.hub.Update("native:lamp", []things.PropertyValue{{Name: "humidity", Value: things.FloatValue(40)}}, time.Time{})
	sm = c.expect(wire.TypeObjectStructure).(wire.ObjectStructure)
	if !bytes.Contains(sm.JSON, []byte(`{"name":"humidity","descr":"","min":0.0,"max":100.0,"step":10.0,"state":"40.0"`)) {
		t.Errorf("structure after a new property:\n%s", sm.JSON)
	}
	if s := r.ep.Stats(); s.Accepted != 1 || s.Connections != 1 || s.Updates < 3 {
		t.Errorf("stats %+v", s)
	}
}

func TestCommandsNeedActionsAndAreAnsweredByUpdates(t *testing.T) {
	r := newRig(t, nil)
	o := r.object("native:lamp")
	viewer := dial(t, o.Addr, "viewer/anyone/1")
	viewer.presentation(wire.PermState)
	viewer.command("Actions>setLevel", wire.CmdRange, "new=60.000000,old=0.000000")
	admin := dial(t, o.Addr, "admin/root/7")
	admin.presentation(wire.PermCoOwner)
	r.eventually("the refusal", func() bool { return r.ep.Stats().Refused == 1 })
	if len(r.owner.calls) != 0 {
		t.Fatalf("a State service's command was performed: %v", r.owner.calls)
	}

	admin.command("Actions>setLevel", wire.CmdRange, "new=60.000000,old=0.000000")
	if call := <-r.owner.ch; call != "native:lamp setLevel level=60" {
		t.Errorf("perform %q", call)
	}
	for _, c := range []*client{admin, viewer} { // every service with State hears of it
		if u := c.update(); u.CompPath != "Actions>setLevel" || u.Payload != "new=60.000000,old=0.000000" {
			t.Errorf("answer %+v", u)
		}
	}
	// The legacy form of the objId line, a boolean action.
	admin.write("JOSP/2.0 CMD_MSG 20240701-120000000\nfullSrvId:admin/root/7\n" + o.ObjID +
		"\ncompPath:Actions>reboot\ncmdType:JOSPBoolean\nnew=true,old=false\n")
	if call := <-r.owner.ch; call != "native:lamp reboot" {
		t.Errorf("perform %q", call)
	}
	if u := admin.update(); u.Payload != "new=true,old=false" {
		t.Errorf("answer %+v", u)
	}
	// A failing action has no answer on the wire, only an event.
	r.owner.mu.Lock()
	r.owner.fail = errors.New("lamp unplugged")
	r.owner.mu.Unlock()
	admin.command("Actions>setLevel", wire.CmdRange, "new=10.000000,old=60.000000")
	<-r.owner.ch
	admin.quiet(200 * time.Millisecond)
	// Wrong pillar, wrong type, bad payload: dropped.
	admin.command("Properties>temperature", wire.CmdRange, "new=1.000000,old=0.000000")
	admin.command("Actions>reboot", wire.CmdRange, "new=1.000000,old=0.000000")
	admin.command("Actions>setLevel", wire.CmdRange, "new=NaN,old=0")
	admin.command("Actions>setLevel", wire.CmdRange, "old=1")
	admin.quiet(200 * time.Millisecond)
	if s := r.ep.Stats(); s.Commands != 3 || s.CommandErrors != 1 || s.Malformed != 4 {
		t.Errorf("stats %+v", s)
	}
	// The action's state survives a restart.
	r.stop()
	r.start()
	st := dial(t, r.object("native:lamp").Addr, "viewer/anyone/1").presentation(wire.PermState)
	if c, _ := st.Find("Actions>setLevel"); c.Value != 60 {
		t.Errorf("action state after restart %+v", c)
	}
}

func TestMessagesClaimingAnotherIdentityOrObjectAreDropped(t *testing.T) {
	r := newRig(t, nil)
	o := r.object("native:lamp")
	c := dial(t, o.Addr, "viewer/anyone/1")
	c.presentation(wire.PermState)
	// A State service claims to be the configured CoOwner.
	c.send(wire.Command{FullSrvID: "admin/root/7", ObjID: o.ObjID, CompPath: "Actions>reboot", CmdType: wire.CmdBoolean, Payload: "new=true,old=false"})
	c.send(wire.AddPerm{FullSrvID: "admin/root/7", ObjID: o.ObjID, SrvID: "viewer", UsrID: wire.WildcardAll, Perm: wire.PermCoOwner})
	c.send(wire.HistoryRequest{FullSrvID: c.full, ObjID: "ZZZZZ-00000-00000", CompPath: "Properties>on", ReqID: "1"})
	c.quiet(300 * time.Millisecond)
	s := r.ep.Stats()
	if s.IdentityDenied != 2 || s.WrongObject != 1 || s.Commands != 0 || s.PermChanges != 0 {
		t.Errorf("stats %+v", s)
	}
}

func TestOneConnectionPerService(t *testing.T) {
	r := newRig(t, nil)
	o := r.object("native:lamp")
	first := dial(t, o.Addr, "viewer/anyone/1")
	first.presentation(wire.PermState)
	second := dial(t, o.Addr, "viewer/anyone/1")
	if got := second.waitClosed(); len(got) != 1 || got[0] != "bye" {
		t.Errorf("second connection got %q, want bye", got)
	}
	// The first stays; another instance of the same service is welcome.
	_ = r.hub.Update("native:lamp", []things.PropertyValue{{Name: "on", Value: things.BoolValue(true)}}, time.Time{})
	first.update()
	dial(t, o.Addr, "viewer/anyone/2").presentation(wire.PermState)
	if s := r.ep.Stats(); s.Duplicates != 1 || s.Connections != 2 {
		t.Errorf("stats %+v", s)
	}
}

func TestPermissionEditsResyncEveryService(t *testing.T) {
	r := newRig(t, nil)
	o := r.object("native:lamp")
	admin := dial(t, o.Addr, "admin/root/7")
	admin.presentation(wire.PermCoOwner)
	app := dial(t, o.Addr, "app/bob/1")
	app.presentation(wire.PermState)
	perms := func() []wire.Perm { p, _ := r.ep.Perms(o.ObjID); return p }
	if p := perms(); len(p) != 3 {
		t.Fatalf("default rows %+v", p)
	}

	admin.send(wire.AddPerm{FullSrvID: admin.full, ObjID: o.ObjID, SrvID: "app", UsrID: "bob", Perm: wire.PermActions, Conn: wire.ConnOnlyLocal})
	admin.expect(wire.TypeObjectInfo)
	admin.expect(wire.TypeObjectStructure)
	op := admin.expect(wire.TypeObjectPerms).(wire.ObjectPerms)
	if len(op.Perms) != 4 || op.Perms[3].SrvID != "app" || op.Perms[3].Type != wire.PermActions {
		t.Fatalf("perms %+v", op.Perms)
	}
	admin.expect(wire.TypeServicePerms)
	added := op.Perms[3]
	app.expect(wire.TypeObjectInfo)
	app.expect(wire.TypeObjectStructure)
	if sp := app.expect(wire.TypeServicePerms).(wire.ServicePerms); sp.Perm != wire.PermActions {
		t.Fatalf("app's level %v", sp.Perm)
	}
	app.command("Actions>reboot", wire.CmdBoolean, "new=true,old=false")
	if call := <-r.owner.ch; call != "native:lamp reboot" {
		t.Fatal(call)
	}
	app.update()
	admin.update()

	// Down to None: the service is told so and hears nothing more.
	admin.send(wire.UpdPerm{FullSrvID: admin.full, ObjID: o.ObjID, PermID: added.ID, SrvID: "app", UsrID: "bob", Perm: wire.PermNone})
	for range 4 {
		admin.next()
	}
	app.expect(wire.TypeObjectInfo)
	app.expect(wire.TypeObjectStructure)
	if sp := app.expect(wire.TypeServicePerms).(wire.ServicePerms); sp.Perm != wire.PermState {
		t.Fatalf("app's level %v (the #All row still grants State)", sp.Perm)
	}
	var all wire.Perm
	for _, p := range perms() {
		if p.SrvID == wire.WildcardAll && p.UsrID == wire.WildcardAll {
			all = p
		}
	}
	admin.send(wire.RemPerm{FullSrvID: admin.full, ObjID: o.ObjID, PermID: all.ID})
	for range 4 {
		admin.next()
	}
	if sp := app.expect(wire.TypeServicePerms).(wire.ServicePerms); sp.Perm != wire.PermNone {
		t.Fatalf("app's level %v", sp.Perm)
	}
	_ = r.hub.Update("native:lamp", []things.PropertyValue{{Name: "on", Value: things.BoolValue(true)}}, time.Time{})
	admin.update()
	app.quiet(200 * time.Millisecond)
	// An unknown permId changes nothing; the admin API shares the path.
	admin.send(wire.RemPerm{FullSrvID: admin.full, ObjID: o.ObjID, PermID: "NOSUCHPERMISSIONIDXX"})
	admin.quiet(200 * time.Millisecond)
	if err := r.ep.RemovePerm(o.ObjID, "NOSUCHPERMISSIONIDXX"); !errors.Is(err, ErrUnknownPerm) {
		t.Errorf("admin remove: %v", err)
	}
	if _, err := r.ep.AddPerm("native:lamp", "bad id", "x", wire.PermState, wire.ConnOnlyLocal); !errors.Is(err, ErrInvalid) {
		t.Errorf("admin add with a bad srvId: %v", err)
	}
	p, err := r.ep.AddPerm("native:lamp", "app", wire.WildcardAll, wire.PermState, wire.ConnOnlyLocal)
	if err != nil {
		t.Fatal(err)
	}
	app.expect(wire.TypeObjectInfo)
	app.expect(wire.TypeObjectStructure)
	if sp := app.expect(wire.TypeServicePerms).(wire.ServicePerms); sp.Perm != wire.PermState {
		t.Fatalf("app's level after the admin API's row %v", sp.Perm)
	}
	// The rows and the objId survive a restart.
	before := perms()
	r.stop()
	r.start()
	after, _ := r.ep.Perms("native:lamp")
	if r.object("native:lamp").ObjID != o.ObjID || len(after) != len(before) || after[len(after)-1].ID != p.ID {
		t.Errorf("after restart %+v, before %+v", after, before)
	}
	if s := r.ep.Stats(); s.PermChanges != 0 {
		t.Errorf("stats of the new endpoint %+v", s)
	}
}

func TestSetNameAndOwner(t *testing.T) {
	r := newRig(t, nil)
	o := r.object("native:lamp")
	admin := dial(t, o.Addr, "admin/root/7")
	admin.presentation(wire.PermCoOwner)
	viewer := dial(t, o.Addr, "viewer/anyone/1")
	viewer.presentation(wire.PermState)
	viewer.send(wire.SetName{FullSrvID: viewer.full, ObjID: o.ObjID, Name: "Mine"})
	viewer.quiet(200 * time.Millisecond)

	admin.send(wire.SetName{FullSrvID: admin.full, ObjID: o.ObjID, Name: "Hall > Lamp; one"})
	for _, c := range []*client{admin, viewer} {
		if inf := c.expect(wire.TypeObjectInfo).(wire.ObjectInfo); inf.Name != "Hall - Lamp, one" {
			t.Errorf("name %q", inf.Name)
		}
	}
	r.eventually("the new instance name", func() bool { return strings.HasPrefix(r.object("native:lamp").Instance, "Hall - Lamp, one-") })

	admin.send(wire.SetOwner{FullSrvID: admin.full, ObjID: o.ObjID, OwnerID: "alice"})
	for _, c := range []*client{admin, viewer} {
		if got := c.waitClosed(); len(got) == 0 || got[len(got)-1] != "bye" {
			t.Errorf("after the owner changed: %q", got)
		}
	}
	n := r.object("native:lamp")
	if n.OwnerID != "alice" || n.ObjID == o.ObjID || n.ObjID[:5] != o.ObjID[:5] {
		t.Errorf("object %+v (was %s)", n, o.ObjID)
	}
	// The owner's user is CoOwner through #Owner, with any service.
	owner := dial(t, n.Addr, "phone-app/alice/3")
	if owner.objID != n.ObjID {
		t.Errorf("objId line %s", owner.objID)
	}
	owner.presentation(wire.PermCoOwner)
	if p, _ := r.ep.Perms(n.ObjID); p[0].ObjID != n.ObjID {
		t.Errorf("rows kept the old objId: %+v", p[0])
	}
}

func TestHistoryWithEveryLimitKind(t *testing.T) {
	r := newRig(t, nil)
	o := r.object("native:lamp")
	base := time.Date(2024, 7, 1, 12, 0, 0, 0, time.UTC)
	for i := range 10 {
		vals := []things.PropertyValue{{Name: "temperature", Value: things.FloatValue(float64(20 + i))}}
		if i%2 == 0 {
			vals = append(vals, things.PropertyValue{Name: "on", Value: things.BoolValue(i%4 == 0)})
		}
		if err := r.hub.Update("native:lamp", vals, base.Add(time.Duration(i)*time.Minute)); err != nil {
			t.Fatal(err)
		}
	}
	c := dial(t, o.Addr, "viewer/anyone/1")
	c.presentation(wire.PermState)
	for len(c.frames) > 0 || r.ep.Stats().Updates < 11 { // drain the updates
		select {
		case <-c.frames:
		case <-time.After(100 * time.Millisecond):
		}
	}
	vals := func(h wire.StatusHistory) string {
		var out []string
		for _, it := range h.Items {
			out = append(out, strings.TrimSuffix(strings.TrimPrefix(strings.SplitN(it.Payload, ",", 2)[0], "new="), ".000000"))
		}
		return strings.Join(out, " ")
	}
	const temp = "Properties>temperature"
	h := c.historyReq(temp, "all", wire.NoLimits())
	if vals(h) != "20 21 22 23 24 25 26 27 28 29" {
		t.Fatalf("all: %s", vals(h))
	}
	it := h.Items[3]
	if it.CompType != wire.TypeRangeState || it.CompPath != temp || it.Payload != "new=23.000000,old=22.000000" ||
		!it.UpdatedAt.Equal(base.Add(3*time.Minute)) || it.ID != base.Add(3*time.Minute).UnixNano() {
		t.Errorf("item %+v", it)
	}
	for _, tc := range []struct {
		l    wire.Limits
		want string
	}{
		{wire.Latest(3), "27 28 29"},
		{wire.Ancient(2), "20 21"},
		{wire.DateRange(base.Add(2*time.Minute), base.Add(4*time.Minute)), "22 23 24"},
		{wire.DateRange(base.Add(8*time.Minute), time.Time{}), "28 29"},
		{wire.Page(1, 4), "24 25 26 27"},
		{wire.Page(2, 4), "28 29"},
		{wire.Page(3, 4), ""},
		{wire.IDRange(h.Items[5].ID, h.Items[6].ID), "25 26"},
		{wire.IDRange(-1, h.Items[1].ID), "20 21"},
	} {
		if got := vals(c.historyReq(temp, "q", tc.l)); got != tc.want {
			t.Errorf("%s: %q, want %q", tc.l, got, tc.want)
		}
	}
	// The first item of a date range still names the value before it.
	if d := c.historyReq(temp, "d", wire.DateRange(base.Add(5*time.Minute), time.Time{})); d.Items[0].Payload != "new=25.000000,old=24.000000" {
		t.Errorf("date range's first item %+v", d.Items[0])
	}
	// A boolean pillar; the 2.2.3 request header; limits as the 2.2.3
	// service writes them.
	c.write("JOSP/2.0 H_STATUS_MSG 20240701-120000000\nfullSrvId:viewer/anyone/1\nobjId:" + o.ObjID +
		"\ncompPath:Properties>on\nreqId:old\nlimits:{ \"latestCount\":\"2\" }")
	b := c.expect(wire.TypeStatusHistory).(wire.StatusHistory)
	if b.ReqID != "old" || len(b.Items) != 2 || b.Items[0].Payload != "new=false,old=true" || b.Items[1].Payload != "new=true,old=false" ||
		b.Items[1].CompType != wire.TypeBooleanState {
		t.Errorf("boolean history %+v", b)
	}
	if e := c.historyReq("Nope>nothing", "x", wire.NoLimits()); len(e.Items) != 0 {
		t.Errorf("unknown path %+v", e)
	}
	if e := c.historyReq("Actions>reboot", "x", wire.NoLimits()); len(e.Items) != 0 {
		t.Errorf("action %+v", e)
	}
	// The answer is bounded.
	r.stop()
	r.opts.HistoryMax = 4
	r.start()
	c = dial(t, r.object("native:lamp").Addr, "viewer/anyone/1")
	c.presentation(wire.PermState)
	if got := vals(c.historyReq(temp, "cap", wire.NoLimits())); got != "26 27 28 29" {
		t.Errorf("capped: %s", got)
	}
	if got := vals(c.historyReq(temp, "cap", wire.Ancient(9))); got != "20 21 22 23" {
		t.Errorf("capped ancient: %s", got)
	}
}

func TestEventsHistory(t *testing.T) {
	r := newRig(t, nil)
	o := r.object("native:lamp")
	admin := dial(t, o.Addr, "admin/root/7")
	admin.presentation(wire.PermCoOwner)
	admin.command("Actions>reboot", wire.CmdBoolean, "new=true,old=false")
	<-r.owner.ch
	admin.update()
	viewer := dial(t, o.Addr, "viewer/anyone/1")
	viewer.presentation(wire.PermState)
	viewer.send(wire.EventsRequest{FullSrvID: viewer.full, ObjID: o.ObjID, ReqID: "v", Limits: wire.NoLimits()})
	viewer.quiet(200 * time.Millisecond) // CoOwner only

	events := func(reqID string, l wire.Limits, typ string) []wire.Event {
		t.Helper()
		admin.send(wire.EventsRequest{FullSrvID: admin.full, ObjID: o.ObjID, ReqID: reqID, Limits: l, EvType: typ})
		res := admin.expect(wire.TypeEvents).(wire.EventsResponse)
		if res.ReqID != reqID || res.ObjID != o.ObjID {
			t.Fatalf("events answer %+v", res)
		}
		return res.Events
	}
	var all []wire.Event
	r.eventually("the events", func() bool {
		all = events("all", wire.NoLimits(), "")
		return len(all) >= 5
	})
	var types []string
	for _, e := range all {
		types = append(types, e.Type)
		if e.SrcID != o.ObjID || e.SrcType != "Obj" || e.ErrorPayload != "null" || strings.ContainsAny(e.Payload, ";\n") {
			t.Errorf("event %+v", e)
		}
	}
	want := "JOD_COMM_LOC_START JOD_COMM_LOC_CONN JOD_ACTION_REQ JOD_ACTION_EXEC JOD_COMM_LOC_CONN"
	if got := strings.Join(types, " "); !strings.HasPrefix(got, want) {
		t.Errorf("events %s, want %s", got, want)
	}
	if ex := events("exec", wire.NoLimits(), wire.EventActionExec); len(ex) != 1 || !strings.Contains(ex[0].Payload, `"action": "reboot"`) {
		t.Errorf("filtered %+v", ex)
	}
	if l := events("latest", wire.Latest(2), ""); len(l) != 2 || l[1].ID != all[len(all)-1].ID {
		t.Errorf("latest 2 %+v", l)
	}
	if p := events("page", wire.Page(0, 2), ""); len(p) != 2 || p[0].ID != 1 || p[1].ID != 2 {
		t.Errorf("page %+v", p)
	}
	if s := r.ep.Stats(); s.Refused != 1 {
		t.Errorf("stats %+v", s)
	}
}

func TestEventLogIsBoundedAndPersisted(t *testing.T) {
	r := newRig(t, func(o *Options) { o.EventsKept = 10 })
	o := r.object("native:lamp")
	for i := range 12 {
		c := dial(t, o.Addr, "viewer/anyone/"+string(rune('a'+i)))
		c.presentation(wire.PermState)
		c.write("bye")
		c.waitClosed()
	}
	r.stop()
	rows, err := r.db.KV("josp").List("ev/native:lamp/")
	if err != nil {
		t.Fatal(err)
	}
	// 1 start + 24 (dis)connections + 1 stop, trimmed to 10 when a tenth more piled up.
	if len(rows) < 10 || len(rows) > 11 {
		t.Fatalf("%d rows kept", len(rows))
	}
	last, _ := wire.ParseEvent(string(rows[len(rows)-1].Value))
	if last.Type != wire.EventLocalStop || last.ID != 26 {
		t.Errorf("last event %+v", last)
	}
	r.start()
	r.stop()
	rows, _ = r.db.KV("josp").List("ev/native:lamp/")
	if last, _ := wire.ParseEvent(string(rows[len(rows)-1].Value)); last.ID != 28 {
		t.Errorf("ids did not continue after a restart: %+v", last)
	}
}

func TestHeartbeat(t *testing.T) {
	r := newRig(t, func(o *Options) { o.Heartbeat = 200 * time.Millisecond })
	o := r.object("native:lamp")
	c := dial(t, o.Addr, "viewer/anyone/1")
	c.presentation(wire.PermState)
	c.write("hb_rq")
	if f := c.next(); string(f) != "hb_rs" {
		t.Fatalf("answer to hb_rq: %q", f)
	}
	// Silent: the object asks; answered, the connection stays.
	if f := c.next(); string(f) != "hb_rq" {
		t.Fatalf("after silence: %q", f)
	}
	c.write("hb_rs")
	if f := c.next(); string(f) != "hb_rq" {
		t.Fatalf("after more silence: %q", f)
	}
	// Not answered: closed 9/10 of the heartbeat later.
	start := time.Now()
	c.waitClosed()
	if d := time.Since(start); d < 150*time.Millisecond {
		t.Errorf("closed after %v", d)
	}
	if s := r.ep.Stats(); s.HeartbeatsLost != 1 {
		t.Errorf("stats %+v", s)
	}
}

func TestMalformedFramesAreCountedAndDropped(t *testing.T) {
	r := newRig(t, nil)
	o := r.object("native:lamp")
	c := dial(t, o.Addr, "viewer/anyone/1")
	c.presentation(wire.PermState)
	c.write("hello")
	c.write("JOSP/2.0 NOPE_MSG 1\nx")
	c.write("JOSP/2.0 CMD_MSG 1\nfullSrvId:viewer/anyone/1")
	c.write("JOSP/2.0 UPD_MSG 20240701-120000000\nobjId:" + o.ObjID + "\ncompPath:x\ncmdType:JOSPBoolean\nnew=true") // object-side
	c.write(strings.Repeat("x", maxFrame+10))
	// Still connected and served.
	h := c.historyReq("Properties>on", "after", wire.NoLimits())
	if len(h.Items) != 0 {
		t.Errorf("%+v", h)
	}
	if s := r.ep.Stats(); s.Malformed != 5 {
		t.Errorf("stats %+v", s)
	}
}

func TestHandshakeRejections(t *testing.T) {
	r := newRig(t, func(o *Options) { o.HandshakeTimeout = 300 * time.Millisecond })
	o := r.object("native:lamp")
	// A TLS ClientHello on a plain object (the reference's services try
	// TLS first), a bad identity, silence.
	for _, first := range []string{"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + strings.Repeat("\x00", 300), "not an id\n", ""} {
		nc, err := net.Dial("tcp", o.Addr)
		if err != nil {
			t.Fatal(err)
		}
		if first != "" {
			nc.Write([]byte(first))
		}
		if f, err := readFrame(nc); f != "\n"+o.ObjID+"\n" {
			t.Fatalf("first frame %q %v", f, err)
		}
		_ = nc.SetReadDeadline(time.Now().Add(3 * time.Second))
		if n, err := nc.Read(make([]byte, 1)); n != 0 || err == nil {
			t.Errorf("after %q: %d %v", first, n, err)
		}
		nc.Close()
	}
	if s := r.ep.Stats(); s.Rejected != 3 || s.Accepted != 0 {
		t.Errorf("stats %+v", s)
	}
}

func TestThingsAppearAndGoAway(t *testing.T) {
	r := newRig(t, nil)
	plug := things.Thing{ID: "native:plug", Kind: things.KindNative, Name: "Plug", Properties: []things.Property{{Name: "on", Type: things.TypeBool}}}
	if err := r.hub.Register(plug); err != nil {
		t.Fatal(err)
	}
	r.eventually("the new object", func() bool { return len(r.ep.Objects()) == 2 })
	p := r.object("native:plug")
	c := dial(t, p.Addr, "viewer/anyone/1")
	c.presentation(wire.PermState)
	// A new description: a new name goes out as OBJ_INF, a new pillar as
	// OBJ_STRUCT.
	plug.Name = "Desk plug"
	plug.Properties = append(plug.Properties, things.Property{Name: "power", Type: things.TypeFloat, Unit: "W"})
	if _, err := r.hub.Upsert(plug); err != nil {
		t.Fatal(err)
	}
	if inf := c.expect(wire.TypeObjectInfo).(wire.ObjectInfo); inf.Name != "Desk plug" {
		t.Errorf("name %q", inf.Name)
	}
	if st := c.expect(wire.TypeObjectStructure).(wire.ObjectStructure); !bytes.Contains(st.JSON, []byte(`"power"`)) {
		t.Errorf("structure %s", st.JSON)
	}
	if err := r.hub.Remove("native:plug"); err != nil {
		t.Fatal(err)
	}
	if got := c.waitClosed(); len(got) != 1 || got[0] != "bye" {
		t.Errorf("at removal: %q", got)
	}
	r.eventually("the object's end", func() bool { return len(r.ep.Objects()) == 1 })
	if _, err := net.Dial("tcp", p.Addr); err == nil {
		t.Error("the removed object still listens")
	}
	if _, err := r.ep.Object("native:plug"); !errors.Is(err, ErrUnknownObject) {
		t.Errorf("removed object: %v", err)
	}
	// Its record stays: the same thing comes back as the same object.
	if err := r.hub.Register(plug); err != nil {
		t.Fatal(err)
	}
	r.eventually("the object again", func() bool { _, err := r.ep.Object("native:plug"); return err == nil })
	if again := r.object("native:plug"); again.ObjID != p.ObjID {
		t.Errorf("objId %s, was %s", again.ObjID, p.ObjID)
	}
}

func TestPortRangeAndSanitisedNames(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	base := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	logs := logring.New(16, slog.LevelError)
	r := newRig(t, func(o *Options) {
		o.PortMin, o.PortMax = base, base+1
		o.Logger = slog.New(logs.Handler(nil))
	})
	if got := r.object("native:lamp").Addr; got != net.JoinHostPort("127.0.0.1", strconv.Itoa(base)) {
		t.Errorf("addr %s, want port %d", got, base)
	}
	weird := things.Thing{ID: "native:weird", Kind: things.KindNative, Name: "a##b>c\nd;e",
		Properties: []things.Property{{Name: "x>y", Type: things.TypeInt}, {Name: "x-y", Type: things.TypeInt}, {Name: "##", Type: things.TypeBool}}}
	if err := r.hub.Register(weird); err != nil {
		t.Fatal(err)
	}
	r.eventually("the second object", func() bool { return len(r.ep.Objects()) == 2 })
	w := r.object("native:weird")
	if w.Addr != net.JoinHostPort("127.0.0.1", strconv.Itoa(base+1)) {
		t.Errorf("addr %s", w.Addr)
	}
	if w.Name != "a#b-c d,e" {
		t.Errorf("name %q", w.Name)
	}
	c := dial(t, w.Addr, "viewer/anyone/1")
	st := c.presentation(wire.PermState)
	var paths []string
	st.Walk(func(p string, _ *wire.Component) { paths = append(paths, p) })
	if got := strings.Join(paths, "|"); got != "Properties|Properties>x-y|Properties>x-y 2|Properties>#" {
		t.Errorf("paths %s", got)
	}
	// The range is full: a third thing is not served, and says why.
	if err := r.hub.Register(things.Thing{ID: "native:third", Kind: things.KindNative}); err != nil {
		t.Fatal(err)
	}
	r.eventually("the refusal of the third thing", func() bool {
		for _, rec := range logs.Records() {
			if s := rec.String(); strings.Contains(s, "josp: object not served thing=native:third") && strings.Contains(s, ErrNoPort.Error()) {
				return true
			}
		}
		return false
	})
	if _, err := r.ep.Object("native:third"); !errors.Is(err, ErrUnknownObject) {
		t.Errorf("third object: %v", err)
	}
}

func TestOptionsValidation(t *testing.T) {
	db := storetest.MustOpen(t, store.Options{})
	base := Options{Hub: things.New(things.Options{}), History: db, KV: db.KV("josp")}
	for _, tc := range []func(*Options){
		func(o *Options) { o.Hub = nil },
		func(o *Options) { o.PortMin = 10 },
		func(o *Options) { o.PortMin, o.PortMax = 20, 10 },
		func(o *Options) { o.PortMin, o.PortMax = 10, 70000 },
		func(o *Options) { o.Everyone = 9 },
		func(o *Options) { o.CoOwners = []Principal{{SrvID: "a b"}} },
	} {
		o := base
		tc(&o)
		if _, err := New(o); !errors.Is(err, ErrInvalid) {
			t.Errorf("%+v: %v", o, err)
		}
	}
	for s, ok := range map[string]bool{"admin": true, "admin/root": true, "": false, "a/b/c": false, "a/": false} {
		if _, err := ParsePrincipal(s); (err == nil) != ok {
			t.Errorf("ParsePrincipal(%q) = %v", s, err)
		}
	}
}
