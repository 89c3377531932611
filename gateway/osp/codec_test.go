package osp

import (
	"bytes"
	"encoding/hex"
	"errors"
	"testing"
)

func unhex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatalf("bad hex %q: %v", s, err)
	}
	return b
}

func TestPacketSize(t *testing.T) {
	for _, tc := range []struct {
		size int
		hex  string
	}{
		{6, "06"}, {64, "40"}, {127, "7f"}, {128, "8001"}, {129, "8101"}, {321, "c102"}, {16383, "ff7f"},
	} {
		b, err := AppendPacketSize(nil, tc.size)
		if err != nil || hex.EncodeToString(b) != tc.hex {
			t.Errorf("AppendPacketSize(%d) = %x, %v; want %s", tc.size, b, err, tc.hex)
		}
		got, n, err := ParsePacketSize(unhex(t, tc.hex))
		if err != nil || got != tc.size || n != len(tc.hex)/2 {
			t.Errorf("ParsePacketSize(%s) = %d, %d, %v; want %d", tc.hex, got, n, err, tc.size)
		}
	}
	if _, err := AppendPacketSize(nil, 16384); !errors.Is(err, ErrTooLarge) {
		t.Errorf("16384: err = %v, want ErrTooLarge", err)
	}
	for _, bad := range []struct {
		hex string
		err error
	}{
		{"", ErrTruncated}, {"80", ErrTruncated}, {"8080", ErrPacketSize}, {"ffff01", ErrPacketSize}, {"8500", ErrPacketSize},
	} {
		if _, _, err := ParsePacketSize(unhex(t, bad.hex)); !errors.Is(err, bad.err) {
			t.Errorf("ParsePacketSize(%q) err = %v, want %v", bad.hex, err, bad.err)
		}
	}
}

func TestPacketSizeFor(t *testing.T) {
	// The field grows to two bytes exactly when the one-byte form cannot
	// express the total.
	for _, tc := range []struct{ rest, size int }{
		{0, 6}, {121, 127}, {122, 129}, {123, 130}, {16376, 16383}, {16377, 16384},
	} {
		if got := PacketSizeFor(tc.rest); got != tc.size {
			t.Errorf("PacketSizeFor(%d) = %d, want %d", tc.rest, got, tc.size)
		}
	}
	// A packet of exactly 16383 bytes encodes; one more byte does not.
	body := make([]byte, 16376)
	pkt, err := AppendPlain(nil, 1, 1, TypeData, 0, body)
	if err != nil || len(pkt) != 16383 {
		t.Fatalf("16383-byte packet: len %d, %v", len(pkt), err)
	}
	if _, err := Decode(pkt); err != nil {
		t.Errorf("Decode(16383-byte packet): %v", err)
	}
	if _, err := AppendPlain(nil, 1, 1, TypeData, 0, append(body, 0)); !errors.Is(err, ErrTooLarge) {
		t.Errorf("16384-byte packet: err = %v, want ErrTooLarge", err)
	}
}

func TestHeaderDecode(t *testing.T) {
	for _, tc := range []struct {
		name string
		hex  string
		want Header
		err  error
	}{
		{"ping", "beef00044006", Header{SID: 0xbeef, SeqNum: 4, Type: TypePingReq, Size: 6}, nil},
		{"data all flags", "0001000a8f0a0100", Header{SID: 1, SeqNum: 10, Type: TypeData, Flags: 0xf, Size: 10}, ErrSizeMismatch},
		{"data CSAE", "0001000a8f09010000", Header{SID: 1, SeqNum: 10, Type: TypeData, Flags: 0xf, Size: 9}, nil},
		{"reserved 0", "000100010006", Header{}, ErrReservedMsgType},
		{"reserved 9", "000100019006", Header{}, ErrReservedMsgType},
		{"reserved f", "00010001f006", Header{}, ErrReservedMsgType},
		{"cached on ping", "000100014806", Header{}, ErrFlags},
		{"saved on ack", "00010001340701", Header{}, ErrFlags},
		{"ackreq on connect", "00010001120700", Header{}, ErrFlags},
		{"size below header", "000100014005", Header{}, ErrPacketSize},
		{"size 7 with 2-byte field", "0001000140870000", Header{}, ErrPacketSize},
		{"truncated header", "0001000140", Header{}, ErrTruncated},
		{"truncated size field", "000100014080", Header{}, ErrTruncated},
		{"size larger than bytes", "00010001400a", Header{}, ErrSizeMismatch},
		{"size smaller than bytes", "00010001400600", Header{}, ErrSizeMismatch},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, err := Decode(unhex(t, tc.hex))
			if !errors.Is(err, tc.err) {
				t.Fatalf("err = %v, want %v", err, tc.err)
			}
			if err == nil && p.Header != tc.want {
				t.Errorf("header = %+v, want %+v", p.Header, tc.want)
			}
		})
	}
	var fe *FlagError
	if _, err := Decode(unhex(t, "000100014806")); !errors.As(err, &fe) || fe.Type != TypePingReq {
		t.Errorf("flag error not typed: %v", err)
	}
}

func TestBodies(t *testing.T) {
	civ := [8]byte{1, 2, 3, 4, 5, 6, 7, 8}
	var blk [16]byte
	for i := range blk {
		blk[i] = byte(0xa0 + i)
	}
	connects := []struct {
		name string
		c    Connect
		hex  string
	}{
		{"terminated", Connect{State: ConnTerminated}, "00"},
		{"paused", Connect{State: ConnPaused}, "05"},
		{"init plain", Connect{State: ConnInit, DeviceType: 1, ModuleID: 4242}, "01000100001092"},
		{"init secure", Connect{State: ConnInit, Secure: true, DeviceType: 1, ModuleID: 4242, ClientIV: civ}, "010001000010920102030405060708"},
		{"server auth", Connect{State: ConnServerAuth, Timestamp: 0x65000000, Block: blk}, "0265000000a0a1a2a3a4a5a6a7a8a9aaabacadaeaf"},
		{"client auth", Connect{State: ConnClientAuth, Block: blk}, "03a0a1a2a3a4a5a6a7a8a9aaabacadaeaf"},
		{"granted secure", Connect{State: ConnGranted, Secure: true}, "04"},
		{"granted plain", Connect{State: ConnGranted, Timestamp: 0x65000000}, "0465000000"},
	}
	for _, tc := range connects {
		t.Run("connect "+tc.name, func(t *testing.T) {
			b, err := tc.c.AppendBody(nil)
			if err != nil || hex.EncodeToString(b) != tc.hex {
				t.Fatalf("AppendBody = %x, %v; want %s", b, err, tc.hex)
			}
			var got Connect
			if err := got.Unmarshal(b); err != nil || got != tc.c {
				t.Fatalf("Unmarshal = %+v, %v; want %+v", got, err, tc.c)
			}
		})
	}
	for _, bad := range []struct {
		hex string
		err error
	}{
		{"", ErrTruncated}, {"06", ErrConnState}, {"ff", ErrConnState}, {"0000", ErrBodyLength},
		{"010001", ErrTruncated}, {"0100010000109201", ErrBodyLength}, {"0265", ErrTruncated},
		{"03a0", ErrTruncated}, {"046500", ErrBodyLength}, {"0500", ErrBodyLength},
	} {
		var c Connect
		if err := c.Unmarshal(unhex(t, bad.hex)); !errors.Is(err, bad.err) {
			t.Errorf("Connect.Unmarshal(%s) = %v, want %v", bad.hex, err, bad.err)
		}
	}

	req := CommandRequest{ID: 7, Script: []byte("reboot")}
	if b := req.AppendBody(nil); hex.EncodeToString(b) != "077265626f6f74" {
		t.Errorf("CommandRequest = %x", b)
	}
	var r2 CommandRequest
	if err := r2.Unmarshal(unhex(t, "07")); err != nil || r2.ID != 7 || len(r2.Script) != 0 {
		t.Errorf("empty script: %+v %v", r2, err)
	}
	if err := r2.Unmarshal(nil); !errors.Is(err, ErrTruncated) {
		t.Errorf("empty command: %v", err)
	}
	resp := CommandResponse{ID: 7, ExitCode: ExitSuccess, Response: []byte("ok")}
	if b := resp.AppendBody(nil); hex.EncodeToString(b) != "07016f6b" {
		t.Errorf("CommandResponse = %x", b)
	}
	var resp2 CommandResponse
	if err := resp2.Unmarshal(unhex(t, "07")); !errors.Is(err, ErrTruncated) {
		t.Errorf("short response: %v", err)
	}

	name, _ := MakeFirmwareName("fw-1.2.0")
	fr := FirmwareRequest{ChunkID: 3, Name: name}
	wantFR := "0003" + hex.EncodeToString([]byte("fw-1.2.0")) + "000000000000000000000000"
	if b := fr.AppendBody(nil); hex.EncodeToString(b) != wantFR {
		t.Errorf("FirmwareRequest = %x, want %s", b, wantFR)
	}
	var fr2 FirmwareRequest
	if err := fr2.Unmarshal(unhex(t, wantFR)); err != nil || fr2 != fr || fr2.Name.String() != "fw-1.2.0" {
		t.Errorf("FirmwareRequest.Unmarshal = %+v %v", fr2, err)
	}
	if err := fr2.Unmarshal(unhex(t, wantFR[:40])); !errors.Is(err, ErrTruncated) {
		t.Errorf("short firmware request: %v", err)
	}
	if err := fr2.Unmarshal(unhex(t, wantFR+"00")); !errors.Is(err, ErrBodyLength) {
		t.Errorf("long firmware request: %v", err)
	}
	if _, err := MakeFirmwareName("123456789012345678901"); err == nil {
		t.Error("21-byte firmware name accepted")
	}
	fw := FirmwareResponse{ChunkID: 3, Name: name, Data: []byte{9, 8}}
	var fw2 FirmwareResponse
	if err := fw2.Unmarshal(fw.AppendBody(nil)); err != nil || fw2.ChunkID != 3 || fw2.Name != name || !bytes.Equal(fw2.Data, []byte{9, 8}) {
		t.Errorf("FirmwareResponse round trip: %+v %v", fw2, err)
	}
	empty := FirmwareResponse{ChunkID: 9, Name: name}
	if b := empty.AppendBody(nil); len(b) != 22 {
		t.Errorf("empty chunk body is %d bytes, want 22", len(b))
	}

	d := Data{MessageID: 5, DataType: 0x000b, Payload: []byte("hi")}
	if b := d.AppendBody(nil); hex.EncodeToString(b) != "05000b6869" {
		t.Errorf("Data = %x", b)
	}
	var d2 Data
	if err := d2.Unmarshal(unhex(t, "05000b")); err != nil || d2.MessageID != 5 || d2.DataType != 11 || len(d2.Payload) != 0 {
		t.Errorf("empty payload: %+v %v", d2, err)
	}
	if err := d2.Unmarshal(unhex(t, "0500")); !errors.Is(err, ErrTruncated) {
		t.Errorf("short data: %v", err)
	}
	for _, tc := range []struct {
		hex string
		err error
	}{{"04", nil}, {"", ErrTruncated}, {"0400", ErrBodyLength}} {
		if _, err := UnmarshalMessageID(unhex(t, tc.hex)); !errors.Is(err, tc.err) {
			t.Errorf("UnmarshalMessageID(%s) = %v, want %v", tc.hex, err, tc.err)
		}
	}
	if err := checkEmpty(TypePingReq, []byte{0}); !errors.Is(err, ErrBodyLength) {
		t.Errorf("ping with body: %v", err)
	}
}

func TestNonce(t *testing.T) {
	var ff [8]byte
	for i := range ff {
		ff[i] = 0xff
	}
	var n Nonce
	MakeNonceBase(ff, ff).Put(&n, 1)
	if hex.EncodeToString(n.Bytes()) != "00000000000000000000000000000000" {
		t.Errorf("wrap: %x", n.Bytes())
	}
	civ, siv := iv(0x11), iv(0x22)
	MakeNonceBase(civ, siv).Put(&n, 3)
	if hex.EncodeToString(n.Bytes()) != "11111111111111112222222222222225" {
		t.Errorf("base+3: %x", n.Bytes())
	}
	// A carry from the low into the high half.
	lo := [8]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xfe}
	MakeNonceBase(civ, lo).Put(&n, 3)
	if hex.EncodeToString(n.Bytes()) != "11111111111111120000000000000001" {
		t.Errorf("carry: %x", n.Bytes())
	}
}

func iv(b byte) (v [8]byte) {
	for i := range v {
		v[i] = b
	}
	return v
}

func TestWindow(t *testing.T) {
	var w Window
	steps := []struct {
		seq    uint16
		accept bool
	}{
		{0, false}, {1, true}, {1, false}, {3, true}, {2, true}, {2, false},
		{40, true}, {9, true}, {8, false}, {39, true}, {39, false}, {100, true}, {68, false}, {69, true},
		{69, false}, {101, true}, {65535, true}, {65535, false}, {65504, true}, {65503, false},
	}
	for i, s := range steps {
		got := w.Check(s.seq)
		if got != s.accept {
			t.Fatalf("step %d: Check(%d) = %v, want %v", i, s.seq, got, s.accept)
		}
		if got {
			w.Accept(s.seq)
		}
	}
}

func TestCipherParams(t *testing.T) {
	key := make([]byte, 16)
	for _, tl := range []int{4, 8, 12, 16} {
		c, err := NewCipher(key, tl)
		if err != nil || c.TagLen() != tl {
			t.Errorf("tag %d: %v", tl, err)
		}
	}
	if c, err := NewCipher(key, 0); err != nil || c.TagLen() != DefaultTagLen {
		t.Errorf("default tag: %v", err)
	}
	for _, tl := range []int{1, 3, 17} {
		if _, err := NewCipher(key, tl); !errors.Is(err, ErrTagLength) {
			t.Errorf("tag %d: err = %v", tl, err)
		}
	}
	if _, err := NewCipher(key[:15], 8); !errors.Is(err, ErrKeyLength) {
		t.Errorf("short key: %v", err)
	}
	if _, err := NewCipher(make([]byte, 32), 8); !errors.Is(err, ErrKeyLength) {
		t.Errorf("AES-256 key accepted: %v", err)
	}
}
