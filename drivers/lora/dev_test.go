package lora

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/edgegate/edgegate/gateway/osp"
	"github.com/jonboulle/clockwork"
	"periph.io/x/conn/v3/conntest"
	"periph.io/x/conn/v3/gpio"
	"periph.io/x/conn/v3/gpio/gpiotest"
	"periph.io/x/conn/v3/physic"
	"periph.io/x/conn/v3/spi"
	"periph.io/x/conn/v3/spi/spitest"
)

// resetPin records the levels driven on NRESET.
type resetPin struct {
	gpiotest.Pin
	levels []gpio.Level
}

func (p *resetPin) Out(l gpio.Level) error {
	p.levels = append(p.levels, l)
	return p.Pin.Out(l)
}

// rig is a Dev on playback fakes.
type rig struct {
	port   *spitest.Playback
	reset  *resetPin
	dio0   *gpiotest.Pin // nil: polling
	clock  clockwork.FakeClock
	sleeps []time.Duration
}

// newRig prepares the fakes; edges selects a DIO0 pin with edge delivery.
func newRig(ops []conntest.IO, edges bool) *rig {
	r := &rig{
		port:  &spitest.Playback{Playback: conntest.Playback{Ops: ops, DontPanic: true}},
		reset: &resetPin{Pin: gpiotest.Pin{N: "RESET", Num: 17}},
	}
	if edges {
		r.clock = clockwork.NewFakeClock()
		r.dio0 = &gpiotest.Pin{N: "DIO0", Num: 4, EdgesChan: make(chan gpio.Level, 1), Clock: r.clock}
	}
	return r
}

func (r *rig) pins() Pins {
	p := Pins{Reset: r.reset}
	if r.dio0 != nil {
		p.DIO0 = r.dio0
	}
	return p
}

func (r *rig) open(t *testing.T, cfg Config) *Dev {
	t.Helper()
	d, err := Open(r.port, r.pins(), cfg, DevOptions{
		PollInterval: time.Microsecond,
		Sleep:        func(d time.Duration) { r.sleeps = append(r.sleeps, d) },
	})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	return d
}

// done checks that every recorded transaction was replayed.
func (r *rig) done(t *testing.T) {
	t.Helper()
	if err := r.port.Close(); err != nil {
		t.Fatal(err)
	}
}

func TestOpenEU868(t *testing.T) {
	r := newRig(recInitEU868, true)
	d := r.open(t, EU868())
	r.done(t)
	// §7.2.2: NRESET low (≥ 100 µs), released, 5 ms before use.
	if want := []gpio.Level{gpio.Low, gpio.High}; len(r.reset.levels) != 2 || r.reset.levels[0] != want[0] || r.reset.levels[1] != want[1] {
		t.Errorf("reset levels %v, want %v", r.reset.levels, want)
	}
	if len(r.sleeps) != 2 || r.sleeps[0] < 100*time.Microsecond || r.sleeps[1] < 5*time.Millisecond {
		t.Errorf("reset waits %v, want ≥100µs then ≥5ms", r.sleeps)
	}
	if !d.Interrupts() {
		t.Error("DIO0 with edges: want interrupts")
	}
	if got, want := d.String(), "sx127x:868.1MHz/SF7/125kHz/4/5"; got != want {
		t.Errorf("String %q, want %q", got, want)
	}
}

func TestOpen434SF12Plus20dBm(t *testing.T) {
	cfg := EU868()
	cfg.Frequency = 434 * physic.MegaHertz
	cfg.SpreadingFactor = 12
	cfg.CodingRate = CR4_8
	cfg.SyncWord = SyncWordLoRaWAN
	cfg.PreambleLength = 10
	cfg.TxPower = 20
	r := newRig(recInit434SF12, false)
	d := r.open(t, cfg)
	r.done(t)
	if d.Interrupts() {
		t.Error("no DIO0: want polling")
	}
}

func TestOpenWrongVersion(t *testing.T) {
	for _, tc := range []struct {
		name string
		ops  []conntest.IO
		want string
	}{
		{"SX1272", recWrongVersion, "reads 0x22, want 0x12"},
		{"nothing", recNoChip, "reads 0x00, want 0x12"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := newRig(tc.ops, false)
			_, err := Open(r.port, r.pins(), EU868(), DevOptions{Sleep: func(time.Duration) {}})
			if !errors.Is(err, ErrVersion) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Open: %v, want ErrVersion %q", err, tc.want)
			}
			r.done(t)
		})
	}
}

func TestOpenRejectsInvalidConfig(t *testing.T) {
	r := newRig(nil, false)
	cfg := EU868()
	cfg.SpreadingFactor = 6
	if _, err := Open(r.port, r.pins(), cfg, DevOptions{}); !errors.Is(err, ErrConfig) {
		t.Fatalf("Open(SF6) = %v, want ErrConfig", err)
	}
	if len(r.reset.levels) != 0 {
		t.Error("an invalid config must not touch the hardware")
	}
}

func TestReceiveOnDIO0Edges(t *testing.T) {
	r := newRig(seq(recInitEU868, recRxHello, recRxWeak), true)
	d := r.open(t, EU868())
	ctx := context.Background()

	r.dio0.EdgesChan <- gpio.High // RxDone
	p, err := d.Receive(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if string(p.Data) != "hello" || p.RSSI != -67 || p.SNR != 7.5 {
		t.Errorf("packet %q RSSI %v SNR %v, want \"hello\" -67 7.5", p.Data, p.RSSI, p.SNR)
	}

	r.dio0.EdgesChan <- gpio.High // the next RxDone
	p, err = d.Receive(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if string(p.Data) != "\x01\x02\x03" || p.RSSI != -149.5 || p.SNR != -2.5 {
		t.Errorf("packet %x RSSI %v SNR %v, want 010203 -149.5 -2.5", p.Data, p.RSSI, p.SNR)
	}
	r.done(t)
}

func TestReceivePolling(t *testing.T) {
	r := newRig(seq(recInitEU868, recPollIdle, recPollIdle, recRxHello), false)
	d := r.open(t, EU868())
	p, err := d.Receive(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if string(p.Data) != "hello" {
		t.Errorf("packet %q", p.Data)
	}
	r.done(t)
}

func TestReceiveCRCErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		ops  []conntest.IO
		want error
	}{
		{"PayloadCrcError", recRxCRCError, ErrCRC},
		{"CrcOnPayload=0", recRxNoCRC, ErrNoCRC},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := newRig(seq(recInitEU868, tc.ops), true)
			d := r.open(t, EU868())
			r.dio0.EdgesChan <- gpio.High
			_, err := d.Receive(context.Background())
			if !errors.Is(err, tc.want) || !errors.Is(err, ErrCRC) {
				t.Fatalf("Receive: %v, want %v (an ErrCRC)", err, tc.want)
			}
			r.done(t)
		})
	}
}

func TestReceiveContextDone(t *testing.T) {
	r := newRig(recInitEU868, true)
	d := r.open(t, EU868())
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() {
		_, err := d.Receive(ctx)
		errc <- err
	}()
	r.clock.BlockUntil(1) // Receive waits for DIO0
	cancel()
	r.clock.Advance(time.Second) // the wait times out and sees ctx done
	if err := <-errc; !errors.Is(err, context.Canceled) {
		t.Fatalf("Receive: %v, want context.Canceled", err)
	}
	r.done(t) // and no register was touched
}

func TestTransmitOnDIO0Edges(t *testing.T) {
	r := newRig(seq(recInitEU868, recTxHello, recTxDone), true)
	d := r.open(t, EU868())
	r.dio0.EdgesChan <- gpio.High // TxDone, taken once TX mode is set
	if err := d.Transmit(context.Background(), pktHello); err != nil {
		t.Fatal(err)
	}
	r.done(t)
}

func TestTransmitPolling(t *testing.T) {
	r := newRig(seq(recInitEU868, recTxHello, recPollIdle, recTxDone), false)
	d := r.open(t, EU868())
	if err := d.Transmit(context.Background(), pktHello); err != nil {
		t.Fatal(err)
	}
	r.done(t)
}

func TestTransmitPacketSize(t *testing.T) {
	r := newRig(recInitEU868, false)
	d := r.open(t, EU868())
	for _, n := range []int{0, MaxPayload + 1} {
		if err := d.Transmit(context.Background(), make([]byte, n)); !errors.Is(err, ErrPacketSize) {
			t.Errorf("Transmit(%d bytes) = %v, want ErrPacketSize", n, err)
		}
	}
	r.done(t) // nothing sent
}

func TestHaltAndResume(t *testing.T) {
	r := newRig(seq(recInitEU868, recHalt, recResume, recPollIdle, recRxHello), false)
	d := r.open(t, EU868())
	if err := d.Halt(); err != nil {
		t.Fatal(err)
	}
	if _, err := d.Receive(context.Background()); err != nil {
		t.Fatal(err)
	}
	r.done(t)
}

func TestPacketSignal(t *testing.T) {
	for _, tc := range []struct {
		rssi, snr byte
		hf        bool
		wantRSSI  float32
		wantSNR   float32
	}{
		{0x5A, 0x1E, true, -67, 7.5},     // −157 + 90; 30/4
		{0x5A, 0x1E, false, -74, 7.5},    // LF port: −164 + 90
		{0x00, 0x00, true, -157, 0},      // SNR 0 is not "below the noise floor"
		{0x0A, 0xF6, true, -149.5, -2.5}, // SNR −10/4: −157 + 10 − 2.5
		{0x0A, 0xF6, false, -156.5, -2.5},
		{0x14, 0xB0, true, -157, -20}, // SNR 0xB0 = −80 → −20 dB: −157 + 20 − 20
		{0xFF, 0x7F, true, 98, 31.75}, // register extremes
		{0x00, 0x80, true, -189, -32}, // −128/4
		{0x64, 0xFF, true, -57.25, -0.25},
	} {
		rssi, snr := packetSignal(tc.rssi, tc.snr, tc.hf)
		if rssi != tc.wantRSSI || snr != tc.wantSNR {
			t.Errorf("packetSignal(0x%02X, 0x%02X, hf=%v) = %v dBm, %v dB; want %v, %v",
				tc.rssi, tc.snr, tc.hf, rssi, snr, tc.wantRSSI, tc.wantSNR)
		}
	}
}

// tapPort is a Playback port that reports each transaction on tx.
type tapPort struct {
	*spitest.Playback
	tx chan struct{}
}

func (p *tapPort) Connect(f physic.Frequency, mode spi.Mode, bits int) (spi.Conn, error) {
	c, err := p.Playback.Connect(f, mode, bits)
	return &tapConn{Conn: c, tx: p.tx}, err
}

type tapConn struct {
	spi.Conn
	tx chan struct{}
}

func (c *tapConn) Tx(w, r []byte) error {
	err := c.Conn.Tx(w, r)
	c.tx <- struct{}{}
	return err
}

// TestLinkOverDev runs a Link on the playback radio: a packet comes in on a
// DIO0 edge, the handler answers, the reply goes out and reception resumes.
func TestLinkOverDev(t *testing.T) {
	ops := seq(recInitEU868, recRxHello, recTxHello, recTxDone)
	r := newRig(ops, true)
	tap := &tapPort{Playback: r.port, tx: make(chan struct{}, len(ops))}
	d, err := Open(tap, r.pins(), EU868(), DevOptions{Sleep: func(time.Duration) {}})
	if err != nil {
		t.Fatal(err)
	}
	for range recInitEU868 {
		<-tap.tx
	}
	l := New(d, Options{})
	var got []byte
	var rssi, snr float32
	h := handlerFunc(func(pkt []byte, from osp.Peer) error {
		got = append([]byte(nil), pkt...)
		rssi, snr = from.(*Peer).Signal()
		return from.Send(pkt) // echo
	})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- l.Run(ctx, h) }()
	go func() {
		r.dio0.EdgesChan <- gpio.High // RxDone
		r.dio0.EdgesChan <- gpio.High // TxDone
	}()
	for range len(ops) - len(recInitEU868) {
		select {
		case <-tap.tx:
		case <-time.After(10 * time.Second):
			t.Fatalf("stuck after %d transactions", r.port.Count)
		}
	}
	// Every transaction replayed: stop the link. Receive is waiting for an
	// edge on the fake clock; advance it until Run notices.
	cancel()
	for stopped := false; !stopped; {
		select {
		case err := <-done:
			if err != nil {
				t.Fatal(err)
			}
			stopped = true
		default:
			r.clock.Advance(time.Second)
		}
	}
	r.done(t)
	if string(got) != "hello" || rssi != -67 || snr != 7.5 {
		t.Errorf("handled %q at %v dBm %v dB", got, rssi, snr)
	}
	if s := l.Stats(); s.Received != 1 || s.Sent != 1 || s.Queued != 0 {
		t.Errorf("stats %+v", s)
	}
}
