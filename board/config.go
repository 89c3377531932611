package board

import (
	"cmp"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"time"
)

// Config is the [board] section of gatewayd's TOML configuration. The zero
// value is valid: board detected, no radio, no button, no watchdog, and the
// LED of the HAT if it has one.
//
//	[board]
//	board = "auto"                  # "auto" | "generic" | a model ID such as "rpi-zero-2-w"
//	lora_hat = "adafruit-rfm9x-bonnet"  # a profile, "custom" (see [board.pins]) or "" for none
//	led = "sysfs:ACT"               # "" (the HAT's LED) | "off" | "gpio:NAME" | "sysfs:NAME"
//	led_active_low = false
//	button = ""                     # "" (the HAT's button) | "off" | a GPIO name
//	button_debounce = "50ms"
//	pairing_window = "2m"
//	watchdog = "/dev/watchdog"      # "" (off, the default) | a device path
//	watchdog_timeout = "15s"        # 0: keep the driver's
//	watchdog_interval = "5s"        # 0: a third of the timeout, or 5s
//
//	[board.pins]                    # only with lora_hat = "custom"
//	spi = "/dev/spidev0.0"
//	cs = ""
//	reset = "GPIO22"
//	dio0 = "GPIO25"
type Config struct {
	// Board is "auto" (or empty) to detect the board, "generic" to use no
	// GPIO or SPI whatever the machine, or a Raspberry Pi model (an ID
	// from [Models], or its name) to use one even where detection fails,
	// e.g. in a container that hides the device tree.
	Board string `toml:"board"`
	// LoRaHAT is the radio's wiring: a [Profiles] name, "custom" for Pins,
	// or empty for no SX127x radio.
	LoRaHAT string `toml:"lora_hat"`
	// Pins is the wiring when LoRaHAT is "custom".
	Pins PinMap `toml:"pins"`
	// LED is the status LED: empty for the HAT's LED (none if it has none),
	// "off", "gpio:NAME" for a GPIO pin, "sysfs:NAME" for
	// /sys/class/leds/NAME (on a Pi, "ACT").
	LED string `toml:"led"`
	// LEDActiveLow inverts the LED.
	LEDActiveLow bool `toml:"led_active_low"`
	// Button is the pairing button's GPIO: empty for the HAT's button (none
	// if it has none), "off", or a pin name.
	Button string `toml:"button"`
	// ButtonDebounce is the button's debounce time (default 50ms).
	ButtonDebounce time.Duration `toml:"button_debounce"`
	// PairingWindow is how long a press opens the steward's pairing window
	// (default 2m). The gateway reads it; this package only validates it.
	PairingWindow time.Duration `toml:"pairing_window"`
	// Watchdog is the hardware watchdog device; empty (the default) leaves
	// the watchdog alone.
	Watchdog string `toml:"watchdog"`
	// WatchdogTimeout, when set, is asked of the driver (whole seconds).
	WatchdogTimeout time.Duration `toml:"watchdog_timeout"`
	// WatchdogInterval is the feed period (default: a third of the
	// timeout, or 5s).
	WatchdogInterval time.Duration `toml:"watchdog_interval"`
}

// Configuration values with a meaning of their own: the board key's
// "auto" and "generic", and "off" for the led and button keys.
const (
	BoardAuto    = "auto"
	BoardGeneric = "generic"
	DeviceOff    = "off"
)

// DefaultPairingWindow is the pairing window when none is configured.
const DefaultPairingWindow = 2 * time.Minute

// WithDefaults returns c with its zero durations and board filled in.
func (c Config) WithDefaults() Config {
	if c.Board == "" {
		c.Board = BoardAuto
	}
	if c.ButtonDebounce == 0 {
		c.ButtonDebounce = DefaultDebounce
	}
	if c.PairingWindow == 0 {
		c.PairingWindow = DefaultPairingWindow
	}
	if c.Watchdog != "" && c.WatchdogInterval == 0 {
		c.WatchdogInterval = DefaultWatchdogInterval
		if c.WatchdogTimeout > 0 {
			c.WatchdogInterval = c.WatchdogTimeout / 3
		}
	}
	return c
}

// invalid builds the error for a bad key; key is the full TOML path.
func invalid(key, value, reason string) error {
	return fmt.Errorf("%w: %s = %q: %s", ErrInvalidConfig, key, value, reason)
}

func invalidDur(key string, d time.Duration, reason string) error {
	return fmt.Errorf("%w: %s = %q: %s", ErrInvalidConfig, key, d.String(), reason)
}

// Validate checks every key and returns all the problems found, each naming
// its key and value and wrapping [ErrInvalidConfig]. It opens nothing.
func (c Config) Validate() error {
	var errs []error
	add := func(err error) {
		if err != nil {
			errs = append(errs, err)
		}
	}
	switch c.Board {
	case "", BoardAuto, BoardGeneric:
	default:
		if _, ok := LookupModel(c.Board); !ok {
			add(invalid("board.board", c.Board, `want "auto", "generic" or a Raspberry Pi model such as "rpi-4-b"`))
		}
	}
	switch c.LoRaHAT {
	case "":
		if !c.Pins.IsZero() {
			add(invalid("board.lora_hat", c.LoRaHAT, `[board.pins] is set: set lora_hat = "custom" to use it`))
		}
	case ProfileCustom:
		add(c.Pins.check("board.pins"))
	default:
		if _, ok := LookupProfile(c.LoRaHAT); !ok {
			add(invalid("board.lora_hat", c.LoRaHAT, "unknown profile; want "+profileNames()+` or "custom"`))
		} else if !c.Pins.IsZero() {
			add(invalid("board.lora_hat", c.LoRaHAT, `[board.pins] is only used with lora_hat = "custom"`))
		}
	}
	if _, _, err := parseLED(c.LED); err != nil {
		add(err)
	}
	if c.Button != "" && c.Button != DeviceOff && !validName(c.Button) {
		add(invalid("board.button", c.Button, `want "", "off" or a GPIO name`))
	}
	if d := c.ButtonDebounce; d != 0 && (d < time.Millisecond || d > time.Second) {
		add(invalidDur("board.button_debounce", d, "want 1ms to 1s"))
	}
	if d := c.PairingWindow; d != 0 && (d < time.Second || d > 24*time.Hour) {
		add(invalidDur("board.pairing_window", d, "want 1s to 24h"))
	}
	add(c.validateWatchdog())
	if len(errs) == 0 {
		add(c.pinConflicts())
	}
	return errors.Join(errs...)
}

// pinConflicts reports a GPIO given two roles (the LED on the radio's chip
// select...). Names are compared as written: "GPIO25" and "25" are not
// recognised as one line.
func (c Config) pinConflicts() error {
	roles := map[string]string{} // GPIO name -> its first role
	claim := func(name, key, value, role string) error {
		if name == "" {
			return nil
		}
		if prev, ok := roles[name]; ok {
			return invalid(key, value, fmt.Sprintf("%s is already the %s", name, prev))
		}
		roles[name] = role
		return nil
	}
	hat, pins, ok, err := c.RadioPins()
	if err != nil {
		return err
	}
	if ok {
		key, value := "board.lora_hat", c.LoRaHAT
		for _, p := range []struct{ name, role string }{{pins.CS, "cs"}, {pins.Reset, "reset"}, {pins.DIO0, "dio0"}} {
			if hat == ProfileCustom {
				key, value = "board.pins."+p.role, p.name
			}
			if err := claim(p.name, key, value, "lora "+p.role+" of "+hat); err != nil {
				return err
			}
		}
	}
	kind, led, err := c.LEDSpec()
	if err != nil {
		return err
	}
	if kind == ledGPIO {
		if err := claim(led, "board.led", cmp.Or(c.LED, "gpio:"+led), "status led"); err != nil {
			return err
		}
	}
	button, err := c.ButtonPin()
	if err != nil {
		return err
	}
	return claim(button, "board.button", cmp.Or(c.Button, button), "pairing button")
}

func (c Config) validateWatchdog() error {
	if c.Watchdog == "" {
		if c.WatchdogTimeout != 0 {
			return invalidDur("board.watchdog_timeout", c.WatchdogTimeout, "set, but board.watchdog is off")
		}
		if c.WatchdogInterval != 0 {
			return invalidDur("board.watchdog_interval", c.WatchdogInterval, "set, but board.watchdog is off")
		}
		return nil
	}
	if !filepath.IsAbs(c.Watchdog) {
		return invalid("board.watchdog", c.Watchdog, `want "" or an absolute device path such as "/dev/watchdog"`)
	}
	if t := c.WatchdogTimeout; t != 0 && (t < time.Second || t > time.Hour || t%time.Second != 0) {
		return invalidDur("board.watchdog_timeout", t, "want whole seconds, 1s to 1h (the Raspberry Pi's maximum is 15s)")
	}
	if i := c.WatchdogInterval; i != 0 {
		if i < 100*time.Millisecond {
			return invalidDur("board.watchdog_interval", i, "want at least 100ms")
		}
		if c.WatchdogTimeout != 0 && i >= c.WatchdogTimeout {
			return invalidDur("board.watchdog_interval", i, fmt.Sprintf("must be shorter than board.watchdog_timeout (%s)", c.WatchdogTimeout))
		}
	}
	return nil
}

// LED kinds in the configuration.
const (
	ledGPIO  = "gpio"
	ledSysfs = "sysfs"
)

// parseLED splits an led value into its kind and name; kind is "" for ""
// and "off".
func parseLED(v string) (kind, name string, err error) {
	if v == "" || v == DeviceOff {
		return "", "", nil
	}
	kind, name, ok := strings.Cut(v, ":")
	bad := func(reason string) (string, string, error) {
		return "", "", invalid("board.led", v, reason)
	}
	switch {
	case !ok:
		return bad(`want "", "off", "gpio:NAME" or "sysfs:NAME"`)
	case kind == ledGPIO:
		if !validName(name) {
			return bad("not a GPIO name")
		}
	case kind == ledSysfs:
		if !validName(name) || strings.ContainsRune(name, '/') || name == "." || name == ".." {
			return bad("not an LED class device name (a directory of " + LEDClassDir + ")")
		}
	default:
		return bad(fmt.Sprintf("unknown kind %q: want gpio or sysfs", kind))
	}
	return kind, name, nil
}

// Resolve applies the board key to what [Detect] found: "auto" keeps it,
// "generic" turns it into a generic machine (keeping the model string for
// the record), a model forces that model. The error wraps
// [ErrInvalidConfig].
func (c Config) Resolve(detected Info) (Info, error) {
	switch c.Board {
	case "", BoardAuto:
		return detected, nil
	case BoardGeneric:
		out := detected
		out.Model = GenericModel(detected.Raw)
		out.Forced = true
		return out, nil
	}
	m, ok := LookupModel(c.Board)
	if !ok {
		return detected, invalid("board.board", c.Board, `want "auto", "generic" or a Raspberry Pi model such as "rpi-4-b"`)
	}
	out := detected
	out.Model = m
	out.Forced = true
	return out, nil
}

// RadioPins returns the radio's wiring and the name it goes by (the profile,
// or "custom"); ok is false when no radio is configured.
func (c Config) RadioPins() (name string, pins PinMap, ok bool, err error) {
	switch c.LoRaHAT {
	case "":
		return "", PinMap{}, false, nil
	case ProfileCustom:
		if err := c.Pins.check("board.pins"); err != nil {
			return "", PinMap{}, false, err
		}
		return ProfileCustom, c.Pins, true, nil
	}
	p, ok := LookupProfile(c.LoRaHAT)
	if !ok {
		return "", PinMap{}, false, invalid("board.lora_hat", c.LoRaHAT, "unknown profile; want "+profileNames()+` or "custom"`)
	}
	return p.Name, p.Pins, true, nil
}

// LEDSpec returns the effective LED: kind "gpio" or "sysfs" with its name,
// or kind "" for no LED. An empty led key takes the HAT's LED.
func (c Config) LEDSpec() (kind, name string, err error) {
	kind, name, err = parseLED(c.LED)
	if err != nil || c.LED != "" {
		return kind, name, err
	}
	_, pins, ok, err := c.RadioPins()
	if err != nil || !ok || pins.LED == "" {
		return "", "", err
	}
	return ledGPIO, pins.LED, nil
}

// ButtonPin returns the effective pairing button's GPIO, "" for none. An
// empty button key takes the HAT's button.
func (c Config) ButtonPin() (string, error) {
	switch c.Button {
	case DeviceOff:
		return "", nil
	case "":
		_, pins, ok, err := c.RadioPins()
		if err != nil || !ok {
			return "", err
		}
		return pins.Button, nil
	}
	if !validName(c.Button) {
		return "", invalid("board.button", c.Button, `want "", "off" or a GPIO name`)
	}
	return c.Button, nil
}
