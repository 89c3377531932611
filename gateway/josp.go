package gateway

import (
	"errors"
	"fmt"
	"math"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/edgegate/edgegate/gateway/admin"
	"github.com/edgegate/edgegate/gateway/josp"
	"github.com/edgegate/edgegate/gateway/josp/wire"
	"github.com/edgegate/edgegate/gateway/loopback"
	"github.com/edgegate/edgegate/gateway/things"
	"github.com/edgegate/edgegate/store"
)

// JOSPConfig configures the JOSP direct endpoint ([josp]): every thing
// served as a JOSP object on the local network.
type JOSPConfig struct {
	// Enabled turns the endpoint on.
	Enabled bool `toml:"enabled"`
	// Listen is the address the objects' listeners bind, without a port
	// (default 127.0.0.1; "0.0.0.0" or "::" for the LAN).
	Listen string `toml:"listen"`
	// Ports is the objects' port range, "49200-49299"; empty: ephemeral
	// ports, as the reference's objects use. With TLS each object takes
	// two ports (the certificate sharing is on port+1).
	Ports string `toml:"ports"`
	// TLS makes the objects speak TLS 1.2 with client certificates and
	// the certificate sharing exchange; false is plain TCP (the
	// reference's default).
	TLS bool `toml:"tls"`
	// Everyone is the level a new object grants every service: None,
	// State (default), Actions or CoOwner.
	Everyone string `toml:"everyone"`
	// CoOwners are the services ("srvId" or "srvId/usrId") granted CoOwner
	// on every object.
	CoOwners []string `toml:"coowners"`
	// Heartbeat is the silence after which a service is asked for a
	// heartbeat (default 30s, the reference's).
	Heartbeat Duration `toml:"heartbeat"`
	// HistoryMax bounds the items of one history answer (default 1000).
	HistoryMax int `toml:"history_max"`
	// EventsKept bounds each object's event log (default 500).
	EventsKept int `toml:"events_kept"`
}

// portRange parses Ports.
func (c JOSPConfig) portRange() (lo, hi int, err error) {
	if c.Ports == "" {
		return 0, 0, nil
	}
	a, b, ok := strings.Cut(c.Ports, "-")
	if !ok {
		b = a
	}
	lo, err1 := strconv.Atoi(strings.TrimSpace(a))
	hi, err2 := strconv.Atoi(strings.TrimSpace(b))
	if err1 != nil || err2 != nil || lo < 1 || hi > 65535 || lo > hi {
		return 0, 0, errors.New(`want "first-last" within 1-65535`)
	}
	if c.TLS && hi == lo {
		return 0, 0, errors.New("with tls each object needs two ports")
	}
	return lo, hi, nil
}

func (c JOSPConfig) validate() error {
	bad := func(key string, val any, why string) error {
		return fmt.Errorf("%w: josp.%s = %v: %s", ErrConfig, key, val, why)
	}
	if !c.Enabled {
		return nil
	}
	if c.Listen != "" && net.ParseIP(c.Listen) == nil {
		return bad("listen", fmt.Sprintf("%q", c.Listen), "want an IP address without a port (the ports come from josp.ports)")
	}
	if _, _, err := c.portRange(); err != nil {
		return bad("ports", fmt.Sprintf("%q", c.Ports), err.Error())
	}
	if c.Everyone != "" {
		if _, err := wire.ParsePermType(c.Everyone); err != nil {
			return bad("everyone", fmt.Sprintf("%q", c.Everyone), "want None, State, Actions or CoOwner")
		}
	}
	for _, s := range c.CoOwners {
		if _, err := josp.ParsePrincipal(s); err != nil {
			return bad("coowners", fmt.Sprintf("%q", s), "want \"srvId\" or \"srvId/usrId\" (letters, digits, '-', '_')")
		}
	}
	if c.HistoryMax < 0 || c.EventsKept < 0 {
		return bad("history_max", c.HistoryMax, "history_max and events_kept must not be negative")
	}
	return nil
}

// openJOSP creates the JOSP endpoint when [josp] enables it: its TLS key
// pair (generated on first start), its service and its admin endpoints.
func (g *Gateway) openJOSP() error {
	c := g.cfg.JOSP
	if !c.Enabled {
		return nil
	}
	lo, hi, _ := c.portRange()
	everyone := wire.PermState
	if c.Everyone != "" {
		everyone, _ = wire.ParsePermType(c.Everyone)
	}
	var coowners []josp.Principal
	for _, s := range c.CoOwners {
		p, _ := josp.ParsePrincipal(s)
		coowners = append(coowners, p)
	}
	host := c.Listen
	if host == "" {
		host = "127.0.0.1"
	}
	adv, err := g.mdnsAdvertiser()
	if err != nil {
		return err
	}
	if loopback.Host(host) && !slices.Contains(g.cfg.MDNS.Interfaces, "lo") {
		g.log.Warn("josp: the objects listen on loopback but are advertised on other interfaces: set josp.listen or [mdns] interfaces",
			"listen", host, "mdns", g.cfg.MDNS.Interfaces)
	}
	opts := josp.Options{Hub: g.hub, History: g.db, KV: g.db.KV("josp"), Advertiser: adv, Host: host,
		PortMin: lo, PortMax: hi, Everyone: everyone, CoOwners: coowners, Heartbeat: c.Heartbeat.Duration,
		HistoryMax: c.HistoryMax, EventsKept: c.EventsKept, Describe: g.jospDescribe, Ranges: g.jospRanges,
		Logger: g.log.With("subsystem", "josp")}
	if c.TLS {
		cert, err := josp.LoadCertificate(g.data, "edgegate-"+g.id.UUID)
		if err != nil {
			return fmt.Errorf("gateway: josp.tls: %w", err)
		}
		opts.TLS = &cert
	}
	if g.josp, err = josp.New(opts); err != nil {
		return fmt.Errorf("gateway: josp: %w", err)
	}
	g.addService("josp", g.josp.Run, nil)
	g.jospAdmin()
	return nil
}

// jospDescribe describes an OSP thing by its profile.
func (g *Gateway) jospDescribe(t things.Thing) josp.Description {
	d := josp.Description{Model: t.Kind.String(), Brand: "edgegate", Descr: t.ID}
	if typ, mod, ok := things.ParseOSPThingID(t.ID); ok {
		d.Model = "OSP device"
		if p, _ := g.devices.get(store.DeviceID{Type: typ, Module: mod}); p != nil {
			d.Model = p.Name()
			if p.Description() != "" {
				d.Descr = p.Description() + " (" + t.ID + ")"
			}
		}
	}
	return d
}

// jospRanges gives a range pillar of an OSP property the bounds of its
// profile field: the encoding's range times the scale, stepped by the
// scale.
func (g *Gateway) jospRanges(thingID, name string) (josp.Range, bool) {
	typ, mod, ok := things.ParseOSPThingID(thingID)
	if !ok {
		return josp.Range{}, false
	}
	p, _ := g.devices.get(store.DeviceID{Type: typ, Module: mod})
	for _, dt := range p.DataTypes() {
		for _, f := range dt.Fields {
			if f.Name != name {
				continue
			}
			var lo, hi float64
			switch f.Type {
			case things.FieldU8:
				lo, hi = 0, math.MaxUint8
			case things.FieldI8:
				lo, hi = math.MinInt8, math.MaxInt8
			case things.FieldU16:
				lo, hi = 0, math.MaxUint16
			case things.FieldI16:
				lo, hi = math.MinInt16, math.MaxInt16
			case things.FieldU32:
				lo, hi = 0, math.MaxUint32
			case things.FieldI32:
				lo, hi = math.MinInt32, math.MaxInt32
			case things.FieldF32:
				return josp.Range{Min: -math.MaxFloat32, Max: math.MaxFloat32, Step: 0.1}, true
			default:
				return josp.Range{}, false
			}
			r := josp.Range{Min: lo * f.Scale, Max: hi * f.Scale, Step: math.Abs(f.Scale)}
			if r.Min > r.Max {
				r.Min, r.Max = r.Max, r.Min
			}
			return r, true
		}
	}
	return josp.Range{}, false
}

// jospError maps the endpoint's errors to the admin API's.
func jospError(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, josp.ErrUnknownObject), errors.Is(err, josp.ErrUnknownPerm):
		return fmt.Errorf("%w: %w", admin.ErrNotFound, err)
	case errors.Is(err, josp.ErrInvalid):
		return fmt.Errorf("%w: %w", admin.ErrInvalid, err)
	case errors.Is(err, josp.ErrNotRunning):
		return fmt.Errorf("%w: %w", admin.ErrUnavailable, err)
	}
	return apiError(err)
}

// jospAdmin adds the endpoint's admin API: objects, connected services and
// permissions.
func (g *Gateway) jospAdmin() {
	s, ep := g.adminSrv, g.josp
	if s == nil {
		return
	}
	s.HandleJSON("GET /v1/josp/objects", func(*http.Request) (any, error) {
		return nonNil(ep.Objects()), nil
	})
	s.HandleJSON("GET /v1/josp/objects/{id}", func(r *http.Request) (any, error) {
		o, err := ep.Object(r.PathValue("id"))
		if err != nil {
			return nil, jospError(err)
		}
		perms, err := ep.Perms(o.ThingID) // the thing ID: a new owner changes the objId
		return admin.JOSPObjectDetail{JOSPObject: o, Perms: perms}, jospError(err)
	})
	s.HandleJSON("GET /v1/josp/services", func(*http.Request) (any, error) {
		return nonNil(ep.Services()), nil
	})
	s.HandleJSON("GET /v1/josp/objects/{id}/perms", func(r *http.Request) (any, error) {
		p, err := ep.Perms(r.PathValue("id"))
		return p, jospError(err)
	})
	s.HandleJSON("POST /v1/josp/objects/{id}/perms", func(r *http.Request) (any, error) {
		var b admin.JOSPPermRequest
		if err := admin.DecodeJSON(r, &b); err != nil {
			return nil, err
		}
		p, err := ep.AddPerm(r.PathValue("id"), b.SrvID, b.UsrID, b.Type, b.Conn)
		return p, jospError(err)
	})
	s.HandleJSON("PUT /v1/josp/objects/{id}/perms/{perm}", func(r *http.Request) (any, error) {
		var b admin.JOSPPermRequest
		if err := admin.DecodeJSON(r, &b); err != nil {
			return nil, err
		}
		p, err := ep.UpdatePerm(r.PathValue("id"), r.PathValue("perm"), b.SrvID, b.UsrID, b.Type, b.Conn)
		return p, jospError(err)
	})
	s.HandleJSON("DELETE /v1/josp/objects/{id}/perms/{perm}", func(r *http.Request) (any, error) {
		return struct{}{}, jospError(ep.RemovePerm(r.PathValue("id"), r.PathValue("perm")))
	})
}

// nonNil makes an empty list encode as [] rather than null.
func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}
