package lora

import (
	"errors"
	"math"
	"strings"
	"testing"
	"time"

	"periph.io/x/conn/v3/physic"
)

func TestEU868IsValid(t *testing.T) {
	c := EU868()
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	if c.Frequency != 868100*physic.KiloHertz || c.SpreadingFactor != 7 || c.Bandwidth != BW125k ||
		c.CodingRate != CR4_5 || c.TxPower != 14 || c.DutyCycle != 0.01 || c.DisableCRC {
		t.Errorf("EU868() = %+v", c)
	}
}

func TestValidate(t *testing.T) {
	for _, tc := range []struct {
		name string
		mod  func(*Config)
		want []string // substrings of the error, one per expected field
	}{
		{"frequency low", func(c *Config) { c.Frequency = 100 * physic.MegaHertz }, []string{"Frequency 100MHz"}},
		{"frequency high", func(c *Config) { c.Frequency = 2400 * physic.MegaHertz }, []string{"Frequency 2.400GHz"}},
		{"SF5", func(c *Config) { c.SpreadingFactor = 5 }, []string{"SpreadingFactor 5: want 7..12"}},
		{"SF6", func(c *Config) { c.SpreadingFactor = 6 }, []string{"SpreadingFactor 6: needs implicit header"}},
		{"SF13", func(c *Config) { c.SpreadingFactor = 13 }, []string{"SpreadingFactor 13"}},
		{"bandwidth", func(c *Config) { c.Bandwidth = 100000 }, []string{"Bandwidth 100000 Hz"}},
		{"bandwidth 169 MHz", func(c *Config) { c.Frequency = 169 * physic.MegaHertz; c.Bandwidth = BW500k }, []string{"Bandwidth 500kHz at 169MHz"}},
		{"coding rate", func(c *Config) { c.CodingRate = 4 }, []string{"CodingRate 4"}},
		{"coding rate 9", func(c *Config) { c.CodingRate = 9 }, []string{"CodingRate 9"}},
		{"sync word", func(c *Config) { c.SyncWord = 0 }, []string{"SyncWord 0x00"}},
		{"preamble", func(c *Config) { c.PreambleLength = 5 }, []string{"PreambleLength 5"}},
		{"power low", func(c *Config) { c.TxPower = 1 }, []string{"TxPower 1 dBm"}},
		{"power high", func(c *Config) { c.TxPower = 21 }, []string{"TxPower 21 dBm"}},
		{"implicit header", func(c *Config) { c.ImplicitHeader = true }, []string{"ImplicitHeader true"}},
		{"duty cycle negative", func(c *Config) { c.DutyCycle = -0.1 }, []string{"DutyCycle -0.1"}},
		{"duty cycle above 1", func(c *Config) { c.DutyCycle = 1.5 }, []string{"DutyCycle 1.5"}},
		{"duty cycle NaN", func(c *Config) { c.DutyCycle = math.NaN() }, []string{"DutyCycle NaN"}},
		{"zero config", func(c *Config) { *c = Config{} }, []string{
			"Frequency 0Hz", "SpreadingFactor 0", "Bandwidth 0 Hz", "CodingRate 0", "SyncWord 0x00",
			"PreambleLength 0", "TxPower 0 dBm"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := EU868()
			tc.mod(&c)
			err := c.Validate()
			if !errors.Is(err, ErrConfig) {
				t.Fatalf("Validate() = %v, want ErrConfig", err)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not name %q", err, w)
				}
			}
		})
	}
	// Valid corners.
	for _, mod := range []func(*Config){
		func(c *Config) { c.Frequency = 137 * physic.MegaHertz },
		func(c *Config) { c.Frequency = 1020 * physic.MegaHertz },
		func(c *Config) { c.SpreadingFactor = 12; c.Bandwidth = BW7k8; c.CodingRate = CR4_8 },
		func(c *Config) { c.TxPower = 2 },
		func(c *Config) { c.TxPower = 20 },
		func(c *Config) { c.PreambleLength = 65535; c.SyncWord = SyncWordLoRaWAN },
		func(c *Config) { c.DutyCycle = 0; c.DisableCRC = true },
	} {
		c := EU868()
		mod(&c)
		if err := c.Validate(); err != nil {
			t.Errorf("Validate(%+v) = %v", c, err)
		}
	}
}

// TestFrf checks Frf = f / FSTEP with FSTEP = 32 MHz / 2^19 = 61.03515625 Hz (§4.1.4).
func TestFrf(t *testing.T) {
	for _, tc := range []struct {
		f    physic.Frequency
		want uint32
	}{
		{868100 * physic.KiloHertz, 0xD90666}, // 14222950.4 → 0xD9 0x06 0x66
		{434 * physic.MegaHertz, 0x6C8000},    // the reset value, "434.000 MHz" (p. 94)
		{915 * physic.MegaHertz, 0xE4C000},    // 915 · 16384
		{869525 * physic.KiloHertz, 0xD9619A}, // 14246297.6 rounds up
		{137 * physic.MegaHertz, 0x224000},
		{1020 * physic.MegaHertz, 0xFF0000},
	} {
		if got := frf(tc.f); got != tc.want {
			t.Errorf("frf(%s) = 0x%06X, want 0x%06X", tc.f, got, tc.want)
		}
		// Back to hertz: within half a step.
		back := float64(frf(tc.f)) * fxoscHz / (1 << frfShift)
		if d := math.Abs(back - float64(tc.f)/float64(physic.Hertz)); d > 61.04/2 {
			t.Errorf("frf(%s) is %v Hz off", tc.f, d)
		}
	}
}

func TestModemConfigRegisters(t *testing.T) {
	for _, tc := range []struct {
		name          string
		mod           func(*Config)
		mc1, mc2, mc3 byte
	}{
		{"EU868", func(*Config) {}, 0x72, 0x74, 0x04},
		{"SF12 125k 4/8", func(c *Config) { c.SpreadingFactor = 12; c.CodingRate = CR4_8 }, 0x78, 0xC4, 0x0C},
		{"SF11 125k", func(c *Config) { c.SpreadingFactor = 11 }, 0x72, 0xB4, 0x0C},
		{"SF11 250k", func(c *Config) { c.SpreadingFactor = 11; c.Bandwidth = BW250k }, 0x82, 0xB4, 0x04},
		{"SF12 250k", func(c *Config) { c.SpreadingFactor = 12; c.Bandwidth = BW250k }, 0x82, 0xC4, 0x0C},
		{"SF9 500k 4/6 no CRC", func(c *Config) {
			c.SpreadingFactor = 9
			c.Bandwidth = BW500k
			c.CodingRate = CR4_6
			c.DisableCRC = true
		}, 0x94, 0x90, 0x04},
		{"SF7 7.8k", func(c *Config) { c.Bandwidth = BW7k8 }, 0x02, 0x74, 0x0C}, // 128 / 7812.5 Hz = 16.384 ms
	} {
		c := EU868()
		tc.mod(&c)
		mc1, mc2, mc3 := c.modemConfig()
		if mc1 != tc.mc1 || mc2 != tc.mc2 || mc3 != tc.mc3 {
			t.Errorf("%s: RegModemConfig1..3 = %02X %02X %02X, want %02X %02X %02X", tc.name, mc1, mc2, mc3, tc.mc1, tc.mc2, tc.mc3)
		}
	}
}

func TestPaConfig(t *testing.T) {
	for _, tc := range []struct {
		dBm          int
		pa, dac, ocp byte
	}{
		{2, 0xF0, 0x84, 0x2B},  // OutputPower 0: 17 − 15 = 2 dBm
		{14, 0xFC, 0x84, 0x2B}, // OutputPower 12
		{17, 0xFF, 0x84, 0x2B}, // OutputPower 15
		{18, 0xFD, 0x87, 0x31}, // +20 dBm PA: 20 − (15 − 13)
		{20, 0xFF, 0x87, 0x31},
	} {
		c := EU868()
		c.TxPower = tc.dBm
		pa, dac, ocp := c.paConfig()
		if pa != tc.pa || dac != tc.dac || ocp != tc.ocp {
			t.Errorf("%d dBm: RegPaConfig %02X RegPaDac %02X RegOcp %02X, want %02X %02X %02X", tc.dBm, pa, dac, ocp, tc.pa, tc.dac, tc.ocp)
		}
	}
}

func TestLowDataRateOptimize(t *testing.T) {
	for _, tc := range []struct {
		sf   int
		bw   Bandwidth
		want bool
	}{
		{10, BW125k, false}, // 8.192 ms
		{11, BW125k, true},  // 16.384 ms
		{12, BW125k, true},  // 32.768 ms
		{11, BW250k, false}, // 8.192 ms
		{12, BW250k, true},  // 16.384 ms
		{12, BW500k, false}, // 8.192 ms
		{7, BW7k8, true},    // 16.384 ms: the exact 7812.5 Hz matters
		{7, BW10k4, false},  // 12.288 ms
	} {
		c := EU868()
		c.SpreadingFactor, c.Bandwidth = tc.sf, tc.bw
		if got := c.LowDataRateOptimize(); got != tc.want {
			t.Errorf("SF%d %s (Tsym %v): LowDataRateOptimize %v, want %v", tc.sf, tc.bw, c.SymbolTime(), got, tc.want)
		}
	}
}

// TestTimeOnAir checks the §4.1.1.7 formula against published values and
// hand computations.
func TestTimeOnAir(t *testing.T) {
	ms := func(f float64) time.Duration { return time.Duration(math.Round(f * 1e6)) }
	for _, tc := range []struct {
		name string
		mod  func(*Config)
		pl   int
		want time.Duration
	}{
		// Semtech LoRa calculator, as quoted in the brief of this package:
		// SF7/125 kHz/4/5/8-symbol preamble/CRC/explicit, 10 bytes ≈ 41.2 ms.
		// Tsym 1.024 ms; (8+4.25)·Tsym = 12.544 ms; 8 + ceil(96/28)·5 = 28 symbols.
		{"SF7 10B", func(*Config) {}, 10, ms(41.216)},
		// Same calculator, SF12/125 kHz, 51 bytes ≈ 2465.8 ms (DE = 1):
		// 12.25·32.768 = 401.408 ms; 8 + ceil(404/40)·5 = 63 symbols = 2064.384 ms.
		{"SF12 51B", func(c *Config) { c.SpreadingFactor = 12 }, 51, ms(2465.792)},
		// "LoRa airtime calculator" spreadsheet after AN1200.13 (docs.google.com,
		// 1voGAtQAjC1qBmaVuP1ApNKs1ekgUjavHuVQIXyYSvNc): SF9, 13 bytes, explicit,
		// no LDRO, 4/5, 8 symbols, 125 kHz: Tsym 4.096, Tpreamble 50.176,
		// payloadSymbNb 28, Tpacket 164.864 ms.
		{"SF9 13B", func(c *Config) { c.SpreadingFactor = 9 }, 13, ms(164.864)},
		// Hand computations of the formula:
		{"SF7 51B", func(*Config) {}, 51, ms(102.656)},                          // 8 + 16·5 = 88 symbols
		{"SF7 255B", func(*Config) {}, 255, ms(399.616)},                        // 8 + ceil(2056/28)·5 = 378
		{"SF7 no CRC", func(c *Config) { c.DisableCRC = true }, 10, ms(36.096)}, // 8 + ceil(80/28)·5 = 23
		{"SF10 500k 4/6 20B", func(c *Config) { c.SpreadingFactor = 10; c.Bandwidth = BW500k; c.CodingRate = CR4_6 }, 20, ms(102.912)},
		{"SF12 250k DE", func(c *Config) { c.SpreadingFactor = 12; c.Bandwidth = BW250k }, 10, ms(495.616)},
		{"SF7 7.8k DE", func(c *Config) { c.Bandwidth = BW7k8 }, 10, ms(741.376)},
		// Implicit header (IH = 1) and SF6, which TimeOnAir supports though
		// Validate does not: 12.25·0.512 + (8 + ceil(80/24)·5)·0.512.
		{"SF6 implicit", func(c *Config) { c.SpreadingFactor = 6; c.ImplicitHeader = true }, 10, ms(20.608)},
		// The max(…, 0): 8·1 − 48 + 28 − 20 < 0 gives 8 payload symbols.
		{"SF12 implicit 1B no CRC", func(c *Config) {
			c.SpreadingFactor = 12
			c.ImplicitHeader = true
			c.DisableCRC = true
		}, 1, ms(663.552)},
		{"preamble 16", func(c *Config) { c.PreambleLength = 16 }, 10, ms(49.408)},
		{"invalid SF", func(c *Config) { c.SpreadingFactor = 13 }, 10, 0},
		{"invalid BW", func(c *Config) { c.Bandwidth = 1 }, 10, 0},
	} {
		c := EU868()
		tc.mod(&c)
		if got := TimeOnAir(c, tc.pl); got != tc.want {
			t.Errorf("%s: TimeOnAir = %v, want %v", tc.name, got, tc.want)
		}
	}
}

func TestStrings(t *testing.T) {
	c := EU868()
	if got := c.String(); got != "868.1MHz/SF7/125kHz/4/5" {
		t.Errorf("Config.String() = %q", got)
	}
	if got := BW7k8.String(); got != "7.8kHz" {
		t.Errorf("BW7k8 = %q", got)
	}
	if got := BW31k25.String(); got != "31.25kHz" {
		t.Errorf("BW31k25 = %q", got)
	}
	if got := BW41k7.Hz(); math.Abs(got-41666.67) > 0.01 {
		t.Errorf("BW41k7.Hz() = %v", got)
	}
}
