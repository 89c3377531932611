package gateway

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/edgegate/edgegate/gateway/ocs"
)

// observeServices registers the services New opened (steward, JOSP
// endpoint, OCO agent, upstream OCS) with the operator's view: each one's
// counters become Prometheus metrics under its name, and the upstream's
// reachability is an advisory readiness check. New calls it once every
// service is open.
func (g *Gateway) observeServices() {
	if g.steward != nil {
		g.metrics.Register("steward", func() any { return g.steward.Stats() })
	}
	if g.josp != nil {
		g.metrics.Register("josp", func() any { return g.josp.Stats() })
	}
	if g.oco != nil {
		g.metrics.Register("oco", func() any { return g.oco.Stats() })
	}
	if g.ocs != nil {
		g.metrics.Register("ocs", func() any { return g.ocs.fwd.Stats() })
		g.metrics.Register("ocs_puller", func() any { return g.ocs.pull.Stats() })
		g.addReadyCheck("upstream", func(context.Context) error { return upstreamReachable(g.ocs.fwd.Stats()) }, true)
	}
}

// errUpstreamFailing is reported by the upstream readiness check.
var errUpstreamFailing = errors.New("upstream OCS failing")

// upstreamReachable says whether the last POST to the OCS succeeded (or
// none was needed yet).
func upstreamReachable(s ocs.Stats) error {
	if s.LastFailureUnix == 0 || s.LastSuccessUnix >= s.LastFailureUnix {
		return nil
	}
	return fmt.Errorf("%w since %s, %d readings queued", errUpstreamFailing,
		time.Unix(s.LastFailureUnix, 0).UTC().Format(time.RFC3339), s.QueueDepth)
}
