package main

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/edgegate/edgegate/gateway/admin"
	"github.com/edgegate/edgegate/gateway/gatewaytest"
)

func TestJOSPCommands(t *testing.T) {
	g := gatewaytest.Start(t, "[mdns]\ninterfaces = [\"lo\"]\n[josp]\nenabled = true\ncoowners = [\"installer\"]\n"+
		"[[device]]\ntype = 1\nmodule = 4242\nname = \"greenhouse\"\nprofile = \"thermo\"\n")
	sock := g.AdminSocket()
	var objs []admin.JOSPObject
	var out string
	for deadline := time.Now().Add(5 * time.Second); len(objs) == 0 && time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		out = mustCtl(t, sock, "josp", "objects", "--json")
		if err := json.Unmarshal([]byte(out), &objs); err != nil {
			t.Fatal(err)
		}
	}
	if len(objs) != 1 || objs[0].ThingID != "osp:1:4242" || objs[0].Name != "greenhouse" {
		t.Fatalf("objects %s", out)
	}
	obj := objs[0]
	if out := mustCtl(t, sock, "josp", "objects"); !strings.Contains(out, obj.ObjID) || !strings.Contains(out, "greenhouse-") {
		t.Errorf("table:\n%s", out)
	}
	out = mustCtl(t, sock, "josp", "object", "osp:1:4242")
	for _, want := range []string{obj.ObjID, "Properties>temperature (RangeState)", "Actions>setInterval (RangeAction)", "installer", "#Owner", "CoOwner"} {
		if !strings.Contains(out, want) {
			t.Errorf("object lacks %q:\n%s", want, out)
		}
	}
	out = mustCtl(t, sock, "josp", "perms", "add", obj.ObjID, "--srv", "app", "--usr", "#All", "--type", "Actions", "--json")
	var p struct {
		ID   string `json:"id"`
		Type string `json:"type"`
		Conn string `json:"conn"`
	}
	if err := json.Unmarshal([]byte(out), &p); err != nil || len(p.ID) != 20 || p.Type != "Actions" || p.Conn != "OnlyLocal" {
		t.Fatalf("added %s %v", out, err)
	}
	if out := mustCtl(t, sock, "josp", "perms", "update", "osp:1:4242", p.ID, "--srv", "app", "--usr", "bob", "--type", "Status"); !strings.Contains(out, "State") {
		t.Errorf("updated:\n%s", out)
	}
	if out := mustCtl(t, sock, "josp", "perms", "osp:1:4242"); !strings.Contains(out, p.ID) || !strings.Contains(out, "bob") {
		t.Errorf("perms:\n%s", out)
	}
	mustCtl(t, sock, "josp", "perms", "remove", "osp:1:4242", p.ID)
	if out := mustCtl(t, sock, "josp", "perms", "osp:1:4242"); strings.Contains(out, p.ID) {
		t.Errorf("removed permission still listed:\n%s", out)
	}
	if out := mustCtl(t, sock, "josp", "services", "--json"); strings.TrimSpace(out) != "[]" {
		t.Errorf("services %s", out)
	}
	for _, tc := range []struct {
		args []string
		msg  string
	}{
		{[]string{"josp", "object", "osp:9:9"}, "unknown object"},
		{[]string{"josp", "perms", "remove", "osp:1:4242", "NOSUCHPERMISSION"}, "unknown permission"},
		{[]string{"josp", "perms", "add", "osp:1:4242", "--srv", "a b", "--usr", "x", "--type", "State"}, "srvId"},
		{[]string{"josp", "perms", "add", "osp:1:4242", "--srv", "a", "--usr", "x", "--type", "Boss"}, "--type"},
		{[]string{"josp", "perms", "add", "osp:1:4242", "--srv", "a"}, "needs --srv, --usr and --type"},
		{[]string{"josp"}, "josp needs a command"},
		{[]string{"josp", "frobnicate"}, "unknown josp command"},
	} {
		if out, err := ctl(t, sock, tc.args...); err == nil || !strings.Contains(err.Error()+out, tc.msg) {
			t.Errorf("%v: %v %s, want %q", tc.args, err, out, tc.msg)
		}
	}
	// Off: the error says how to turn it on.
	off := gatewaytest.Start(t, "")
	if _, err := ctl(t, off.AdminSocket(), "josp", "objects"); err == nil || !strings.Contains(err.Error(), "[josp]") {
		t.Errorf("endpoint off: %v", err)
	}
}
