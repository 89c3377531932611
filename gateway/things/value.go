package things

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math"
	"strconv"
)

// Type is the type of a property and of its values.
type Type uint8

// The property types. The zero Type is invalid: a Value of that type means
// "no value yet".
const (
	TypeInvalid Type = iota
	TypeBool
	TypeInt
	TypeFloat
	TypeString
	TypeBytes
)

var typeNames = [...]string{"invalid", "bool", "int", "float", "string", "bytes"}

// String returns the lowercase name of the type ("bool", "int", "float",
// "string", "bytes").
func (t Type) String() string {
	if int(t) < len(typeNames) {
		return typeNames[t]
	}
	return "Type(" + strconv.Itoa(int(t)) + ")"
}

// Valid reports whether t is one of the five value types.
func (t Type) Valid() bool { return t >= TypeBool && t <= TypeBytes }

// MarshalText encodes the type as its name.
func (t Type) MarshalText() ([]byte, error) {
	if !t.Valid() && t != TypeInvalid {
		return nil, fmt.Errorf("things: cannot marshal %v", t)
	}
	return []byte(t.String()), nil
}

// UnmarshalText parses a type name written by MarshalText.
func (t *Type) UnmarshalText(b []byte) error {
	for i, n := range typeNames {
		if string(b) == n {
			*t = Type(i)
			return nil
		}
	}
	return fmt.Errorf("things: unknown type %q", b)
}

// Value is one typed property value. The zero Value has TypeInvalid and means
// "no value". Values are immutable: constructors and accessors copy byte
// slices, so a Value may be shared between goroutines.
type Value struct {
	typ Type
	b   bool
	i   int64
	f   float64
	s   string // TypeString, and TypeBytes (as an immutable string)
}

// BoolValue returns a Bool value.
func BoolValue(b bool) Value { return Value{typ: TypeBool, b: b} }

// IntValue returns an Int value.
func IntValue(i int64) Value { return Value{typ: TypeInt, i: i} }

// FloatValue returns a Float value. NaN and infinities are allowed.
func FloatValue(f float64) Value { return Value{typ: TypeFloat, f: f} }

// StringValue returns a String value.
func StringValue(s string) Value { return Value{typ: TypeString, s: s} }

// BytesValue returns a Bytes value holding a copy of b.
func BytesValue(b []byte) Value { return Value{typ: TypeBytes, s: string(b)} }

// Type returns the value's type; TypeInvalid for the zero Value.
func (v Value) Type() Type { return v.typ }

// IsZero reports whether v is the zero Value (no value).
func (v Value) IsZero() bool { return v.typ == TypeInvalid }

// AsBool returns the value of a Bool, and whether v is one.
func (v Value) AsBool() (bool, bool) { return v.b, v.typ == TypeBool }

// AsInt returns the value of an Int, and whether v is one.
func (v Value) AsInt() (int64, bool) { return v.i, v.typ == TypeInt }

// AsFloat returns the value of a Float, or of an Int converted to float64,
// and whether v is one of those.
func (v Value) AsFloat() (float64, bool) {
	switch v.typ {
	case TypeFloat:
		return v.f, true
	case TypeInt:
		return float64(v.i), true
	}
	return 0, false
}

// AsString returns the value of a String, and whether v is one.
func (v Value) AsString() (string, bool) {
	if v.typ != TypeString {
		return "", false
	}
	return v.s, true
}

// AsBytes returns a copy of the value of a Bytes, and whether v is one.
func (v Value) AsBytes() ([]byte, bool) {
	if v.typ != TypeBytes {
		return nil, false
	}
	return []byte(v.s), true
}

// Equal reports whether v and w have the same type and value. Two NaN floats
// are equal.
func (v Value) Equal(w Value) bool {
	if v.typ != w.typ {
		return false
	}
	switch v.typ {
	case TypeBool:
		return v.b == w.b
	case TypeInt:
		return v.i == w.i
	case TypeFloat:
		return v.f == w.f || (math.IsNaN(v.f) && math.IsNaN(w.f))
	case TypeString, TypeBytes:
		return v.s == w.s
	}
	return true
}

// String formats the value for humans and logs: "true", "42", "21.5", the
// string itself, or lowercase hex for Bytes; "<none>" for the zero Value.
func (v Value) String() string {
	switch v.typ {
	case TypeBool:
		return strconv.FormatBool(v.b)
	case TypeInt:
		return strconv.FormatInt(v.i, 10)
	case TypeFloat:
		return strconv.FormatFloat(v.f, 'g', -1, 64)
	case TypeString:
		return v.s
	case TypeBytes:
		return hex.EncodeToString([]byte(v.s))
	}
	return "<none>"
}

// valueJSON is the wire shape of a Value.
type valueJSON struct {
	Type  Type            `json:"type"`
	Value json.RawMessage `json:"value,omitempty"`
}

// MarshalJSON encodes v as {"type":"float","value":21.5}. Bytes are base64
// (standard encoding); a NaN or infinite Float is the string "NaN", "+Inf" or
// "-Inf", so marshalling never fails for a valid Value. The zero Value is
// {"type":"invalid"}.
func (v Value) MarshalJSON() ([]byte, error) {
	return v.AppendJSON(nil)
}

// UnmarshalJSON decodes the shape MarshalJSON writes.
func (v *Value) UnmarshalJSON(b []byte) error {
	var w valueJSON
	if err := json.Unmarshal(b, &w); err != nil {
		return fmt.Errorf("things: unmarshal value: %w", err)
	}
	if w.Type == TypeInvalid {
		*v = Value{}
		return nil
	}
	if len(bytes.TrimSpace(w.Value)) == 0 {
		return fmt.Errorf("things: unmarshal %v value: %w", w.Type, ErrInvalidValue)
	}
	var err error
	switch w.Type {
	case TypeBool:
		var x bool
		err = json.Unmarshal(w.Value, &x)
		*v = BoolValue(x)
	case TypeInt:
		var x int64
		err = json.Unmarshal(w.Value, &x)
		*v = IntValue(x)
	case TypeFloat:
		var s string
		if json.Unmarshal(w.Value, &s) == nil {
			switch s {
			case "NaN":
				*v = FloatValue(math.NaN())
			case "+Inf":
				*v = FloatValue(math.Inf(1))
			case "-Inf":
				*v = FloatValue(math.Inf(-1))
			default:
				err = fmt.Errorf("bad float %q", s)
			}
			break
		}
		var x float64
		err = json.Unmarshal(w.Value, &x)
		*v = FloatValue(x)
	case TypeString:
		var x string
		err = json.Unmarshal(w.Value, &x)
		*v = StringValue(x)
	case TypeBytes:
		var x []byte // encoding/json decodes base64 into []byte
		err = json.Unmarshal(w.Value, &x)
		*v = BytesValue(x)
	}
	if err != nil {
		*v = Value{}
		return fmt.Errorf("things: unmarshal %v value: %w", w.Type, err)
	}
	return nil
}

// PropertyValue is one named value reported for a thing: the unit of
// Hub.Update and of Profile.Decode.
type PropertyValue struct {
	Name  string `json:"name"`
	Value Value  `json:"value"`
	// Raw marks a payload kept undecoded (see Profile.DecodeOrRaw).
	Raw bool `json:"raw,omitempty"`
}

// String formats the pair as "name=value".
func (pv PropertyValue) String() string { return pv.Name + "=" + pv.Value.String() }
