// Package udp is the OSP link over UDP: one datagram carries one packet. It
// reads datagrams from a net.PacketConn it is given (it never opens one),
// hands each to the session layer with a Peer for the reply path, and limits
// connection attempts per source address so a CONNECT flood cannot occupy
// the gateway. It knows the OSP fixed header, not sessions.
package udp

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/edgegate/edgegate/gateway/osp"
)

// Handler receives each datagram with the peer it came from. pkt is valid
// only until Handle returns and may be modified in place.
type Handler interface {
	Handle(pkt []byte, from osp.Peer) error
}

// Options tune a Link. The zero value is usable.
type Options struct {
	// Name identifies the link in logs and Peer strings (default "udp").
	Name string
	// Readers is the number of goroutines reading the socket (default 1).
	// One keeps each sensor's packets in the order they arrived: readers
	// that each take a batch (ReadBatch datagrams) hand a sensor's packets
	// on out of order, and a secure session drops a DATA packet older than
	// one it has already taken.
	Readers int
	// ConnectRate and ConnectBurst bound new-session CONNECTs (SID 0) per
	// source address: a token bucket refilled at ConnectRate per second
	// (default 5) holding at most ConnectBurst tokens (default 20).
	ConnectRate  float64
	ConnectBurst float64
	// MaxPeers bounds the remembered source addresses (default 65536).
	MaxPeers int
	// MTU is the largest packet the link sends (default 1472: an Ethernet
	// frame without IP and UDP headers).
	MTU int
	// ReadBuffer is the socket's receive buffer in bytes (default 4 MiB;
	// the kernel caps it at net.core.rmem_max). Sensors send in bursts, and
	// a reading dropped by a full buffer costs a RESEND round trip.
	ReadBuffer int
	// Now is the clock of the rate limiter (default time.Now).
	Now func() time.Time
	// OnError is told about every dropped datagram (for logs and metrics);
	// it must not block.
	OnError func(from netip.AddrPort, pkt []byte, err error)
}

// ErrRateLimited is returned for a CONNECT dropped by the per-address limit.
var ErrRateLimited = errors.New("udp: connection attempts rate limited")

// Link is an OSP link over one UDP socket.
type Link struct {
	conn *net.UDPConn   // fast path when the PacketConn is a UDP socket
	bw   batchConn      // the socket's sendmmsg; nil without conn
	gso  atomic.Bool    // Batch may segment: on Linux until a route refuses
	pc   net.PacketConn // any other PacketConn
	opts Options

	mu    sync.Mutex
	peers map[netip.AddrPort]*Peer

	// Counters.
	rx, tx, limited, sendErrs atomic.Uint64
}

// New returns a link over pc; Run starts reading.
func New(pc net.PacketConn, opts Options) *Link {
	if opts.Name == "" {
		opts.Name = "udp"
	}
	if opts.Readers <= 0 {
		opts.Readers = 1
	}
	if opts.ConnectRate <= 0 {
		opts.ConnectRate = 5
	}
	if opts.ConnectBurst <= 0 {
		opts.ConnectBurst = 20
	}
	if opts.MaxPeers <= 0 {
		opts.MaxPeers = 65536
	}
	if opts.MTU <= 0 {
		opts.MTU = 1472
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.ReadBuffer <= 0 {
		opts.ReadBuffer = 4 << 20
	}
	l := &Link{pc: pc, opts: opts, peers: make(map[netip.AddrPort]*Peer)}
	l.conn, _ = pc.(*net.UDPConn)
	if l.conn != nil {
		_ = l.conn.SetReadBuffer(opts.ReadBuffer) // best effort: capped by the kernel
		l.bw = newBatchConn(l.conn)
		l.gso.Store(gsoSupported)
	}
	return l
}

// Stats are the link's counters.
type Stats struct {
	Received, Sent, RateLimited, SendErrors uint64
	Peers                                   int
}

// Stats returns a snapshot of the counters.
func (l *Link) Stats() Stats {
	l.mu.Lock()
	n := len(l.peers)
	l.mu.Unlock()
	return Stats{Received: l.rx.Load(), Sent: l.tx.Load(), RateLimited: l.limited.Load(), SendErrors: l.sendErrs.Load(), Peers: n}
}

// Addr returns the local address.
func (l *Link) Addr() net.Addr { return l.pc.LocalAddr() }

// Close closes the socket of a link whose Run was never called (Run closes
// it itself).
func (l *Link) Close() error { return l.pc.Close() }

// Run reads datagrams until ctx is done or the socket fails, and closes the
// socket before it returns. Malformed datagrams are the handler's business:
// they are reported to OnError and never end the loop.
func (l *Link) Run(ctx context.Context, h Handler) error {
	var wg sync.WaitGroup
	errc := make(chan error, l.opts.Readers)
	stop := context.AfterFunc(ctx, func() { _ = l.pc.Close() })
	defer stop()
	for range l.opts.Readers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errc <- l.read(h)
		}()
	}
	wg.Wait()
	close(errc)
	_ = l.pc.Close()
	if ctx.Err() != nil {
		return nil
	}
	for err := range errc {
		if err != nil {
			return fmt.Errorf("%s: %w", l.opts.Name, err)
		}
	}
	return nil
}

func (l *Link) read(h Handler) error {
	if l.bw != nil {
		return l.readBatched(h)
	}
	buf := make([]byte, osp.MaxPacketSize+1)
	for {
		n, addr, err := l.pc.ReadFrom(buf)
		if err != nil {
			if done, err := readDone(err); done {
				return err
			}
			continue
		}
		from, _ := netip.ParseAddrPort(addr.String())
		l.handle(h, buf[:n], from)
	}
}

// ReadBatch is the most datagrams one read takes from a UDP socket (one
// recvmmsg on Linux; see Reader).
const ReadBatch = 8

// readBatched reads the socket ReadBatch datagrams at a time and hands them
// on in the order they arrived.
func (l *Link) readBatched(h Handler) error {
	rd := newReader(l.bw, ReadBatch, osp.MaxPacketSize+1)
	for {
		ds, err := rd.Read()
		if err != nil {
			if done, err := readDone(err); done {
				return err
			}
			continue
		}
		for _, d := range ds {
			l.handle(h, d.Data, d.From)
		}
	}
}

// readDone sorts a read's error: the socket's close ends the reading with
// nil, a timeout is read past, anything else ends it with the error.
func readDone(err error) (bool, error) {
	var ne net.Error
	switch {
	case errors.Is(err, net.ErrClosed):
		return true, nil
	case errors.As(err, &ne) && ne.Timeout():
		return false, nil
	}
	return true, err
}

// handle passes one datagram to h, unless it is too large or a CONNECT
// beyond the source's rate.
func (l *Link) handle(h Handler, pkt []byte, from netip.AddrPort) {
	l.rx.Add(1)
	if len(pkt) > osp.MaxPacketSize {
		l.report(from, pkt, fmt.Errorf("%w: datagram of %d bytes", osp.ErrTooLarge, len(pkt)))
		return
	}
	peer := l.peer(from)
	if isConnectInit(pkt) && !peer.allowConnect(l.opts) {
		l.limited.Add(1)
		l.report(from, pkt, ErrRateLimited)
		return
	}
	if err := h.Handle(pkt, peer); err != nil {
		l.report(from, pkt, err)
	}
}

func (l *Link) report(from netip.AddrPort, pkt []byte, err error) {
	if l.opts.OnError != nil {
		l.opts.OnError(from, pkt, err)
	}
}

// isConnectInit reports whether pkt is a new-session CONNECT (SID 0).
func isConnectInit(pkt []byte) bool {
	return len(pkt) >= osp.MinHeaderLen && pkt[0] == 0 && pkt[1] == 0 && osp.MsgType(pkt[4]>>4) == osp.TypeConnect
}

// peer returns the Peer for a source address, remembering a bounded number.
func (l *Link) peer(ap netip.AddrPort) *Peer {
	l.mu.Lock()
	defer l.mu.Unlock()
	if p := l.peers[ap]; p != nil {
		return p
	}
	if len(l.peers) >= l.opts.MaxPeers {
		// Forget an arbitrary half: sessions hold their own Peer, so only
		// rate-limit state is lost.
		n := 0
		for k := range l.peers {
			delete(l.peers, k)
			if n++; n >= l.opts.MaxPeers/2 {
				break
			}
		}
	}
	p := &Peer{link: l, addr: ap, udpAddr: net.UDPAddrFromAddrPort(ap), name: l.opts.Name + ":" + ap.String(),
		tokens: l.opts.ConnectBurst, last: l.opts.Now()}
	l.peers[ap] = p
	return p
}

// Peer is one remote address on a Link: the reply path of an OSP session.
type Peer struct {
	link    *Link
	addr    netip.AddrPort
	udpAddr *net.UDPAddr // addr for the interfaces that take a net.Addr
	name    string       // "udp:127.0.0.1:5000", computed once: it labels every reading

	mu     sync.Mutex
	tokens float64
	last   time.Time
}

var _ osp.MTUPeer = (*Peer)(nil)

// Send writes one packet to the peer.
func (p *Peer) Send(pkt []byte) error {
	var err error
	if c := p.link.conn; c != nil {
		_, err = c.WriteToUDPAddrPort(pkt, p.addr)
	} else {
		_, err = p.link.pc.WriteTo(pkt, p.udpAddr)
	}
	if err != nil {
		p.link.sendErrs.Add(1)
		return fmt.Errorf("%s: send to %s: %w", p.link.opts.Name, p.addr, err)
	}
	p.link.tx.Add(1)
	return nil
}

// MTU is the largest packet the link sends.
func (p *Peer) MTU() int { return p.link.opts.MTU }

// Addr returns the remote address.
func (p *Peer) Addr() netip.AddrPort { return p.addr }

// String names the link and address, e.g. "udp:127.0.0.1:5000".
func (p *Peer) String() string { return p.name }

func (p *Peer) allowConnect(o Options) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	now := o.Now()
	p.tokens += now.Sub(p.last).Seconds() * o.ConnectRate
	if p.tokens > o.ConnectBurst {
		p.tokens = o.ConnectBurst
	}
	p.last = now
	if p.tokens < 1 {
		return false
	}
	p.tokens--
	return true
}
