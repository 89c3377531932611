package gateway

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/edgegate/edgegate/drivers/dtls"
	"github.com/edgegate/edgegate/drivers/lora"
	"github.com/edgegate/edgegate/drivers/serial"
	"github.com/edgegate/edgegate/drivers/udp"
	"github.com/edgegate/edgegate/gateway/admin"
	"github.com/edgegate/edgegate/gateway/josp"
	"github.com/edgegate/edgegate/gateway/logring"
	"github.com/edgegate/edgegate/gateway/metrics"
	"github.com/edgegate/edgegate/gateway/oco"
	"github.com/edgegate/edgegate/gateway/osp"
	"github.com/edgegate/edgegate/gateway/steward"
	"github.com/edgegate/edgegate/gateway/things"
	"github.com/edgegate/edgegate/store"
)

// DBFile is the database's file name inside the data directory.
const DBFile = "edgegate.db"

// Gateway is one running gateway: the store, the things hub, the OSP server
// with its links and the admin API. Create it with New and start it with
// Run.
type Gateway struct {
	cfg     Config
	id      Identity
	data    string
	log     *slog.Logger
	started time.Time

	db      *store.DB
	hub     *things.Hub
	srv     *osp.Server
	udp     *udp.Link
	serial  []*serial.Link
	dtls    *dtls.Link
	lora    *lora.Link
	links   []link // serial, DTLS and LoRa links (UDP apart)
	board   boardState
	proj    *projector
	acks    *acker
	devices *deviceTable

	adminLn  net.Listener
	adminSrv *admin.Server
	oco      *oco.Agent // nil when [oco] is off

	steward                 *steward.Steward
	stewardLn, stewardPlain net.Listener
	httpLn                  net.Listener // the status page ([admin] http)

	// The operator's view: metrics, recent errors, the wall clock's
	// sanity, reading rates, packet and handshake counts, liveness, the
	// status page's password.
	metrics  *metrics.Exporter
	errlog   *logring.Ring
	clock    *WallClock
	rates    *rateTracker
	packets  packetCounts
	hsCauses handshakeCauses
	live     liveness
	webPW    webPassword

	// services are started by Run after the links, each on its own
	// goroutine, and stopped with Run's context.
	services []service
	mdns     advertiser // shared by the services that advertise
	josp     *josp.Endpoint
	ocs      *upstream // nil without an upstream OCS

	ready chan struct{}
}

// service is a long-running part of the gateway besides the OSP links: the
// JOSP endpoint, the steward, the upstream forwarder, the OCO agent. New
// opens what it needs (listeners, files) so that errors surface early and
// adds it with addService; Run starts it.
type service struct {
	name string
	// run serves until ctx is done and then returns nil; an error stops
	// the gateway.
	run func(ctx context.Context) error
	// close releases what New opened when Run never ran (nil: nothing).
	close func()
}

// addService registers a service for Run.
func (g *Gateway) addService(name string, run func(ctx context.Context) error, closeFn func()) {
	g.services = append(g.services, service{name: name, run: run, close: closeFn})
}

// New opens the store in dataDir, loads the device profiles, provisions the
// configured devices, restores the hub from the store and binds the
// configured listeners, so that configuration and permission errors surface
// before anything runs.
func New(cfg Config, dataDir string, log *slog.Logger) (*Gateway, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	log, errlog := withErrorRing(log)
	exp := metrics.New()
	acks := newAcker()
	observe := newCommitObserver(exp)
	clock := newWallClock(cfg.Store.MaxAge.Duration, log.With("subsystem", "clock"))
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		return nil, fmt.Errorf("gateway: data directory: %w", err)
	}
	profiles, err := loadProfiles(cfg.Things.ProfileDir)
	if err != nil {
		return nil, fmt.Errorf("gateway: %w", err)
	}
	db, err := store.Open(filepath.Join(dataDir, DBFile), store.Options{
		MaxAge:  cfg.Store.MaxAge.Duration,
		MaxSize: cfg.Store.MaxSizeMB << 20,
		// Under load a commit takes whatever queued during the previous
		// fsync; 1024 writes (about a thousand readings and the
		// projector's batches) keep that to one fsync per ~1000 readings
		// while bounding a transaction to a few hundred kilobytes.
		MaxBatch: 1024,
		// Once a commit finds 64 writes queued, or follows one that
		// had them (the readings of a sustained stream, not of a few
		// sensors), each commit waits until 64 writes are in hand, or
		// at most until 4 ms after the previous one began: one fsync
		// per 64 writes of a stream, or per 4 ms when it is slower,
		// however fast the disk, while a reading waits no more than it
		// would behind one slow fsync.
		PaceBatch:    64,
		PaceInterval: 4 * time.Millisecond,
		Logger:       log.With("subsystem", "store"),
		// Retention by age runs on the wall clock held back after a
		// forward step (see WallClock), so a time sync does not delete
		// readings stamped before it for their misdated age.
		Now: clock.retentionNow,
		// Once a commit's callbacks ran (each pushed its reading's ACK),
		// its ACKs leave, then the commit is counted.
		OnCommit: func(records int, d time.Duration) {
			acks.flush()
			observe(records, d)
		},
	})
	if err != nil {
		return nil, fmt.Errorf("gateway: %w", err)
	}
	g := &Gateway{cfg: cfg, data: dataDir, log: log, db: db, ready: make(chan struct{}), started: time.Now(),
		metrics: exp, errlog: errlog, clock: clock, rates: newRateTracker(), acks: acks}
	ok := false
	defer func() {
		if !ok {
			g.closeEarly()
		}
	}()
	if g.id, err = loadIdentity(db, cfg.Gateway.Name); err != nil {
		return nil, err
	}
	if err := clock.load(db.KV(kvClock)); err != nil {
		return nil, err
	}
	g.devices = newDeviceTable(profiles)
	pers := newPersister(db, log.With("subsystem", "things"))
	g.hub = things.New(things.Options{Logger: log.With("subsystem", "things"), Persister: pers})
	if err := g.provision(); err != nil {
		return nil, err
	}
	g.srv, err = osp.NewServer(osp.ServerConfig{
		Devices:          registry{db},
		Handler:          g,
		Firmware:         firmwareSource{db: db, log: log},
		HandshakeTimeout: cfg.OSP.HandshakeTimeout.Duration,
		CommandTimeout:   cfg.OSP.CommandTimeout.Duration,
		ResendTimeout:    cfg.OSP.ResendTimeout.Duration,
		PingInterval:     cfg.OSP.PingInterval.Duration,
		IdleTimeout:      cfg.OSP.IdleTimeout.Duration,
		RequireEAX:       cfg.OSP.RequireEAX,
	})
	if err != nil {
		return nil, fmt.Errorf("gateway: %w", err)
	}
	acks.srv = g.srv
	g.hub.RegisterOwner(things.KindOSP, ospOwner{g})
	if g.proj, err = newProjector(db, g.hub, pers, g.devices, log.With("subsystem", "things")); err != nil {
		return nil, fmt.Errorf("gateway: %w", err)
	}
	if err := g.openLinks(); err != nil {
		return nil, err
	}
	g.openBoard()
	g.startLoRa(g.board.devs.Radio)
	if l := cfg.OSP.UDP.Listen; l != "" {
		pc, err := net.ListenPacket("udp", l)
		if err != nil {
			return nil, fmt.Errorf("gateway: osp.udp.listen: %w", err)
		}
		ulog := log.With("link", "udp")
		// One reader keeps each sensor's packets in order (two readers on one
		// socket can swap them, which the session sees as a gap and answers
		// with a RESEND); it decrypts well above 100,000 packets/s, while
		// ACKs and commits run on their own goroutines.
		g.udp = udp.New(pc, udp.Options{MTU: cfg.OSP.UDP.MTU, Readers: 1, OnError: rateLimitedDrop(ulog)})
	}
	if s := cfg.Admin.Socket; s != "" {
		if !filepath.IsAbs(s) {
			s = filepath.Join(dataDir, s)
		}
		if g.adminLn, err = admin.ListenUnix(s); err != nil {
			return nil, fmt.Errorf("gateway: admin.socket: %w", err)
		}
		g.adminSrv = admin.NewServer(backend{g}, log.With("subsystem", "admin"))
	}
	if err := g.openSteward(); err != nil {
		return nil, err
	}
	if err := g.openOCO(); err != nil {
		return nil, err
	}
	if err := g.openJOSP(); err != nil {
		return nil, err
	}
	if err := g.openOCS(); err != nil {
		return nil, err
	}
	if err := g.openOperator(); err != nil {
		return nil, err
	}
	ok = true
	return g, nil
}

// closeEarly releases what New opened when it fails half-way.
func (g *Gateway) closeEarly() {
	for _, s := range g.services {
		if s.close != nil {
			s.close()
		}
	}
	g.closeMDNS()
	if g.udp != nil {
		g.udp.Close()
	}
	if g.adminLn != nil {
		g.adminLn.Close()
	}
	if g.httpLn != nil {
		g.httpLn.Close()
	}
	if g.dtls != nil {
		g.dtls.Close()
	}
	if g.board.devs != nil {
		g.board.devs.Close()
	}
	if g.hub != nil {
		g.hub.Close()
	}
	g.db.Close()
}

// UDPAddr returns the bound OSP UDP address (nil when UDP is off).
func (g *Gateway) UDPAddr() net.Addr {
	if g.udp == nil {
		return nil
	}
	return g.udp.Addr()
}

// DTLSAddr returns the bound OSP DTLS address (nil when DTLS is off).
func (g *Gateway) DTLSAddr() net.Addr {
	if g.dtls == nil {
		return nil
	}
	return g.dtls.Addr()
}

// AdminSocket returns the admin API's socket path ("" when it is off).
func (g *Gateway) AdminSocket() string {
	if g.adminLn == nil {
		return ""
	}
	return g.adminLn.Addr().String()
}

// Hub returns the things hub.
func (g *Gateway) Hub() *things.Hub { return g.hub }

// Ready is closed once every service runs.
func (g *Gateway) Ready() <-chan struct{} { return g.ready }

// Run serves until ctx is done, then terminates the OSP sessions, finishes
// the in-flight commits and closes the store. It returns nil on a clean
// stop.
func (g *Gateway) Run(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	errc := make(chan error, 4+len(g.links)+len(g.services)) // one per goroutine start runs
	start := func(name string, fn func(context.Context) error) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := fn(ctx); err != nil && ctx.Err() == nil {
				errc <- fmt.Errorf("%s: %w", name, err)
				cancel()
			}
		}()
	}
	counted := g.packets.counting(g.srv)
	if g.udp != nil {
		start("osp udp", func(ctx context.Context) error { return g.udp.Run(ctx, counted) })
		g.log.Info("osp udp listening", "addr", g.udp.Addr().String())
	}
	for _, l := range g.links {
		start(l.name, func(ctx context.Context) error { return l.run(ctx, counted) })
		g.log.Info("osp link running", "link", l.name)
	}
	stopBoard := g.runBoard(ctx)
	if g.adminSrv != nil {
		start("admin", func(ctx context.Context) error { return g.adminSrv.Serve(ctx, g.adminLn) })
		g.log.Info("admin api listening", "socket", g.adminLn.Addr().String())
	}
	start("acks", func(ctx context.Context) error { g.acks.run(ctx); return nil })
	for _, s := range g.services {
		start(s.name, s.run)
	}
	projDone := make(chan struct{})
	pctx, pcancel := context.WithCancel(context.Background())
	go func() {
		defer close(projDone)
		persDone := make(chan struct{})
		go func() {
			defer close(persDone)
			g.proj.pers.run(pctx)
		}()
		g.proj.run(pctx)
		<-persDone
	}()
	start("tick", func(ctx context.Context) error {
		t := time.NewTicker(250 * time.Millisecond)
		defer t.Stop()
		for {
			now := time.Now()
			g.board.lastRun.Store(now.UnixNano())
			g.observeStore(now)
			g.clock.check()
			select {
			case <-ctx.Done():
				return nil
			case <-t.C:
				g.srv.Tick()
			}
		}
	})
	g.board.lastRun.Store(time.Now().UnixNano()) // healthy from the start, not from the first tick
	g.live.running.Store(true)
	close(g.ready)
	<-ctx.Done()
	g.live.running.Store(false)
	g.srv.Close()
	wg.Wait()
	g.closeMDNS()
	stopBoard()
	// The links are down: no reading is added any more. Let the projector
	// catch up with what is journaled, then stop it and the hub.
	g.proj.drain()
	pcancel()
	<-projDone
	g.hub.Close()
	err := g.db.Close()
	close(errc)
	for e := range errc {
		err = errors.Join(err, e)
	}
	if err != nil {
		return fmt.Errorf("gateway: %w", err)
	}
	g.log.Info("stopped")
	return nil
}

// registry adapts the store's device registry to osp.DeviceLookup.
type registry struct{ db *store.DB }

func (r registry) LookupDevice(id osp.DeviceID) (osp.Security, error) {
	d, err := r.db.GetDevice(id.Type, id.Module)
	if errors.Is(err, store.ErrNotFound) {
		return osp.Security{}, fmt.Errorf("%w: %s", osp.ErrUnknownDevice, id)
	}
	if err != nil {
		return osp.Security{}, err
	}
	return osp.Security{Secure: d.Secure, Key: d.Key, TagLen: d.TagLen, MaxMessageID: d.MaxMessageID}, nil
}

// rateLimitedDrop logs dropped packets at debug level at most once a
// second, with the packet in hex so field failures become test seeds.
func rateLimitedDrop(log *slog.Logger) func(from netip.AddrPort, pkt []byte, err error) {
	return rateLimitedDropAt(log, slog.LevelDebug)
}

// rateLimitedDropAt is rateLimitedDrop at another level.
func rateLimitedDropAt(log *slog.Logger, level slog.Level) func(from netip.AddrPort, pkt []byte, err error) {
	var mu sync.Mutex
	var last time.Time
	var suppressed int
	return func(from netip.AddrPort, pkt []byte, err error) {
		mu.Lock()
		defer mu.Unlock()
		if time.Since(last) < time.Second {
			suppressed++
			return
		}
		last = time.Now()
		n := min(len(pkt), 64)
		attrs := []any{"err", err, "hex", hex.EncodeToString(pkt[:n]), "suppressed", suppressed}
		if from.IsValid() {
			attrs = append(attrs, "from", from.String())
		}
		log.Log(context.Background(), level, "packet dropped", attrs...)
		suppressed = 0
	}
}
