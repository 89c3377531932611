package udp

import (
	"net"
	"net/netip"

	"golang.org/x/net/ipv4"
)

// Reader reads a UDP socket several datagrams per call: recvmmsg on Linux,
// one datagram per call elsewhere. A read returns what the socket holds,
// from one datagram up, so batching costs latency nothing. A Reader is not
// safe for concurrent use.
type Reader struct {
	bc batchConn
	ms []ipv4.Message
	ds []Datagram
}

// Datagram is one datagram a Reader returned: its bytes, valid until the
// next Read, and its source.
type Datagram struct {
	Data []byte
	From netip.AddrPort
}

// NewReader reads c up to max datagrams per call into buffers of size
// bytes each; a longer datagram is cut to size.
func NewReader(c *net.UDPConn, max, size int) *Reader {
	return newReader(newBatchConn(c), max, size)
}

func newReader(bc batchConn, max, size int) *Reader {
	r := &Reader{bc: bc, ms: make([]ipv4.Message, max), ds: make([]Datagram, 0, max)}
	for i := range r.ms {
		r.ms[i].Buffers = [][]byte{make([]byte, size)}
	}
	return r
}

// Read waits for a datagram and returns it with those queued behind it, up
// to the Reader's max, in the order they arrived. The socket's read
// deadline applies.
func (r *Reader) Read() ([]Datagram, error) {
	n, err := r.bc.ReadBatch(r.ms, 0)
	r.ds = r.ds[:0]
	if err != nil {
		return nil, err // n is then -1 or 0
	}
	for i := range r.ms[:n] {
		m := &r.ms[i]
		var from netip.AddrPort
		if ua, ok := m.Addr.(*net.UDPAddr); ok { // always, from a UDP socket
			from = ua.AddrPort()
		}
		r.ds = append(r.ds, Datagram{Data: m.Buffers[0][:m.N], From: from})
		m.Addr = nil
	}
	return r.ds, nil
}
