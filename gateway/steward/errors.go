package steward

import "errors"

// Sentinel errors of the steward. Every error the package returns is, or
// wraps, one of these where one applies.
var (
	// ErrInvalidJSON is returned by Decode when a frame is not one JSON
	// object.
	ErrInvalidJSON = errors.New("steward: invalid JSON")
	// ErrNoRequestID is returned by Decode when a message has no requestID,
	// or one that is empty, zero, or neither a string nor a number.
	ErrNoRequestID = errors.New("steward: missing requestID")
	// ErrNotConnected is returned when an action, observation or
	// cancellation names a native thing that has no live session.
	ErrNotConnected = errors.New("steward: thing not connected")
	// ErrUnknownThing is returned when a thing ID names no native thing.
	ErrUnknownThing = errors.New("steward: unknown thing")
	// ErrUnknownEvent is returned by Cancel for an eventID that no live
	// session observes.
	ErrUnknownEvent = errors.New("steward: unknown event")
	// ErrUnknownClient is returned by Revoke for a name or ID that no
	// pairing has.
	ErrUnknownClient = errors.New("steward: unknown client")
	// ErrUndeclared is returned when an action or observation is not in the
	// thing's prototype.
	ErrUndeclared = errors.New("steward: not declared by the prototype")
	// ErrRejected is returned (inside a *ThingError) when the thing answers
	// a perform, observe or cancel with an error.
	ErrRejected = errors.New("steward: rejected by the thing")
	// ErrClosed is returned when the steward or the session closed while a
	// request waited for its answer.
	ErrClosed = errors.New("steward: closed")
	// ErrConfig is returned by New for invalid Options.
	ErrConfig = errors.New("steward: invalid options")
)

// ThingError is a thing's per-entry error answer: what it said, and
// whether it said the failure is permanent. It matches ErrRejected.
type ThingError struct {
	Permanent  bool
	Diagnostic string
}

// Error returns the thing's diagnostic.
func (e *ThingError) Error() string {
	p := "temporary"
	if e.Permanent {
		p = "permanent"
	}
	return "steward: the thing answered (" + p + "): " + e.Diagnostic
}

// Is reports whether target is ErrRejected.
func (e *ThingError) Is(target error) bool { return target == ErrRejected }
