package things

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
	"time"
)

// historyBinary is the first byte of a HistoryRecord's binary form. JSON,
// the form written before, starts with '{' (or white space), never with it.
const historyBinary = 0xB1

// historyRaw marks a raw value in the type byte of the binary form.
const historyRaw = 0x80

// AppendBinary appends the record's binary form to b: the byte 0xB1, then
// for each value the uvarint length of its name, the name, a byte holding
// its Type (0x80 set for a raw value), and the value itself: one byte for a
// Bool, a zig-zag varint for an Int, the 8 big-endian bytes of a Float's
// IEEE 754 bits, and the uvarint length and bytes of a String or Bytes
// value. The record's At is not written: the store keys each entry by its
// time, and ParseHistory takes it back from there.
//
// The form is about a third of the JSON's size, which the history, one
// entry per reading, pays in every page it writes.
func (r *HistoryRecord) AppendBinary(b []byte) ([]byte, error) {
	b = append(b, historyBinary)
	for i := range r.Values {
		pv := &r.Values[i]
		t := pv.Value.Type()
		if !t.Valid() {
			return b, fmt.Errorf("things: encode history value %q: %w", pv.Name, ErrInvalidValue)
		}
		b = binary.AppendUvarint(b, uint64(len(pv.Name)))
		b = append(b, pv.Name...)
		tb := byte(t)
		if pv.Raw {
			tb |= historyRaw
		}
		b = append(b, tb)
		switch v := pv.Value; t {
		case TypeBool:
			if v.b {
				b = append(b, 1)
			} else {
				b = append(b, 0)
			}
		case TypeInt:
			b = binary.AppendVarint(b, v.i)
		case TypeFloat:
			b = binary.BigEndian.AppendUint64(b, math.Float64bits(v.f))
		case TypeString, TypeBytes:
			b = binary.AppendUvarint(b, uint64(len(v.s)))
			b = append(b, v.s...)
		}
	}
	return b, nil
}

// ParseHistory decodes a history entry the hub stored for a reading at at:
// the binary form AppendBinary writes, or the JSON that earlier versions
// wrote. The result's At is at for the binary form (which holds no time)
// and the JSON's own "at" otherwise. Anything else is an error wrapping
// ErrBadHistory.
func ParseHistory(at time.Time, b []byte) (HistoryRecord, error) {
	if len(b) == 0 || b[0] != historyBinary {
		var rec HistoryRecord
		if err := json.Unmarshal(b, &rec); err != nil {
			return HistoryRecord{}, fmt.Errorf("%w: %w", ErrBadHistory, err)
		}
		return rec, nil
	}
	rec := HistoryRecord{At: at}
	d := historyDecoder{b: b[1:]}
	for len(d.b) > 0 {
		name := d.bytes("name")
		tb := d.byte("type")
		if d.err != nil {
			break
		}
		pv := PropertyValue{Name: string(name), Raw: tb&historyRaw != 0}
		switch t := Type(tb &^ historyRaw); t {
		case TypeBool:
			switch d.byte("bool") {
			case 0:
				pv.Value = BoolValue(false)
			case 1:
				pv.Value = BoolValue(true)
			default:
				d.fail("bool is neither 0 nor 1")
			}
		case TypeInt:
			v, n := binary.Varint(d.b)
			if n <= 0 {
				d.fail("bad int")
				break
			}
			d.b = d.b[n:]
			pv.Value = IntValue(v)
		case TypeFloat:
			if len(d.b) < 8 {
				d.fail("short float")
				break
			}
			pv.Value = FloatValue(math.Float64frombits(binary.BigEndian.Uint64(d.b)))
			d.b = d.b[8:]
		case TypeString:
			pv.Value = StringValue(string(d.bytes("string")))
		case TypeBytes:
			pv.Value = BytesValue(d.bytes("bytes"))
		default:
			d.fail(fmt.Sprintf("unknown type %d", t))
		}
		if d.err != nil {
			break
		}
		rec.Values = append(rec.Values, pv)
	}
	if d.err != nil {
		return HistoryRecord{}, d.err
	}
	return rec, nil
}

// historyDecoder reads the binary form, keeping the first error.
type historyDecoder struct {
	b   []byte
	err error
}

func (d *historyDecoder) fail(what string) {
	if d.err == nil {
		d.err = fmt.Errorf("%w: %s", ErrBadHistory, what)
	}
}

func (d *historyDecoder) byte(what string) byte {
	if d.err != nil {
		return 0
	}
	if len(d.b) == 0 {
		d.fail("no " + what)
		return 0
	}
	c := d.b[0]
	d.b = d.b[1:]
	return c
}

// bytes reads a uvarint length and that many bytes.
func (d *historyDecoder) bytes(what string) []byte {
	if d.err != nil {
		return nil
	}
	n, k := binary.Uvarint(d.b)
	if k <= 0 || n > uint64(len(d.b)-k) {
		d.fail(what + " overruns the record")
		return nil
	}
	v := d.b[k : k+int(n)]
	d.b = d.b[k+int(n):]
	return v
}
