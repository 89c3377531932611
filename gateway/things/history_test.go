package things

import (
	"bytes"
	"encoding/json"
	"errors"
	"math"
	"strconv"
	"testing"
	"time"
	"unicode/utf8"
)

func historyValues() []PropertyValue {
	var pvs []PropertyValue
	for i, v := range testValues() {
		if v.IsZero() {
			continue
		}
		pvs = append(pvs, PropertyValue{Name: "p<" + strconv.Itoa(i) + ">", Value: v, Raw: i%3 == 0})
	}
	return pvs
}

func equalHistory(a, b HistoryRecord) bool {
	if !a.At.Equal(b.At) || len(a.Values) != len(b.Values) {
		return false
	}
	for i := range a.Values {
		x, y := a.Values[i], b.Values[i]
		if x.Name != y.Name || x.Raw != y.Raw || !x.Value.Equal(y.Value) {
			return false
		}
		if f, ok := x.Value.AsFloat(); ok && x.Value.Type() == TypeFloat {
			g, _ := y.Value.AsFloat()
			if math.Signbit(f) != math.Signbit(g) {
				return false
			}
		}
	}
	return true
}

func TestHistoryBinaryRoundTrip(t *testing.T) {
	at := time.Date(2026, 12, 3, 1, 2, 3, 456789012, time.UTC)
	pvs := historyValues()
	for _, rec := range []HistoryRecord{
		{At: at, Values: pvs},
		{At: at, Values: pvs[:1]},
		{At: at, Values: []PropertyValue{{Name: "payload", Value: BytesValue(make([]byte, 300)), Raw: true}}},
		{At: at, Values: []PropertyValue{{Name: "", Value: IntValue(-1)}}},
		{At: at},
	} {
		b, err := rec.AppendBinary([]byte("prefix"))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.HasPrefix(b, []byte("prefix")) {
			t.Fatalf("AppendBinary dropped what it appended to: %x", b)
		}
		got, err := ParseHistory(at, b[len("prefix"):])
		if err != nil {
			t.Fatalf("ParseHistory(%x): %v", b, err)
		}
		if !equalHistory(got, rec) {
			t.Errorf("round trip:\n got %+v\nwant %+v", got, rec)
		}
	}
}

func TestHistoryBinaryLayout(t *testing.T) {
	for _, tc := range []struct {
		pv   PropertyValue
		want []byte
	}{
		{PropertyValue{Name: "on", Value: BoolValue(true)}, []byte{0xB1, 2, 'o', 'n', 1, 1}},
		{PropertyValue{Name: "n", Value: IntValue(-2)}, []byte{0xB1, 1, 'n', 2, 3}},
		{PropertyValue{Name: "t", Value: FloatValue(21.5)}, []byte{0xB1, 1, 't', 3, 0x40, 0x35, 0x80, 0, 0, 0, 0, 0}},
		{PropertyValue{Name: "s", Value: StringValue("hi")}, []byte{0xB1, 1, 's', 4, 2, 'h', 'i'}},
		{PropertyValue{Name: "raw_3", Value: BytesValue([]byte{0xAA}), Raw: true}, []byte{0xB1, 5, 'r', 'a', 'w', '_', '3', 0x85, 1, 0xAA}},
	} {
		got, err := (&HistoryRecord{Values: []PropertyValue{tc.pv}}).AppendBinary(nil)
		if err != nil || !bytes.Equal(got, tc.want) {
			t.Errorf("%v: got %x %v, want %x", tc.pv, got, err, tc.want)
		}
	}
	if _, err := (&HistoryRecord{Values: []PropertyValue{{Name: "x"}}}).AppendBinary(nil); !errors.Is(err, ErrInvalidValue) {
		t.Errorf("a value without a type: %v, want ErrInvalidValue", err)
	}
}

// TestParseHistoryJSON reads the JSON form that versions before the binary
// one stored: its own time is kept.
func TestParseHistoryJSON(t *testing.T) {
	at := time.Date(2026, 11, 22, 1, 2, 3, 456789000, time.UTC)
	var ref []refPV
	var want []PropertyValue
	for _, pv := range historyValues() {
		if f, ok := pv.Value.AsFloat(); ok && (math.IsNaN(f) || math.IsInf(f, 0) || (f == 0 && math.Signbit(f))) {
			continue // JSON numbers cannot say these
		}
		if s, ok := pv.Value.AsString(); ok && !utf8.ValidString(s) {
			continue // JSON strings are UTF-8
		}
		ref = append(ref, refPV{pv.Name, refValue(pv.Value), pv.Raw})
		want = append(want, pv)
	}
	b, err := json.Marshal(refHistory{at, ref})
	if err != nil {
		t.Fatal(err)
	}
	got, err := ParseHistory(at.Add(time.Hour), b)
	if err != nil {
		t.Fatal(err)
	}
	if !equalHistory(got, HistoryRecord{At: at, Values: want}) {
		t.Errorf("got %+v\nwant %+v", got, want)
	}
}

func TestParseHistoryMalformed(t *testing.T) {
	for _, b := range [][]byte{
		nil,
		[]byte("not json"),
		{0xB1, 5, 'a'},                // name overruns
		{0xB1, 1, 'a'},                // no type
		{0xB1, 1, 'a', 0},             // invalid type
		{0xB1, 1, 'a', 6, 0},          // unknown type
		{0xB1, 1, 'a', 1, 2},          // bool 2
		{0xB1, 1, 'a', 1},             // no bool
		{0xB1, 1, 'a', 2, 0x80},       // int cut
		{0xB1, 1, 'a', 3, 0, 0, 0},    // short float
		{0xB1, 1, 'a', 4, 3, 'x'},     // string overruns
		{0xB1, 1, 'a', 5, 0xFF, 0xFF}, // length cut
		{0xB1, 1, 'a', 1, 1, 1},       // trailing bytes
	} {
		if rec, err := ParseHistory(time.Time{}, b); !errors.Is(err, ErrBadHistory) {
			t.Errorf("ParseHistory(%x) = %+v, %v; want ErrBadHistory", b, rec, err)
		}
	}
}

// FuzzParseHistory: no panic; what parses encodes to bytes that parse to
// the same record.
func FuzzParseHistory(f *testing.F) {
	at := time.Date(2026, 12, 3, 0, 0, 0, 0, time.UTC)
	b, _ := (&HistoryRecord{Values: historyValues()}).AppendBinary(nil)
	f.Add(b)
	f.Add([]byte{0xB1})
	f.Add([]byte(`{"at":"2026-12-03T00:00:00Z","values":[{"name":"t","value":{"type":"float","value":21.5}}]}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		rec, err := ParseHistory(at, b)
		if err != nil {
			if !errors.Is(err, ErrBadHistory) {
				t.Fatalf("untyped error %v", err)
			}
			return
		}
		again, err := rec.AppendBinary(nil)
		if err != nil {
			if !errors.Is(err, ErrInvalidValue) || len(b) == 0 || b[0] == 0xB1 {
				t.Fatalf("re-encode %+v: %v", rec, err)
			}
			return // JSON may carry a value without a type
		}
		back, err := ParseHistory(rec.At, again)
		if err != nil || !equalHistory(back, rec) {
			t.Fatalf("%x -> %+v -> %x -> %+v, %v", b, rec, again, back, err)
		}
	})
}
