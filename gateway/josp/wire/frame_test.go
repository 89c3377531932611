package wire

import (
	"errors"
	"io"
	"strings"
	"testing"
	"testing/iotest"
	"time"
)

func readAll(t *testing.T, r io.Reader, max int) ([]string, error) {
	t.Helper()
	fr := NewFrameReader(r, max)
	var out []string
	for {
		f, err := fr.Next()
		if errors.Is(err, ErrFrameTooLong) {
			out = append(out, "<too long>")
			continue
		}
		if err != nil {
			return out, err
		}
		out = append(out, string(f))
	}
}

func TestFrameReader(t *testing.T) {
	for _, tc := range []struct {
		in   string
		max  int
		want []string
	}{
		{"hb_rq##bye##", 0, []string{"hb_rq", "bye"}},
		{"##a####b##", 0, []string{"a", "b"}}, // empty frames skipped
		{"a###b##", 0, []string{"a", "#b"}},   // the first "##" ends the frame
		{"\nA1B2C-D3E4F-G5H6I\n##x##", 0, []string{"\nA1B2C-D3E4F-G5H6I\n", "x"}},
		{"abc", 0, nil}, // no delimiter before EOF: dropped
		{"0123456789##ok##", 5, []string{"<too long>", "ok"}}, // skipped to its delimiter
		{"01234##012345##ab##", 5, []string{"01234", "<too long>", "ab"}},
		{strings.Repeat("x", 10000) + "##y##", 100, []string{"<too long>", "y"}},
	} {
		for _, split := range []bool{false, true} {
			var r io.Reader = strings.NewReader(tc.in)
			if split {
				r = iotest.OneByteReader(r)
			}
			got, err := readAll(t, r, tc.max)
			if err != io.EOF {
				t.Errorf("%q: err %v", tc.in, err)
			}
			if strings.Join(got, "|") != strings.Join(tc.want, "|") {
				t.Errorf("%q (one byte at a time: %v): %q, want %q", tc.in, split, got, tc.want)
			}
		}
	}
}

// timeoutReader fails with a timeout between its chunks, as a connection
// whose read deadline expires does.
type timeoutReader struct{ chunks []string }

type timeoutErr struct{}

func (timeoutErr) Error() string { return "i/o timeout" }
func (timeoutErr) Timeout() bool { return true }

func (r *timeoutReader) Read(p []byte) (int, error) {
	if len(r.chunks) == 0 {
		return 0, io.EOF
	}
	c := r.chunks[0]
	if c == "" {
		r.chunks = r.chunks[1:]
		return 0, timeoutErr{}
	}
	n := copy(p, c)
	r.chunks[0] = c[n:]
	if n == len(c) {
		r.chunks = r.chunks[1:]
	}
	return n, nil
}

func TestFrameReaderKeepsDataAcrossTimeouts(t *testing.T) {
	fr := NewFrameReader(&timeoutReader{chunks: []string{"JOSP/2.0 UPD", "", "_MSG x#", "", "#next##"}}, 0)
	var got []string
	timeouts := 0
	for {
		f, err := fr.Next()
		if err == io.EOF {
			break
		}
		if _, ok := err.(timeoutErr); ok {
			timeouts++
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, string(f))
	}
	if timeouts != 2 || strings.Join(got, "|") != "JOSP/2.0 UPD_MSG x|next" {
		t.Errorf("frames %q, %d timeouts", got, timeouts)
	}
}

func TestReadLine(t *testing.T) {
	for _, tc := range []struct {
		in, line, next string
		err            error
	}{
		{"srv-id/usr-id/1234\n##JOSP/2.0 X##", "srv-id/usr-id/1234", "JOSP/2.0 X", nil},
		{"\nA1B2C-D3E4F-G5H6I\n##hb_rq##", "A1B2C-D3E4F-G5H6I", "hb_rq", nil},
		{"srv/usr/1##bye##", "srv/usr/1", "bye", nil}, // no line end: the delimiter ends it
		{"##\n\n  s/u/1  \r\n##", "s/u/1", "", nil},
		{"\x16\x03\x01\x02\x00" + strings.Repeat("\x01", 300), "", "", ErrLineTooLong}, // a TLS ClientHello
	} {
		fr := NewFrameReader(strings.NewReader(tc.in), 0)
		line, err := fr.ReadLine(256)
		if !errors.Is(err, tc.err) || string(line) != tc.line {
			t.Errorf("%q: line %q err %v, want %q %v", tc.in, line, err, tc.line, tc.err)
			continue
		}
		if err != nil {
			continue
		}
		next, err := fr.Next()
		if tc.next == "" {
			if err != io.EOF {
				t.Errorf("%q: after the line %q %v, want EOF", tc.in, next, err)
			}
		} else if string(next) != tc.next {
			t.Errorf("%q: next frame %q %v, want %q", tc.in, next, err, tc.next)
		}
	}
}

func TestDERLength(t *testing.T) {
	for _, tc := range []struct {
		b   []byte
		n   int
		ok  bool
		err bool
	}{
		{[]byte{0x30}, 0, false, false},
		{[]byte{0x30, 0x05}, 7, true, false},
		{[]byte{0x30, 0x82, 0x03}, 0, false, false},
		{[]byte{0x30, 0x82, 0x03, 0x10}, 4 + 0x310, true, false},
		{[]byte{0x30, 0x81, 0xf0}, 3 + 0xf0, true, false},
		{[]byte{0x31, 0x05}, 0, false, true},
		{[]byte{0x30, 0x80}, 0, false, true}, // indefinite length
		{[]byte{0x30, 0x85, 1, 2, 3, 4, 5}, 0, false, true},
	} {
		n, ok, err := DERLength(tc.b)
		if n != tc.n || ok != tc.ok || (err != nil) != tc.err {
			t.Errorf("% x: %d %v %v", tc.b, n, ok, err)
		}
	}
}

func TestPeekAndReadFullAcrossDelimiters(t *testing.T) {
	der := "\x30\x04##\x23\x23"
	fr := NewFrameReader(iotest.OneByteReader(strings.NewReader(der+"##bye##")), 0)
	h, err := fr.Peek(2)
	if err != nil || h[0] != 0x30 {
		t.Fatal(h, err)
	}
	n, ok, _ := DERLength(h)
	b, err := fr.ReadFull(n)
	if !ok || err != nil || string(b) != der {
		t.Fatalf("%q %v", b, err)
	}
	if f, err := fr.Next(); err != nil || string(f) != "bye" {
		t.Errorf("%q %v", f, err)
	}
}

func TestAppendTimeAndParseTime(t *testing.T) {
	ts := time.Date(2024, 7, 1, 12, 0, 5, 123456789, time.Local)
	if got := string(AppendTime(nil, ts)); got != "20240701-120005123" {
		t.Errorf("AppendTime %q", got)
	}
	back, err := ParseTime("20240701-120005123")
	if err != nil || !back.Equal(ts.Truncate(time.Millisecond)) {
		t.Errorf("ParseTime %v %v", back, err)
	}
	for _, bad := range []string{"", "2024", "20240701-12000512x", "20241301-120005123"} {
		if _, err := ParseTime(bad); !errors.Is(err, ErrMalformed) {
			t.Errorf("ParseTime(%q) = %v", bad, err)
		}
	}
}
