package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	tty "go.bug.st/serial"

	"github.com/edgegate/edgegate/drivers/serial"
	"github.com/edgegate/edgegate/gateway/osp"
)

// The line mode (-serial, -pty) runs every simulated sensor over one byte
// stream, as sensors behind a transparent LoRa UART or on an RS-485 bus share
// one serial port of the gateway. OSP packets delimit themselves by
// PacketSize, so the stream needs no other framing.
//
// Writing: every packet goes out in one write, serialised by the line's
// mutex, so packets never interleave. The fault injectors act there:
// -garbage writes random bytes before a packet, -split writes it in two or
// three pieces with a pause between them, -burst gathers packets and writes
// several back to back in one write, -line-rate paces the writes as a UART
// would, and -hangup-after closes the line and opens it again. A sensor's
// send waits for the line, under the sensor's lock; a slow line (-split,
// -line-rate) is thus a queue, and windows that take longer than
// -ack-timeout to cross it make the sensors retransmit what is still queued
// (lineWarning says so).
//
// Reading: one goroutine reads the stream and cuts it into packets with
// drivers/serial's Framer (resynchronising after garbage, giving up a packet
// cut short after an idle pause), and one goroutine hands each packet to its
// sensor. The queue between them is unbounded, so that the reader never
// waits: handing a packet to a sensor waits for the sensor's lock, which a
// sender of that sensor holds while it waits for the line; if the reader
// waited too, a gateway writing to a line nobody reads would stop reading
// its own, and both sides would wait for ever. The protocol's windows bound
// what the gateway sends, and so the queue.
//
// Routing: a packet goes by its SID to the sensor the gateway gave that SID.
// The exception is the gateway's answer to step 1 of a handshake: it carries
// a SID the sensor does not know yet (or SID 0 for a refusal), and nothing in
// it names the device in the clear (the ServerAuth block is encrypted with
// the device's key, and all sensors of a run share one key). So handshakes
// take turns: a sensor sends its step-1 CONNECT only while no other sensor's
// step 1 is unanswered on the line, and the next answer to a step 1 is its
// answer. That answer is recognisable by its shape alone: a CONNECT with
// SeqNum 1 and no flags, which no packet inside an open session can be (the
// gateway's SeqNum 1 of a session is always that answer). Once the sensor
// has processed it, the line learns its SID and the turn passes; the rest of
// the handshake goes by SID. A turn also passes when the sensor's handshake
// times out or it gives up. When the gateway hands out a SID a sensor still
// holds from a session the gateway forgot, the newest owner gets it.
//
// The one case the turns do not cover: an answer that comes after its
// sensor's handshake timed out reaches the sensor holding the next turn. A
// secure sensor finds the wrong ClientInitVector in it and fails that
// handshake (it retries); a non-secure one would take the other sensor's SID,
// which only a gateway slower than -handshake-timeout can cause.

// linePort is an open line: a go.bug.st/serial port, or a pty master.
type linePort interface {
	io.ReadWriteCloser
	// SetReadTimeout makes Read return (0, nil) when nothing came for d;
	// with go.bug.st/serial's NoTimeout, Read blocks.
	SetReadTimeout(d time.Duration) error
}

var _ linePort = tty.Port(nil)

// ptyPort is the master of a pseudo-terminal pair, with its slave kept open
// (see openPTY).
type ptyPort struct {
	master, slave *os.File
}

func (p *ptyPort) Read(b []byte) (int, error) {
	n, err := p.master.Read(b)
	if errors.Is(err, os.ErrDeadlineExceeded) {
		err = nil
	}
	return n, err
}

func (p *ptyPort) Write(b []byte) (int, error) { return p.master.Write(b) }

func (p *ptyPort) SetReadTimeout(d time.Duration) error {
	if d < 0 {
		return p.master.SetReadDeadline(time.Time{})
	}
	return p.master.SetReadDeadline(time.Now().Add(d))
}

// Close closes the master, which hangs up the slave: gatewayd's reads fail.
func (p *ptyPort) Close() error {
	err := p.master.Close()
	p.slave.Close()
	return err
}

// Timings of the line.
const (
	// lineIdleTimeout is the framer's inter-byte timeout, as gatewayd's
	// default (drivers/serial.DefaultIdleTimeout).
	lineIdleTimeout = serial.DefaultIdleTimeout
	// splitPause is the pause between the pieces of a split packet: far
	// below the idle timeout, long enough for the gateway to read the
	// first piece on its own.
	splitPause = time.Millisecond
	// burstLinger is how long a packet waits for others to fill a burst.
	burstLinger = 5 * time.Millisecond
	// maxGarbage bounds a run of garbage bytes.
	maxGarbage = 16
	// reopenMin and reopenMax bound the backoff of reopening a -serial
	// port.
	reopenMin, reopenMax = 100 * time.Millisecond, 2 * time.Second
)

// errLineDown is a send while the line is closed (between a hangup and the
// reopen of a -serial port): the packet is lost, as on a real line.
var errLineDown = errors.New("ospsim: line down")

// line is the one serial line all sensors share.
type line struct {
	o *options
	// name is the line's path: -serial's, or the one for gatewayd's
	// configuration (the pty's slave, or -pty-link).
	name string

	// mu serialises writes and guards what the writer uses.
	mu      sync.Mutex
	port    linePort
	slave   string // the pty's slave path (-pty)
	rng     *rand.Rand
	free    time.Time // -line-rate: when the bytes written so far are sent
	pending []byte    // -burst: packets gathered for the next write
	npend   int
	linger  *time.Timer
	scratch []byte

	// hsMu guards the handshake turn.
	hsMu   sync.Mutex
	holder *sensor       // whose step-1 CONNECT is unanswered
	until  time.Time     // when the turn expires at the latest
	hsFree chan struct{} // closed when the turn passes

	framer *serial.Framer // the reader's

	// qmu guards the queue from the reader to the dispatcher; ready
	// tells the dispatcher there is something in it.
	qmu   sync.Mutex
	queue [][]byte
	ready chan struct{}

	st              lineCounters
	framerDiscarded atomic.Uint64 // the framer's DiscardedBytes
}

// lineCounters are the line's totals, read into a lineStats.
type lineCounters struct {
	packetsOut, bytesOut, writes, writeErrors atomic.Uint64
	garbageRuns, garbageBytes, splits, bursts atomic.Uint64
	packetsIn, bytesIn, stray, unrouted       atomic.Uint64
	hangups, reopens                          atomic.Uint64
}

// lineStats is what the line did, for the report.
type lineStats struct {
	name                                      string
	packetsOut, bytesOut, writes, writeErrors uint64
	garbageRuns, garbageBytes, splits, bursts uint64
	packetsIn, bytesIn, stray, unrouted       uint64
	discardedBytes                            uint64
	hangups, reopens                          uint64
}

// openLine opens the line of -serial or creates the pty of -pty; with -pty
// it tells o.progress the path for gatewayd's configuration ("serial: PATH").
func openLine(o *options) (*line, error) {
	l := &line{o: o, rng: rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 11)),
		hsFree: make(chan struct{}), ready: make(chan struct{}, 1),
		framer: serial.NewFramer(serial.FramerConfig{IdleTimeout: lineIdleTimeout})}
	if o.ptyLink != "" {
		if fi, err := os.Lstat(o.ptyLink); err == nil && fi.Mode()&os.ModeSymlink == 0 {
			return nil, fmt.Errorf("-pty-link %s exists and is not a symbolic link", o.ptyLink)
		}
	}
	p, err := l.open()
	if err != nil {
		return nil, err
	}
	l.port = p
	return l, nil
}

// open opens the -serial port, or creates a new pty pair and points
// -pty-link at its slave.
func (l *line) open() (linePort, error) {
	o := l.o
	if !o.pty {
		p, err := tty.Open(o.serial, &tty.Mode{BaudRate: o.baud, DataBits: 8, Parity: tty.NoParity, StopBits: tty.OneStopBit})
		if err != nil {
			return nil, fmt.Errorf("open %s: %w", o.serial, err)
		}
		l.name = o.serial
		return p, nil
	}
	m, s, err := openPTY()
	if err != nil {
		return nil, err
	}
	l.slave, l.name = s.Name(), s.Name()
	if o.ptyLink != "" {
		if err := relink(o.ptyLink, s.Name()); err != nil {
			m.Close()
			s.Close()
			return nil, fmt.Errorf("-pty-link: %w", err)
		}
		l.name = o.ptyLink
		fmt.Fprintf(o.progress, "ospsim: pty %s\n", s.Name())
	}
	fmt.Fprintf(o.progress, "serial: %s\n", l.name)
	return &ptyPort{master: m, slave: s}, nil
}

// relink points the symbolic link at target, atomically: whoever opens link
// finds the old target or the new one.
func relink(link, target string) error {
	tmp := filepath.Join(filepath.Dir(link), "."+filepath.Base(link)+".tmp")
	os.Remove(tmp)
	if err := os.Symlink(target, tmp); err != nil {
		return err
	}
	return os.Rename(tmp, link)
}

// close closes the line for good; -pty-link is removed if it still points to
// this line's pty.
func (l *line) close() {
	l.mu.Lock()
	l.detachLocked()
	slave := l.slave
	l.mu.Unlock()
	if l.o.ptyLink != "" {
		if t, err := os.Readlink(l.o.ptyLink); err == nil && t == slave {
			os.Remove(l.o.ptyLink)
		}
	}
}

// detachLocked writes what -burst gathered, then closes the port. l.mu is
// held.
func (l *line) detachLocked() {
	if l.port == nil {
		return
	}
	if l.linger != nil {
		l.linger.Stop()
	}
	l.flushLocked()
	l.port.Close()
	l.port = nil
}

// stats returns the line's counters.
func (l *line) stats() lineStats {
	c := &l.st
	return lineStats{name: l.name,
		packetsOut: c.packetsOut.Load(), bytesOut: c.bytesOut.Load(), writes: c.writes.Load(), writeErrors: c.writeErrors.Load(),
		garbageRuns: c.garbageRuns.Load(), garbageBytes: c.garbageBytes.Load(), splits: c.splits.Load(), bursts: c.bursts.Load(),
		packetsIn: c.packetsIn.Load(), bytesIn: c.bytesIn.Load(), stray: c.stray.Load(), unrouted: c.unrouted.Load(),
		discardedBytes: l.framerDiscarded.Load(), hangups: c.hangups.Load(), reopens: c.reopens.Load()}
}

//
// Writing.
//

// send writes one packet of a sensor: in one write, or as the fault
// injectors say. It fails while the line is down.
func (l *line) send(pkt []byte) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.port == nil {
		l.st.writeErrors.Add(1)
		return errLineDown
	}
	l.st.packetsOut.Add(1)
	b := l.scratch[:0]
	if l.o.garbage > 0 && l.rng.Float64() < l.o.garbage {
		n := 1 + l.rng.IntN(maxGarbage)
		for range n {
			b = append(b, byte(l.rng.Uint32()))
		}
		l.st.garbageRuns.Add(1)
		l.st.garbageBytes.Add(uint64(n))
	}
	b = append(b, pkt...)
	l.scratch = b[:0]
	if l.o.burst < 2 {
		return l.writeLocked(b)
	}
	l.pending = append(l.pending, b...)
	if l.npend++; l.npend >= l.o.burst {
		return l.flushLocked()
	}
	if l.npend == 1 {
		if l.linger == nil {
			l.linger = time.AfterFunc(burstLinger, l.flush)
		} else {
			l.linger.Reset(burstLinger)
		}
	}
	return nil
}

// flush writes the gathered packets when they waited burstLinger.
func (l *line) flush() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.port != nil {
		_ = l.flushLocked()
	}
}

// flushLocked writes the packets -burst gathered, in one write.
func (l *line) flushLocked() error {
	if l.npend == 0 {
		return nil
	}
	if l.npend > 1 {
		l.st.bursts.Add(1)
	}
	err := l.writeLocked(l.pending)
	l.pending, l.npend = l.pending[:0], 0
	return err
}

// writeLocked writes b in one write, or with -split in two or three pieces
// with a pause between them. l.mu is held.
func (l *line) writeLocked(b []byte) error {
	if !l.o.split || len(b) < 3 {
		return l.writePiece(b)
	}
	l.st.splits.Add(1)
	pieces := 2 + l.rng.IntN(2)
	cuts := []int{0}
	for i := 1; i < pieces; i++ {
		lo := cuts[len(cuts)-1] + 1
		hi := len(b) - (pieces - i) // leave a byte for every later piece
		if hi <= lo {
			break
		}
		cuts = append(cuts, lo+l.rng.IntN(hi-lo))
	}
	cuts = append(cuts, len(b))
	for i := 1; i < len(cuts); i++ {
		if i > 1 {
			time.Sleep(splitPause)
		}
		if err := l.writePiece(b[cuts[i-1]:cuts[i]]); err != nil {
			return err
		}
	}
	return nil
}

// writePiece is one write call, paced by -line-rate: it starts when the
// bytes written before it would have left a UART of that rate.
func (l *line) writePiece(b []byte) error {
	if rate := l.o.lineRate; rate > 0 {
		now := time.Now()
		if d := l.free.Sub(now); d > 0 {
			time.Sleep(d)
		} else {
			l.free = now
		}
		l.free = l.free.Add(time.Duration(len(b)) * time.Second / time.Duration(rate))
	}
	n, err := l.port.Write(b)
	if err == nil && n != len(b) {
		err = fmt.Errorf("%w: %d of %d bytes", io.ErrShortWrite, n, len(b))
	}
	if err != nil {
		l.st.writeErrors.Add(1)
		return fmt.Errorf("write %s: %w", l.name, err)
	}
	l.st.writes.Add(1)
	l.st.bytesOut.Add(uint64(n))
	return nil
}

//
// Handshake turns.
//

// claim gives s the line's handshake turn: at once if no other sensor holds
// it, else, with wait, when it passes (or ctx ends). It reports whether s has
// the turn.
func (l *line) claim(ctx context.Context, s *sensor, wait bool) bool {
	for {
		l.hsMu.Lock()
		now := time.Now()
		if l.holder == nil || l.holder == s || !now.Before(l.until) {
			l.holder, l.until = s, now.Add(l.o.handshakeTimeout+100*time.Millisecond)
			l.hsMu.Unlock()
			return true
		}
		free, left := l.hsFree, l.until.Sub(now)
		l.hsMu.Unlock()
		if !wait {
			return false
		}
		t := time.NewTimer(left)
		select {
		case <-free:
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return false
		}
		t.Stop()
	}
}

// release passes the turn on if s holds it.
func (l *line) release(s *sensor) {
	l.hsMu.Lock()
	if l.holder == s {
		l.holder = nil
		close(l.hsFree)
		l.hsFree = make(chan struct{})
	}
	l.hsMu.Unlock()
}

// turn returns the sensor holding the handshake turn, or nil.
func (l *line) turn() *sensor {
	l.hsMu.Lock()
	defer l.hsMu.Unlock()
	if l.holder != nil && time.Now().Before(l.until) {
		return l.holder
	}
	return nil
}

//
// Reading.
//

// run serves the line until ctx ends, then closes it: it reads and
// dispatches packets to the sensors, hangs the line up every
// -hangup-after, and reopens a -serial port that was lost.
func (l *line) run(ctx context.Context, sensors []*sensor) {
	defer l.close()
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		l.dispatch(ctx, sensors)
	}()
	defer wg.Wait()
	for {
		l.mu.Lock()
		p := l.port
		l.mu.Unlock()
		if p == nil {
			if p = l.reopen(ctx); p == nil {
				return
			}
		}
		readErr := make(chan error, 1)
		go func() { readErr <- l.read(p) }()
		var hangup <-chan time.Time
		var timer *time.Timer
		if l.o.hangupAfter > 0 {
			timer = time.NewTimer(l.o.hangupAfter)
			hangup = timer.C
		}
		select {
		case <-ctx.Done():
			l.detach(p)
			<-readErr
			return
		case err := <-readErr:
			fmt.Fprintf(l.o.progress, "ospsim: line %s lost: %v\n", l.name, err)
			l.detach(p)
		case <-hangup:
			l.hangup(p)
			<-readErr
		}
		if timer != nil {
			timer.Stop()
		}
	}
}

// hangup closes p, which ends the reader, and with -pty creates the next
// pair at once while the writers wait, so that no packet is lost on this
// side; -pty-link then points to the new slave. A -serial port is reopened
// by run, with backoff.
func (l *line) hangup(p linePort) {
	l.st.hangups.Add(1)
	fmt.Fprintf(l.o.progress, "ospsim: hanging up %s\n", l.name)
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.port != p {
		p.Close()
		return
	}
	l.detachLocked()
	if !l.o.pty {
		return
	}
	np, err := l.open()
	if err != nil {
		fmt.Fprintf(l.o.progress, "ospsim: reopening the line: %v\n", err)
		return
	}
	l.port = np
	l.st.reopens.Add(1)
}

// detach closes p if it is still the line's port.
func (l *line) detach(p linePort) {
	l.mu.Lock()
	if l.port == p {
		l.detachLocked()
	} else {
		p.Close()
	}
	l.mu.Unlock()
}

// reopen opens the line again after it was lost: the -serial port with
// backoff, while writes fail, or a new pty pair. It returns nil when ctx ends
// first, or when no pty can be had.
func (l *line) reopen(ctx context.Context) linePort {
	backoff := reopenMin
	for {
		if !l.o.pty {
			t := time.NewTimer(backoff)
			select {
			case <-t.C:
			case <-ctx.Done():
				t.Stop()
				return nil
			}
			backoff = min(2*backoff, reopenMax)
		}
		l.mu.Lock()
		if ctx.Err() != nil {
			l.mu.Unlock()
			return nil
		}
		p, err := l.open()
		if err == nil {
			l.port = p
			l.st.reopens.Add(1)
		}
		l.mu.Unlock()
		if err == nil {
			return p
		}
		fmt.Fprintf(l.o.progress, "ospsim: reopening the line: %v\n", err)
		if l.o.pty {
			return nil // no pty to be had: nothing will change
		}
	}
}

// read cuts what p delivers into packets and passes them to the dispatcher,
// until p fails or is closed. The framer's idle timeout is the read timeout
// while a packet is incomplete.
func (l *line) read(p linePort) error {
	fr := l.framer
	emit := func(pkt []byte) {
		l.st.packetsIn.Add(1)
		l.qmu.Lock()
		l.queue = append(l.queue, bytes.Clone(pkt))
		l.qmu.Unlock()
		select {
		case l.ready <- struct{}{}:
		default:
		}
	}
	defer func() {
		fr.Flush(emit)
		l.framerDiscarded.Store(fr.Stats().DiscardedBytes)
	}()
	buf := make([]byte, 4096)
	for {
		timeout := tty.NoTimeout
		if dl, ok := fr.Deadline(); ok {
			if timeout = time.Until(dl); timeout <= 0 {
				fr.Expire(time.Now(), emit)
				continue
			}
		}
		if err := p.SetReadTimeout(timeout); err != nil {
			return err
		}
		n, err := p.Read(buf)
		switch {
		case n > 0:
			l.st.bytesIn.Add(uint64(n))
			fr.Feed(time.Now(), buf[:n], emit)
		case err == nil:
			fr.Expire(time.Now(), emit)
		}
		l.framerDiscarded.Store(fr.Stats().DiscardedBytes)
		if err != nil {
			return err
		}
	}
}

// dispatch hands every packet to its sensor until ctx ends (see the top of
// the file). It alone knows which sensor has which SID.
func (l *line) dispatch(ctx context.Context, sensors []*sensor) {
	bySID := make(map[uint16]*sensor, len(sensors))
	sidOf := make(map[*sensor]uint16, len(sensors))
	var batch [][]byte
	for {
		select {
		case <-l.ready:
		case <-ctx.Done():
			return
		}
		l.qmu.Lock()
		batch, l.queue = l.queue, batch[:0]
		l.qmu.Unlock()
		for i, pkt := range batch {
			l.route(pkt, bySID, sidOf)
			batch[i] = nil
		}
	}
}

// route hands one packet to its sensor.
func (l *line) route(pkt []byte, bySID map[uint16]*sensor, sidOf map[*sensor]uint16) {
	h, _, err := osp.ParseHeader(pkt) // the framer checked it
	if err != nil {
		return
	}
	if h.Type == osp.TypeConnect && h.SeqNum == 1 && h.Flags == 0 {
		// The answer to a step-1 CONNECT: for the sensor whose turn it is.
		s := l.turn()
		if s == nil {
			l.st.unrouted.Add(1)
			return
		}
		s.lastRecv.Store(time.Now().UnixNano())
		_ = s.cl.Handle(pkt)
		if sid := s.cl.SID(); sid != 0 {
			if old, ok := sidOf[s]; ok && bySID[old] == s {
				delete(bySID, old)
			}
			bySID[sid], sidOf[s] = s, sid
		}
		l.release(s)
		return
	}
	s := bySID[h.SID]
	if s == nil {
		l.st.stray.Add(1)
		return
	}
	s.lastRecv.Store(time.Now().UnixNano())
	_ = s.cl.Handle(pkt)
}
