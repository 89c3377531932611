package wire

import (
	"bytes"
	"fmt"
	"io"
)

// Delimiter ends every frame on a JOSP stream.
const Delimiter = "##"

// The non-JOSP frames of the stream.
const (
	// HeartbeatRequest asks the peer for a HeartbeatResponse.
	HeartbeatRequest = "hb_rq"
	// HeartbeatResponse answers a HeartbeatRequest.
	HeartbeatResponse = "hb_rs"
	// Bye announces that the sender closes the connection.
	Bye = "bye"
)

// DefaultMaxFrame is the frame size limit of a FrameReader made with a
// limit < 1.
const DefaultMaxFrame = 1 << 20

// readChunk is how much a FrameReader asks its reader for at a time.
const readChunk = 4096

// AppendFrame appends msg and the delimiter to b. The caller is responsible
// for msg not containing the delimiter.
func AppendFrame(b, msg []byte) []byte {
	b = append(b, msg...)
	return append(b, Delimiter...)
}

// FrameReader cuts a byte stream into frames. It keeps what it has read
// across errors, so a read deadline that expires (a heartbeat timer) loses
// nothing: call Next again. It is not safe for concurrent use.
type FrameReader struct {
	r   io.Reader
	max int

	buf        []byte // buf[start:end] is unconsumed input
	start, end int
	scanned    int  // buf[start:scanned] holds no delimiter
	discard    bool // skipping the rest of a frame that was too long
}

// NewFrameReader returns a reader of frames from r of at most max bytes
// (DefaultMaxFrame when max < 1).
func NewFrameReader(r io.Reader, max int) *FrameReader {
	if max < 1 {
		max = DefaultMaxFrame
	}
	return &FrameReader{r: r, max: max, buf: make([]byte, 0, readChunk)}
}

// Buffered returns the number of bytes read from the stream and not yet
// consumed.
func (f *FrameReader) Buffered() int { return f.end - f.start }

// fill reads once more from the stream, compacting or growing the buffer
// first so that at least readChunk bytes fit.
func (f *FrameReader) fill() error {
	if f.start > 0 {
		n := copy(f.buf[:cap(f.buf)], f.buf[f.start:f.end])
		f.scanned -= f.start
		f.start, f.end = 0, n
	}
	if cap(f.buf)-f.end < readChunk {
		nb := make([]byte, f.end, 2*cap(f.buf)+readChunk)
		copy(nb, f.buf[:f.end])
		f.buf = nb
	}
	f.buf = f.buf[:cap(f.buf)]
	n, err := f.r.Read(f.buf[f.end:])
	f.end += n
	f.buf = f.buf[:f.end]
	if n > 0 {
		return nil
	}
	if err == nil {
		err = io.ErrNoProgress
	}
	return err
}

// Next returns the next non-empty frame without its delimiter. The slice
// is valid until the next call. At the end of the stream a frame without
// its delimiter is discarded and io.EOF (or the reader's error) returned.
// A frame longer than the limit is skipped and reported as
// ErrFrameTooLong; the next call returns the frame after it.
func (f *FrameReader) Next() ([]byte, error) {
	for {
		if i := bytes.Index(f.buf[f.scanned:f.end], []byte(Delimiter)); i >= 0 {
			at := f.scanned + i
			frame := f.buf[f.start:at]
			f.start = at + len(Delimiter)
			f.scanned = f.start
			if f.discard || len(frame) > f.max {
				f.discard = false
				return nil, fmt.Errorf("%w: more than %d bytes", ErrFrameTooLong, f.max)
			}
			if len(frame) == 0 {
				continue
			}
			return frame, nil
		}
		// A '#' at the end may start the delimiter.
		f.scanned = max(f.start, f.end-1)
		if f.discard {
			f.start = f.scanned
		} else if n := f.end - f.start; n > f.max && (n > f.max+1 || f.buf[f.end-1] != '#') {
			f.discard = true
			f.start = f.scanned
		}
		if err := f.fill(); err != nil {
			return nil, err
		}
	}
}

// ReadLine returns the next identity line: the bytes up to a '\n' (which
// is consumed) or up to a delimiter (which is left for Next to skip as an
// empty frame), without surrounding white space. Empty lines are skipped.
// It fails with ErrLineTooLong when max bytes pass without a line end.
func (f *FrameReader) ReadLine(max int) ([]byte, error) {
	for {
		seg := f.buf[f.start:f.end]
		nl := bytes.IndexByte(seg, '\n')
		dl := bytes.Index(seg, []byte(Delimiter))
		cut, skip := -1, 0
		switch {
		case nl >= 0 && (dl < 0 || nl < dl):
			cut, skip = nl, 1
		case dl >= 0:
			cut = dl
		}
		if cut > max {
			return nil, fmt.Errorf("%w: more than %d bytes", ErrLineTooLong, max)
		}
		if cut >= 0 {
			line := bytes.TrimSpace(seg[:cut])
			f.start += cut + skip
			f.scanned = f.start
			if len(line) == 0 {
				if skip == 0 { // an empty frame: drop its delimiter
					f.start += len(Delimiter)
					f.scanned = f.start
				}
				continue
			}
			return line, nil
		}
		if len(seg) > max {
			return nil, fmt.Errorf("%w: more than %d bytes", ErrLineTooLong, max)
		}
		if err := f.fill(); err != nil {
			return nil, err
		}
	}
}

// Peek returns the next n bytes of the stream without consuming them,
// reading as needed. The slice is valid until the next call.
func (f *FrameReader) Peek(n int) ([]byte, error) {
	for f.end-f.start < n {
		if err := f.fill(); err != nil {
			return f.buf[f.start:f.end], err
		}
	}
	return f.buf[f.start : f.start+n], nil
}

// ReadFull consumes and returns the next n bytes of the stream (a DER
// certificate, whose bytes may contain the delimiter). The slice is valid
// until the next call.
func (f *FrameReader) ReadFull(n int) ([]byte, error) {
	b, err := f.Peek(n)
	if err != nil {
		return nil, err
	}
	f.start += n
	f.scanned = f.start
	return b, nil
}

// DERLength returns the total length of the DER element (a certificate's
// SEQUENCE) whose first bytes are b: ok is false while b is too short to
// tell, and err is set when b does not start a definite-length SEQUENCE.
func DERLength(b []byte) (n int, ok bool, err error) {
	if len(b) < 2 {
		return 0, false, nil
	}
	if b[0] != 0x30 {
		return 0, false, fmt.Errorf("%w: certificate does not start with a DER SEQUENCE (0x%02x)", ErrMalformed, b[0])
	}
	if b[1] < 0x80 {
		return 2 + int(b[1]), true, nil
	}
	k := int(b[1] & 0x7f)
	if k == 0 || k > 3 {
		return 0, false, fmt.Errorf("%w: DER length of %d bytes", ErrMalformed, k)
	}
	if len(b) < 2+k {
		return 0, false, nil
	}
	l := 0
	for _, c := range b[2 : 2+k] {
		l = l<<8 | int(c)
	}
	return 2 + k + l, true, nil
}
