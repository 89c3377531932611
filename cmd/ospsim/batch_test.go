package main

import (
	"errors"
	"fmt"
	"net"
	"os"
	"runtime"
	"testing"
	"time"
)

// TestDatagramsReadsWhatIsQueued: datagrams queued on a connected socket
// come back in order, several per read on Linux (recvmmsg) and at most
// readBatch, each whole; an expired read deadline is a timeout.
func TestDatagramsReadsWhatIsQueued(t *testing.T) {
	for _, tc := range []struct{ network, ip string }{{"udp4", "127.0.0.1"}, {"udp6", "::1"}} {
		t.Run(tc.network, func(t *testing.T) {
			srv, err := net.ListenUDP(tc.network, &net.UDPAddr{IP: net.ParseIP(tc.ip)})
			if err != nil {
				t.Skipf("no %s loopback: %v", tc.network, err)
			}
			defer srv.Close()
			c, err := net.DialUDP(tc.network, nil, srv.LocalAddr().(*net.UDPAddr))
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			const total = readBatch + 5
			for i := range total {
				if _, err := srv.WriteToUDP(fmt.Appendf(nil, "datagram %d %*s", i, i*40, "."), c.LocalAddr().(*net.UDPAddr)); err != nil {
					t.Fatal(err)
				}
			}
			d := newDatagrams(c, 2048)
			var got []string
			reads := 0
			for len(got) < total {
				_ = c.SetReadDeadline(time.Now().Add(2 * time.Second))
				pkts, err := d.read()
				if err != nil {
					t.Fatalf("read after %d datagrams: %v", len(got), err)
				}
				if len(pkts) == 0 || len(pkts) > readBatch {
					t.Fatalf("a read returned %d datagrams", len(pkts))
				}
				for _, p := range pkts {
					got = append(got, string(p))
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
			if _, err := d.read(); !errors.Is(err, os.ErrDeadlineExceeded) {
				t.Errorf("read past the deadline: %v, want a timeout", err)
			}
		})
	}
}
