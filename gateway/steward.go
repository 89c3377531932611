package gateway

import (
	"context"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"time"

	"github.com/edgegate/edgegate/gateway/admin"
	"github.com/edgegate/edgegate/gateway/certs"
	"github.com/edgegate/edgegate/gateway/loopback"
	"github.com/edgegate/edgegate/gateway/pairing"
	"github.com/edgegate/edgegate/gateway/steward"
	"github.com/edgegate/edgegate/gateway/things"
)

// StewardConfig configures the Native Thing steward ([steward]).
type StewardConfig struct {
	// Enabled starts the steward (the embedded configuration enables it on
	// loopback).
	Enabled bool `toml:"enabled"`
	// Listen is the secure (wss, https) listener, host:port. Default
	// 127.0.0.1:8888, the original steward's port.
	Listen string `toml:"listen"`
	// PlainListen, when set, also serves plain ws (the original's port
	// 8887) on a loopback address only; hello is still required.
	PlainListen string `toml:"plain_listen"`
	// PairingCode makes pairing need the rotating 6-digit code shown by
	// `gatewayctl pair`.
	PairingCode bool `toml:"pairing_code"`
	// Observe is "declared" (default: ask every registered thing to observe
	// the events its prototype declares) or "none".
	Observe string `toml:"observe"`
	// MaxMessageBytes bounds a frame (default 65536).
	MaxMessageBytes int `toml:"max_message_bytes"`
	// MessageRate and MessageBurst bound a connection's messages (default
	// 20/s, burst 40).
	MessageRate  float64 `toml:"message_rate"`
	MessageBurst int     `toml:"message_burst"`
	// MaxPrototypes and MaxThings bound one client (default 64 and 256).
	MaxPrototypes int `toml:"max_prototypes"`
	MaxThings     int `toml:"max_things"`
	// AbsentAfter marks a silent thing absent (default 60s).
	AbsentAfter Duration `toml:"absent_after"`
	// PingInterval is the keep-alive ping interval (default 30s).
	PingInterval Duration `toml:"ping_interval"`
}

// DefaultStewardListen is the steward's secure address by default.
const DefaultStewardListen = "127.0.0.1:8888"

// Validate checks the [steward] section.
func (c *StewardConfig) Validate() error {
	bad := func(key string, val any, why string) error {
		return fmt.Errorf("%w: steward.%s = %v: %s", ErrConfig, key, val, why)
	}
	if c.Listen != "" {
		if _, _, err := net.SplitHostPort(c.Listen); err != nil {
			return bad("listen", fmt.Sprintf("%q", c.Listen), err.Error())
		}
	}
	if c.PlainListen != "" {
		host, _, err := net.SplitHostPort(c.PlainListen)
		if err != nil {
			return bad("plain_listen", fmt.Sprintf("%q", c.PlainListen), err.Error())
		}
		if !loopback.Host(host) {
			return bad("plain_listen", fmt.Sprintf("%q", c.PlainListen), "plain ws binds a loopback address only (127.0.0.1:8887)")
		}
	}
	switch c.Observe {
	case "", "declared", "none":
	default:
		return bad("observe", fmt.Sprintf("%q", c.Observe), `must be "declared" or "none"`)
	}
	for key, v := range map[string]int{"max_message_bytes": c.MaxMessageBytes, "message_burst": c.MessageBurst,
		"max_prototypes": c.MaxPrototypes, "max_things": c.MaxThings} {
		if v < 0 {
			return bad(key, v, "must not be negative")
		}
	}
	if c.MaxMessageBytes != 0 && (c.MaxMessageBytes < 1024 || c.MaxMessageBytes > 16<<20) {
		return bad("max_message_bytes", c.MaxMessageBytes, "must be 1024..16777216")
	}
	if c.MessageRate < 0 {
		return bad("message_rate", c.MessageRate, "must not be negative")
	}
	return nil
}

// newPairingWindow is the gateway's pairing window: opened by the board's
// button, `gatewayctl pair open` and the status page; shown on the LED.
func (g *Gateway) newPairingWindow() *pairing.Window {
	return pairing.New(pairing.Options{RequireCode: g.cfg.Steward.PairingCode, OnChange: g.showPairing})
}

// openSteward sets up the steward: its certificate, listeners, store
// namespace and hub owner, its admin endpoints, and the service that runs
// it. The pairing endpoints exist even when the steward is off.
func (g *Gateway) openSteward() error {
	g.pairingEndpoints()
	c := g.cfg.Steward
	if !c.Enabled {
		return nil
	}
	host, _ := os.Hostname()
	dns := []string{"localhost", "steward.local"}
	if host != "" && host != "localhost" {
		dns = append(dns, host, host+".local")
	}
	cert, err := certs.LoadOrCreate(g.data, certs.Spec{Name: "steward", Subject: pkix.Name{CommonName: "steward"},
		DNSNames: dns, IPs: []net.IP{net.IPv4(127, 0, 0, 1)}})
	if err != nil {
		return fmt.Errorf("gateway: steward: %w", err)
	}
	opts := steward.Options{
		Store: g.db.KV("steward"), Hub: g.hub, Pairing: g.board.pairing, Certificate: cert,
		UUID: g.id.UUID, Name: g.id.Name, Logger: g.log.With("subsystem", "steward"),
		Restore: func(t *things.Thing) {
			if e, err := g.db.State(t.ID); err == nil {
				restoreState(t, e.Value)
			}
		},
		ObserveDeclared: c.Observe != "none",
		Limits: steward.Limits{MaxMessageBytes: c.MaxMessageBytes, MessageRate: c.MessageRate, MessageBurst: c.MessageBurst,
			MaxPrototypes: c.MaxPrototypes, MaxThings: c.MaxThings},
		Timeouts: steward.Timeouts{Absent: c.AbsentAfter.Duration, Ping: c.PingInterval.Duration},
	}
	if adv, err := g.mdnsAdvertiser(); err != nil {
		g.log.Error("steward: not advertised by mDNS", "err", err)
	} else {
		opts.Advertiser = adv
	}
	st, err := steward.New(opts)
	if err != nil {
		return fmt.Errorf("gateway: %w", err)
	}
	listen := c.Listen
	if listen == "" {
		listen = DefaultStewardListen
	}
	ln, err := net.Listen("tcp", listen)
	if err != nil {
		return fmt.Errorf("gateway: steward.listen: %w", err)
	}
	var plain net.Listener
	if c.PlainListen != "" {
		if plain, err = net.Listen("tcp", c.PlainListen); err != nil {
			ln.Close()
			return fmt.Errorf("gateway: steward.plain_listen: %w", err)
		}
	}
	g.steward, g.stewardLn, g.stewardPlain = st, ln, plain
	g.hub.RegisterOwner(things.KindNative, st)
	g.addService("steward", func(ctx context.Context) error { return st.Run(ctx, ln, plain) }, func() {
		ln.Close()
		if plain != nil {
			plain.Close()
		}
	})
	g.stewardEndpoints(st)
	return nil
}

// StewardAddr returns the steward's secure address (nil when it is off).
func (g *Gateway) StewardAddr() net.Addr {
	if g.stewardLn == nil {
		return nil
	}
	return g.stewardLn.Addr()
}

// StewardPlainAddr returns the steward's plain ws address (nil when off).
func (g *Gateway) StewardPlainAddr() net.Addr {
	if g.stewardPlain == nil {
		return nil
	}
	return g.stewardPlain.Addr()
}

// Steward returns the steward (nil when it is off).
func (g *Gateway) Steward() *steward.Steward { return g.steward }

// StewardStatus is GET /v1/steward.
type StewardStatus struct {
	Listen      string        `json:"listen"`
	PlainListen string        `json:"plainListen,omitempty"`
	SHA1        string        `json:"sha1"`
	SHA256      string        `json:"sha256"`
	Stats       steward.Stats `json:"stats"`
}

func (g *Gateway) pairingEndpoints() {
	if g.adminSrv == nil {
		return
	}
	w := g.board.pairing
	g.adminSrv.HandleJSON("GET /v1/pairing", func(r *http.Request) (any, error) { return w.State(), nil })
	g.adminSrv.HandleJSON("POST /v1/pairing", func(r *http.Request) (any, error) {
		var req admin.PairingRequest
		if r.ContentLength != 0 {
			if err := admin.DecodeJSON(r, &req); err != nil {
				return nil, err
			}
		}
		d := g.cfg.Board.WithDefaults().PairingWindow
		if req.For != "" {
			v, err := time.ParseDuration(req.For)
			if err != nil || v < time.Second || v > pairing.MaxWindow {
				return nil, fmt.Errorf("%w: for = %q: a duration from 1s to 24h, e.g. 5m", admin.ErrInvalid, req.For)
			}
			d = v
		}
		w.Open(d)
		g.log.Info("pairing window open", "for", d)
		return w.State(), nil
	})
	g.adminSrv.HandleJSON("DELETE /v1/pairing", func(r *http.Request) (any, error) {
		w.Close()
		g.log.Info("pairing window closed")
		return w.State(), nil
	})
	g.adminSrv.HandleJSON("POST /v1/things/{id}/perform", func(r *http.Request) (any, error) {
		var req admin.PerformRequest
		if err := admin.DecodeJSON(r, &req); err != nil {
			return nil, err
		}
		id := r.PathValue("id")
		if req.Action == "" {
			return nil, fmt.Errorf("%w: an action is required", admin.ErrInvalid)
		}
		if req.TestOnly {
			if g.steward == nil || !isNative(g.hub, id) {
				return nil, fmt.Errorf("%w: test-only is for native things", admin.ErrInvalid)
			}
			res, err := g.steward.PerformTask(r.Context(), id, req.Action, steward.Parameter(req.Args), true)
			return res, stewardError(err)
		}
		res, err := g.hub.Perform(r.Context(), id, req.Action, req.Args)
		return res, stewardError(err)
	})
}

func isNative(h *things.Hub, id string) bool {
	t, ok := h.Get(id)
	return ok && t.Kind == things.KindNative
}

func (g *Gateway) stewardEndpoints(st *steward.Steward) {
	if g.adminSrv == nil {
		return
	}
	g.adminSrv.HandleJSON("GET /v1/steward", func(r *http.Request) (any, error) {
		s1, s256 := st.Fingerprints()
		out := StewardStatus{Listen: g.stewardLn.Addr().String(), SHA1: s1, SHA256: s256, Stats: st.Stats()}
		if g.stewardPlain != nil {
			out.PlainListen = g.stewardPlain.Addr().String()
		}
		return out, nil
	})
	g.adminSrv.HandleJSON("GET /v1/steward/clients", func(r *http.Request) (any, error) { return st.Clients(), nil })
	g.adminSrv.HandleJSON("DELETE /v1/steward/clients/{name}", func(r *http.Request) (any, error) {
		c, err := st.Revoke(r.PathValue("name"))
		return c, stewardError(err)
	})
	g.adminSrv.HandleJSON("GET /v1/steward/events", func(r *http.Request) (any, error) { return st.Events(), nil })
	g.adminSrv.HandleJSON("POST /v1/steward/things/{id}/observe", func(r *http.Request) (any, error) {
		var req admin.ObserveRequest
		if err := admin.DecodeJSON(r, &req); err != nil {
			return nil, err
		}
		o, err := st.Observe(r.Context(), r.PathValue("id"), req.Observe, req.Parameter, req.TestOnly)
		return o, stewardError(err)
	})
	g.adminSrv.HandleJSON("DELETE /v1/steward/events/{id}", func(r *http.Request) (any, error) {
		id := r.PathValue("id")
		return map[string]string{"cancelled": id}, stewardError(st.Cancel(r.Context(), id))
	})
}

// stewardError maps the steward's and the hub's errors to the admin API's.
func stewardError(err error) error {
	if err == nil {
		return nil
	}
	for _, m := range []struct{ from, to error }{
		{steward.ErrUnknownThing, admin.ErrNotFound},
		{steward.ErrUnknownEvent, admin.ErrNotFound},
		{steward.ErrUnknownClient, admin.ErrNotFound},
		{steward.ErrNotConnected, admin.ErrUnavailable},
		{steward.ErrClosed, admin.ErrUnavailable},
		{steward.ErrUndeclared, admin.ErrInvalid},
		{steward.ErrRejected, admin.ErrConflict},
		{things.ErrUnknownAction, admin.ErrInvalid},
		{things.ErrInvalidArgs, admin.ErrInvalid},
		{things.ErrNoOwner, admin.ErrUnavailable},
	} {
		if errors.Is(err, m.from) {
			return fmt.Errorf("%w: %w", m.to, err)
		}
	}
	return apiError(err)
}
