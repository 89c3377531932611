package main

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math/bits"
	"math/rand/v2"
	"net"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/edgegate/edgegate/drivers/udp"
	"github.com/edgegate/edgegate/gateway/osp"
)

// A run has three phases. Every sensor opens its session (at most
// o.handshakes handshakes in flight); once all have finished trying, they
// send together (the load phase), wait for their outstanding ACKs, hold the
// session open for o.hold and close it. One supervisor goroutine ticks every
// client and reconnects a session that went silent.

// sensor is one simulated device: on its own UDP socket, or on the serial
// line all sensors share.
type sensor struct {
	o    *options
	id   osp.DeviceID
	conn *net.UDPConn // nil on a line
	line *line        // nil over UDP
	cl   *osp.Client

	rngMu sync.Mutex // the loss decision runs under the client's lock
	rng   *rand.Rand

	lastRecv atomic.Int64  // UnixNano of the last packet from the gateway
	wake     chan struct{} // an ACK, an opened or closed session: the sender looks again

	ctl     sync.Mutex // orders Connect (supervisor) and Close (sender)
	closing bool       // under ctl: no more reconnects

	mu           sync.Mutex
	supervised   bool      // the session opened once: the supervisor keeps it up
	paused       bool      // dormant on purpose: silence is expected
	pending      int       // AckReq DATA sent and not acknowledged
	waitStart    time.Time // since when the sensor expects a packet from the gateway
	lastConnect  time.Time
	closedErr    error // why the last session closed
	firstConnect time.Time
	firstOpen    time.Time
	lastAck      time.Time
	sendEnd      time.Time
	sentAt       map[uint64]time.Time // AckReq readings awaiting their ACK, by counter
	idSentAt     [256]time.Time       // the same by MessageID, for payloads too short for the counter
	nextID       int                  // the MessageID the client gives the next DATA
	acked        bitset               // counters acknowledged
	st           counts
}

// counts are a sensor's totals, summed into the result.
type counts struct {
	sent, ackReq, acked, commands, resends, retransmits, reconnects, pauses int
	latencies                                                               []time.Duration
}

// newSensor makes sensor i on the target: its own UDP socket, or the line.
func newSensor(to target, o *options, i int) (*sensor, error) {
	s := &sensor{o: o, line: to.line, rng: rand.New(rand.NewPCG(uint64(i), 7)),
		id:   osp.DeviceID{Type: uint16(o.devType), Module: uint32(o.module) + uint32(i)},
		wake: make(chan struct{}, 1), sentAt: map[uint64]time.Time{}}
	var err error
	if to.line == nil {
		if s.conn, err = net.DialUDP("udp", nil, to.udp); err != nil {
			return nil, err
		}
	}
	s.cl, err = osp.NewClient(osp.ClientConfig{Device: s.id, Security: osp.Security{Secure: o.secure, Key: o.key},
		Peer: s, AckTimeout: o.ackTimeout, HandshakeTimeout: o.handshakeTimeout, OnEvent: s.event})
	if err != nil {
		s.close()
		return nil, err
	}
	return s, nil
}

// close closes the sensor's socket; on a line, the line's owner closes it.
func (s *sensor) close() {
	if s.conn != nil {
		s.conn.Close()
	}
}

// Send is the client's Peer: one datagram, or one packet on the line, unless
// -loss drops it.
func (s *sensor) Send(pkt []byte) error {
	if s.o.loss > 0 {
		s.rngMu.Lock()
		drop := s.rng.Float64() < s.o.loss
		s.rngMu.Unlock()
		if drop {
			return nil
		}
	}
	if s.line != nil {
		return s.line.send(pkt)
	}
	_, err := s.conn.Write(pkt)
	return err
}

// readBatch is the most datagrams a sensor or an echo worker takes from its
// socket in one read (one recvmmsg on Linux). The gateway's ACKs to a
// sensor leave in bursts, one per group commit, so a read can find
// several, and a client that paid a system call for each would take
// processor time from the gateway it measures on the same machine.
const readBatch = 16

// read hands every datagram to the client until the socket is closed. A
// refused datagram (the gateway is down: ICMP port unreachable) is no
// reason to stop: the gateway may come back.
func (s *sensor) read() {
	d := udp.NewReader(s.conn, readBatch, 2048) // more than any packet a gateway sends over UDP (MTU 1472)
	for {
		ds, err := d.Read()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			if !errors.Is(err, syscall.ECONNREFUSED) {
				time.Sleep(10 * time.Millisecond)
			}
			continue
		}
		s.lastRecv.Store(time.Now().UnixNano())
		for _, dg := range ds {
			s.cl.Handle(dg.Data)
		}
	}
}

func (s *sensor) event(e osp.ClientEvent) {
	now := time.Now()
	s.mu.Lock()
	switch e.Kind {
	case osp.ClientOpened:
		s.waitStart = now
		if s.firstOpen.IsZero() {
			s.firstOpen = now
		}
	case osp.ClientClosed:
		s.closedErr = e.Err
	case osp.ClientAcked:
		s.pending--
		s.st.acked++
		s.lastAck = now
		if len(e.Payload) >= 8 {
			c := binary.BigEndian.Uint64(e.Payload)
			s.acked.set(c)
			if at, ok := s.sentAt[c]; ok {
				delete(s.sentAt, c)
				s.st.latencies = append(s.st.latencies, now.Sub(at))
			}
		} else if at := s.idSentAt[e.MessageID]; !at.IsZero() {
			s.idSentAt[e.MessageID] = time.Time{}
			s.st.latencies = append(s.st.latencies, now.Sub(at))
		}
	case osp.ClientRetransmit:
		s.st.retransmits++
	case osp.ClientResendRequested:
		s.st.resends++
	case osp.ClientCommand:
		s.st.commands++
	}
	s.mu.Unlock()
	if s.line != nil && (e.Kind == osp.ClientOpened || e.Kind == osp.ClientClosed) {
		s.line.release(s) // a handshake that ended passes the line's turn on
	}
	if e.Kind == osp.ClientCommand && s.o.answerCmds {
		_ = s.cl.RespondCommand(e.Command.ID, osp.ExitSuccess, e.Command.Script)
	}
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// connect starts a handshake, unless the sensor is closing. On a line it
// first takes the line's handshake turn (line.go): waiting for it with wait,
// else giving up if another sensor holds it. It reports whether it started.
func (s *sensor) connect(ctx context.Context, now time.Time, again, wait bool) bool {
	if s.line != nil && !s.line.claim(ctx, s, wait) {
		return false
	}
	s.ctl.Lock()
	defer s.ctl.Unlock()
	if s.closing {
		if s.line != nil {
			s.line.release(s)
		}
		return false
	}
	if wait {
		now = time.Now() // the wait for the turn is no part of the handshake
	}
	s.mu.Lock()
	s.lastConnect, s.waitStart, s.closedErr = now, now, nil
	if s.firstConnect.IsZero() {
		s.firstConnect = now
	}
	if again {
		s.st.reconnects++
	}
	s.mu.Unlock()
	_ = s.cl.Connect() // a send error is a lost packet: the handshake times out and is retried
	return true
}

// supervise reconnects a session that went silent: AckReq DATA has waited
// o.silence with no packet from the gateway (a gateway restarted, or lost
// the session), or the session closed. The client's cache sends the
// unacknowledged readings again once the new session opens.
func (s *sensor) supervise(now time.Time) {
	s.mu.Lock()
	active, paused, pending, lastConnect := s.supervised, s.paused, s.pending, s.lastConnect
	quiet := now.Sub(latest(s.waitStart, time.Unix(0, s.lastRecv.Load())))
	s.mu.Unlock()
	if !active {
		return
	}
	if s.cl.Open() {
		if paused || pending <= 0 || quiet < s.o.silence {
			return
		}
	} else if now.Sub(lastConnect) < s.o.handshakeTimeout {
		return // a handshake is under way
	}
	s.connect(context.Background(), now, true, false) // without the line's turn: the next tick tries again
}

// waitUntil waits up to d for cond, looking again on every wake-up and
// every 50 ms. It reports cond's last value.
func (s *sensor) waitUntil(ctx context.Context, d time.Duration, cond func() bool) bool {
	if cond() {
		return true // no wait: no timer to arm and stop
	}
	deadline := time.Now().Add(d)
	t := time.NewTimer(0)
	defer t.Stop()
	for !cond() {
		left := time.Until(deadline)
		if left <= 0 || ctx.Err() != nil {
			return false
		}
		t.Reset(min(left, 50*time.Millisecond))
		select {
		case <-s.wake:
		case <-t.C:
		case <-ctx.Done():
		}
	}
	return true
}

// nap waits for a wake-up, d or ctx's end.
func (s *sensor) nap(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-s.wake:
	case <-t.C:
	case <-ctx.Done():
	}
}

func (s *sensor) pendingAcks() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.pending
}

// establish opens the session: up to five handshakes.
func (s *sensor) establish(ctx context.Context) error {
	for range 5 {
		if !s.connect(ctx, time.Now(), false, true) && ctx.Err() != nil {
			return ctx.Err()
		}
		s.waitUntil(ctx, s.o.handshakeTimeout, func() bool {
			s.mu.Lock()
			closed := s.closedErr != nil
			s.mu.Unlock()
			return closed || s.cl.Open()
		})
		if s.cl.Open() {
			s.mu.Lock()
			s.supervised = true
			s.mu.Unlock()
			return nil
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closedErr != nil {
		return fmt.Errorf("no session: %w", s.closedErr)
	}
	return errors.New("no session: the gateway did not answer")
}

// payloadTemplate is the DATA payload: the 64-bit counter (filled in per
// packet), then the DeviceType and ModuleID, so that every reading is
// unique per device, then a filler.
func (s *sensor) payloadTemplate() []byte {
	p := make([]byte, s.o.payload)
	var tail [14]byte
	binary.BigEndian.PutUint16(tail[8:], s.id.Type)
	binary.BigEndian.PutUint32(tail[10:], s.id.Module)
	copy(p, tail[:])
	for i := len(tail); i < len(p); i++ {
		p[i] = byte(i)
	}
	return p
}

// putCounter writes the counter at the start of the payload: all 8 bytes,
// or its low bytes in a payload shorter than 8.
func putCounter(p []byte, seq uint64) {
	if len(p) >= 8 {
		binary.BigEndian.PutUint64(p, seq)
		return
	}
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], seq)
	copy(p, b[8-len(p):])
}

// send is the load phase: o.count DATA packets (or until loadEnd), at
// o.rate per second or as fast as the window of unacknowledged packets
// allows.
func (s *sensor) send(ctx context.Context, loadEnd time.Time) error {
	o := s.o
	defer func() {
		s.mu.Lock()
		s.sendEnd = time.Now()
		s.mu.Unlock()
	}()
	var tick <-chan time.Time
	if o.rate > 0 {
		t := time.NewTicker(time.Duration(float64(time.Second) / o.rate))
		defer t.Stop()
		tick = t.C
	}
	payload := s.payloadTemplate()
	pausedAt := uint64(0)
	for seq := uint64(0); seq < uint64(o.count); {
		if !loadEnd.IsZero() && !time.Now().Before(loadEnd) {
			return nil
		}
		if tick != nil {
			select {
			case <-tick:
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		// AckReq on a share of the packets, spread evenly.
		ack := int64(float64(seq+1)*o.ackShare) > int64(float64(seq)*o.ackShare)
		if ack && o.window > 0 && !s.waitUntil(ctx, time.Second, func() bool { return s.pendingAcks() < o.window }) {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			continue
		}
		if o.pauseEvery > 0 && seq > 0 && seq%uint64(o.pauseEvery) == 0 && pausedAt != seq {
			pausedAt = seq
			if err := s.dormant(ctx); err != nil {
				return err
			}
		}
		putCounter(payload, seq)
		var flags osp.Flags
		if ack {
			flags = osp.FlagAckReq
		}
		now := time.Now()
		s.mu.Lock()
		id := s.nextID
		if ack {
			if s.pending++; s.pending == 1 {
				s.waitStart = now
			}
			if len(payload) >= 8 {
				s.sentAt[seq] = now
			} else {
				s.idSentAt[id] = now
			}
		}
		s.mu.Unlock()
		_, err := s.cl.SendData(o.dataTypes[seq%uint64(len(o.dataTypes))], payload, flags)
		if errors.Is(err, osp.ErrCacheFull) || errors.Is(err, osp.ErrNotOpen) {
			// Not cached: undo, wait for an ACK or the session, try again.
			s.mu.Lock()
			if ack {
				s.pending--
				delete(s.sentAt, seq)
				s.idSentAt[id] = time.Time{}
			}
			s.mu.Unlock()
			s.nap(ctx, 100*time.Millisecond)
			if ctx.Err() != nil {
				return ctx.Err()
			}
			continue
		}
		var fe *osp.FlagError
		if errors.As(err, &fe) {
			return err
		}
		// Sent, or cached after a failed send (the gateway is down): the
		// client sends it again.
		s.mu.Lock()
		s.nextID = (id + 1) % len(s.idSentAt)
		s.st.sent++
		if ack {
			s.st.ackReq++
		}
		s.mu.Unlock()
		seq++
	}
	return nil
}

// dormant pauses the session for o.pause; the next DATA resumes it (any
// authenticated packet with a higher SeqNum re-activates a session).
func (s *sensor) dormant(ctx context.Context) error {
	s.mu.Lock()
	s.paused = true
	s.mu.Unlock()
	if err := s.cl.Pause(); err == nil {
		s.mu.Lock()
		s.st.pauses++
		s.mu.Unlock()
		t := time.NewTimer(s.o.pause)
		defer t.Stop()
		select {
		case <-t.C:
		case <-ctx.Done():
		}
	}
	s.mu.Lock()
	s.paused = false
	s.waitStart = time.Now()
	s.mu.Unlock()
	return ctx.Err()
}

// finish waits for the outstanding ACKs (up to o.wait), holds the session
// for o.hold, and closes it.
func (s *sensor) finish(ctx context.Context) {
	s.waitUntil(ctx, s.o.wait, func() bool { return s.pendingAcks() <= 0 })
	if s.o.hold > 0 {
		t := time.NewTimer(s.o.hold)
		select {
		case <-t.C:
		case <-ctx.Done():
		}
		t.Stop()
	}
	s.ctl.Lock()
	s.closing = true
	s.ctl.Unlock()
	_ = s.cl.Close()
}

// target is what the sensors talk to: the gateway's UDP address, each
// sensor on its own socket, or a serial line they all share.
type target struct {
	udp  *net.UDPAddr
	line *line
}

// simulate runs o.n sensors against the gateway at to. A line is served for
// the run and closed at its end.
func simulate(ctx context.Context, to target, o options) *result {
	res := &result{}
	sensors, err := openSensors(to, &o)
	if err != nil {
		if to.line != nil {
			to.line.close()
		}
		res.failures = append(res.failures, err.Error())
		return res
	}
	res.sensors = sensors
	defer func() {
		for _, s := range sensors {
			s.close()
		}
	}()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	if to.line != nil {
		wg.Add(1)
		go func() {
			defer wg.Done()
			to.line.run(ctx, sensors)
		}()
	} else {
		for _, s := range sensors {
			wg.Add(1)
			go func() {
				defer wg.Done()
				s.read()
			}()
		}
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		supervise(ctx, sensors, min(max(o.ackTimeout/4, 10*time.Millisecond), 100*time.Millisecond))
	}()

	var (
		established sync.WaitGroup
		start       = make(chan struct{})
		loadStart   time.Time
		loadEnd     time.Time
		failMu      sync.Mutex
		sensorsWG   sync.WaitGroup
	)
	fail := func(s *sensor, err error) {
		failMu.Lock()
		res.failures = append(res.failures, fmt.Sprintf("sensor %s: %v", s.id, err))
		failMu.Unlock()
	}
	sem := make(chan struct{}, o.handshakes)
	for _, s := range sensors {
		established.Add(1)
		sensorsWG.Add(1)
		go func() {
			defer sensorsWG.Done()
			sem <- struct{}{}
			err := s.establish(ctx)
			<-sem
			established.Done()
			if err != nil {
				fail(s, err)
				return
			}
			select {
			case <-start:
			case <-ctx.Done():
				return
			}
			if err := s.send(ctx, loadEnd); err != nil && ctx.Err() == nil {
				fail(s, err)
			}
			s.finish(ctx)
		}()
	}
	established.Wait()
	res.collectEstablish()
	fmt.Fprintf(o.progress, "ospsim: %d of %d sessions established (%.0f handshakes/s)\n",
		res.sessions, o.n, res.handshakesPerSec())
	if res.sessions > 0 && o.hold > 0 {
		fmt.Fprintf(o.progress, "ospsim: holding the sessions for %v\n", o.hold)
	}
	loadStart = time.Now()
	if o.duration > 0 {
		loadEnd = loadStart.Add(o.duration)
	}
	close(start)
	sensorsWG.Wait()
	res.collect(loadStart)
	cancel()
	for _, s := range sensors {
		s.close()
	}
	wg.Wait()
	if to.line != nil {
		st := to.line.stats()
		res.line = &st
	}
	return res
}

// openSensors creates every sensor's socket and client.
func openSensors(to target, o *options) ([]*sensor, error) {
	sensors := make([]*sensor, 0, o.n)
	for i := range o.n {
		s, err := newSensor(to, o, i)
		if err != nil {
			for _, s := range sensors {
				s.close()
			}
			return nil, fmt.Errorf("sensor %d: %w", i, err)
		}
		sensors = append(sensors, s)
	}
	return sensors, nil
}

// supervise ticks every client (retransmissions, handshake timers) and
// reconnects silent sessions, until ctx is done. One goroutine for all
// sensors: a ticker per sensor would cost more than the work with 10,000.
func supervise(ctx context.Context, sensors []*sensor, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			for _, s := range sensors {
				s.cl.Tick()
				s.supervise(now)
			}
		}
	}
}

// bitset is a growable set of counters.
type bitset []uint64

func (b *bitset) set(i uint64) {
	w := int(i / 64)
	if w >= len(*b) {
		*b = append(*b, make([]uint64, w+1-len(*b))...)
	}
	(*b)[w] |= 1 << (i % 64)
}

// setIfBelow sets i only within the words b already has: a counter from
// someone else's reading cannot make it grow.
func (b bitset) setIfBelow(i uint64) {
	if w := i / 64; w < uint64(len(b)) {
		b[w] |= 1 << (i % 64)
	}
}

func (b bitset) count() int {
	n := 0
	for _, w := range b {
		n += bits.OnesCount64(w)
	}
	return n
}

// missing counts the members of b absent from found.
func (b bitset) missing(found bitset) int {
	n := 0
	for i, w := range b {
		if i < len(found) {
			w &^= found[i]
		}
		n += bits.OnesCount64(w)
	}
	return n
}
