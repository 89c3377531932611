package gateway

import (
	"bytes"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const installerFile = `# written by the installer
name = "barn-7"
ocs_url = "https://ocs.example.com/api"
ocs_pin = "abababababababababababababababababababababababababababababababab"
oco_server = "https://oco.example.com/api-agent.php"
oco_registration_key = "agent registration 7"
lora_region = "eu868"
lora_hat = "adafruit-rfm9x-bonnet"
status_page = "0.0.0.0:80"
password = "installer secret 42"
`

func TestParseFirstBoot(t *testing.T) {
	f, err := ParseFirstBoot([]byte(installerFile))
	if err != nil || f.Name != "barn-7" || f.LoRaRegion != "eu868" || f.Password != "installer secret 42" {
		t.Fatalf("%+v %v", f, err)
	}
	if s := f.String(); strings.Contains(s, "secret") || strings.Contains(s, "registration 7") {
		t.Errorf("String shows the password: %s", s)
	}
	for _, tc := range []struct{ in, want string }{
		{`nmae = "x"`, "unknown key nmae"},
		{`ocs_url = "ocs.example.com"`, "ocs_url"},
		{`oco_server = "ftp://x"`, "oco_server"},
		{`ocs_url = "https://ocs.example.com/"`, "ocs_pin"},
		{"ocs_url = \"https://x/\"\nocs_pin = \"zz\"", "ocs_pin"},
		{`lora_region = "us915"`, "lora_region"},
		{`password = "short"`, "password"},
		{`status_page = "0.0.0.0:80"`, "needs a password"},
		{`status_page = "80"`, "host:port"},
		{"name = \"two\nlines\"", "name"},
		{`name = `, "first-boot file"},
	} {
		_, err := ParseFirstBoot([]byte(tc.in))
		if !errors.Is(err, ErrConfig) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: %v, want an error naming %q", tc.in, err, tc.want)
		}
	}
}

// TestFirstBootImportedOnce imports the installer's file, checks the
// overlay and the hashed password, that the file is replaced by a copy
// without the password, and that the same file is not imported twice.
func TestFirstBootImportedOnce(t *testing.T) {
	boot, data := t.TempDir(), t.TempDir()
	path := filepath.Join(boot, "edgegate.toml")
	os.WriteFile(path, []byte(installerFile), 0o644)
	var logs bytes.Buffer
	log := slog.New(slog.NewTextHandler(&logs, nil))
	ok, err := ImportFirstBoot(path, data, log)
	if err != nil || !ok {
		t.Fatalf("import: %v %v", ok, err)
	}
	if strings.Contains(logs.String(), "secret") {
		t.Errorf("the password is in the log:\n%s", logs.String())
	}
	if _, err := os.Stat(path); !os.IsNotExist(err) {
		t.Errorf("first-boot file still there: %v", err)
	}
	kept, err := os.ReadFile(path + ".imported")
	if err != nil || strings.Contains(string(kept), "secret") || !strings.Contains(string(kept), `name = "barn-7"`) {
		t.Errorf("imported copy: %v\n%s", err, kept)
	}
	overlay, err := os.ReadFile(filepath.Join(data, FirstBootOverlay))
	if err != nil || strings.Contains(string(overlay), "secret") {
		t.Fatalf("overlay: %v\n%s", err, overlay)
	}
	if fi, _ := os.Stat(filepath.Join(data, FirstBootOverlay)); fi.Mode().Perm() != 0o600 {
		t.Errorf("overlay mode %v", fi.Mode())
	}
	hash, err := os.ReadFile(filepath.Join(data, firstBootPassword))
	if err != nil || !strings.HasPrefix(string(hash), "$argon2id$") {
		t.Fatalf("password hash: %v %q", err, hash)
	}

	// The same file again (a read-only boot partition could not mark it):
	// not imported twice.
	os.WriteFile(path, []byte(installerFile), 0o644)
	if ok, err := ImportFirstBoot(path, data, log); ok || err != nil {
		t.Errorf("second import: %v %v", ok, err)
	}
	// No file: nothing to do.
	if ok, err := ImportFirstBoot(filepath.Join(boot, "none.toml"), data, log); ok || err != nil {
		t.Errorf("missing file: %v %v", ok, err)
	}
	// A broken file is reported and left alone.
	bad := filepath.Join(boot, "bad.toml")
	os.WriteFile(bad, []byte("nmae = 1\n"), 0o644)
	if _, err := ImportFirstBoot(bad, data, log); err == nil || !strings.Contains(err.Error(), bad) {
		t.Errorf("broken file: %v", err)
	}
	if _, err := os.Stat(bad); err != nil {
		t.Error("broken file was removed")
	}

	// The overlay over the packaged configuration.
	packaged, _ := os.ReadFile("../cmd/gatewayd/gatewayd.toml")
	logs.Reset()
	text, err := WithFirstBoot(packaged, data, log)
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := ParseConfig(bytes.NewReader(text))
	if err != nil {
		t.Fatalf("merged configuration: %v\n%s", err, text)
	}
	if cfg.Gateway.Name != "barn-7" || !cfg.OSP.LoRa.Enabled || cfg.OSP.LoRa.Region != "eu868" ||
		cfg.Board.LoRaHAT != "adafruit-rfm9x-bonnet" || cfg.Admin.HTTP != "0.0.0.0:80" {
		t.Errorf("merged: %+v %+v %+v %+v", cfg.Gateway, cfg.OSP.LoRa, cfg.Board, cfg.Admin)
	}
	if cfg.OSP.UDP.Listen != "127.0.0.1:4700" || cfg.Admin.Socket != "gatewayd.sock" {
		t.Errorf("the configuration file's other values were lost: %+v %+v", cfg.OSP.UDP, cfg.Admin)
	}
	if cfg.Upstream.URL != "https://ocs.example.com/api" || len(cfg.Upstream.ServerPins) != 1 ||
		cfg.OCO.URL != "https://oco.example.com/api-agent.php" || !cfg.OCO.Enabled || cfg.OCO.RegistrationKey.IsZero() {
		t.Errorf("merged upstream %+v, oco %+v", cfg.Upstream, cfg.OCO)
	}
	if strings.Contains(logs.String(), "registration 7") {
		t.Errorf("the registration key was logged:\n%s", logs.String())
	}
	if !strings.Contains(logs.String(), "key=admin.http") {
		t.Errorf("replacing the file's admin.http is not logged:\n%s", logs.String())
	}

	// New moves the password hash into the store.
	r := startGateway(t, data, "")
	if h := storedWebPassword(t, r.g); h != strings.TrimSpace(string(hash)) || r.g.webPasswordHash() != h {
		t.Errorf("stored hash %q, the page checks %q", h, r.g.webPasswordHash())
	}
	if _, err := os.Stat(filepath.Join(data, firstBootPassword)); !os.IsNotExist(err) {
		t.Error("the hash file is still in the data directory")
	}
}

func TestWithFirstBootWithoutOverlay(t *testing.T) {
	in := []byte("[gateway]\nname = \"x\"\n")
	out, err := WithFirstBoot(in, t.TempDir(), nil)
	if err != nil || !bytes.Equal(in, out) {
		t.Errorf("%q %v", out, err)
	}
}

func TestCheckConfig(t *testing.T) {
	cfg, err := ParseConfig(strings.NewReader("[[device]]\ntype = 1\nmodule = 2\nprofile = \"thermo\"\n"))
	if err != nil || CheckConfig(cfg) != nil {
		t.Fatalf("%v %v", err, CheckConfig(cfg))
	}
	cfg.Devices[0].Profile = "nosuch"
	if err := CheckConfig(cfg); !errors.Is(err, ErrConfig) || !strings.Contains(err.Error(), "device[0].profile") {
		t.Errorf("unknown profile: %v", err)
	}
	cfg.Things.ProfileDir = "/nonexistent/dir"
	if err := CheckConfig(cfg); err == nil {
		t.Error("missing profile_dir accepted")
	}
}

// FuzzParseFirstBoot: any file either parses into values ParseFirstBoot
// accepts again once written back, or fails with ErrConfig; never a panic.
func FuzzParseFirstBoot(f *testing.F) {
	f.Add([]byte(installerFile))
	f.Add([]byte("name = \"x\"\nstatus_page = \"127.0.0.1:8080\"\n"))
	f.Add([]byte("password = 12\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		fb, err := ParseFirstBoot(b)
		if err != nil {
			if !errors.Is(err, ErrConfig) {
				t.Fatalf("error %v is not ErrConfig", err)
			}
			return
		}
		bare := fb
		bare.Password = ""
		if fb.Password != "" && strings.Replace(fb.String(), "password:[redacted]", "password:", 1) != bare.String() {
			t.Fatalf("String shows more than a redaction of the password: %s", fb.String())
		}
	})
}
