package things

import (
	"encoding/base64"
	"fmt"
	"math"
	"strconv"
	"time"
	"unicode/utf8"
)

// The hub encodes a state and a history record for every reading it
// applies; these appenders write the same JSON as encoding/json does for
// the types' MarshalJSON and struct tags, several times faster and without
// reflection. TestAppendJSONMatchesEncodingJSON holds them to that.

// AppendJSON appends v's JSON (see MarshalJSON) to b.
func (v Value) AppendJSON(b []byte) ([]byte, error) {
	if !v.typ.Valid() && v.typ != TypeInvalid {
		return b, fmt.Errorf("things: cannot marshal value of %v", v.typ)
	}
	if v.typ == TypeInvalid {
		return append(b, `{"type":"invalid"}`...), nil
	}
	b = append(b, `{"type":"`...)
	b = append(b, typeNames[v.typ]...)
	b = append(b, `","value":`...)
	switch v.typ {
	case TypeBool:
		b = strconv.AppendBool(b, v.b)
	case TypeInt:
		b = strconv.AppendInt(b, v.i, 10)
	case TypeFloat:
		switch {
		case math.IsNaN(v.f):
			b = append(b, `"NaN"`...)
		case math.IsInf(v.f, 1):
			b = append(b, `"+Inf"`...)
		case math.IsInf(v.f, -1):
			b = append(b, `"-Inf"`...)
		default:
			b = appendFloat(b, v.f)
		}
	case TypeString:
		b = appendString(b, v.s)
	case TypeBytes:
		b = append(b, '"')
		b = base64.StdEncoding.AppendEncode(b, []byte(v.s))
		b = append(b, '"')
	}
	return append(b, '}'), nil
}

// appendFloat writes a finite f as MarshalJSON does: strconv's shortest
// 'g' form.
func appendFloat(b []byte, f float64) []byte {
	return strconv.AppendFloat(b, f, 'g', -1, 64)
}

func appendTime(b []byte, t time.Time) []byte {
	b = append(b, '"')
	b = t.AppendFormat(b, time.RFC3339Nano)
	return append(b, '"')
}

// appendString writes s as a JSON string the way encoding/json does: HTML
// characters and U+2028/U+2029 escaped, invalid UTF-8 as U+FFFD.
func appendString(b []byte, s string) []byte {
	const hex = "0123456789abcdef"
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' && c != '<' && c != '>' && c != '&' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\b':
				b = append(b, '\\', 'b')
			case '\f':
				b = append(b, '\\', 'f')
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hex[r&0xf])
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}

// AppendJSON appends the record's JSON (the encoding/json form of its
// struct tags) to b.
func (r *StateRecord) AppendJSON(b []byte) ([]byte, error) {
	if !r.Kind.Valid() {
		return b, fmt.Errorf("things: cannot marshal %v", r.Kind)
	}
	b = append(b, `{"id":`...)
	b = appendString(b, r.ID)
	b = append(b, `,"kind":"`...)
	b = append(b, r.Kind.String()...)
	b = append(b, '"')
	if r.Name != "" {
		b = append(b, `,"name":`...)
		b = appendString(b, r.Name)
	}
	b = append(b, `,"present":`...)
	b = strconv.AppendBool(b, r.Present)
	b = append(b, `,"lastSeen":`...)
	b = appendTime(b, r.LastSeen)
	b = append(b, `,"properties":`...)
	if r.Properties == nil {
		return append(b, `null}`...), nil
	}
	b = append(b, '[')
	var err error
	for i := range r.Properties {
		if i > 0 {
			b = append(b, ',')
		}
		p := &r.Properties[i]
		b = append(b, `{"name":`...)
		b = appendString(b, p.Name)
		b = append(b, `,"type":"`...)
		if !p.Type.Valid() && p.Type != TypeInvalid {
			return b, fmt.Errorf("things: cannot marshal type %d", uint8(p.Type))
		}
		b = append(b, typeNames[p.Type]...)
		b = append(b, '"')
		if p.Unit != "" {
			b = append(b, `,"unit":`...)
			b = appendString(b, p.Unit)
		}
		b = append(b, `,"value":`...)
		if b, err = p.Value.AppendJSON(b); err != nil {
			return b, err
		}
		b = append(b, `,"updated":`...)
		b = appendTime(b, p.Updated)
		if p.Raw {
			b = append(b, `,"raw":true`...)
		}
		b = append(b, '}')
	}
	return append(b, `]}`...), nil
}
