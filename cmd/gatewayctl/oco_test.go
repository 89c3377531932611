package main

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/edgegate/edgegate/gateway/admin"
	"github.com/edgegate/edgegate/gateway/gatewaytest"
)

func TestOCOStatusOff(t *testing.T) {
	sock, _ := startGateway(t)
	out, err := ctl(t, sock, "oco", "status")
	if err == nil || !strings.Contains(err.Error(), "[oco] enabled = true") {
		t.Fatalf("%v\n%s", err, out)
	}
	if _, err := ctl(t, sock, "oco"); !errors.Is(err, errUsage) {
		t.Errorf("oco alone: %v", err)
	}
	if _, err := ctl(t, sock, "oco", "forget-keys"); !errors.Is(err, errUsage) || !strings.Contains(err.Error(), "--yes") {
		t.Errorf("forget-keys without --yes: %v", err)
	}
}

func TestOCOStatus(t *testing.T) {
	g := gatewaytest.Start(t, "[oco]\nenabled = true\nurl = \"http://127.0.0.1:1/api-agent.php\"\nhostname = \"gw-ctl\"\nregistration_key = \"topsecret-registration\"\n")
	sock := g.AdminSocket()
	var st admin.OCOStatus
	deadline := time.Now().Add(10 * time.Second)
	for st.LastError == "" && time.Now().Before(deadline) {
		out := mustCtl(t, sock, "oco", "status", "--json")
		if err := json.Unmarshal([]byte(out), &st); err != nil {
			t.Fatalf("%v: %s", err, out)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if st.Hostname != "gw-ctl" || st.AgentKey || !st.RegistrationKey || st.LastError == "" {
		t.Fatalf("%+v", st)
	}
	out := mustCtl(t, sock, "oco", "status")
	for _, want := range []string{"http://127.0.0.1:1/api-agent.php", "gw-ctl", "agent key absent", "registration key configured", "last error", "not known yet"} {
		if !strings.Contains(out, want) {
			t.Errorf("no %q in:\n%s", want, out)
		}
	}
	if strings.Contains(out, "topsecret") {
		t.Error("the registration key is printed")
	}
	if out := mustCtl(t, sock, "oco", "forget-keys", "--yes"); !strings.Contains(out, "forgotten") {
		t.Errorf("%s", out)
	}
}
