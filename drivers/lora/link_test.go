package lora

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/edgegate/edgegate/gateway/osp"
)

// The OSP server is a Handler.
var _ Handler = (*osp.Server)(nil)

type handlerFunc func(pkt []byte, from osp.Peer) error

func (f handlerFunc) Handle(pkt []byte, from osp.Peer) error { return f(pkt, from) }

// fakeRadio is a Radio whose receptions the test feeds and whose
// transmissions it reads.
type fakeRadio struct {
	cfg  Config
	in   chan rxResult
	out  chan []byte
	onTx func([]byte) error // optional, runs in Transmit
}

type rxResult struct {
	p   Packet
	err error
}

func newFakeRadio(cfg Config) *fakeRadio {
	return &fakeRadio{cfg: cfg, in: make(chan rxResult), out: make(chan []byte, 64)}
}

func (f *fakeRadio) Receive(ctx context.Context) (Packet, error) {
	select {
	case <-ctx.Done():
		return Packet{}, ctx.Err()
	case r := <-f.in:
		return r.p, r.err
	}
}

func (f *fakeRadio) Transmit(_ context.Context, pkt []byte) error {
	var err error
	if f.onTx != nil {
		err = f.onTx(pkt)
	}
	f.out <- append([]byte(nil), pkt...)
	return err
}

func (f *fakeRadio) Config() Config { return f.cfg }

func (f *fakeRadio) packet(data string) {
	f.in <- rxResult{p: Packet{Data: []byte(data), RSSI: -80.5, SNR: 6.25}}
}

// manualClock is a Clock the test advances.
type manualClock struct {
	mu        sync.Mutex
	now       time.Time
	timers    []*manualTimer
	scheduled chan time.Duration
}

type manualTimer struct {
	c    *manualClock
	at   time.Time
	f    func()
	done bool
}

func newManualClock() *manualClock {
	return &manualClock{now: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), scheduled: make(chan time.Duration, 64)}
}

func (c *manualClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *manualClock) AfterFunc(d time.Duration, f func()) Timer {
	c.mu.Lock()
	t := &manualTimer{c: c, at: c.now.Add(d), f: f}
	c.timers = append(c.timers, t)
	c.mu.Unlock()
	c.scheduled <- d
	return t
}

func (c *manualClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	var due []func()
	for _, t := range c.timers {
		if !t.done && !t.at.After(c.now) {
			t.done = true
			due = append(due, t.f)
		}
	}
	c.mu.Unlock()
	for _, f := range due {
		f()
	}
}

func (t *manualTimer) Stop() bool {
	t.c.mu.Lock()
	defer t.c.mu.Unlock()
	was := !t.done
	t.done = true
	return was
}

// errLog collects OnError reports.
type errLog struct {
	mu   sync.Mutex
	errs []error
	pkts [][]byte
}

func (e *errLog) add(pkt []byte, err error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.errs = append(e.errs, err)
	e.pkts = append(e.pkts, append([]byte(nil), pkt...))
}

func (e *errLog) count(target error) int {
	e.mu.Lock()
	defer e.mu.Unlock()
	n := 0
	for _, err := range e.errs {
		if errors.Is(err, target) {
			n++
		}
	}
	return n
}

// run starts l.Run and returns a stop function that cancels it and returns
// its error.
func run(t *testing.T, l *Link, h Handler) (stop func() error) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- l.Run(ctx, h) }()
	var once sync.Once
	var err error
	stop = func() error {
		once.Do(func() {
			cancel()
			err = <-done
		})
		return err
	}
	t.Cleanup(func() { _ = stop() })
	return stop
}

func recv(t *testing.T, ch <-chan []byte) []byte {
	t.Helper()
	select {
	case p := <-ch:
		return p
	case <-time.After(10 * time.Second):
		t.Fatal("nothing transmitted")
		return nil
	}
}

// scheduled returns the delay of the next timer the link sets.
func scheduled(t *testing.T, c *manualClock) time.Duration {
	t.Helper()
	select {
	case d := <-c.scheduled:
		return d
	case <-time.After(10 * time.Second):
		t.Fatal("no timer set")
		return 0
	}
}

func TestLinkReceiveAndReply(t *testing.T) {
	radio := newFakeRadio(EU868())
	clock := newManualClock()
	l := New(radio, Options{Clock: clock})
	type seen struct {
		pkt       string
		rssi, snr float32
		name      string
		mtu       int
	}
	got := make(chan seen, 1)
	stop := run(t, l, handlerFunc(func(pkt []byte, from osp.Peer) error {
		p := from.(*Peer)
		rssi, snr := p.Signal()
		got <- seen{string(pkt), rssi, snr, p.String(), p.MTU()}
		return from.Send([]byte("pong"))
	}))
	radio.packet("ping")
	if s := <-got; s != (seen{"ping", -80.5, 6.25, "lora:868.1MHz/SF7", 255}) {
		t.Errorf("handled %+v", s)
	}
	if p := recv(t, radio.out); string(p) != "pong" {
		t.Errorf("sent %q, want pong", p)
	}
	if err := stop(); err != nil {
		t.Fatalf("Run: %v", err)
	}
	s := l.Stats()
	if s.Received != 1 || s.Sent != 1 || s.Queued != 0 || s.Airtime != TimeOnAir(EU868(), 4) {
		t.Errorf("stats %+v, want 1 received, 1 sent, %v airtime", s, TimeOnAir(EU868(), 4))
	}
	if got := l.String(); got != "lora:868.1MHz/SF7" {
		t.Errorf("String %q", got)
	}
	// After Run: refused.
	p := &Peer{link: l}
	if err := p.Send([]byte("late")); !errors.Is(err, ErrClosed) {
		t.Errorf("Send after Run = %v, want ErrClosed", err)
	}
}

func TestLinkCountsCRCErrorsAndHandlerErrors(t *testing.T) {
	radio := newFakeRadio(EU868())
	var log errLog
	l := New(radio, Options{Clock: newManualClock(), OnError: log.add})
	errBad := errors.New("osp: malformed")
	handled := make(chan struct{}, 1)
	stop := run(t, l, handlerFunc(func([]byte, osp.Peer) error {
		handled <- struct{}{}
		return errBad
	}))
	radio.in <- rxResult{err: ErrCRC}
	radio.in <- rxResult{err: ErrNoCRC}
	radio.packet("junk")
	<-handled
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	if s := l.Stats(); s.CRCErrors != 2 || s.Received != 1 {
		t.Errorf("stats %+v, want 2 CRC errors, 1 received", s)
	}
	if log.count(ErrCRC) != 2 || log.count(errBad) != 1 {
		t.Errorf("reported %v", log.errs)
	}
	if !bytes.Equal(log.pkts[2], []byte("junk")) {
		t.Errorf("handler error reported with %q", log.pkts[2])
	}
}

func TestLinkRadioFailureEndsRun(t *testing.T) {
	radio := newFakeRadio(EU868())
	l := New(radio, Options{Clock: newManualClock()})
	done := make(chan error, 1)
	go func() { done <- l.Run(context.Background(), handlerFunc(func([]byte, osp.Peer) error { return nil })) }()
	errSPI := errors.New("spi: device gone")
	radio.in <- rxResult{err: errSPI}
	err := <-done
	if !errors.Is(err, errSPI) || !strings.Contains(err.Error(), "lora:868.1MHz/SF7") {
		t.Fatalf("Run = %v, want the radio error, named", err)
	}
}

// TestLinkDutyCycleDrop fills the 1% budget of an hour (36 s) with SF12
// replies of 51 bytes (2.465792 s each): 14 fit (34.52 s), the 15th would
// have to wait about an hour, beyond MaxQueueDelay, so it is dropped.
func TestLinkDutyCycleDrop(t *testing.T) {
	cfg := EU868()
	cfg.SpreadingFactor = 12
	radio := newFakeRadio(cfg)
	var log errLog
	// MaxQueueDelay is above the 14 × 2.47 s the replies spend on air, so
	// only the duty cycle can drop one.
	l := New(radio, Options{Clock: newManualClock(), MaxQueueDelay: time.Minute, OnError: log.add})
	reply := bytes.Repeat([]byte{0xA5}, 51)
	errs := make(chan []error, 1)
	stop := run(t, l, handlerFunc(func(_ []byte, from osp.Peer) error {
		var e []error
		for range 15 {
			e = append(e, from.Send(reply))
		}
		errs <- e
		return nil
	}))
	radio.packet("burst")
	e := <-errs
	for i, err := range e[:14] {
		if err != nil {
			t.Fatalf("reply %d: %v", i, err)
		}
	}
	if !errors.Is(e[14], ErrDutyCycle) {
		t.Fatalf("reply 15: %v, want ErrDutyCycle", e[14])
	}
	for range 14 {
		recv(t, radio.out)
	}
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	s := l.Stats()
	if s.Sent != 14 || s.DutyCycleDrops != 1 || s.Queued != 0 || s.Airtime != 14*TimeOnAir(cfg, 51) {
		t.Errorf("stats %+v", s)
	}
	if log.count(ErrDutyCycle) != 1 || !bytes.Equal(log.pkts[0], reply) {
		t.Errorf("reported %v", log.errs)
	}
	if len(radio.out) != 0 {
		t.Error("the dropped reply was sent")
	}
}

// TestLinkReplyWaitsForDutyCycle: with a 100 s window at 1% (1 s of
// airtime), 24 SF7 replies of 10 bytes (41.216 ms each) go at once; the 25th
// waits until the first ones leave the window, then goes.
func TestLinkReplyWaitsForDutyCycle(t *testing.T) {
	radio := newFakeRadio(EU868())
	clock := newManualClock()
	var log errLog
	l := New(radio, Options{Clock: clock, DutyCycleWindow: 100 * time.Second, MaxQueue: 32, MaxQueueDelay: 200 * time.Second, OnError: log.add})
	sent := make(chan error, 1)
	stop := run(t, l, handlerFunc(func(_ []byte, from osp.Peer) error {
		var err error
		for i := range 25 {
			err = errors.Join(err, from.Send([]byte{byte(i), 1, 2, 3, 4, 5, 6, 7, 8, 9}))
		}
		sent <- err
		return nil
	}))
	radio.packet("go")
	if err := <-sent; err != nil {
		t.Fatal(err)
	}
	for i := range 24 {
		if p := recv(t, radio.out); p[0] != byte(i) {
			t.Fatalf("reply %d went out as %d", i, p[0])
		}
	}
	wait := scheduled(t, clock)
	// 24 × 41.216 ms = 989.184 ms; the 25th fits once 1.267 ms of each has
	// left the window: 100 s + 1.267 ms after they went.
	if wait < 100*time.Second || wait > 100*time.Second+2*time.Millisecond {
		t.Errorf("25th reply scheduled in %v, want just over 100 s", wait)
	}
	if s := l.Stats(); s.Queued != 1 || s.Sent != 24 || len(radio.out) != 0 {
		t.Fatalf("before the wait: %+v", s)
	}
	clock.Advance(wait)
	if p := recv(t, radio.out); p[0] != 24 {
		t.Fatalf("then %d went out", p[0])
	}
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	if s := l.Stats(); s.Sent != 25 || s.DutyCycleDrops != 0 || s.QueueDrops != 0 {
		t.Errorf("stats %+v", s)
	}
	if len(log.errs) != 0 {
		t.Errorf("reported %v", log.errs)
	}
}

// TestLinkQueueTimeout: a slow transmission (the clock jumps 31 s) makes the
// next reply exceed MaxQueueDelay (30 s): it is dropped, not sent late.
func TestLinkQueueTimeout(t *testing.T) {
	cfg := EU868()
	cfg.DutyCycle = 0
	radio := newFakeRadio(cfg)
	clock := newManualClock()
	radio.onTx = func([]byte) error { clock.Advance(31 * time.Second); return nil }
	var log errLog
	l := New(radio, Options{Clock: clock, OnError: log.add})
	stop := run(t, l, handlerFunc(func(_ []byte, from osp.Peer) error {
		return errors.Join(from.Send([]byte("one")), from.Send([]byte("two")))
	}))
	radio.packet("x")
	if p := recv(t, radio.out); string(p) != "one" {
		t.Fatalf("sent %q", p)
	}
	// Run drops "two" in the same pass; a packet round makes sure it did.
	radio.in <- rxResult{err: ErrCRC}
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	if s := l.Stats(); s.Sent != 1 || s.QueueDrops != 1 || s.DutyCycleDrops != 0 {
		t.Errorf("stats %+v", s)
	}
	if log.count(ErrQueueTimeout) != 1 || string(log.pkts[0]) != "two" {
		t.Errorf("reported %v", log.errs)
	}
}

// TestLinkQueueTooLong: replies that would wait behind others longer than
// MaxQueueDelay are refused at once (SF12: 2.47 s each, 30 s limit).
func TestLinkQueueTooLong(t *testing.T) {
	cfg := EU868()
	cfg.SpreadingFactor = 12
	cfg.DutyCycle = 0
	radio := newFakeRadio(cfg)
	var log errLog
	l := New(radio, Options{Clock: newManualClock(), OnError: log.add})
	errs := make(chan []error, 1)
	stop := run(t, l, handlerFunc(func(_ []byte, from osp.Peer) error {
		var e []error
		for range 14 {
			e = append(e, from.Send(make([]byte, 51)))
		}
		errs <- e
		return nil
	}))
	radio.packet("x")
	e := <-errs
	// 12 × 2.465792 s = 29.59 s ahead of the 13th: it may wait; the 14th
	// would wait 32.06 s.
	for i, err := range e {
		if want := i >= 13; errors.Is(err, ErrQueueTimeout) != want {
			t.Errorf("reply %d: %v", i, err)
		}
	}
	for range 13 {
		recv(t, radio.out)
	}
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	if s := l.Stats(); s.Sent != 13 || s.QueueDrops != 1 || s.DutyCycleDrops != 0 {
		t.Errorf("stats %+v", s)
	}
	if log.count(ErrQueueTimeout) != 1 {
		t.Errorf("reported %v", log.errs)
	}
}

func TestLinkQueueFull(t *testing.T) {
	cfg := EU868()
	cfg.DutyCycle = 0
	radio := newFakeRadio(cfg)
	var log errLog
	l := New(radio, Options{Clock: newManualClock(), MaxQueue: 2, OnError: log.add})
	errs := make(chan [3]error, 1)
	stop := run(t, l, handlerFunc(func(_ []byte, from osp.Peer) error {
		errs <- [3]error{from.Send([]byte("a")), from.Send([]byte("b")), from.Send([]byte("c"))}
		return nil
	}))
	radio.packet("x")
	e := <-errs
	if e[0] != nil || e[1] != nil || !errors.Is(e[2], ErrQueueFull) {
		t.Fatalf("Send errors %v, want nil nil ErrQueueFull", e)
	}
	recv(t, radio.out)
	recv(t, radio.out)
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	if s := l.Stats(); s.Sent != 2 || s.QueueDrops != 1 {
		t.Errorf("stats %+v", s)
	}
	if log.count(ErrQueueFull) != 1 {
		t.Errorf("reported %v", log.errs)
	}
}

// TestLinkSendWakesReceive: a reply from another goroutine (a session timer)
// interrupts the reception in progress.
func TestLinkSendWakesReceive(t *testing.T) {
	radio := newFakeRadio(EU868())
	l := New(radio, Options{Clock: newManualClock()})
	peers := make(chan osp.Peer, 1)
	run(t, l, handlerFunc(func(_ []byte, from osp.Peer) error {
		peers <- from
		return nil
	}))
	radio.packet("hello")
	p := <-peers
	if err := p.Send([]byte("later")); err != nil {
		t.Fatal(err)
	}
	if got := recv(t, radio.out); string(got) != "later" {
		t.Errorf("sent %q", got)
	}
}

func TestLinkTransmitErrorIsCounted(t *testing.T) {
	radio := newFakeRadio(EU868())
	errTx := errors.New("tx timeout")
	radio.onTx = func([]byte) error { return errTx }
	var log errLog
	l := New(radio, Options{Clock: newManualClock(), OnError: log.add})
	stop := run(t, l, handlerFunc(func(_ []byte, from osp.Peer) error { return from.Send([]byte("r")) }))
	radio.packet("x")
	recv(t, radio.out)
	radio.in <- rxResult{err: ErrCRC} // a round of the loop after the transmission
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	if s := l.Stats(); s.SendErrors != 1 || s.Sent != 0 {
		t.Errorf("stats %+v", s)
	}
	if log.count(errTx) != 1 {
		t.Errorf("reported %v", log.errs)
	}
}

func TestLinkShutdownDropsQueue(t *testing.T) {
	radio := newFakeRadio(EU868())
	clock := newManualClock()
	var log errLog
	l := New(radio, Options{Clock: clock, DutyCycleWindow: 100 * time.Second, MaxQueue: 32, MaxQueueDelay: 200 * time.Second, OnError: log.add})
	stop := run(t, l, handlerFunc(func(_ []byte, from osp.Peer) error {
		for range 25 {
			_ = from.Send(make([]byte, 10))
		}
		return nil
	}))
	radio.packet("x")
	scheduled(t, clock) // the 25th waits
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	if s := l.Stats(); s.Sent != 24 || s.QueueDrops != 1 || s.Queued != 0 {
		t.Errorf("stats %+v", s)
	}
	if log.count(ErrClosed) != 1 {
		t.Errorf("reported %v", log.errs)
	}
}

func TestPeerSendPacketSize(t *testing.T) {
	l := New(newFakeRadio(EU868()), Options{})
	p := &Peer{link: l}
	for _, n := range []int{0, 256} {
		if err := p.Send(make([]byte, n)); !errors.Is(err, ErrPacketSize) {
			t.Errorf("Send(%d bytes) = %v, want ErrPacketSize", n, err)
		}
	}
	if err := p.Send(make([]byte, 255)); err != nil {
		t.Errorf("Send(255 bytes) = %v", err)
	}
}
