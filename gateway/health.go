package gateway

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/edgegate/edgegate/gateway/admin"
)

// Health thresholds.
const (
	// tickStale: the tick loop (timers, LED, watchdog) has not run for that
	// long.
	tickStale = 10 * time.Second
	// commitStale: writes have waited that long without a commit.
	commitStale = 30 * time.Second
	// probeTimeout bounds the readiness probe's write; probeCache is how
	// long its result is reused, so a monitor polling /readyz does not
	// write to the flash at its own rate.
	probeTimeout = 5 * time.Second
	probeCache   = 10 * time.Second
)

// kvOps is the store namespace of the operator's records: the probe, the
// status page's password, the first-boot import.
const kvOps = "ops"

// liveness tracks what Health judges, updated by the tick loop.
type liveness struct {
	running     atomic.Bool
	commits     atomic.Uint64 // store commits at the last progress
	commitsSeen atomic.Int64  // Unix ns when commits last moved or the queue was empty

	probeMu   sync.Mutex
	probeAt   time.Time
	probeErr  error
	probeTook time.Duration

	checks []readyCheck // added by services at New time
}

// readyCheck is a service's own readiness check.
type readyCheck struct {
	name     string
	check    func(ctx context.Context) error
	advisory bool
}

// addReadyCheck adds a service's check to Readiness (/readyz, gatewayctl
// health --ready, the status page): check returns nil when ready, else an
// error saying why. An advisory check is shown without failing readiness
// (e.g. "upstream reachable": the gateway keeps serving and queues). Call
// it from the service's open function.
func (g *Gateway) addReadyCheck(name string, check func(ctx context.Context) error, advisory bool) {
	g.live.checks = append(g.live.checks, readyCheck{name: name, check: check, advisory: advisory})
}

// observeStore notes the committer's progress: it is stuck when writes
// wait and no commit happened for commitStale.
func (g *Gateway) observeStore(now time.Time) {
	st := g.db.Stats()
	if st.Queued == 0 || st.Commits != g.live.commits.Load() {
		g.live.commits.Store(st.Commits)
		g.live.commitsSeen.Store(now.UnixNano())
	}
}

// Health reports whether the gateway's loops run: Run has started, the
// tick loop ran recently, and the store's committer makes progress when
// writes wait. It writes nothing; the systemd watchdog and /healthz use
// it.
func (g *Gateway) Health() admin.Health {
	now := time.Now()
	h := admin.Health{OK: true}
	add := func(c admin.Check) {
		h.Checks = append(h.Checks, c)
		if !c.OK && !c.Advisory {
			h.OK = false
		}
	}
	running := g.live.running.Load()
	add(admin.Check{Name: "running", OK: running, Detail: map[bool]string{true: "up " + now.Sub(g.started).Round(time.Second).String(), false: "not started or stopping"}[running]})
	tick := now.Sub(time.Unix(0, g.board.lastRun.Load()))
	add(admin.Check{Name: "loops", OK: running && tick < tickStale, Detail: "tick " + tick.Round(time.Millisecond).String() + " ago"})
	wait := now.Sub(time.Unix(0, g.live.commitsSeen.Load()))
	st := g.db.Stats()
	c := admin.Check{Name: "committer", OK: !running || st.Queued == 0 || wait < commitStale, Detail: strconv.Itoa(st.Queued) + " writes queued"}
	if !c.OK {
		c.Detail += ", no commit for " + wait.Round(time.Second).String()
	}
	add(c)
	return h
}

// Readiness is Health plus what serving needs: the store takes a write (a
// real probe, its result reused for probeCache), every configured link is
// up, and, advisory, the clock is plausible.
func (g *Gateway) Readiness(ctx context.Context) admin.Health {
	h := g.Health()
	add := func(c admin.Check) {
		h.Checks = append(h.Checks, c)
		if !c.OK && !c.Advisory {
			h.OK = false
		}
	}
	took, err := g.probeStore(ctx)
	if err != nil {
		add(admin.Check{Name: "store", OK: false, Detail: "probe write failed: " + err.Error()})
	} else {
		add(admin.Check{Name: "store", OK: true, Detail: "probe write took " + took.Round(time.Microsecond).String()})
	}
	for _, l := range g.linkStates() {
		add(admin.Check{Name: "link " + l.Name, OK: l.Up, Detail: l.Detail})
	}
	for _, rc := range g.live.checks {
		c := admin.Check{Name: rc.name, OK: true, Advisory: rc.advisory}
		if err := rc.check(ctx); err != nil {
			c.OK, c.Detail = false, err.Error()
		}
		add(c)
	}
	cs := g.clock.Status()
	c := admin.Check{Name: "clock", OK: cs.Sane, Advisory: true, Detail: "system clock " + cs.Now.Format(time.RFC3339)}
	if !cs.Sane {
		c.Detail += " is before " + cs.Floor.Format(time.RFC3339) + ": not set yet; upstream TLS waits"
	}
	add(c)
	return h
}

// probeStore writes a probe record and waits for it to be durable.
func (g *Gateway) probeStore(ctx context.Context) (time.Duration, error) {
	l := &g.live
	l.probeMu.Lock()
	defer l.probeMu.Unlock()
	if !l.probeAt.IsZero() && time.Since(l.probeAt) < probeCache {
		return l.probeTook, l.probeErr
	}
	ctx, cancel := context.WithTimeout(ctx, probeTimeout)
	defer cancel()
	start := time.Now()
	done := make(chan error, 1)
	g.db.KV(kvOps).PutAsync("probe", []byte(start.UTC().Format(time.RFC3339Nano)), func(err error) { done <- err })
	var err error
	select {
	case err = <-done:
	case <-ctx.Done():
		err = fmt.Errorf("no answer in %v: %w", probeTimeout, ctx.Err())
	}
	l.probeAt, l.probeErr, l.probeTook = time.Now(), err, time.Since(start)
	return l.probeTook, l.probeErr
}

// linkStates lists the OSP links and whether each is up.
func (g *Gateway) linkStates() []admin.LinkState {
	var out []admin.LinkState
	if l := g.cfg.OSP.UDP.Listen; l != "" {
		ls := admin.LinkState{Name: "udp", Kind: "udp", Up: g.udp != nil && g.live.running.Load()}
		if g.udp != nil {
			st := g.udp.Stats()
			ls.Detail = "listening on " + g.udp.Addr().String()
			ls.Counters = map[string]float64{"received": float64(st.Received), "sent": float64(st.Sent),
				"rateLimited": float64(st.RateLimited), "peers": float64(st.Peers)}
		}
		out = append(out, ls)
	}
	for _, l := range g.serial {
		st := l.Stats()
		ls := admin.LinkState{Name: l.Name(), Kind: "serial", Up: st.Open,
			Counters: map[string]float64{"packetsIn": float64(st.PacketsIn), "packetsOut": float64(st.PacketsOut),
				"discardedBytes": float64(st.DiscardedBytes), "reopens": float64(st.Reopens)}}
		if st.Open {
			ls.Detail = "open on " + st.Path
		} else {
			ls.Detail = "port not available; retrying"
		}
		out = append(out, ls)
	}
	if d := g.cfg.OSP.DTLS.Listen; d != "" {
		ls := admin.LinkState{Name: "dtls", Kind: "dtls", Up: g.dtls != nil && g.live.running.Load()}
		if g.dtls != nil {
			st := g.dtls.Stats()
			ls.Detail = "listening on " + g.dtls.Addr().String()
			ls.Counters = map[string]float64{"connsOpen": float64(st.ConnsOpen), "handshakesOK": float64(st.HandshakesOK),
				"handshakesFailed": float64(st.HandshakesFailed), "received": float64(st.Received)}
		}
		out = append(out, ls)
	}
	if g.cfg.OSP.LoRa.Enabled {
		ls := admin.LinkState{Name: "lora", Kind: "lora", Up: g.lora != nil}
		if g.lora != nil {
			st := g.lora.Stats()
			ls.Name, ls.Detail = g.lora.String(), "radio ready"
			ls.Counters = map[string]float64{"received": float64(st.Received), "sent": float64(st.Sent),
				"crcErrors": float64(st.CRCErrors), "dutyCycleDrops": float64(st.DutyCycleDrops), "queued": float64(st.Queued)}
		} else {
			ls.Detail = "no radio (see [board] lora_hat and the log)"
		}
		out = append(out, ls)
	}
	return out
}

// fileSize returns the size of the file at path (0 when unknown).
func fileSize(path string) int64 {
	fi, err := os.Stat(path)
	if err != nil {
		return 0
	}
	return fi.Size()
}
