package store_test

import (
	"bytes"
	"encoding/hex"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/edgegate/edgegate/store"
)

func mustHex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(strings.ReplaceAll(s, " ", ""))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// exampleReading encodes to exampleHex byte for byte.
var exampleReading = store.Reading{
	Time:          time.Unix(0, 0x0102030405060708).UTC(),
	Device:        store.DeviceID{Type: 0x0a0b, Module: 0x0c0d0e0f},
	SID:           0x1011,
	MessageID:     0x12,
	DataType:      0x1314,
	Flags:         0x15,
	Authenticated: true,
	RSSI:          -1.5, // 0xbfc00000
	SNR:           2,    // 0x40000000
	Link:          "udp",
	Payload:       []byte{0xde, 0xad},
}

const exampleHex = "01 0102030405060708 0a0b 0c0d0e0f 1011 12 1314 15 01 bfc00000 40000000 03 756470 0002 dead"

func TestReadingCodec(t *testing.T) {
	zeroTime := time.Unix(0, 0).UTC()
	tests := []struct {
		name string
		r    store.Reading
		hex  string
	}{
		{"all fields", exampleReading, exampleHex},
		{"minimal", store.Reading{Time: zeroTime},
			"01 0000000000000000 0000 00000000 0000 00 0000 00 00 00000000 00000000 00 0000"},
		{"negative time, no auth", store.Reading{Time: time.Unix(0, -1).UTC(), Device: store.DeviceID{Type: 1, Module: 4242}, Flags: 0xf0, Link: "s", Payload: []byte{7}},
			"01 ffffffffffffffff 0001 00001092 0000 00 0000 f0 00 00000000 00000000 01 73 0001 07"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			want := mustHex(t, tt.hex)
			got, err := store.EncodeReading(&tt.r)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, want) {
				t.Fatalf("encode:\n got %x\nwant %x", got, want)
			}
			back, err := store.DecodeReading(want)
			if err != nil {
				t.Fatal(err)
			}
			if !readingsEqual(back, tt.r) {
				t.Fatalf("decode: got %+v, want %+v", back, tt.r)
			}
		})
	}
}

func TestReadingDecodeErrors(t *testing.T) {
	valid := mustHex(t, exampleHex)
	tests := []struct {
		name   string
		b      []byte
		offset int
		reason string
	}{
		{"empty", nil, 0, "empty"},
		{"unknown version", append([]byte{2}, valid[1:]...), 0, "unknown version 2"},
		{"truncated header", valid[:10], 10, "truncated header"},
		{"reserved auth bits", func() []byte { b := bytes.Clone(valid); b[21] = 0x03; return b }(), 21, "reserved"},
		{"link past end", valid[:33], 31, "truncated link"},
		{"payload past end", valid[:len(valid)-1], 36, "truncated payload"},
		{"trailing bytes", append(bytes.Clone(valid), 0), len(valid), "trailing"},
		{"link length lies", func() []byte { b := bytes.Clone(valid); b[30] = 0xff; return b }(), 31, "truncated link"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := store.DecodeReading(tt.b)
			if !errors.Is(err, store.ErrCorrupt) {
				t.Fatalf("err = %v, want ErrCorrupt", err)
			}
			var ce *store.CorruptError
			if !errors.As(err, &ce) || ce.Offset != tt.offset || !strings.Contains(ce.Reason, tt.reason) || ce.Record != "reading" {
				t.Fatalf("err = %#v, want offset %d reason %q", err, tt.offset, tt.reason)
			}
		})
	}
}

func TestReadingEncodeLimits(t *testing.T) {
	tests := []struct {
		name string
		r    store.Reading
	}{
		{"payload too long", store.Reading{Time: time.Unix(1, 0), Payload: make([]byte, store.MaxPayload+1)}},
		{"link too long", store.Reading{Time: time.Unix(1, 0), Link: strings.Repeat("x", store.MaxLink+1)}},
		{"time after 2262", store.Reading{Time: time.Date(3000, 1, 1, 0, 0, 0, 0, time.UTC)}},
		{"time before 1678", store.Reading{Time: time.Date(1600, 1, 1, 0, 0, 0, 0, time.UTC)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := store.EncodeReading(&tt.r); !errors.Is(err, store.ErrInvalid) {
				t.Fatalf("err = %v, want ErrInvalid", err)
			}
		})
	}
	// The limits themselves are fine.
	r := store.Reading{Time: time.Unix(1, 0), Payload: make([]byte, store.MaxPayload), Link: strings.Repeat("x", store.MaxLink)}
	b, err := store.EncodeReading(&r)
	if err != nil {
		t.Fatal(err)
	}
	if back, err := store.DecodeReading(b); err != nil || !readingsEqual(back, r) {
		t.Fatalf("round trip at the limits: %v", err)
	}
}

func FuzzDecodeReading(f *testing.F) {
	f.Add(mustHex(f, exampleHex))
	f.Add(mustHex(f, "01 0000000000000000 0000 00000000 0000 00 0000 00 00 00000000 00000000 00 0000"))
	f.Add([]byte{})
	f.Add([]byte{1})
	f.Add([]byte{2, 0, 0})
	f.Add(mustHex(f, exampleHex)[:32])
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := store.DecodeReading(b)
		if err != nil {
			if !errors.Is(err, store.ErrCorrupt) {
				t.Fatalf("error %v does not match ErrCorrupt", err)
			}
			return
		}
		out, err := store.EncodeReading(&r)
		if err != nil {
			t.Fatalf("re-encode of a decoded reading failed: %v", err)
		}
		if !bytes.Equal(out, b) {
			t.Fatalf("round trip:\n  in %x\n out %x", b, out)
		}
	})
}

// readingsEqual compares readings field by field (times with Equal).
func readingsEqual(a, b store.Reading) bool {
	return a.Seq == b.Seq && a.Time.Equal(b.Time) && a.Device == b.Device && a.SID == b.SID &&
		a.MessageID == b.MessageID && a.DataType == b.DataType && a.Flags == b.Flags &&
		bytes.Equal(a.Payload, b.Payload) && a.Link == b.Link && a.RSSI == b.RSSI && a.SNR == b.SNR &&
		a.Authenticated == b.Authenticated
}
