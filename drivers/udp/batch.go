package udp

import (
	"errors"
	"fmt"
	"net"
	"syscall"

	"golang.org/x/net/ipv4"
	"golang.org/x/net/ipv6"

	"github.com/edgegate/edgegate/gateway/osp"
)

// batchConn sends and receives several datagrams in one call: sendmmsg and
// recvmmsg on Linux, one datagram per call elsewhere. ipv4.PacketConn and
// ipv6.PacketConn are both one (their Message is the same type).
type batchConn interface {
	WriteBatch(ms []ipv4.Message, flags int) (int, error)
	ReadBatch(ms []ipv4.Message, flags int) (int, error)
}

// newBatchConn returns the batch interface of a UDP socket: the IPv6 one
// for an IPv6 or dual-stack socket, which Linux lets send to IPv4 addresses
// too.
func newBatchConn(c *net.UDPConn) batchConn {
	if la, ok := c.LocalAddr().(*net.UDPAddr); ok && la.IP.To4() != nil {
		return ipv4.NewPacketConn(c)
	}
	return ipv6.NewPacketConn(c)
}

// PeerBatch is the most packets a Batch holds for one peer before it sends
// what it holds. It stays below the OSP receive window (osp.WindowSize): a
// packet that a session sends directly while its others wait in a batch
// overtakes them, and the client must still accept them afterwards.
const PeerBatch = 16

// Batch gathers packets for the peers of UDP links and sends them with as
// few system calls as the platform allows: on Linux, one sendmmsg per link,
// in which the equal-sized packets queued for one peer travel as one
// segmented datagram (UDP GSO) that the kernel cuts into datagrams again.
// It implements osp.SendQueue. A Batch is not safe for concurrent use.
type Batch struct {
	max   int
	n     int
	links []*linkBatch // in the order of their first packet; usually one
}

// linkBatch is one link's share of a Batch. Its slices are kept between
// flushes so that a steady stream of batches does not allocate.
type linkBatch struct {
	link  *Link
	msgs  []ipv4.Message
	bufs  [][]byte // msgs[i]'s packets, back to back
	sizes []int    // the size of each packet in bufs[i]
	peers []*Peer  // msgs[i]'s destination
	oobs  [][]byte // msgs[i]'s control message when it is segmented
	n     int      // msgs in use
	open  map[*Peer]peerQueue
}

// peerQueue is what a linkBatch holds for one peer: its newest message
// (where the next packet of the same size joins) and how many packets.
type peerQueue struct{ msg, packets int }

// gsoSegment is the largest packet Batch segments: segments must fit the
// route's MTU, and 1400 bytes fit any Ethernet or Wi-Fi route with IPv6 and
// UDP headers. PeerBatch of them stay far below the 64 KiB a datagram holds.
const gsoSegment = 1400

var _ osp.SendQueue = (*Batch)(nil)

// NewBatch returns an empty batch that sends what it holds once it holds
// max packets.
func NewBatch(max int) *Batch {
	if max < 1 {
		max = 1
	}
	return &Batch{max: max}
}

// Len is the number of packets queued.
func (b *Batch) Len() int { return b.n }

// Queue copies pkt for sending to to by the next Flush. It refuses (returns
// false) a peer that is not on a link over a UDP socket; the caller sends
// that packet itself. When the batch is full, or holds PeerBatch packets
// for to, Queue first sends what it holds.
func (b *Batch) Queue(to osp.Peer, pkt []byte) bool {
	p, ok := to.(*Peer)
	if !ok || p.link.bw == nil {
		return false
	}
	lb := b.linkOf(p.link)
	q, held := lb.open[p]
	if b.n >= b.max || q.packets >= PeerBatch {
		_ = b.Flush() // failures are counted by the link, as Flush's are
		q, held = peerQueue{}, false
	}
	if held && lb.link.gso.Load() && lb.sizes[q.msg] == len(pkt) && len(pkt) <= gsoSegment {
		lb.bufs[q.msg] = append(lb.bufs[q.msg], pkt...)
	} else {
		q.msg = lb.add(p, pkt)
	}
	q.packets++
	lb.open[p] = q
	b.n++
	return true
}

func (b *Batch) linkOf(l *Link) *linkBatch {
	for _, lb := range b.links {
		if lb.link == l {
			return lb
		}
	}
	lb := &linkBatch{link: l, open: make(map[*Peer]peerQueue)}
	b.links = append(b.links, lb)
	return lb
}

// add starts a message for p holding pkt and returns its index.
func (lb *linkBatch) add(p *Peer, pkt []byte) int {
	if lb.n == len(lb.msgs) {
		lb.msgs = append(lb.msgs, ipv4.Message{Buffers: make([][]byte, 1)})
		lb.bufs = append(lb.bufs, make([]byte, 0, 2*osp.MaxPacketSize))
		lb.sizes = append(lb.sizes, 0)
		lb.peers = append(lb.peers, nil)
		lb.oobs = append(lb.oobs, nil)
	}
	i := lb.n
	lb.bufs[i] = append(lb.bufs[i][:0], pkt...)
	lb.sizes[i], lb.peers[i] = len(pkt), p
	lb.n++
	return i
}

// Flush sends the queued packets, each peer's in the order they were
// queued, and empties the batch. A packet that cannot be sent is counted in
// its link's SendErrors and the others are still sent; Flush returns the
// first such error.
func (b *Batch) Flush() error {
	var first error
	for _, lb := range b.links {
		if err := lb.flush(); err != nil && first == nil {
			first = err
		}
	}
	b.n = 0
	return first
}

func (lb *linkBatch) flush() error {
	var first error
	note := func(err error) {
		if first == nil {
			first = err
		}
	}
	l := lb.link
	for i := range lb.msgs[:lb.n] {
		m := &lb.msgs[i]
		m.Buffers[0], m.Addr, m.OOB = lb.bufs[i], lb.peers[i].udpAddr, nil
		if len(lb.bufs[i]) > lb.sizes[i] {
			lb.oobs[i] = appendSegment(lb.oobs[i][:0], lb.sizes[i])
			m.OOB = lb.oobs[i]
		}
	}
	ms := lb.msgs[:lb.n]
	for len(ms) > 0 {
		n, err := l.bw.WriteBatch(ms, 0)
		for i := lb.n - len(ms); i < lb.n-len(ms)+n; i++ {
			l.tx.Add(uint64(len(lb.bufs[i]) / lb.sizes[i])) // equal sizes
		}
		if n > 0 {
			ms = ms[n:]
			continue
		}
		if err == nil { // nothing sent and no reason given: not expected
			err = errors.New("sendmmsg sent nothing")
		}
		// The first message failed. A segmented one goes again datagram by
		// datagram, and a link whose route cannot segment stops trying.
		i := lb.n - len(ms)
		if m := &ms[0]; m.OOB != nil {
			if noGSO(err) {
				l.gso.Store(false)
			}
			for b := lb.bufs[i]; len(b) > 0; {
				k := min(lb.sizes[i], len(b))
				if err := lb.peers[i].Send(b[:k]); err != nil {
					note(err)
				}
				b = b[k:]
			}
		} else {
			l.sendErrs.Add(1)
			note(fmt.Errorf("%s: send to %s: %w", l.opts.Name, lb.peers[i].addr, err))
		}
		ms = ms[1:]
	}
	for i := range lb.msgs[:lb.n] {
		lb.msgs[i].Buffers[0], lb.msgs[i].Addr, lb.peers[i] = nil, nil, nil
	}
	lb.n = 0
	clear(lb.open)
	return first
}

// noGSO reports whether a send failed because the route cannot segment
// (no checksum offload, an old kernel).
func noGSO(err error) bool {
	return errors.Is(err, syscall.EIO) || errors.Is(err, syscall.EINVAL) ||
		errors.Is(err, syscall.ENOPROTOOPT) || errors.Is(err, syscall.EOPNOTSUPP)
}
