package serial

import (
	"errors"
	"fmt"
	"time"

	"github.com/edgegate/edgegate/gateway/osp"
)

// This file is pure: no I/O, no goroutines, no clock of its own. Time comes in
// with the bytes, so tests drive it with made-up instants and fuzzers with
// arbitrary ones.

// FramerConfig tunes a Framer. The zero value is usable: packets up to
// osp.MaxPacketSize and no idle timeout.
type FramerConfig struct {
	// MaxPacketSize bounds the packets the framer accepts (default, and at
	// most, osp.MaxPacketSize). A header announcing more is treated as
	// garbage. A small bound shortens the time a false header found in
	// noise can hold the stream.
	MaxPacketSize int
	// IdleTimeout, when positive, is how long the bytes of an incomplete
	// packet may wait for the next byte: once none came for at least this
	// long, the candidate is discarded and its bytes rescanned (see the
	// package documentation). Zero waits forever.
	IdleTimeout time.Duration
	// OnDiscard, if set, is called with each run of bytes the framer drops,
	// and why: an error wrapping ErrGarbage or ErrCutShort. b is valid only
	// during the call. It must not call the Framer.
	OnDiscard func(b []byte, err error)
}

// FramerStats are a Framer's counters since it was made. At any time
// BytesIn = Bytes + DiscardedBytes + Buffered().
type FramerStats struct {
	// BytesIn counts the bytes fed.
	BytesIn uint64
	// Packets and Bytes count the packets emitted and their bytes.
	Packets, Bytes uint64
	// DiscardedBytes counts the bytes dropped: garbage, and packets cut
	// short.
	DiscardedBytes uint64
	// DiscardedFrames counts candidate packets abandoned because their
	// bytes stopped coming: a valid header, at the start of the stream or
	// right after a packet, whose PacketSize bytes did not arrive before
	// the line went idle or the port was lost.
	DiscardedFrames uint64
}

// Framer cuts a byte stream into OSP packets by their PacketSize and
// resynchronises byte by byte after garbage. Feed it the bytes as they come;
// it calls emit once for every complete packet. A Framer is not safe for
// concurrent use: one reader owns it.
type Framer struct {
	max       int
	idle      time.Duration
	onDiscard func([]byte, error)

	// buf holds the bytes not yet emitted or dropped. When it is not empty,
	// it starts with a valid header whose packet is incomplete, or with
	// fewer bytes than a header needs to be judged.
	buf   []byte
	last  time.Time // when the last byte was fed
	stats FramerStats
}

// NewFramer returns a Framer with an empty buffer.
func NewFramer(cfg FramerConfig) *Framer {
	if cfg.MaxPacketSize <= 0 || cfg.MaxPacketSize > osp.MaxPacketSize {
		cfg.MaxPacketSize = osp.MaxPacketSize
	}
	return &Framer{max: cfg.MaxPacketSize, idle: cfg.IdleTimeout, onDiscard: cfg.OnDiscard}
}

// Feed hands the framer bytes received at now and calls emit, in order, for
// every packet they complete. pkt is valid only until emit returns and may be
// modified in place; emit must not call the Framer. If the bytes already
// buffered had been idle for the timeout before now, they are flushed first
// (see Flush), so a packet that follows a pause starts on a clean buffer.
// Feed keeps no reference to p. Every packet emitted passed osp.ParseHeader
// and is exactly PacketSize bytes long. With a nil emit, packets are counted
// and dropped.
func (f *Framer) Feed(now time.Time, p []byte, emit func(pkt []byte)) {
	f.Expire(now, emit)
	if len(p) == 0 {
		return
	}
	f.stats.BytesIn += uint64(len(p))
	f.last = now
	if len(f.buf) == 0 {
		// Common case: scan the caller's bytes in place and keep only an
		// incomplete tail.
		f.buf = append(f.buf, f.scan(p, false, emit)...)
		return
	}
	f.buf = append(f.buf, p...)
	if rest := f.scan(f.buf, false, emit); len(rest) != len(f.buf) {
		f.buf = f.buf[:copy(f.buf, rest)]
	}
}

// Expire flushes the buffered bytes (see Flush) if they have been idle for at
// least the idle timeout at now, and reports whether it did. A reader calls it
// when a read times out without data.
func (f *Framer) Expire(now time.Time, emit func(pkt []byte)) bool {
	if len(f.buf) == 0 || f.idle <= 0 || now.Sub(f.last) < f.idle {
		return false
	}
	f.Flush(emit)
	return true
}

// Flush treats the buffered bytes as final: no more bytes will complete them.
// The incomplete candidate they start with is discarded, and the rest is
// rescanned byte by byte, so that a complete packet hidden behind a false
// header is still emitted; everything else is dropped. Afterwards the buffer
// is empty. A reader calls it when the port is lost.
func (f *Framer) Flush(emit func(pkt []byte)) {
	if len(f.buf) == 0 {
		return
	}
	f.scan(f.buf, true, emit)
	f.buf = f.buf[:0]
}

// Deadline returns when the buffered bytes become stale, and false when there
// is nothing to expire (empty buffer or no idle timeout). A reader uses it as
// its read timeout.
func (f *Framer) Deadline() (time.Time, bool) {
	if len(f.buf) == 0 || f.idle <= 0 {
		return time.Time{}, false
	}
	return f.last.Add(f.idle), true
}

// Buffered returns the number of bytes held: an incomplete packet or header.
func (f *Framer) Buffered() int { return len(f.buf) }

// Stats returns the counters.
func (f *Framer) Stats() FramerStats { return f.stats }

// scan emits the packets in b and drops the bytes that start none, and
// returns the tail that needs more bytes to be judged. With final set no more
// bytes will come: nothing is kept, and incomplete candidates are dropped.
func (f *Framer) scan(b []byte, final bool, emit func([]byte)) (rest []byte) {
	run := -1 // start of the current run of dropped bytes
	cut := -1 // when the run starts with a packet cut short, its PacketSize
	i := 0
	for i < len(b) {
		size, ok := f.candidate(b[i:])
		switch {
		case !ok && size < 0 && !final:
			// Too few bytes to judge the header: wait for more.
			return f.endRun(b, run, i, cut)
		case !ok:
			if run < 0 {
				run, cut = i, -1
			}
			i++
		case size > len(b)-i && !final:
			// A valid header whose packet is still coming.
			return f.endRun(b, run, i, cut)
		case size > len(b)-i:
			// A valid header whose packet never came. Counted as a frame
			// where a packet could begin (the start, or right after a
			// packet); inside a run it is one more dropped byte.
			if run < 0 {
				run, cut = i, size
				f.stats.DiscardedFrames++
			}
			i++
		default:
			f.endRun(b, run, i, cut)
			run = -1
			f.stats.Packets++
			f.stats.Bytes += uint64(size)
			pkt := b[i : i+size]
			i += size
			if emit != nil {
				emit(pkt)
			}
		}
	}
	return f.endRun(b, run, i, cut)
}

// endRun drops b[run:i] (when run >= 0) and returns b[i:]. cut is the
// PacketSize of the packet cut short the run starts with, or -1 for garbage;
// the reason is built only for OnDiscard.
func (f *Framer) endRun(b []byte, run, i, cut int) []byte {
	if run >= 0 && i > run {
		f.stats.DiscardedBytes += uint64(i - run)
		if f.onDiscard != nil {
			var why error
			if cut >= 0 {
				why = fmt.Errorf("%w: PacketSize %d, %d bytes came", ErrCutShort, cut, len(b)-run)
			} else {
				why = fmt.Errorf("%w: %w", ErrGarbage, f.headerErr(b[run:]))
			}
			f.onDiscard(b[run:i], why)
		}
	}
	return b[i:]
}

// candidate validates the header at the start of b with osp.ParseHeader and
// the framer's bound. It returns the PacketSize and true for a valid header,
// size -1 and false when b is too short to tell, and 0 and false for a header
// that is invalid. It allocates nothing for the common garbage byte; headerErr
// says why a header was refused.
func (f *Framer) candidate(b []byte) (size int, ok bool) {
	if len(b) > 4 && implausible(b[4]) {
		return 0, false
	}
	h, _, err := osp.ParseHeader(b)
	switch {
	case errors.Is(err, osp.ErrTruncated):
		return -1, false
	case err != nil || h.Size > f.max:
		return 0, false
	}
	return h.Size, true
}

// implausible is a quick test of byte 4 that refuses what osp.ParseHeader
// would (an undefined MsgType, C/S/A outside DATA) without building an error.
func implausible(b4 byte) bool {
	t := osp.MsgType(b4 >> 4)
	return !t.Valid() || t != osp.TypeData && osp.Flags(b4)&osp.DataOnlyFlags != 0
}

// headerErr explains why candidate refused the header at the start of b.
func (f *Framer) headerErr(b []byte) error {
	h, _, err := osp.ParseHeader(b)
	if err != nil {
		return err
	}
	return fmt.Errorf("%w: PacketSize %d exceeds the link's %d", osp.ErrTooLarge, h.Size, f.max)
}
