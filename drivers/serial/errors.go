package serial

import "errors"

// Sentinel errors of the package. Every error it returns or reports is, or
// wraps, one of these or an error of the layer below (the OS, go.bug.st/serial,
// gateway/osp), so callers branch with errors.Is.
var (
	// ErrConfig is returned by Config.Validate, ParseUSBMatch and Link.Run
	// when the configuration is invalid; the message names the field and
	// the value.
	ErrConfig = errors.New("serial: invalid configuration")
	// ErrNoPort is returned when no present port matches a USB match: the
	// adapter is unplugged (Run keeps retrying).
	ErrNoPort = errors.New("serial: no port matches")
	// ErrAmbiguous is returned when several ports match a USB match that
	// names no serial number.
	ErrAmbiguous = errors.New("serial: several ports match")
	// ErrPortDown is returned by Peer.Send while the port is not open
	// (unplugged, reopening, or Run not running).
	ErrPortDown = errors.New("serial: port not open")
	// ErrRunning is returned by Link.Run when the link is already running.
	ErrRunning = errors.New("serial: link already running")
	// ErrGarbage is reported for bytes that start no valid OSP header and
	// were dropped while resynchronising; it wraps the header error of the
	// first of them.
	ErrGarbage = errors.New("serial: bytes outside any packet")
	// ErrCutShort is reported for a packet whose header was valid but whose
	// remaining bytes never came: the line went idle, or the port was lost,
	// before PacketSize bytes arrived.
	ErrCutShort = errors.New("serial: packet cut short")
)
