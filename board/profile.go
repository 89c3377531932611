package board

import (
	"fmt"
	"strings"
	"unicode"
)

// PinMap is the wiring of an SX127x radio, and of the status LED and pairing
// button a HAT may carry. Pin names are resolved through periph's gpioreg
// when the radio is opened ([OpenRadio]), so any name it knows works:
// "GPIO25" (the SoC line, the form used by the built-in profiles), "25", or
// a header position such as "P1_22" where periph's rpi driver registers it.
//
// In the configuration it is the [board.pins] table, used when lora_hat is
// "custom".
type PinMap struct {
	// SPI is the spireg port: "/dev/spidev0.1" or its alias "SPI0.1"
	// (bus 0, chip select 1). Required.
	SPI string `toml:"spi"`
	// CS is a GPIO driven by software as the radio's chip select, for HATs
	// that do not wire the radio's NSS to CE0/CE1; empty when the SPI
	// port's own chip select reaches the radio.
	CS string `toml:"cs"`
	// Reset is the radio's NRESET line; empty when not wired.
	Reset string `toml:"reset"`
	// DIO0 is the radio's DIO0 interrupt line (RxDone/TxDone). Required.
	DIO0 string `toml:"dio0"`
	// LED is a status LED on the HAT, driven active-high; empty if none.
	LED string `toml:"led"`
	// Button is a push button to ground on the HAT (read with the pull-up
	// enabled), used to open the pairing window; empty if none.
	Button string `toml:"button"`
}

// IsZero reports whether no field is set.
func (m PinMap) IsZero() bool { return m == PinMap{} }

// check validates the names; prefix names the configuration table for
// messages ("board.pins").
func (m PinMap) check(prefix string) error {
	if m.SPI == "" {
		return invalid(prefix+".spi", m.SPI, "required")
	}
	if m.DIO0 == "" {
		return invalid(prefix+".dio0", m.DIO0, "required")
	}
	for _, f := range []struct{ key, v string }{
		{"spi", m.SPI}, {"cs", m.CS}, {"reset", m.Reset}, {"dio0", m.DIO0}, {"led", m.LED}, {"button", m.Button},
	} {
		if f.v != "" && !validName(f.v) {
			return invalid(prefix+"."+f.key, f.v, "not a pin or port name")
		}
	}
	return nil
}

// validName accepts what gpioreg and spireg names look like: printable, no
// spaces, not absurdly long.
func validName(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for _, r := range s {
		if unicode.IsSpace(r) || !unicode.IsPrint(r) {
			return false
		}
	}
	return true
}

// Profile is a named, known LoRa HAT wiring.
type Profile struct {
	// Name is the configuration's lora_hat value.
	Name string
	// Description names the product.
	Description string
	// Pins is its wiring.
	Pins PinMap
}

// ProfileCustom is the lora_hat value that takes the wiring from the
// configuration's [board.pins] table.
const ProfileCustom = "custom"

// Profiles returns the built-in LoRa HAT profiles (a fresh slice).
//
// Every pin below is a BCM GPIO number (periph's "GPIOn"); header positions
// are given in the comments. Each profile cites where its wiring comes from.
func Profiles() []Profile {
	return []Profile{
		{
			// Adafruit LoRa Radio Bonnet with OLED, RFM95W (products 4074
			// at 915 MHz, 4075 at 868 MHz), an SX1276.
			//   - Adafruit's learn guide code, pi_radio/rfm9x_check.py in
			//     github.com/adafruit/Adafruit_Learning_System_Guides:
			//     CS = board.CE1, RESET = board.D25, buttons A/B/C on D5,
			//     D6, D12 with pull-ups (pressed = low).
			//   - spi-lora's board config for "Adafruit 4074" (pySX127x
			//     lineage): DIO0 = GPIO22, DIO1 = 23, DIO2 = 24,
			//     RESET = 25, SpiDev(bus 0, cs 1).
			//   - blog.devmobile.co.nz "RFM9X.IoTCore Adafruit LoRa Radio
			//     Bonnet support": CS on pin 26 (CE1), reset on pin 22
			//     (GPIO25), interrupt on pin 15 (GPIO22).
			// The bonnet has no user LED (its display is an I2C OLED).
			// Button A (GPIO5, header pin 29) is the pairing button.
			Name:        "adafruit-rfm9x-bonnet",
			Description: "Adafruit LoRa Radio Bonnet RFM95W (SX1276)",
			Pins: PinMap{
				SPI:    "/dev/spidev0.1", // CE1 = GPIO7, header pin 26
				Reset:  "GPIO25",         // header pin 22
				DIO0:   "GPIO22",         // header pin 15
				Button: "GPIO5",          // button A, header pin 29
			},
		},
		{
			// Dragino LoRa/GPS HAT (SX1276/SX1278), as wired by Dragino's
			// own example, github.com/dragino/rpi-lora-tranceiver
			// dragino_lora_app/main.c: wiringPi ssPin = 6, dio0 = 7,
			// RST = 0, on SPI channel 0 with the chip select toggled by
			// software. In BCM numbers: NSS = GPIO25 (header pin 22),
			// DIO0 = GPIO4 (pin 7), RESET = GPIO17 (pin 11). The same
			// mapping appears in the single_chan_pkt_fwd wiring used with
			// this HAT (NSS pin 22, DIO0 pin 7, RST pin 11) and in a
			// project note for a Zero 2 W with the HAT ("CS=BCM25,
			// RESET=BCM17, DIO0=BCM4", chip select driven as a GPIO).
			// NSS is not on CE0 (pin 24): the kernel still toggles CE0 on
			// /dev/spidev0.0, which the HAT leaves unconnected. Owners of
			// v1.3 boards have bridged pins 22 and 24 to use the hardware
			// chip select (tiny-dev.com, "LoRa P2P communication with
			// LoPy & Dragino LoRa/GPS HAT"); such a board must not drive
			// GPIO25 as an output: use lora_hat = "custom" without cs.
			Name:        "dragino-lora-gps-hat",
			Description: "Dragino LoRa/GPS HAT (SX1276/SX1278)",
			Pins: PinMap{
				SPI:   "/dev/spidev0.0",
				CS:    "GPIO25", // header pin 22, software chip select
				Reset: "GPIO17", // header pin 11
				DIO0:  "GPIO4",  // header pin 7
			},
		},
		{
			// Uputronics Raspberry Pi Zero LoRa(TM) Expansion Board
			// (HopeRF RFM95W/RFM98W), chip select jumpered to CE0.
			//   - the LoRaHAM Pi console (lhpc) hardware-profile
			//     documentation, preset "uputronics-ce0": CS = 8, IRQ (DIO0) = 25, no RESET,
			//     DIO5 = 24 (unused), board LEDs on BCM 6 ("LAN") and
			//     BCM 13 ("INTERNET"), active high.
			//   - blog.devmobile.co.nz "RFM9X.IoTCore Uputronics
			//     Raspberry PiZero LoRa(TM) Expansion Board": the RFM9x
			//     reset pin is not connected; CS on CE0/CE1.
			//   - PiInTheSky/lora-gateway gateway-sample.txt (the HAB
			//     gateway these boards ship for): NetworkLED = wiringPi
			//     22 (BCM 6), InternetLED = wiringPi 23 (BCM 13).
			// Not checked against an Uputronics schematic; older HAB
			// boards used other DIO0 lines.
			Name:        "uputronics-lora-ce0",
			Description: "Uputronics Pi Zero LoRa Expansion Board, CE0 (RFM95W/RFM98W)",
			Pins: PinMap{
				SPI:  "/dev/spidev0.0", // CE0 = GPIO8, header pin 24
				DIO0: "GPIO25",         // header pin 22
				LED:  "GPIO6",          // "LAN" LED, header pin 31
			},
		},
		{
			// The same Uputronics board jumpered to CE1 (a second board
			// stacked on the first). Same sources as uputronics-lora-ce0:
			// CS = 7, DIO0 = 16, DIO5 = 12 (unused), LED BCM 13.
			Name:        "uputronics-lora-ce1",
			Description: "Uputronics Pi Zero LoRa Expansion Board, CE1 (RFM95W/RFM98W)",
			Pins: PinMap{
				SPI:  "/dev/spidev0.1", // CE1 = GPIO7, header pin 26
				DIO0: "GPIO16",         // header pin 36
				LED:  "GPIO13",         // "INTERNET" LED, header pin 33
			},
		},
	}
}

// LookupProfile returns the built-in profile called name.
func LookupProfile(name string) (Profile, bool) {
	for _, p := range Profiles() {
		if p.Name == name {
			return p, true
		}
	}
	return Profile{}, false
}

func profileNames() string {
	var names []string
	for _, p := range Profiles() {
		names = append(names, fmt.Sprintf("%q", p.Name))
	}
	return strings.Join(names, ", ")
}
