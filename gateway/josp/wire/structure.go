package wire

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"strings"
	"unicode/utf8"
)

// The component types of an object's structure.
const (
	TypeContainer     = "Container"
	TypeBooleanState  = "BooleanState"
	TypeBooleanAction = "BooleanAction"
	TypeRangeState    = "RangeState"
	TypeRangeAction   = "RangeAction"
)

// PathSeparator joins the names of a compPath.
const PathSeparator = ">"

// Range bounds of a range pillar that declares none (the reference's
// defaults).
const (
	DefaultMin  = 0.0
	DefaultMax  = 100.0
	DefaultStep = 10.0
)

// Component is one node of an object's structure: a container or a pillar.
type Component struct {
	Name  string
	Descr string
	// Type is one of the Type* constants.
	Type string
	// Components are a container's children.
	Components []Component
	// Bool is a boolean pillar's state.
	Bool bool
	// Min, Max, Step and Value are a range pillar's bounds and state.
	Min, Max, Step, Value float64
}

// IsPillar reports whether c is a state or action pillar.
func (c Component) IsPillar() bool {
	switch c.Type {
	case TypeBooleanState, TypeBooleanAction, TypeRangeState, TypeRangeAction:
		return true
	}
	return false
}

// IsAction reports whether c is an action pillar.
func (c Component) IsAction() bool { return c.Type == TypeBooleanAction || c.Type == TypeRangeAction }

// IsBoolean reports whether c is a boolean pillar.
func (c Component) IsBoolean() bool { return c.Type == TypeBooleanState || c.Type == TypeBooleanAction }

// CmdType returns the cmdType of the pillar's updates and commands
// (JOSPBoolean or JOSPRange), "" for a container.
func (c Component) CmdType() string {
	switch {
	case c.IsBoolean():
		return CmdBoolean
	case c.IsPillar():
		return CmdRange
	}
	return ""
}

// Structure is an object's structure as OBJ_STRUCT_MSG carries it: the
// root container with the object's model, brand and long description.
type Structure struct {
	// Descr is the root's description.
	Descr     string
	Model     string
	Brand     string
	DescrLong string
	// Components are the root's children.
	Components []Component
}

// Find returns the component at path (names from the root's children,
// joined by '>', each compared after trimming) and whether it exists.
func (s *Structure) Find(path string) (*Component, bool) {
	names := strings.Split(path, PathSeparator)
	list := s.Components
	for i, n := range names {
		n = strings.TrimSpace(n)
		if n == "" {
			return nil, false
		}
		j := -1
		for k := range list {
			if list[k].Name == n {
				j = k
				break
			}
		}
		if j < 0 {
			return nil, false
		}
		if i == len(names)-1 {
			return &list[j], true
		}
		list = list[j].Components
	}
	return nil, false
}

// Walk calls fn for every component, depth first in order, with its path.
func (s *Structure) Walk(fn func(path string, c *Component)) {
	var walk func(prefix string, list []Component)
	walk = func(prefix string, list []Component) {
		for i := range list {
			p := list[i].Name
			if prefix != "" {
				p = prefix + PathSeparator + p
			}
			fn(p, &list[i])
			walk(p, list[i].Components)
		}
	}
	walk("", s.Components)
}

// AppendJSON appends the structure as the reference's objects write it
// (Jackson, compact): root keys name, descr, components, model, brand,
// descr_long, type; booleans name, descr, state (a string), type,
// stateBoolean; ranges name, descr, min, max, step (always with a decimal
// point or exponent), state (a string, as Double.toString writes it),
// type, stateRange.
func (s Structure) AppendJSON(b []byte) []byte {
	b = append(b, `{"name":"root","descr":`...)
	b = appendJSONString(b, s.Descr)
	b = append(b, `,"components":`...)
	b = appendComponents(b, s.Components)
	b = append(b, `,"model":`...)
	b = appendJSONString(b, s.Model)
	b = append(b, `,"brand":`...)
	b = appendJSONString(b, s.Brand)
	b = append(b, `,"descr_long":`...)
	b = appendJSONString(b, s.DescrLong)
	return append(b, `,"type":"Container"}`...)
}

func appendComponents(b []byte, list []Component) []byte {
	b = append(b, '[')
	for i, c := range list {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"name":`...)
		b = appendJSONString(b, c.Name)
		b = append(b, `,"descr":`...)
		b = appendJSONString(b, c.Descr)
		switch c.Type {
		case TypeBooleanState, TypeBooleanAction:
			b = append(b, `,"state":"`...)
			b = strconv.AppendBool(b, c.Bool)
			b = append(b, `","type":`...)
			b = appendJSONString(b, c.Type)
			b = append(b, `,"stateBoolean":`...)
			b = strconv.AppendBool(b, c.Bool)
		case TypeRangeState, TypeRangeAction:
			b = append(b, `,"min":`...)
			b = appendJSONDouble(b, c.Min)
			b = append(b, `,"max":`...)
			b = appendJSONDouble(b, c.Max)
			b = append(b, `,"step":`...)
			b = appendJSONDouble(b, c.Step)
			b = append(b, `,"state":"`...)
			b = AppendJavaDouble(b, c.Value)
			b = append(b, `","type":`...)
			b = appendJSONString(b, c.Type)
			b = append(b, `,"stateRange":`...)
			b = appendJSONDouble(b, c.Value)
		default:
			b = append(b, `,"components":`...)
			b = appendComponents(b, c.Components)
			b = append(b, `,"type":"Container"`...)
		}
		b = append(b, '}')
	}
	return append(b, ']')
}

// appendJSONDouble writes a double as Jackson does: a number, or "NaN",
// "Infinity" and "-Infinity" in quotes.
func appendJSONDouble(b []byte, v float64) []byte {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		b = append(b, '"')
		b = AppendJavaDouble(b, v)
		return append(b, '"')
	}
	return AppendJavaDouble(b, v)
}

const hexDigits = "0123456789ABCDEF"

// appendJSONString writes s as Jackson does: '"' and '\' escaped, control
// characters as \n, \t, \r, \b, \f or \u00XX, everything else (non-ASCII
// included) as UTF-8. Invalid UTF-8 becomes U+FFFD.
func appendJSONString(b []byte, s string) []byte {
	b = append(b, '"')
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			switch {
			case c == '"' || c == '\\':
				b = append(b, '\\', c)
			case c == '\n':
				b = append(b, `\n`...)
			case c == '\r':
				b = append(b, `\r`...)
			case c == '\t':
				b = append(b, `\t`...)
			case c == '\b':
				b = append(b, `\b`...)
			case c == '\f':
				b = append(b, `\f`...)
			case c < 0x20:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			default:
				b = append(b, c)
			}
			i++
			continue
		}
		r, n := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && n == 1 {
			b = append(b, "\uFFFD"...)
		} else {
			b = append(b, s[i:i+n]...)
		}
		i += n
	}
	return append(b, '"')
}

// maxDepth bounds the nesting of a structure being parsed.
const maxDepth = 32

// ParseStructure reads a structure's JSON as the reference's service
// library does, and a little more leniently: type names are compared
// case-insensitively, numbers may be integers, and state may be a string,
// a number or a boolean. The root must be an object with a components
// array.
func ParseStructure(data []byte) (Structure, error) {
	var root map[string]json.RawMessage
	if err := json.Unmarshal(data, &root); err != nil {
		return Structure{}, fmt.Errorf("%w: structure: %w", ErrMalformed, err)
	}
	var s Structure
	str := func(m map[string]json.RawMessage, key string) string {
		var v string
		if raw, ok := m[key]; ok {
			_ = json.Unmarshal(raw, &v)
		}
		return v
	}
	s.Descr, s.Model, s.Brand, s.DescrLong = str(root, "descr"), str(root, "model"), str(root, "brand"), str(root, "descr_long")
	var err error
	if s.Components, err = parseComponents(root["components"], 1); err != nil {
		return Structure{}, err
	}
	return s, nil
}

func parseComponents(raw json.RawMessage, depth int) ([]Component, error) {
	if depth > maxDepth {
		return nil, fmt.Errorf("%w: structure nested deeper than %d", ErrMalformed, maxDepth)
	}
	if len(bytes.TrimSpace(raw)) == 0 {
		return nil, fmt.Errorf("%w: structure: container without components", ErrMalformed)
	}
	var list []map[string]json.RawMessage
	if err := json.Unmarshal(raw, &list); err != nil {
		return nil, fmt.Errorf("%w: structure: components: %w", ErrMalformed, err)
	}
	out := make([]Component, 0, len(list))
	for _, m := range list {
		var c Component
		var typ string
		if err := json.Unmarshal(m["name"], &c.Name); err != nil || c.Name == "" {
			return nil, fmt.Errorf("%w: structure: component without a name", ErrMalformed)
		}
		_ = json.Unmarshal(m["descr"], &c.Descr)
		if err := json.Unmarshal(m["type"], &typ); err != nil {
			return nil, fmt.Errorf("%w: structure: %q has no type", ErrMalformed, c.Name)
		}
		for _, t := range []string{TypeContainer, TypeBooleanState, TypeBooleanAction, TypeRangeState, TypeRangeAction} {
			if strings.EqualFold(typ, t) {
				c.Type = t
			}
		}
		var err error
		switch c.Type {
		case TypeContainer:
			c.Components, err = parseComponents(m["components"], depth+1)
		case TypeBooleanState, TypeBooleanAction:
			var st string
			if st, err = scalar(m["state"]); err == nil {
				c.Bool = strings.EqualFold(strings.TrimSpace(st), "true")
			}
		case TypeRangeState, TypeRangeAction:
			c.Min, c.Max, c.Step = DefaultMin, DefaultMax, DefaultStep
			for _, f := range []struct {
				key string
				dst *float64
			}{{"min", &c.Min}, {"max", &c.Max}, {"step", &c.Step}, {"state", &c.Value}} {
				raw, ok := m[f.key]
				if !ok {
					continue
				}
				st, serr := scalar(raw)
				v, ok := ParseJavaDouble(st)
				if serr != nil || !ok {
					return nil, fmt.Errorf("%w: structure: %q: %s is not a number", ErrMalformed, c.Name, f.key)
				}
				*f.dst = v
			}
		default:
			return nil, fmt.Errorf("%w: structure: %q has the unknown type %q", ErrMalformed, c.Name, typ)
		}
		if err != nil {
			return nil, fmt.Errorf("%w: structure: %q: %w", ErrMalformed, c.Name, err)
		}
		out = append(out, c)
	}
	return out, nil
}

// scalar returns a JSON string's content, or a number's or boolean's text.
func scalar(raw json.RawMessage) (string, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 {
		return "", nil
	}
	var s string
	if raw[0] == '"' {
		err := json.Unmarshal(raw, &s)
		return s, err
	}
	var v any
	if err := json.Unmarshal(raw, &v); err != nil {
		return "", err
	}
	switch v.(type) {
	case float64, bool:
		return string(raw), nil
	}
	return "", fmt.Errorf("not a scalar")
}
