package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/edgegate/edgegate/gateway/admin"
	"github.com/edgegate/edgegate/gateway/gatewaytest"
	"github.com/edgegate/edgegate/gateway/osp"
)

// TestOperatorCommands runs every command the status page has a part for
// against an in-process gateway, in text and in JSON.
func TestOperatorCommands(t *testing.T) {
	sock, gw := startGateway(t)
	mustCtl(t, sock, "devices", "add", "--type", "1", "--module", "7", "--profile", "thermo", "--name", "greenhouse")
	sensor(t, gw, osp.DeviceID{Type: 1, Module: 7}, []byte{0x09, 0xc4, 0x01, 0xf4, 0x55})

	out := mustCtl(t, sock, "status")
	for _, want := range []string{"gateway ", "health       ok", "clock ", "pairing      closed", "link         udp up", "readings     1 in the last 10m0s"} {
		if !strings.Contains(out, want) {
			t.Errorf("status lacks %q:\n%s", want, out)
		}
	}
	var ov admin.Overview
	if err := json.Unmarshal([]byte(mustCtl(t, sock, "overview", "--json")), &ov); err != nil || len(ov.Devices) != 1 {
		t.Errorf("overview --json: %v %+v", err, ov.Devices)
	}
	if out := mustCtl(t, sock, "links"); !strings.Contains(out, "udp") || !strings.Contains(out, "up") {
		t.Errorf("links:\n%s", out)
	}
	if out := mustCtl(t, sock, "devices", "list"); !strings.Contains(out, "LAST READING") || !strings.Contains(out, "greenhouse") {
		t.Errorf("devices list:\n%s", out)
	}
	if out := mustCtl(t, sock, "health"); !strings.Contains(out, "ok    loops") {
		t.Errorf("health:\n%s", out)
	}
	if out := mustCtl(t, sock, "health", "--ready", "--json"); !strings.Contains(out, `"name": "store"`) {
		t.Errorf("health --ready --json:\n%s", out)
	}
	if out := mustCtl(t, sock, "rates"); !strings.Contains(out, "1:7") || !strings.Contains(out, "all") {
		t.Errorf("rates:\n%s", out)
	}
	if out := mustCtl(t, sock, "clock"); !strings.Contains(out, "floor") {
		t.Errorf("clock:\n%s", out)
	}
	if out := mustCtl(t, sock, "errors", "--json"); strings.TrimSpace(out) != "[]" {
		t.Errorf("errors --json on a quiet gateway: %s", out)
	}
	if out := mustCtl(t, sock, "pairing"); !strings.Contains(out, "closed") {
		t.Errorf("pairing:\n%s", out)
	}
	if out := mustCtl(t, sock, "pair", "open"); !strings.Contains(out, "open until") {
		t.Errorf("pairing open:\n%s", out)
	}
	var p admin.Pairing
	if err := json.Unmarshal([]byte(mustCtl(t, sock, "pair", "--json")), &p); err != nil || !p.Open {
		t.Errorf("pairing --json: %v %+v", err, p)
	}

	pw := func(stdin string, args ...string) (string, error) {
		var out bytes.Buffer
		err := runWith(context.Background(), append([]string{"-socket", sock, "web", "password"}, args...), strings.NewReader(stdin), &out, &out)
		return out.String(), err
	}
	if out, err := pw("short\n"); err == nil || !strings.Contains(err.Error(), "at least") {
		t.Errorf("short password: %v %s", err, out)
	}
	if out, err := pw("a long enough password\n"); err != nil || !strings.Contains(out, "password set") {
		t.Errorf("web password: %v %s", err, out)
	}
	if out, err := pw("another long password\n", "--json"); err != nil || !strings.Contains(out, `"set": true`) {
		t.Errorf("web password --json: %v %s", err, out)
	}
	if out, err := pw("", "--remove", "--json"); err != nil || !strings.Contains(out, `"set": false`) {
		t.Errorf("web password --remove: %v %s", err, out)
	}
	if _, err := pw(""); !errors.Is(err, errUsage) {
		t.Errorf("no password on stdin: %v", err)
	}
}

func TestErrorsSayWhatToDo(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "gatewayd.sock")
	err := run(context.Background(), []string{"-socket", missing, "status"}, &bytes.Buffer{}, &bytes.Buffer{})
	if err == nil || !strings.Contains(err.Error(), "is gatewayd running") || !strings.Contains(err.Error(), "EDGEGATE_SOCKET") {
		t.Errorf("no gateway: %v", err)
	}
	sock, _ := startGateway(t)
	if out, err := ctl(t, sock, "pair", "bogus"); !errors.Is(err, errUsage) {
		t.Errorf("pair bogus: %v %s", err, out)
	}
	if out, err := ctl(t, sock, "completion", "fish"); !errors.Is(err, errUsage) || !strings.Contains(err.Error(), "bash or zsh") {
		t.Errorf("completion fish: %v %s", err, out)
	}
}

// TestCompletion loads the bash script into bash and completes a few
// words.
func TestCompletion(t *testing.T) {
	bash, err := exec.LookPath("bash")
	if err != nil {
		t.Skip("no bash")
	}
	var script bytes.Buffer
	if err := completion([]string{"bash"}, &script); err != nil {
		t.Fatal(err)
	}
	f := filepath.Join(t.TempDir(), "c.sh")
	os.WriteFile(f, script.Bytes(), 0o644)
	for line, want := range map[string]string{
		"gatewayctl pai":         "pair",
		"gatewayctl devices ad":  "add",
		"gatewayctl health --re": "--ready",
		"gatewayctl web ":        "password",
	} {
		words := strings.Fields(line)
		if strings.HasSuffix(line, " ") {
			words = append(words, "")
		}
		quoted := make([]string, len(words))
		for i, w := range words {
			quoted[i] = "'" + w + "'"
		}
		cmd := exec.Command(bash, "-c", "source "+f+"; COMP_WORDS=("+strings.Join(quoted, " ")+"); COMP_CWORD="+
			strings.TrimSpace(string(rune('0'+len(words)-1)))+"; _gatewayctl; echo \"${COMPREPLY[@]}\"")
		out, err := cmd.CombinedOutput()
		if err != nil || !strings.Contains(string(out), want) {
			t.Errorf("%q completes to %q (%v), want %q", line, out, err, want)
		}
	}
	var z bytes.Buffer
	if err := completion([]string{"zsh"}, &z); err != nil || !strings.HasPrefix(z.String(), "#compdef gatewayctl") {
		t.Errorf("zsh: %v", err)
	}
}

// TestStatusShowsServiceSections: a service's part of the status (here the
// upstream's) is a line of status, without its zero counters.
func TestStatusShowsServiceSections(t *testing.T) {
	g := gatewaytest.Start(t, "[upstream.bundled]\nenabled = true\nlisten = \"127.0.0.1:0\"\n")
	out := mustCtl(t, g.AdminSocket(), "status")
	m := regexp.MustCompile(`(?m)^upstream +(.*)$`).FindStringSubmatch(out)
	if m == nil || m[1] == "idle" || regexp.MustCompile(`=0(\s|$)`).MatchString(m[1]) {
		t.Errorf("status lacks the upstream's section, or shows its zeros:\n%s", out)
	}
}

// TestCompletionKnowsEveryCommand: every command and flag of the usage
// text is in the completion table.
func TestCompletionKnowsEveryCommand(t *testing.T) {
	known := map[string][]string{}
	for _, c := range commands {
		known[c.name] = c.flags
	}
	_, list, _ := strings.Cut(usage, "commands:\n")
	list, _, _ = strings.Cut(list, "\n\n")
	cmdRE, flagRE := regexp.MustCompile(`^  ([a-z][a-z-]*)`), regexp.MustCompile(`--[a-z][a-z-]*`)
	cmd, read := "", 0
	for _, line := range strings.Split(list, "\n") {
		if m := cmdRE.FindStringSubmatch(line); m != nil {
			cmd = m[1]
			read++
			if _, ok := known[cmd]; !ok {
				t.Errorf("no completion for the command %s", cmd)
			}
		}
		for _, f := range flagRE.FindAllString(line, -1) {
			if f != "--json" && !slices.Contains(known[cmd], f) {
				t.Errorf("no completion for %s %s", cmd, f)
			}
		}
	}
	if read < 20 {
		t.Fatalf("read only %d command lines from the usage text", read)
	}
}
