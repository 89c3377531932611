package wire

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestIDs(t *testing.T) {
	for i := 0; i < 100; i++ {
		hw := NewObjIDHw()
		id := NewObjID(hw)
		if !IsObjID(id) || !strings.HasPrefix(id, hw+"-") || strings.ToUpper(hw) != hw || strings.ContainsAny(hw, "0123456789") {
			t.Fatalf("objId %q (hw %q)", id, hw)
		}
		if p := NewPermID(); len(p) != 20 || strings.Trim(p, upper) != "" {
			t.Fatalf("perm id %q", p)
		}
	}
	for s, want := range map[string]bool{"srv-id/usr-id/1234": true, "a_b/c-d/9": true, "srv/usr": false,
		"srv/usr/1/2": false, "srv/usr/a-b": false, "s v/u/1": false, "": false, "jcp-fe/3d6bd9ed-8d63-43d6-a465-dbe9029e04c8/4711": true} {
		if IsFullSrvID(s) != want {
			t.Errorf("IsFullSrvID(%q) = %v", s, !want)
		}
	}
	f, err := ParseFullSrvID("srv-id/usr-id/1234")
	if err != nil || f.SrvID != "srv-id" || f.UsrID != "usr-id" || f.InstID != "1234" || f.String() != "srv-id/usr-id/1234" {
		t.Errorf("%+v %v", f, err)
	}
	if !IsObjID(AnonymousID) || IsObjID("A1B2C-D3E4F-G5H6") || IsObjID("A1B2C_D3E4F_G5H6I") {
		t.Error("IsObjID")
	}
}

func TestSanitize(t *testing.T) {
	for in, want := range map[string]string{
		"Kitchen Lamp":      "Kitchen Lamp",
		"a##b":              "a#b",
		"a####b#":           "a#b#",
		"in>out":            "in-out",
		"one\ntwo\r\nthree": "one two  three",
		"a;b":               "a,b",
		"  padded  ":        "padded",
		"tab\there\x00\x7f": "tab here",
		"bad\xffutf8":       "bad\uFFFDutf8",
		"Volume Mute (Mac)": "Volume Mute (Mac)",
		"température °C ✓":  "température °C ✓",
	} {
		if got := Sanitize(in); got != want {
			t.Errorf("Sanitize(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestPermissions(t *testing.T) {
	row := func(srv, usr string, typ PermType, conn ConnType) Perm {
		return Perm{ID: NewPermID(), ObjID: "A1B2C-D3E4F-G5H6I", SrvID: srv, UsrID: usr, Type: typ, Conn: conn}
	}
	perms := []Perm{
		row(WildcardAll, WildcardAll, PermState, ConnOnlyLocal),
		row("admin", WildcardAll, PermCoOwner, ConnOnlyLocal),
		row(WildcardAll, WildcardOwner, PermCoOwner, ConnLocalAndCloud),
		row("app", "bob", PermActions, ConnLocalAndCloud),
	}
	for _, tc := range []struct {
		srv, usr, owner string
		conn            ConnType
		want            PermType
		any             bool
	}{
		{"any", "one", AnonymousID, ConnOnlyLocal, PermState, true},
		{"admin", "x", AnonymousID, ConnOnlyLocal, PermCoOwner, true},
		{"app", "bob", AnonymousID, ConnOnlyLocal, PermActions, true},
		{"app", "alice", "alice", ConnOnlyLocal, PermCoOwner, true},       // #Owner
		{"app", AnonymousID, AnonymousID, ConnOnlyLocal, PermState, true}, // no owner: #Owner never matches
		{"admin", "x", AnonymousID, ConnLocalAndCloud, PermNone, false},   // OnlyLocal rows ignored for cloud
		{"app", "bob", AnonymousID, ConnLocalAndCloud, PermActions, true},
	} {
		got, any := Evaluate(perms, tc.srv, tc.usr, tc.owner, tc.conn)
		if got != tc.want || any != tc.any {
			t.Errorf("%s/%s owner %s over %v: %v %v, want %v %v", tc.srv, tc.usr, tc.owner, tc.conn, got, any, tc.want, tc.any)
		}
	}
	if got, any := Evaluate(nil, "a", "b", AnonymousID, ConnOnlyLocal); got != PermNone || any {
		t.Error("no rows")
	}
	for s, want := range map[string]PermType{"None": PermNone, "State": PermState, "Status": PermState, "status": PermState,
		"Actions": PermActions, "CoOwner": PermCoOwner, "coowner": PermCoOwner} {
		if got, err := ParsePermType(s); err != nil || got != want {
			t.Errorf("ParsePermType(%q) = %v %v", s, got, err)
		}
	}
	for _, bad := range []string{"", "Owner", "Action", "4"} {
		if _, err := ParsePermType(bad); !errors.Is(err, ErrMalformed) {
			t.Errorf("ParsePermType(%q) = %v", bad, err)
		}
	}
	// Rows written by 2.2.3 say Status.
	p, err := ParsePerm("id:QWERTYUIOPASDFGHJKLZ;objId:A1B2C-D3E4F-G5H6I;srvId:#All;usrId:#All;type:Status;conn:OnlyLocal;upd:20240701-120000000")
	if err != nil || p.Type != PermState {
		t.Errorf("%+v %v", p, err)
	}
	for _, bad := range []string{
		"id:X;objId:Y;srvId:#All;usrId:#All;type:State;conn:OnlyLocal",                       // 6 fields
		"id:X;objId:Y;srvId:#All;usrId:#All;type:State;conn:Cloud;upd:20240701-120000000",    // bad conn
		"id:X;objId:Y;srvId:a b;usrId:#All;type:State;conn:OnlyLocal;upd:20240701-120000000", // bad srvId
		"id:X;objId:Y;srvId:#All;usrId:#Nobody;type:State;conn:OnlyLocal;upd:20240701-120000000",
		"id:;objId:Y;srvId:#All;usrId:#All;type:State;conn:OnlyLocal;upd:20240701-120000000",
	} {
		if _, err := ParsePerm(bad); !errors.Is(err, ErrMalformed) {
			t.Errorf("ParsePerm(%q) = %v", bad, err)
		}
	}
}

func TestLimits(t *testing.T) {
	at := func(ms int64) time.Time { return time.UnixMilli(ms) }
	for _, tc := range []struct {
		in   string
		want Limits
		str  string
	}{
		{`{"latestCount":10}`, Latest(10), `{ "latestCount":"10" }`},
		{` { "ancientCount" : "3" } `, Ancient(3), `{ "ancientCount":"3" }`},
		{`{"toID":"9"}`, IDRange(-1, 9), `{"fromID":"-1", "toID":"9"}`},
		{`{"fromID":5,"toID":null}`, IDRange(5, -1), `{"fromID":"5"}`},
		{`{"fromDate":"1719835200000"}`, DateRange(at(1719835200000), time.Time{}), `{"fromDate":"1719835200000"}`},
		{`{"toDate":"2024-07-01T12:00:00Z"}`, DateRange(time.Time{}, at(1719835200000)), `{"fromDate":"0", "toDate":"1719835200000"}`},
		{`{"pageNum":"2"}`, Page(2, -1), `{"pageNum":"2"}`},
		{`{"pageSize":"5"}`, Page(-1, 5), `{"pageNum":"-1", "pageSize":"5"}`},
		{`{"latestCount":"-1"}`, NoLimits(), `{}`},
		{``, NoLimits(), `{}`},
		{`{"other":"x"}`, NoLimits(), `{}`},
		{`{"latestCount":"10.0"}`, Latest(10), `{ "latestCount":"10" }`},
	} {
		l, err := ParseLimits(tc.in)
		if err != nil {
			t.Errorf("%s: %v", tc.in, err)
			continue
		}
		if l.Kind != tc.want.Kind || l.Count != tc.want.Count || l.FromID != tc.want.FromID || l.ToID != tc.want.ToID ||
			!l.FromDate.Equal(tc.want.FromDate) || !l.ToDate.Equal(tc.want.ToDate) || l.PageNum != tc.want.PageNum || l.PageSize != tc.want.PageSize {
			t.Errorf("%s: %+v, want %+v", tc.in, l, tc.want)
		}
		if s := l.String(); s != tc.str {
			t.Errorf("%s: String %s, want %s", tc.in, s, tc.str)
		}
	}
	for _, bad := range []string{`{"latestCount":"10","ancientCount":"3"}`, `{"fromID":"1","fromDate":"5"}`,
		`{"latestCount":"ten"}`, `[1]`, `{`, `{"latestCount":"-5"}`, `{"pageSize":"0"}`, `{"latestCount":1.5}`} {
		if _, err := ParseLimits(bad); !errors.Is(err, ErrMalformed) {
			t.Errorf("ParseLimits(%s) = %v", bad, err)
		}
	}
}

func TestSelect(t *testing.T) {
	items := []int64{10, 20, 30, 40, 50, 60, 70}
	id := func(v int64) int64 { return v }
	at := func(v int64) time.Time { return time.UnixMilli(v) }
	for _, tc := range []struct {
		l    Limits
		want []int64
	}{
		{NoLimits(), items},
		{Latest(3), []int64{50, 60, 70}},
		{Latest(30), items},
		{Latest(0), []int64{}},
		{Ancient(2), []int64{10, 20}},
		{IDRange(20, 40), []int64{20, 30, 40}},
		{IDRange(-1, 25), []int64{10, 20}},
		{IDRange(65, -1), []int64{70}},
		{DateRange(at(30), at(50)), []int64{30, 40, 50}},
		{DateRange(time.Time{}, at(15)), []int64{10}},
		{Page(0, 3), []int64{10, 20, 30}},
		{Page(2, 3), []int64{70}},
		{Page(3, 3), nil},
		{Page(-1, -1), items},
		{Page(1, -1), nil},
		{Page(1<<40, 1<<40), nil},
	} {
		got := Select(items, tc.l, id, at)
		if !slices.Equal(got, tc.want) {
			t.Errorf("%v: %v, want %v", tc.l, got, tc.want)
		}
	}
}

func TestStructureJSONEscapesLikeJackson(t *testing.T) {
	s := Structure{Descr: "a \"quoted\" \\ <b>&</b> / ünï", Components: []Component{
		{Name: "x\ty", Descr: "\x01", Type: TypeRangeState, Min: 0, Max: 1e7, Step: 0.5, Value: -0.25},
		{Name: "nan", Type: TypeRangeAction, Min: 0, Max: 1, Step: 1, Value: 0.0001},
	}}
	got := string(s.AppendJSON(nil))
	want := `{"name":"root","descr":"a \"quoted\" \\ <b>&</b> / ünï","components":[` +
		`{"name":"x\ty","descr":"\u0001","min":0.0,"max":1.0E7,"step":0.5,"state":"-0.25","type":"RangeState","stateRange":-0.25},` +
		`{"name":"nan","descr":"","min":0.0,"max":1.0,"step":1.0,"state":"1.0E-4","type":"RangeAction","stateRange":1.0E-4}` +
		`],"model":"","brand":"","descr_long":"","type":"Container"}`
	if got != want {
		t.Errorf("\n got %s\nwant %s", got, want)
	}
	back, err := ParseStructure([]byte(got))
	if err != nil || back.Components[0].Max != 1e7 || back.Components[0].Name != "x\ty" || back.Descr != s.Descr {
		t.Errorf("%+v %v", back, err)
	}
	// Integers, numbers as state, types in another case, defaults.
	lenient := `{"name":"root","components":[{"name":"r","type":"rangestate","state":5},{"name":"b","type":"BOOLEANACTION","state":true}]}`
	l, err := ParseStructure([]byte(lenient))
	if err != nil || l.Components[0].Value != 5 || l.Components[0].Max != DefaultMax || l.Components[0].Step != DefaultStep || !l.Components[1].Bool {
		t.Errorf("%+v %v", l, err)
	}
	for _, bad := range []string{`[]`, `{"components":[{"name":"x"}]}`, `{"components":[{"type":"Container"}]}`,
		`{"components":[{"name":"x","type":"Gauge"}]}`, `{"components":[{"name":"c","type":"Container"}]}`,
		`{"components":[{"name":"r","type":"RangeState","min":"low"}]}`, `{"name":"root"}`,
		`{"components":` + strings.Repeat(`[{"name":"c","type":"Container","components":`, 40) + `[]` + strings.Repeat(`}]`, 40) + `}`} {
		if _, err := ParseStructure([]byte(bad)); !errors.Is(err, ErrMalformed) {
			t.Errorf("ParseStructure(%s) = %v", bad, err)
		}
	}
}

func TestMalformedMessages(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want error
	}{
		{"hello", ErrNotJOSP},
		{"JOSP/2.1 UPD_MSG 20240701-120000000\nobjId:A1B2C-D3E4F-G5H6I", ErrNotJOSP},
		{"JOSP/2.0 FOO_MSG 20240701-120000000\nobjId:A1B2C-D3E4F-G5H6I", ErrUnknownType},
		{"JOSP/2.0 UPD_MSGX 20240701-120000000\nobjId:A1B2C-D3E4F-G5H6I", ErrUnknownType},
		{"JOSP/2.0 ", ErrMalformed},
		{"JOSP/2.0 UPD_MSG 20240701-120000000\nobjId:A1B2C-D3E4F-G5H6I\ncompPath:x\ncmdType:JOSPBoolean", ErrMalformed},
		{"JOSP/2.0 UPD_MSG 20240701-120000000\nobjId:bad\ncompPath:x\ncmdType:JOSPBoolean\nnew=true", ErrMalformed},
		{"JOSP/2.0 CMD_MSG 20240701-120000000\nfullSrvId:nope\nobjId:A1B2C-D3E4F-G5H6I\ncompPath:x\ncmdType:JOSPBoolean\nnew=true", ErrMalformed},
		{"JOSP/2.0 OBJ_SETOWNERID_MSG 1\nfullSrvId:s/u/1\nobjId:A1B2C-D3E4F-G5H6I\nownerId:a;b", ErrMalformed},
		{"JOSP/2.0 OBJ_ADDPERM_MSG 1\nfullSrvId:s/u/1\nobjId:A1B2C-D3E4F-G5H6I\nsrvId:#All\nusrId:#All\npermType:Boss\nconnType:OnlyLocal", ErrMalformed},
		{"JOSP/2.0 H_HISTORY_MSG 1\nfullSrvId:s/u/1\nobjId:A1B2C-D3E4F-G5H6I\ncompPath:x\nreqId:1\nlimits:{\"latestCount\":\"1\",\"ancientCount\":\"1\"}", ErrMalformed},
		{"JOSP/2.0 H_EVENTS_MSG 1\nfullSrvId:s/u/1\nobjId:A1B2C-D3E4F-G5H6I\nreqId:1\nlimits:{}\nevType:NOPE", ErrMalformed},
		{"JOSP/2.0 SRV_PERMS_MSG 1\nobjId:A1B2C-D3E4F-G5H6I\npermType:Owner\nconnType:OnlyLocal", ErrMalformed},
		{"JOSP/2.0 H_STATUS_MSG 1\nobjId:A1B2C-D3E4F-G5H6I\ncompPath:x\nreqId:1\nid:x;compPath:x;compType:y;updatedAt:20240701-120000000;payload:p", ErrMalformed},
	} {
		if _, err := Parse([]byte(tc.in)); !errors.Is(err, tc.want) {
			t.Errorf("Parse(%q) = %v, want %v", tc.in, err, tc.want)
		}
	}
	// The 2.2.3 history request header, a bad timestamp (no error), a
	// missing evType line.
	m, err := Parse([]byte("JOSP/2.0 H_STATUS_MSG garbage\nfullSrvId:s/u/1\nobjId:A1B2C-D3E4F-G5H6I\ncompPath:Lamp>Switch\nreqId:7\nlimits:{}"))
	if hr, ok := m.(HistoryRequest); err != nil || !ok || !hr.Legacy || hr.ReqID != "7" || !hr.Time.IsZero() {
		t.Errorf("legacy history request %#v %v", m, err)
	}
	m, err = Parse([]byte("JOSP/2.0 H_EVENTS_MSG 20240701-120000000\nfullSrvId:s/u/1\nobjId:A1B2C-D3E4F-G5H6I\nreqId:1\nlimits:{}"))
	if er, ok := m.(EventsRequest); err != nil || !ok || er.EvType != "" {
		t.Errorf("events request without evType %#v %v", m, err)
	}
	for _, bad := range []string{"new=maybe,old=true", "old=true", ""} {
		if _, _, err := ParseBoolPayload(bad); !errors.Is(err, ErrMalformed) {
			t.Errorf("ParseBoolPayload(%q) = %v", bad, err)
		}
	}
	for _, bad := range []string{"new=,old=1", "new=1e", "x=1"} {
		if _, _, err := ParseRangePayload(bad); !errors.Is(err, ErrMalformed) {
			t.Errorf("ParseRangePayload(%q) = %v", bad, err)
		}
	}
}
