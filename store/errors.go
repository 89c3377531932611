package store

import (
	"errors"
	"fmt"
)

// Sentinel errors. Every error a DB method returns is wrapped with the package
// and operation name ("store: append: ...") and matches one of these with
// [errors.Is] when the cause is one of them. Their texts carry no "store:"
// prefix because they are always returned wrapped.
var (
	// ErrClosed is returned when a method is called on a DB after Close has
	// begun, and by Append and the asynchronous write methods (through done)
	// for writes submitted after that. Writes accepted before Close are
	// committed by Close, never dropped.
	ErrClosed = errors.New("database closed")

	// ErrNotFound is returned when a device, consumer cursor, thing state,
	// setting, firmware image or firmware chunk that was asked for (or asked
	// to be deleted) does not exist.
	ErrNotFound = errors.New("not found")

	// ErrInvalid is returned when an argument fails validation before any
	// work is done: a device whose key length does not match Secure, a tag
	// length outside 4..16, an empty name, a cursor ahead of the journal, a
	// non-positive limit, a malformed DeviceID, a firmware name or chunk size
	// out of range, bad Options.
	ErrInvalid = errors.New("invalid argument")

	// ErrLocked is returned by Open when the database file is still locked by
	// another DB (in this or another process) after Options.LockTimeout.
	ErrLocked = errors.New("database file is locked")

	// ErrSchemaTooNew is returned by Open when the file was written by a newer
	// build whose schema version this code does not know. The concrete error
	// is a *SchemaTooNewError carrying both versions. The file is not touched.
	ErrSchemaTooNew = errors.New("schema version too new")

	// ErrCorrupt is returned when a stored record cannot be decoded (unknown
	// record version, truncated or over-long value). The concrete error is a
	// *CorruptError.
	ErrCorrupt = errors.New("corrupt record")

	// ErrFull is returned when a write would take the database past
	// Options.MaxSize even after every journal record has been evicted, that
	// is when devices, state, history, cursors and settings alone fill the cap.
	ErrFull = errors.New("size cap reached")
)

// SchemaTooNewError is returned (wrapped) by Open when the file's schema
// version is newer than [SchemaVersion]. It matches [ErrSchemaTooNew].
type SchemaTooNewError struct {
	Stored    uint32 // version found in the file
	Supported uint32 // newest version this build knows (SchemaVersion)
}

// Error implements error.
func (e *SchemaTooNewError) Error() string {
	return fmt.Sprintf("database schema version %d is newer than this build supports (%d)", e.Stored, e.Supported)
}

// Is reports whether target is ErrSchemaTooNew.
func (e *SchemaTooNewError) Is(target error) bool { return target == ErrSchemaTooNew }

// CorruptError describes a stored value that failed to decode. It matches
// [ErrCorrupt].
type CorruptError struct {
	Record string // kind of record: "reading", "device", "state", ...
	Offset int    // byte offset at which decoding failed
	Reason string // what was wrong
}

// Error implements error.
func (e *CorruptError) Error() string {
	return fmt.Sprintf("corrupt %s record at byte %d: %s", e.Record, e.Offset, e.Reason)
}

// Is reports whether target is ErrCorrupt.
func (e *CorruptError) Is(target error) bool { return target == ErrCorrupt }

// invalidf returns an error wrapping ErrInvalid with a reason.
func invalidf(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrInvalid, fmt.Sprintf(format, args...))
}

// rejectError marks an error returned by a write function queued on the
// committer that rejected its request before writing anything: the shared
// transaction goes on and only that request's caller sees the error. Any other
// error from a write function aborts the whole transaction.
type rejectError struct{ err error }

func (e *rejectError) Error() string { return e.err.Error() }
func (e *rejectError) Unwrap() error { return e.err }

func reject(err error) error { return &rejectError{err: err} }
