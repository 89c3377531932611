package things

import (
	"encoding/json"
	"math"
	"testing"
)

func TestValueJSONRoundTrip(t *testing.T) {
	tests := []struct {
		v    Value
		json string
		str  string
	}{
		{Value{}, `{"type":"invalid"}`, "<none>"},
		{BoolValue(true), `{"type":"bool","value":true}`, "true"},
		{IntValue(-42), `{"type":"int","value":-42}`, "-42"},
		{IntValue(math.MaxInt64), `{"type":"int","value":9223372036854775807}`, "9223372036854775807"},
		{FloatValue(21.5), `{"type":"float","value":21.5}`, "21.5"},
		{FloatValue(1e21), `{"type":"float","value":1e+21}`, "1e+21"},
		{FloatValue(math.NaN()), `{"type":"float","value":"NaN"}`, "NaN"},
		{FloatValue(math.Inf(1)), `{"type":"float","value":"+Inf"}`, "+Inf"},
		{FloatValue(math.Inf(-1)), `{"type":"float","value":"-Inf"}`, "-Inf"},
		{StringValue("a \"b\"\n"), `{"type":"string","value":"a \"b\"\n"}`, "a \"b\"\n"},
		{BytesValue([]byte{0, 1, 0xFE}), `{"type":"bytes","value":"AAH+"}`, "0001fe"},
		{BytesValue(nil), `{"type":"bytes","value":""}`, ""},
	}
	for _, tt := range tests {
		t.Run(tt.v.Type().String()+"/"+tt.str, func(t *testing.T) {
			b, err := json.Marshal(tt.v)
			if err != nil {
				t.Fatal(err)
			}
			if string(b) != tt.json {
				t.Errorf("Marshal = %s, want %s", b, tt.json)
			}
			if tt.v.String() != tt.str {
				t.Errorf("String = %q, want %q", tt.v.String(), tt.str)
			}
			var back Value
			if err := json.Unmarshal(b, &back); err != nil {
				t.Fatal(err)
			}
			if !back.Equal(tt.v) {
				t.Errorf("round trip = %v, want %v", back, tt.v)
			}
		})
	}
}

func TestValueUnmarshalErrors(t *testing.T) {
	for _, in := range []string{
		`{"type":"int","value":"x"}`,
		`{"type":"int","value":1.5}`,
		`{"type":"float","value":"Infinity"}`,
		`{"type":"bool"}`,
		`{"type":"bytes","value":"!!"}`,
		`{"type":"complex","value":1}`,
		`[]`,
	} {
		var v Value
		if err := json.Unmarshal([]byte(in), &v); err == nil {
			t.Errorf("Unmarshal(%s) = %v, want an error", in, v)
		}
	}
}

func TestValueAccessors(t *testing.T) {
	if f, ok := IntValue(3).AsFloat(); !ok || f != 3 {
		t.Errorf("Int AsFloat = %v, %v", f, ok)
	}
	if _, ok := StringValue("3").AsInt(); ok {
		t.Error("String AsInt ok")
	}
	src := []byte{1, 2}
	v := BytesValue(src)
	src[0] = 9
	b, _ := v.AsBytes()
	b[1] = 9
	if got, _ := v.AsBytes(); got[0] != 1 || got[1] != 2 {
		t.Errorf("Bytes value aliased: %v", got)
	}
	if IntValue(1).Equal(FloatValue(1)) || !FloatValue(math.NaN()).Equal(FloatValue(math.NaN())) {
		t.Error("Equal")
	}
	if !(Value{}).IsZero() || IntValue(0).IsZero() {
		t.Error("IsZero")
	}
}

func TestThingJSON(t *testing.T) {
	th := Thing{ID: "osp:1:2", Kind: KindOSP, Properties: []Property{{Name: "t", Type: TypeFloat, Value: FloatValue(1.5)}}}
	b, err := json.Marshal(th)
	if err != nil {
		t.Fatal(err)
	}
	var back Thing
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if back.ID != th.ID || back.Kind != KindOSP || !back.Properties[0].Value.Equal(FloatValue(1.5)) || back.Properties[0].Type != TypeFloat {
		t.Errorf("round trip = %+v (%s)", back, b)
	}
	if _, err := json.Marshal(Thing{ID: "x"}); err == nil {
		t.Error("marshalled an invalid Kind")
	}
	var k Kind
	if err := k.UnmarshalText([]byte("zigbee")); err == nil {
		t.Error("unknown kind accepted")
	}
	var typ Type
	if err := typ.UnmarshalText([]byte("decimal")); err == nil {
		t.Error("unknown type accepted")
	}
}
