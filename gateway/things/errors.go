package things

import (
	"errors"
	"fmt"
	"strings"
)

// Sentinel errors of the hub and the profile decoder. Every error the package
// returns is, or wraps, one of these, so callers branch with errors.Is.
var (
	// ErrUnknownThing is returned when a thing ID names no registered thing.
	ErrUnknownThing = errors.New("things: unknown thing")
	// ErrUnknownAction is returned when an action is not declared by the
	// thing (Hub.Perform) or by the profile (Profile.CommandScript).
	ErrUnknownAction = errors.New("things: unknown action")
	// ErrNoOwner is returned by Hub.Perform when no Owner is registered for
	// the thing's Kind.
	ErrNoOwner = errors.New("things: no owner for the thing's kind")
	// ErrInvalidArgs is returned when the arguments of an action lack a
	// declared parameter, name an undeclared one, or (for command scripts)
	// contain control characters or invalid UTF-8.
	ErrInvalidArgs = errors.New("things: invalid action arguments")
	// ErrInvalidThing is returned when a thing to register has an empty ID,
	// an unknown Kind, or empty or duplicate property or action names.
	ErrInvalidThing = errors.New("things: invalid thing")
	// ErrThingExists is returned by Hub.Register when the ID is already
	// registered (Hub.Upsert replaces instead).
	ErrThingExists = errors.New("things: thing already registered")
	// ErrInvalidValue is returned when an update carries a property without a
	// name or with a Value that has no type.
	ErrInvalidValue = errors.New("things: invalid property value")
	// ErrPropertyType is returned when an update's value has another type than
	// the declared property (an Int is accepted for a Float property).
	ErrPropertyType = errors.New("things: value type does not match property")
	// ErrBadHistory is returned by ParseHistory for bytes that are neither
	// form of a HistoryRecord.
	ErrBadHistory = errors.New("things: malformed history record")
	// ErrClosed is returned when the hub was closed.
	ErrClosed = errors.New("things: hub closed")

	// ErrInvalidProfile is returned when a profile fails to parse or to
	// validate; the concrete error is a *ProfileError naming the key.
	ErrInvalidProfile = errors.New("things: invalid profile")
	// ErrUnknownDataType is returned by Profile.Decode for a DataType the
	// profile does not declare; the concrete error is a *DecodeError.
	ErrUnknownDataType = errors.New("things: unknown DataType")
	// ErrShortPayload is returned by Profile.Decode when the payload ends
	// before a declared field does; the concrete error is a *DecodeError.
	ErrShortPayload = errors.New("things: payload too short")
)

// ProfileError describes why a profile was rejected. Profile, File,
// DataType, Field, Action and Key locate the problem (empty when not
// applicable); Value is the bad value as written. It matches
// ErrInvalidProfile with errors.Is.
type ProfileError struct {
	Profile  string // profile name, empty when unknown
	File     string // the file read, empty for LoadProfile
	DataType string // e.g. `10 ("climate")`
	Field    string // field name, or "#n" when it has none
	Action   string // action name, or "#n" when it has none
	Key      string // the TOML key, e.g. "offset" or "datatype.field.sclae"
	Value    string // the offending value, if any
	Reason   string // what is wrong
	Err      error  // underlying error (a TOML parse error), if any
}

// Error returns a message naming every known location of the problem.
func (e *ProfileError) Error() string {
	var b strings.Builder
	b.WriteString("things: profile")
	if e.Profile != "" {
		fmt.Fprintf(&b, " %q", e.Profile)
	}
	if e.File != "" {
		fmt.Fprintf(&b, " (%s)", e.File)
	}
	if e.DataType != "" {
		b.WriteString(": datatype ")
		b.WriteString(e.DataType)
	}
	if e.Field != "" {
		fmt.Fprintf(&b, ": field %q", e.Field)
	}
	if e.Action != "" {
		fmt.Fprintf(&b, ": action %q", e.Action)
	}
	if e.Key != "" {
		b.WriteString(": ")
		b.WriteString(e.Key)
		if e.Value != "" {
			b.WriteString(" = ")
			b.WriteString(e.Value)
		}
	}
	if e.Reason != "" {
		b.WriteString(": ")
		b.WriteString(e.Reason)
	}
	if e.Err != nil {
		b.WriteString(": ")
		b.WriteString(e.Err.Error())
	}
	return b.String()
}

// Unwrap returns the underlying error.
func (e *ProfileError) Unwrap() error { return e.Err }

// Is reports whether target is ErrInvalidProfile.
func (e *ProfileError) Is(target error) bool { return target == ErrInvalidProfile }

// DecodeError describes a payload that did not decode. Kind is
// ErrUnknownDataType or ErrShortPayload; Field names the first field that did
// not fit (empty for an unknown DataType).
type DecodeError struct {
	Profile  string // profile name; empty for a nil profile
	DataType uint16 // the DATA packet's DataType
	Field    string // first field beyond the payload; empty for ErrUnknownDataType
	Need     int    // bytes the field needs (offset + size)
	Have     int    // payload length
	Kind     error  // ErrUnknownDataType or ErrShortPayload
}

// Error returns a message naming the profile, DataType and field.
func (e *DecodeError) Error() string {
	if e.Field == "" {
		return fmt.Sprintf("things: profile %q: DataType %d (0x%04X): %s", e.Profile, e.DataType, e.DataType, trimPrefix(e.Kind))
	}
	return fmt.Sprintf("things: profile %q: DataType %d (0x%04X): field %q needs %d bytes, payload has %d: %s",
		e.Profile, e.DataType, e.DataType, e.Field, e.Need, e.Have, trimPrefix(e.Kind))
}

// Unwrap returns Kind, so errors.Is(err, ErrShortPayload) works.
func (e *DecodeError) Unwrap() error { return e.Kind }

func trimPrefix(err error) string {
	if err == nil {
		return "decode failed"
	}
	return strings.TrimPrefix(err.Error(), "things: ")
}
