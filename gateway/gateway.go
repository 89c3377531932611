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

	"github.com/edgegate/edgegate/drivers/udp"
	"github.com/edgegate/edgegate/gateway/osp"
	"github.com/edgegate/edgegate/store"
)

// DBFile is the database's file name inside the data directory.
const DBFile = "edgegate.db"

// Gateway is one running gateway: the store and the OSP server with its
// links. Create it with New and start it with Run.
type Gateway struct {
	cfg  Config
	data string
	log  *slog.Logger

	db  *store.DB
	srv *osp.Server
	udp *udp.Link

	ready chan struct{}
}

// New opens the store in dataDir, provisions the configured devices and
// binds the configured listeners, so that configuration and permission
// errors surface before anything runs.
func New(cfg Config, dataDir string, log *slog.Logger) (*Gateway, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		return nil, fmt.Errorf("gateway: data directory: %w", err)
	}
	db, err := store.Open(filepath.Join(dataDir, DBFile), store.Options{
		MaxAge:  cfg.Store.MaxAge.Duration,
		MaxSize: cfg.Store.MaxSizeMB << 20,
		Logger:  log.With("subsystem", "store"),
	})
	if err != nil {
		return nil, fmt.Errorf("gateway: %w", err)
	}
	g := &Gateway{cfg: cfg, data: dataDir, log: log, db: db, ready: make(chan struct{})}
	if err := g.provision(); err != nil {
		db.Close()
		return nil, err
	}
	g.srv, err = osp.NewServer(osp.ServerConfig{
		Devices:          registry{db},
		Handler:          g,
		HandshakeTimeout: cfg.OSP.HandshakeTimeout.Duration,
		CommandTimeout:   cfg.OSP.CommandTimeout.Duration,
		ResendTimeout:    cfg.OSP.ResendTimeout.Duration,
		PingInterval:     cfg.OSP.PingInterval.Duration,
		IdleTimeout:      cfg.OSP.IdleTimeout.Duration,
		RequireEAX:       cfg.OSP.RequireEAX,
	})
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("gateway: %w", err)
	}
	if l := cfg.OSP.UDP.Listen; l != "" {
		pc, err := net.ListenPacket("udp", l)
		if err != nil {
			db.Close()
			return nil, fmt.Errorf("gateway: osp.udp.listen: %w", err)
		}
		ulog := log.With("link", "udp")
		g.udp = udp.New(pc, udp.Options{MTU: cfg.OSP.UDP.MTU, OnError: rateLimitedDrop(ulog)})
	}
	return g, nil
}

// provision upserts the devices named in the configuration.
func (g *Gateway) provision() error {
	for _, d := range g.cfg.Devices {
		key, _ := hex.DecodeString(d.Key)
		dev := store.Device{Type: d.Type, Module: d.Module, Name: d.Name, Secure: d.Secure, Key: key,
			TagLen: d.TagLen, MaxMessageID: d.MaxMessageID, Profile: d.Profile}
		if old, err := g.db.GetDevice(d.Type, d.Module); err == nil {
			dev.Added, dev.OCSDeviceID = old.Added, old.OCSDeviceID
		}
		if err := g.db.PutDevice(dev); err != nil {
			return fmt.Errorf("gateway: provision %d:%d: %w", d.Type, d.Module, err)
		}
	}
	return nil
}

// UDPAddr returns the bound OSP UDP address (nil when UDP is off).
func (g *Gateway) UDPAddr() net.Addr {
	if g.udp == nil {
		return nil
	}
	return g.udp.Addr()
}

// Ready is closed once every service runs.
func (g *Gateway) Ready() <-chan struct{} { return g.ready }

// Run serves until ctx is done, then terminates the OSP sessions, finishes
// the in-flight commits and closes the store. It returns nil on a clean
// stop.
func (g *Gateway) Run(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	errc := make(chan error, 2)
	if g.udp != nil {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := g.udp.Run(ctx, g.srv); err != nil {
				errc <- err
				cancel()
			}
		}()
		g.log.Info("osp udp listening", "addr", g.udp.Addr().String())
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		t := time.NewTicker(250 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				g.srv.Tick()
			}
		}
	}()
	close(g.ready)
	<-ctx.Done()
	g.srv.Close()
	wg.Wait()
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

// HandleData journals a reading and acknowledges it once it is durable.
func (g *Gateway) HandleData(r osp.Reading) {
	rec := store.Reading{
		Time: r.Received, Device: store.DeviceID{Type: r.Device.Type, Module: r.Device.Module},
		SID: r.SID, MessageID: r.MessageID, DataType: r.DataType, Flags: uint8(r.Flags),
		Payload: r.Payload, Authenticated: r.Authenticated,
	}
	if s, ok := r.Peer.(fmt.Stringer); ok {
		rec.Link = s.String()
	}
	ack := r.Flags&osp.FlagAckReq != 0
	ref := r.AckRef()
	dev := r.Device
	g.db.AppendAsync(rec, func(seq uint64, err error) {
		if err != nil {
			g.log.Error("reading not journaled; not acknowledged", "device", dev.String(), "message_id", ref.MessageID, "err", err)
			return
		}
		if ack {
			_ = g.srv.Ack(ref) // a session gone meanwhile: the sensor retransmits
		}
	})
}

// HandleEvent logs session life-cycle events.
func (g *Gateway) HandleEvent(e osp.Event) {
	attrs := []any{"device", e.Device.String(), "sid", e.SID}
	if e.Peer != nil {
		if s, ok := e.Peer.(fmt.Stringer); ok {
			attrs = append(attrs, "peer", s.String())
		}
	}
	switch e.Kind {
	case osp.EventSessionOpened:
		g.log.Info("osp session opened", append(attrs, "secure", e.Secure)...)
	case osp.EventHandshakeFailed:
		g.log.Warn("osp handshake failed", append(attrs, "err", e.Err)...)
	case osp.EventResendFailed, osp.EventResendUnavailable:
		g.log.Warn("osp reading lost by sensor", append(attrs, "event", e.Kind.String(), "message_id", e.MessageID)...)
	default:
		g.log.Info("osp "+e.Kind.String(), append(attrs, "err", e.Err)...)
	}
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

// rateLimitedDrop logs dropped datagrams at most once a second, with the
// packet in hex so field failures become test seeds.
func rateLimitedDrop(log *slog.Logger) func(from netip.AddrPort, pkt []byte, err error) {
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
		log.Debug("packet dropped", "from", from.String(), "err", err, "hex", hex.EncodeToString(pkt[:n]), "suppressed", suppressed)
		suppressed = 0
	}
}
