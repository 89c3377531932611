package gateway

import (
	"context"
	"errors"
	"net"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/creack/pty"
	piondtls "github.com/pion/dtls/v3"

	"github.com/edgegate/edgegate/drivers/lora"
	"github.com/edgegate/edgegate/gateway/admin"
	"github.com/edgegate/edgegate/gateway/osp"
)

// dtlsPeer carries an OSP client's packets over a DTLS connection.
type dtlsPeer struct{ c *piondtls.Conn }

func (p dtlsPeer) Send(pkt []byte) error { _, err := p.c.Write(pkt); return err }

func dialDTLS(t *testing.T, addr net.Addr, identity string, key []byte) (*piondtls.Conn, error) {
	t.Helper()
	pc, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	c, err := piondtls.ClientWithOptions(pc, addr,
		piondtls.WithPSK(func([]byte) ([]byte, error) { return key, nil }),
		piondtls.WithPSKIdentityHint([]byte(identity)),
		piondtls.WithCipherSuites(piondtls.TLS_PSK_WITH_AES_128_CCM_8))
	if err != nil {
		pc.Close()
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	if err := c.HandshakeContext(ctx); err != nil {
		c.Close()
		return nil, err
	}
	t.Cleanup(func() { c.Close() })
	return c, nil
}

// dtlsSensor runs an OSP client for dev inside a DTLS connection.
func dtlsSensor(t *testing.T, c *piondtls.Conn, dev osp.DeviceID) *sensor {
	t.Helper()
	s := &sensor{t: t, ev: make(chan osp.ClientEvent, 256)}
	var err error
	s.cl, err = osp.NewClient(osp.ClientConfig{Device: dev, Security: secure(), Peer: dtlsPeer{c},
		OnEvent: func(e osp.ClientEvent) { s.ev <- e }})
	if err != nil {
		t.Fatal(err)
	}
	go pump(c, func(pkt []byte) { s.cl.Handle(pkt) })
	return s
}

func TestDTLSLinkWithPSKIdentities(t *testing.T) {
	dir := t.TempDir()
	r := startGateway(t, dir, "[osp.dtls]\nlisten = \"127.0.0.1:0\"\npsk = true\ncertificate = true\n")
	for _, m := range []uint32{42, 43} {
		r.add(admin.DeviceSpec{ID: admin.DeviceID{Type: 1, Module: m}, Secure: true, Key: testKey})
	}
	key := secure().Key

	c, err := dialDTLS(t, r.g.DTLSAddr(), "1:42", key)
	if err != nil {
		t.Fatal(err)
	}
	s := dtlsSensor(t, c, osp.DeviceID{Type: 1, Module: 42})
	s.open()
	s.sendAcked(10, []byte("over dtls"))
	rs, err := r.api.LastReadings(context.Background(), admin.DeviceID{Type: 1, Module: 42}, 1)
	if err != nil || len(rs) != 1 || !strings.HasPrefix(rs[0].Link, "dtls:") {
		t.Fatalf("reading over DTLS: %+v %v", rs, err)
	}

	// Authenticated as 1:42, a peer cannot open 1:43's session.
	c2, err := dialDTLS(t, r.g.DTLSAddr(), "1:42", key)
	if err != nil {
		t.Fatal(err)
	}
	other := dtlsSensor(t, c2, osp.DeviceID{Type: 1, Module: 43})
	other.cl.Connect()
	select {
	case e := <-other.ev:
		if e.Kind == osp.ClientOpened {
			t.Fatal("a DTLS peer opened another device's session")
		}
	case <-time.After(700 * time.Millisecond):
	}

	// A wrong key never completes the handshake.
	if _, err := dialDTLS(t, r.g.DTLSAddr(), "1:43", []byte("fedcba9876543210")); err == nil {
		t.Error("a wrong PSK was accepted")
	}
	// The certificate was generated and persisted, key private.
	if fi, err := os.Stat(dir + "/dtls-key.pem"); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("dtls key file: %v %v", fi, err)
	}
}

// ptyPeer writes an OSP client's packets to a pty master.
type ptyPeer struct {
	mu sync.Mutex
	f  *os.File
}

func (p *ptyPeer) Send(pkt []byte) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	_, err := p.f.Write(pkt)
	return err
}

func TestSerialLinkOverPTY(t *testing.T) {
	master, slave, err := pty.Open()
	if err != nil {
		t.Skipf("no pty: %v", err)
	}
	defer master.Close()
	path := slave.Name()
	slave.Close()
	r := startGateway(t, t.TempDir(), "[[osp.serial]]\npath = \""+path+"\"\nidle_timeout = \"100ms\"\n")
	r.add(admin.DeviceSpec{ID: admin.DeviceID{Type: 2, Module: 1}, Secure: true, Key: testKey, Profile: "thermo"})

	s := &sensor{t: t, ev: make(chan osp.ClientEvent, 256)}
	s.cl, err = osp.NewClient(osp.ClientConfig{Device: osp.DeviceID{Type: 2, Module: 1}, Security: secure(),
		Peer: &ptyPeer{f: master}, AckTimeout: time.Second, OnEvent: func(e osp.ClientEvent) { s.ev <- e }})
	if err != nil {
		t.Fatal(err)
	}
	go pumpStream(master, func(pkt []byte) { s.cl.Handle(pkt) })
	// The link opens the port asynchronously; connect until it answers.
	for i := 0; ; i++ {
		s.cl.Connect()
		select {
		case e := <-s.ev:
			if e.Kind != osp.ClientOpened {
				continue
			}
		case <-time.After(time.Second):
			if i < 5 {
				continue
			}
			t.Fatal("no session over the serial link")
		}
		break
	}
	master.Write([]byte{0xff, 0x13, 0x37}) // line noise before the next packet
	s.sendAcked(10, []byte{0x09, 0xc4, 0x01, 0xf4, 0x55})
	rs, err := r.api.LastReadings(context.Background(), admin.DeviceID{Type: 2, Module: 1}, 1)
	if err != nil || len(rs) != 1 || rs[0].Link != "serial:"+path || len(rs[0].Values) != 3 {
		t.Fatalf("reading over serial: %+v %v", rs, err)
	}
	st, err := r.api.Status(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	ls, ok := st.Links["serial:"+path].(map[string]any)
	if !ok || ls["DiscardedBytes"].(float64) < 3 || ls["PacketsIn"].(float64) < 2 || st.Board == "" {
		t.Errorf("status links %+v board %q", st.Links, st.Board)
	}
}

func TestLoRaWithoutARadioLeavesTheRestRunning(t *testing.T) {
	r := startGateway(t, t.TempDir(), "[osp.lora]\nenabled = true\n")
	r.add(admin.DeviceSpec{ID: admin.DeviceID{Type: 1, Module: 1}})
	s := newSensor(t, r.g.UDPAddr(), osp.DeviceID{Type: 1, Module: 1}, osp.Security{}, nil)
	s.open()
	s.sendAcked(1, []byte("udp still works"))
}

func TestLinkConfigErrors(t *testing.T) {
	for _, tc := range []struct{ toml, want string }{
		{"[[osp.serial]]\nbaud = 9600\n", "osp.serial[0]"},
		{"[[osp.serial]]\nusb = \"zz:1\"\n", "osp.serial[0]"},
		{"[[osp.serial]]\npath = \"/dev/ttyS0\"\nparity = \"mark\"\n", "osp.serial[0]"},
		{"[osp.dtls]\nlisten = \"127.0.0.1:4701\"\n", "psk = true or certificate = true"},
		{"[osp.dtls]\nlisten = \"nonsense\"\npsk = true\n", "osp.dtls.listen"},
		{"[osp.lora]\nenabled = true\nspreading_factor = 13\n", "osp.lora"},
		{"[osp.lora]\nenabled = true\nregion = \"us915\"\n", "only eu868"},
		{"[board]\nlora_hat = \"nosuch-hat\"\n", "lora_hat"},
	} {
		_, err := ParseConfig(strings.NewReader(tc.toml))
		if !errors.Is(err, ErrConfig) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: %v, want an error mentioning %q", tc.toml, err, tc.want)
		}
	}
	// A disabled radio is not validated.
	if _, err := ParseConfig(strings.NewReader("[osp.lora]\nspreading_factor = 13\n")); err != nil {
		t.Errorf("disabled lora: %v", err)
	}
}

// switchPeer sends through whichever peer is current.
type switchPeer struct {
	mu sync.Mutex
	p  osp.Peer
}

func (s *switchPeer) Send(pkt []byte) error {
	s.mu.Lock()
	p := s.p
	s.mu.Unlock()
	return p.Send(pkt)
}

func (s *switchPeer) set(p osp.Peer) {
	s.mu.Lock()
	s.p = p
	s.mu.Unlock()
}

// TestSessionFollowsItsSIDAcrossLinks opens a secure session over UDP and
// carries on over a serial line: the session is the same, and the gateway
// answers on the link the last authenticated packet came from.
func TestSessionFollowsItsSIDAcrossLinks(t *testing.T) {
	master, slave, err := pty.Open()
	if err != nil {
		t.Skipf("no pty: %v", err)
	}
	defer master.Close()
	path := slave.Name()
	slave.Close()
	r := startGateway(t, t.TempDir(), "[[osp.serial]]\npath = \""+path+"\"\n")
	r.add(admin.DeviceSpec{ID: admin.DeviceID{Type: 3, Module: 3}, Secure: true, Key: testKey})
	eventually(t, "the serial port open", func() bool {
		st, _ := r.api.Status(context.Background())
		ls, _ := st.Links["serial:"+path].(map[string]any)
		return ls != nil && ls["Open"] == true
	})

	udpConn, err := net.DialUDP("udp", nil, r.g.UDPAddr().(*net.UDPAddr))
	if err != nil {
		t.Fatal(err)
	}
	defer udpConn.Close()
	sp := &switchPeer{p: udpPeer{udpConn}}
	s := &sensor{t: t, ev: make(chan osp.ClientEvent, 256)}
	s.cl, err = osp.NewClient(osp.ClientConfig{Device: osp.DeviceID{Type: 3, Module: 3}, Security: secure(), Peer: sp,
		AckTimeout: time.Second, OnEvent: func(e osp.ClientEvent) { s.ev <- e }})
	if err != nil {
		t.Fatal(err)
	}
	go pump(udpConn, func(pkt []byte) { s.cl.Handle(pkt) })
	go pumpStream(master, func(pkt []byte) { s.cl.Handle(pkt) })
	s.open()
	sid := s.cl.SID()
	s.sendAcked(10, []byte("via udp"))
	sp.set(&ptyPeer{f: master})
	s.sendAcked(10, []byte("via serial"))
	if s.cl.SID() != sid {
		t.Fatalf("SID changed from %d to %d", sid, s.cl.SID())
	}
	rs, err := r.api.LastReadings(context.Background(), admin.DeviceID{Type: 3, Module: 3}, 2)
	if err != nil || len(rs) != 2 || rs[0].SID != sid || rs[1].SID != sid ||
		!strings.HasPrefix(rs[0].Link, "udp:") || rs[1].Link != "serial:"+path {
		t.Fatalf("readings %+v %v", rs, err)
	}
	sessions, _ := r.api.Sessions(context.Background())
	if len(sessions) != 1 || sessions[0].Link != "serial:"+path {
		t.Errorf("the session's return path did not move to the serial line: %+v", sessions)
	}
}

type udpPeer struct{ c *net.UDPConn }

func (p udpPeer) Send(pkt []byte) error { _, err := p.c.Write(pkt); return err }

// airRadio is a radio whose air is two channels: what sensors send arrives
// with a fixed signal quality, what the gateway transmits goes to them.
type airRadio struct {
	up   chan []byte
	down func([]byte)
}

func (a *airRadio) Receive(ctx context.Context) (lora.Packet, error) {
	select {
	case p := <-a.up:
		return lora.Packet{Data: p, RSSI: -97.5, SNR: 7.25}, nil
	case <-ctx.Done():
		return lora.Packet{}, ctx.Err()
	}
}

func (a *airRadio) Transmit(_ context.Context, pkt []byte) error {
	a.down(append([]byte(nil), pkt...))
	return nil
}

func (a *airRadio) Config() lora.Config {
	c := lora.EU868()
	c.DutyCycle = 0
	return c
}

type airPeer struct{ a *airRadio }

func (p airPeer) Send(pkt []byte) error { p.a.up <- append([]byte(nil), pkt...); return nil }

// TestRadioSignalKeptWithTheReading runs a sensor over a LoRa link (its
// radio faked behind the driver's Radio interface) and finds each
// reading's RSSI and SNR in the journal.
func TestRadioSignalKeptWithTheReading(t *testing.T) {
	r := startGateway(t, t.TempDir(), "")
	r.add(admin.DeviceSpec{ID: admin.DeviceID{Type: 4, Module: 1}, Secure: true, Key: testKey})
	air := &airRadio{up: make(chan []byte, 16)}
	s := &sensor{t: t, ev: make(chan osp.ClientEvent, 64)}
	var err error
	s.cl, err = osp.NewClient(osp.ClientConfig{Device: osp.DeviceID{Type: 4, Module: 1}, Security: secure(),
		Peer: airPeer{air}, OnEvent: func(e osp.ClientEvent) { s.ev <- e }})
	if err != nil {
		t.Fatal(err)
	}
	air.down = func(pkt []byte) { go s.cl.Handle(pkt) }
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	link := lora.New(air, lora.Options{})
	go link.Run(ctx, r.g.srv)
	s.open()
	s.sendAcked(10, []byte("over the air"))
	rs, err := r.api.LastReadings(context.Background(), admin.DeviceID{Type: 4, Module: 1}, 1)
	if err != nil || len(rs) != 1 || rs[0].RSSI != -97.5 || rs[0].SNR != 7.25 || !strings.HasPrefix(rs[0].Link, "lora") {
		t.Fatalf("reading over LoRa: %+v %v", rs, err)
	}
}
