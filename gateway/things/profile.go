package things

import (
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/BurntSushi/toml"
)

// MaxProfileSize bounds the size of a profile file (1 MiB).
const MaxProfileSize = 1 << 20

// maxOffset is the largest field offset accepted: an OSP packet never
// exceeds 16383 bytes, so no payload byte lies beyond it.
const maxOffset = 16383

// FieldType is the binary encoding of a field in a DATA payload.
type FieldType uint8

// The field encodings. Integers are two's complement; F32 is IEEE 754
// binary32.
const (
	FieldInvalid FieldType = iota
	FieldU8
	FieldI8
	FieldU16
	FieldI16
	FieldU32
	FieldI32
	FieldF32
)

var fieldTypeNames = [...]string{"invalid", "u8", "i8", "u16", "i16", "u32", "i32", "f32"}
var fieldTypeSizes = [...]int{0, 1, 1, 2, 2, 4, 4, 4}

// String returns the name used in profiles ("u8", "i16", "f32", ...).
func (t FieldType) String() string {
	if int(t) < len(fieldTypeNames) {
		return fieldTypeNames[t]
	}
	return "FieldType(" + strconv.Itoa(int(t)) + ")"
}

// Size returns the number of payload bytes the field occupies.
func (t FieldType) Size() int {
	if int(t) < len(fieldTypeSizes) {
		return fieldTypeSizes[t]
	}
	return 0
}

func parseFieldType(s string) (FieldType, bool) {
	for i, n := range fieldTypeNames {
		if i > 0 && s == n {
			return FieldType(i), true
		}
	}
	return FieldInvalid, false
}

// ByteOrder is the byte order of a multi-byte field.
type ByteOrder uint8

// The byte orders. Big endian (network order) is the default.
const (
	BigEndian ByteOrder = iota
	LittleEndian
)

// String returns "big" or "little".
func (o ByteOrder) String() string {
	if o == LittleEndian {
		return "little"
	}
	return "big"
}

// Field is the declarative decoding of one value of a DataType's payload.
type Field struct {
	Name   string
	Offset int // first byte in the payload
	Type   FieldType
	Order  ByteOrder
	// Scale multiplies the raw number; 1 when not given, never 0.
	Scale float64
	Unit  string
}

// ValueType returns the type of the decoded value: Float for F32 or when
// Scale is not 1, Int otherwise.
func (f Field) ValueType() Type {
	if f.Type == FieldF32 || f.Scale != 1 {
		return TypeFloat
	}
	return TypeInt
}

// DataType is the decoding of one DataType: its fields.
type DataType struct {
	ID     uint16
	Name   string
	Fields []Field
}

// Profile describes a family of OSP devices: how their DATA payloads decode
// and which actions they accept. A Profile is immutable once loaded and safe
// for concurrent use.
type Profile struct {
	name        string
	description string
	dataTypes   []DataType     // sorted by ID
	byID        map[uint16]int // DataType ID -> index in dataTypes
	props       []Property
	actions     []profileAction
}

type profileAction struct {
	Action
	script []segment
}

// segment is a literal piece of a script, or a {param} placeholder.
type segment struct {
	lit   string
	param string // not empty for a placeholder
}

// Name returns the profile's name.
func (p *Profile) Name() string {
	if p == nil {
		return ""
	}
	return p.name
}

// Description returns the profile's description.
func (p *Profile) Description() string {
	if p == nil {
		return ""
	}
	return p.description
}

// DataTypes returns a copy of the declared DataTypes, sorted by ID.
func (p *Profile) DataTypes() []DataType {
	if p == nil {
		return nil
	}
	out := make([]DataType, len(p.dataTypes))
	for i, dt := range p.dataTypes {
		dt.Fields = slices.Clone(dt.Fields)
		out[i] = dt
	}
	return out
}

// Properties returns the schema of the values the profile decodes: one
// property per distinct field name (DataTypes in ID order, then fields in
// declared order), with its type and unit and no value.
func (p *Profile) Properties() []Property {
	if p == nil {
		return nil
	}
	return slices.Clone(p.props)
}

// Actions returns the actions the profile declares.
func (p *Profile) Actions() []Action {
	if p == nil {
		return nil
	}
	out := make([]Action, len(p.actions))
	for i, a := range p.actions {
		out[i] = Action{Name: a.Name, Description: a.Description, Params: slices.Clone(a.Params)}
	}
	return out
}

// CommandScript returns the COMMAND payload of an action: its script with
// every {param} replaced by args[param] (one pass: braces in an argument are
// not expanded). It fails with ErrUnknownAction, or with ErrInvalidArgs when
// an argument is missing or undeclared, or contains invalid UTF-8 or a
// control character (C0, DEL, C1), which could split or forge a command.
func (p *Profile) CommandScript(action string, args map[string]string) ([]byte, error) {
	if p == nil {
		return nil, fmt.Errorf("things: command script %q: %w", action, ErrUnknownAction)
	}
	i := slices.IndexFunc(p.actions, func(a profileAction) bool { return a.Name == action })
	if i < 0 {
		return nil, fmt.Errorf("things: profile %q: command script %q: %w", p.name, action, ErrUnknownAction)
	}
	a := p.actions[i]
	if err := checkArgs(a.Params, args); err != nil {
		return nil, fmt.Errorf("things: profile %q: action %q: %w", p.name, action, err)
	}
	if len(a.Params) == 0 && len(args) > 0 {
		return nil, fmt.Errorf("things: profile %q: action %q takes no arguments: %w", p.name, action, ErrInvalidArgs)
	}
	var out []byte
	for _, s := range a.script {
		if s.param == "" {
			out = append(out, s.lit...)
			continue
		}
		v := args[s.param]
		if !utf8.ValidString(v) {
			return nil, fmt.Errorf("things: profile %q: action %q: argument %q is not UTF-8: %w", p.name, action, s.param, ErrInvalidArgs)
		}
		if i := strings.IndexFunc(v, unicode.IsControl); i >= 0 {
			return nil, fmt.Errorf("things: profile %q: action %q: argument %q has control character %U: %w",
				p.name, action, s.param, []rune(v[i:])[0], ErrInvalidArgs)
		}
		out = append(out, v...)
	}
	return out, nil
}

// profileFile is the TOML shape of a profile. Pointers tell a missing key
// from a zero value.
type profileFile struct {
	Name        string         `toml:"name"`
	Description string         `toml:"description"`
	DataType    []dataTypeFile `toml:"datatype"`
	Action      []actionFile   `toml:"action"`
}

type dataTypeFile struct {
	ID    *int64      `toml:"id"`
	Name  string      `toml:"name"`
	Field []fieldFile `toml:"field"`
}

type fieldFile struct {
	Name   string   `toml:"name"`
	Offset *int64   `toml:"offset"`
	Type   string   `toml:"type"`
	Order  *string  `toml:"order"`
	Scale  *float64 `toml:"scale"`
	Unit   string   `toml:"unit"`
}

type actionFile struct {
	Name        string   `toml:"name"`
	Description string   `toml:"description"`
	Script      *string  `toml:"script"`
	Params      []string `toml:"params"`
}

// LoadProfile reads and validates a profile in TOML (see the package
// documentation). Any error is a *ProfileError (errors.Is ErrInvalidProfile)
// naming the profile, DataType, field or action, and the bad key and value.
// Keys the format does not define are errors too.
func LoadProfile(r io.Reader) (*Profile, error) { return loadProfile(r, "") }

// LoadProfileFile reads and validates the profile in the file at path.
func LoadProfileFile(path string) (*Profile, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("things: load profile: %w", err)
	}
	defer f.Close()
	return loadProfile(f, path)
}

// LoadProfileDir loads every *.toml file of dir (not recursing) and returns
// the profiles by name. Two files declaring the same name are an error. All
// files are checked; the errors of every bad file are joined.
func LoadProfileDir(dir string) (map[string]*Profile, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("things: load profiles: %w", err)
	}
	out := make(map[string]*Profile)
	from := make(map[string]string)
	var errs []error
	for _, de := range ents { // ReadDir sorts by name
		if de.IsDir() || filepath.Ext(de.Name()) != ".toml" {
			continue
		}
		path := filepath.Join(dir, de.Name())
		p, err := LoadProfileFile(path)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if first, dup := from[p.name]; dup {
			errs = append(errs, &ProfileError{Profile: p.name, File: path, Key: "name", Value: strconv.Quote(p.name),
				Reason: "already defined in " + first})
			continue
		}
		out[p.name], from[p.name] = p, path
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return out, nil
}

func loadProfile(r io.Reader, file string) (*Profile, error) {
	text, err := io.ReadAll(io.LimitReader(r, MaxProfileSize+1))
	if err != nil {
		return nil, &ProfileError{File: file, Reason: "read failed", Err: err}
	}
	if len(text) > MaxProfileSize {
		return nil, &ProfileError{File: file, Reason: fmt.Sprintf("larger than %d bytes", MaxProfileSize)}
	}
	var pf profileFile
	md, err := toml.Decode(string(text), &pf)
	if err != nil {
		return nil, &ProfileError{File: file, Err: err}
	}
	if und := md.Undecoded(); len(und) > 0 {
		keys := make([]string, len(und))
		for i, k := range und {
			keys[i] = k.String()
		}
		return nil, &ProfileError{Profile: pf.Name, File: file, Key: strings.Join(keys, ", "), Reason: "unknown key"}
	}
	return buildProfile(&pf, file)
}

// buildProfile validates pf and compiles it.
func buildProfile(pf *profileFile, file string) (*Profile, error) {
	perr := func(dt, field, key, value, reason string) error {
		return &ProfileError{Profile: pf.Name, File: file, DataType: dt, Field: field, Key: key, Value: value, Reason: reason}
	}
	aerr := func(action, key, value, reason string) error {
		return &ProfileError{Profile: pf.Name, File: file, Action: action, Key: key, Value: value, Reason: reason}
	}
	if pf.Name == "" {
		return nil, perr("", "", "name", "", "missing")
	}
	if !validName(pf.Name) {
		return nil, perr("", "", "name", strconv.Quote(pf.Name), nameRule)
	}
	p := &Profile{name: pf.Name, description: pf.Description, byID: make(map[uint16]int)}

	type propInfo struct {
		typ  Type
		unit string
		dt   string
	}
	props := make(map[string]propInfo)
	for i, dtf := range pf.DataType {
		label := fmt.Sprintf("#%d", i+1)
		if dtf.ID != nil {
			label = strconv.FormatInt(*dtf.ID, 10)
		}
		if dtf.Name != "" {
			label += fmt.Sprintf(" (%q)", dtf.Name)
		}
		switch {
		case dtf.ID == nil:
			return nil, perr(label, "", "id", "", "missing")
		case *dtf.ID == 0:
			return nil, perr(label, "", "id", "0", "DataType 0 is not allowed")
		case *dtf.ID < 0 || *dtf.ID > math.MaxUint16:
			return nil, perr(label, "", "id", strconv.FormatInt(*dtf.ID, 10), "out of range 1..65535")
		case dtf.Name == "":
			return nil, perr(label, "", "name", "", "missing")
		case !validName(dtf.Name):
			return nil, perr(label, "", "name", strconv.Quote(dtf.Name), nameRule)
		case len(dtf.Field) == 0:
			return nil, perr(label, "", "field", "", "a datatype needs at least one [[datatype.field]]")
		}
		id := uint16(*dtf.ID)
		if j, dup := p.byID[id]; dup {
			return nil, perr(label, "", "id", strconv.Itoa(int(id)), fmt.Sprintf("duplicate of datatype %q", p.dataTypes[j].Name))
		}
		dt := DataType{ID: id, Name: dtf.Name, Fields: make([]Field, 0, len(dtf.Field))}
		for k, ff := range dtf.Field {
			fl := ff.Name
			if fl == "" {
				fl = fmt.Sprintf("#%d", k+1)
			}
			f := Field{Name: ff.Name, Type: FieldInvalid, Scale: 1, Unit: ff.Unit}
			var ok bool
			switch {
			case ff.Name == "":
				return nil, perr(label, fl, "name", "", "missing")
			case !validName(ff.Name):
				return nil, perr(label, fl, "name", strconv.Quote(ff.Name), nameRule)
			case strings.HasPrefix(ff.Name, rawPrefix):
				return nil, perr(label, fl, "name", strconv.Quote(ff.Name), "the prefix "+rawPrefix+" is reserved for raw payloads")
			case ff.Offset == nil:
				return nil, perr(label, fl, "offset", "", "missing")
			case *ff.Offset < 0:
				return nil, perr(label, fl, "offset", strconv.FormatInt(*ff.Offset, 10), "negative")
			case *ff.Offset > maxOffset:
				return nil, perr(label, fl, "offset", strconv.FormatInt(*ff.Offset, 10), fmt.Sprintf("beyond the largest OSP payload (%d)", maxOffset))
			case ff.Type == "":
				return nil, perr(label, fl, "type", "", "missing")
			}
			f.Offset = int(*ff.Offset)
			if f.Type, ok = parseFieldType(ff.Type); !ok {
				return nil, perr(label, fl, "type", strconv.Quote(ff.Type), "unknown type (want u8 i8 u16 i16 u32 i32 f32)")
			}
			if ff.Order != nil {
				switch *ff.Order {
				case "big":
					f.Order = BigEndian
				case "little":
					f.Order = LittleEndian
				default:
					return nil, perr(label, fl, "order", strconv.Quote(*ff.Order), "unknown order (want big or little)")
				}
			}
			if ff.Scale != nil {
				s := *ff.Scale
				if s == 0 || math.IsNaN(s) || math.IsInf(s, 0) {
					return nil, perr(label, fl, "scale", strconv.FormatFloat(s, 'g', -1, 64), "must be a finite non-zero number")
				}
				f.Scale = s
			}
			if !validUnit(ff.Unit) {
				return nil, perr(label, fl, "unit", strconv.Quote(ff.Unit), "control character or invalid UTF-8")
			}
			for _, g := range dt.Fields {
				if g.Name == f.Name {
					return nil, perr(label, fl, "name", strconv.Quote(f.Name), "duplicate field name")
				}
				if f.Offset < g.Offset+g.Type.Size() && g.Offset < f.Offset+f.Type.Size() {
					return nil, perr(label, fl, "offset", strconv.Itoa(f.Offset),
						fmt.Sprintf("bytes %d..%d overlap field %q (bytes %d..%d)",
							f.Offset, f.Offset+f.Type.Size()-1, g.Name, g.Offset, g.Offset+g.Type.Size()-1))
				}
			}
			if pi, seen := props[f.Name]; seen {
				if pi.typ != f.ValueType() || pi.unit != f.Unit {
					return nil, perr(label, fl, "name", strconv.Quote(f.Name),
						fmt.Sprintf("also in datatype %s as %v %q, here %v %q: a name shared by datatypes needs the same type and unit",
							pi.dt, pi.typ, pi.unit, f.ValueType(), f.Unit))
				}
			} else {
				props[f.Name] = propInfo{typ: f.ValueType(), unit: f.Unit, dt: label}
			}
			dt.Fields = append(dt.Fields, f)
		}
		p.byID[id] = len(p.dataTypes)
		p.dataTypes = append(p.dataTypes, dt)
	}
	slices.SortFunc(p.dataTypes, func(a, b DataType) int { return int(a.ID) - int(b.ID) })
	seen := make(map[string]bool)
	for i, dt := range p.dataTypes {
		p.byID[dt.ID] = i
		for _, f := range dt.Fields {
			if !seen[f.Name] {
				seen[f.Name] = true
				p.props = append(p.props, Property{Name: f.Name, Type: f.ValueType(), Unit: f.Unit})
			}
		}
	}

	for i, af := range pf.Action {
		al := af.Name
		if al == "" {
			al = fmt.Sprintf("#%d", i+1)
		}
		switch {
		case af.Name == "":
			return nil, aerr(al, "name", "", "missing")
		case !validName(af.Name):
			return nil, aerr(al, "name", strconv.Quote(af.Name), nameRule)
		case slices.ContainsFunc(p.actions, func(a profileAction) bool { return a.Name == af.Name }):
			return nil, aerr(al, "name", strconv.Quote(af.Name), "duplicate action")
		case af.Script == nil:
			return nil, aerr(al, "script", "", "missing")
		}
		for j, prm := range af.Params {
			if !validParam(prm) {
				return nil, aerr(al, "params", strconv.Quote(prm), "a parameter name is letters, digits and _")
			}
			if slices.Contains(af.Params[:j], prm) {
				return nil, aerr(al, "params", strconv.Quote(prm), "duplicate parameter")
			}
		}
		script, used, err := parseScript(*af.Script)
		if err != nil {
			return nil, aerr(al, "script", strconv.Quote(*af.Script), err.Error())
		}
		for _, u := range used {
			if !slices.Contains(af.Params, u) {
				return nil, aerr(al, "script", strconv.Quote(*af.Script), fmt.Sprintf("placeholder {%s} is not in params", u))
			}
		}
		for _, prm := range af.Params {
			if !slices.Contains(used, prm) {
				return nil, aerr(al, "params", strconv.Quote(prm), "parameter not used by the script")
			}
		}
		p.actions = append(p.actions, profileAction{
			Action: Action{Name: af.Name, Description: af.Description, Params: slices.Clone(af.Params)},
			script: script,
		})
	}
	return p, nil
}

// parseScript splits a script into literals and {param} placeholders. "{{"
// and "}}" stand for literal braces.
func parseScript(s string) (segs []segment, params []string, err error) {
	if !validUnit(s) {
		return nil, nil, errors.New("control character or invalid UTF-8")
	}
	var lit strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '{' && i+1 < len(s) && s[i+1] == '{', c == '}' && i+1 < len(s) && s[i+1] == '}':
			lit.WriteByte(c)
			i++
		case c == '{':
			end := strings.IndexByte(s[i+1:], '}')
			if end < 0 {
				return nil, nil, fmt.Errorf("unclosed { at byte %d", i)
			}
			name := s[i+1 : i+1+end]
			if !validParam(name) {
				return nil, nil, fmt.Errorf("bad placeholder {%s} at byte %d", name, i)
			}
			if lit.Len() > 0 {
				segs = append(segs, segment{lit: lit.String()})
				lit.Reset()
			}
			segs = append(segs, segment{param: name})
			if !slices.Contains(params, name) {
				params = append(params, name)
			}
			i += end + 1
		case c == '}':
			return nil, nil, fmt.Errorf("unmatched } at byte %d", i)
		default:
			lit.WriteByte(c)
		}
	}
	if lit.Len() > 0 {
		segs = append(segs, segment{lit: lit.String()})
	}
	return segs, params, nil
}

const nameRule = "a name starts with a letter and has only letters, digits, _ - and ."

// validName reports whether s is a usable profile, datatype, field or action
// name: it ends up in JSON, JOSP and OCS documents and in URLs.
func validName(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for i, r := range s {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z':
		case i > 0 && (r >= '0' && r <= '9' || r == '_' || r == '-' || r == '.'):
		default:
			return false
		}
	}
	return true
}

func validParam(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_') {
			return false
		}
	}
	return true
}

func validUnit(s string) bool {
	return utf8.ValidString(s) && strings.IndexFunc(s, unicode.IsControl) < 0
}
