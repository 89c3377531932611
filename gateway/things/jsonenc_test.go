package things

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"math"
	"strconv"
	"testing"
	"time"
)

// refValue is Value's JSON as encoding/json writes it from the wire shape:
// the reference the fast appenders must match byte for byte.
type refValue Value

func (v refValue) MarshalJSON() ([]byte, error) {
	var raw []byte
	switch v.typ {
	case TypeInvalid:
		return []byte(`{"type":"invalid"}`), nil
	case TypeBool:
		raw = strconv.AppendBool(nil, v.b)
	case TypeInt:
		raw = strconv.AppendInt(nil, v.i, 10)
	case TypeFloat:
		switch {
		case math.IsNaN(v.f):
			raw = []byte(`"NaN"`)
		case math.IsInf(v.f, 1):
			raw = []byte(`"+Inf"`)
		case math.IsInf(v.f, -1):
			raw = []byte(`"-Inf"`)
		default:
			raw = strconv.AppendFloat(nil, v.f, 'g', -1, 64)
		}
	case TypeString:
		raw, _ = json.Marshal(v.s)
	case TypeBytes:
		raw, _ = json.Marshal(base64.StdEncoding.EncodeToString([]byte(v.s)))
	}
	return json.Marshal(valueJSON{Type: v.typ, Value: raw})
}

type refProperty struct {
	Name    string    `json:"name"`
	Type    Type      `json:"type"`
	Unit    string    `json:"unit,omitempty"`
	Value   refValue  `json:"value"`
	Updated time.Time `json:"updated"`
	Raw     bool      `json:"raw,omitempty"`
}

type refState struct {
	ID         string        `json:"id"`
	Kind       Kind          `json:"kind"`
	Name       string        `json:"name,omitempty"`
	Present    bool          `json:"present"`
	LastSeen   time.Time     `json:"lastSeen"`
	Properties []refProperty `json:"properties"`
}

type refPV struct {
	Name  string   `json:"name"`
	Value refValue `json:"value"`
	Raw   bool     `json:"raw,omitempty"`
}

type refHistory struct {
	At     time.Time `json:"at"`
	Values []refPV   `json:"values"`
}

func testValues() []Value {
	return []Value{
		{}, BoolValue(true), BoolValue(false), IntValue(0), IntValue(-9223372036854775808), IntValue(42),
		FloatValue(21.5), FloatValue(1e21), FloatValue(1e-7), FloatValue(math.Copysign(0, -1)), FloatValue(math.NaN()),
		FloatValue(math.Inf(1)), FloatValue(math.Inf(-1)), FloatValue(0.1 + 0.2), FloatValue(123456789),
		StringValue(""), StringValue("plain"), StringValue("quote\" back\\ <tag> & \n\t\r\b\f \x01 \x7f é 😀 \u2028\u2029 \xff\xfe"),
		BytesValue(nil), BytesValue([]byte{0, 1, 2, 250, 255}),
	}
}

func TestAppendJSONMatchesEncodingJSON(t *testing.T) {
	at := time.Date(2026, 11, 22, 1, 2, 3, 456789000, time.UTC)
	for _, v := range testValues() {
		want, err := json.Marshal(refValue(v))
		if err != nil {
			t.Fatal(err)
		}
		got, err := v.AppendJSON(nil)
		if err != nil || !bytes.Equal(got, want) {
			t.Errorf("%#v:\n got %s %v\nwant %s", v, got, err, want)
		}
		if m, _ := json.Marshal(v); !bytes.Equal(m, want) {
			t.Errorf("MarshalJSON %s, want %s", m, want)
		}
	}
	var props []Property
	var ref []refProperty
	for i, v := range testValues() {
		p := Property{Name: "p<" + strconv.Itoa(i) + ">", Type: v.Type(), Value: v, Updated: at.Add(time.Duration(i) * time.Second), Raw: i%3 == 0}
		if i%2 == 0 {
			p.Unit = "Cel"
		}
		props = append(props, p)
		ref = append(ref, refProperty{p.Name, p.Type, p.Unit, refValue(p.Value), p.Updated, p.Raw})
	}
	for _, tc := range []struct {
		rec StateRecord
		ref refState
	}{
		{StateRecord{ID: "osp:1:2", Kind: KindOSP, Name: "greenhouse \"A\"", Present: true, LastSeen: at, Properties: props},
			refState{"osp:1:2", KindOSP, "greenhouse \"A\"", true, at, ref}},
		{StateRecord{ID: "n", Kind: KindNative, LastSeen: time.Unix(0, 0).In(time.FixedZone("x", 3600))},
			refState{"n", KindNative, "", false, time.Unix(0, 0).In(time.FixedZone("x", 3600)), nil}},
		{StateRecord{ID: "e", Kind: KindOSP, Properties: []Property{}}, refState{"e", KindOSP, "", false, time.Time{}, []refProperty{}}},
	} {
		want, err := json.Marshal(tc.ref)
		if err != nil {
			t.Fatal(err)
		}
		got, err := tc.rec.AppendJSON(nil)
		if err != nil || !bytes.Equal(got, want) {
			t.Errorf("state:\n got %s %v\nwant %s", got, err, want)
		}
	}
	if _, err := (&StateRecord{ID: "x"}).AppendJSON(nil); err == nil {
		t.Error("a record without a kind encoded")
	}
}

// FuzzAppendString holds the string appender to encoding/json's output.
func FuzzAppendString(f *testing.F) {
	f.Add("plain")
	f.Add("<&>\u2028\xff\x00\"\\")
	f.Fuzz(func(t *testing.T, s string) {
		want, _ := json.Marshal(s)
		if got := appendString(nil, s); !bytes.Equal(got, want) {
			t.Fatalf("%q: got %s want %s", s, got, want)
		}
	})
}

func BenchmarkStateJSON(b *testing.B) {
	at := time.Now()
	rec := StateRecord{ID: "osp:1:4242", Kind: KindOSP, Name: "greenhouse", Present: true, LastSeen: at, Properties: []Property{
		{Name: "temperature", Type: TypeFloat, Unit: "Cel", Value: FloatValue(21.5), Updated: at},
		{Name: "humidity", Type: TypeFloat, Unit: "%", Value: FloatValue(50.1), Updated: at},
		{Name: "battery", Type: TypeInt, Unit: "%", Value: IntValue(85), Updated: at},
	}}
	b.Run("encoding/json", func(b *testing.B) {
		for b.Loop() {
			json.Marshal(rec)
		}
	})
	b.Run("AppendJSON", func(b *testing.B) {
		buf := make([]byte, 0, 512)
		for b.Loop() {
			buf, _ = rec.AppendJSON(buf[:0])
		}
	})
}
