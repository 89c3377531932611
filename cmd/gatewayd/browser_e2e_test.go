package main

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// chromiumPath finds Debian's chromium, installing it with apt when it is
// missing and this is root (the Makefile's chromium target does the same);
// "" when it cannot be had.
func chromiumPath(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Geteuid() != 0 || os.Getenv("EDGEGATE_NO_INSTALL") != "" {
		return ""
	}
	if _, err := exec.LookPath("apt-get"); err != nil {
		return ""
	}
	t.Log("installing chromium with apt-get")
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "sh", "-c", "apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Logf("apt-get install chromium: %v\n%s", err, out)
		return ""
	}
	p, _ := exec.LookPath("chromium")
	return p
}

// startChromium runs headless chromium on a fresh profile and returns the
// DevTools WebSocket URL of its first page.
func startChromium(t *testing.T, bin string) string {
	t.Helper()
	profile := t.TempDir()
	cmd := exec.Command(bin, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
		"--disable-background-networking", "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage",
		"--user-data-dir="+profile, "--remote-debugging-address=127.0.0.1", "--remote-debugging-port=0",
		"--window-size=1280,1600", "about:blank")
	cmd.Stdout, cmd.Stderr = nil, nil
	// Its own process group: chromium's renderer and utility processes
	// outlive a kill of the browser process alone and go on writing into
	// the profile, which the test's cleanup then fails to remove.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		_ = cmd.Wait()
		// The children, now orphans, are reaped by init; wait until the
		// group is gone so that nothing writes into the profile any more.
		for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
			if syscall.Kill(-cmd.Process.Pid, 0) != nil {
				break
			}
		}
	})
	// Chromium writes the port it chose into DevToolsActivePort.
	var port string
	waitFor(t, "chromium's DevToolsActivePort", func() bool {
		b, err := os.ReadFile(filepath.Join(profile, "DevToolsActivePort"))
		if err != nil {
			return false
		}
		port, _, _ = strings.Cut(string(b), "\n")
		return port != ""
	})
	var ws string
	waitFor(t, "chromium's page target", func() bool {
		resp, err := http.Get("http://127.0.0.1:" + port + "/json/list")
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		var targets []struct{ Type, WebSocketDebuggerURL string }
		if json.NewDecoder(resp.Body).Decode(&targets) != nil {
			return false
		}
		for _, tg := range targets {
			if tg.Type == "page" {
				ws = tg.WebSocketDebuggerURL
				return true
			}
		}
		return false
	})
	return ws
}

// artifactDir is where tests leave files for people: $ARTIFACTS_DIR, else
// edgegate-artifacts in the system's temporary directory.
func artifactDir(t *testing.T) string {
	dir := os.Getenv("ARTIFACTS_DIR")
	if dir == "" {
		dir = filepath.Join(os.TempDir(), "edgegate-artifacts")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// TestStatusPageInChromium opens the status page of a running gatewayd in
// headless Chromium, checks that a device appears with its decoded values
// once ospsim has sent data, clicks the pairing button and checks the
// gateway opened the window, then saves screenshots (desktop and phone
// widths) as artifacts.
func TestStatusPageInChromium(t *testing.T) {
	chromium := chromiumPath(t)
	if chromium == "" {
		t.Skip("chromium is not installed and cannot be installed here (make chromium)")
	}
	data := filepath.Join(t.TempDir(), "data")
	port := freeUDPPort(t)
	httpPort := freeTCPPort(t)
	d := startDaemonConfig(t, data, fmt.Sprintf("[osp.udp]\nlisten = \"127.0.0.1:%d\"\n[admin]\nhttp = \"127.0.0.1:%d\"\n[gateway]\nname = \"barn-7\"\n", port, httpPort))
	defer d.cmd.Process.Signal(os.Interrupt)
	socket := d.socket
	base := fmt.Sprintf("http://127.0.0.1:%d", httpPort)
	waitFor(t, "the status page", func() bool {
		resp, err := http.Get(base + "/healthz")
		if err == nil {
			resp.Body.Close()
		}
		return err == nil && resp.StatusCode == 200
	})

	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	page, err := dialCDP(ctx, startChromium(t, chromium))
	if err != nil {
		t.Fatal(err)
	}
	defer page.close()
	if err := page.call(ctx, "Page.enable", nil, nil); err != nil {
		t.Fatal(err)
	}
	// Collect the page's script errors.
	if err := page.call(ctx, "Page.addScriptToEvaluateOnNewDocument", map[string]any{"source": `window.__errors = [];
		addEventListener("error", (e) => window.__errors.push(String(e.message)));
		addEventListener("unhandledrejection", (e) => window.__errors.push(String(e.reason)));`}, nil); err != nil {
		t.Fatal(err)
	}
	if err := page.call(ctx, "Page.navigate", map[string]any{"url": base + "/"}, nil); err != nil {
		t.Fatal(err)
	}
	text := func(selector string) string {
		var s string
		if err := page.eval(ctx, fmt.Sprintf(`document.querySelector(%q)?.textContent ?? ""`, selector), &s); err != nil {
			t.Fatal(err)
		}
		return s
	}
	waitForPage := func(what string, cond func() bool) {
		t.Helper()
		deadline := time.Now().Add(30 * time.Second)
		for !cond() {
			if time.Now().After(deadline) {
				var html string
				_ = page.eval(ctx, "document.body.innerText", &html)
				t.Fatalf("timed out waiting for %s; the page shows:\n%s", what, html)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	waitForPage("the gateway's name", func() bool { return text("#name") == "barn-7" })
	if got := text("#devices tbody"); got != "" {
		t.Fatalf("devices before any was added: %q", got)
	}

	gatewayctl(t, socket, "devices", "add", "--type", "1", "--module", "4242", "--secure", "--key", e2eKey,
		"--profile", "thermo", "--name", "greenhouse")
	// ospsim sends 20 readings and keeps its session open while the page
	// is looked at.
	startOspsim(t, "-gateway", d.addr.String(), "-type", "1", "-module", "4242", "-secure",
		"-key", e2eKey, "-count", "20", "-rate", "100", "-payload", "8", "-hold", "2m")
	row := `#devices tr[data-device="1:4242"]`
	waitForPage("the device with its values", func() bool {
		s := text(row)
		return strings.Contains(s, "greenhouse") && strings.Contains(s, "temperature") && strings.Contains(s, "Cel")
	})
	if s := text(row); !strings.Contains(s, "ago") {
		t.Errorf("device row without a last reading time: %q", s)
	}
	waitForPage("the reading rate", func() bool { return strings.HasPrefix(text("#rate-caption"), "20 readings") })

	if strings.Contains(gatewayctl(t, socket, "pairing"), "open until") {
		t.Fatal("pairing window open before the click")
	}
	if err := page.click(ctx, "#pair"); err != nil {
		t.Fatal(err)
	}
	waitForPage("the pairing window on the page", func() bool { return strings.Contains(text("#pairing"), "open until") })
	if st := gatewayctl(t, socket, "pairing"); !strings.Contains(st, "open until") {
		t.Errorf("the gateway did not open the pairing window: %q", st)
	}

	dir := artifactDir(t)
	shot := func(name string) {
		var r struct{ Data string }
		if err := page.call(ctx, "Page.captureScreenshot", map[string]any{"format": "png", "captureBeyondViewport": true}, &r); err != nil {
			t.Fatal(err)
		}
		png, err := base64.StdEncoding.DecodeString(r.Data)
		if err != nil || len(png) < 1000 {
			t.Fatalf("screenshot: %d bytes, %v", len(png), err)
		}
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, png, 0o644); err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(os.Stderr, "status page screenshot: %s\n", path)
		t.Logf("screenshot: %s", path)
	}
	shot("statuspage-desktop.png")

	// A phone: 412 px wide. Nothing may stick out sideways but the tables,
	// which scroll inside their cards.
	if err := page.call(ctx, "Emulation.setDeviceMetricsOverride", map[string]any{"width": 412, "height": 915,
		"deviceScaleFactor": 2, "mobile": true}, nil); err != nil {
		t.Fatal(err)
	}
	var widths struct{ Scroll, Inner float64 }
	waitForPage("the phone layout", func() bool {
		_ = page.eval(ctx, `({Scroll: document.documentElement.scrollWidth, Inner: window.innerWidth})`, &widths)
		return widths.Inner == 412
	})
	if widths.Scroll > widths.Inner+1 {
		t.Errorf("on a phone the page is %v px wide for a %v px screen", widths.Scroll, widths.Inner)
	}
	shot("statuspage-phone.png")
	// A service's field in the status (the upstream forwarder's, JOSP's)
	// becomes a section of the page with no change to the page: rendered
	// here from the live overview with two such fields added.
	var sections struct{ Upstream, JOSP string }
	if err := page.eval(ctx, `(async () => {
		const o = await (await fetch("/api/overview")).json();
		o.status.upstream = {queueDepth: 42, oldest: new Date(Date.now() - 125000).toISOString(), errors: 3, connected: true};
		o.status.josp = {connections: 2, services: [{name: "hvac", addr: "127.0.0.1:5000"}]};
		render(o);
		return {Upstream: document.querySelector("#section-upstream")?.textContent ?? "",
			JOSP: document.querySelector("#section-josp")?.textContent ?? ""};
	})()`, &sections); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(sections.Upstream, "42 queued") || !strings.Contains(sections.Upstream, "oldest 2 min ago") ||
		!strings.Contains(sections.Upstream, "errors3") {
		t.Errorf("upstream section: %q", sections.Upstream)
	}
	if !strings.Contains(sections.JOSP, "JOSP") || !strings.Contains(sections.JOSP, "hvac") || !strings.Contains(sections.JOSP, "connections2") {
		t.Errorf("JOSP section: %q", sections.JOSP)
	}
	shot("statuspage-sections.png")
	// The page's log is clean: no script errors.
	var errs []string
	_ = page.eval(ctx, `window.__errors || []`, &errs)
	if len(errs) > 0 {
		t.Errorf("script errors: %v", errs)
	}
}
