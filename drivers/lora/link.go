package lora

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/edgegate/edgegate/gateway/osp"
)

// Radio is what a Link needs from a LoRa radio. *Dev implements it; tests
// use a fake.
type Radio interface {
	// Receive blocks until a packet arrives or ctx is done (then it returns
	// ctx.Err()). An error wrapping ErrCRC reports a packet lost to a CRC
	// failure and is not fatal; any other error is.
	Receive(ctx context.Context) (Packet, error)
	// Transmit sends one packet of 1..255 bytes and returns once it is on
	// the air (and reception resumed).
	Transmit(ctx context.Context, pkt []byte) error
	// Config returns the radio settings: the Link derives each reply's time
	// on air, the duty cycle and its name from them.
	Config() Config
}

// Handler receives each packet with the peer it came from; *osp.Server is
// one. pkt is valid only until Handle returns and may be modified in place.
type Handler interface {
	Handle(pkt []byte, from osp.Peer) error
}

// Clock is the Link's time source. Tests supply a manual one.
type Clock interface {
	Now() time.Time
	// AfterFunc calls f in its own goroutine after d.
	AfterFunc(d time.Duration, f func()) Timer
}

// Timer is a pending AfterFunc.
type Timer interface {
	Stop() bool
}

type realClock struct{}

func (realClock) Now() time.Time                            { return time.Now() }
func (realClock) AfterFunc(d time.Duration, f func()) Timer { return time.AfterFunc(d, f) }

// Options tune a Link. The zero value is usable.
type Options struct {
	// Name prefixes the Peer strings (default "lora").
	Name string
	// DutyCycleWindow is the sliding window of the duty-cycle limit (default
	// one hour, the observation period of ETSI EN 300 220). The fraction is
	// Config.DutyCycle of the radio; 0 there turns the limit off.
	DutyCycleWindow time.Duration
	// MaxQueue bounds the replies waiting to be sent (default 16).
	MaxQueue int
	// MaxQueueDelay is how long a reply may wait, for the duty cycle or
	// for replies ahead of it (default 30 s): one that could not be sent in
	// time is dropped.
	MaxQueueDelay time.Duration
	// Clock defaults to the system clock.
	Clock Clock
	// OnError is told about every dropped packet, received (pkt is what
	// came, nil for a CRC failure) or to send (pkt is the reply), and about
	// transmit errors. It is called from the link's goroutines and from
	// Peer.Send, must not block and must not call back into the link.
	OnError func(pkt []byte, err error)
}

// Link is an OSP link over one LoRa radio: one LoRa packet carries one OSP
// packet. Run receives and hands packets to the session layer; replies go
// through Peer.Send into a queue that Run drains between receptions, within
// the duty cycle. LoRa is a broadcast medium without addresses: every Peer
// of a Link transmits the same way, and differs only in the signal of the
// packet it was created for.
type Link struct {
	radio Radio
	cfg   Config
	opts  Options
	name  string // "lora:868.1MHz/SF7", computed once: it labels every reading

	mu      sync.Mutex
	queue   []reply
	dc      dutyCycle
	wake    context.CancelFunc // cancels the Receive in progress, nil outside it
	pending bool               // a reply came while no Receive was in progress
	closed  bool

	rx, crc, tx, txErrs, dcDrops, qDrops atomic.Uint64
}

// reply is a queued packet.
type reply struct {
	pkt    []byte
	queued time.Time
	air    time.Duration
}

// New returns a link over radio; Run starts it.
func New(radio Radio, opts Options) *Link {
	if opts.Name == "" {
		opts.Name = "lora"
	}
	if opts.DutyCycleWindow <= 0 {
		opts.DutyCycleWindow = time.Hour
	}
	if opts.MaxQueue <= 0 {
		opts.MaxQueue = 16
	}
	if opts.MaxQueueDelay <= 0 {
		opts.MaxQueueDelay = 30 * time.Second
	}
	if opts.Clock == nil {
		opts.Clock = realClock{}
	}
	cfg := radio.Config()
	return &Link{
		radio: radio,
		cfg:   cfg,
		opts:  opts,
		name:  opts.Name + ":" + mhz(cfg.Frequency) + "MHz/SF" + strconv.Itoa(cfg.SpreadingFactor),
		dc:    dutyCycle{frac: cfg.DutyCycle, window: opts.DutyCycleWindow},
	}
}

// Stats are the link's counters.
type Stats struct {
	// Received counts packets handed to the Handler; CRCErrors packets
	// dropped for a failed or missing payload CRC.
	Received, CRCErrors uint64
	// Sent counts replies transmitted, SendErrors transmissions that failed.
	Sent, SendErrors uint64
	// DutyCycleDrops counts replies dropped because the duty cycle would
	// not allow them in time; QueueDrops replies dropped because the queue
	// was full, they waited too long, or the link stopped.
	DutyCycleDrops, QueueDrops uint64
	// Queued is the number of replies waiting.
	Queued int
	// Airtime is the transmit time recorded in the current duty-cycle
	// window (0 when the limit is off).
	Airtime time.Duration
}

// Stats returns a snapshot of the counters.
func (l *Link) Stats() Stats {
	l.mu.Lock()
	n := len(l.queue)
	air := l.dc.used(l.opts.Clock.Now(), nil)
	l.mu.Unlock()
	return Stats{
		Received: l.rx.Load(), CRCErrors: l.crc.Load(),
		Sent: l.tx.Load(), SendErrors: l.txErrs.Load(),
		DutyCycleDrops: l.dcDrops.Load(), QueueDrops: l.qDrops.Load(),
		Queued: n, Airtime: air,
	}
}

// String names the link, e.g. "lora:868.1MHz/SF7".
func (l *Link) String() string { return l.name }

// Run receives packets and sends queued replies until ctx is done (it then
// returns nil) or the radio fails. Packets are handed to h one at a time
// from Run's goroutine; the radio keeps receiving meanwhile, but only the
// last packet is kept, so h should be quick. CRC failures and Handle errors
// are counted and reported, never fatal. Run may be called once.
func (l *Link) Run(ctx context.Context, h Handler) error {
	defer l.shutdown()
	for {
		wait := l.sendDue(ctx)
		if ctx.Err() != nil {
			return nil
		}
		rxCtx, cancel := context.WithCancel(ctx)
		l.mu.Lock()
		if l.pending {
			l.pending = false
			l.mu.Unlock()
			cancel()
			continue
		}
		l.wake = cancel
		l.mu.Unlock()
		var t Timer
		if wait > 0 {
			t = l.opts.Clock.AfterFunc(wait, cancel)
		}
		pkt, err := l.radio.Receive(rxCtx)
		if t != nil {
			t.Stop()
		}
		l.mu.Lock()
		l.wake = nil
		l.mu.Unlock()
		woken := rxCtx.Err() != nil
		cancel()
		switch {
		case err == nil:
		case ctx.Err() != nil:
			return nil
		case errors.Is(err, ErrCRC):
			l.crc.Add(1)
			l.report(nil, err)
			continue
		case woken && errors.Is(err, context.Canceled):
			continue // a reply is due
		default:
			return fmt.Errorf("%s: receive: %w", l.name, err)
		}
		l.rx.Add(1)
		p := &Peer{link: l, rssi: pkt.RSSI, snr: pkt.SNR}
		if err := h.Handle(pkt.Data, p); err != nil {
			l.report(pkt.Data, err)
		}
	}
}

// sendDue transmits the replies whose time has come, dropping those that
// waited too long or cannot fit the duty cycle in time. It returns how long
// until the head of the queue may go (0: the queue is empty).
func (l *Link) sendDue(ctx context.Context) time.Duration {
	for ctx.Err() == nil {
		l.mu.Lock()
		l.pending = false
		if len(l.queue) == 0 {
			l.mu.Unlock()
			return 0
		}
		now := l.opts.Clock.Now()
		l.dc.prune(now)
		r := l.queue[0]
		deadline := r.queued.Add(l.opts.MaxQueueDelay)
		if now.After(deadline) {
			l.queue = l.queue[1:]
			l.mu.Unlock()
			l.qDrops.Add(1)
			l.report(r.pkt, fmt.Errorf("%w: queued %v ago", ErrQueueTimeout, now.Sub(r.queued)))
			continue
		}
		at, ok := l.dc.earliest(now, r.air, nil)
		if !ok || at.After(deadline) {
			l.queue = l.queue[1:]
			l.mu.Unlock()
			l.dcDrops.Add(1)
			l.report(r.pkt, l.dutyErr(r.air, at, ok, now))
			continue
		}
		if at.After(now) {
			l.mu.Unlock()
			return at.Sub(now)
		}
		l.queue = l.queue[1:]
		l.dc.record(now, r.air)
		l.mu.Unlock()
		if err := l.radio.Transmit(ctx, r.pkt); err != nil {
			if ctx.Err() != nil {
				return 0
			}
			l.txErrs.Add(1)
			l.report(r.pkt, fmt.Errorf("%s: transmit: %w", l.name, err))
			continue
		}
		l.tx.Add(1)
	}
	return 0
}

func (l *Link) dutyErr(air time.Duration, at time.Time, ok bool, now time.Time) error {
	if !ok {
		return fmt.Errorf("%w: %v on air exceeds the whole budget of %v per %v", ErrDutyCycle, air, l.dc.budget(), l.dc.window)
	}
	return fmt.Errorf("%w: %v on air allowed only in %v (limit %v)", ErrDutyCycle, air, at.Sub(now), l.opts.MaxQueueDelay)
}

// enqueue queues a copy of pkt, or drops it when the queue is full, when
// the replies ahead of it would keep it waiting beyond MaxQueueDelay, or
// when the duty cycle would not let it go within MaxQueueDelay.
func (l *Link) enqueue(pkt []byte) error {
	if len(pkt) == 0 || len(pkt) > MaxPayload {
		return fmt.Errorf("%w: %d bytes", ErrPacketSize, len(pkt))
	}
	air := TimeOnAir(l.cfg, len(pkt))
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return ErrClosed
	}
	now := l.opts.Clock.Now()
	var err error
	if len(l.queue) >= l.opts.MaxQueue {
		l.qDrops.Add(1)
		err = fmt.Errorf("%w: %d replies waiting", ErrQueueFull, len(l.queue))
	} else if at, behind, ok := l.plan(now, air); behind.Sub(now) > l.opts.MaxQueueDelay {
		l.qDrops.Add(1)
		err = fmt.Errorf("%w: would wait %v behind %d replies (limit %v)", ErrQueueTimeout, behind.Sub(now), len(l.queue), l.opts.MaxQueueDelay)
	} else if !ok || at.Sub(now) > l.opts.MaxQueueDelay {
		l.dcDrops.Add(1)
		err = l.dutyErr(air, at, ok, now)
	} else {
		l.queue = append(l.queue, reply{pkt: append([]byte(nil), pkt...), queued: now, air: air})
		if l.wake != nil {
			l.wake()
		} else {
			l.pending = true
		}
	}
	l.mu.Unlock()
	if err != nil {
		l.report(pkt, err)
	}
	return err
}

// plan returns when a reply of air could go: at, after the queued replies
// and within the duty cycle (ok is false if it never can), and behind, after
// the queued replies alone. l.mu is held.
func (l *Link) plan(now time.Time, air time.Duration) (at, behind time.Time, ok bool) {
	l.dc.prune(now)
	t, behind := now, now
	var ahead []span
	for _, q := range l.queue {
		behind = behind.Add(q.air)
		qt, qok := l.dc.earliest(t, q.air, ahead)
		if !qok {
			continue // it will be dropped
		}
		ahead = append(ahead, span{qt, qt.Add(q.air)})
		t = qt.Add(q.air)
	}
	at, ok = l.dc.earliest(t, air, ahead)
	return at, behind, ok
}

// shutdown refuses further replies and drops the queued ones.
func (l *Link) shutdown() {
	l.mu.Lock()
	l.closed = true
	q := l.queue
	l.queue = nil
	l.mu.Unlock()
	for _, r := range q {
		l.qDrops.Add(1)
		l.report(r.pkt, ErrClosed)
	}
}

func (l *Link) report(pkt []byte, err error) {
	if l.opts.OnError != nil {
		l.opts.OnError(pkt, err)
	}
}

// Peer is the reply path of one received packet. All Peers of a Link share
// its radio and transmit queue; each carries the signal of its packet.
type Peer struct {
	link      *Link
	rssi, snr float32
}

var _ osp.MTUPeer = (*Peer)(nil)

// Send queues one packet for transmission and returns: it goes out when the
// radio is between receptions and the duty cycle allows. It is dropped (and
// reported through Options.OnError) if the queue is full or it could not go
// within Options.MaxQueueDelay; Send then returns the error. Send copies pkt.
func (p *Peer) Send(pkt []byte) error { return p.link.enqueue(pkt) }

// MTU is the largest packet: one LoRa payload, 255 bytes.
func (p *Peer) MTU() int { return MaxPayload }

// Signal returns the RSSI (dBm) and SNR (dB) of the packet this Peer came with.
func (p *Peer) Signal() (rssiDBm, snrDB float32) { return p.rssi, p.snr }

// String names the link, e.g. "lora:868.1MHz/SF7".
func (p *Peer) String() string { return p.link.name }
