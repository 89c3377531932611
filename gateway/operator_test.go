package gateway

import (
	"context"
	"errors"
	"io"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/edgegate/edgegate/gateway/admin"
	"github.com/edgegate/edgegate/gateway/osp"
	"github.com/edgegate/edgegate/store"
)

func httpGet(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// metricValue returns the value of the sample line starting with series.
func metricValue(t *testing.T, body, series string) float64 {
	t.Helper()
	m := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(series) + ` (\S+)$`).FindStringSubmatch(body)
	if m == nil {
		t.Fatalf("no %s in /metrics", series)
	}
	v, _ := strconv.ParseFloat(m[1], 64)
	return v
}

// TestMetricsHealthAndOverview drives a sensor and an unknown device
// against a gateway serving its status page on loopback, then reads
// /metrics, /healthz, /readyz and the operator endpoints of the admin API.
func TestMetricsHealthAndOverview(t *testing.T) {
	r := startGateway(t, t.TempDir(), "[admin]\nhttp = \"127.0.0.1:0\"\nsocket = \"gatewayd.sock\"\n")
	ctx := context.Background()
	base := "http://" + r.g.HTTPAddr().String()
	r.add(admin.DeviceSpec{ID: admin.DeviceID{Type: 1, Module: 42}, Secure: true, Key: testKey, Profile: "thermo", Name: "greenhouse"})
	s := newSensor(t, r.g.UDPAddr(), osp.DeviceID{Type: 1, Module: 42}, secure(), nil)
	s.open()
	for range 5 {
		s.sendAcked(10, []byte{0x09, 0xc4, 0x01, 0xf4, 0x55})
	}
	stranger := newSensor(t, r.g.UDPAddr(), osp.DeviceID{Type: 9, Module: 9}, secure(), nil)
	if err := stranger.cl.Connect(); err != nil {
		t.Fatal(err)
	}
	var body string
	eventually(t, "the refused CONNECT in /metrics", func() bool {
		_, body = httpGet(t, base+"/metrics")
		return strings.Contains(body, `edgegate_osp_handshake_failures_by_cause_total{cause="unknown_device"} 1`)
	})
	for series, min := range map[string]float64{
		`edgegate_osp_packets_total{type="DATA",outcome="ok"}`:    5,
		`edgegate_osp_packets_total{type="CONNECT",outcome="ok"}`: 2,
		`edgegate_osp_server_data_total`:                          5,
		`edgegate_osp_server_handshakes_total`:                    1,
		`edgegate_osp_sessions`:                                   1,
		`edgegate_osp_ack_commits_inline_total`:                   5,
		`edgegate_store_appends_total`:                            5,
		`edgegate_store_fsyncs_total`:                             1,
		`edgegate_store_journal_records`:                          5,
		`edgegate_store_commit_seconds_count`:                     1,
		`edgegate_store_commit_seconds_bucket{le="+Inf"}`:         1,
		`edgegate_udp_received_total`:                             7,
		`edgegate_gateway_healthy`:                                1,
		`edgegate_gateway_log_warnings_total`:                     1,
	} {
		if v := metricValue(t, body, series); v < min {
			t.Errorf("%s = %v, want at least %v", series, v, min)
		}
	}
	if code, b := httpGet(t, base+"/healthz"); code != 200 || !strings.Contains(b, `"ok": true`) {
		t.Errorf("healthz %d %s", code, b)
	}
	if code, b := httpGet(t, base+"/readyz"); code != 200 || !strings.Contains(b, `"name": "store"`) || !strings.Contains(b, "probe write took") {
		t.Errorf("readyz %d %s", code, b)
	}

	var ov admin.Overview
	eventually(t, "the projected values in the overview", func() bool {
		if err := r.api.Call(ctx, "GET", "/v1/overview", nil, &ov); err != nil {
			t.Fatal(err)
		}
		return len(ov.Devices) == 1 && !ov.Devices[0].LastSeen.IsZero()
	})
	if len(ov.Devices) != 1 || !ov.Devices[0].Connected || ov.Devices[0].LastSeen.IsZero() || len(ov.Devices[0].Properties) != 3 {
		t.Errorf("overview devices %+v", ov.Devices)
	}
	if len(ov.Sessions) != 1 || len(ov.Links) != 1 || !ov.Links[0].Up || !ov.Health.OK || !ov.Clock.Sane {
		t.Errorf("overview sessions %+v links %+v health %+v clock %+v", ov.Sessions, ov.Links, ov.Health, ov.Clock)
	}
	var sum uint32
	for _, n := range ov.Rates.Total {
		sum += n
	}
	if sum != 5 || len(ov.Rates.Devices["1:42"]) != rateBuckets {
		t.Errorf("rates %+v", ov.Rates)
	}
	found := false
	for _, e := range ov.Errors {
		if e.Message == "osp handshake failed" && e.Level == "WARN" {
			found = true
		}
	}
	if !found {
		t.Errorf("the refused CONNECT is not among the recent errors: %+v", ov.Errors)
	}

	var p admin.Pairing
	if err := r.api.Call(ctx, "POST", "/v1/pairing", nil, &p); err != nil || !p.Open || p.Until.IsZero() || !r.g.PairingOpen() {
		t.Errorf("pairing %+v %v", p, err)
	}
	if err := r.api.Call(ctx, "PUT", "/v1/web/password", admin.PasswordRequest{Password: "short"}, nil); !errors.Is(err, admin.ErrInvalid) {
		t.Errorf("short password: %v", err)
	}
	if err := r.api.Call(ctx, "PUT", "/v1/web/password", admin.PasswordRequest{Password: "a long enough password"}, nil); err != nil {
		t.Fatal(err)
	}
	if h := storedWebPassword(t, r.g); !strings.HasPrefix(h, "$argon2id$") || strings.Contains(h, "long enough") || r.g.webPasswordHash() != h {
		t.Errorf("stored hash %q, the page checks %q", h, r.g.webPasswordHash())
	}
	if err := r.api.Call(ctx, "DELETE", "/v1/web/password", nil, nil); err != nil {
		t.Fatal(err)
	}
	if h := storedWebPassword(t, r.g); h != "" || r.g.webPasswordHash() != "" {
		t.Errorf("after DELETE: stored hash %q, the page checks %q", h, r.g.webPasswordHash())
	}
	var h admin.Health
	if err := r.api.Call(ctx, "GET", "/v1/ready", nil, &h); err != nil || !h.OK {
		t.Errorf("ready %+v %v", h, err)
	}
}

// storedWebPassword reads the status page's hash from the store ("" when
// none is stored).
func storedWebPassword(t *testing.T, g *Gateway) string {
	t.Helper()
	b, err := g.db.KV(kvOps).Get(kvPassword)
	if errors.Is(err, store.ErrNotFound) {
		return ""
	}
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestStatusPageOnTheLANNeedsAPassword binds the page beyond loopback: it
// then asks for the password, also after a restart.
func TestStatusPageOnTheLANNeedsAPassword(t *testing.T) {
	dir := t.TempDir()
	const config = "[admin]\nhttp = \"0.0.0.0:0\"\nsocket = \"gatewayd.sock\"\n"
	r := startGateway(t, dir, config)
	pageURL := func(r *rig) string {
		_, port, _ := strings.Cut(r.g.HTTPAddr().String(), "]:")
		if port == "" {
			_, port, _ = strings.Cut(r.g.HTTPAddr().String(), ":")
		}
		return "http://127.0.0.1:" + port
	}
	base := pageURL(r)
	if code, b := httpGet(t, base+"/api/overview"); code != http.StatusServiceUnavailable || !strings.Contains(b, "gatewayctl web password") {
		t.Errorf("overview without a password: %d %s", code, b)
	}
	if err := r.g.SetWebPassword("a long enough password"); err != nil {
		t.Fatal(err)
	}
	if code, _ := httpGet(t, base+"/api/overview"); code != http.StatusUnauthorized {
		t.Errorf("overview without login: %d", code)
	}
	if code, _ := httpGet(t, base+"/healthz"); code != 200 {
		t.Errorf("healthz: %d", code)
	}
	// The stored password holds after a restart.
	r.stop()
	r = startGateway(t, dir, config)
	if code, _ := httpGet(t, pageURL(r)+"/api/overview"); code != http.StatusUnauthorized {
		t.Errorf("overview without login after a restart: %d", code)
	}
}

func TestCountingAllocatesNothing(t *testing.T) {
	var pc packetCounts
	h := pc.counting(handlerFunc(func([]byte, osp.Peer) error { return osp.ErrReplay }))
	pkt := []byte{0, 1, 0, 2, 0x81, 6}
	if n := testing.AllocsPerRun(1000, func() { _ = h.Handle(pkt, nil) }); n != 0 {
		t.Errorf("%v allocations per packet", n)
	}
	if got := pc.snapshot()["DATA"]["replay"]; got != 1001 {
		t.Errorf("counted %d", got)
	}
	_ = pc.counting(handlerFunc(func([]byte, osp.Peer) error { return nil })).Handle([]byte{1}, nil)
	if pc.snapshot()["RESERVED"]["ok"] != 1 {
		t.Errorf("short packet: %v", pc.snapshot())
	}
}

type handlerFunc func([]byte, osp.Peer) error

func (f handlerFunc) Handle(pkt []byte, from osp.Peer) error { return f(pkt, from) }

// BenchmarkPacketCounting measures what counting adds to a packet: the
// same handler called directly (the baseline) and through the counter,
// for an accepted packet and a refused one (errors.Is over the outcomes).
func BenchmarkPacketCounting(b *testing.B) {
	pkt := []byte{0, 1, 0, 2, 0x81, 6}
	ok := handlerFunc(func([]byte, osp.Peer) error { return nil })
	bad := handlerFunc(func([]byte, osp.Peer) error { return osp.ErrAuth })
	var pc packetCounts
	for _, bc := range []struct {
		name string
		h    packetHandler
	}{{"direct", ok}, {"counted", pc.counting(ok)}, {"counted-refused", pc.counting(bad)}} {
		b.Run(bc.name, func(b *testing.B) {
			for b.Loop() {
				_ = bc.h.Handle(pkt, nil)
			}
		})
	}
}

// BenchmarkScrape measures one /metrics rendering of a running gateway
// against one admin status (the baseline: what gatewayctl status costs).
func BenchmarkScrape(b *testing.B) {
	g := newGateway(b, b.TempDir(), "[osp.udp]\nlisten = \"127.0.0.1:0\"\n[admin]\nsocket = \"\"\n")
	ctx, stop := runGateway(g)
	defer stop()
	b.Run("status", func(b *testing.B) {
		for b.Loop() {
			if _, err := (backend{g}).Status(ctx); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("metrics", func(b *testing.B) {
		for b.Loop() {
			g.metrics.WritePrometheus(io.Discard)
		}
	})
}

func TestServicesReadinessChecks(t *testing.T) {
	g := newGateway(t, t.TempDir(), "[osp.udp]\nlisten = \"127.0.0.1:0\"\n[admin]\nsocket = \"\"\n")
	g.addReadyCheck("upstream", func(context.Context) error { return errors.New("ocs.example.com: connection refused") }, true)
	ctx, stop := runGateway(g)
	defer stop()
	h := g.Readiness(ctx)
	if !h.OK {
		t.Errorf("an advisory check failed readiness: %+v", h)
	}
	g.addReadyCheck("josp", func(context.Context) error { return errors.New("listener closed") }, false)
	h = g.Readiness(ctx)
	var names []string
	for _, c := range h.Checks {
		names = append(names, c.Name)
	}
	if h.OK || !strings.Contains(strings.Join(names, ","), "upstream,josp") {
		t.Errorf("readiness %+v", h)
	}
}
