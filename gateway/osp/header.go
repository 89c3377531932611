package osp

import (
	"encoding/binary"
	"fmt"
	"strings"
)

// MsgType is the 4-bit packet type in the high nibble of byte 4 (clause 5.3).
type MsgType uint8

// The packet types of OSP 2.0. 0x0 and 0x9–0xF are reserved.
const (
	TypeConnect  MsgType = 0x1 // CONNECT / DISCONNECT
	TypeCommand  MsgType = 0x2 // COMMAND request or response
	TypeAck      MsgType = 0x3 // ACKNOWLEDGE
	TypePingReq  MsgType = 0x4 // PINGREQ
	TypePingResp MsgType = 0x5 // PINGRESP
	TypeFirmware MsgType = 0x6 // FIRMWARE request or response
	TypeResend   MsgType = 0x7 // RESEND
	TypeData     MsgType = 0x8 // DATA
)

var msgTypeNames = [...]string{"RESERVED", "CONNECT", "COMMAND", "ACKNOWLEDGE", "PINGREQ", "PINGRESP", "FIRMWARE", "RESEND", "DATA"}

// String returns the specification's short name of the type.
func (t MsgType) String() string {
	if int(t) < len(msgTypeNames) && t != 0 {
		return msgTypeNames[t]
	}
	return fmt.Sprintf("RESERVED(0x%x)", uint8(t))
}

// Valid reports whether t is one of the eight defined types.
func (t MsgType) Valid() bool { return t >= TypeConnect && t <= TypeData }

// Flags are the four low bits of byte 4: Cached, Saved, AckReq and EAX.
type Flags uint8

// The flag bits (clauses 5.4–5.7).
const (
	FlagEAX    Flags = 1 << 0 // E: body encrypted, MAC appended
	FlagAckReq Flags = 1 << 1 // A: acknowledge this DATA packet
	FlagSaved  Flags = 1 << 2 // S: archived data generated earlier
	FlagCached Flags = 1 << 3 // C: this DATA packet was sent before

	// DataOnlyFlags may be set only in DATA packets.
	DataOnlyFlags = FlagCached | FlagSaved | FlagAckReq
)

// String renders the bits in C, S, A, E order with "." for a clear bit, e.g.
// "..AE"; "none"
// when no bit is set.
func (f Flags) String() string {
	if f&0xF == 0 {
		return "none"
	}
	var b strings.Builder
	for _, x := range []struct {
		f Flags
		c byte
	}{{FlagCached, 'C'}, {FlagSaved, 'S'}, {FlagAckReq, 'A'}, {FlagEAX, 'E'}} {
		if f&x.f != 0 {
			b.WriteByte(x.c)
		} else {
			b.WriteByte('.')
		}
	}
	return b.String()
}

// Sizes of the fixed header and packets.
const (
	// MinHeaderLen is the fixed header with a one-byte PacketSize.
	MinHeaderLen = 6
	// MaxHeaderLen is the fixed header with a two-byte PacketSize.
	MaxHeaderLen = 7
	// MaxPacketSize is the largest PacketSize two 7-bit groups can express.
	MaxPacketSize = 1<<14 - 1
)

// Header is the fixed header of every packet (clause 5).
type Header struct {
	SID    uint16
	SeqNum uint16
	Type   MsgType
	Flags  Flags
	// Size is PacketSize: the length of the whole packet, fixed header, body
	// and MAC included.
	Size int
}

// Len returns the encoded length of the fixed header for h.Size.
func (h Header) Len() int { return headerLen(h.Size) }

func headerLen(size int) int {
	if size > 127 {
		return MaxHeaderLen
	}
	return MinHeaderLen
}

// PacketSizeFor returns the PacketSize of a packet whose body and MAC take
// rest bytes, accounting for the PacketSize field growing to two bytes.
func PacketSizeFor(rest int) int {
	if n := MinHeaderLen + rest; n <= 127 {
		return n
	}
	return MaxHeaderLen + rest
}

// AppendPacketSize appends the 7-bit, LSB-first, chained encoding of size.
func AppendPacketSize(b []byte, size int) ([]byte, error) {
	switch {
	case size < 0 || size > MaxPacketSize:
		return b, fmt.Errorf("%w: PacketSize %d", ErrTooLarge, size)
	case size < 128:
		return append(b, byte(size)), nil
	default:
		return append(b, byte(size&0x7f)|0x80, byte(size>>7)), nil
	}
}

// ParsePacketSize decodes the PacketSize field at the start of b and returns
// the value and the number of bytes it took. The field is at most two bytes
// and must be minimally encoded.
func ParsePacketSize(b []byte) (size, n int, err error) {
	if len(b) < 1 {
		return 0, 0, ErrTruncated
	}
	if b[0]&0x80 == 0 {
		return int(b[0]), 1, nil
	}
	if len(b) < 2 {
		return 0, 0, ErrTruncated
	}
	if b[1]&0x80 != 0 {
		return 0, 0, fmt.Errorf("%w: longer than two bytes", ErrPacketSize)
	}
	if b[1] == 0 {
		return 0, 0, fmt.Errorf("%w: not minimally encoded", ErrPacketSize)
	}
	return int(b[0]&0x7f) | int(b[1])<<7, 2, nil
}

// CheckFlags applies the flag rules that hold whatever the session: C, S and
// A only in DATA packets (clauses 5.4–5.6).
func CheckFlags(t MsgType, f Flags) error {
	if t != TypeData && f&DataOnlyFlags != 0 {
		return &FlagError{Type: t, Flags: f, Reason: "C, S and A may only be set in DATA packets"}
	}
	return nil
}

// ParseHeader decodes and validates the fixed header at the start of b: the
// MsgType must be defined, the flag rules must hold, and PacketSize must be
// well formed and cover at least the header. It returns the header and its
// encoded length. b may hold more or fewer bytes than h.Size; see Decode for
// the check that they agree.
func ParseHeader(b []byte) (h Header, n int, err error) {
	return parseHeader(b, true)
}

// parseHeader is ParseHeader with the flag rules optional: a session checks
// them itself once the packet authenticated, so that a forged packet cannot
// end it.
func parseHeader(b []byte, checkFlags bool) (h Header, n int, err error) {
	if len(b) < MinHeaderLen {
		return h, 0, ErrTruncated
	}
	h.SID = binary.BigEndian.Uint16(b[0:2])
	h.SeqNum = binary.BigEndian.Uint16(b[2:4])
	h.Type = MsgType(b[4] >> 4)
	h.Flags = Flags(b[4] & 0x0f)
	if !h.Type.Valid() {
		return h, 0, fmt.Errorf("%w: 0x%x", ErrReservedMsgType, uint8(h.Type))
	}
	if checkFlags {
		if err := CheckFlags(h.Type, h.Flags); err != nil {
			return h, 0, err
		}
	}
	size, sn, err := ParsePacketSize(b[5:])
	if err != nil {
		return h, 0, err
	}
	n = 5 + sn
	if size < n {
		return h, 0, fmt.Errorf("%w: %d is smaller than the fixed header", ErrPacketSize, size)
	}
	h.Size = size
	return h, n, nil
}

// AppendHeader appends the encoded fixed header. h.Size must already be the
// whole packet's size (see PacketSizeFor).
func AppendHeader(b []byte, h Header) ([]byte, error) {
	if !h.Type.Valid() {
		return b, fmt.Errorf("%w: 0x%x", ErrReservedMsgType, uint8(h.Type))
	}
	if h.Flags > 0xF {
		return b, &FlagError{Type: h.Type, Flags: h.Flags, Reason: "undefined flag bits"}
	}
	if err := CheckFlags(h.Type, h.Flags); err != nil {
		return b, err
	}
	if h.Size < headerLen(h.Size) {
		return b, fmt.Errorf("%w: %d is smaller than the fixed header", ErrPacketSize, h.Size)
	}
	b = binary.BigEndian.AppendUint16(b, h.SID)
	b = binary.BigEndian.AppendUint16(b, h.SeqNum)
	b = append(b, byte(h.Type)<<4|byte(h.Flags))
	return AppendPacketSize(b, h.Size)
}

// Packet is a decoded packet whose body is still raw: ciphertext and MAC when
// FlagEAX is set, plaintext otherwise. It aliases the bytes it was decoded
// from.
type Packet struct {
	Header
	// Raw is the whole packet, Raw[:HeaderLen] is the fixed header as sent
	// (the EAX associated data).
	Raw       []byte
	HeaderLen int
}

// Body returns the bytes after the fixed header (body and MAC).
func (p *Packet) Body() []byte { return p.Raw[p.HeaderLen:] }

// Decode parses one whole packet from b, as carried by one datagram or cut
// from a stream by its PacketSize. PacketSize must equal len(b).
func Decode(b []byte) (Packet, error) {
	return decode(b, true)
}

func decode(b []byte, checkFlags bool) (Packet, error) {
	h, n, err := parseHeader(b, checkFlags)
	if err != nil {
		return Packet{}, err
	}
	if h.Size != len(b) {
		return Packet{}, fmt.Errorf("%w: PacketSize %d, %d bytes", ErrSizeMismatch, h.Size, len(b))
	}
	return Packet{Header: h, Raw: b, HeaderLen: n}, nil
}

// AppendPlain appends a complete packet without EAX: the header for t, flags,
// sid and seq, then body. flags must not contain FlagEAX.
func AppendPlain(dst []byte, sid, seq uint16, t MsgType, flags Flags, body []byte) ([]byte, error) {
	if flags&FlagEAX != 0 {
		return dst, &FlagError{Type: t, Flags: flags, Reason: "E set without a key"}
	}
	size := PacketSizeFor(len(body))
	if size > MaxPacketSize {
		return dst, fmt.Errorf("%w: %d bytes", ErrTooLarge, size)
	}
	dst, err := AppendHeader(dst, Header{SID: sid, SeqNum: seq, Type: t, Flags: flags, Size: size})
	if err != nil {
		return dst, err
	}
	return append(dst, body...), nil
}
