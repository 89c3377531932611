package things

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Kind says which protocol owns a thing, and so which Owner performs its
// actions.
type Kind uint8

// The kinds of thing. The zero Kind is invalid.
const (
	KindInvalid Kind = iota
	// KindOSP is a sensor speaking OSP; its ID is "osp:<DeviceType>:<ModuleID>".
	KindOSP
	// KindNative is a thing speaking the Native Thing protocol (steward).
	KindNative
)

var kindNames = [...]string{"invalid", "osp", "native"}

// String returns "osp" or "native".
func (k Kind) String() string {
	if int(k) < len(kindNames) {
		return kindNames[k]
	}
	return "Kind(" + strconv.Itoa(int(k)) + ")"
}

// Valid reports whether k is KindOSP or KindNative.
func (k Kind) Valid() bool { return k == KindOSP || k == KindNative }

// MarshalText encodes the kind as its name.
func (k Kind) MarshalText() ([]byte, error) {
	if !k.Valid() {
		return nil, fmt.Errorf("things: cannot marshal %v", k)
	}
	return []byte(k.String()), nil
}

// UnmarshalText parses a kind name written by MarshalText.
func (k *Kind) UnmarshalText(b []byte) error {
	switch string(b) {
	case "osp":
		*k = KindOSP
	case "native":
		*k = KindNative
	default:
		return fmt.Errorf("things: unknown kind %q", b)
	}
	return nil
}

// Thing is the hub's model of one device or native thing: its description
// and its latest state. Values returned by the hub are copies; the caller may
// keep and modify them.
type Thing struct {
	// ID is stable across restarts; see OSPThingID for OSP devices.
	ID         string     `json:"id"`
	Kind       Kind       `json:"kind"`
	Name       string     `json:"name,omitempty"`
	Properties []Property `json:"properties,omitempty"`
	Actions    []Action   `json:"actions,omitempty"`
	// LastSeen is the time of the latest reading (Hub.Update).
	LastSeen time.Time `json:"lastSeen"`
	// Present reports whether the thing is connected now (Hub.SetPresent).
	Present bool `json:"present"`
}

// Property is one named, typed value of a thing.
type Property struct {
	Name string `json:"name"`
	Type Type   `json:"type"`
	// Unit is a UCUM-style unit ("Cel", "%"), empty when unitless.
	Unit string `json:"unit,omitempty"`
	// Value is the latest value; the zero Value before the first reading.
	Value Value `json:"value"`
	// Updated is the time of the reading that set Value.
	Updated time.Time `json:"updated"`
	// Raw marks a payload kept undecoded (see Profile.DecodeOrRaw).
	Raw bool `json:"raw,omitempty"`
}

// Action is a command a thing accepts.
type Action struct {
	Name        string `json:"name"`
	Description string `json:"description,omitempty"`
	// Params, when not empty, are the names of the arguments the action
	// requires; Hub.Perform then rejects missing and undeclared arguments.
	Params []string `json:"params,omitempty"`
}

// Clone returns a deep copy of t.
func (t Thing) Clone() Thing {
	c := t
	c.Properties = append([]Property(nil), t.Properties...)
	c.Actions = make([]Action, len(t.Actions))
	for i, a := range t.Actions {
		a.Params = append([]string(nil), a.Params...)
		c.Actions[i] = a
	}
	if t.Actions == nil {
		c.Actions = nil
	}
	return c
}

// Property returns the property called name and whether it exists.
func (t Thing) Property(name string) (Property, bool) {
	for _, p := range t.Properties {
		if p.Name == name {
			return p, true
		}
	}
	return Property{}, false
}

// Action returns the action called name and whether it exists.
func (t Thing) Action(name string) (Action, bool) {
	for _, a := range t.Actions {
		if a.Name == name {
			return a, true
		}
	}
	return Action{}, false
}

// validate checks what the hub relies on: an ID, a Kind, unique non-empty
// property and action names, and values matching their property's type.
func (t Thing) validate() error {
	if t.ID == "" {
		return fmt.Errorf("%w: empty ID", ErrInvalidThing)
	}
	if !t.Kind.Valid() {
		return fmt.Errorf("%w: %s: kind %v", ErrInvalidThing, t.ID, t.Kind)
	}
	seen := make(map[string]bool, len(t.Properties))
	for _, p := range t.Properties {
		switch {
		case p.Name == "":
			return fmt.Errorf("%w: %s: property without a name", ErrInvalidThing, t.ID)
		case seen[p.Name]:
			return fmt.Errorf("%w: %s: duplicate property %q", ErrInvalidThing, t.ID, p.Name)
		case !p.Type.Valid():
			return fmt.Errorf("%w: %s: property %q has type %v", ErrInvalidThing, t.ID, p.Name, p.Type)
		case !p.Value.IsZero() && p.Value.Type() != p.Type:
			return fmt.Errorf("%w: %s: property %q is %v but its value is %v", ErrInvalidThing, t.ID, p.Name, p.Type, p.Value.Type())
		}
		seen[p.Name] = true
	}
	seen = make(map[string]bool, len(t.Actions))
	for _, a := range t.Actions {
		switch {
		case a.Name == "":
			return fmt.Errorf("%w: %s: action without a name", ErrInvalidThing, t.ID)
		case seen[a.Name]:
			return fmt.Errorf("%w: %s: duplicate action %q", ErrInvalidThing, t.ID, a.Name)
		}
		seen[a.Name] = true
	}
	return nil
}

// OSPThingID returns the stable ID of an OSP device:
// "osp:<DeviceType>:<ModuleID>" in decimal, e.g. "osp:1:4242".
func OSPThingID(deviceType uint16, moduleID uint32) string {
	return "osp:" + strconv.FormatUint(uint64(deviceType), 10) + ":" + strconv.FormatUint(uint64(moduleID), 10)
}

// ParseOSPThingID is the inverse of OSPThingID; ok is false when id is not
// the canonical ID of an OSP device.
func ParseOSPThingID(id string) (deviceType uint16, moduleID uint32, ok bool) {
	rest, found := strings.CutPrefix(id, "osp:")
	if !found {
		return 0, 0, false
	}
	dt, mid, found := strings.Cut(rest, ":")
	if !found {
		return 0, 0, false
	}
	d, err1 := strconv.ParseUint(dt, 10, 16)
	m, err2 := strconv.ParseUint(mid, 10, 32)
	if err1 != nil || err2 != nil || OSPThingID(uint16(d), uint32(m)) != id {
		return 0, 0, false
	}
	return uint16(d), uint32(m), true
}

// OSPThing returns the description of an OSP device: its canonical ID,
// KindOSP, name, and the properties and actions of profile p. A nil p gives a
// thing without declared properties or actions; its payloads are then kept
// raw (see Profile.DecodeOrRaw).
func OSPThing(deviceType uint16, moduleID uint32, name string, p *Profile) Thing {
	t := Thing{ID: OSPThingID(deviceType, moduleID), Kind: KindOSP, Name: name}
	if p != nil {
		t.Properties = p.Properties()
		t.Actions = p.Actions()
	}
	if t.Name == "" {
		t.Name = t.ID
	}
	return t
}
