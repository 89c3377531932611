package dtls

import "errors"

// The package's sentinels; errors returned by the package wrap them (%w) so
// errors.Is works.
var (
	// ErrConfig is returned by New (wrapped) for an invalid Config or
	// Options; the message names the field and its value.
	ErrConfig = errors.New("dtls: invalid configuration")

	// ErrRateLimited is reported to OnError for a handshake refused by the
	// per-address rate limit.
	ErrRateLimited = errors.New("dtls: handshakes rate limited")

	// ErrTooManyConns is reported to OnError for a handshake refused because
	// MaxConns connections or MaxHandshakes handshakes are already open.
	ErrTooManyConns = errors.New("dtls: too many connections")

	// ErrIdentity is returned by ParseIdentity, and reported in a failed
	// handshake, for a PSK identity that is not a canonical
	// "DeviceType:ModuleID".
	ErrIdentity = errors.New("dtls: bad PSK identity")

	// ErrTooLarge is returned by Peer.Send for a packet larger than
	// Peer.MTU.
	ErrTooLarge = errors.New("dtls: packet larger than the link MTU")

	// ErrRunning is returned by Run when the link is already running or has
	// run before (a Link runs once).
	ErrRunning = errors.New("dtls: link already run")
)
