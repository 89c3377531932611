package board

import "strings"

// Family is a board generation: boards of one family share a SoC generation,
// hence the GPIO driver, the instruction set and the on-board peripherals.
type Family string

// Board families. A Zero belongs to FamilyPi1 (BCM2835, ARMv6) and a Zero 2 W
// to FamilyPi3 (RP3A0, a BCM2710A1 in a package), whatever their form factor.
const (
	// FamilyGeneric is any machine that is not a recognised Raspberry Pi:
	// a laptop, a CI runner, another ARM board. GPIO and SPI are not used.
	FamilyGeneric Family = "generic"
	// FamilyPi1 is BCM2835 (ARMv6): Pi 1 A/B/A+/B+, Zero, Zero W, CM1.
	FamilyPi1 Family = "pi1"
	// FamilyPi2 is the Pi 2 Model B (BCM2836; BCM2837 from v1.2).
	FamilyPi2 Family = "pi2"
	// FamilyPi3 is BCM2837/RP3A0: Pi 3 B/B+/A+, Zero 2 W, CM3, CM3+.
	FamilyPi3 Family = "pi3"
	// FamilyPi4 is BCM2711: Pi 4 B, Pi 400, CM4, CM4S.
	FamilyPi4 Family = "pi4"
	// FamilyPi5 is BCM2712 with the RP1 I/O chip: Pi 5, Pi 500, CM5.
	FamilyPi5 Family = "pi5"
	// FamilyPiOther is a Raspberry Pi whose model string this package does
	// not know (a newer board): host init still runs.
	FamilyPiOther Family = "pi"
)

// Model identifies a board.
type Model struct {
	// ID is the stable short name, usable as the configuration's board
	// value: "rpi-4-b", "rpi-zero-2-w", "generic".
	ID string
	// Name is the marketing name without the revision: "Raspberry Pi 4
	// Model B". For a generic machine it is the device-tree model string
	// when there is one ("Pine64 RockPro64"), else "generic".
	Name string
	// Family is the board generation.
	Family Family
	// SoC is the main chip ("BCM2711"); empty for a generic machine.
	SoC string
	// Revision is the board revision from the model string ("1.4"), empty
	// when the string has none or the model came from the configuration.
	Revision string
}

// IsRaspberryPi reports whether m is a Raspberry Pi (of any family).
func (m Model) IsRaspberryPi() bool { return m.Family != FamilyGeneric && m.Family != "" }

// String returns the name and, when known, the revision.
func (m Model) String() string {
	if m.Revision != "" {
		return m.Name + " Rev " + m.Revision
	}
	return m.Name
}

// knownModels returns the Raspberry Pi models this package recognises, each
// with the model-string tail that identifies it (the text after "Raspberry
// Pi ", before " Rev ", "+" written " Plus").
//
// The strings are those the Raspberry Pi firmware writes into the device
// tree's /model (also the "Model" line of /proc/cpuinfo), e.g. "Raspberry Pi
// Zero 2 W Rev 1.0", "Raspberry Pi 3 Model B Plus Rev 1.3", "Raspberry Pi
// Model B Plus Rev 1.2", "Raspberry Pi Compute Module 4 Rev 1.0", "Raspberry
// Pi 400 Rev 1.0", "Raspberry Pi 5 Model B Rev 1.0", as reported from real
// boards in public logs and code; mainline kernel device trees use the same
// names without the revision ("Raspberry Pi 3 Model B+"), which parse too.
// The family/SoC mapping follows the revision-code table
// (https://www.raspberrypi.com/documentation/computers/raspberry-pi.html#raspberry-pi-revision-codes,
// mirrored in periph.io/x/host/v3/rpi).
func knownModels() []struct {
	tail string
	m    Model
} {
	type e = struct {
		tail string
		m    Model
	}
	return []e{
		{"Model A", Model{ID: "rpi-1-a", Name: "Raspberry Pi Model A", Family: FamilyPi1, SoC: "BCM2835"}},
		{"Model B", Model{ID: "rpi-1-b", Name: "Raspberry Pi Model B", Family: FamilyPi1, SoC: "BCM2835"}},
		{"Model A Plus", Model{ID: "rpi-1-a-plus", Name: "Raspberry Pi Model A+", Family: FamilyPi1, SoC: "BCM2835"}},
		{"Model B Plus", Model{ID: "rpi-1-b-plus", Name: "Raspberry Pi Model B+", Family: FamilyPi1, SoC: "BCM2835"}},
		{"Compute Module", Model{ID: "rpi-cm1", Name: "Raspberry Pi Compute Module", Family: FamilyPi1, SoC: "BCM2835"}},
		{"Zero", Model{ID: "rpi-zero", Name: "Raspberry Pi Zero", Family: FamilyPi1, SoC: "BCM2835"}},
		{"Zero W", Model{ID: "rpi-zero-w", Name: "Raspberry Pi Zero W", Family: FamilyPi1, SoC: "BCM2835"}},
		{"Zero WH", Model{ID: "rpi-zero-w", Name: "Raspberry Pi Zero W", Family: FamilyPi1, SoC: "BCM2835"}},
		{"Zero 2 W", Model{ID: "rpi-zero-2-w", Name: "Raspberry Pi Zero 2 W", Family: FamilyPi3, SoC: "RP3A0"}},
		{"2 Model B", Model{ID: "rpi-2-b", Name: "Raspberry Pi 2 Model B", Family: FamilyPi2, SoC: "BCM2836"}},
		{"3 Model B", Model{ID: "rpi-3-b", Name: "Raspberry Pi 3 Model B", Family: FamilyPi3, SoC: "BCM2837"}},
		{"3 Model B Plus", Model{ID: "rpi-3-b-plus", Name: "Raspberry Pi 3 Model B+", Family: FamilyPi3, SoC: "BCM2837B0"}},
		{"3 Model A Plus", Model{ID: "rpi-3-a-plus", Name: "Raspberry Pi 3 Model A+", Family: FamilyPi3, SoC: "BCM2837B0"}},
		{"Compute Module 3", Model{ID: "rpi-cm3", Name: "Raspberry Pi Compute Module 3", Family: FamilyPi3, SoC: "BCM2837"}},
		{"Compute Module 3 Plus", Model{ID: "rpi-cm3-plus", Name: "Raspberry Pi Compute Module 3+", Family: FamilyPi3, SoC: "BCM2837B0"}},
		{"4 Model B", Model{ID: "rpi-4-b", Name: "Raspberry Pi 4 Model B", Family: FamilyPi4, SoC: "BCM2711"}},
		{"400", Model{ID: "rpi-400", Name: "Raspberry Pi 400", Family: FamilyPi4, SoC: "BCM2711"}},
		{"Compute Module 4", Model{ID: "rpi-cm4", Name: "Raspberry Pi Compute Module 4", Family: FamilyPi4, SoC: "BCM2711"}},
		{"Compute Module 4S", Model{ID: "rpi-cm4s", Name: "Raspberry Pi Compute Module 4S", Family: FamilyPi4, SoC: "BCM2711"}},
		{"5 Model B", Model{ID: "rpi-5", Name: "Raspberry Pi 5", Family: FamilyPi5, SoC: "BCM2712"}},
		{"500", Model{ID: "rpi-500", Name: "Raspberry Pi 500", Family: FamilyPi5, SoC: "BCM2712"}},
		{"Compute Module 5", Model{ID: "rpi-cm5", Name: "Raspberry Pi Compute Module 5", Family: FamilyPi5, SoC: "BCM2712"}},
	}
}

// Models returns the Raspberry Pi models ParseModel recognises, one entry
// per ID, in the order of their generations.
func Models() []Model {
	var out []Model
	seen := map[string]bool{}
	for _, k := range knownModels() {
		if !seen[k.m.ID] {
			seen[k.m.ID] = true
			out = append(out, k.m)
		}
	}
	return out
}

// GenericModel returns the model of a machine that is not a Raspberry Pi;
// name is its device-tree model string, if any.
func GenericModel(name string) Model {
	if name == "" {
		name = "generic"
	}
	return Model{ID: "generic", Name: name, Family: FamilyGeneric}
}

const piPrefix = "Raspberry Pi"

// ParseModel recognises a device-tree model string (trailing NULs and spaces
// are ignored). A string that does not start with "Raspberry Pi" gives a
// generic model named after it; a Raspberry Pi this package does not know
// gives FamilyPiOther. The model is the longest known name the string starts
// with, so "Raspberry Pi Compute Module 4 IO Board" is a CM4.
func ParseModel(s string) Model {
	s = strings.TrimRight(s, "\x00 \t\r\n")
	s = strings.TrimSpace(s)
	if !strings.HasPrefix(s, piPrefix) {
		return GenericModel(s)
	}
	rest := strings.TrimSpace(s[len(piPrefix):])
	rev := ""
	if i := strings.LastIndex(rest, " Rev "); i >= 0 {
		rev = strings.TrimSpace(rest[i+len(" Rev "):])
		rest = strings.TrimSpace(rest[:i])
	}
	rest = strings.Join(strings.Fields(strings.ReplaceAll(rest, "+", " Plus")), " ")
	best, bestLen := Model{}, -1
	for _, k := range knownModels() {
		if (rest == k.tail || strings.HasPrefix(rest, k.tail+" ")) && len(k.tail) > bestLen {
			best, bestLen = k.m, len(k.tail)
		}
	}
	if bestLen < 0 {
		name := piPrefix
		if rest != "" {
			name += " " + rest
		}
		return Model{ID: "rpi-other", Name: name, Family: FamilyPiOther, Revision: rev}
	}
	best.Revision = rev
	if best.ID == "rpi-2-b" && rev == "1.2" {
		// The Pi 2 Model B v1.2 moved to the Pi 3's BCM2837.
		best.SoC = "BCM2837"
	}
	return best
}

// LookupModel finds a model by ID ("rpi-4-b") or by its name as written in a
// device tree ("Raspberry Pi 4 Model B"); it reports false for anything else.
func LookupModel(s string) (Model, bool) {
	for _, m := range Models() {
		if m.ID == s {
			return m, true
		}
	}
	if m := ParseModel(s); m.Family != FamilyGeneric && m.Family != FamilyPiOther {
		m.Revision = ""
		return m, true
	}
	return Model{}, false
}
