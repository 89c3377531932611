// Package echo is the logic of scripts/udpecho: a UDP echo server with
// several reader goroutines on one socket. It is the baseline that
// scripts/bench-osp.sh measures gatewayd against: the same loopback, the
// same packet sizes, no protocol work.
package echo

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
)

// Server echoes every datagram back to its sender.
type Server struct {
	pc      net.PacketConn
	readers int

	echoed, sendErrs atomic.Uint64
}

// New returns a server on pc with the given number of reader goroutines
// (at least 1); Serve starts it.
func New(pc net.PacketConn, readers int) *Server {
	return &Server{pc: pc, readers: max(readers, 1)}
}

// Addr returns the socket's address.
func (s *Server) Addr() net.Addr { return s.pc.LocalAddr() }

// Echoed returns the number of datagrams sent back so far.
func (s *Server) Echoed() uint64 { return s.echoed.Load() }

// SendErrors returns the number of echoes the socket refused.
func (s *Server) SendErrors() uint64 { return s.sendErrs.Load() }

// Serve echoes until ctx is done or the socket fails, and closes the socket
// before it returns. It returns nil when ctx ended it.
func (s *Server) Serve(ctx context.Context) error {
	stop := context.AfterFunc(ctx, func() { _ = s.pc.Close() })
	defer stop()
	var wg sync.WaitGroup
	errc := make(chan error, s.readers)
	for range s.readers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errc <- s.read()
		}()
	}
	wg.Wait()
	close(errc)
	_ = s.pc.Close()
	if ctx.Err() != nil {
		return nil
	}
	for err := range errc {
		if err != nil {
			return err
		}
	}
	return nil
}

func (s *Server) read() error {
	buf := make([]byte, 64<<10)
	uc, _ := s.pc.(*net.UDPConn)
	for {
		var err error
		if uc != nil { // allocation-free, as drivers/udp reads
			var n int
			var from netip.AddrPort
			if n, from, err = uc.ReadFromUDPAddrPort(buf); err == nil {
				s.count(uc.WriteToUDPAddrPort(buf[:n], from))
				continue
			}
		} else {
			var n int
			var from net.Addr
			if n, from, err = s.pc.ReadFrom(buf); err == nil {
				s.count(s.pc.WriteTo(buf[:n], from))
				continue
			}
		}
		if errors.Is(err, net.ErrClosed) {
			return nil
		}
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			continue
		}
		return err
	}
}

// count records one echo; a refused send (a client gone, a full buffer)
// does not stop a UDP server.
func (s *Server) count(_ int, err error) {
	if err != nil {
		s.sendErrs.Add(1)
		return
	}
	s.echoed.Add(1)
}
