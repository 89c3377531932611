package gateway

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"time"

	"github.com/edgegate/edgegate/gateway/admin"
	"github.com/edgegate/edgegate/gateway/certs"
	"github.com/edgegate/edgegate/gateway/httpserve"
	"github.com/edgegate/edgegate/gateway/ocs"
	"github.com/edgegate/edgegate/gateway/osp"
	"github.com/edgegate/edgegate/gateway/things"
	"github.com/edgegate/edgegate/store"
	"github.com/google/uuid"
)

// UpstreamConfig configures the upstream OCS ([upstream]): where readings
// go and the owner's commands and firmware come from.
type UpstreamConfig struct {
	// URL is the OCS's base URL, e.g. "https://ocs.example.com:9009"
	// (plain http only on loopback). Empty: the bundled OCS when
	// bundled.enabled, else no upstream.
	URL string `toml:"url"`
	// ServerCerts are PEM files of the OCS certificates trusted: the OCS's
	// own (self-signed) certificate, as in the reference's trust stores,
	// or a CA; the host name is checked. ServerPins are SHA-256
	// fingerprints of accepted OCS certificates (hex, colons allowed). One
	// of them is required for https.
	ServerCerts []string `toml:"server_certs"`
	ServerPins  []string `toml:"server_pins"`
	// ServerName is checked against the OCS's certificate instead of the
	// URL's host.
	ServerName string `toml:"server_name"`
	// ClientCert and ClientKey are the gateway's client certificate and
	// key (PEM files). Empty: a key pair generated on first start in the
	// data directory (upstream-client-key.pem, upstream-client-cert.pem)
	// and kept; give its certificate to the OCS to trust.
	ClientCert string `toml:"client_cert"`
	ClientKey  string `toml:"client_key"`
	// ClientKeyType is the type of a generated key: "ec" (P-256, default)
	// or "rsa" (2048 bits).
	ClientKeyType string `toml:"client_key_type"`
	// BatchSize is the largest number of readings per batch (default
	// 2048); the forwarder adapts below it.
	BatchSize int `toml:"batch_size"`
	// Parallel bounds the POSTs in flight, one device each (default 4).
	Parallel int `toml:"parallel"`
	// Interval is how often an idle forwarder looks for new readings
	// (default 1s); PollInterval how often each device's owner serviceinfo
	// and pre-serviceinfo are read (default 30s).
	Interval     Duration `toml:"interval"`
	PollInterval Duration `toml:"poll_interval"`
	// Timeout bounds one request (default 30s).
	Timeout Duration `toml:"timeout"`
	// BackoffMin and BackoffMax bound the retry delay (defaults 1s, 5m).
	BackoffMin Duration `toml:"backoff_min"`
	BackoffMax Duration `toml:"backoff_max"`
	// MaxFirmwareMB is the largest firmware image fetched (default 16).
	MaxFirmwareMB int `toml:"max_firmware_mb"`
	// Bundled runs the gateway/ocs server in-process.
	Bundled BundledOCSConfig `toml:"bundled"`
}

// BundledOCSConfig is the in-process OCS ([upstream.bundled]), used when
// [upstream] url is empty: the embedded configuration's default, so that
// the whole path runs on one machine.
type BundledOCSConfig struct {
	// Enabled runs it.
	Enabled bool `toml:"enabled"`
	// Listen is its address, loopback only (default 127.0.0.1:9009). It
	// serves mutual TLS 1.3 with a certificate generated in the data
	// directory (ocs-bundled-cert.pem), trusting the gateway's client
	// certificate and those named below.
	Listen string `toml:"listen"`
	// ClientCerts (PEM files) and ClientPins (SHA-256 fingerprints) are
	// more clients trusted: the owner's tools.
	ClientCerts []string `toml:"client_certs"`
	ClientPins  []string `toml:"client_pins"`
}

// enabled reports whether an upstream is configured.
func (u *UpstreamConfig) enabled() bool { return u.URL != "" || u.Bundled.Enabled }

func (u *UpstreamConfig) validate() error {
	bad := func(key string, val any, why string) error {
		return fmt.Errorf("%w: upstream.%s = %v: %s", ErrConfig, key, val, why)
	}
	if u.URL != "" {
		v, err := ocs.CheckURL(u.URL)
		if err != nil {
			return bad("url", fmt.Sprintf("%q", u.URL), err.Error())
		}
		if v.Scheme == "https" && len(u.ServerCerts) == 0 && len(u.ServerPins) == 0 {
			return bad("url", fmt.Sprintf("%q", u.URL), "set server_certs or server_pins: the OCS's certificate must be trusted explicitly")
		}
	}
	for _, pins := range []struct {
		key  string
		pins []string
	}{{"server_pins", u.ServerPins}, {"bundled.client_pins", u.Bundled.ClientPins}} {
		for _, p := range pins.pins {
			if _, err := ocs.ParsePin(p); err != nil {
				return bad(pins.key, fmt.Sprintf("%q", p), "must be a SHA-256 fingerprint (64 hex digits)")
			}
		}
	}
	if (u.ClientCert == "") != (u.ClientKey == "") {
		return bad("client_cert", fmt.Sprintf("%q", u.ClientCert), "client_cert and client_key go together")
	}
	switch u.ClientKeyType {
	case "", "ec", "rsa":
	default:
		return bad("client_key_type", fmt.Sprintf("%q", u.ClientKeyType), "must be ec or rsa")
	}
	if u.BatchSize < 0 || u.BatchSize > 10000 {
		return bad("batch_size", u.BatchSize, "must be 1..10000")
	}
	if u.Parallel < 0 || u.Parallel > 64 {
		return bad("parallel", u.Parallel, "must be 1..64")
	}
	if u.MaxFirmwareMB < 0 || u.MaxFirmwareMB > 256 {
		return bad("max_firmware_mb", u.MaxFirmwareMB, "must be 1..256")
	}
	if u.BackoffMax.Duration != 0 && u.BackoffMax.Duration < u.BackoffMin.Duration {
		return bad("backoff_max", u.BackoffMax, "must not be below backoff_min")
	}
	if l := u.Bundled.Listen; l != "" {
		if err := ocs.CheckPlainListen(l); err != nil {
			return bad("bundled.listen", fmt.Sprintf("%q", l), "the bundled OCS listens on loopback only")
		}
	}
	return nil
}

// upstream is the gateway's link to its OCS: the forwarder, the puller
// and, when bundled, the OCS itself.
type upstream struct {
	url     string
	bundled bool
	client  *ocs.Client
	fwd     *ocs.Forwarder
	pull    *ocs.Puller
	store   *ocs.Store // the bundled OCS's database, nil when remote
}

// ocsNamespaceKV is the store namespace of the forwarder and the puller.
const ocsNamespaceKV = "ocs"

// clientCertName is the gateway's generated client key pair.
const clientCertName = "upstream-client"

// openOCS sets up the upstream OCS from [upstream]: the bundled OCS when
// no URL is given, the client with the gateway's client certificate, the
// forwarder, the puller and their admin endpoints.
func (g *Gateway) openOCS() error {
	u := g.cfg.Upstream
	if !u.enabled() {
		return nil
	}
	log := g.log.With("subsystem", "ocs")
	cert, err := g.upstreamClientCert(u)
	if err != nil {
		return err
	}
	up := &upstream{url: u.URL}
	var servers ocs.Trust
	if u.URL == "" {
		if up.url, servers, up.store, err = g.openBundledOCS(u.Bundled, cert, log); err != nil {
			return err
		}
		up.bundled = true
	} else if servers, err = ocs.LoadTrust(u.ServerCerts, u.ServerPins); err != nil {
		return fmt.Errorf("%w: upstream.server_certs: %w", ErrConfig, err)
	}
	parallel := u.Parallel
	if parallel == 0 {
		parallel = 4
	}
	up.client, err = ocs.Dial(up.url, ocs.ClientOptions{Cert: cert, Servers: servers, ServerName: u.ServerName,
		Timeout: u.Timeout.Duration, MaxConns: parallel + 2})
	if err != nil {
		return fmt.Errorf("gateway: upstream: %w", err)
	}
	kv := g.db.KV(ocsNamespaceKV)
	bind := ocsBinding{g}
	up.fwd, err = ocs.NewForwarder(ocs.ForwarderOptions{Upstream: up.client, Journal: g.db, KV: kv, Binding: bind,
		Gateway: g.id.UUID, BatchSize: u.BatchSize, Parallel: parallel, Interval: u.Interval.Duration,
		Timeout: u.Timeout.Duration, BackoffMin: u.BackoffMin.Duration, BackoffMax: u.BackoffMax.Duration, Log: log})
	if err != nil {
		return fmt.Errorf("gateway: upstream: %w", err)
	}
	up.pull, err = ocs.NewPuller(ocs.PullerOptions{Owner: up.client, Devices: g.db, Binding: bind, Commander: ocsCommander{g},
		Firmware: g.db, Settings: ocsSettings{g}, KV: kv, Gateway: g.id.UUID, Interval: u.PollInterval.Duration,
		Timeout: u.Timeout.Duration, ChunkSize: g.cfg.OSP.FirmwareChunkSize, MaxFirmware: u.MaxFirmwareMB << 20, Log: log})
	if err != nil {
		return fmt.Errorf("gateway: upstream: %w", err)
	}
	g.ocs = up
	// TLS to a remote OCS needs a plausible clock (a board without an RTC
	// boots in 1970, before every certificate); the bundled one pins its
	// certificate, whose dates are wide.
	saneFirst := func(run func(ctx context.Context) error) func(ctx context.Context) error {
		if up.bundled {
			return run
		}
		return func(ctx context.Context) error {
			if err := g.clock.WaitSane(ctx, "upstream TLS"); err != nil {
				return nil // stopped while waiting
			}
			return run(ctx)
		}
	}
	g.addService("ocs forwarder", saneFirst(up.fwd.Run), nil)
	g.addService("ocs native things", func(ctx context.Context) error { return up.fwd.RunNative(ctx, g.hub) }, nil)
	g.addService("ocs puller", saneFirst(up.pull.Run), up.client.Close)
	if g.adminSrv != nil {
		g.adminSrv.HandleJSON("GET /v1/upstream/status", func(r *http.Request) (any, error) { return up.status() })
		g.adminSrv.HandleJSON("POST /v1/upstream/deadletters/requeue", func(r *http.Request) (any, error) {
			return up.deadLetterOp(r, up.fwd.Requeue)
		})
		g.adminSrv.HandleJSON("POST /v1/upstream/deadletters/discard", func(r *http.Request) (any, error) {
			return up.deadLetterOp(r, up.fwd.Discard)
		})
	}
	log.Info("upstream", "url", up.url, "bundled", up.bundled, "client_cert_sha256", certs.SHA256(cert.Certificate[0]))
	return nil
}

// upstreamClientCert loads the configured client key pair or the generated
// one.
func (g *Gateway) upstreamClientCert(u UpstreamConfig) (tls.Certificate, error) {
	if u.ClientCert != "" {
		c, err := tls.LoadX509KeyPair(u.ClientCert, u.ClientKey)
		if err != nil {
			return tls.Certificate{}, fmt.Errorf("%w: upstream.client_cert: %w", ErrConfig, err)
		}
		return c, nil
	}
	spec := certs.Spec{Name: clientCertName, Subject: pkix.Name{CommonName: g.id.Name, Organization: []string{"edgegate"},
		OrganizationalUnit: []string{g.id.UUID}}, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}
	if u.ClientKeyType == "rsa" {
		spec.Key = certs.RSA2048
	}
	c, err := certs.LoadOrCreate(g.data, spec)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("gateway: upstream client certificate: %w", err)
	}
	return c, nil
}

// openBundledOCS opens the in-process OCS on its own database (ocs.db) and
// loopback listener, and registers it as a service. It returns the URL and
// the trust (its pinned certificate) to reach it, and its store.
func (g *Gateway) openBundledOCS(b BundledOCSConfig, client tls.Certificate, log *slog.Logger) (string, ocs.Trust, *ocs.Store, error) {
	var servers ocs.Trust
	listen := b.Listen
	if listen == "" {
		listen = "127.0.0.1:9009"
	}
	srvCert, err := certs.LoadOrCreate(g.data, certs.Spec{Name: "ocs-bundled",
		Subject: pkix.Name{CommonName: "localhost", Organization: []string{"edgegate bundled OCS"}}, DNSNames: []string{"localhost"},
		IPs: []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback}})
	if err != nil {
		return "", servers, nil, fmt.Errorf("gateway: bundled OCS certificate: %w", err)
	}
	clients, err := ocs.LoadTrust(b.ClientCerts, b.ClientPins)
	if err != nil {
		return "", servers, nil, fmt.Errorf("%w: upstream.bundled.client_certs: %w", ErrConfig, err)
	}
	clients.Pin(client.Certificate[0])
	tlsCfg, err := ocs.ServerTLS(srvCert, clients)
	if err != nil {
		return "", servers, nil, err
	}
	st, err := ocs.OpenStore(filepath.Join(g.data, "ocs.db"))
	if err != nil {
		return "", servers, nil, fmt.Errorf("gateway: bundled OCS: %w", err)
	}
	if _, err := st.OwnerKey(); errors.Is(err, ocs.ErrNoOwnerKey) {
		k, err := ocs.GenerateOwnerKey(false)
		if err == nil {
			err = st.SetOwnerKey(k)
		}
		if err != nil {
			st.Close()
			return "", servers, nil, fmt.Errorf("gateway: bundled OCS owner key: %w", err)
		}
	}
	ln, err := net.Listen("tcp", listen)
	if err != nil {
		st.Close()
		return "", servers, nil, fmt.Errorf("gateway: upstream.bundled.listen: %w", err)
	}
	hs := &http.Server{
		Handler:           ocs.NewServer(st, ocs.ServerOptions{Version: g.cfg.Version, Log: log}),
		TLSConfig:         tlsCfg,
		ReadHeaderTimeout: 10 * time.Second,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelDebug),
	}
	g.addService("ocs bundled", func(ctx context.Context) error {
		defer st.Close()
		log.Info("bundled OCS listening", "addr", ln.Addr().String(), "server_cert_sha256", certs.SHA256(srvCert.Certificate[0]))
		return httpserve.Serve(ctx, hs, ln)
	}, func() {
		ln.Close()
		st.Close()
	})
	servers.Pin(srvCert.Certificate[0])
	return "https://" + ln.Addr().String(), servers, st, nil
}

func (u *upstream) status() (admin.UpstreamStatus, error) {
	dls, err := u.fwd.DeadLetters()
	if err != nil {
		return admin.UpstreamStatus{}, err
	}
	list := make([]admin.UpstreamDeadLetter, len(dls))
	for i := range dls {
		list[i] = dls[i].UpstreamDeadLetter // the list, not the payloads
	}
	return admin.UpstreamStatus{URL: u.url, Bundled: u.bundled, Forwarder: u.fwd.Stats(), Puller: u.pull.Stats(),
		LastError: u.fwd.LastError(), DeadLetters: list}, nil
}

func (u *upstream) deadLetterOp(r *http.Request, op func(id string) (int, error)) (any, error) {
	var req admin.UpstreamDeadLetterRequest
	if err := admin.DecodeJSON(r, &req); err != nil {
		return nil, err
	}
	if req.ID == "" && !req.All {
		return nil, fmt.Errorf("%w: name a dead letter (id) or all", admin.ErrInvalid)
	}
	n, err := op(req.ID)
	switch {
	case errors.Is(err, ocs.ErrNotFound):
		return nil, fmt.Errorf("%w: %w", admin.ErrNotFound, err)
	case errors.Is(err, ocs.ErrInvalid):
		return nil, fmt.Errorf("%w: %w", admin.ErrInvalid, err)
	case err != nil:
		return nil, err
	}
	return map[string]int{"count": n}, nil
}

// upstreamStats is the admin status's upstream part.
func (g *Gateway) upstreamStats() any {
	if g.ocs == nil {
		return nil
	}
	f := g.ocs.fwd.Stats()
	var oldest time.Time
	if f.OldestAgeSeconds > 0 {
		oldest = time.Now().Add(-time.Duration(f.OldestAgeSeconds) * time.Second)
	}
	// QueueDepth and Oldest on top are what the status page shows large.
	return struct {
		QueueDepth uint64          `json:"queueDepth"`
		Oldest     time.Time       `json:"oldest,omitzero"`
		Errors     uint64          `json:"errors"`
		Forwarder  ocs.Stats       `json:"forwarder"`
		Puller     ocs.PullerStats `json:"puller"`
	}{f.QueueDepth, oldest, f.Errors, f, g.ocs.pull.Stats()}
}

// reportSessionFailure hands the session failures the owner should see to
// the forwarder: failed handshakes of known devices (a forged CONNECT, the
// wrong security mode; repeated timeouts, which is how a sensor with the
// wrong key shows) and live sessions' packets that fail authentication.
func (g *Gateway) reportSessionFailure(e osp.Event) {
	if g.ocs == nil {
		return
	}
	dev := store.DeviceID{Type: e.Device.Type, Module: e.Device.Module}
	switch e.Kind {
	case osp.EventHandshakeFailed:
		switch {
		case errors.Is(e.Err, osp.ErrAuth), errors.Is(e.Err, osp.ErrHandshake), errors.Is(e.Err, osp.ErrSecurityMismatch):
			g.ocs.fwd.ReportFailure(dev, ocs.FailureAuth, e.Err)
		case errors.Is(e.Err, osp.ErrHandshakeTimeout):
			g.ocs.fwd.ReportFailure(dev, ocs.FailureHandshakeTimeout, e.Err)
		}
	case osp.EventAuthFailed:
		g.ocs.fwd.ReportFailure(dev, ocs.FailureBadMAC, e.Err)
	}
}

// ocsBinding maps devices and things onto OCS deviceIds and decodes
// payloads with the devices' profiles, as the projector does.
type ocsBinding struct{ g *Gateway }

func (b ocsBinding) DeviceID(dev store.DeviceID) string {
	if d, err := b.g.db.GetDevice(dev.Type, dev.Module); err == nil && d.OCSDeviceID != "" {
		return d.OCSDeviceID
	}
	return DefaultOCSDeviceID(dev)
}

func (b ocsBinding) ThingDeviceID(thingID string) string { return ThingOCSDeviceID(thingID) }

func (b ocsBinding) Decode(dev store.DeviceID, dataType uint16, payload []byte) []things.PropertyValue {
	prof, _ := b.g.devices.get(dev)
	return prof.DecodeOrRaw(dataType, payload)
}

// ThingOCSDeviceID is a native thing's OCS deviceId: the UUIDv5 of
// "thing:" and its hub id in edgegate's namespace (DefaultOCSDeviceID's).
func ThingOCSDeviceID(thingID string) string {
	return uuid.NewSHA1(ocsNamespace, []byte("thing:"+thingID)).String()
}

// ocsCommander sends the owner's commands through the gateway's command
// path.
type ocsCommander struct{ g *Gateway }

func (c ocsCommander) Command(ctx context.Context, dev store.DeviceID, script []byte) (ocs.CommandResult, error) {
	r, err := c.g.command(ctx, dev, script)
	switch {
	case errors.Is(err, osp.ErrNoSession), errors.Is(err, osp.ErrPaused), errors.Is(err, osp.ErrSessionClosed):
		return ocs.CommandResult{}, fmt.Errorf("%w: %w", ocs.ErrDeviceOffline, err)
	case errors.Is(err, osp.ErrCommandPending), errors.Is(err, osp.ErrCommandBusy):
		return ocs.CommandResult{}, fmt.Errorf("%w: %w", ocs.ErrDeviceBusy, err)
	case err != nil:
		return ocs.CommandResult{}, err
	}
	return ocs.CommandResult{ID: r.ID, ExitCode: r.ExitCode, Response: r.Response}, nil
}

// ocsSettings applies pre-serviceinfo settings to the registry and the
// device's thing.
type ocsSettings struct{ g *Gateway }

func (s ocsSettings) ApplySettings(dev store.DeviceID, set ocs.DeviceSettings) ([]string, error) {
	g := s.g
	d, err := g.db.GetDevice(dev.Type, dev.Module)
	if err != nil {
		return nil, err
	}
	var changed []string
	if set.Name != nil && *set.Name != d.Name {
		if n := *set.Name; len(n) > 63 {
			return nil, fmt.Errorf("psi osp:name is %d bytes, at most 63", len(n))
		}
		d.Name = *set.Name
		changed = append(changed, "name")
	}
	if set.Profile != nil && *set.Profile != d.Profile {
		if _, err := g.devices.lookupProfile(*set.Profile); err != nil {
			return nil, fmt.Errorf("psi osp:profile: %w", err)
		}
		d.Profile = *set.Profile
		changed = append(changed, "profile")
	}
	if len(changed) == 0 {
		return nil, nil
	}
	prof, _ := g.devices.lookupProfile(d.Profile)
	if err := g.db.PutDevice(d); err != nil {
		return nil, err
	}
	if err := g.addThing(d, prof); err != nil {
		return nil, err
	}
	return changed, nil
}
