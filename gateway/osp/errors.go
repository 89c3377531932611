package osp

import (
	"errors"
	"fmt"
)

// Sentinel errors of the codec and the session engine. Every error the package
// returns is, or wraps, one of these, so callers branch with errors.Is.
var (
	// ErrTruncated is returned when a packet or body is shorter than its
	// fields require.
	ErrTruncated = errors.New("osp: truncated packet")
	// ErrReservedMsgType is returned when the MsgType nibble is 0x0 or 0x9–0xF.
	ErrReservedMsgType = errors.New("osp: reserved MsgType")
	// ErrFlags is returned when the C, S or A flag is set on a packet type that
	// forbids it, or E is used against the session's security mode. The
	// concrete error is a *FlagError.
	ErrFlags = errors.New("osp: flag rule violated")
	// ErrPacketSize is returned when the PacketSize field is malformed: longer
	// than two bytes, not minimally encoded, or smaller than the fixed header.
	ErrPacketSize = errors.New("osp: invalid PacketSize field")
	// ErrSizeMismatch is returned when PacketSize disagrees with the number of
	// bytes that carried the packet.
	ErrSizeMismatch = errors.New("osp: PacketSize disagrees with packet length")
	// ErrTooLarge is returned when a packet to encode would exceed
	// MaxPacketSize (16383 bytes), or a received packet exceeds a configured
	// limit.
	ErrTooLarge = errors.New("osp: packet too large")
	// ErrBodyLength is returned when a fixed-size body has the wrong length.
	ErrBodyLength = errors.New("osp: wrong body length")
	// ErrConnState is returned when a CONNECT body carries an undefined
	// ConnState or one the receiving role may not receive.
	ErrConnState = errors.New("osp: invalid ConnState")
	// ErrAuth is returned when an EAX tag does not verify; the packet is
	// ignored as the specification requires.
	ErrAuth = errors.New("osp: authentication failed")
	// ErrTagLength is returned when a tag length outside 4..16 is configured.
	ErrTagLength = errors.New("osp: tag length must be 4..16 bytes")
	// ErrKeyLength is returned when a key is not 16 bytes (AES-128).
	ErrKeyLength = errors.New("osp: key must be 16 bytes (AES-128)")

	// ErrUnknownSID is returned when a packet names no live or pending session.
	ErrUnknownSID = errors.New("osp: unknown or closed SID")
	// ErrReplay is returned when a SeqNum falls outside the receive window or
	// was already accepted.
	ErrReplay = errors.New("osp: duplicate or stale SeqNum")
	// ErrUnknownDevice is returned by a DeviceLookup for a DeviceType and
	// ModuleID it does not know; the server then terminates the session.
	ErrUnknownDevice = errors.New("osp: unknown device")
	// ErrSecurityMismatch is returned when a device connects in the other
	// security mode than the one provisioned for it.
	ErrSecurityMismatch = errors.New("osp: security mode does not match the device's")
	// ErrHandshake is returned when a handshake step fails verification (the
	// echoed init vectors differ); the session is terminated silently.
	ErrHandshake = errors.New("osp: handshake verification failed")
	// ErrUnexpected is returned for a well-formed packet the receiving role
	// must ignore (an ACKNOWLEDGE or RESEND at the server, a DATA at the
	// client, an unsolicited response).
	ErrUnexpected = errors.New("osp: unexpected packet ignored")
	// ErrPlaintext is returned when a packet without EAX reaches a secure
	// session whose policy requires EAX.
	ErrPlaintext = errors.New("osp: plaintext packet in a secure session")
	// ErrBadInit is returned when an initial CONNECT does not carry SID 0,
	// SeqNum 1 and clear flags (clause 6.1.1.1).
	ErrBadInit = errors.New("osp: initial CONNECT must have SID 0, SeqNum 1 and no flags")
	// ErrRefused is returned to a client whose connection attempt the server
	// answered with ConnState 0x00.
	ErrRefused = errors.New("osp: connection refused by the server")
	// ErrTooManySessions is returned when the session table is full.
	ErrTooManySessions = errors.New("osp: session table full")

	// ErrNoSession is returned when an operation names a device without an
	// open session.
	ErrNoSession = errors.New("osp: no open session")
	// ErrSessionClosed is returned when an operation's session ended before
	// it completed.
	ErrSessionClosed = errors.New("osp: session closed")
	// ErrCommandPending is returned when a COMMAND is requested while another
	// is outstanding on the same session.
	ErrCommandPending = errors.New("osp: a command is already outstanding")
	// ErrCommandTimeout is returned when a COMMAND response did not arrive in
	// time.
	ErrCommandTimeout = errors.New("osp: command timed out")
	// ErrCommandBusy is returned when the client answered a COMMAND with the
	// BUSY exit code (0x02).
	ErrCommandBusy = errors.New("osp: client busy")
	// ErrFirmwarePending is returned when the client requests a chunk while a
	// previous request is outstanding.
	ErrFirmwarePending = errors.New("osp: a firmware request is already outstanding")
	// ErrFirmwareTimeout is returned when a FIRMWARE response did not arrive
	// in time.
	ErrFirmwareTimeout = errors.New("osp: firmware request timed out")
	// ErrCacheFull is returned when the client's cache has no slot for a new
	// DATA packet because every slot holds an unacknowledged one.
	ErrCacheFull = errors.New("osp: client cache full of unacknowledged packets")
	// ErrSeqExhausted is returned when a session is closed because its
	// SeqNum would overflow.
	ErrSeqExhausted = errors.New("osp: sequence numbers exhausted")
	// ErrHandshakeTimeout is returned when a handshake step was not answered
	// in time.
	ErrHandshakeTimeout = errors.New("osp: handshake timed out")
	// ErrPingTimeout is returned when a peer stopped answering PINGREQs.
	ErrPingTimeout = errors.New("osp: ping timed out")
	// ErrIdle is returned when a session was closed for inactivity.
	ErrIdle = errors.New("osp: session idle")
	// ErrReplaced is returned when a device's session is replaced by a newly
	// completed handshake.
	ErrReplaced = errors.New("osp: session replaced by a new one")
	// ErrTerminated is returned when the peer terminated the session
	// (ConnState 0x00).
	ErrTerminated = errors.New("osp: session terminated by peer")
	// ErrNotOpen is returned when the client is asked to send before its
	// session is open.
	ErrNotOpen = errors.New("osp: session not open")
	// ErrPaused is returned when an operation is not possible while the
	// session is paused.
	ErrPaused = errors.New("osp: session paused")
	// ErrClosed is returned by a Server after Close.
	ErrClosed = errors.New("osp: server closed")
)

// FlagError reports a flag rule violation: the C, S or A flag on a packet
// other than DATA, or E in a mode that forbids it. It matches ErrFlags.
type FlagError struct {
	Type  MsgType
	Flags Flags
	// Reason says which rule was broken.
	Reason string
}

// Error implements error.
func (e *FlagError) Error() string {
	return fmt.Sprintf("osp: flag rule violated: %s with flags %s: %s", e.Type, e.Flags, e.Reason)
}

// Is makes errors.Is(err, ErrFlags) true.
func (e *FlagError) Is(target error) bool { return target == ErrFlags }
