package gateway

import (
	"context"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"

	"github.com/edgegate/edgegate/board"
	"github.com/edgegate/edgegate/drivers/dtls"
	"github.com/edgegate/edgegate/drivers/lora"
	"github.com/edgegate/edgegate/drivers/serial"
	"github.com/edgegate/edgegate/gateway/certs"
	"github.com/edgegate/edgegate/gateway/osp"
	"github.com/edgegate/edgegate/store"
	"periph.io/x/conn/v3/physic"
)

// dtlsCommonName is the subject (and only DNS name) of the DTLS link's
// certificate, kept as dtls-key.pem and dtls-cert.pem in the data
// directory; a client verifying it against the pinned certificate may use
// it as its server name.
const dtlsCommonName = "edgegate-gatewayd"

// SerialConfig configures one OSP link over a serial line ([[osp.serial]]).
type SerialConfig struct {
	// Name labels the link in logs (default: the path or USB match).
	Name string `toml:"name"`
	// Path is the device, e.g. /dev/ttyUSB0 or /dev/serial0; or USB
	// matches an adapter by "VID:PID[:SERIAL]" in hex, e.g. "10c4:ea60",
	// looked up again at every reopen.
	Path string `toml:"path"`
	USB  string `toml:"usb"`
	// Baud (default 115200), DataBits (8), Parity (none, even, odd),
	// StopBits (1 or 2).
	Baud     int    `toml:"baud"`
	DataBits int    `toml:"data_bits"`
	Parity   string `toml:"parity"`
	StopBits int    `toml:"stop_bits"`
	// IdleTimeout discards a packet whose bytes stop arriving for that long
	// (default 250ms).
	IdleTimeout Duration `toml:"idle_timeout"`
	// MTU bounds the packets sent on the line (default 1024).
	MTU int `toml:"mtu"`
}

func (c SerialConfig) driver() (serial.Config, error) {
	sc := serial.Config{Path: c.Path, Baud: c.Baud, DataBits: c.DataBits, Parity: c.Parity,
		StopBits: c.StopBits, IdleTimeout: c.IdleTimeout.Duration, MTU: c.MTU}
	if c.USB != "" {
		m, err := serial.ParseUSBMatch(c.USB)
		if err != nil {
			return sc, err
		}
		sc.USB = &m
	}
	return sc, sc.Validate()
}

// DTLSConfig configures the OSP listener over DTLS 1.2 ([osp.dtls]).
type DTLSConfig struct {
	// Listen is host:port; empty (the default) turns DTLS off.
	Listen string `toml:"listen"`
	// PSK admits devices by pre-shared key: the identity is the device
	// "Type:Module", the key its AES-128 key from the registry.
	PSK bool `toml:"psk"`
	// Certificate offers the gateway's own ECDSA key pair, generated on
	// first start in the data directory.
	Certificate bool `toml:"certificate"`
	// MTU of DTLS records (default 1200); IdleTimeout closes silent
	// associations (default 10m).
	MTU         int      `toml:"mtu"`
	IdleTimeout Duration `toml:"idle_timeout"`
}

// LoRaConfig configures the SX127x radio link ([osp.lora]). The radio's
// wiring comes from [board].
type LoRaConfig struct {
	// Enabled turns the LoRa link on (it needs [board] lora_hat).
	Enabled bool `toml:"enabled"`
	// Region presets the radio; only "eu868" (the default) is defined:
	// 868.1 MHz, SF7, 125 kHz, 4/5, sync word 0x12, 14 dBm, 1% duty cycle.
	Region string `toml:"region"`
	// FrequencyMHz, when non-zero, overrides the preset's frequency; each
	// of the following does the same for its value.
	FrequencyMHz float64 `toml:"frequency_mhz"`
	// SpreadingFactor is 6..12.
	SpreadingFactor int `toml:"spreading_factor"`
	// BandwidthKHz is the channel bandwidth, e.g. 125.
	BandwidthKHz float64 `toml:"bandwidth_khz"`
	CodingRate   int     `toml:"coding_rate"` // 5..8 for 4/5..4/8
	// SyncWord is the LoRa sync word (0x12: private networks).
	SyncWord int `toml:"sync_word"`
	// TxPowerDBm is the transmit power.
	TxPowerDBm int `toml:"tx_power_dbm"`
	// Preamble is the preamble length in symbols.
	Preamble  int      `toml:"preamble"`
	DutyCycle *float64 `toml:"duty_cycle"` // a fraction of airtime, e.g. 0.01; 0 turns the limit off
}

func (c LoRaConfig) driver() (lora.Config, error) {
	switch c.Region {
	case "", "eu868":
	default:
		return lora.Config{}, fmt.Errorf("region %q: only eu868 is defined; set the radio's values", c.Region)
	}
	lc := lora.EU868()
	if c.FrequencyMHz != 0 {
		lc.Frequency = physic.Frequency(c.FrequencyMHz*1e6) * physic.Hertz
	}
	if c.SpreadingFactor != 0 {
		lc.SpreadingFactor = c.SpreadingFactor
	}
	if c.BandwidthKHz != 0 {
		lc.Bandwidth = lora.Bandwidth(c.BandwidthKHz * 1000)
	}
	if c.CodingRate != 0 {
		lc.CodingRate = lora.CodingRate(c.CodingRate)
	}
	if c.SyncWord != 0 {
		lc.SyncWord = byte(c.SyncWord)
	}
	if c.TxPowerDBm != 0 {
		lc.TxPower = c.TxPowerDBm
	}
	if c.Preamble != 0 {
		lc.PreambleLength = c.Preamble
	}
	if c.DutyCycle != nil {
		lc.DutyCycle = *c.DutyCycle
	}
	return lc, lc.Validate()
}

// packetHandler takes the packets of a link: the OSP server, or a gate in
// front of it. Every link driver declares the same shape.
type packetHandler interface {
	Handle(pkt []byte, from osp.Peer) error
}

// link is one running OSP link.
type link struct {
	name string
	run  func(ctx context.Context, h packetHandler) error
}

// openLinks creates the serial and DTLS links named in the configuration.
// The UDP link and the radio are set up by New and startBoard.
func (g *Gateway) openLinks() error {
	for i, sc := range g.cfg.OSP.Serial {
		dc, err := sc.driver()
		if err != nil {
			return fmt.Errorf("%w: osp.serial[%d]: %w", ErrConfig, i, err)
		}
		name := sc.Name
		if name == "" {
			name = "serial"
			if sc.Path != "" {
				name += ":" + sc.Path
			} else {
				name += ":usb:" + sc.USB
			}
		}
		log := g.log.With("link", name)
		l := serial.New(dc, serial.Options{Name: name, OnError: rateLimitedStream(log), OnState: func(e serial.Event) {
			switch {
			case e.State == serial.StateUp:
				log.Info("serial port open", "path", e.Path)
			case e.Failures <= 1 || e.Failures%60 == 0:
				log.Warn("serial port not available; retrying", "err", e.Err, "retry", e.Retry, "failures", e.Failures)
			}
		}})
		g.serial = append(g.serial, l)
		g.links = append(g.links, link{name: name, run: func(ctx context.Context, h packetHandler) error { return l.Run(ctx, h) }})
	}
	if dc := g.cfg.OSP.DTLS; dc.Listen != "" {
		cfg := dtls.Config{Listen: dc.Listen, PSK: dc.PSK, MTU: dc.MTU, IdleTimeout: dc.IdleTimeout.Duration}
		if dc.Certificate {
			cert, err := certs.LoadOrCreate(g.data, certs.Spec{Name: "dtls",
				Subject: pkix.Name{CommonName: dtlsCommonName}, DNSNames: []string{dtlsCommonName},
				ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}})
			if err != nil {
				return fmt.Errorf("gateway: osp.dtls: %w", err)
			}
			cfg.Certificate = &cert
		}
		log := g.log.With("link", "dtls")
		l, err := dtls.New(cfg, pskLookup{g.db}, dtls.Options{OnError: rateLimitedDrop(log)})
		if err != nil {
			return fmt.Errorf("gateway: osp.dtls: %w", err)
		}
		g.dtls = l
		g.links = append(g.links, link{name: "dtls", run: func(ctx context.Context, h packetHandler) error {
			// The gate's refusals are counted too: the counter wraps it,
			// not the server behind it.
			return l.Run(ctx, g.packets.counting(identityGate{srv: g.srv, log: log}))
		}})
	}
	return nil
}

// startLoRa opens the radio on the board's wiring and adds its link. A
// radio that cannot be opened is logged and the gateway runs without it.
func (g *Gateway) startLoRa(radio *board.Radio) {
	if !g.cfg.OSP.LoRa.Enabled {
		return
	}
	lc, _ := g.cfg.OSP.LoRa.driver() // validated by Config.Validate
	log := g.log.With("link", "lora")
	if radio == nil {
		log.Error("osp.lora is enabled but the board has no radio (see [board] lora_hat); running without LoRa")
		return
	}
	dev, err := lora.Open(radio.Port, lora.Pins{Reset: radio.Reset, DIO0: radio.DIO0}, lc, lora.DevOptions{})
	if err != nil {
		log.Error("LoRa radio not available; running without LoRa", "radio", radio.String(), "err", err)
		return
	}
	l := lora.New(dev, lora.Options{OnError: loraErrors(log)})
	g.lora = l
	log.Info("lora radio ready", "radio", radio.String(), "config", lc.String())
	g.links = append(g.links, link{name: l.String(), run: func(ctx context.Context, h packetHandler) error {
		err := l.Run(ctx, h)
		if err != nil && ctx.Err() == nil {
			log.Error("LoRa link stopped; running without LoRa", "err", err)
		}
		return nil // a radio failure never stops the gateway
	}})
}

// pskLookup serves DTLS pre-shared keys from the device registry: the
// identity "Type:Module" names a secure device, its AES-128 key is the PSK.
type pskLookup struct{ db *store.DB }

func (p pskLookup) PSK(identity string) ([]byte, error) {
	id, err := dtls.ParseIdentity(identity)
	if err != nil {
		return nil, err
	}
	d, err := p.db.GetDevice(id.Type, id.Module)
	if err != nil {
		return nil, err
	}
	if !d.Secure || len(d.Key) == 0 {
		return nil, fmt.Errorf("device %s has no key", id)
	}
	return d.Key, nil
}

// errIdentity: a DTLS peer authenticated as one device sent a packet for
// another device's session.
var errIdentity = errors.New("gateway: packet for another device than the DTLS identity")

// identityGate sits between a link that authenticates devices itself (DTLS
// PSK) and the OSP server: a peer may only open and use sessions of the
// device it authenticated as. A peer without a device identity (DTLS
// certificate mode) passes unchanged.
type identityGate struct {
	srv *osp.Server
	log *slog.Logger
}

type devicePeer interface {
	Device() (osp.DeviceID, bool)
}

func (ig identityGate) Handle(pkt []byte, from osp.Peer) error {
	dp, ok := from.(devicePeer)
	if !ok {
		return ig.srv.Handle(pkt, from)
	}
	dev, ok := dp.Device()
	if !ok {
		return ig.srv.Handle(pkt, from)
	}
	p, err := osp.Decode(pkt)
	if err != nil {
		return ig.srv.Handle(pkt, from) // counted and refused there
	}
	switch {
	case p.SID == 0 && p.Type == osp.TypeConnect:
		var c osp.Connect
		if c.Unmarshal(p.Body()) == nil && (c.DeviceType != dev.Type || c.ModuleID != dev.Module) {
			return fmt.Errorf("%w: %s asked for %d:%d", errIdentity, dev, c.DeviceType, c.ModuleID)
		}
	case p.SID != 0:
		if sd, ok := ig.srv.SessionDevice(p.SID); ok && sd != dev {
			return fmt.Errorf("%w: %s used the session of %s", errIdentity, dev, sd)
		}
	}
	return ig.srv.Handle(pkt, from)
}

// loraErrors logs dropped replies (duty cycle, queue) as warnings and other
// drops (CRC errors, foreign packets) at debug level, each at most once a
// second; the link counts every one of them.
func loraErrors(log *slog.Logger) func(pkt []byte, err error) {
	debug := rateLimitedStream(log)
	warnDrop := rateLimitedDropAt(log, slog.LevelWarn)
	warn := func(pkt []byte, err error) { warnDrop(netip.AddrPort{}, pkt, err) }
	return func(pkt []byte, err error) {
		if errors.Is(err, lora.ErrDutyCycle) || errors.Is(err, lora.ErrQueueFull) || errors.Is(err, lora.ErrQueueTimeout) {
			warn(pkt, err)
			return
		}
		debug(pkt, err)
	}
}

// rateLimitedStream logs dropped bytes and packets of a stream or radio
// link at most once a second.
func rateLimitedStream(log *slog.Logger) func(data []byte, err error) {
	drop := rateLimitedDrop(log)
	return func(data []byte, err error) { drop(netip.AddrPort{}, data, err) }
}
