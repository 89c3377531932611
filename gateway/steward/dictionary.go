package steward

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/edgegate/edgegate/gateway/things"
)

// specKind is how the steward's Dictionary types one property of a
// prototype.
type specKind uint8

const (
	// specString: `true`, a free string (name: true).
	specString specKind = iota + 1
	// specKeywords: an array, an enumeration of keywords (status: [...]).
	specKeywords
	// specNumber: a unit word, a number in that unit (temperature: 'celsius').
	specNumber
	// specTimestamp: 'timestamp', epoch milliseconds or an ISO 8601 string.
	specTimestamp
	// specJSON: 'coordinates', 'latlng', 'array': a value kept as its JSON
	// text.
	specJSON
	// specObject: an object of nested properties (color: {model: ...}).
	specObject
)

// spec is the type of one prototype property.
type spec struct {
	kind     specKind
	word     string // the unit word as the prototype wrote it
	unit     string // the hub's (UCUM-style) unit
	keywords []string
	children map[string]spec
}

// unitWord is the hub's view of a Dictionary unit word.
type unitWord struct {
	kind specKind
	unit string
}

// units maps the Dictionary's unit words (the 2013 Dictionary, the later
// Taxonomy, and what device drivers used) to a kind and a UCUM-style unit.
// A word not listed is a number with the word as its unit.
var units = map[string]unitWord{
	"percentage":    {specNumber, "%"},
	"degrees":       {specNumber, "deg"},
	"mireds":        {specNumber, "mired"},
	"meters/second": {specNumber, "m/s"},
	"m/s":           {specNumber, "m/s"},
	"meters":        {specNumber, "m"},
	"kilometers":    {specNumber, "km"},
	"seconds":       {specNumber, "s"},
	"milliseconds":  {specNumber, "ms"},
	"id":            {specNumber, ""},
	"u8":            {specNumber, ""},
	"s8":            {specNumber, ""},
	"u16":           {specNumber, ""},
	"fraction":      {specNumber, "1"},
	"celsius":       {specNumber, "Cel"},
	"ppm":           {specNumber, "[ppm]"},
	"decibels":      {specNumber, "dB"},
	"db":            {specNumber, "dB"},
	"millibars":     {specNumber, "mbar"},
	"sigmas":        {specNumber, "sigma"},
	"lux":           {specNumber, "lx"},
	"kilowatts":     {specNumber, "kW"},
	"mm":            {specNumber, "mm"},
	"mm/h":          {specNumber, "mm/h"},
	"timestamp":     {specTimestamp, "ms"},
	"coordinates":   {specJSON, ""},
	"latlng":        {specJSON, ""},
	"array":         {specJSON, ""},
	// Meta types of the May 2013 Dictionary.
	"prototype-name": {specString, ""},
	"property-list":  {specString, ""},
}

// maxSpecDepth bounds nested property objects.
const maxSpecDepth = 4

// parseSpec reads one property's type as a prototype writes it.
func parseSpec(raw json.RawMessage, depth int) (spec, error) {
	t := bytes.TrimSpace(raw)
	if len(t) == 0 {
		return spec{}, fmt.Errorf("empty type")
	}
	switch t[0] {
	case 't':
		if string(t) == "true" {
			return spec{kind: specString}, nil
		}
	case '"':
		var w string
		if err := json.Unmarshal(t, &w); err != nil {
			return spec{}, err
		}
		if w == "" {
			return spec{}, fmt.Errorf("empty unit")
		}
		if u, ok := units[strings.ToLower(w)]; ok {
			return spec{kind: u.kind, word: w, unit: u.unit}, nil
		}
		return spec{kind: specNumber, word: w, unit: w}, nil
	case '[':
		var list []json.RawMessage
		if err := json.Unmarshal(t, &list); err != nil {
			return spec{}, err
		}
		s := spec{kind: specKeywords, keywords: make([]string, 0, len(list))}
		for _, k := range list {
			w, ok := scalarText(k)
			if !ok {
				return spec{}, fmt.Errorf("keyword %s is not a string", k)
			}
			s.keywords = append(s.keywords, w)
		}
		return s, nil
	case '{':
		if depth >= maxSpecDepth {
			return spec{}, fmt.Errorf("nested deeper than %d", maxSpecDepth)
		}
		obj, ok := object(t)
		if !ok {
			return spec{}, fmt.Errorf("invalid object")
		}
		s := spec{kind: specObject, children: make(map[string]spec, len(obj))}
		for k, v := range obj {
			if k == "" {
				return spec{}, fmt.Errorf("a property without a name")
			}
			c, err := parseSpec(v, depth+1)
			if err != nil {
				return spec{}, fmt.Errorf("%s: %w", k, err)
			}
			s.children[k] = c
		}
		return s, nil
	}
	return spec{}, fmt.Errorf("%s is not true, a unit, a list of keywords or an object", t)
}

// hubType returns the hub's type for a leaf spec.
func (s spec) hubType() things.Type {
	switch s.kind {
	case specNumber:
		return things.TypeFloat
	case specTimestamp:
		return things.TypeInt
	}
	return things.TypeString
}

// properties flattens a spec into hub properties named name, name.child,
// name.child.grandchild.
func (s spec) properties(name string, out []things.Property) []things.Property {
	if s.kind != specObject {
		return append(out, things.Property{Name: name, Type: s.hubType(), Unit: s.unit})
	}
	keys := make([]string, 0, len(s.children))
	for k := range s.children {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		out = s.children[k].properties(name+"."+k, out)
	}
	return out
}

// lookup finds the spec of a flattened name's leaf in specs.
func lookup(specs map[string]spec, name string) (spec, bool) {
	head, rest, nested := strings.Cut(name, ".")
	s, ok := specs[head]
	if !ok {
		return spec{}, false
	}
	if !nested {
		return s, true
	}
	if s.kind != specObject {
		return spec{}, false
	}
	return lookup(s.children, rest)
}

// maxValueDepth bounds nested info objects.
const maxValueDepth = 6

// values converts the members of an info object to hub values, typed by
// the prototype's specs: declared properties take their declared type
// (numbers may arrive as numeric strings, strings may arrive as numbers),
// undeclared ones the type of their JSON value. Objects are flattened
// into dotted names; nulls are skipped. The first value that does not
// convert fails the whole conversion, naming the property.
func values(specs map[string]spec, info map[string]json.RawMessage, prefix string, depth int, out []things.PropertyValue) ([]things.PropertyValue, error) {
	keys := make([]string, 0, len(info))
	for k := range info {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		raw := info[k]
		name := prefix + k
		if k == "" || isNull(raw) {
			continue
		}
		sp, declared := lookup(specs, name)
		if obj, isObj := object(raw); isObj && (!declared || sp.kind == specObject) {
			if depth >= maxValueDepth {
				return out, fmt.Errorf("invalid value for %s: nested too deep", name)
			}
			var err error
			if out, err = values(specs, obj, name+".", depth+1, out); err != nil {
				return out, err
			}
			continue
		}
		var v things.Value
		var err error
		if declared && sp.kind != specObject {
			v, err = convert(sp, raw)
		} else {
			v, err = infer(raw)
		}
		if err != nil {
			return out, fmt.Errorf("invalid value for %s: %w", name, err)
		}
		out = append(out, things.PropertyValue{Name: name, Value: v})
	}
	return out, nil
}

// convert types one value by its spec.
func convert(s spec, raw json.RawMessage) (things.Value, error) {
	t := bytes.TrimSpace(raw)
	switch s.kind {
	case specNumber:
		if f, ok := number(t); ok {
			return things.FloatValue(f), nil
		}
		return things.Value{}, fmt.Errorf("%s is not a number (%s)", t, s.word)
	case specTimestamp:
		if f, ok := number(t); ok && math.Abs(f) < 1<<62 {
			return things.IntValue(int64(f)), nil
		}
		if str, ok := jsonString(t); ok {
			if at, err := time.Parse(time.RFC3339Nano, str); err == nil {
				return things.IntValue(at.UnixMilli()), nil
			}
		}
		return things.Value{}, fmt.Errorf("%s is not a timestamp", t)
	case specJSON:
		return things.StringValue(compact(t)), nil
	}
	if str, ok := scalarText(t); ok {
		return things.StringValue(str), nil
	}
	return things.StringValue(compact(t)), nil
}

// infer types an undeclared value by its JSON type.
func infer(raw json.RawMessage) (things.Value, error) {
	t := bytes.TrimSpace(raw)
	if len(t) == 0 {
		return things.Value{}, fmt.Errorf("empty value")
	}
	switch t[0] {
	case '"':
		s, ok := jsonString(t)
		if !ok {
			return things.Value{}, fmt.Errorf("invalid string")
		}
		return things.StringValue(s), nil
	case 't', 'f':
		var b bool
		if err := json.Unmarshal(t, &b); err != nil {
			return things.Value{}, err
		}
		return things.BoolValue(b), nil
	case '[', '{':
		return things.StringValue(compact(t)), nil
	}
	if f, ok := number(t); ok {
		return things.FloatValue(f), nil
	}
	return things.Value{}, fmt.Errorf("%s is not a JSON value", t)
}

// number reads a JSON number, or a string holding one.
func number(t []byte) (float64, bool) {
	if s, ok := jsonString(t); ok {
		f, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
		return f, err == nil
	}
	var f float64
	if len(t) == 0 || (t[0] != '-' && (t[0] < '0' || t[0] > '9')) {
		return 0, false
	}
	return f, json.Unmarshal(t, &f) == nil
}

func compact(t []byte) string {
	var b bytes.Buffer
	if json.Compact(&b, t) != nil {
		return string(t)
	}
	return b.String()
}
