package board

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/BurntSushi/toml"
)

func TestConfigDecodeTOML(t *testing.T) {
	const doc = `
[board]
board = "rpi-zero-2-w"
lora_hat = "custom"
led = "sysfs:ACT"
led_active_low = true
button = "GPIO5"
button_debounce = "30ms"
pairing_window = "5m"
watchdog = "/dev/watchdog"
watchdog_timeout = "15s"
watchdog_interval = "4s"

[board.pins]
spi = "SPI0.0"
cs = "GPIO25"
reset = "GPIO17"
dio0 = "GPIO4"
`
	var f struct {
		Board Config `toml:"board"`
	}
	md, err := toml.Decode(doc, &f)
	if err != nil {
		t.Fatal(err)
	}
	if u := md.Undecoded(); len(u) != 0 {
		t.Fatalf("undecoded keys %v", u)
	}
	want := Config{
		Board: "rpi-zero-2-w", LoRaHAT: "custom", LED: "sysfs:ACT", LEDActiveLow: true,
		Button: "GPIO5", ButtonDebounce: 30 * time.Millisecond, PairingWindow: 5 * time.Minute,
		Watchdog: "/dev/watchdog", WatchdogTimeout: 15 * time.Second, WatchdogInterval: 4 * time.Second,
		Pins: PinMap{SPI: "SPI0.0", CS: "GPIO25", Reset: "GPIO17", DIO0: "GPIO4"},
	}
	if f.Board != want {
		t.Fatalf("decoded\n%+v\nwant\n%+v", f.Board, want)
	}
	if err := f.Board.Validate(); err != nil {
		t.Fatal(err)
	}
}

func TestConfigValid(t *testing.T) {
	for _, c := range []Config{
		{},
		{Board: "auto"},
		{Board: "generic", LED: "off", Button: "off"},
		{Board: "Raspberry Pi 4 Model B"},
		{LoRaHAT: "adafruit-rfm9x-bonnet"},
		{LoRaHAT: "dragino-lora-gps-hat", LED: "gpio:GPIO26", Button: "GPIO21"},
		{LoRaHAT: "uputronics-lora-ce0"},
		{LoRaHAT: "uputronics-lora-ce1", LED: "sysfs:led0"},
		{LoRaHAT: "custom", Pins: PinMap{SPI: "/dev/spidev0.0", DIO0: "GPIO25"}},
		{Watchdog: "/dev/watchdog"},
		{Watchdog: "/dev/watchdog1", WatchdogTimeout: 10 * time.Second, WatchdogInterval: 3 * time.Second},
	} {
		if err := c.Validate(); err != nil {
			t.Errorf("Validate(%+v): %v", c, err)
		}
	}
}

// TestConfigInvalid checks that every error names its key and value.
func TestConfigInvalid(t *testing.T) {
	for _, tc := range []struct {
		c    Config
		want string // key = "value"
	}{
		{Config{Board: "pi4"}, `board.board = "pi4"`},
		{Config{LoRaHAT: "rak2245"}, `board.lora_hat = "rak2245"`},
		{Config{LoRaHAT: "custom"}, `board.pins.spi = ""`},
		{Config{LoRaHAT: "custom", Pins: PinMap{SPI: "/dev/spidev0.0"}}, `board.pins.dio0 = ""`},
		{Config{LoRaHAT: "custom", Pins: PinMap{SPI: "/dev/spidev0.0", DIO0: "GPIO 4"}}, `board.pins.dio0 = "GPIO 4"`},
		{Config{Pins: PinMap{DIO0: "GPIO4"}}, `board.lora_hat = ""`},
		{Config{LoRaHAT: "dragino-lora-gps-hat", Pins: PinMap{DIO0: "GPIO4"}}, `board.lora_hat = "dragino-lora-gps-hat"`},
		{Config{LED: "ACT"}, `board.led = "ACT"`},
		{Config{LED: "pwm:GPIO18"}, `board.led = "pwm:GPIO18"`},
		{Config{LED: "sysfs:../../etc"}, `board.led = "sysfs:../../etc"`},
		{Config{LED: "sysfs:.."}, `board.led = "sysfs:.."`},
		{Config{LED: "gpio:"}, `board.led = "gpio:"`},
		{Config{Button: "GPIO 5"}, `board.button = "GPIO 5"`},
		{Config{ButtonDebounce: time.Microsecond}, `board.button_debounce = "1µs"`},
		{Config{PairingWindow: 48 * time.Hour}, `board.pairing_window = "48h0m0s"`},
		{Config{Watchdog: "watchdog"}, `board.watchdog = "watchdog"`},
		{Config{WatchdogTimeout: 15 * time.Second}, `board.watchdog_timeout = "15s"`},
		{Config{WatchdogInterval: time.Second}, `board.watchdog_interval = "1s"`},
		{Config{Watchdog: "/dev/watchdog", WatchdogTimeout: 1500 * time.Millisecond}, `board.watchdog_timeout = "1.5s"`},
		{Config{Watchdog: "/dev/watchdog", WatchdogTimeout: 10 * time.Second, WatchdogInterval: 10 * time.Second}, `board.watchdog_interval = "10s"`},
		{Config{Watchdog: "/dev/watchdog", WatchdogInterval: time.Millisecond}, `board.watchdog_interval = "1ms"`},
		// Pins given two roles.
		{Config{LoRaHAT: "dragino-lora-gps-hat", LED: "gpio:GPIO25"}, `board.led = "gpio:GPIO25": GPIO25 is already the lora cs of dragino-lora-gps-hat`},
		{Config{LoRaHAT: "adafruit-rfm9x-bonnet", LED: "gpio:GPIO5"}, `board.button = "GPIO5": GPIO5 is already the status led`},
		{Config{LoRaHAT: "uputronics-lora-ce0", Button: "GPIO6"}, `board.button = "GPIO6": GPIO6 is already the status led`},
		{Config{LoRaHAT: "custom", Pins: PinMap{SPI: "SPI0.0", Reset: "GPIO4", DIO0: "GPIO4"}}, `board.pins.dio0 = "GPIO4": GPIO4 is already the lora reset of custom`},
	} {
		err := tc.c.Validate()
		if !errors.Is(err, ErrInvalidConfig) {
			t.Errorf("Validate(%+v) = %v, want ErrInvalidConfig", tc.c, err)
			continue
		}
		if !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Validate(%+v) = %q, want it to name %s", tc.c, err, tc.want)
		}
	}
}

func TestConfigValidateReportsAll(t *testing.T) {
	err := Config{Board: "x", LED: "y", Watchdog: "z"}.Validate()
	for _, key := range []string{"board.board", "board.led", "board.watchdog"} {
		if !strings.Contains(err.Error(), key) {
			t.Errorf("%q does not mention %s", err, key)
		}
	}
}

func TestConfigWithDefaults(t *testing.T) {
	c := Config{Watchdog: "/dev/watchdog", WatchdogTimeout: 12 * time.Second}.WithDefaults()
	if c.Board != BoardAuto || c.ButtonDebounce != DefaultDebounce || c.PairingWindow != DefaultPairingWindow || c.WatchdogInterval != 4*time.Second {
		t.Fatalf("defaults %+v", c)
	}
	if c := (Config{Watchdog: "/dev/watchdog"}).WithDefaults(); c.WatchdogInterval != DefaultWatchdogInterval {
		t.Fatalf("interval without timeout %v", c.WatchdogInterval)
	}
	if c := (Config{}).WithDefaults(); c.WatchdogInterval != 0 {
		t.Fatalf("interval without watchdog %v", c.WatchdogInterval)
	}
	if err := (Config{Watchdog: "/dev/watchdog", WatchdogTimeout: 12 * time.Second}).WithDefaults().Validate(); err != nil {
		t.Fatalf("defaults do not validate: %v", err)
	}
}

func TestConfigResolve(t *testing.T) {
	pi := Info{Model: ParseModel("Raspberry Pi 4 Model B Rev 1.4"), Raw: "Raspberry Pi 4 Model B Rev 1.4", Source: dtModelPath}
	laptop := Info{Model: GenericModel("")}

	if got, err := (Config{}).Resolve(pi); err != nil || got != pi {
		t.Errorf("auto on a Pi: %+v, %v", got, err)
	}
	got, err := Config{Board: BoardGeneric}.Resolve(pi)
	if err != nil || got.IsRaspberryPi() || !got.Forced || got.Raw != pi.Raw || got.Model.Name != pi.Raw {
		t.Errorf("generic on a Pi: %+v, %v", got, err)
	}
	got, err = Config{Board: "rpi-zero-2-w"}.Resolve(laptop)
	if err != nil || got.Model.ID != "rpi-zero-2-w" || !got.Forced || !got.IsRaspberryPi() {
		t.Errorf("forced model: %+v, %v", got, err)
	}
	if _, err := (Config{Board: "pi9"}).Resolve(laptop); !errors.Is(err, ErrInvalidConfig) || !strings.Contains(err.Error(), `"pi9"`) {
		t.Errorf("unknown board: %v", err)
	}
}

func TestConfigEffectiveDevices(t *testing.T) {
	for _, tc := range []struct {
		c                 Config
		hat               string
		ledKind, led, btn string
	}{
		{Config{}, "", "", "", ""},
		{Config{LoRaHAT: "adafruit-rfm9x-bonnet"}, "adafruit-rfm9x-bonnet", "", "", "GPIO5"},
		{Config{LoRaHAT: "adafruit-rfm9x-bonnet", Button: "off", LED: "sysfs:ACT"}, "adafruit-rfm9x-bonnet", "sysfs", "ACT", ""},
		{Config{LoRaHAT: "uputronics-lora-ce1"}, "uputronics-lora-ce1", "gpio", "GPIO13", ""},
		{Config{LoRaHAT: "uputronics-lora-ce1", LED: "off"}, "uputronics-lora-ce1", "", "", ""},
		{Config{LoRaHAT: "custom", Pins: PinMap{SPI: "SPI0.1", DIO0: "GPIO22", LED: "GPIO23", Button: "GPIO24"}}, "custom", "gpio", "GPIO23", "GPIO24"},
		{Config{LED: "gpio:GPIO18", Button: "GPIO17"}, "", "gpio", "GPIO18", "GPIO17"},
	} {
		hat, _, ok, err := tc.c.RadioPins()
		if err != nil || hat != tc.hat || ok != (tc.hat != "") {
			t.Errorf("%+v: RadioPins = %q %v %v", tc.c, hat, ok, err)
		}
		kind, led, err := tc.c.LEDSpec()
		if err != nil || kind != tc.ledKind || led != tc.led {
			t.Errorf("%+v: LEDSpec = %q %q %v", tc.c, kind, led, err)
		}
		btn, err := tc.c.ButtonPin()
		if err != nil || btn != tc.btn {
			t.Errorf("%+v: ButtonPin = %q %v", tc.c, btn, err)
		}
	}
	if _, _, _, err := (Config{LoRaHAT: "nope"}).RadioPins(); !errors.Is(err, ErrInvalidConfig) {
		t.Errorf("RadioPins on an unknown profile: %v", err)
	}
	if _, err := (Config{Button: "a b"}).ButtonPin(); !errors.Is(err, ErrInvalidConfig) {
		t.Errorf("ButtonPin on a bad name: %v", err)
	}
}
