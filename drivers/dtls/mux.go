package dtls

import (
	"net"
	"net/netip"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/transport/v5/deadline"
)

// The link demultiplexes its one UDP socket itself, instead of using pion's
// listener, for two reasons:
//
//   - RFC 6347 section 4.2.8: a client that restarts and sends a new
//     ClientHello from the address of an existing association (small IP
//     stacks such as lwIP reuse their first ephemeral port after a reboot)
//     must get a new handshake. pion's listener hands that ClientHello to
//     the old, established connection, which ignores it, so the sensor
//     would be locked out until IdleTimeout.
//   - Only a ClientHello opens a connection. pion's listener opens one for
//     any handshake record, so a stray retransmission (say, of a client
//     whose handshake just failed) holds a slot until HandshakeTimeout.
//
// Routing, per remote address:
//
//	no association:              ClientHello -> admit, new conn (cur); anything else dropped
//	cur only, not established:   everything -> cur
//	cur established:             ClientHello -> admit, new conn (next); anything else -> cur
//	cur and next:                epoch 0 -> next; epoch > 0 -> both
//	next's handshake completes:  cur closed, next becomes cur
//
// While a new handshake is pending, records of epoch > 0 go to both
// connections and each keeps what decrypts (DTLS silently drops records that
// do not, RFC 6347 section 4.1.2.7). So the old association is not torn
// down until the new client has completed a handshake, as 4.2.8 requires:
// a spoofed ClientHello cannot cut an established sensor off.

// Record-layer constants (RFC 6347 section 4.1, 4.2.2).
const (
	recordHeaderLen     = 13
	contentHandshake    = 22
	handshakeClientHelo = 1
	connQueueLen        = 32 // datagrams queued per connection before drops
)

// assoc is what the link knows about one remote address.
type assoc struct {
	cur, next *muxConn
}

// epoch returns the epoch of the first record of a datagram.
func epoch(d []byte) (uint16, bool) {
	if len(d) < recordHeaderLen {
		return 0, false
	}
	return uint16(d[3])<<8 | uint16(d[4]), true
}

// isClientHello reports whether a datagram starts with an epoch-0 handshake
// record carrying (the first fragment of) a ClientHello.
func isClientHello(d []byte) bool {
	e, ok := epoch(d)
	return ok && e == 0 && d[0] == contentHandshake && len(d) > recordHeaderLen && d[recordHeaderLen] == handshakeClientHelo
}

// route hands a datagram to the connections of its address, opening one
// for an admitted ClientHello; open is called for each new connection. It
// runs in the read loop only, which is what makes admit's check of the
// counters and open's increment of them one step.
func (l *Link) route(d []byte, from netip.AddrPort, open func(*muxConn)) {
	l.mu.Lock()
	a := l.assocs[from]
	var to, also, opened *muxConn
	var refused error
	switch {
	case a == nil:
		if !isClientHello(d) {
			l.mu.Unlock()
			return
		}
		if refused = l.admit(from); refused != nil {
			break
		}
		opened = l.newConn(from)
		l.assocs[from] = &assoc{cur: opened}
		to = opened
	case a.next != nil:
		to = a.next
		if e, _ := epoch(d); e > 0 {
			also = a.cur
		}
	case a.cur.established.Load() && isClientHello(d):
		if refused = l.admit(from); refused != nil {
			break
		}
		opened = l.newConn(from)
		a.next = opened
		to = opened
	default:
		to = a.cur
	}
	l.mu.Unlock()
	if refused != nil {
		l.report(from, nil, refused)
		return
	}
	if opened != nil {
		open(opened)
	}
	to.deliver(d)
	if also != nil {
		also.deliver(d)
	}
}

// promote marks c established: if it is the new handshake of an address
// with an older association, the older one is closed (its client has
// restarted) and c takes its place.
func (l *Link) promote(c *muxConn) {
	l.mu.Lock()
	c.established.Store(true)
	var old *muxConn
	if a := l.assocs[c.from]; a != nil && a.next == c {
		old, a.cur, a.next = a.cur, c, nil
	}
	l.mu.Unlock()
	if old != nil {
		l.reassoc.Add(1)
		old.Close()
	}
}

// forget removes a closed connection from its address.
func (l *Link) forget(c *muxConn) {
	l.mu.Lock()
	defer l.mu.Unlock()
	a := l.assocs[c.from]
	switch {
	case a == nil:
	case a.cur == c && a.next != nil:
		a.cur, a.next = a.next, nil
	case a.cur == c:
		delete(l.assocs, c.from)
	case a.next == c:
		a.next = nil
	}
}

func (l *Link) newConn(from netip.AddrPort) *muxConn {
	return &muxConn{link: l, from: from, raddr: net.UDPAddrFromAddrPort(from),
		in: make(chan []byte, connQueueLen), done: make(chan struct{}), rd: deadline.New()}
}

// muxConn is the net.PacketConn under one pion connection: the datagrams of
// one remote address, and writes to it through the shared socket.
type muxConn struct {
	link        *Link
	from        netip.AddrPort
	raddr       *net.UDPAddr
	in          chan []byte
	done        chan struct{}
	closeOnce   sync.Once
	rd          *deadline.Deadline
	established atomic.Bool
}

var _ net.PacketConn = (*muxConn)(nil)

// deliver queues a copy of d, dropping it when the queue is full (the
// reader is far behind: UDP semantics) or the connection is closed.
func (c *muxConn) deliver(d []byte) {
	select {
	case <-c.done:
		return
	default:
	}
	select {
	case c.in <- append([]byte(nil), d...):
	default:
	}
}

// ReadFrom returns the next datagram from the remote address.
func (c *muxConn) ReadFrom(b []byte) (int, net.Addr, error) {
	select {
	case <-c.rd.Done():
		return 0, nil, os.ErrDeadlineExceeded
	default:
	}
	select {
	case d := <-c.in:
		return copy(b, d), c.raddr, nil
	case <-c.done:
		return 0, nil, net.ErrClosed
	case <-c.rd.Done():
		return 0, nil, os.ErrDeadlineExceeded
	}
}

// WriteTo sends to the connection's remote address, whatever addr says.
func (c *muxConn) WriteTo(b []byte, _ net.Addr) (int, error) {
	select {
	case <-c.done:
		return 0, net.ErrClosed
	default:
	}
	return c.link.udp.WriteToUDPAddrPort(b, c.from)
}

// Close ends the connection (not the shared socket).
func (c *muxConn) Close() error {
	c.closeOnce.Do(func() {
		close(c.done)
		c.link.forget(c)
	})
	return nil
}

// LocalAddr returns the shared socket's address.
func (c *muxConn) LocalAddr() net.Addr { return c.link.udp.LocalAddr() }

// SetDeadline sets the read deadline; writes to UDP do not block.
func (c *muxConn) SetDeadline(t time.Time) error { return c.SetReadDeadline(t) }

// SetReadDeadline sets the read deadline (pion uses it to cancel reads).
func (c *muxConn) SetReadDeadline(t time.Time) error {
	c.rd.Set(t)
	return nil
}

// SetWriteDeadline does nothing: writes to UDP do not block.
func (c *muxConn) SetWriteDeadline(time.Time) error { return nil }
