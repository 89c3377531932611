package main

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/edgegate/edgegate/gateway"
	"github.com/edgegate/edgegate/gateway/osp"
	"github.com/edgegate/edgegate/store"
)

// udpSensor is the secure sensor sensorID on its own socket, keeping the
// payloads the gateway acknowledged.
type udpSensor struct {
	cl  *osp.Client
	mu  sync.Mutex
	ack [][]byte
}

func newSensor(t *testing.T, gw *net.UDPAddr) *udpSensor {
	t.Helper()
	s := &udpSensor{}
	s.cl = dialSensor(t, gw, 200*time.Millisecond, func(_ *osp.Client, e osp.ClientEvent) {
		if e.Kind == osp.ClientAcked {
			s.mu.Lock()
			s.ack = append(s.ack, e.Payload)
			s.mu.Unlock()
		}
	})
	return s
}

// acked returns the payloads whose ACKNOWLEDGE the sensor received.
func (s *udpSensor) acked() [][]byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([][]byte(nil), s.ack...)
}

func (s *udpSensor) send(t *testing.T, n int, tag string) {
	for i := range n {
		if _, err := s.cl.SendData(10, []byte(fmt.Sprintf("%s-%03d", tag, i)), osp.FlagAckReq); err != nil {
			t.Fatal(err)
		}
	}
}

// journal reads the payloads of every reading the database holds, all
// from the authenticated sensor sensorID.
func journal(t *testing.T, data string) map[string]bool {
	t.Helper()
	out := map[string]bool{}
	for _, r := range readings(t, data) {
		if r.Device != (store.DeviceID{Type: 1, Module: 4242}) || !r.Authenticated {
			t.Errorf("reading %+v", r)
		}
		out[string(r.Payload)] = true
	}
	return out
}

func TestEndToEndSecureUDP(t *testing.T) {
	data := filepath.Join(t.TempDir(), "data")
	d := startDaemon(t, data)
	s := newSensor(t, d.addr)
	s.send(t, 100, "r")
	waitFor(t, "100 ACKs", func() bool { return len(s.acked()) == 100 })
	d.stop(t)
	got := journal(t, data)
	for _, p := range s.acked() {
		if !got[string(p)] {
			t.Errorf("acknowledged reading %q missing", p)
		}
	}
	if st, err := os.Stat(filepath.Join(data, gateway.DBFile)); err != nil || st.Mode().Perm() != 0o600 {
		t.Errorf("database mode %v, %v", st.Mode(), err)
	}
}

// TestKillNineLosesNothingAcknowledged kills gatewayd with SIGKILL in the
// middle of a stream, restarts it, and checks that every reading whose ACK
// the sensor received is on disk.
func TestKillNineLosesNothingAcknowledged(t *testing.T) {
	data := filepath.Join(t.TempDir(), "data")
	for round := range 3 {
		d := startDaemon(t, data)
		s := newSensor(t, d.addr)
		stop := make(chan struct{})
		var wg sync.WaitGroup
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				if _, err := s.cl.SendData(10, []byte(fmt.Sprintf("k%d-%05d", round, i)), osp.FlagAckReq); err != nil {
					time.Sleep(time.Millisecond) // cache full: wait for ACKs
				}
			}
		}()
		waitFor(t, "some ACKs", func() bool { return len(s.acked()) >= 50 })
		d.kill()
		close(stop)
		wg.Wait()
		time.Sleep(50 * time.Millisecond) // ACKs in flight on loopback
		acked := s.acked()
		got := journal(t, data)
		for _, p := range acked {
			if !got[string(p)] {
				t.Errorf("round %d: acknowledged reading %q lost", round, p)
			}
		}
		t.Logf("round %d: %d acknowledged, %d journaled in all", round, len(acked), len(got))
	}
}
