package store

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"strings"
	"time"
)

// DeviceID identifies an OSP device: its DeviceType and ModuleID. Its text
// form is "Type:Module" in decimal, e.g. "1:4242".
type DeviceID struct {
	Type   uint16 // OSP DeviceType
	Module uint32 // OSP ModuleID
}

// String returns "Type:Module", e.g. "1:4242".
func (id DeviceID) String() string {
	return strconv.FormatUint(uint64(id.Type), 10) + ":" + strconv.FormatUint(uint64(id.Module), 10)
}

// ParseDeviceID parses the "Type:Module" form written by DeviceID.String.
// Both numbers are decimal; errors match ErrInvalid.
func ParseDeviceID(s string) (DeviceID, error) {
	ts, ms, ok := strings.Cut(s, ":")
	if !ok {
		return DeviceID{}, fmt.Errorf("store: parse device id %q: %w", s, invalidf("want Type:Module"))
	}
	t, err := strconv.ParseUint(ts, 10, 16)
	if err != nil {
		return DeviceID{}, fmt.Errorf("store: parse device id %q: %w", s, invalidf("device type: %v", err))
	}
	m, err := strconv.ParseUint(ms, 10, 32)
	if err != nil {
		return DeviceID{}, fmt.Errorf("store: parse device id %q: %w", s, invalidf("module id: %v", err))
	}
	return DeviceID{Type: uint16(t), Module: uint32(m)}, nil
}

// MarshalText implements encoding.TextMarshaler with the String form.
func (id DeviceID) MarshalText() ([]byte, error) { return []byte(id.String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler with ParseDeviceID.
func (id *DeviceID) UnmarshalText(b []byte) error {
	v, err := ParseDeviceID(string(b))
	if err != nil {
		return err
	}
	*id = v
	return nil
}

// key returns the devices-bucket key: Type then Module, 6 bytes big-endian,
// so the registry iterates in numeric (Type, Module) order.
func (id DeviceID) key() []byte {
	var k [6]byte
	binary.BigEndian.PutUint16(k[0:2], id.Type)
	binary.BigEndian.PutUint32(k[2:6], id.Module)
	return k[:]
}

// Device parameters validated by PutDevice.
const (
	DeviceKeyLen        = 16  // AES-128 key length of a secure device
	MinTagLen           = 4   // shortest EAX tag
	MaxTagLen           = 16  // longest EAX tag
	DefaultTagLen       = 8   // tag length used when TagLen is 0
	DefaultMaxMessageID = 255 // MaxMessageID used when it is 0
)

// Device is an OSP device in the registry with its security parameters.
//
// IMPORTANT: Key is secret. Device's String, GoString, Format (every fmt
// verb), LogValue (slog) and MarshalJSON never include it, so a Device can be
// logged or serialised for display without leaking the key. The key is
// stored in the database file in clear; the file is created mode 0600.
type Device struct {
	Type   uint16 // OSP DeviceType
	Module uint32 // OSP ModuleID
	Name   string // human-readable name
	// Secure reports whether the device uses the EAX handshake; then Key
	// must be DeviceKeyLen bytes, otherwise it must be empty.
	Secure bool
	Key    []byte
	// TagLen is the EAX tag length, 4..16; 0 means DefaultTagLen.
	TagLen int
	// Profile names the device profile (data types, commands).
	Profile string
	// OCSDeviceID is the device's id on the upstream OCS. The store keeps
	// what it is given; choosing a default is the caller's business.
	OCSDeviceID string
	// MaxMessageID is the highest OSP message id before wrap-around; 0
	// means DefaultMaxMessageID.
	MaxMessageID uint8
	// Added is when the device was provisioned; zero means now (Options.Now).
	Added time.Time
}

// ID returns the device's DeviceID.
func (d Device) ID() DeviceID { return DeviceID{Type: d.Type, Module: d.Module} }

// validate checks d and fills in defaults.
func (d *Device) validate(now func() time.Time) error {
	switch {
	case d.Secure && len(d.Key) != DeviceKeyLen:
		return invalidf("device %v is secure: key must be %d bytes, got %d", d.ID(), DeviceKeyLen, len(d.Key))
	case !d.Secure && len(d.Key) != 0:
		return invalidf("device %v is not secure but has a %d-byte key", d.ID(), len(d.Key))
	case d.TagLen != 0 && (d.TagLen < MinTagLen || d.TagLen > MaxTagLen):
		return invalidf("device %v: tag length %d outside %d..%d", d.ID(), d.TagLen, MinTagLen, MaxTagLen)
	}
	if d.TagLen == 0 {
		d.TagLen = DefaultTagLen
	}
	if d.MaxMessageID == 0 {
		d.MaxMessageID = DefaultMaxMessageID
	}
	if d.Added.IsZero() {
		d.Added = now()
	}
	return nil
}

// redactedKey stands for a key in every printed form of a Device.
const redactedKey = "[redacted]"

// keyState is what the printed forms say about the key.
func (d Device) keyState() string {
	if len(d.Key) == 0 {
		return "none"
	}
	return redactedKey
}

// String returns a one-line description without the key.
func (d Device) String() string {
	return fmt.Sprintf("Device{ID:%v Name:%q Secure:%t Key:%s TagLen:%d Profile:%q OCSDeviceID:%q MaxMessageID:%d Added:%s}",
		d.ID(), d.Name, d.Secure, d.keyState(), d.TagLen, d.Profile, d.OCSDeviceID, d.MaxMessageID, d.Added.Format(time.RFC3339Nano))
}

// GoString returns a Go-syntax-like form for %#v, without the key.
func (d Device) GoString() string {
	return fmt.Sprintf("store.Device{Type:0x%x, Module:0x%x, Name:%q, Secure:%t, Key:/* %s */nil, TagLen:%d, Profile:%q, OCSDeviceID:%q, MaxMessageID:0x%x, Added:%q}",
		d.Type, d.Module, d.Name, d.Secure, d.keyState(), d.TagLen, d.Profile, d.OCSDeviceID, d.MaxMessageID, d.Added.Format(time.RFC3339Nano))
}

// Format implements fmt.Formatter so that no verb (%x and %v included) can
// print the key: %#v prints GoString, %q a quoted String, every other verb
// String.
func (d Device) Format(f fmt.State, verb rune) {
	switch {
	case verb == 'v' && f.Flag('#'):
		_, _ = io.WriteString(f, d.GoString())
	case verb == 'q':
		_, _ = io.WriteString(f, strconv.Quote(d.String()))
	default:
		_, _ = io.WriteString(f, d.String())
	}
}

// LogValue implements slog.LogValuer: a group of the device's fields with the
// key reduced to "none" or "[redacted]".
func (d Device) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("id", d.ID().String()),
		slog.String("name", d.Name),
		slog.Bool("secure", d.Secure),
		slog.String("key", d.keyState()),
		slog.Int("tag_len", d.TagLen),
		slog.String("profile", d.Profile),
		slog.String("ocs_device_id", d.OCSDeviceID),
		slog.Int("max_message_id", int(d.MaxMessageID)),
		slog.Time("added", d.Added),
	)
}

// deviceView is the JSON form of a Device for display: everything but the key.
type deviceView struct {
	ID           string    `json:"id"`
	Type         uint16    `json:"type"`
	Module       uint32    `json:"module"`
	Name         string    `json:"name,omitempty"`
	Secure       bool      `json:"secure"`
	Key          string    `json:"key"`
	TagLen       int       `json:"tag_len"`
	Profile      string    `json:"profile,omitempty"`
	OCSDeviceID  string    `json:"ocs_device_id,omitempty"`
	MaxMessageID uint8     `json:"max_message_id"`
	Added        time.Time `json:"added"`
}

// MarshalJSON implements json.Marshaler for display (an admin API, a JSON log
// handler): the key is replaced by "none" or "[redacted]". It is not the
// storage encoding, and there is deliberately no matching UnmarshalJSON.
func (d Device) MarshalJSON() ([]byte, error) {
	return json.Marshal(deviceView{
		ID: d.ID().String(), Type: d.Type, Module: d.Module, Name: d.Name, Secure: d.Secure,
		Key: d.keyState(), TagLen: d.TagLen, Profile: d.Profile, OCSDeviceID: d.OCSDeviceID,
		MaxMessageID: d.MaxMessageID, Added: d.Added,
	})
}

// deviceRecordV1 is the storage encoding of a Device: JSON with a version
// field "v" (1). JSON keeps the registry readable with the bbolt CLI and easy
// to extend (new fields are optional); the key is base64 in "key".
type deviceRecordV1 struct {
	V            int       `json:"v"`
	Type         uint16    `json:"type"`
	Module       uint32    `json:"module"`
	Name         string    `json:"name,omitempty"`
	Secure       bool      `json:"secure,omitempty"`
	Key          []byte    `json:"key,omitempty"`
	TagLen       int       `json:"tag_len"`
	Profile      string    `json:"profile,omitempty"`
	OCSDeviceID  string    `json:"ocs_device_id,omitempty"`
	MaxMessageID uint8     `json:"max_message_id"`
	Added        time.Time `json:"added"`
}

const deviceV1 = 1

func encodeDevice(d *Device) ([]byte, error) {
	return json.Marshal(deviceRecordV1{
		V: deviceV1, Type: d.Type, Module: d.Module, Name: d.Name, Secure: d.Secure, Key: d.Key,
		TagLen: d.TagLen, Profile: d.Profile, OCSDeviceID: d.OCSDeviceID,
		MaxMessageID: d.MaxMessageID, Added: d.Added,
	})
}

// decodeDevice decodes a stored device. The result shares no memory with b.
func decodeDevice(b []byte) (Device, error) {
	var r deviceRecordV1
	if err := json.Unmarshal(b, &r); err != nil {
		// The JSON error text may quote the value (and so the key): keep only
		// where it happened.
		off := 0
		var se *json.SyntaxError
		if errors.As(err, &se) {
			off = int(se.Offset)
		}
		return Device{}, &CorruptError{Record: "device", Offset: off, Reason: "invalid JSON"}
	}
	if r.V != deviceV1 {
		return Device{}, &CorruptError{Record: "device", Reason: "unknown version " + strconv.Itoa(r.V)}
	}
	return Device{
		Type: r.Type, Module: r.Module, Name: r.Name, Secure: r.Secure, Key: r.Key,
		TagLen: r.TagLen, Profile: r.Profile, OCSDeviceID: r.OCSDeviceID,
		MaxMessageID: r.MaxMessageID, Added: r.Added,
	}, nil
}
