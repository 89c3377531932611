package store

import (
	"encoding/binary"
	"math"
	"strconv"
	"time"
)

// Reading is one sensor reading as received by the gateway, the unit of the
// journal.
type Reading struct {
	// Seq is the journal sequence number, assigned by the store on Append
	// (ignored on input). Sequences start at 1, increase by one per reading
	// and are never reused, even after the records are pruned.
	Seq uint64
	// Time is the gateway's wall clock at receipt. Zero means "now" from
	// Options.Now. It must lie between the years 1678 and 2262 (Unix
	// nanoseconds in an int64).
	Time time.Time
	// Device identifies the sending OSP device.
	Device DeviceID
	// SID is the OSP sensor id within the device.
	SID uint16
	// MessageID is the OSP message id of the DATA packet.
	MessageID uint8
	// DataType is the OSP data type of the payload.
	DataType uint16
	// Flags holds the OSP C/S/A/E bits exactly as received.
	Flags uint8
	// Payload is the reading's data, at most MaxPayload bytes. Append copies it.
	Payload []byte
	// Link names the link the reading arrived on, e.g. "udp:127.0.0.1:5000",
	// at most MaxLink bytes.
	Link string
	// RSSI and SNR are the radio link quality of the packet, 0 on links that
	// have none.
	RSSI, SNR float32
	// Authenticated reports whether the packet was verified under the
	// device's key (EAX tag checked).
	Authenticated bool
}

// Limits of the reading encoding.
const (
	MaxPayload = math.MaxUint16 // longest Reading.Payload
	MaxLink    = math.MaxUint8  // longest Reading.Link
)

// readingV1 is the current reading record version (first byte of the value).
const readingV1 = 1

// Reading record, version 1 (the journal value; the key is the 8-byte
// big-endian sequence, which is not repeated in the value). All integers are
// big-endian.
//
//	off  size  field
//	  0     1  version = 0x01
//	  1     8  Time, Unix nanoseconds, int64 two's complement
//	  9     2  Device.Type
//	 11     4  Device.Module
//	 15     2  SID
//	 17     1  MessageID
//	 18     2  DataType
//	 20     1  Flags (OSP C/S/A/E bits as received)
//	 21     1  bit 0: Authenticated; bits 1..7 reserved, must be 0
//	 22     4  RSSI, IEEE 754 binary32 bits
//	 26     4  SNR, IEEE 754 binary32 bits
//	 30     1  L = len(Link)
//	 31     L  Link
//	31+L    2  P = len(Payload)
//	33+L    P  Payload
//
// A value is exactly 33+L+P bytes. Unlike wire frames, trailing bytes are
// rejected: the journal is only ever written by this code, so a length
// mismatch means corruption, and evolution goes through the version byte
// (a new layout gets a new version and a schema migration).
const (
	readingHeaderLen  = 31 // through the Link length byte
	readingMinLen     = readingHeaderLen + 2
	flagAuthenticated = 0x01
)

// offsets of the fields LastReadings and retention peek at without decoding.
const (
	offTime   = 1
	offDevice = 9
)

// checkReading validates r for encoding.
func checkReading(r *Reading) error {
	if len(r.Payload) > MaxPayload {
		return invalidf("payload is %d bytes, the limit is %d", len(r.Payload), MaxPayload)
	}
	if len(r.Link) > MaxLink {
		return invalidf("link name is %d bytes, the limit is %d", len(r.Link), MaxLink)
	}
	return checkTime("time", r.Time)
}

// readingLen returns the encoded length of r.
func readingLen(r *Reading) int { return readingMinLen + len(r.Link) + len(r.Payload) }

// appendReading appends the version-1 encoding of r (without Seq) to dst.
// r must have passed checkReading.
func appendReading(dst []byte, r *Reading) []byte {
	var auth byte
	if r.Authenticated {
		auth = flagAuthenticated
	}
	dst = append(dst, readingV1)
	dst = binary.BigEndian.AppendUint64(dst, uint64(r.Time.UnixNano()))
	dst = binary.BigEndian.AppendUint16(dst, r.Device.Type)
	dst = binary.BigEndian.AppendUint32(dst, r.Device.Module)
	dst = binary.BigEndian.AppendUint16(dst, r.SID)
	dst = append(dst, r.MessageID)
	dst = binary.BigEndian.AppendUint16(dst, r.DataType)
	dst = append(dst, r.Flags, auth)
	dst = binary.BigEndian.AppendUint32(dst, math.Float32bits(r.RSSI))
	dst = binary.BigEndian.AppendUint32(dst, math.Float32bits(r.SNR))
	dst = append(dst, byte(len(r.Link)))
	dst = append(dst, r.Link...)
	dst = binary.BigEndian.AppendUint16(dst, uint16(len(r.Payload)))
	dst = append(dst, r.Payload...)
	return dst
}

// encodeReading validates r and returns its version-1 encoding.
func encodeReading(r *Reading) ([]byte, error) {
	if err := checkReading(r); err != nil {
		return nil, err
	}
	return appendReading(make([]byte, 0, readingLen(r)), r), nil
}

func corruptReading(off int, reason string) error {
	return &CorruptError{Record: "reading", Offset: off, Reason: reason}
}

// decodeReading decodes a version-1 reading record. Seq is left zero (it
// lives in the key). The result shares no memory with b, so b may be a bbolt
// value that is only valid inside its transaction. It never panics: every
// length is checked before it is used, and failures are *CorruptError.
func decodeReading(b []byte) (Reading, error) {
	return (*readingDecoder)(nil).decode(b)
}

// readingDecoder decodes the many records of one scan with fewer
// allocations: payloads are copied into shared blocks (each payload's
// capacity ends where it does, so appending to one never overwrites the
// next), and each distinct link is one string. The nil decoder allocates
// per record.
type readingDecoder struct {
	block []byte            // the free rest of the current payload block
	links map[string]string // the links seen, interned
}

// decoderBlock is the size of the blocks payloads are copied into.
const decoderBlock = 16 << 10

// payload returns a copy of b.
func (d *readingDecoder) payload(b []byte) []byte {
	if d == nil || len(b) > decoderBlock/4 {
		return append([]byte(nil), b...)
	}
	if len(d.block) < len(b) {
		d.block = make([]byte, decoderBlock)
	}
	n := copy(d.block, b)
	out := d.block[:n:n]
	d.block = d.block[n:]
	return out
}

// link returns b as a string, the same string for the same bytes.
func (d *readingDecoder) link(b []byte) string {
	if d == nil {
		return string(b)
	}
	if s, ok := d.links[string(b)]; ok {
		return s
	}
	if d.links == nil {
		d.links = make(map[string]string)
	}
	s := string(b)
	d.links[s] = s
	return s
}

// decode is decodeReading, its copies made by d.
func (d *readingDecoder) decode(b []byte) (Reading, error) {
	var r Reading
	if len(b) < 1 {
		return r, corruptReading(0, "empty value")
	}
	if b[0] != readingV1 {
		return r, corruptReading(0, "unknown version "+strconv.Itoa(int(b[0])))
	}
	if len(b) < readingHeaderLen {
		return r, corruptReading(len(b), "truncated header")
	}
	be := binary.BigEndian
	r.Time = time.Unix(0, int64(be.Uint64(b[1:9]))).UTC()
	r.Device = DeviceID{Type: be.Uint16(b[9:11]), Module: be.Uint32(b[11:15])}
	r.SID = be.Uint16(b[15:17])
	r.MessageID = b[17]
	r.DataType = be.Uint16(b[18:20])
	r.Flags = b[20]
	if b[21]&^flagAuthenticated != 0 {
		return Reading{}, corruptReading(21, "reserved flag bits set")
	}
	r.Authenticated = b[21]&flagAuthenticated != 0
	r.RSSI = math.Float32frombits(be.Uint32(b[22:26]))
	r.SNR = math.Float32frombits(be.Uint32(b[26:30]))
	off := readingHeaderLen
	linkLen := int(b[30])
	if len(b)-off < linkLen+2 {
		return Reading{}, corruptReading(off, "truncated link")
	}
	r.Link = d.link(b[off : off+linkLen])
	off += linkLen
	payLen := int(be.Uint16(b[off : off+2]))
	off += 2
	switch {
	case len(b)-off < payLen:
		return Reading{}, corruptReading(off, "truncated payload")
	case len(b)-off > payLen:
		return Reading{}, corruptReading(off+payLen, "trailing bytes")
	}
	if payLen > 0 {
		r.Payload = d.payload(b[off : off+payLen])
	}
	return r, nil
}

// peekTime returns the Time of an encoded reading without decoding the rest.
func peekTime(b []byte) (time.Time, error) {
	if len(b) < readingHeaderLen || b[0] != readingV1 {
		return time.Time{}, corruptReading(0, "bad version or truncated header")
	}
	return time.Unix(0, int64(binary.BigEndian.Uint64(b[offTime:offTime+8]))), nil
}

// peekDevice returns the Device of an encoded reading without decoding the rest.
func peekDevice(b []byte) (DeviceID, bool) {
	if len(b) < readingHeaderLen || b[0] != readingV1 {
		return DeviceID{}, false
	}
	return DeviceID{
		Type:   binary.BigEndian.Uint16(b[offDevice : offDevice+2]),
		Module: binary.BigEndian.Uint32(b[offDevice+2 : offDevice+6]),
	}, true
}
