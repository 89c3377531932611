package gateway

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/edgegate/edgegate/gateway/mdns/mdnstest"
	"github.com/edgegate/edgegate/gateway/ocs"
)

// TestServicesObserved starts every service and checks that each one's
// counters are exported as metrics, that the upstream is a readiness check
// and that the upstream's queue is on top of its status section.
func TestServicesObserved(t *testing.T) {
	mdnstest.LockInstance(t, "steward")
	r := startGateway(t, t.TempDir(), stewardConfig+`
[josp]
enabled = true
[upstream.bundled]
enabled = true
listen = "127.0.0.1:0"
`)
	var b bytes.Buffer
	r.g.metrics.WritePrometheus(&b)
	for _, want := range []string{"edgegate_steward_connections ", "edgegate_steward_hello_ok_total",
		"edgegate_josp_objects ", "edgegate_ocs_queue_depth ", "edgegate_ocs_errors_total ",
		"edgegate_ocs_puller_polls_total "} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("no %q in /metrics", want)
		}
	}
	if strings.Contains(b.String(), "edgegate_ocs_queue_depth_total") {
		t.Error("the upstream queue depth is exported as a counter")
	}
	found := false
	for _, c := range r.g.Readiness(context.Background()).Checks {
		if c.Name == "upstream" {
			found = true
			if !c.Advisory {
				t.Error("the upstream check is not advisory")
			}
		}
	}
	if !found {
		t.Error("no upstream readiness check")
	}
	st, err := r.api.Status(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if m, ok := st.Upstream.(map[string]any); !ok || m["queueDepth"] == nil || m["forwarder"] == nil {
		t.Errorf("upstream status %#v", st.Upstream)
	}
}

func TestUpstreamReachable(t *testing.T) {
	now := time.Now().Unix()
	for _, tc := range []struct {
		s    ocs.Stats
		fail bool
	}{
		{ocs.Stats{}, false},
		{ocs.Stats{LastSuccessUnix: now}, false},
		{ocs.Stats{LastSuccessUnix: now, LastFailureUnix: now - 5}, false},
		{ocs.Stats{LastSuccessUnix: now - 5, LastFailureUnix: now, QueueDepth: 7}, true},
		{ocs.Stats{LastFailureUnix: now}, true},
	} {
		err := upstreamReachable(tc.s)
		if (err != nil) != tc.fail || (err != nil && !errors.Is(err, errUpstreamFailing)) {
			t.Errorf("%+v: %v", tc.s, err)
		}
	}
}
