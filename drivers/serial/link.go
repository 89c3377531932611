package serial

import (
	"context"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"time"

	"go.bug.st/serial"

	"github.com/edgegate/edgegate/gateway/osp"
)

// Handler receives each packet with the Peer of the line it came from (the
// same shape as drivers/udp's, so gateway/osp.Server fits both). pkt is valid
// only until Handle returns and may be modified in place.
type Handler interface {
	Handle(pkt []byte, from osp.Peer) error
}

// Options tune a Link. The zero value is usable.
type Options struct {
	// Name identifies the link in errors, events and the Peer's String
	// (default "serial:" and the Path, or "serial:usb:" and the USB match).
	Name string
	// BackoffMin and BackoffMax bound the wait before reopening the port
	// after a failed open or the loss of the port: it starts at BackoffMin
	// (default 100 ms) and doubles up to BackoffMax (default 5 s). It goes
	// back to BackoffMin once a port stayed open for BackoffMax.
	BackoffMin, BackoffMax time.Duration
	// OnError is told about every dropped byte run (data is the bytes, err
	// wraps ErrGarbage or ErrCutShort) and every packet the Handler
	// refused (data is the packet, err is the Handler's). data is valid
	// only during the call. It is called from Run's goroutine and must not
	// block.
	OnError func(data []byte, err error)
	// OnState is told when the port opens, fails to open, and is lost, so
	// the owner can log "port not present, retrying". It is called from
	// Run's goroutine and must not block.
	OnState func(Event)
}

// State is whether a Link's port is open.
type State uint8

// The states of a Link's port.
const (
	// StateDown: the port is closed (not yet opened, not present, failed
	// to open, or lost); sends fail with ErrPortDown.
	StateDown State = iota
	// StateUp: the port is open and read.
	StateUp
)

// String returns "down" or "up".
func (s State) String() string {
	switch s {
	case StateDown:
		return "down"
	case StateUp:
		return "up"
	}
	return fmt.Sprintf("State(%d)", uint8(s))
}

// Event reports a change of a Link's port.
type Event struct {
	// State is StateUp when the port opened, StateDown when an open
	// failed or the open port was lost.
	State State
	// Path is the device opened or tried; empty when a USB match resolved
	// to no port.
	Path string
	// Err says why the port is down (wrapping ErrNoPort when a USB adapter
	// is not present); nil for StateUp.
	Err error
	// Retry is the wait before the next open attempt (StateDown).
	Retry time.Duration
	// Failures counts the consecutive failed opens, this one included;
	// zero when an open port was lost.
	Failures int
}

// Stats are a Link's counters since New.
type Stats struct {
	// BytesIn and BytesOut count the bytes read from and written to the
	// port.
	BytesIn, BytesOut uint64
	// PacketsIn counts the packets handed to the Handler, PacketsOut the
	// packets sent.
	PacketsIn, PacketsOut uint64
	// DiscardedBytes counts the bytes the framer dropped; DiscardedFrames
	// the packets cut short among them (see FramerStats).
	DiscardedBytes, DiscardedFrames uint64
	// Reopens counts the opens after the first successful one; OpenFailures
	// the failed attempts.
	Reopens, OpenFailures uint64
	// WriteErrors counts the failed sends: port down, packet above the
	// MTU, write error.
	WriteErrors uint64
	// HandlerErrors counts the packets the Handler refused.
	HandlerErrors uint64
	// Open reports whether the port is open now, and Path which device it
	// is.
	Open bool
	Path string
}

// port is what the link needs of an open port: go.bug.st/serial.Port has it,
// and tests substitute their own. SetReadTimeout with a positive duration
// makes Read return (0, nil) when nothing came for that long; with
// serial.NoTimeout, Read blocks. Close must make a blocked Read return.
type port interface {
	io.ReadWriteCloser
	SetReadTimeout(t time.Duration) error
}

var _ port = serial.Port(nil)

// opener opens the port for one attempt and returns it with its path.
type opener func(ctx context.Context) (p port, path string, err error)

// readBufSize is the size of the read buffer: well above what a UART or USB
// adapter delivers per read.
const readBufSize = 4096

// Link is an OSP link over one serial port. Run may run once at a time; Peer,
// Name and Stats are safe for concurrent use, during Run or not.
type Link struct {
	cfg    Config // with defaults
	cfgErr error  // Config.Validate of the Config given to New
	opts   Options
	name   string
	peer   *Peer

	open opener
	list func() ([]PortInfo, error)

	running atomic.Bool
	framer  *Framer // owned by the goroutine in Run

	// mu guards port and serialises writes, so that a port is closed only
	// when no write is using it (go.bug.st/serial writes to a bare file
	// descriptor, which a write after Close could find reused).
	mu   sync.Mutex
	port port
	path atomic.Pointer[string] // of the open port; nil when down (read by Stats without mu)

	bytesIn, bytesOut, pktsIn, pktsOut      atomic.Uint64
	discBytes, discFrames                   atomic.Uint64
	reopens, openFails, writeErrs, handErrs atomic.Uint64
}

// New returns a link on the port cfg selects; Run opens it. An invalid cfg
// is reported by Run.
func New(cfg Config, opts Options) *Link {
	l := &Link{cfg: cfg.withDefaults(), cfgErr: cfg.Validate(), opts: opts, list: List}
	if l.opts.BackoffMin <= 0 {
		l.opts.BackoffMin = 100 * time.Millisecond
	}
	if l.opts.BackoffMax <= 0 {
		l.opts.BackoffMax = 5 * time.Second
	}
	l.opts.BackoffMax = max(l.opts.BackoffMax, l.opts.BackoffMin)
	switch {
	case opts.Name != "":
		l.name = opts.Name
	case cfg.USB != nil:
		l.name = "serial:usb:" + cfg.USB.String()
	default:
		l.name = "serial:" + cfg.Path
	}
	l.peer = &Peer{link: l}
	l.open = l.openDevice
	fc := FramerConfig{MaxPacketSize: l.cfg.MaxPacketSize, IdleTimeout: l.cfg.IdleTimeout}
	if opts.OnError != nil {
		fc.OnDiscard = func(b []byte, err error) { opts.OnError(b, fmt.Errorf("%s: %w", l.name, err)) }
	}
	l.framer = NewFramer(fc)
	return l
}

// Name returns the link's name, e.g. "serial:/dev/ttyUSB0".
func (l *Link) Name() string { return l.name }

// Peer returns the line: the one Peer of the link, the reply path of every
// packet it receives.
func (l *Link) Peer() *Peer { return l.peer }

// Stats returns a snapshot of the counters.
func (l *Link) Stats() Stats {
	open, path := false, ""
	if p := l.path.Load(); p != nil {
		open, path = true, *p
	}
	return Stats{
		BytesIn: l.bytesIn.Load(), BytesOut: l.bytesOut.Load(),
		PacketsIn: l.pktsIn.Load(), PacketsOut: l.pktsOut.Load(),
		DiscardedBytes: l.discBytes.Load(), DiscardedFrames: l.discFrames.Load(),
		Reopens: l.reopens.Load(), OpenFailures: l.openFails.Load(),
		WriteErrors: l.writeErrs.Load(), HandlerErrors: l.handErrs.Load(),
		Open: open, Path: path,
	}
}

// Run opens the port and hands every packet read from it to h until ctx
// ends; then it closes the port and returns nil. When the port cannot be
// opened (not present, busy, no permission) or is lost (unplugged, hung up,
// EOF, EIO), Run reports it through Options.OnState and tries again after
// the backoff, resolving a USB match anew each time: it never returns for
// that. It returns an error wrapping ErrConfig at once when the Config does
// not validate or h is nil, and ErrRunning when the link is already running.
func (l *Link) Run(ctx context.Context, h Handler) error {
	if l.cfgErr != nil {
		return fmt.Errorf("%s: %w", l.name, l.cfgErr)
	}
	if h == nil {
		return fmt.Errorf("%s: %w: nil Handler", l.name, ErrConfig)
	}
	if !l.running.CompareAndSwap(false, true) {
		return fmt.Errorf("%s: %w", l.name, ErrRunning)
	}
	defer l.running.Store(false)

	backoff := l.opts.BackoffMin
	grow := func() { backoff = min(2*backoff, l.opts.BackoffMax) }
	failures, opened := 0, false
	for {
		p, path, err := l.open(ctx)
		if ctx.Err() != nil {
			if err == nil {
				_ = p.Close()
			}
			return nil
		}
		if err != nil {
			failures++
			l.openFails.Add(1)
			l.state(Event{State: StateDown, Path: path, Err: fmt.Errorf("%s: %w", l.name, err), Retry: backoff, Failures: failures})
			if !sleep(ctx, backoff) {
				return nil
			}
			grow()
			continue
		}
		if opened {
			l.reopens.Add(1)
		}
		opened, failures = true, 0
		since := time.Now()
		l.attach(p, path)
		l.state(Event{State: StateUp, Path: path})
		err = l.serve(ctx, p, path, h)
		l.detach(p)
		if ctx.Err() != nil {
			return nil
		}
		if time.Since(since) >= l.opts.BackoffMax {
			backoff = l.opts.BackoffMin
		}
		l.state(Event{State: StateDown, Path: path, Err: fmt.Errorf("%s: %w", l.name, err), Retry: backoff})
		if !sleep(ctx, backoff) {
			return nil
		}
		grow()
	}
}

// serve reads the open port until a read fails or ctx ends.
func (l *Link) serve(ctx context.Context, p port, path string, h Handler) error {
	// Closing the port is the only way to end a blocked read.
	stop := context.AfterFunc(ctx, func() { l.detach(p) })
	defer stop()
	fr := l.framer
	emit := func(pkt []byte) {
		l.pktsIn.Add(1)
		if err := h.Handle(pkt, l.peer); err != nil {
			l.handErrs.Add(1)
			l.report(pkt, err)
		}
	}
	defer func() {
		// Whatever is pending will not be completed by this port.
		fr.Flush(emit)
		l.syncFramer()
	}()
	buf := make([]byte, readBufSize)
	for {
		// Wait for bytes without waking up while nothing is pending; with
		// a partial packet, wait until it goes stale.
		timeout := serial.NoTimeout
		if dl, ok := fr.Deadline(); ok {
			if timeout = time.Until(dl); timeout <= 0 {
				fr.Expire(time.Now(), emit)
				l.syncFramer()
				continue
			}
		}
		if err := p.SetReadTimeout(timeout); err != nil {
			return fmt.Errorf("set read timeout on %s: %w", path, err)
		}
		n, err := p.Read(buf)
		now := time.Now()
		switch {
		case n > 0:
			l.bytesIn.Add(uint64(n))
			fr.Feed(now, buf[:n], emit)
		case err == nil:
			fr.Expire(now, emit) // the read timed out
		}
		if err != nil {
			return fmt.Errorf("read %s: %w", path, err)
		}
		l.syncFramer()
	}
}

func (l *Link) syncFramer() {
	s := l.framer.Stats()
	l.discBytes.Store(s.DiscardedBytes)
	l.discFrames.Store(s.DiscardedFrames)
}

// attach makes p the port Send writes to.
func (l *Link) attach(p port, path string) {
	l.mu.Lock()
	l.port = p
	l.path.Store(&path)
	l.mu.Unlock()
}

// detach stops sends to p, waiting for one in progress, then closes it. It
// may run twice for one port (ctx ending, and Run after serve).
func (l *Link) detach(p port) {
	l.mu.Lock()
	if l.port == p {
		l.port = nil
		l.path.Store(nil)
	}
	l.mu.Unlock()
	_ = p.Close()
}

// openDevice is the opener of New: it resolves a USB match, then opens the
// path with go.bug.st/serial, which puts the line in raw mode (no echo, no
// line discipline, no flow control) at the Config's speed and framing. A
// pseudo-terminal slave accepts all of it, which is how the tests run the
// real opener.
func (l *Link) openDevice(context.Context) (port, string, error) {
	path := l.cfg.Path
	if m := l.cfg.USB; m != nil {
		ports, err := l.list()
		if err != nil {
			return nil, "", err
		}
		if path, err = m.Resolve(ports); err != nil {
			return nil, "", err
		}
	}
	p, err := serial.Open(path, l.cfg.mode())
	if err != nil {
		return nil, path, fmt.Errorf("open %s: %w", path, err)
	}
	return p, path, nil
}

func (l *Link) state(e Event) {
	if l.opts.OnState != nil {
		l.opts.OnState(e)
	}
}

func (l *Link) report(data []byte, err error) {
	if l.opts.OnError != nil {
		l.opts.OnError(data, err)
	}
}

// sleep waits d and reports whether ctx is still live.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// Peer is the line: the reply path of every packet a Link receives. A serial
// line is point to point, or a transparent LoRa UART with several sensors
// behind it; either way, what is written reaches all of them, and OSP's SID
// tells the sessions apart.
type Peer struct {
	link *Link
}

var _ osp.MTUPeer = (*Peer)(nil)

// Send writes pkt to the port in one write call, serialised with every other
// Send, so packets never interleave on the line. It fails with ErrPortDown
// while the port is not open and wraps osp.ErrTooLarge for a packet above
// the MTU. A write to a line without flow control takes at most the time the
// UART needs to send the bytes.
func (p *Peer) Send(pkt []byte) error {
	l := p.link
	if len(pkt) > l.cfg.MTU {
		l.writeErrs.Add(1)
		return fmt.Errorf("%s: send: %w: %d bytes, MTU %d", l.name, osp.ErrTooLarge, len(pkt), l.cfg.MTU)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.port == nil {
		l.writeErrs.Add(1)
		return fmt.Errorf("%s: send: %w", l.name, ErrPortDown)
	}
	n, err := l.port.Write(pkt)
	if err == nil && n != len(pkt) {
		err = fmt.Errorf("%w: %d of %d bytes", io.ErrShortWrite, n, len(pkt))
	}
	if err != nil {
		l.writeErrs.Add(1)
		return fmt.Errorf("%s: send: %w", l.name, err)
	}
	l.bytesOut.Add(uint64(n))
	l.pktsOut.Add(1)
	return nil
}

// MTU is the largest packet the link sends (Config.MTU).
func (p *Peer) MTU() int { return p.link.cfg.MTU }

// String names the line, e.g. "serial:/dev/ttyUSB0" (Link.Name).
func (p *Peer) String() string { return p.link.name }
