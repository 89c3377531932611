package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

func TestCheckConfig(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good.toml")
	os.WriteFile(good, []byte("[admin]\nhttp = \"127.0.0.1:8080\"\n[[device]]\ntype = 1\nmodule = 2\nprofile = \"thermo\"\n"), 0o600)
	out, err := exec.Command(gatewaydBin, "-check-config", good).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "good.toml: valid") {
		t.Errorf("valid file: %v\n%s", err, out)
	}
	if out, err := exec.Command(gatewaydBin, "-check-config", "gatewayd.toml").CombinedOutput(); err != nil {
		t.Errorf("the embedded default: %v\n%s", err, out)
	}
	for body, want := range map[string]string{
		"[admin]\nhttp = \"8080\"\n":                      "admin.http",
		"[[device]]\ntype = 1\nprofile = \"nosuch\"\n":    "device[0].profile",
		"[osp.udp]\nlisten = \"127.0.0.1:4700\"\nmtu = 9": "osp.udp.mtu",
		"[gateway]\nnmae = \"x\"\n":                       "unknown key gateway.nmae",
	} {
		bad := filepath.Join(dir, "bad.toml")
		os.WriteFile(bad, []byte(body), 0o600)
		out, err := exec.Command(gatewaydBin, "-check-config", bad).CombinedOutput()
		if err == nil || !strings.Contains(string(out), want) {
			t.Errorf("%q: %v, want an error naming %s:\n%s", body, err, want, out)
		}
	}
}

// TestFirstBootImport starts gatewayd with an installer's first-boot file:
// the gateway takes its name from it, the file is marked imported, and a
// restart without the file keeps the settings.
func TestFirstBootImport(t *testing.T) {
	dir := t.TempDir()
	boot := filepath.Join(dir, "boot")
	os.MkdirAll(boot, 0o755)
	fb := filepath.Join(boot, "edgegate.toml")
	os.WriteFile(fb, []byte("name = \"barn-7\"\npassword = \"installer secret 42\"\nlora_region = \"eu868\"\n"), 0o644)
	data := filepath.Join(dir, "data")
	cfg := filepath.Join(dir, "gatewayd.toml")
	os.WriteFile(cfg, []byte("[osp.udp]\nlisten = \"127.0.0.1:0\"\n"), 0o600)
	run := func() string {
		cmd := exec.Command(gatewaydBin, "-config", cfg, "-data", data, "-firstboot", fb)
		var log bytes.Buffer // written by cmd's copier until Wait returns
		cmd.Stderr = &log
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { cmd.Process.Kill() })
		socket := filepath.Join(data, "gatewayd.sock")
		waitFor(t, "the admin socket", func() bool {
			_, err := os.Stat(socket)
			return err == nil
		})
		st := gatewayctl(t, socket, "status")
		cmd.Process.Signal(os.Interrupt)
		if err := cmd.Wait(); err != nil {
			t.Errorf("gatewayd: %v\n%s", err, log.String())
		}
		if strings.Contains(log.String(), "installer secret") {
			t.Errorf("password in the log:\n%s", log.String())
		}
		if !strings.Contains(log.String(), "starting") || !strings.Contains(log.String(), "stopped") {
			t.Errorf("the log is not whole:\n%s", log.String())
		}
		return st
	}
	if st := run(); !strings.Contains(st, "gateway      barn-7") {
		t.Errorf("status after the import:\n%s", st)
	}
	if _, err := os.Stat(fb + ".imported"); err != nil {
		t.Errorf("not marked imported: %v", err)
	}
	if st := run(); !strings.Contains(st, "gateway      barn-7") {
		t.Errorf("status after a restart:\n%s", st)
	}
}
