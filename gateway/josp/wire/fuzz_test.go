package wire

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/iotest"
	"time"
)

// The fuzz targets: the frame reader, the identity line, every message
// parser, and the parsers of rows, payloads, limits and the structure.
// Their committed seed corpus (testdata/fuzz/FuzzX) holds the literal
// messages and limits of the reference and the rows and payloads below;
// TestSeedCorpus checks it, and rewrites it with JOSP_WRITE_CORPUS=1.

func FuzzFrameReader(f *testing.F) {
	f.Add([]byte("hb_rq##bye##"), uint8(0))
	f.Add([]byte("\nA1B2C-D3E4F-G5H6I\n##JOSP/2.0 UPD_MSG x##"), uint8(1))
	f.Add([]byte("a###b####"), uint8(2))
	f.Fuzz(func(t *testing.T, data []byte, mode uint8) {
		var r io.Reader = bytes.NewReader(data)
		if mode&1 != 0 {
			r = iotest.OneByteReader(r)
		}
		max := 16 + int(mode)
		fr := NewFrameReader(r, max)
		if mode&2 != 0 {
			if line, err := fr.ReadLine(64); err == nil && bytes.ContainsAny(line, "\n") {
				t.Fatalf("line %q holds a line end", line)
			}
		}
		total := 0
		for {
			fr, err := fr.Next()
			if errors.Is(err, ErrFrameTooLong) {
				continue
			}
			if err != nil {
				break
			}
			if len(fr) == 0 || len(fr) > max || bytes.Contains(fr, []byte(Delimiter)) {
				t.Fatalf("frame %q (max %d)", fr, max)
			}
			total += len(fr)
		}
		if total > len(data) {
			t.Fatalf("%d frame bytes from %d input bytes", total, len(data))
		}
	})
}

func FuzzReadLine(f *testing.F) {
	f.Add([]byte("srv-id/usr-id/1234\n##"))
	f.Add([]byte("\nA1B2C-D3E4F-G5H6I\n##"))
	f.Add([]byte("\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03"))
	f.Fuzz(func(t *testing.T, data []byte) {
		fr := NewFrameReader(bytes.NewReader(data), 0)
		line, err := fr.ReadLine(256)
		if err == nil && (len(line) == 0 || len(line) > 256 || bytes.Contains(line, []byte("\n"))) {
			t.Fatalf("line %q", line)
		}
	})
}

// fuzzMessage checks that parse never panics and that what it accepts
// formats into a message that parses to the same bytes again. Its seeds
// are the committed corpus and extra.
func fuzzMessage[M Message](f *testing.F, parse func([]byte) (M, error), extra ...string) {
	for _, s := range extra {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := parse(data)
		if err != nil {
			return
		}
		out := m.Append(nil)
		m2, err := parse(out)
		if err != nil {
			t.Fatalf("%q parsed, its formatting %q does not: %v", data, out, err)
		}
		if out2 := m2.Append(nil); !bytes.Equal(out, out2) {
			t.Fatalf("formatting is not stable:\n%q\n%q", out, out2)
		}
	})
}

func FuzzParse(f *testing.F)                 { fuzzMessage(f, Parse) }
func FuzzParseObjectInfo(f *testing.F)       { fuzzMessage(f, ParseObjectInfo) }
func FuzzParseObjectStructure(f *testing.F)  { fuzzMessage(f, ParseObjectStructure) }
func FuzzParseObjectPerms(f *testing.F)      { fuzzMessage(f, ParseObjectPerms) }
func FuzzParseServicePerms(f *testing.F)     { fuzzMessage(f, ParseServicePerms) }
func FuzzParseUpdate(f *testing.F)           { fuzzMessage(f, ParseUpdate) }
func FuzzParseObjectDisconnect(f *testing.F) { fuzzMessage(f, ParseObjectDisconnect) }
func FuzzParseStatusHistory(f *testing.F)    { fuzzMessage(f, ParseStatusHistory) }
func FuzzParseEventsResponse(f *testing.F)   { fuzzMessage(f, ParseEventsResponse) }
func FuzzParseCommand(f *testing.F)          { fuzzMessage(f, ParseCommand) }
func FuzzParseSetName(f *testing.F)          { fuzzMessage(f, ParseSetName) }
func FuzzParseSetOwner(f *testing.F)         { fuzzMessage(f, ParseSetOwner) }
func FuzzParseAddPerm(f *testing.F)          { fuzzMessage(f, ParseAddPerm) }
func FuzzParseUpdPerm(f *testing.F)          { fuzzMessage(f, ParseUpdPerm) }
func FuzzParseRemPerm(f *testing.F)          { fuzzMessage(f, ParseRemPerm) }
func FuzzParseHistoryRequest(f *testing.F) {
	fuzzMessage(f, ParseHistoryRequest,
		"JOSP/2.0 H_STATUS_MSG 20240701-120000000\nfullSrvId:s/u/1\nobjId:A1B2C-D3E4F-G5H6I\ncompPath:Lamp>Switch\nreqId:7\nlimits:{}")
}
func FuzzParseEventsRequest(f *testing.F) { fuzzMessage(f, ParseEventsRequest) }

func FuzzParseStructure(f *testing.F) {
	f.Add([]byte(`{"name":"root","components":[{"name":"r","type":"rangestate","state":5}]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		s, err := ParseStructure(data)
		if err != nil {
			return
		}
		out := s.AppendJSON(nil)
		s2, err := ParseStructure(out)
		if err != nil {
			t.Fatalf("%q parsed, its formatting %q does not: %v", data, out, err)
		}
		if out2 := s2.AppendJSON(nil); !bytes.Equal(out, out2) {
			t.Fatalf("formatting is not stable:\n%s\n%s", out, out2)
		}
	})
}

func FuzzParseLimits(f *testing.F) {
	f.Fuzz(func(t *testing.T, s string) {
		l, err := ParseLimits(s)
		if err != nil {
			return
		}
		l2, err := ParseLimits(l.String())
		if err != nil || l2.String() != l.String() {
			t.Fatalf("%q -> %s -> %v %v", s, l, l2, err)
		}
		Select([]int{1, 2, 3}, l, func(int) int64 { return 1 }, func(int) time.Time { return time.UnixMilli(1) })
	})
}

func FuzzParseRow(f *testing.F) {
	f.Fuzz(func(t *testing.T, kind uint8, s string) {
		var out []byte
		switch kind % 3 {
		case 0:
			p, err := ParsePerm(s)
			if err != nil {
				return
			}
			out = p.AppendText(nil)
			if _, err := ParsePerm(string(out)); err != nil {
				t.Fatalf("%q -> %q: %v", s, out, err)
			}
		case 1:
			h, err := ParseHistoryItem(s)
			if err != nil {
				return
			}
			if _, err := ParseHistoryItem(string(h.AppendText(nil))); err != nil {
				t.Fatalf("%q: %v", s, err)
			}
		case 2:
			e, err := ParseEvent(s)
			if err != nil {
				return
			}
			if _, err := ParseEvent(string(e.AppendText(nil))); err != nil {
				t.Fatalf("%q: %v", s, err)
			}
		}
	})
}

func FuzzParsePayload(f *testing.F) {
	f.Add("new=true,old=false")
	f.Add("new=127.000000,old=0.000000\n")
	f.Fuzz(func(t *testing.T, s string) {
		if v, old, err := ParseBoolPayload(s); err == nil {
			if v2, old2, err := ParseBoolPayload(string(AppendBoolPayload(nil, v, old))); err != nil || v2 != v || old2 != old {
				t.Fatalf("%q: %v %v %v", s, v2, old2, err)
			}
		}
		if v, old, err := ParseRangePayload(s); err == nil {
			if _, _, err := ParseRangePayload(string(AppendRangePayload(nil, v, old))); err != nil {
				t.Fatalf("%q: %v", s, err)
			}
		}
	})
}

// TestSeedCorpus checks that testdata/fuzz holds the seed corpus of every
// fuzz target: the reference's messages and limits (from the vectors),
// rows, payloads and streams. With JOSP_WRITE_CORPUS=1 it writes them
// instead. Other files there (seeds found by fuzzing) are left alone.
func TestSeedCorpus(t *testing.T) {
	rewrite := os.Getenv("JOSP_WRITE_CORPUS") == "1"
	write := func(target, name string, vals ...any) {
		t.Helper()
		var b strings.Builder
		b.WriteString("go test fuzz v1\n")
		for _, v := range vals {
			switch v := v.(type) {
			case []byte:
				fmt.Fprintf(&b, "[]byte(%q)\n", v)
			case string:
				fmt.Fprintf(&b, "string(%q)\n", v)
			case uint8:
				fmt.Fprintf(&b, "byte(%q)\n", v)
			}
		}
		dir := filepath.Join("testdata", "fuzz", target)
		path := filepath.Join(dir, name)
		if !rewrite {
			if got, err := os.ReadFile(path); err != nil || string(got) != b.String() {
				t.Errorf("%s is missing or stale (%v): regenerate it with JOSP_WRITE_CORPUS=1 go test -run TestSeedCorpus", path, err)
			}
			return
		}
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	msgs, limits := loadVectors(t)
	slug := func(s string) string {
		return strings.Map(func(r rune) rune {
			if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' {
				return r
			}
			return '_'
		}, s)
	}
	targets := map[string][]string{
		"FuzzParseObjectInfo": {"OBJ_INF"}, "FuzzParseObjectStructure": {"OBJ_STRUCT"}, "FuzzParseObjectPerms": {"OBJ_PERMS"},
		"FuzzParseServicePerms": {"SRV_PERMS"}, "FuzzParseUpdate": {"UPD"}, "FuzzParseObjectDisconnect": {"OBJ_DISCONNECT"},
		"FuzzParseStatusHistory": {"H_STATUS res"}, "FuzzParseEventsResponse": {"H_EVENTS res"}, "FuzzParseCommand": {"CMD"},
		"FuzzParseSetName": {"SETNAME"}, "FuzzParseSetOwner": {"SETOWNERID"}, "FuzzParseAddPerm": {"ADDPERM"},
		"FuzzParseUpdPerm": {"UPDPERM"}, "FuzzParseRemPerm": {"REMPERM"}, "FuzzParseHistoryRequest": {"H_HISTORY"},
		"FuzzParseEventsRequest": {"H_EVENTS req"}, "FuzzParse": {""},
	}
	for target, prefixes := range targets {
		for _, v := range msgs {
			for _, p := range prefixes {
				if strings.HasPrefix(v.name, p) {
					write(target, slug(v.name), v.msg)
				}
			}
		}
	}
	write("FuzzFrameReader", "stream", []byte("\nA1B2C-D3E4F-G5H6I\n##"+string(msgs[0].msg)+"##hb_rq##bye##"), uint8(1))
	write("FuzzFrameReader", "hashes", []byte("a###b####c"), uint8(2))
	write("FuzzReadLine", "fullSrvId", []byte("srv-id/usr-id/1234\n##"))
	write("FuzzReadLine", "clienthello", []byte("\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03"))
	s, _ := ParseObjectStructure(msgs[1].msg)
	write("FuzzParseStructure", "lamp", s.JSON)
	for i, l := range limits {
		write("FuzzParseLimits", fmt.Sprintf("limits%d", i), l)
	}
	write("FuzzParseRow", "perm", uint8(0), "id:QWERTYUIOPASDFGHJKLZ;objId:A1B2C-D3E4F-G5H6I;srvId:#All;usrId:#Owner;type:CoOwner;conn:LocalAndCloud;upd:20240701-120000000")
	write("FuzzParseRow", "history", uint8(1), "id:1;compPath:Lamp>Switch;compType:BooleanAction;updatedAt:20240701-120000000;payload:new=true,old=false")
	write("FuzzParseRow", "event", uint8(2), `id:7;type:JOD_ACTION_EXEC;srcId:A1B2C-D3E4F-G5H6I;srcType:Obj;emittedAt:20240701-120000000;phase:;payload:{"srvId": "srv-id"};errorPayload:null`)
	write("FuzzParsePayload", "bool", "new=true,old=true\n")
	write("FuzzParsePayload", "range", "new=127.000000,old=0.000000")
}
