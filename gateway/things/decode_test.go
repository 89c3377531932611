package things

import (
	"errors"
	"fmt"
	"math"
	"strings"
	"testing"
)

// oneField builds a profile with DataType 1 holding one field at offset 0.
// extra is appended to the field table (order, scale ...).
func oneField(t *testing.T, typ, extra string) *Profile {
	t.Helper()
	src := fmt.Sprintf("name = \"t\"\n[[datatype]]\nid = 1\nname = \"d\"\n[[datatype.field]]\nname = \"v\"\noffset = 0\ntype = %q\n%s\n", typ, extra)
	p, err := LoadProfile(strings.NewReader(src))
	if err != nil {
		t.Fatalf("LoadProfile: %v\n%s", err, src)
	}
	return p
}

func TestDecodeTypes(t *testing.T) {
	f32 := func(f float32, little bool) []byte {
		b := math.Float32bits(f)
		be := []byte{byte(b >> 24), byte(b >> 16), byte(b >> 8), byte(b)}
		if little {
			return []byte{be[3], be[2], be[1], be[0]}
		}
		return be
	}
	tests := []struct {
		name    string
		typ     string
		extra   string
		payload []byte
		want    Value
	}{
		{"u8", "u8", "", []byte{0xFF}, IntValue(255)},
		{"u8/order ignored", "u8", `order = "little"`, []byte{0x7F}, IntValue(127)},
		{"i8/negative", "i8", "", []byte{0xFF}, IntValue(-1)},
		{"i8/min", "i8", "", []byte{0x80}, IntValue(-128)},
		{"u16/big", "u16", "", []byte{0x12, 0x34}, IntValue(0x1234)},
		{"u16/big explicit", "u16", `order = "big"`, []byte{0x12, 0x34}, IntValue(0x1234)},
		{"u16/little", "u16", `order = "little"`, []byte{0x12, 0x34}, IntValue(0x3412)},
		{"u16/max", "u16", "", []byte{0xFF, 0xFF}, IntValue(65535)},
		{"i16/big", "i16", "", []byte{0xFF, 0xFE}, IntValue(-2)},
		{"i16/little", "i16", `order = "little"`, []byte{0xFE, 0xFF}, IntValue(-2)},
		{"u32/big max", "u32", "", []byte{0xFF, 0xFF, 0xFF, 0xFF}, IntValue(4294967295)},
		{"u32/little", "u32", `order = "little"`, []byte{0x01, 0x02, 0x03, 0x04}, IntValue(0x04030201)},
		{"i32/big min", "i32", "", []byte{0x80, 0, 0, 0}, IntValue(math.MinInt32)},
		{"i32/little min", "i32", `order = "little"`, []byte{0, 0, 0, 0x80}, IntValue(math.MinInt32)},
		{"i32/big -1", "i32", "", []byte{0xFF, 0xFF, 0xFF, 0xFF}, IntValue(-1)},
		{"f32/big", "f32", "", f32(21.5, false), FloatValue(21.5)},
		{"f32/little", "f32", `order = "little"`, f32(-0.25, true), FloatValue(-0.25)},
		{"f32/NaN", "f32", "", f32(float32(math.NaN()), false), FloatValue(math.NaN())},
		{"f32/+Inf", "f32", "", f32(float32(math.Inf(1)), false), FloatValue(math.Inf(1))},
		{"f32/scaled", "f32", "scale = 2", f32(21.5, false), FloatValue(43)},
		{"scale/i16 0.01", "i16", "scale = 0.01", []byte{0xF7, 0x9A}, FloatValue(-21.5)}, // -2150
		{"scale/u16 0.1", "u16", "scale = 0.1", []byte{0x02, 0x8F}, FloatValue(65.5)},
		{"scale/u32 0.001 little", "u32", "scale = 0.001\norder = \"little\"", []byte{0x39, 0x30, 0, 0}, FloatValue(12.345)},
		{"scale/u8 10", "u8", "scale = 10", []byte{7}, FloatValue(70)},
		{"scale/integer literal", "u8", "scale = 2", []byte{7}, FloatValue(14)},
		{"scale/negative", "i8", "scale = -0.5", []byte{4}, FloatValue(-2)},
		{"scale/1 stays Int", "u16", "scale = 1.0", []byte{0, 9}, IntValue(9)},
		{"trailing bytes ignored", "u8", "", []byte{1, 2, 3, 4}, IntValue(1)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := oneField(t, tt.typ, tt.extra)
			got, err := p.Decode(1, tt.payload)
			if err != nil {
				t.Fatalf("Decode: %v", err)
			}
			if len(got) != 1 || got[0].Name != "v" || got[0].Raw {
				t.Fatalf("Decode = %v, want one value named v", got)
			}
			if !got[0].Value.Equal(tt.want) {
				t.Errorf("value = %v (%v), want %v (%v)", got[0].Value, got[0].Value.Type(), tt.want, tt.want.Type())
			}
			if prop := p.Properties()[0]; prop.Type != tt.want.Type() {
				t.Errorf("schema type = %v, decoded type = %v", prop.Type, tt.want.Type())
			}
		})
	}
}

func TestDecodeThermo(t *testing.T) {
	p := loadThermo(t)
	got, err := p.Decode(10, []byte{0x08, 0x66, 0x02, 0x8F, 0x5A})
	if err != nil {
		t.Fatal(err)
	}
	want := []PropertyValue{
		{Name: "temperature", Value: FloatValue(21.5)},
		{Name: "humidity", Value: FloatValue(65.5)},
		{Name: "battery", Value: IntValue(90)},
	}
	assertValues(t, got, want)
}

func TestDecodeShortAndUnknown(t *testing.T) {
	p := loadThermo(t)
	tests := []struct {
		name      string
		dataType  uint16
		payload   []byte
		wantErr   error
		wantField string
		partial   []PropertyValue
	}{
		{"empty", 10, nil, ErrShortPayload, "temperature", nil},
		{"one byte", 10, []byte{0x08}, ErrShortPayload, "temperature", nil},
		{"humidity cut", 10, []byte{0x08, 0x66, 0x02}, ErrShortPayload, "humidity",
			[]PropertyValue{{Name: "temperature", Value: FloatValue(21.5)}}},
		{"battery missing", 10, []byte{0x08, 0x66, 0x02, 0x8F}, ErrShortPayload, "battery",
			[]PropertyValue{{Name: "temperature", Value: FloatValue(21.5)}, {Name: "humidity", Value: FloatValue(65.5)}}},
		{"unknown DataType", 11, []byte{1, 2, 3, 4, 5}, ErrUnknownDataType, "", nil},
		{"DataType 0", 0, []byte{1}, ErrUnknownDataType, "", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := p.Decode(tt.dataType, tt.payload)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("err = %v, want %v", err, tt.wantErr)
			}
			var de *DecodeError
			if !errors.As(err, &de) || de.Field != tt.wantField || de.DataType != tt.dataType {
				t.Fatalf("err = %#v, want a *DecodeError for field %q", err, tt.wantField)
			}
			if tt.wantField != "" && !strings.Contains(err.Error(), `"`+tt.wantField+`"`) {
				t.Errorf("message %q does not name the field", err)
			}
			assertValues(t, got, tt.partial)

			payload := append([]byte(nil), tt.payload...)
			raw := p.DecodeOrRaw(tt.dataType, payload)
			if len(raw) != 1 || raw[0].Name != fmt.Sprintf("raw_%d", tt.dataType) || !raw[0].Raw {
				t.Fatalf("DecodeOrRaw = %v, want one raw_%d flagged Raw", raw, tt.dataType)
			}
			for i := range payload {
				payload[i] ^= 0xFF // the raw value must be a copy
			}
			if b, ok := raw[0].Value.AsBytes(); !ok || string(b) != string(tt.payload) {
				t.Errorf("raw bytes = %x, want %x", b, tt.payload)
			}
		})
	}
}

func TestDecodeOrRawDecodes(t *testing.T) {
	p := loadThermo(t)
	got := p.DecodeOrRaw(10, []byte{0x08, 0x66, 0x02, 0x8F, 0x5A, 0xEE})
	if len(got) != 3 || got[0].Raw {
		t.Fatalf("DecodeOrRaw = %v, want the 3 decoded values", got)
	}
}

func TestDecodeNilProfile(t *testing.T) {
	var p *Profile
	if _, err := p.Decode(10, []byte{1}); !errors.Is(err, ErrUnknownDataType) {
		t.Errorf("Decode on nil profile: %v", err)
	}
	got := p.DecodeOrRaw(0x1234, []byte{1, 2})
	if len(got) != 1 || got[0].Name != "raw_4660" || !got[0].Raw || got[0].Value.String() != "0102" {
		t.Errorf("DecodeOrRaw on nil profile = %v", got)
	}
}

func assertValues(t *testing.T, got, want []PropertyValue) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("got %v, want %v", got, want)
	}
	for i := range got {
		if got[i].Name != want[i].Name || got[i].Raw != want[i].Raw || !got[i].Value.Equal(want[i].Value) {
			t.Errorf("value %d = %v (%v), want %v (%v)", i, got[i], got[i].Value.Type(), want[i], want[i].Value.Type())
		}
	}
}
