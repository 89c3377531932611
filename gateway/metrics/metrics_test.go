package metrics

import (
	"bufio"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
	"time"
)

type linkStats struct {
	BytesIn, DiscardedBytes uint64
	Open                    bool
	Path                    string
	Queued                  int
	Airtime                 time.Duration
}

type serviceStats struct {
	Connections uint64            `json:"connections"`
	Clients     int               `json:"clients"`
	QueueDepth  uint64            `json:"queueDepth" metric:"gauge"`
	Oldest      time.Time         `json:"oldest"`
	Never       time.Time         `json:"never"`
	ByCause     map[string]uint64 `json:"byCause" metric:"label=cause"`
	Token       string            `json:"token"`
	Hidden      uint64            `json:"-"`
	Inner       struct {
		RateLimited uint64 `json:"rateLimited"`
		Ratio       float64
	} `json:"inner"`
	Ptr     *linkStats
	Packets map[string]map[string]uint64 `json:"packets" metric:"label=type,label=outcome"`
	Server  map[string]uint64            `json:"server" metric:"inline"`
}

func scrape(t *testing.T, e *Exporter) string {
	t.Helper()
	var b strings.Builder
	e.WritePrometheus(&b)
	out := b.String()
	checkExposition(t, out)
	return out
}

// checkExposition checks the Prometheus text format rules the exporter
// promises: every sample line is name{labels} value, a TYPE line appears
// at most once per family and before its samples, and a family's samples
// are contiguous.
func checkExposition(t *testing.T, out string) {
	t.Helper()
	sampleRE := regexp.MustCompile(`^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{([a-zA-Z_][a-zA-Z0-9_]*="([^"\\]|\\.)*", ?)*([a-zA-Z_][a-zA-Z0-9_]*="([^"\\]|\\.)*")?\})? [-+0-9.eEInfNa]+$`)
	typed := map[string]bool{}
	seen := map[string]bool{}
	last := ""
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "# TYPE ") {
			f := strings.Fields(line)[2]
			if typed[f] || seen[f] {
				t.Errorf("TYPE for %s repeated or after its samples", f)
			}
			typed[f] = true
			continue
		}
		if strings.HasPrefix(line, "#") || line == "" {
			continue
		}
		m := sampleRE.FindStringSubmatch(line)
		if m == nil {
			t.Errorf("bad sample line %q", line)
			continue
		}
		name := m[1]
		if seen[name] && last != name {
			t.Errorf("samples of %s are not contiguous", name)
		}
		seen[name], last = true, name
	}
}

func TestSourcesFlattenByTheRules(t *testing.T) {
	e := New()
	st := serviceStats{Connections: 7, Clients: -2, QueueDepth: 12, Oldest: time.Unix(1700000000, 500e6),
		ByCause: map[string]uint64{"timeout": 3, "bad \"mac\"": 1}, Token: "s3cret", Hidden: 9,
		Ptr:     &linkStats{BytesIn: 5, Open: true, Path: "/dev/ttyUSB0", Airtime: 1500 * time.Millisecond},
		Packets: map[string]map[string]uint64{"DATA": {"ok": 5, "replay": 1}, "CONNECT": {"ok": 2}},
		Server:  map[string]uint64{"rx": 8, "handshakeFailures": 1}}
	st.Inner.RateLimited = 4
	st.Inner.Ratio = 0.25
	e.Register("josp", func() any { return st })
	e.RegisterEach("serial", "link", func() map[string]any {
		return map[string]any{"b": linkStats{BytesIn: 2}, "a": &linkStats{BytesIn: 1, DiscardedBytes: 3}}
	})
	e.Register("plain", func() any { return map[string]uint64{"rx": 10} })
	out := scrape(t, e)
	for _, want := range []string{
		"# TYPE edgegate_josp_connections_total counter\nedgegate_josp_connections_total 7\n",
		"# TYPE edgegate_josp_clients gauge\nedgegate_josp_clients -2\n",
		"# TYPE edgegate_josp_queue_depth gauge\nedgegate_josp_queue_depth 12\n",
		"edgegate_josp_oldest_timestamp_seconds 1.7000000005e+09\n",
		"edgegate_josp_by_cause_total{cause=\"bad \\\"mac\\\"\"} 1\nedgegate_josp_by_cause_total{cause=\"timeout\"} 3\n",
		"edgegate_josp_inner_rate_limited_total 4\n",
		"edgegate_josp_inner_ratio 0.25\n",
		"edgegate_josp_ptr_bytes_in_total 5\n",
		"edgegate_josp_ptr_open 1\n",
		"edgegate_josp_ptr_airtime_seconds 1.5\n",
		"edgegate_serial_bytes_in_total{link=\"a\"} 1\nedgegate_serial_bytes_in_total{link=\"b\"} 2\n",
		"edgegate_serial_discarded_bytes_total{link=\"a\"} 3\n",
		"edgegate_plain_total{key=\"rx\"} 10\n",
		"edgegate_josp_packets_total{type=\"CONNECT\",outcome=\"ok\"} 2\nedgegate_josp_packets_total{type=\"DATA\",outcome=\"ok\"} 5\nedgegate_josp_packets_total{type=\"DATA\",outcome=\"replay\"} 1\n",
		"edgegate_josp_server_rx_total 8\n",
		"edgegate_josp_server_handshake_failures_total 1\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("missing %q", want)
		}
	}
	// A zero time, a string (top level or nested, in either source) and
	// a field tagged json:"-" are left out.
	for _, not := range []string{"_never", "s3cret", "_token", "_hidden", "_path"} {
		if strings.Contains(out, not) {
			t.Errorf("%s exported:\n%s", not, out)
		}
	}
	if got := e.Sources(); strings.Join(got, ",") != "josp,serial,plain" {
		t.Errorf("sources %v", got)
	}
}

func TestReRegisterReplaces(t *testing.T) {
	e := New()
	e.Register("x", func() any { return struct{ A uint64 }{1} })
	e.Register("x", func() any { return struct{ A uint64 }{2} })
	if out := scrape(t, e); !strings.Contains(out, "edgegate_x_a_total 2\n") || strings.Contains(out, "edgegate_x_a_total 1\n") {
		t.Errorf("re-register:\n%s", out)
	}
}

func TestHistogramHasClassicBuckets(t *testing.T) {
	e := New()
	h := e.NewHistogram("store_commit_seconds", []float64{0.001, 0.01, 0.1})
	if e.NewHistogram("store_commit_seconds", []float64{0.001, 0.01, 0.1}) != h {
		t.Error("second NewHistogram returned another histogram")
	}
	h.Update(0.005)
	h.Update(0.05)
	h.Update(3)
	out := scrape(t, e)
	for _, want := range []string{
		`edgegate_store_commit_seconds_bucket{le="0.001"} 0`,
		`edgegate_store_commit_seconds_bucket{le="0.01"} 1`,
		`edgegate_store_commit_seconds_bucket{le="0.1"} 2`,
		`edgegate_store_commit_seconds_bucket{le="+Inf"} 3`,
		`edgegate_store_commit_seconds_count 3`,
		`edgegate_store_commit_seconds_sum 3.055`,
		"# TYPE edgegate_store_commit_seconds histogram",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("missing %q in\n%s", want, out)
		}
	}
	if !strings.Contains(out, "go_goroutines") && !strings.Contains(out, "go_memstats") {
		t.Error("no Go runtime metrics")
	}
}

func TestTwoExportersAreIndependent(t *testing.T) {
	a, b := New(), New()
	a.NewHistogram("h_seconds", []float64{1}).Update(0.5)
	if out := scrape(t, b); strings.Contains(out, "edgegate_h_seconds") {
		t.Error("a histogram of one exporter shows in another")
	}
}

func TestHistogramUpdateAllocatesNothing(t *testing.T) {
	h := New().NewHistogram("x_seconds", []float64{0.1, 1})
	if n := testing.AllocsPerRun(1000, func() { h.Update(0.5) }); n != 0 {
		t.Errorf("%v allocations per Update", n)
	}
	h.Update(1) // an observation equal to a bound falls in that bucket
	var b strings.Builder
	h.write(&b)
	if !strings.Contains(b.String(), `x_seconds_bucket{le="1"} 1002`) {
		t.Errorf("%s", b.String())
	}
}

func TestServeHTTP(t *testing.T) {
	e := New()
	e.Register("a", func() any { return struct{ N uint64 }{3} })
	rec := httptest.NewRecorder()
	e.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	if ct := rec.Header().Get("Content-Type"); !strings.HasPrefix(ct, "text/plain; version=0.0.4") {
		t.Errorf("content type %q", ct)
	}
	if !strings.Contains(rec.Body.String(), "edgegate_a_n_total 3") {
		t.Errorf("body:\n%s", rec.Body.String())
	}
}

func TestSnake(t *testing.T) {
	for in, want := range map[string]string{
		"rateLimited": "rate_limited", "DutyCycleDrops": "duty_cycle_drops", "HandshakesOK": "handshakes_ok",
		"RSSI": "rssi", "HTTPServer": "http_server", "queueDepth": "queue_depth", "v2Count": "v2_count",
		"already_snake": "already_snake", "with-dash": "with_dash",
	} {
		if got := snake(in); got != want {
			t.Errorf("snake(%q) = %q, want %q", in, got, want)
		}
	}
}
