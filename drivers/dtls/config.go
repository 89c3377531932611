package dtls

import (
	"crypto/ecdsa"
	"crypto/tls"
	"fmt"
	"net"
	"net/netip"
	"time"
)

// Defaults and limits of Config and Options.
const (
	// DefaultMTU is the default largest datagram the link sends, DTLS record
	// included (pion's default; fits IPv6's minimum MTU of 1280).
	DefaultMTU = 1200
	// MinMTU and MaxMTU bound Config.MTU. MaxMTU is the largest datagram the
	// listener reads.
	MinMTU, MaxMTU = 256, 8192
	// DefaultHandshakeTimeout bounds a handshake: pion retransmits a flight
	// after 1 s, then 2 s, 4 s…, so 10 s allows three retransmissions.
	DefaultHandshakeTimeout = 10 * time.Second
	// DefaultIdleTimeout closes a connection that received no record for
	// that long. A sensor that reports less often handshakes again; a PSK
	// handshake is two round trips plus the cookie exchange.
	DefaultIdleTimeout = 10 * time.Minute
	// DefaultMaxConns bounds open connections, handshakes included.
	DefaultMaxConns = 256
)

// recordOverhead is what DTLS 1.2 adds to an OSP packet with the suites this
// package offers: the 13-byte record header, the 8-byte explicit nonce of
// GCM and CCM, and a tag of at most 16 bytes (8 for CCM_8).
const recordOverhead = 13 + 8 + 16

// Config is what the gateway configuration decides about the DTLS listener.
type Config struct {
	// Listen is the UDP address to bind, e.g. "127.0.0.1:4701".
	Listen string
	// PSK enables the PSK suites; keys come from the KeyLookup given to New.
	PSK bool
	// Certificate, when set, enables the certificate suites with this
	// ECDSA key pair (the gateway keeps it with gateway/certs).
	Certificate *tls.Certificate
	// HandshakeTimeout bounds each handshake (default
	// DefaultHandshakeTimeout).
	HandshakeTimeout time.Duration
	// IdleTimeout closes a connection that received no record for that long
	// (default DefaultIdleTimeout).
	IdleTimeout time.Duration
	// MTU is the largest datagram the link sends, DTLS record included
	// (default DefaultMTU, MinMTU..MaxMTU). Peer.MTU is MTU less the record
	// overhead.
	MTU int
	// MaxConns bounds the connections open at once, handshakes included
	// (default DefaultMaxConns).
	MaxConns int
	// RequireExtendedMasterSecret refuses clients without the Extended
	// Master Secret extension (RFC 7627); by default it is used when the
	// client offers it, since small DTLS stacks do not all implement it.
	RequireExtendedMasterSecret bool
}

// Options tune a Link beyond the configuration. The zero value is usable.
type Options struct {
	// Name identifies the link in Peer strings and errors (default "dtls").
	Name string
	// HandshakeRate and HandshakeBurst bound new connections per source IP
	// address: a token bucket refilled at HandshakeRate per second
	// (default 5) holding at most HandshakeBurst tokens (default 20). The
	// key is the IP, not the IP and port as in drivers/udp: every handshake
	// is a new connection, and a flood picks its source ports freely.
	HandshakeRate  float64
	HandshakeBurst float64
	// MaxAddrs bounds the source addresses the rate limiter remembers
	// (default 4096).
	MaxAddrs int
	// MaxHandshakes bounds the handshakes in progress at once (default
	// MaxConns/4, at least 1), so a flood of hellos from spoofed addresses,
	// which each hold a slot until HandshakeTimeout, cannot take the slots
	// of established connections.
	MaxHandshakes int
	// Now is the clock of the rate limiter (default time.Now). Timeouts run
	// on pion's wall-clock deadlines.
	Now func() time.Time
	// OnError is told about every refused or failed handshake (pkt nil) and
	// every dropped record or handler error (pkt the record, valid only
	// during the call). It must not block; it may be called from several
	// goroutines at once.
	OnError func(from netip.AddrPort, pkt []byte, err error)
}

// bad formats a configuration error naming the field and its value.
func bad(field string, val any, why string) error {
	return fmt.Errorf("%w: %s = %v: %s", ErrConfig, field, val, why)
}

// normalize validates cfg and fills in its defaults.
func (cfg Config) normalize() (Config, error) {
	if _, _, err := net.SplitHostPort(cfg.Listen); err != nil {
		return cfg, bad("Listen", fmt.Sprintf("%q", cfg.Listen), err.Error())
	}
	if !cfg.PSK && cfg.Certificate == nil {
		return cfg, bad("PSK", cfg.PSK, "no Certificate either: enable at least one mode")
	}
	if c := cfg.Certificate; c != nil {
		if len(c.Certificate) == 0 {
			return cfg, bad("Certificate", "empty chain", "needs a certificate")
		}
		if _, ok := c.PrivateKey.(*ecdsa.PrivateKey); !ok {
			return cfg, bad("Certificate", fmt.Sprintf("private key %T", c.PrivateKey), "must be ECDSA (the suites offered are ECDHE_ECDSA)")
		}
	}
	switch {
	case cfg.HandshakeTimeout < 0:
		return cfg, bad("HandshakeTimeout", cfg.HandshakeTimeout, "must not be negative")
	case cfg.HandshakeTimeout == 0:
		cfg.HandshakeTimeout = DefaultHandshakeTimeout
	}
	switch {
	case cfg.IdleTimeout < 0:
		return cfg, bad("IdleTimeout", cfg.IdleTimeout, "must not be negative")
	case cfg.IdleTimeout == 0:
		cfg.IdleTimeout = DefaultIdleTimeout
	}
	switch {
	case cfg.MTU == 0:
		cfg.MTU = DefaultMTU
	case cfg.MTU < MinMTU || cfg.MTU > MaxMTU:
		return cfg, bad("MTU", cfg.MTU, fmt.Sprintf("must be %d..%d", MinMTU, MaxMTU))
	}
	switch {
	case cfg.MaxConns < 0:
		return cfg, bad("MaxConns", cfg.MaxConns, "must not be negative")
	case cfg.MaxConns == 0:
		cfg.MaxConns = DefaultMaxConns
	}
	return cfg, nil
}

// normalize validates o and fills in its defaults; maxConns is the
// normalized Config.MaxConns.
func (o Options) normalize(maxConns int) (Options, error) {
	if o.Name == "" {
		o.Name = "dtls"
	}
	if o.HandshakeRate < 0 {
		return o, bad("Options.HandshakeRate", o.HandshakeRate, "must not be negative")
	}
	if o.HandshakeRate == 0 {
		o.HandshakeRate = 5
	}
	if o.HandshakeBurst < 0 {
		return o, bad("Options.HandshakeBurst", o.HandshakeBurst, "must not be negative")
	}
	if o.HandshakeBurst == 0 {
		o.HandshakeBurst = 20
	}
	if o.MaxAddrs <= 0 {
		o.MaxAddrs = 4096
	}
	if o.MaxHandshakes < 0 {
		return o, bad("Options.MaxHandshakes", o.MaxHandshakes, "must not be negative")
	}
	if o.MaxHandshakes == 0 {
		o.MaxHandshakes = max(maxConns/4, 1)
	}
	if o.MaxHandshakes > maxConns {
		o.MaxHandshakes = maxConns
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return o, nil
}
