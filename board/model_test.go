package board

import (
	"strings"
	"testing"
	"testing/fstest"
)

func TestParseModel(t *testing.T) {
	for _, tc := range []struct {
		in             string
		id             string
		family         Family
		soc, rev, name string
	}{
		// Firmware strings, as read on real boards.
		{"Raspberry Pi Zero Rev 1.3", "rpi-zero", FamilyPi1, "BCM2835", "1.3", "Raspberry Pi Zero"},
		{"Raspberry Pi Zero W Rev 1.1", "rpi-zero-w", FamilyPi1, "BCM2835", "1.1", "Raspberry Pi Zero W"},
		{"Raspberry Pi Zero 2 W Rev 1.0", "rpi-zero-2-w", FamilyPi3, "RP3A0", "1.0", "Raspberry Pi Zero 2 W"},
		{"Raspberry Pi Model B Rev 2", "rpi-1-b", FamilyPi1, "BCM2835", "2", ""},
		{"Raspberry Pi Model B Plus Rev 1.2", "rpi-1-b-plus", FamilyPi1, "BCM2835", "1.2", "Raspberry Pi Model B+"},
		{"Raspberry Pi Model A Plus Rev 1.1", "rpi-1-a-plus", FamilyPi1, "BCM2835", "1.1", ""},
		{"Raspberry Pi Compute Module Rev 1.0", "rpi-cm1", FamilyPi1, "BCM2835", "1.0", ""},
		{"Raspberry Pi 2 Model B Rev 1.1", "rpi-2-b", FamilyPi2, "BCM2836", "1.1", ""},
		{"Raspberry Pi 2 Model B Rev 1.2", "rpi-2-b", FamilyPi2, "BCM2837", "1.2", ""},
		{"Raspberry Pi 3 Model B Rev 1.2", "rpi-3-b", FamilyPi3, "BCM2837", "1.2", ""},
		{"Raspberry Pi 3 Model B Plus Rev 1.3", "rpi-3-b-plus", FamilyPi3, "BCM2837B0", "1.3", "Raspberry Pi 3 Model B+"},
		{"Raspberry Pi 3 Model A Plus Rev 1.0", "rpi-3-a-plus", FamilyPi3, "BCM2837B0", "1.0", ""},
		{"Raspberry Pi Compute Module 3 Rev 1.0", "rpi-cm3", FamilyPi3, "BCM2837", "1.0", ""},
		{"Raspberry Pi Compute Module 3 Plus Rev 1.0", "rpi-cm3-plus", FamilyPi3, "BCM2837B0", "1.0", ""},
		{"Raspberry Pi 4 Model B Rev 1.4", "rpi-4-b", FamilyPi4, "BCM2711", "1.4", "Raspberry Pi 4 Model B"},
		{"Raspberry Pi 400 Rev 1.0", "rpi-400", FamilyPi4, "BCM2711", "1.0", ""},
		{"Raspberry Pi Compute Module 4 Rev 1.0", "rpi-cm4", FamilyPi4, "BCM2711", "1.0", ""},
		{"Raspberry Pi Compute Module 4S Rev 1.0", "rpi-cm4s", FamilyPi4, "BCM2711", "1.0", ""},
		{"Raspberry Pi 5 Model B Rev 1.0", "rpi-5", FamilyPi5, "BCM2712", "1.0", "Raspberry Pi 5"},
		{"Raspberry Pi 500 Rev 1.0", "rpi-500", FamilyPi5, "BCM2712", "1.0", ""},
		{"Raspberry Pi Compute Module 5 Rev 1.0", "rpi-cm5", FamilyPi5, "BCM2712", "1.0", ""},
		// Mainline kernel device trees: no revision, "+" spelt as such.
		{"Raspberry Pi 3 Model B+", "rpi-3-b-plus", FamilyPi3, "BCM2837B0", "", ""},
		{"Raspberry Pi Compute Module 4 IO Board", "rpi-cm4", FamilyPi4, "BCM2711", "", ""},
		{"Raspberry Pi Zero W", "rpi-zero-w", FamilyPi1, "BCM2835", "", ""},
		// NUL terminator and stray space.
		{"Raspberry Pi 4 Model B Rev 1.2\x00", "rpi-4-b", FamilyPi4, "BCM2711", "1.2", ""},
		{"  Raspberry Pi  Zero  2 W  Rev 1.0 \n", "rpi-zero-2-w", FamilyPi3, "RP3A0", "1.0", ""},
		// A Pi this package does not know yet.
		{"Raspberry Pi 6 Model B Rev 1.0", "rpi-other", FamilyPiOther, "", "1.0", "Raspberry Pi 6 Model B"},
		// Anything else.
		{"", "generic", FamilyGeneric, "", "", "generic"},
		{"Pine64 RockPro64 v2.1", "generic", FamilyGeneric, "", "", "Pine64 RockPro64 v2.1"},
		{"linux,dummy-virt", "generic", FamilyGeneric, "", "", "linux,dummy-virt"},
		{"Raspberry", "generic", FamilyGeneric, "", "", "Raspberry"},
	} {
		m := ParseModel(tc.in)
		if m.ID != tc.id || m.Family != tc.family || m.SoC != tc.soc || m.Revision != tc.rev {
			t.Errorf("ParseModel(%q) = %+v, want id %s family %s soc %s rev %q", tc.in, m, tc.id, tc.family, tc.soc, tc.rev)
		}
		if tc.name != "" && m.Name != tc.name {
			t.Errorf("ParseModel(%q).Name = %q, want %q", tc.in, m.Name, tc.name)
		}
		if want := tc.family != FamilyGeneric; m.IsRaspberryPi() != want {
			t.Errorf("ParseModel(%q).IsRaspberryPi() = %v", tc.in, !want)
		}
	}
}

func TestModelString(t *testing.T) {
	if got := ParseModel("Raspberry Pi 4 Model B Rev 1.4").String(); got != "Raspberry Pi 4 Model B Rev 1.4" {
		t.Errorf("String() = %q", got)
	}
	if got := GenericModel("").String(); got != "generic" {
		t.Errorf("String() = %q", got)
	}
}

func TestModelsAndLookup(t *testing.T) {
	ids := map[string]bool{}
	for _, m := range Models() {
		if ids[m.ID] {
			t.Errorf("duplicate ID %s", m.ID)
		}
		ids[m.ID] = true
		if !strings.HasPrefix(m.ID, "rpi-") || !m.IsRaspberryPi() || m.SoC == "" {
			t.Errorf("bad model %+v", m)
		}
		if got, ok := LookupModel(m.ID); !ok || got != m {
			t.Errorf("LookupModel(%q) = %+v, %v", m.ID, got, ok)
		}
	}
	for _, want := range []string{"rpi-zero", "rpi-zero-w", "rpi-zero-2-w", "rpi-1-b", "rpi-2-b", "rpi-3-b", "rpi-3-b-plus", "rpi-4-b", "rpi-400", "rpi-5", "rpi-cm4"} {
		if !ids[want] {
			t.Errorf("model %s missing", want)
		}
	}
	if m, ok := LookupModel("Raspberry Pi 3 Model B+"); !ok || m.ID != "rpi-3-b-plus" || m.Revision != "" {
		t.Errorf("LookupModel by name = %+v, %v", m, ok)
	}
	for _, bad := range []string{"", "pi4", "generic", "Raspberry Pi 9 Model Z", "Pine64"} {
		if m, ok := LookupModel(bad); ok {
			t.Errorf("LookupModel(%q) = %+v, want not found", bad, m)
		}
	}
}

func TestDetect(t *testing.T) {
	file := func(s string) *fstest.MapFile { return &fstest.MapFile{Data: []byte(s)} }
	for _, tc := range []struct {
		name   string
		fs     fstest.MapFS
		id     string
		raw    string
		source string
	}{
		{"device tree", fstest.MapFS{"proc/device-tree/model": file("Raspberry Pi Zero 2 W Rev 1.0\x00")}, "rpi-zero-2-w", "Raspberry Pi Zero 2 W Rev 1.0", "proc/device-tree/model"},
		{"string list", fstest.MapFS{"proc/device-tree/model": file("Raspberry Pi 4 Model B Rev 1.4\x00junk\x00")}, "rpi-4-b", "Raspberry Pi 4 Model B Rev 1.4", "proc/device-tree/model"},
		{"sysfs path", fstest.MapFS{"sys/firmware/devicetree/base/model": file("Raspberry Pi 5 Model B Rev 1.0\x00")}, "rpi-5", "Raspberry Pi 5 Model B Rev 1.0", "sys/firmware/devicetree/base/model"},
		{"empty model falls through", fstest.MapFS{
			"proc/device-tree/model": file("\x00"),
			"proc/cpuinfo":           file("processor\t: 0\nHardware\t: BCM2835\nRevision\t: 9000c1\nModel\t\t: Raspberry Pi Zero W Rev 1.1\n"),
		}, "rpi-zero-w", "Raspberry Pi Zero W Rev 1.1", "proc/cpuinfo"},
		{"generic device tree", fstest.MapFS{"proc/device-tree/model": file("Pine64 RockPro64 v2.1\x00")}, "generic", "Pine64 RockPro64 v2.1", "proc/device-tree/model"},
		{"x86 cpuinfo", fstest.MapFS{"proc/cpuinfo": file("processor\t: 0\nmodel name\t: Intel(R) Xeon(R)\n")}, "generic", "", ""},
		{"nothing", fstest.MapFS{}, "generic", "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			i := Detect(tc.fs)
			if i.Model.ID != tc.id || i.Raw != tc.raw || i.Source != tc.source || i.Forced {
				t.Fatalf("Detect = %+v, want id %s raw %q source %q", i, tc.id, tc.raw, tc.source)
			}
		})
	}
}

func TestInfoString(t *testing.T) {
	i := Info{Model: ParseModel("Raspberry Pi 400 Rev 1.0"), Forced: true}
	if got := i.String(); got != "Raspberry Pi 400 Rev 1.0 (configured)" {
		t.Errorf("String() = %q", got)
	}
}
