package gateway

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/edgegate/edgegate/gateway/admin"
	"github.com/edgegate/edgegate/gateway/logring"
	"github.com/edgegate/edgegate/gateway/loopback"
	"github.com/edgegate/edgegate/gateway/statuspage"
	"github.com/edgegate/edgegate/gateway/things"
	"github.com/edgegate/edgegate/store"
)

// errLevel and warnLevel are the levels the error ring counts.
const (
	errLevel  = slog.LevelError
	warnLevel = slog.LevelWarn
)

// errRingSize is how many recent warnings and errors the gateway keeps for
// the status page.
const errRingSize = 100

// kvPassword is the ops record holding the status page's argon2id hash.
const kvPassword = "web.password"

// withErrorRing wraps log so that its warnings and errors are also kept in
// a ring for the status page.
func withErrorRing(log *slog.Logger) (*slog.Logger, *logring.Ring) {
	ring := logring.New(errRingSize, slog.LevelWarn)
	return slog.New(ring.Handler(log.Handler())), ring
}

// openOperator wires what installers and operators see: the metrics
// sources, the admin API's operator endpoints, and the status page's
// listener ([admin] http).
func (g *Gateway) openOperator() error {
	g.registerMetrics()
	g.observeServices()
	if err := g.importFirstBootPassword(); err != nil {
		return err
	}
	if err := g.loadWebPassword(); err != nil {
		return err
	}
	if s := g.adminSrv; s != nil {
		s.HandleJSON("GET /v1/overview", func(r *http.Request) (any, error) { return g.Overview(r.Context()) })
		s.HandleJSON("GET /v1/health", func(r *http.Request) (any, error) { return g.Health(), nil })
		s.HandleJSON("GET /v1/ready", func(r *http.Request) (any, error) { return g.Readiness(r.Context()), nil })
		s.HandleJSON("GET /v1/errors", func(r *http.Request) (any, error) { return g.recentErrors(), nil })
		s.HandleJSON("GET /v1/rates", func(r *http.Request) (any, error) { return g.rates.snapshot(), nil })
		s.HandleJSON("GET /v1/clock", func(r *http.Request) (any, error) { return g.clock.Status(), nil })
		s.HandleJSON("PUT /v1/web/password", func(r *http.Request) (any, error) {
			var req admin.PasswordRequest
			if err := admin.DecodeJSON(r, &req); err != nil {
				return nil, err
			}
			if err := g.SetWebPassword(req.Password); err != nil {
				return nil, err
			}
			g.log.Info("status page password set")
			return admin.PasswordState{Set: true}, nil
		})
		s.HandleJSON("DELETE /v1/web/password", func(r *http.Request) (any, error) {
			if err := g.removeWebPassword(); err != nil {
				return nil, err
			}
			g.log.Info("status page password removed")
			return admin.PasswordState{Set: false}, nil
		})
	}
	addr := g.cfg.Admin.HTTP
	if addr == "" {
		return nil
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("gateway: admin.http: %w", err)
	}
	lan := !loopback.Listen(addr)
	page := statuspage.New(statuspage.Options{Source: pageSource{g}, Metrics: g.metrics, RequireLogin: lan,
		PasswordHash: g.webPasswordHash, Logger: g.log.With("subsystem", "statuspage")})
	g.httpLn = ln
	g.addService("statuspage", func(ctx context.Context) error {
		g.log.Info("status page listening", "addr", ln.Addr().String(), "password", lan)
		if lan {
			if g.webPasswordHash() == "" {
				g.log.Warn("status page: no password set, so it serves nothing but /healthz and /readyz on " + addr +
					"; set one with `gatewayctl web password`")
			}
		}
		return page.Serve(ctx, ln)
	}, func() { ln.Close() })
	return nil
}

// HTTPAddr returns the status page's bound address (nil when it is off).
func (g *Gateway) HTTPAddr() net.Addr {
	if g.httpLn == nil {
		return nil
	}
	return g.httpLn.Addr()
}

// webPassword is the status page's password hash (kvPassword in the ops
// namespace) as the page checks it on every request: read from the store
// once at New, and set together with the store on every change.
type webPassword struct {
	mu   sync.Mutex // orders the changes, so the cache ends as the store does
	hash atomic.Pointer[string]
}

// loadWebPassword reads the stored hash into the cache; New calls it.
func (g *Gateway) loadWebPassword() error {
	b, err := g.db.KV(kvOps).Get(kvPassword)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("gateway: status page password: %w", err)
	}
	h := string(b)
	g.webPW.hash.Store(&h)
	return nil
}

// webPasswordHash returns the status page's argon2id hash ("" when none is
// set).
func (g *Gateway) webPasswordHash() string {
	if h := g.webPW.hash.Load(); h != nil {
		return *h
	}
	return ""
}

// SetWebPassword stores the status page's password as an argon2id hash.
// Errors wrap admin.ErrInvalid for a password too short.
func (g *Gateway) SetWebPassword(password string) error {
	h, err := statuspage.HashPassword(password)
	if err != nil {
		return fmt.Errorf("%w: %w", admin.ErrInvalid, err)
	}
	g.webPW.mu.Lock()
	defer g.webPW.mu.Unlock()
	if err := g.db.KV(kvOps).Put(kvPassword, []byte(h)); err != nil {
		return apiError(err)
	}
	g.webPW.hash.Store(&h)
	return nil
}

// removeWebPassword deletes the status page's password: on the LAN the
// page then serves nothing but the health endpoints.
func (g *Gateway) removeWebPassword() error {
	g.webPW.mu.Lock()
	defer g.webPW.mu.Unlock()
	if err := g.db.KV(kvOps).Delete(kvPassword); err != nil && !errors.Is(err, store.ErrNotFound) {
		return apiError(err)
	}
	none := ""
	g.webPW.hash.Store(&none)
	return nil
}

func (g *Gateway) pairingState() admin.Pairing {
	st := g.board.pairing.State()
	return admin.Pairing{Open: st.Open, Until: st.Until, Code: st.Code}
}

// OpenPairing opens the pairing window, as the board's button does.
func (g *Gateway) OpenPairing(ctx context.Context) (admin.Pairing, error) {
	g.openPairingWindow()
	return g.pairingState(), nil
}

func (g *Gateway) recentErrors() []admin.LogRecord { return g.errlog.Records() }

// Overview returns everything the status page shows.
func (g *Gateway) Overview(ctx context.Context) (admin.Overview, error) {
	b := backend{g}
	st, err := b.Status(ctx)
	if err != nil {
		return admin.Overview{}, err
	}
	sessions, err := b.Sessions(ctx)
	if err != nil {
		return admin.Overview{}, err
	}
	devs, err := b.Devices(ctx)
	if err != nil {
		return admin.Overview{}, err
	}
	ov := admin.Overview{Status: st, Health: g.Readiness(ctx), Clock: g.clock.Status(), Pairing: g.pairingState(),
		Links: g.linkStates(), Sessions: sessions, Devices: make([]admin.DeviceSummary, len(devs)),
		Things: []things.Thing{}, Errors: g.recentErrors(), Rates: g.rates.snapshot()}
	if ov.Links == nil {
		ov.Links = []admin.LinkState{}
	}
	for i, d := range devs {
		ov.Devices[i] = admin.DeviceSummary{Device: d}
		if t, ok := g.hub.Get(things.OSPThingID(d.ID.Type, d.ID.Module)); ok {
			ov.Devices[i].LastSeen, ov.Devices[i].Properties = t.LastSeen, t.Properties
		}
	}
	for _, t := range g.hub.List() {
		if t.Kind != things.KindOSP {
			ov.Things = append(ov.Things, t)
		}
	}
	slices.SortFunc(ov.Things, func(a, b things.Thing) int { return strings.Compare(a.ID, b.ID) })
	return ov, nil
}

// pageSource is the gateway as the status page sees it.
type pageSource struct{ g *Gateway }

func (p pageSource) Overview(ctx context.Context) (admin.Overview, error) { return p.g.Overview(ctx) }
func (p pageSource) OpenPairing(ctx context.Context) (admin.Pairing, error) {
	return p.g.OpenPairing(ctx)
}
func (p pageSource) Health() admin.Health                       { return p.g.Health() }
func (p pageSource) Readiness(ctx context.Context) admin.Health { return p.g.Readiness(ctx) }
