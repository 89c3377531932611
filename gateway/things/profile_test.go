package things

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

const thermoPath = "testdata/profiles/thermo.toml"

func loadThermo(t testing.TB) *Profile {
	t.Helper()
	p, err := LoadProfileFile(thermoPath)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestLoadThermo(t *testing.T) {
	p := loadThermo(t)
	if p.Name() != "thermo" || p.Description() != "Temperature and humidity sensor" {
		t.Errorf("name, description = %q, %q", p.Name(), p.Description())
	}
	wantProps := []Property{
		{Name: "temperature", Type: TypeFloat, Unit: "Cel"},
		{Name: "humidity", Type: TypeFloat, Unit: "%"},
		{Name: "battery", Type: TypeInt, Unit: "%"},
	}
	if got := p.Properties(); !slices.Equal(got, wantProps) {
		t.Errorf("Properties = %+v, want %+v", got, wantProps)
	}
	acts := p.Actions()
	if len(acts) != 2 || acts[0].Name != "reboot" || len(acts[0].Params) != 0 ||
		acts[1].Name != "setInterval" || !slices.Equal(acts[1].Params, []string{"seconds"}) {
		t.Errorf("Actions = %+v", acts)
	}
	dts := p.DataTypes()
	if len(dts) != 1 || dts[0].ID != 10 || dts[0].Name != "climate" || len(dts[0].Fields) != 3 {
		t.Fatalf("DataTypes = %+v", dts)
	}
	f := dts[0].Fields[0]
	if f != (Field{Name: "temperature", Offset: 0, Type: FieldI16, Order: BigEndian, Scale: 0.01, Unit: "Cel"}) {
		t.Errorf("field 0 = %+v", f)
	}
	dts[0].Fields[0].Name = "mutated"
	if p.DataTypes()[0].Fields[0].Name != "temperature" {
		t.Error("DataTypes returned the profile's own slice")
	}
}

func TestLoadProfileDir(t *testing.T) {
	ps, err := LoadProfileDir("testdata/profiles")
	if err != nil {
		t.Fatal(err)
	}
	if len(ps) != 2 || ps["thermo"] == nil || ps["meter"] == nil {
		t.Fatalf("LoadProfileDir = %v", ps)
	}
	// A little-endian record of the meter: every field type but i16.
	payload := []byte{
		0x00, 0x00, 0x48, 0x43, // f32 200.0 little
		0x39, 0x30, 0x00, 0x00, // u32 12345 * 0.001
		0xFF, 0xFF, 0xFF, 0xFF, // i32 -1
		0xFE,       // i8 -2
		0xE6, 0x00, // u16 230 little
	}
	got, err := ps["meter"].Decode(0x20, payload)
	if err != nil {
		t.Fatal(err)
	}
	assertValues(t, got, []PropertyValue{
		{Name: "power", Value: FloatValue(200)},
		{Name: "energy", Value: FloatValue(12.345)},
		{Name: "offsetCurrent", Value: IntValue(-1)},
		{Name: "tempDelta", Value: IntValue(-2)},
		{Name: "voltage", Value: IntValue(230)},
	})

	dir := t.TempDir()
	thermo, _ := os.ReadFile(thermoPath)
	write := func(name, text string) {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write("a.toml", string(thermo))
	write("b.toml", string(thermo))
	write("c.toml", "name = \"c\"\nbogus = 1\n")
	write("notes.txt", "not a profile")
	_, err = LoadProfileDir(dir)
	if !errors.Is(err, ErrInvalidProfile) {
		t.Fatalf("err = %v, want ErrInvalidProfile", err)
	}
	for _, want := range []string{"already defined in " + filepath.Join(dir, "a.toml"), "b.toml", "c.toml", "bogus"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not contain %q", err, want)
		}
	}
	if _, err := LoadProfileDir(filepath.Join(dir, "missing")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing dir: %v", err)
	}
}

// field is a valid [[datatype.field]] table with the given lines replaced.
const validHead = "name = \"p\"\n[[datatype]]\nid = 10\nname = \"climate\"\n"

func TestProfileValidation(t *testing.T) {
	tests := []struct {
		name string
		toml string
		want []string // substrings of the message
	}{
		{"missing name", "description = \"x\"\n", []string{"name: missing"}},
		{"bad name", "name = \"9lives\"\n", []string{`name = "9lives"`}},
		{"unknown top key", validHead + "[[datatype.field]]\nname = \"t\"\noffset = 0\ntype = \"u8\"\n" + "[[action]]\nname = \"a\"\nscript = \"a\"\nscrpit = \"b\"\n",
			[]string{`profile "p"`, "action.scrpit", "unknown key"}},
		{"unknown field key", validHead + "[[datatype.field]]\nname = \"t\"\noffset = 0\ntype = \"u8\"\nsclae = 0.1\n",
			[]string{`profile "p"`, "datatype.field.sclae", "unknown key"}},
		{"datatype id 0", "name = \"p\"\n[[datatype]]\nid = 0\nname = \"climate\"\n[[datatype.field]]\nname = \"t\"\noffset = 0\ntype = \"u8\"\n",
			[]string{`profile "p"`, `datatype 0 ("climate")`, "id = 0"}},
		{"datatype id missing", "name = \"p\"\n[[datatype]]\nname = \"climate\"\n",
			[]string{`datatype #1 ("climate")`, "id: missing"}},
		{"datatype id too big", "name = \"p\"\n[[datatype]]\nid = 65536\nname = \"c\"\n",
			[]string{"id = 65536", "out of range"}},
		{"datatype id negative", "name = \"p\"\n[[datatype]]\nid = -3\nname = \"c\"\n",
			[]string{"id = -3"}},
		{"datatype duplicate id", validHead + "[[datatype.field]]\nname = \"t\"\noffset = 0\ntype = \"u8\"\n[[datatype]]\nid = 0xA\nname = \"again\"\n[[datatype.field]]\nname = \"u\"\noffset = 0\ntype = \"u8\"\n",
			[]string{`datatype 10 ("again")`, "id = 10", "duplicate"}},
		{"datatype name missing", "name = \"p\"\n[[datatype]]\nid = 4\n", []string{"datatype 4", "name: missing"}},
		{"datatype without fields", validHead, []string{`datatype 10 ("climate")`, "field", "at least one"}},
		{"field name missing", validHead + "[[datatype.field]]\noffset = 0\ntype = \"u8\"\n",
			[]string{`datatype 10 ("climate")`, `field "#1"`, "name: missing"}},
		{"field name reserved", validHead + "[[datatype.field]]\nname = \"raw_10\"\noffset = 0\ntype = \"u8\"\n",
			[]string{`field "raw_10"`, "reserved"}},
		{"offset negative", validHead + "[[datatype.field]]\nname = \"temperature\"\noffset = -1\ntype = \"i16\"\n",
			[]string{`profile "p"`, `datatype 10 ("climate")`, `field "temperature"`, "offset = -1", "negative"}},
		{"offset missing", validHead + "[[datatype.field]]\nname = \"temperature\"\ntype = \"i16\"\n",
			[]string{`field "temperature"`, "offset: missing"}},
		{"offset huge", validHead + "[[datatype.field]]\nname = \"t\"\noffset = 99999999999\ntype = \"u8\"\n",
			[]string{"offset = 99999999999"}},
		{"offset wrong TOML type", validHead + "[[datatype.field]]\nname = \"t\"\noffset = \"zero\"\ntype = \"u8\"\n",
			[]string{`profile`, "offset"}},
		{"unknown type", validHead + "[[datatype.field]]\nname = \"t\"\noffset = 0\ntype = \"i24\"\n",
			[]string{`field "t"`, `type = "i24"`, "unknown type"}},
		{"type missing", validHead + "[[datatype.field]]\nname = \"t\"\noffset = 0\n",
			[]string{`field "t"`, "type: missing"}},
		{"unknown order", validHead + "[[datatype.field]]\nname = \"t\"\noffset = 0\ntype = \"u16\"\norder = \"middle\"\n",
			[]string{`field "t"`, `order = "middle"`, "unknown order"}},
		{"scale 0", validHead + "[[datatype.field]]\nname = \"t\"\noffset = 0\ntype = \"u16\"\nscale = 0\n",
			[]string{`field "t"`, "scale = 0"}},
		{"scale nan", validHead + "[[datatype.field]]\nname = \"t\"\noffset = 0\ntype = \"u16\"\nscale = nan\n",
			[]string{`field "t"`, "scale = NaN"}},
		{"overlap", validHead + "[[datatype.field]]\nname = \"temperature\"\noffset = 0\ntype = \"i16\"\n[[datatype.field]]\nname = \"humidity\"\noffset = 1\ntype = \"u16\"\n",
			[]string{`field "humidity"`, "offset = 1", `overlap field "temperature"`}},
		{"overlap u32 over u8", validHead + "[[datatype.field]]\nname = \"b\"\noffset = 5\ntype = \"u8\"\n[[datatype.field]]\nname = \"w\"\noffset = 2\ntype = \"u32\"\n",
			[]string{`field "w"`, "offset = 2", `overlap field "b"`}},
		{"duplicate field", validHead + "[[datatype.field]]\nname = \"t\"\noffset = 0\ntype = \"u8\"\n[[datatype.field]]\nname = \"t\"\noffset = 1\ntype = \"u8\"\n",
			[]string{`field "t"`, `name = "t"`, "duplicate field name"}},
		{"shared name, other unit", validHead + "[[datatype.field]]\nname = \"t\"\noffset = 0\ntype = \"u8\"\nunit = \"Cel\"\n[[datatype]]\nid = 11\nname = \"other\"\n[[datatype.field]]\nname = \"t\"\noffset = 0\ntype = \"u8\"\nunit = \"K\"\n",
			[]string{`datatype 11 ("other")`, `field "t"`, "same type and unit"}},
		{"action name missing", "name = \"p\"\n[[action]]\nscript = \"x\"\n", []string{`action "#1"`, "name: missing"}},
		{"action script missing", "name = \"p\"\n[[action]]\nname = \"go\"\n", []string{`action "go"`, "script: missing"}},
		{"action duplicate", "name = \"p\"\n[[action]]\nname = \"go\"\nscript = \"a\"\n[[action]]\nname = \"go\"\nscript = \"b\"\n",
			[]string{`action "go"`, "duplicate action"}},
		{"placeholder not a param", "name = \"p\"\n[[action]]\nname = \"go\"\nscript = \"go {speed}\"\n",
			[]string{`action "go"`, `script = "go {speed}"`, "{speed} is not in params"}},
		{"param unused", "name = \"p\"\n[[action]]\nname = \"go\"\nscript = \"go\"\nparams = [\"speed\"]\n",
			[]string{`action "go"`, `params = "speed"`, "not used"}},
		{"unclosed placeholder", "name = \"p\"\n[[action]]\nname = \"go\"\nscript = \"go {speed\"\nparams = [\"speed\"]\n",
			[]string{`action "go"`, "unclosed {"}},
		{"bad param name", "name = \"p\"\n[[action]]\nname = \"go\"\nscript = \"go {a b}\"\nparams = [\"a b\"]\n",
			[]string{`action "go"`, `params = "a b"`}},
		{"TOML syntax", "name = \"p\n", []string{"profile", "line 1"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := LoadProfile(strings.NewReader(tt.toml))
			if err == nil {
				t.Fatalf("LoadProfile accepted:\n%s\nprofile %+v", tt.toml, p)
			}
			if !errors.Is(err, ErrInvalidProfile) {
				t.Errorf("errors.Is(%v, ErrInvalidProfile) = false", err)
			}
			var pe *ProfileError
			if !errors.As(err, &pe) {
				t.Errorf("%v is not a *ProfileError", err)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
		})
	}
}

func TestProfileSharedFieldAcrossDataTypes(t *testing.T) {
	src := validHead + "[[datatype.field]]\nname = \"t\"\noffset = 0\ntype = \"i16\"\nscale = 0.1\nunit = \"Cel\"\n" +
		"[[datatype]]\nid = 11\nname = \"more\"\n[[datatype.field]]\nname = \"t\"\noffset = 0\ntype = \"u8\"\nscale = 0.5\nunit = \"Cel\"\n" +
		"[[datatype.field]]\nname = \"p\"\noffset = 1\ntype = \"u16\"\nunit = \"hPa\"\n"
	p, err := LoadProfile(strings.NewReader(src))
	if err != nil {
		t.Fatal(err)
	}
	want := []Property{{Name: "t", Type: TypeFloat, Unit: "Cel"}, {Name: "p", Type: TypeInt, Unit: "hPa"}}
	if got := p.Properties(); !slices.Equal(got, want) {
		t.Errorf("Properties = %+v, want %+v", got, want)
	}
}

func TestCommandScript(t *testing.T) {
	p := loadThermo(t)
	tests := []struct {
		name    string
		action  string
		args    map[string]string
		want    string
		wantErr error
	}{
		{"no params", "reboot", nil, "reboot", nil},
		{"placeholder", "setInterval", map[string]string{"seconds": "60"}, "interval 60", nil},
		{"braces not expanded", "setInterval", map[string]string{"seconds": "{seconds}"}, "interval {seconds}", nil},
		{"unicode ok", "setInterval", map[string]string{"seconds": "60µs"}, "interval 60µs", nil},
		{"missing arg", "setInterval", nil, "", ErrInvalidArgs},
		{"undeclared arg", "setInterval", map[string]string{"seconds": "1", "x": "2"}, "", ErrInvalidArgs},
		{"args to no-param action", "reboot", map[string]string{"now": "1"}, "", ErrInvalidArgs},
		{"newline", "setInterval", map[string]string{"seconds": "1\nreboot"}, "", ErrInvalidArgs},
		{"NUL", "setInterval", map[string]string{"seconds": "1\x00"}, "", ErrInvalidArgs},
		{"DEL", "setInterval", map[string]string{"seconds": "1\x7f"}, "", ErrInvalidArgs},
		{"C1", "setInterval", map[string]string{"seconds": "1\u0085"}, "", ErrInvalidArgs},
		{"invalid UTF-8", "setInterval", map[string]string{"seconds": "1\xff"}, "", ErrInvalidArgs},
		{"unknown action", "selfDestruct", nil, "", ErrUnknownAction},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := p.CommandScript(tt.action, tt.args)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("err = %v, want %v", err, tt.wantErr)
			}
			if string(got) != tt.want {
				t.Errorf("script = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestScriptBraceEscapes(t *testing.T) {
	src := "name = \"p\"\n[[action]]\nname = \"set\"\nscript = \"{{\\\"v\\\":{v}}}\"\nparams = [\"v\"]\n"
	p, err := LoadProfile(strings.NewReader(src))
	if err != nil {
		t.Fatal(err)
	}
	got, err := p.CommandScript("set", map[string]string{"v": "5"})
	if err != nil || string(got) != `{"v":5}` {
		t.Errorf("CommandScript = %q, %v", got, err)
	}
}

func TestOSPThing(t *testing.T) {
	p := loadThermo(t)
	th := OSPThing(1, 4242, "", p)
	if th.ID != "osp:1:4242" || th.Kind != KindOSP || th.Name != "osp:1:4242" || len(th.Properties) != 3 || len(th.Actions) != 2 {
		t.Errorf("OSPThing = %+v", th)
	}
	dt, mid, ok := ParseOSPThingID(th.ID)
	if !ok || dt != 1 || mid != 4242 {
		t.Errorf("ParseOSPThingID(%q) = %d, %d, %v", th.ID, dt, mid, ok)
	}
	for _, bad := range []string{"osp:1", "osp:01:2", "osp:1:2:3", "osp:70000:1", "osp:1:-1", "native:1:2", "osp::1"} {
		if _, _, ok := ParseOSPThingID(bad); ok {
			t.Errorf("ParseOSPThingID(%q) accepted", bad)
		}
	}
	if th := OSPThing(2, 7, "kitchen", nil); th.Name != "kitchen" || th.Properties != nil || th.Actions != nil {
		t.Errorf("OSPThing without profile = %+v", th)
	}
}
