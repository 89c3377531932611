package dtls

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/edgegate/edgegate/gateway/osp"
	piondtls "github.com/pion/dtls/v3"
	"github.com/pion/logging"
)

// Handler receives each record's application data, one OSP packet, with
// the peer it came from. pkt is valid only until Handle returns and may be
// modified in place. It is called from one goroutine per connection, so
// from several at once.
type Handler interface {
	Handle(pkt []byte, from osp.Peer) error
}

// KeyLookup gives the pre-shared key of a PSK identity ("DeviceType:ModuleID",
// already checked by ParseIdentity). An error, for an unknown identity or
// otherwise, fails the handshake. It is called during handshakes, from
// several goroutines at once.
type KeyLookup interface {
	PSK(identity string) ([]byte, error)
}

// The suites offered, strongest tag first; see the package doc.
var (
	pskSuites  = []piondtls.CipherSuiteID{piondtls.TLS_PSK_WITH_AES_128_GCM_SHA256, piondtls.TLS_PSK_WITH_AES_128_CCM_8}
	certSuites = []piondtls.CipherSuiteID{piondtls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256, piondtls.TLS_ECDHE_ECDSA_WITH_AES_128_CCM_8}
)

// Link is the OSP link over DTLS: one bound UDP socket and the connections
// on it, one per remote address (two while a restarted client handshakes
// again, see mux.go).
type Link struct {
	cfg   Config
	opts  Options
	keys  KeyLookup
	udp   *net.UDPConn
	sopts []piondtls.ServerOption
	lim   *limiter

	mu      sync.Mutex
	assocs  map[netip.AddrPort]*assoc
	running bool
	closed  bool
	stop    context.CancelFunc // ends a running Run

	ran atomic.Bool

	// open and handshaking are incremented only by the read loop, right
	// after admit checked them, so the bounds hold without more locking.
	open, handshaking atomic.Int64

	// Counters.
	hsOK, hsFailed, limited, refused, idle, reassoc, rx, tx, sendErrs atomic.Uint64
}

// New validates cfg and opts and binds cfg.Listen, so a bad address or a
// port in use is reported here, before the gateway starts its services; Run
// serves connections. keys is required when cfg.PSK is set.
//
// Unlike drivers/udp, which is given its socket (STYLE.md convention 7),
// New binds it itself, as the gateway's configuration names an address and
// the bind error belongs to start-up.
func New(cfg Config, keys KeyLookup, opts Options) (*Link, error) {
	cfg, err := cfg.normalize()
	if err != nil {
		return nil, err
	}
	if opts, err = opts.normalize(cfg.MaxConns); err != nil {
		return nil, err
	}
	if cfg.PSK && keys == nil {
		return nil, bad("PSK", cfg.PSK, "needs a KeyLookup")
	}
	laddr, err := net.ResolveUDPAddr("udp", cfg.Listen)
	if err != nil {
		return nil, bad("Listen", fmt.Sprintf("%q", cfg.Listen), err.Error())
	}
	l := &Link{cfg: cfg, opts: opts, keys: keys, lim: newLimiter(opts), assocs: make(map[netip.AddrPort]*assoc)}

	ems := piondtls.RequestExtendedMasterSecret
	if cfg.RequireExtendedMasterSecret {
		ems = piondtls.RequireExtendedMasterSecret
	}
	var suites []piondtls.CipherSuiteID
	l.sopts = []piondtls.ServerOption{
		piondtls.WithExtendedMasterSecret(ems),
		piondtls.WithMTU(cfg.MTU),
		// Libraries do not print: what matters reaches OnError.
		piondtls.WithLoggerFactory(&logging.DefaultLoggerFactory{Writer: io.Discard, DefaultLogLevel: logging.LogLevelDisabled}),
	}
	if cfg.PSK {
		suites = append(suites, pskSuites...)
		l.sopts = append(l.sopts, piondtls.WithPSK(l.psk))
	}
	if cfg.Certificate != nil {
		suites = append(suites, certSuites...)
		l.sopts = append(l.sopts, piondtls.WithCertificates(*cfg.Certificate))
	}
	l.sopts = append(l.sopts, piondtls.WithCipherSuites(suites...))
	// Check the options once here, not at the first client.
	if _, err := piondtls.ServerWithOptions(nopConn{}, laddr, l.sopts...); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrConfig, err)
	}
	if l.udp, err = net.ListenUDP("udp", laddr); err != nil {
		return nil, fmt.Errorf("%s: listen %s: %w", opts.Name, cfg.Listen, err)
	}
	return l, nil
}

// Addr returns the bound local address.
func (l *Link) Addr() net.Addr { return l.udp.LocalAddr() }

// Close releases the socket of a link never run. A Run in progress ends as
// if its context had ended.
func (l *Link) Close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.closed = true
	if l.running {
		l.stop()
		return nil
	}
	if err := l.udp.Close(); err != nil && !errors.Is(err, net.ErrClosed) {
		return fmt.Errorf("%s: close: %w", l.opts.Name, err)
	}
	return nil
}

// Stats are the link's counters.
type Stats struct {
	// HandshakesOK and HandshakesFailed count finished handshakes (a
	// handshake cut short by the end of Run counts in neither).
	HandshakesOK, HandshakesFailed uint64
	// RateLimited and Refused count ClientHellos turned away before any
	// state was kept: by the per-address limit, or because MaxConns or
	// MaxHandshakes were reached.
	RateLimited, Refused uint64
	// IdleClosed counts connections closed by IdleTimeout.
	IdleClosed uint64
	// Reassociated counts connections replaced by a new handshake from the
	// same address (a restarted client, RFC 6347 section 4.2.8).
	Reassociated uint64
	// Received and Sent count OSP packets (records); SendErrors the sends
	// that failed.
	Received, Sent, SendErrors uint64
	// ConnsOpen is the number of connections open, Handshaking of them
	// still in their handshake.
	ConnsOpen, Handshaking int
}

// Stats returns a snapshot of the counters.
func (l *Link) Stats() Stats {
	return Stats{
		HandshakesOK: l.hsOK.Load(), HandshakesFailed: l.hsFailed.Load(),
		RateLimited: l.limited.Load(), Refused: l.refused.Load(), IdleClosed: l.idle.Load(),
		Reassociated: l.reassoc.Load(),
		Received:     l.rx.Load(), Sent: l.tx.Load(), SendErrors: l.sendErrs.Load(),
		ConnsOpen: int(l.open.Load()), Handshaking: int(l.handshaking.Load()),
	}
}

// Run reads the socket until ctx ends, Close is called or the socket
// fails, serving each connection in its own goroutine: handshake, then
// every record to h. When it returns, every connection has been closed
// (with a close_notify to its client), every goroutine it started has
// ended and the socket is released. It returns nil when ctx ended or Close
// was called. A Link runs once.
func (l *Link) Run(ctx context.Context, h Handler) error {
	if !l.ran.CompareAndSwap(false, true) {
		return ErrRunning
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return nil
	}
	l.running, l.stop = true, cancel
	l.mu.Unlock()
	// Unblock the read loop without closing the socket: the connections
	// still send their close_notify through it.
	unblock := context.AfterFunc(ctx, func() { _ = l.udp.SetReadDeadline(time.Unix(1, 0)) })
	defer unblock()

	var wg sync.WaitGroup
	err := l.readLoop(ctx, func(c *muxConn) {
		l.open.Add(1)
		l.handshaking.Add(1)
		wg.Add(1)
		go func() {
			defer wg.Done()
			l.serve(ctx, c, h)
		}()
	})
	cancel() // closes every connection
	wg.Wait()
	_ = l.udp.Close()
	if err != nil {
		return fmt.Errorf("%s: %w", l.opts.Name, err)
	}
	return nil
}

// readLoop routes datagrams until ctx ends or the socket fails.
func (l *Link) readLoop(ctx context.Context, open func(*muxConn)) error {
	buf := make([]byte, MaxMTU)
	for {
		n, from, err := l.udp.ReadFromUDPAddrPort(buf)
		if err != nil {
			if ctx.Err() != nil || errors.Is(err, net.ErrClosed) {
				return nil
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				continue
			}
			return err
		}
		l.route(buf[:n], netip.AddrPortFrom(from.Addr().Unmap(), from.Port()), open)
	}
}

// admit decides on a ClientHello that would open a connection: nil, or the
// reason it is refused (counted). Called with l.mu held, from the read loop.
func (l *Link) admit(from netip.AddrPort) error {
	if l.open.Load() >= int64(l.cfg.MaxConns) || l.handshaking.Load() >= int64(l.opts.MaxHandshakes) {
		l.refused.Add(1)
		return fmt.Errorf("%w (%d open, %d in handshake): from %s", ErrTooManyConns, l.open.Load(), l.handshaking.Load(), from)
	}
	if !l.lim.allow(from.Addr()) {
		l.limited.Add(1)
		return fmt.Errorf("%w: from %s", ErrRateLimited, from)
	}
	return nil
}

// psk is pion's PSK callback: identity is the one the client sent.
func (l *Link) psk(identity []byte) ([]byte, error) {
	id := string(identity)
	if _, err := ParseIdentity(id); err != nil {
		return nil, err
	}
	key, err := l.keys.PSK(id)
	if err != nil {
		return nil, fmt.Errorf("%s: PSK identity %q: %w", l.opts.Name, id, err)
	}
	if len(key) == 0 {
		return nil, fmt.Errorf("%s: PSK identity %q: empty key", l.opts.Name, id)
	}
	return key, nil
}

// serve runs one connection to its end.
func (l *Link) serve(ctx context.Context, mc *muxConn, h Handler) {
	defer l.open.Add(-1)
	defer mc.Close()
	p, err := l.handshake(ctx, mc)
	l.handshaking.Add(-1)
	if err != nil {
		if ctx.Err() == nil {
			l.hsFailed.Add(1)
			l.report(mc.from, nil, err)
		}
		return
	}
	l.hsOK.Add(1)
	l.promote(mc)
	// Close sends a close_notify: on ctx's end it must be sent before serve
	// returns, since Run closes the socket once every serve has returned.
	closed := make(chan struct{})
	stop := context.AfterFunc(ctx, func() {
		defer close(closed)
		_ = p.conn.Close()
	})
	defer func() {
		if !stop() {
			<-closed
		}
		_ = p.conn.Close()
	}()
	l.read(ctx, p, h)
}

func (l *Link) handshake(ctx context.Context, mc *muxConn) (*Peer, error) {
	c, err := piondtls.ServerWithOptions(mc, mc.raddr, l.sopts...)
	if err != nil {
		return nil, fmt.Errorf("%s: handshake with %s: %w", l.opts.Name, mc.from, err)
	}
	hctx, cancel := context.WithTimeout(ctx, l.cfg.HandshakeTimeout)
	defer cancel()
	if err := c.HandshakeContext(hctx); err != nil {
		_ = c.Close()
		return nil, fmt.Errorf("%s: handshake with %s: %w", l.opts.Name, mc.from, err)
	}
	st, ok := c.ConnectionState()
	if !ok {
		_ = c.Close()
		return nil, fmt.Errorf("%s: handshake with %s: no connection state", l.opts.Name, mc.from)
	}
	p := &Peer{link: l, conn: c, addr: mc.from, name: l.opts.Name + ":" + mc.from.String()}
	if slices.Contains(pskSuites, st.CipherSuiteID) {
		p.identity = string(st.IdentityHint) // the client's identity, checked by psk
		p.device, _ = ParseIdentity(p.identity)
	}
	return p, nil
}

// read hands every record to h until the connection ends or idles out.
func (l *Link) read(ctx context.Context, p *Peer, h Handler) {
	c := p.conn
	buf := make([]byte, MaxMTU) // a record is never larger than the datagram pion read
	for {
		_ = c.SetReadDeadline(time.Now().Add(l.cfg.IdleTimeout))
		n, err := c.Read(buf)
		if err != nil {
			var ne net.Error
			switch {
			case ctx.Err() != nil, errors.Is(err, io.EOF), errors.Is(err, net.ErrClosed), errors.Is(err, piondtls.ErrConnClosed):
				return // closed by the peer (close_notify, fatal alert) or by us
			case errors.As(err, &ne) && ne.Timeout():
				l.idle.Add(1)
				return
			}
			// pion passes non-fatal alerts and record errors up after the
			// handshake; they do not end the connection.
			l.report(p.addr, nil, fmt.Errorf("%s: read from %s: %w", l.opts.Name, p.addr, err))
			continue
		}
		l.rx.Add(1)
		if err := h.Handle(buf[:n], p); err != nil {
			l.report(p.addr, buf[:n], err)
		}
	}
}

func (l *Link) report(from netip.AddrPort, pkt []byte, err error) {
	if l.opts.OnError != nil {
		l.opts.OnError(from, pkt, err)
	}
}

// Peer is one DTLS connection: the reply path of an OSP session, and the
// identity the client proved in its handshake.
type Peer struct {
	link     *Link
	conn     *piondtls.Conn
	addr     netip.AddrPort
	name     string // "dtls:127.0.0.1:5000", computed once: it labels every reading
	identity string
	device   osp.DeviceID
}

var _ osp.MTUPeer = (*Peer)(nil)

// Send writes one packet as one DTLS record. A packet larger than MTU is
// refused with ErrTooLarge. Send may be called from several goroutines.
func (p *Peer) Send(pkt []byte) error {
	if len(pkt) > p.MTU() {
		p.link.sendErrs.Add(1)
		return fmt.Errorf("%s: send to %s: %w: %d bytes, MTU %d", p.link.opts.Name, p.addr, ErrTooLarge, len(pkt), p.MTU())
	}
	if _, err := p.conn.Write(pkt); err != nil {
		p.link.sendErrs.Add(1)
		return fmt.Errorf("%s: send to %s: %w", p.link.opts.Name, p.addr, err)
	}
	p.link.tx.Add(1)
	return nil
}

// MTU is the largest OSP packet the link sends: Config.MTU less the DTLS
// record overhead.
func (p *Peer) MTU() int { return p.link.cfg.MTU - recordOverhead }

// Addr returns the remote address.
func (p *Peer) Addr() netip.AddrPort { return p.addr }

// String names the link and address, e.g. "dtls:127.0.0.1:5000".
func (p *Peer) String() string { return p.name }

// Identity returns the PSK identity the client proved, "DeviceType:ModuleID",
// or "" for a connection on a certificate suite. The gateway must refuse an
// OSP session on this peer for any other device.
func (p *Peer) Identity() string { return p.identity }

// Device returns the OSP device of the PSK identity, and false for a
// connection on a certificate suite.
func (p *Peer) Device() (osp.DeviceID, bool) { return p.device, p.identity != "" }

// nopConn lets New check the server options without a connection.
type nopConn struct{ net.PacketConn }
