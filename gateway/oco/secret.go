package oco

import (
	"fmt"
	"log/slog"
)

// Secret holds a key (registration key, agent key, server key). It prints,
// formats, logs and encodes as "[redacted]" (or "" when empty), so that a
// key never reaches a log line or an API answer by accident; Reveal returns
// the value for the few places that need it (signing, the wire, the store).
type Secret struct{ v string }

// NewSecret wraps s.
func NewSecret(s string) Secret { return Secret{v: s} }

// Reveal returns the key itself.
func (s Secret) Reveal() string { return s.v }

// IsZero reports whether the secret is empty.
func (s Secret) IsZero() bool { return s.v == "" }

// Equal reports whether s and t hold the same key.
func (s Secret) Equal(t Secret) bool { return constantTimeEqual(s.v, t.v) }

const redacted = "[redacted]"

func (s Secret) shown() string {
	if s.v == "" {
		return ""
	}
	return redacted
}

// String implements fmt.Stringer without the value.
func (s Secret) String() string { return s.shown() }

// GoString implements fmt.GoStringer without the value.
func (s Secret) GoString() string { return "oco.Secret(" + s.shown() + ")" }

// Format implements fmt.Formatter: every verb prints the redacted form.
func (s Secret) Format(f fmt.State, _ rune) { fmt.Fprint(f, s.shown()) }

// LogValue implements slog.LogValuer without the value.
func (s Secret) LogValue() slog.Value { return slog.StringValue(s.shown()) }

// MarshalText implements encoding.TextMarshaler without the value, so that
// JSON and TOML encoders never write the key.
func (s Secret) MarshalText() ([]byte, error) { return []byte(s.shown()), nil }

// UnmarshalText implements encoding.TextUnmarshaler, so that a
// configuration file's key decodes straight into a Secret.
func (s *Secret) UnmarshalText(b []byte) error {
	s.v = string(b)
	return nil
}
