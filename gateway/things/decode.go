package things

import (
	"encoding/binary"
	"math"
	"strconv"
)

// rawPrefix starts the name of a property holding an undecoded payload.
const rawPrefix = "raw_"

// RawPropertyName returns the name under which DecodeOrRaw keeps an
// undecoded payload of dataType: "raw_" and the DataType in decimal, e.g.
// "raw_10".
func RawPropertyName(dataType uint16) string {
	return rawPrefix + strconv.FormatUint(uint64(dataType), 10)
}

// Decode decodes a DATA payload of dataType into the values of the
// DataType's fields, in declared order. Every field whose bytes lie inside
// the payload decodes; bytes after the last field are ignored. Integer fields
// decode to Int, or to Float when their scale is not 1; f32 fields decode to
// Float (NaN and infinities included).
//
// An unknown dataType fails with a *DecodeError wrapping ErrUnknownDataType;
// a payload ending before a field fails with a *DecodeError wrapping
// ErrShortPayload naming the first such field, and the values of the fields
// that fit are still returned. A nil profile knows no DataType.
func (p *Profile) Decode(dataType uint16, payload []byte) ([]PropertyValue, error) {
	if p == nil {
		return nil, &DecodeError{DataType: dataType, Kind: ErrUnknownDataType}
	}
	i, ok := p.byID[dataType]
	if !ok {
		return nil, &DecodeError{Profile: p.name, DataType: dataType, Kind: ErrUnknownDataType}
	}
	dt := &p.dataTypes[i]
	values := make([]PropertyValue, 0, len(dt.Fields))
	var short *DecodeError
	for _, f := range dt.Fields {
		end := f.Offset + f.Type.Size()
		if end > len(payload) {
			if short == nil {
				short = &DecodeError{Profile: p.name, DataType: dataType, Field: f.Name, Need: end, Have: len(payload), Kind: ErrShortPayload}
			}
			continue
		}
		values = append(values, PropertyValue{Name: f.Name, Value: f.decode(payload[f.Offset:end])})
	}
	if short != nil {
		return values, short
	}
	return values, nil
}

// DecodeOrRaw returns the decoded values of the payload, or, when Decode
// fails (unknown DataType, short payload), a single Bytes property named
// RawPropertyName(dataType) holding a copy of the whole payload and flagged
// Raw, so that no payload is ever dropped. It works on a nil profile (every
// payload is then kept raw).
func (p *Profile) DecodeOrRaw(dataType uint16, payload []byte) []PropertyValue {
	if p == nil {
		return rawValues(dataType, payload) // without building Decode's error
	}
	values, err := p.Decode(dataType, payload)
	if err != nil {
		return rawValues(dataType, payload)
	}
	return values
}

// rawValues is DecodeOrRaw's single raw property.
func rawValues(dataType uint16, payload []byte) []PropertyValue {
	return []PropertyValue{{Name: RawPropertyName(dataType), Value: BytesValue(payload), Raw: true}}
}

// decode converts the field's bytes (exactly f.Type.Size() of them).
func (f Field) decode(b []byte) Value {
	var order binary.ByteOrder = binary.BigEndian
	if f.Order == LittleEndian {
		order = binary.LittleEndian
	}
	var n int64
	switch f.Type {
	case FieldU8:
		n = int64(b[0])
	case FieldI8:
		n = int64(int8(b[0]))
	case FieldU16:
		n = int64(order.Uint16(b))
	case FieldI16:
		n = int64(int16(order.Uint16(b)))
	case FieldU32:
		n = int64(order.Uint32(b))
	case FieldI32:
		n = int64(int32(order.Uint32(b)))
	case FieldF32:
		return FloatValue(scale(float64(math.Float32frombits(order.Uint32(b))), f.Scale))
	default:
		return Value{}
	}
	if f.Scale == 1 {
		return IntValue(n)
	}
	return FloatValue(scale(float64(n), f.Scale))
}

// scale returns x*s. When s is the reciprocal of an integer (0.1, 0.01,
// 0.001 ...), it divides by that integer instead, which is correctly rounded:
// 2150 * 0.01 is 21.500000000000004 but 2150 / 100 is 21.5.
func scale(x, s float64) float64 {
	if s == 1 {
		return x
	}
	if s > -1 && s < 1 {
		inv := 1 / s
		if r := math.Round(inv); r != 0 && math.Abs(inv-r) <= 1e-9*math.Abs(r) {
			return x / r
		}
	}
	return x * s
}
