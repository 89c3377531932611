package main

import (
	"net"

	"golang.org/x/net/ipv4"
	"golang.org/x/net/ipv6"
)

// readBatch is the most datagrams a sensor or an echo worker takes from its
// socket in one read (one recvmmsg on Linux). The gateway's ACKs to a
// sensor leave in bursts, one per group commit, so under load a read often
// finds several, and a client that paid a system call for each would take
// processor time from the gateway it measures on the same machine.
const readBatch = 16

// datagrams reads a UDP socket several datagrams at a time.
type datagrams struct {
	r interface {
		ReadBatch(ms []ipv4.Message, flags int) (int, error)
	}
	ms   []ipv4.Message
	pkts [][]byte
}

// newDatagrams reads c with buffers of size bytes each: the IPv6 batch
// interface for an IPv6 socket, the IPv4 one otherwise.
func newDatagrams(c *net.UDPConn, size int) *datagrams {
	d := &datagrams{ms: make([]ipv4.Message, readBatch), pkts: make([][]byte, 0, readBatch)}
	if la, ok := c.LocalAddr().(*net.UDPAddr); ok && la.IP.To4() != nil {
		d.r = ipv4.NewPacketConn(c)
	} else {
		d.r = ipv6.NewPacketConn(c)
	}
	for i := range d.ms {
		d.ms[i].Buffers = [][]byte{make([]byte, size)}
	}
	return d
}

// read waits for a datagram and returns it with those queued behind it, up
// to readBatch, in the order they arrived. They are valid until the next
// read. The socket's read deadline applies.
func (d *datagrams) read() ([][]byte, error) {
	n, err := d.r.ReadBatch(d.ms, 0)
	d.pkts = d.pkts[:0]
	if err != nil {
		return nil, err // n is then -1 or 0
	}
	for i := range d.ms[:n] {
		d.pkts = append(d.pkts, d.ms[i].Buffers[0][:d.ms[i].N])
		d.ms[i].Addr = nil
	}
	return d.pkts, nil
}
