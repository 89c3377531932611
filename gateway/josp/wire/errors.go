package wire

import "errors"

// Sentinel errors of the codec. Every error the package returns wraps one
// of them.
var (
	// ErrFrameTooLong is returned by FrameReader.Next when a frame exceeds
	// the reader's limit; the frame is skipped up to its delimiter and the
	// reader goes on with the next one.
	ErrFrameTooLong = errors.New("josp: frame too long")
	// ErrLineTooLong is returned by FrameReader.ReadLine when no line end
	// arrives within the limit.
	ErrLineTooLong = errors.New("josp: identity line too long")
	// ErrNotJOSP is returned when a frame does not start with "JOSP/2.0 ".
	ErrNotJOSP = errors.New("josp: not a JOSP/2.0 message")
	// ErrUnknownType is returned when a message's type is not one of the
	// JOSP 2.0 message types, or is not the type a typed parser expects.
	ErrUnknownType = errors.New("josp: unknown message type")
	// ErrMalformed is returned when a message, a row, a payload, the
	// structure JSON or history limits lack a field or hold an invalid
	// value.
	ErrMalformed = errors.New("josp: malformed message")
)
