package things

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// FuzzProfileDecode feeds arbitrary payloads, under any DataType, to the
// example profile: no panic, a decode error is always typed, and
// DecodeOrRaw never drops a payload.
func FuzzProfileDecode(f *testing.F) {
	p := loadThermo(f)
	f.Add(uint16(10), []byte{0x08, 0x66, 0x02, 0x8F, 0x5A})
	f.Add(uint16(10), []byte{0x08, 0x66, 0x02})
	f.Add(uint16(10), []byte{})
	f.Add(uint16(10), []byte{0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF})
	f.Add(uint16(11), []byte{1, 2, 3})
	f.Add(uint16(0), []byte(nil))
	f.Fuzz(func(t *testing.T, dataType uint16, payload []byte) {
		values, err := p.Decode(dataType, payload)
		if err != nil {
			var de *DecodeError
			if !errors.As(err, &de) || !(errors.Is(err, ErrShortPayload) || errors.Is(err, ErrUnknownDataType)) {
				t.Fatalf("untyped decode error %v", err)
			}
		} else if dataType != 10 || len(payload) < 5 || len(values) != 3 {
			t.Fatalf("Decode(%d, %x) = %v without error", dataType, payload, values)
		}
		got := p.DecodeOrRaw(dataType, payload)
		if len(got) == 0 {
			t.Fatal("DecodeOrRaw dropped the payload")
		}
		if err != nil {
			b, ok := got[0].Value.AsBytes()
			if len(got) != 1 || !got[0].Raw || !ok || string(b) != string(payload) {
				t.Fatalf("DecodeOrRaw = %v, want the raw payload", got)
			}
		}
		for _, v := range got {
			if _, err := json.Marshal(v); err != nil {
				t.Fatalf("marshal %v: %v", v, err)
			}
		}
	})
}

// FuzzLoadProfile feeds arbitrary text to the profile loader: no panic, any
// error is a *ProfileError, and a profile that loads can be used.
func FuzzLoadProfile(f *testing.F) {
	files, _ := filepath.Glob("testdata/profiles/*.toml")
	for _, name := range files {
		b, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(string(b))
	}
	f.Add(validHead + "[[datatype.field]]\nname = \"t\"\noffset = 0\ntype = \"f32\"\norder = \"little\"\nscale = 1e-3\n")
	f.Add("name = \"p\"\n[[action]]\nname = \"go\"\nscript = \"{{{a}}}\"\nparams = [\"a\"]\n")
	f.Add("name = \"p\"\n[[datatype]]\nid = 0xFFFF\nname = \"x\"\n[[datatype.field]]\nname = \"z\"\noffset = 16383\ntype = \"u32\"\n")
	f.Add("name = [1, 2]\n")
	f.Add("[[datatype]]\n[[datatype.field]]\n")
	f.Fuzz(func(t *testing.T, text string) {
		p, err := LoadProfile(strings.NewReader(text))
		if err != nil {
			var pe *ProfileError
			if !errors.As(err, &pe) || !errors.Is(err, ErrInvalidProfile) {
				t.Fatalf("untyped load error %v", err)
			}
			return
		}
		_ = p.Properties()
		payload := []byte(text)
		for _, dt := range p.DataTypes() {
			if len(p.DecodeOrRaw(dt.ID, payload)) == 0 {
				t.Fatal("DecodeOrRaw dropped the payload")
			}
		}
		for _, a := range p.Actions() {
			args := make(map[string]string)
			for _, prm := range a.Params {
				args[prm] = "1"
			}
			if _, err := p.CommandScript(a.Name, args); err != nil {
				t.Fatalf("CommandScript(%q, %v): %v", a.Name, args, err)
			}
		}
		th := OSPThing(1, 2, "", p)
		if err := th.validate(); err != nil {
			t.Fatalf("profile gives an invalid thing: %v", err)
		}
	})
}
