// Package serial is the OSP link over a byte stream: RS-232/RS-485 lines, USB
// serial adapters, and UART LoRa modules in transparent mode. It opens the
// port with go.bug.st/serial, cuts the byte stream into OSP packets, hands each
// to the session layer with the line's Peer as reply path, and reopens the
// port when the device goes away. It knows the OSP fixed header, not sessions.
//
// # Framing
//
// A byte stream carries no packet boundaries; OSP packets delimit themselves
// (DESIGN.md, "OSP over byte streams"). The fixed header (OSP 2.0 clause 5)
// ends with PacketSize, the length of the whole packet:
//
//	byte 0-1  SID
//	byte 2-3  SeqNum
//	byte 4    MsgType<<4 | C S A E
//	byte 5-6  PacketSize, 7 bits per byte, LSB group first, high bit chains
//	...       body and MAC up to PacketSize bytes in all
//
// A [Framer] looks for a header at the start of what it holds and validates it
// with osp.ParseHeader: MsgType defined (0x1–0x8), C, S and A only on DATA,
// PacketSize minimally encoded, at least the header's own length, and at most
// the configured maximum (itself at most osp.MaxPacketSize). Once PacketSize
// bytes are there they are one packet; the next header starts right after.
// Several packets in one read and one packet spread over many reads are the
// same case: the framer holds whatever is incomplete and waits for more.
//
// # Resynchronisation
//
// After line noise, a baud rate mismatch, or a sensor that reset halfway
// through a packet, the byte at the cursor does not start a valid header. The
// framer then drops that one byte and tries the next offset, until a valid
// header appears. Dropped bytes are counted and reported, a run of them at a
// time, so that field failures can become fuzz seeds.
//
//	stream:  .. 3f 00 | 00 01 00 01 10 0e ... (14 bytes) | 00 07 ...
//	         garbage  | header valid, PacketSize 14      | next header
//	         dropped one byte at a time
//
// A header can also be valid by accident, or be real but cut short. Either way
// the framer waits for PacketSize bytes that are never coming, so waiting is
// bounded by the inter-byte idle timeout: when the bytes of an incomplete
// packet have seen no new byte for at least the timeout, the candidate is
// discarded (counted as a discarded frame) and its bytes are rescanned from
// the next offset, now knowing no more bytes belong to them: a complete packet
// hidden behind a false header is still delivered, and everything else is
// dropped. A packet that arrives after the pause starts on a clean buffer.
//
// The bound on PacketSize bounds the damage of a false header in continuous
// traffic: it can hold at most that many bytes before they are emitted as one
// packet the session layer rejects, and the framer resumes after them.
//
// # The link
//
// [Link] owns the port: [Link.Run] opens it (resolving a USB VID:PID[:serial]
// match to a device path on every attempt), reads until the read fails, and
// then closes it and reopens it with exponential backoff. An unplugged adapter
// or a hung-up line never ends Run: every failed open and every loss of the
// port is reported through Options.OnState, and Run returns only when its
// context ends (or at once, for a Config that does not validate). A serial
// line is point to point, or a transparent LoRa UART with several sensors
// behind it: either way the link has exactly one [Peer], the line, whose Send
// writes each packet in one write call.
//
// The package logs nothing and keeps no global state; it reports through the
// callbacks in [Options] and the counters of [Link.Stats].
package serial
