package steward

import (
	"bytes"
	"encoding/json"
	"math"
	"slices"
	"strconv"
	"strings"
)

// Generation is one of the two forms of the protocol the steward speaks.
type Generation uint8

// The generations.
const (
	// Native is the Native Thing draft: wss://…/native, /api/v1/pair with
	// a uuid answered by a passCode, /api/v1/hello with uuid and passcode,
	// entries naming their thing with "thing".
	Native Generation = iota + 1
	// Simple is the Simple Thing Protocol that shipped: wss://…/manage,
	// /api/v1/thing/pair/<name> answered twice (an intermediate reply,
	// then TOTP parameters), /api/v1/thing/hello/<id> with a TOTP
	// response, entries naming their thing with "thingID".
	Simple
)

// String returns "native" or "simple".
func (g Generation) String() string {
	switch g {
	case Native:
		return "native"
	case Simple:
		return "simple"
	}
	return "Generation(" + strconv.Itoa(int(g)) + ")"
}

// MarshalText encodes the generation as its name.
func (g Generation) MarshalText() ([]byte, error) { return []byte(g.String()), nil }

// UnmarshalText parses a name written by MarshalText.
func (g *Generation) UnmarshalText(b []byte) error {
	switch string(b) {
	case "native":
		*g = Native
	case "simple":
		*g = Simple
	default:
		*g = 0
	}
	return nil
}

// Message is one decoded frame: a request (it has a path) or a response to
// one of the steward's own requests (it has none).
type Message struct {
	// RequestID is the requestID in its string form: a JSON number is
	// converted the way JavaScript's toString does ("7", "1.5").
	RequestID string
	// Path is the request's path; empty for a response.
	Path   string
	fields map[string]json.RawMessage
}

// Decode parses one text frame. It fails with ErrInvalidJSON when the frame
// is not a JSON object and with ErrNoRequestID when the requestID is
// missing, empty, zero (falsy, as the original steward tests it), or
// neither a string nor a number. A path that is not a string is kept as its
// JSON text, which routes nowhere.
func Decode(b []byte) (Message, error) {
	t := bytes.TrimLeft(b, " \t\r\n")
	if len(t) == 0 || t[0] != '{' {
		return Message{}, ErrInvalidJSON
	}
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(t, &fields); err != nil {
		return Message{}, ErrInvalidJSON
	}
	m := Message{fields: fields}
	raw, ok := m.Field("requestID")
	if !ok {
		return Message{}, ErrNoRequestID
	}
	id, ok := requestID(raw)
	if !ok {
		return Message{}, ErrNoRequestID
	}
	m.RequestID = id
	if p, ok := m.Field("path"); ok {
		if s, isStr := jsonString(p); isStr {
			m.Path = s
		} else if !isNull(p) {
			m.Path = string(p)
		}
	}
	return m, nil
}

// requestID converts a requestID: a non-empty string, or a non-zero
// finite number.
func requestID(raw json.RawMessage) (string, bool) {
	if s, ok := jsonString(raw); ok {
		return s, s != ""
	}
	var f float64
	if err := json.Unmarshal(raw, &f); err != nil || f == 0 || math.IsInf(f, 0) || math.IsNaN(f) {
		return "", false
	}
	return jsNumber(f), true
}

// jsNumber formats f as JavaScript's Number.prototype.toString does for
// the values JSON can carry: integers without a fraction up to 1e21,
// exponents beyond.
func jsNumber(f float64) string {
	a := math.Abs(f)
	if a >= 1e21 || (a < 1e-6 && a != 0) {
		s := strconv.FormatFloat(f, 'e', -1, 64)
		// Go writes "1e+21" and "1.5e-07"; JavaScript writes "1e+21" and
		// "1.5e-7".
		mant, exp, _ := strings.Cut(s, "e")
		sign := exp[:1]
		exp = strings.TrimLeft(exp[1:], "0")
		return mant + "e" + sign + exp
	}
	return strconv.FormatFloat(f, 'f', -1, 64)
}

// Field returns the first of names present in the message, matching the
// key exactly, else without regard to case ("passCode" finds "passcode").
func (m Message) Field(names ...string) (json.RawMessage, bool) {
	return field(m.fields, names...)
}

// Has reports whether one of names is present.
func (m Message) Has(names ...string) bool {
	_, ok := m.Field(names...)
	return ok
}

// String returns the first of names as text: a JSON string as it is, a
// number or boolean as its JSON text. ok is false when none is present or
// the value is null, an object or an array.
func (m Message) String(names ...string) (string, bool) {
	raw, ok := m.Field(names...)
	if !ok {
		return "", false
	}
	return scalarText(raw)
}

// Entries returns the object under the first of names, as its entries
// (key, raw value) sorted by key. present reports whether the field exists
// and is an object.
func (m Message) Entries(names ...string) (entries []Entry, present bool) {
	raw, ok := m.Field(names...)
	if !ok {
		return nil, false
	}
	obj, ok := object(raw)
	if !ok {
		return nil, false
	}
	keys := make([]string, 0, len(obj))
	for k := range obj {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	out := make([]Entry, len(keys))
	for i, k := range keys {
		out[i] = Entry{Key: k, Raw: obj[k]}
		out[i].fields, _ = object(obj[k])
	}
	return out, true
}

// Entry is one entry of a things, events or tasks object.
type Entry struct {
	Key    string
	Raw    json.RawMessage
	fields map[string]json.RawMessage // nil when Raw is not an object
}

// IsObject reports whether the entry's value is a JSON object.
func (e Entry) IsObject() bool { return e.fields != nil }

// Field is Message.Field for the entry's object.
func (e Entry) Field(names ...string) (json.RawMessage, bool) { return field(e.fields, names...) }

// Has reports whether one of names is present in the entry.
func (e Entry) Has(names ...string) bool {
	_, ok := e.Field(names...)
	return ok
}

// String is Message.String for the entry's object.
func (e Entry) String(names ...string) (string, bool) {
	raw, ok := e.Field(names...)
	if !ok {
		return "", false
	}
	return scalarText(raw)
}

// Object returns an object field's members.
func (e Entry) Object(names ...string) (map[string]json.RawMessage, bool) {
	raw, ok := e.Field(names...)
	if !ok {
		return nil, false
	}
	return object(raw)
}

func field(fields map[string]json.RawMessage, names ...string) (json.RawMessage, bool) {
	if fields == nil {
		return nil, false
	}
	for _, n := range names {
		if v, ok := fields[n]; ok {
			return v, true
		}
	}
	for _, n := range names {
		for k, v := range fields {
			if strings.EqualFold(k, n) {
				return v, true
			}
		}
	}
	return nil, false
}

func object(raw json.RawMessage) (map[string]json.RawMessage, bool) {
	t := bytes.TrimLeft(raw, " \t\r\n")
	if len(t) == 0 || t[0] != '{' {
		return nil, false
	}
	var m map[string]json.RawMessage
	if json.Unmarshal(t, &m) != nil || m == nil {
		return nil, false
	}
	return m, true
}

func jsonString(raw json.RawMessage) (string, bool) {
	t := bytes.TrimLeft(raw, " \t\r\n")
	if len(t) == 0 || t[0] != '"' {
		return "", false
	}
	var s string
	if json.Unmarshal(t, &s) != nil {
		return "", false
	}
	return s, true
}

func isNull(raw json.RawMessage) bool { return string(bytes.TrimSpace(raw)) == "null" }

// scalarText returns a string's value, or a number's or boolean's JSON
// text.
func scalarText(raw json.RawMessage) (string, bool) {
	if s, ok := jsonString(raw); ok {
		return s, true
	}
	t := bytes.TrimSpace(raw)
	if len(t) == 0 || t[0] == '{' || t[0] == '[' || string(t) == "null" {
		return "", false
	}
	return string(t), true
}

// ErrorBody is the error of an error response or of one entry.
type ErrorBody struct {
	Permanent  bool   `json:"permanent"`
	Diagnostic string `json:"diagnostic"`
	Videlicet  string `json:"videlicet,omitempty"`
}

// Result is one entry of a detailed result, or the members of a simple
// result that both generations share. A success carries both forms that
// clients test: "status":"success" (the draft's) and "success":true (what
// shipped).
type Result struct {
	Status     string     `json:"status,omitempty"`
	Success    bool       `json:"success,omitempty"`
	ThingID    string     `json:"thingID,omitempty"`
	Diagnostic string     `json:"diagnostic,omitempty"`
	Error      *ErrorBody `json:"error,omitempty"`
}

// success is a successful entry.
func success() Result { return Result{Status: "success", Success: true} }

// failure is a failed entry.
func failure(permanent bool, diagnostic string) Result {
	return Result{Error: &ErrorBody{Permanent: permanent, Diagnostic: diagnostic}}
}

// Reply is a response the steward sends: an intermediate one (requestID
// and, for the Simple pair, a timestamp), an error, a simple result or a
// detailed result.
type Reply struct {
	RequestID string            `json:"requestID"`
	Result    any               `json:"result,omitempty"`
	Error     *ErrorBody        `json:"error,omitempty"`
	Things    map[string]Result `json:"things,omitempty"`
	Events    map[string]Result `json:"events,omitempty"`
	Tasks     map[string]Result `json:"tasks,omitempty"`
	// Timestamp (seconds) is on every Simple pair and hello reply.
	Timestamp int64 `json:"timestamp,omitempty"`
}

// Request is a request the steward sends to a thing: observe, perform, or
// a cancelling report.
type Request struct {
	Path      string         `json:"path"`
	RequestID string         `json:"requestID"`
	Events    map[string]any `json:"events,omitempty"`
	Tasks     map[string]any `json:"tasks,omitempty"`
}

// observeEntry is one event of an observe request; the generation says
// which of Thing and ThingID is set.
type observeEntry struct {
	Thing     string `json:"thing,omitempty"`
	ThingID   string `json:"thingID,omitempty"`
	Observe   string `json:"observe"`
	Parameter string `json:"parameter"`
	TestOnly  bool   `json:"testOnly"`
}

// performEntry is one task of a perform request.
type performEntry struct {
	Thing     string `json:"thing,omitempty"`
	ThingID   string `json:"thingID,omitempty"`
	Perform   string `json:"perform"`
	Parameter string `json:"parameter"`
	TestOnly  bool   `json:"testOnly"`
}

// op is what a request path asks for.
type op uint8

const (
	opUnknown op = iota
	opPair
	opHello
	opPrototype
	opRegister
	opUpdate
	opReport
)

var opNames = [...]string{"unknown", "pair", "hello", "prototype", "register", "update", "report"}

func (o op) String() string { return opNames[o] }

// routes maps path prefixes to operations: the draft's /api/v1/<op> and
// the shipped /api/v1/thing/<op>, accepted on both endpoints.
var routes = []struct {
	prefix string
	op     op
	gen    Generation
}{
	{"/api/v1/thing/pair", opPair, Simple},
	{"/api/v1/thing/hello", opHello, Simple},
	{"/api/v1/thing/prototype", opPrototype, Simple},
	{"/api/v1/thing/register", opRegister, Simple},
	{"/api/v1/thing/update", opUpdate, Simple},
	{"/api/v1/thing/report", opReport, Simple},
	{"/api/v1/pair", opPair, Native},
	{"/api/v1/hello", opHello, Native},
	{"/api/v1/prototype", opPrototype, Native},
	{"/api/v1/register", opRegister, Native},
	{"/api/v1/update", opUpdate, Native},
	{"/api/v1/report", opReport, Native},
}

// route finds a path's operation and generation by prefix: the prefix
// itself, or followed by "/" and an argument (the name of a Simple pair,
// the client ID of a Simple hello; a trailing slash, which old clients
// sent, gives an empty argument).
func route(path string) (o op, gen Generation, arg string) {
	for _, r := range routes {
		if path == r.prefix {
			return r.op, r.gen, ""
		}
		if rest, found := strings.CutPrefix(path, r.prefix+"/"); found {
			return r.op, r.gen, rest
		}
	}
	return opUnknown, 0, ""
}

// opPath returns the path of a steward request in a generation.
func opPath(gen Generation, name string) string {
	if gen == Simple {
		return "/api/v1/thing/" + name
	}
	return "/api/v1/" + name
}
