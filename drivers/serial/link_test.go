package serial

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/creack/pty"

	"github.com/edgegate/edgegate/gateway/osp"
)

// The link tests run the real opener (go.bug.st/serial.Open, raw mode, speed
// and framing) on the slave side of a pseudo-terminal, and play the sensor on
// the master side. They wait on channels with a deadline, never a fixed sleep,
// except where a pause on the line is the point of the test.

const waitFor = 5 * time.Second

// checkGoroutines fails the test if goroutines it started outlive it. Call it
// first, so that its cleanup runs last.
func checkGoroutines(t *testing.T) {
	t.Helper()
	base := runtime.NumGoroutine()
	t.Cleanup(func() {
		deadline := time.Now().Add(2 * time.Second)
		for runtime.NumGoroutine() > base {
			if time.Now().After(deadline) {
				buf := make([]byte, 1<<16)
				t.Errorf("%d goroutines left, %d before:\n%s", runtime.NumGoroutine(), base, buf[:runtime.Stack(buf, true)])
				return
			}
			time.Sleep(5 * time.Millisecond)
		}
	})
}

// newPTY returns a pseudo-terminal's master, its slave, and the slave's
// path. Everything is closed at cleanup.
//
// creack/pty leaves the master in blocking mode (its ioctls go through
// File.Fd), where Close cannot interrupt a Read blocked in another goroutine
// and the descriptor stays open until that Read returns: the line would never
// hang up. So the master is duplicated into a non-blocking descriptor, which
// os.NewFile registers with the runtime poller.
func newPTY(t *testing.T) (master, slave *os.File, path string) {
	t.Helper()
	m, s, err := openPTY()
	if err != nil {
		t.Skipf("no pseudo-terminals here: %v", err)
	}
	t.Cleanup(func() { m.Close(); s.Close() })
	return m, s, s.Name()
}

func openPTY() (master, slave *os.File, err error) {
	m, s, err := pty.Open()
	if err != nil {
		return nil, nil, err
	}
	fd, err := syscall.Dup(int(m.Fd()))
	m.Close()
	if err == nil {
		if err = syscall.SetNonblock(fd, true); err != nil {
			syscall.Close(fd)
		}
	}
	if err != nil {
		s.Close()
		return nil, nil, err
	}
	return os.NewFile(uintptr(fd), "ptmx"), s, nil
}

// readMaster frames what the link writes to the line, until the master is
// closed.
func readMaster(m *os.File) <-chan []byte {
	ch := make(chan []byte, 256)
	go func() {
		defer close(ch)
		f := NewFramer(FramerConfig{})
		buf := make([]byte, 4096)
		for {
			n, err := m.Read(buf)
			f.Feed(time.Now(), buf[:n], func(p []byte) { ch <- bytes.Clone(p) })
			if err != nil {
				return
			}
		}
	}()
	return ch
}

// sink is a Handler that passes copies of the packets on, and optionally
// echoes them to their Peer.
type sink struct {
	ch   chan []byte
	echo bool
	err  error
	peer atomic.Value // the last osp.Peer
}

func newSink() *sink { return &sink{ch: make(chan []byte, 256)} }

func (s *sink) Handle(pkt []byte, from osp.Peer) error {
	s.peer.Store(from)
	s.ch <- bytes.Clone(pkt)
	if s.echo {
		if err := from.Send(pkt); err != nil {
			return err
		}
	}
	return s.err
}

// recorder collects a link's callbacks.
type recorder struct {
	events chan Event
	mu     sync.Mutex
	errs   []error
}

func newRecorder() *recorder { return &recorder{events: make(chan Event, 1024)} }

func (r *recorder) options(o Options) Options {
	o.OnState = func(e Event) { r.events <- e }
	o.OnError = func(data []byte, err error) {
		r.mu.Lock()
		r.errs = append(r.errs, fmt.Errorf("% x: %w", data, err))
		r.mu.Unlock()
	}
	return o
}

func (r *recorder) errors() []error {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]error(nil), r.errs...)
}

// next returns the next event, failing the test after waitFor.
func (r *recorder) next(t *testing.T) Event {
	t.Helper()
	select {
	case e := <-r.events:
		return e
	case <-time.After(waitFor):
		t.Fatal("no link event")
		return Event{}
	}
}

// start runs l until the test ends, and checks Run returns nil then.
func start(t *testing.T, l *Link, h Handler) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- l.Run(ctx, h) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Run returned %v", err)
			}
		case <-time.After(waitFor):
			t.Error("Run did not return after cancel")
		}
	})
}

func receive(t *testing.T, ch <-chan []byte, want ...[]byte) {
	t.Helper()
	for i, w := range want {
		select {
		case got := <-ch:
			if !bytes.Equal(got, w) {
				t.Fatalf("packet %d: % x, want % x", i, got, w)
			}
		case <-time.After(waitFor):
			t.Fatalf("packet %d (% x) not received", i, w)
		}
	}
}

func noMore(t *testing.T, ch <-chan []byte) {
	t.Helper()
	select {
	case got := <-ch:
		t.Fatalf("unexpected packet % x", got)
	default:
	}
}

// eventually polls cond until it holds or waitFor passes.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(waitFor)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("never: %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

func TestLinkOverPTY(t *testing.T) {
	// Pauses of 3 ms must stay well below the idle timeout even on a loaded
	// machine; the long pause is three times it.
	const idle = 150 * time.Millisecond
	connect := plain(t, 0, 1, osp.TypeConnect, 0, 10, 0)
	data := sealed(t, 0x1234, 7, osp.TypeData, osp.FlagAckReq, 40)
	big := plain(t, 0x1234, 8, osp.TypeData, 0, 700, 0)
	ping := plain(t, 0x1234, 9, osp.TypePingReq, 0, 0, 0)
	type write struct {
		pause time.Duration // before the write
		b     []byte
	}
	short, long := 3*time.Millisecond, 3*idle
	// Noise in which no offset starts a valid header, so the outcome is
	// exact. (Text does not qualify: in "boot v1.2" the bytes "ot v1." are
	// a CONNECT header announcing 46 bytes.)
	inert := []byte{0xff, 0xfe, 0x00, 0x0d, 0x0a, 0x0b, 0xf3, 0x9a, 0x00, 0x00, 0xa5, 0x0d, 0x0a, 0x00}
	tests := []struct {
		name          string
		writes        []write
		want          [][]byte
		bytes, frames uint64
		reason        error // of the OnError reports expected, if any
	}{
		{name: "back to back in one write", writes: []write{{0, cat(connect, data, big, ping)}},
			want: [][]byte{connect, data, big, ping}},
		{name: "split across writes with pauses", writes: []write{
			{0, data[:2]}, {short, data[2:5]}, {short, data[5:30]}, {short, cat(data[30:], big[:1])},
			{short, big[1:6]}, {short, big[6:400]}, {short, cat(big[400:], ping)},
		}, want: [][]byte{data, big, ping}},
		{name: "garbage injected", writes: []write{
			{0, cat(inert, connect)}, {short, cat(data, []byte{0xf0, 0xf1, 0xf2})}, {short, ping},
		}, want: [][]byte{connect, data, ping}, bytes: 17, reason: ErrGarbage},
		{name: "truncated packet then a good one after the idle timeout", writes: []write{
			{0, cat(ping, big[:300])}, {long, data},
		}, want: [][]byte{ping, data}, bytes: 300, frames: 1, reason: ErrCutShort},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			checkGoroutines(t)
			m, _, path := newPTY(t)
			rec := newRecorder()
			l := New(Config{Path: path, IdleTimeout: idle}, rec.options(Options{}))
			s := newSink()
			start(t, l, s)
			if e := rec.next(t); e.State != StateUp || e.Path != path || e.Err != nil {
				t.Fatalf("first event %+v", e)
			}
			for _, w := range tc.writes {
				time.Sleep(w.pause)
				if _, err := m.Write(w.b); err != nil {
					t.Fatal(err)
				}
			}
			receive(t, s.ch, tc.want...)
			eventually(t, fmt.Sprintf("%d bytes and %d frames discarded", tc.bytes, tc.frames), func() bool {
				st := l.Stats()
				return st.DiscardedBytes == tc.bytes && st.DiscardedFrames == tc.frames
			})
			noMore(t, s.ch)
			var in uint64
			for _, w := range tc.writes {
				in += uint64(len(w.b))
			}
			st := l.Stats()
			if st.BytesIn != in || st.PacketsIn != uint64(len(tc.want)) || !st.Open || st.Path != path || st.Reopens != 0 {
				t.Errorf("stats %+v, wrote %d bytes", st, in)
			}
			errs := rec.errors()
			if (tc.reason == nil) != (len(errs) == 0) {
				t.Errorf("OnError reports %v, want %v", errs, tc.reason)
			}
			for _, err := range errs {
				if !errors.Is(err, tc.reason) || !strings.Contains(err.Error(), "serial:"+path+": ") {
					t.Errorf("report %q: want %v naming the link", err, tc.reason)
				}
			}
			if p, _ := s.peer.Load().(osp.Peer); p != l.Peer() || l.Peer().String() != "serial:"+path || l.Name() != "serial:"+path {
				t.Errorf("peer %v, name %q", p, l.Name())
			}
		})
	}
}

// TestLinkReplies: packets sent through the Peer reach the line one whole
// packet each, in order, while the link reads.
func TestLinkReplies(t *testing.T) {
	checkGoroutines(t)
	m, _, path := newPTY(t)
	rec := newRecorder()
	l := New(Config{Path: path, MTU: 512}, rec.options(Options{}))
	s := newSink()
	s.echo = true
	start(t, l, s)
	rec.next(t)
	replies := readMaster(m)
	var sent [][]byte
	for i := range 50 {
		p := plain(t, 0x42, uint16(i+1), osp.TypeData, osp.FlagAckReq, i*9, byte(i))
		sent = append(sent, p)
		if _, err := m.Write(p); err != nil {
			t.Fatal(err)
		}
	}
	receive(t, s.ch, sent...)
	receive(t, replies, sent...)
	eventually(t, "50 packets sent", func() bool { return l.Stats().PacketsOut == 50 })
	if st := l.Stats(); st.PacketsOut != 50 || st.BytesOut != st.BytesIn || st.WriteErrors != 0 || st.HandlerErrors != 0 {
		t.Fatalf("stats %+v", st)
	}
	// A reply above the MTU is refused before it reaches the line.
	if err := l.Peer().Send(make([]byte, 513)); !errors.Is(err, osp.ErrTooLarge) {
		t.Fatalf("Send above the MTU: %v", err)
	}
	if l.Peer().MTU() != 512 || l.Stats().WriteErrors != 1 {
		t.Fatalf("MTU %d, stats %+v", l.Peer().MTU(), l.Stats())
	}
}

// TestLinkReopensAfterHangup unplugs and replugs a USB adapter: the match
// resolves to nothing for a while (every failed open reported), then to a new
// pseudo-terminal; the link carries on there, in both directions.
func TestLinkReopensAfterHangup(t *testing.T) {
	checkGoroutines(t)
	m1, s1, path1 := newPTY(t)
	var present atomic.Value // the slave path the "USB adapter" has, "" when unplugged
	present.Store(path1)
	rec := newRecorder()
	usb := &USBMatch{VID: 0x10c4, PID: 0xea60, Serial: "0001"}
	l := New(Config{USB: usb, IdleTimeout: 50 * time.Millisecond},
		rec.options(Options{BackoffMin: time.Millisecond, BackoffMax: 16 * time.Millisecond}))
	l.list = func() ([]PortInfo, error) {
		p := []PortInfo{{Name: "/dev/ttyAMA0"}, {Name: "/dev/ttyUSB9", IsUSB: true, VID: 0x10c4, PID: 0xea60, SerialNumber: "0002"}}
		if path := present.Load().(string); path != "" {
			p = append(p, PortInfo{Name: path, IsUSB: true, VID: 0x10c4, PID: 0xea60, SerialNumber: "0001"})
		}
		return p, nil
	}
	s := newSink()
	s.echo = true
	start(t, l, s)
	if e := rec.next(t); e.State != StateUp || e.Path != path1 {
		t.Fatalf("first event %+v", e)
	}
	replies := readMaster(m1)
	one := plain(t, 7, 1, osp.TypeData, 0, 20, 1)
	if _, err := m1.Write(cat(one, one[:10])); err != nil { // the second is cut by the unplug
		t.Fatal(err)
	}
	receive(t, s.ch, one)
	receive(t, replies, one)
	eventually(t, "the cut packet read", func() bool { return l.Stats().BytesIn == uint64(len(one)+10) })

	// Unplug: the adapter disappears, the line hangs up.
	present.Store("")
	m1.Close()
	s1.Close()
	e := rec.next(t)
	if e.State != StateDown || e.Path != path1 || e.Err == nil || e.Failures != 0 {
		t.Fatalf("hang-up event %+v", e)
	}
	for i := 1; i <= 3; i++ {
		e := rec.next(t)
		if e.State != StateDown || !errors.Is(e.Err, ErrNoPort) || e.Failures != i || e.Retry <= 0 || e.Path != "" {
			t.Fatalf("failed open %d: %+v", i, e)
		}
		if !strings.Contains(e.Err.Error(), "serial:usb:10c4:ea60:0001: ") {
			t.Fatalf("failed open %d does not name the link: %v", i, e.Err)
		}
	}
	if err := l.Peer().Send(one); !errors.Is(err, ErrPortDown) {
		t.Fatalf("Send while unplugged: %v", err)
	}

	// Replug: a new device path.
	m2, _, path2 := newPTY(t)
	present.Store(path2)
	for e = rec.next(t); e.State == StateDown; e = rec.next(t) {
		if !errors.Is(e.Err, ErrNoPort) {
			t.Fatalf("unexpected failure %+v", e)
		}
	}
	if e.State != StateUp || e.Path != path2 {
		t.Fatalf("replug event %+v", e)
	}
	replies = readMaster(m2)
	two := plain(t, 7, 2, osp.TypeData, 0, 30, 2)
	if _, err := m2.Write(two); err != nil {
		t.Fatal(err)
	}
	receive(t, s.ch, two)
	receive(t, replies, two)
	// The reply can reach the master before Send counts it.
	eventually(t, "two packets sent", func() bool { return l.Stats().PacketsOut == 2 })
	st := l.Stats()
	if st.Reopens != 1 || st.OpenFailures < 3 || st.Path != path2 || !st.Open || st.WriteErrors != 1 || st.PacketsIn != 2 || st.PacketsOut != 2 {
		t.Fatalf("stats %+v", st)
	}
	// The packet cut by the unplug was flushed when the port was lost.
	if st.DiscardedFrames != 1 || st.DiscardedBytes != 10 {
		t.Fatalf("the cut packet was not discarded: %+v", st)
	}
	if l.Name() != "serial:usb:10c4:ea60:0001" || l.Peer().String() != l.Name() {
		t.Fatalf("name %q, peer %q", l.Name(), l.Peer())
	}
}

// fakePort is a port whose reads come from a channel and whose writes are
// recorded, each call on its own.
type fakePort struct {
	in       chan []byte
	closed   chan struct{}
	once     sync.Once
	inflight atomic.Int32
	mu       sync.Mutex
	writes   [][]byte
	overlap  bool
}

func newFakePort() *fakePort { return &fakePort{in: make(chan []byte), closed: make(chan struct{})} }

func (p *fakePort) Read(b []byte) (int, error) {
	select {
	case d := <-p.in:
		return copy(b, d), nil
	case <-p.closed:
		return 0, io.EOF
	}
}

func (p *fakePort) Write(b []byte) (int, error) {
	if p.inflight.Add(1) > 1 {
		p.overlap = true
	}
	defer p.inflight.Add(-1)
	runtime.Gosched() // give an unserialised writer the chance to overlap
	p.mu.Lock()
	p.writes = append(p.writes, bytes.Clone(b))
	p.mu.Unlock()
	return len(b), nil
}

func (p *fakePort) SetReadTimeout(time.Duration) error { return nil }

func (p *fakePort) Close() error {
	p.once.Do(func() { close(p.closed) })
	return nil
}

// TestPeerSendOneWrite: concurrent sends never interleave; every write call
// carries exactly one whole packet.
func TestPeerSendOneWrite(t *testing.T) {
	checkGoroutines(t)
	fp := newFakePort()
	rec := newRecorder()
	l := New(Config{Path: "/dev/fake"}, rec.options(Options{}))
	l.open = func(context.Context) (port, string, error) { return fp, "/dev/fake", nil }
	start(t, l, newSink())
	rec.next(t)
	const senders, each = 8, 40
	var wg sync.WaitGroup
	for g := range senders {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				p := plain(t, uint16(g), uint16(i+1), osp.TypeCommand, 0, 5+i, byte(g))
				if err := l.Peer().Send(p); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	fp.mu.Lock()
	defer fp.mu.Unlock()
	if len(fp.writes) != senders*each || fp.overlap {
		t.Fatalf("%d writes (overlapping: %v), want %d", len(fp.writes), fp.overlap, senders*each)
	}
	var n uint64
	for _, w := range fp.writes {
		if _, err := osp.Decode(w); err != nil {
			t.Fatalf("a write is not one packet: % x: %v", w, err)
		}
		n += uint64(len(w))
	}
	if st := l.Stats(); st.PacketsOut != senders*each || st.BytesOut != n {
		t.Fatalf("stats %+v", st)
	}
}

// TestLinkBackoff: failed opens are retried with doubling waits up to the
// cap, each reported; a port that stays open for the cap resets the wait.
func TestLinkBackoff(t *testing.T) {
	checkGoroutines(t)
	rec := newRecorder()
	l := New(Config{Path: "/dev/fake"}, rec.options(Options{BackoffMin: time.Millisecond, BackoffMax: 8 * time.Millisecond}))
	var opens atomic.Int32
	ports := make(chan *fakePort, 2)
	gone := fmt.Errorf("open /dev/fake: %w", os.ErrNotExist)
	l.open = func(context.Context) (port, string, error) {
		if n := opens.Add(1); n <= 6 || n == 8 {
			return nil, "/dev/fake", gone
		}
		fp := newFakePort()
		ports <- fp
		return fp, "/dev/fake", nil
	}
	start(t, l, newSink())
	for i, want := range []time.Duration{1, 2, 4, 8, 8, 8} {
		e := rec.next(t)
		if e.State != StateDown || e.Failures != i+1 || e.Retry != want*time.Millisecond || !errors.Is(e.Err, os.ErrNotExist) || e.Path != "/dev/fake" {
			t.Fatalf("attempt %d: %+v, want a retry in %v", i+1, e, want*time.Millisecond)
		}
	}
	if e := rec.next(t); e.State != StateUp {
		t.Fatalf("after the failures: %+v", e)
	}
	fp := <-ports
	// Stay open for the cap, so the lost port is retried at the minimum
	// again.
	time.Sleep(10 * time.Millisecond)
	fp.Close()
	if e := rec.next(t); e.State != StateDown || e.Failures != 0 || e.Retry != time.Millisecond || !errors.Is(e.Err, io.EOF) {
		t.Fatalf("lost port: %+v", e)
	}
	if e := rec.next(t); e.State != StateDown || e.Failures != 1 || e.Retry != 2*time.Millisecond {
		t.Fatalf("failed reopen: %+v", e)
	}
	if e := rec.next(t); e.State != StateUp {
		t.Fatalf("reopen: %+v", e)
	}
	<-ports
	if st := l.Stats(); st.Reopens != 1 || st.OpenFailures != 7 {
		t.Fatalf("stats %+v", st)
	}
}

// TestLinkRunStopsWhileRetrying: cancelling ends Run during a backoff wait.
func TestLinkRunStopsWhileRetrying(t *testing.T) {
	checkGoroutines(t)
	rec := newRecorder()
	l := New(Config{Path: "/nonexistent/tty"}, rec.options(Options{BackoffMin: time.Hour}))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- l.Run(ctx, newSink()) }()
	e := rec.next(t)
	if e.State != StateDown || !errors.Is(e.Err, os.ErrNotExist) || e.Retry != time.Hour || !strings.Contains(e.Err.Error(), "/nonexistent/tty") {
		t.Fatalf("event %+v", e)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(waitFor):
		t.Fatal("Run did not return")
	}
}

func TestLinkRunErrors(t *testing.T) {
	checkGoroutines(t)
	ctx := context.Background()
	if err := New(Config{Path: "x", Baud: -1}, Options{}).Run(ctx, newSink()); !errors.Is(err, ErrConfig) || !strings.Contains(err.Error(), "Baud -1") {
		t.Errorf("invalid config: %v", err)
	}
	if err := New(Config{Path: "x"}, Options{}).Run(ctx, nil); !errors.Is(err, ErrConfig) {
		t.Errorf("nil handler: %v", err)
	}
	rec := newRecorder()
	l := New(Config{Path: "/nonexistent/tty"}, rec.options(Options{BackoffMin: time.Hour}))
	start(t, l, newSink())
	rec.next(t)
	if err := l.Run(ctx, newSink()); !errors.Is(err, ErrRunning) {
		t.Errorf("second Run: %v", err)
	}
}

func TestSendPortDown(t *testing.T) {
	l := New(Config{Path: "/dev/ttyUSB0"}, Options{})
	err := l.Peer().Send(plain(t, 1, 1, osp.TypePingReq, 0, 0, 0))
	if !errors.Is(err, ErrPortDown) || !strings.Contains(err.Error(), "serial:/dev/ttyUSB0") {
		t.Fatalf("Send: %v", err)
	}
	if st := l.Stats(); st.WriteErrors != 1 || st.Open || st.PacketsOut != 0 {
		t.Fatalf("stats %+v", st)
	}
}

func TestHandlerErrorsReported(t *testing.T) {
	checkGoroutines(t)
	fp := newFakePort()
	rec := newRecorder()
	l := New(Config{Path: "/dev/fake"}, rec.options(Options{Name: "uart0"}))
	l.open = func(context.Context) (port, string, error) { return fp, "/dev/fake", nil }
	s := newSink()
	s.err = osp.ErrUnknownSID
	start(t, l, s)
	rec.next(t)
	p := plain(t, 9, 3, osp.TypeData, 0, 4, 0)
	fp.in <- p
	receive(t, s.ch, p)
	eventually(t, "handler error counted", func() bool { return l.Stats().HandlerErrors == 1 })
	errs := rec.errors()
	if len(errs) != 1 || !errors.Is(errs[0], osp.ErrUnknownSID) || !strings.Contains(errs[0].Error(), fmt.Sprintf("% x", p)) {
		t.Fatalf("reports %v", errs)
	}
	if l.Name() != "uart0" || l.Peer().String() != "uart0" {
		t.Fatalf("name %q", l.Name())
	}
}

func TestStateString(t *testing.T) {
	if StateUp.String() != "up" || StateDown.String() != "down" || State(7).String() != "State(7)" {
		t.Fatal(StateUp, StateDown, State(7))
	}
}
