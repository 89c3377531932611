package udp

import (
	"errors"
	"fmt"
	"net"
	"os"
	"runtime"
	"testing"
	"time"
)

// TestReaderReadsWhatIsQueued: datagrams queued on a connected socket come
// back in order, with their source, several per read on Linux (recvmmsg)
// and at most the Reader's max, each whole; an expired read deadline is a
// timeout.
func TestReaderReadsWhatIsQueued(t *testing.T) {
	eachLoopback(t, func(t *testing.T, network string, srv *net.UDPConn) {
		c, err := net.DialUDP(network, nil, srv.LocalAddr().(*net.UDPAddr))
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		const max = 16
		const total = max + 5
		for i := range total {
			if _, err := srv.WriteToUDP(fmt.Appendf(nil, "datagram %d %*s", i, i*40, "."), c.LocalAddr().(*net.UDPAddr)); err != nil {
				t.Fatal(err)
			}
		}
		d := NewReader(c, max, 2048)
		var got []string
		reads := 0
		for len(got) < total {
			_ = c.SetReadDeadline(time.Now().Add(2 * time.Second))
			ds, err := d.Read()
			if err != nil {
				t.Fatalf("read after %d datagrams: %v", len(got), err)
			}
			if len(ds) == 0 || len(ds) > max {
				t.Fatalf("a read returned %d datagrams", len(ds))
			}
			for _, dg := range ds {
				if want := srv.LocalAddr().(*net.UDPAddr).AddrPort(); dg.From != want {
					t.Fatalf("datagram %d from %v, want %v", len(got), dg.From, want)
				}
				got = append(got, string(dg.Data))
			}
			reads++
		}
		for i, g := range got {
			if want := fmt.Sprintf("datagram %d %*s", i, i*40, "."); g != want {
				t.Fatalf("datagram %d is %q, want %q", i, g, want)
			}
		}
		if runtime.GOOS == "linux" && reads != 2 {
			t.Errorf("%d reads for %d queued datagrams, want 2", reads, total)
		}
		_ = c.SetReadDeadline(time.Now().Add(-time.Second))
		if _, err := d.Read(); !errors.Is(err, os.ErrDeadlineExceeded) {
			t.Errorf("read past the deadline: %v, want a timeout", err)
		}
	})
}
