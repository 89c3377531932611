package board

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"periph.io/x/conn/v3/gpio"
)

var piHardware = Hardware{Board: piInfo, GPIO: true, SPI: true}

// TestOpenOnGenericMachine is the CI/laptop case: the configuration asks for
// a radio and a button, which need GPIO and SPI; each fails on its own with
// an error naming it, and the sysfs LED and the watchdog open all the same.
func TestOpenOnGenericMachine(t *testing.T) {
	ledDir := sysfsLEDDir(t, "1", "none [mmc0]\n")
	wd := tempWatchdog(t)
	cfg := Config{LoRaHAT: "adafruit-rfm9x-bonnet", LED: "sysfs:ACT", Watchdog: wd}
	hw, err := Init(genericPC, nil)
	if err != nil {
		t.Fatal(err)
	}
	d, err := open(cfg, hw, openEnv{res: newFakeHost(allPins...).resolver(), ledClassDir: filepath.Dir(ledDir), clock: newFakeClock()})
	if d == nil {
		t.Fatal("nil Devices")
	}
	if !errors.Is(err, ErrUnavailable) {
		t.Fatalf("err %v, want ErrUnavailable", err)
	}
	for _, dev := range []string{"lora radio adafruit-rfm9x-bonnet", "button GPIO5"} {
		if !strings.Contains(err.Error(), "board: "+dev+": ") {
			t.Errorf("%q does not name %s", err, dev)
		}
	}
	if d.Radio != nil || d.Button != nil {
		t.Fatalf("opened without GPIO: %+v", d)
	}
	if d.LED == nil || d.Watchdog == nil {
		t.Fatalf("sysfs LED or watchdog not opened: %+v", d)
	}
	if got := readAttr(t, ledDir, "trigger"); got != "none\n" {
		t.Fatalf("trigger %q", got)
	}
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	if got := readAttr(t, ledDir, "trigger"); got != "mmc0\n" {
		t.Fatalf("trigger not restored: %q", got)
	}
	if got := fileContent(t, wd); got != "V" {
		t.Fatalf("watchdog %q, want the magic close", got)
	}
	if err := d.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
}

// TestOpenOnPi opens everything through a fake host and runs the loops.
func TestOpenOnPi(t *testing.T) {
	h := newFakeHost(append(allPins, "GPIO21")...)
	clk := newFakeClock()
	wd := tempWatchdog(t)
	cfg := Config{LoRaHAT: "uputronics-lora-ce0", Button: "GPIO21", Watchdog: wd}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	d, err := open(cfg, piHardware, openEnv{res: h.resolver(), clock: clk})
	if err != nil {
		t.Fatal(err)
	}
	if d.Radio == nil || d.Radio.DIO0.Name() != "GPIO25" || d.LED == nil || d.Button == nil || d.Watchdog == nil {
		t.Fatalf("devices %+v", d)
	}
	if d.Hardware != piHardware {
		t.Fatalf("hardware %+v", d.Hardware)
	}
	led := h.pins["GPIO6"] // the board's "LAN" LED
	if led.Read() != gpio.Low {
		t.Fatal("LED not off after open")
	}
	if h.pins["GPIO21"].Pull() != gpio.PullUp {
		t.Fatal("button without pull-up")
	}

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 2)
	d.LED.Set(PatternRunning)
	go func() { done <- d.LED.Run(ctx) }()
	go func() { done <- d.Watchdog.Run(ctx, nil) }()
	waitFor(t, func() bool { return led.Read() == gpio.High })
	clk.WaitPending(t, 1) // the watchdog fed once and waits
	cancel()
	for range 2 {
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}
	if led.Read() != gpio.Low {
		t.Fatal("LED not off after Run")
	}
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	if got := fileContent(t, wd); got != "1V" {
		t.Fatalf("watchdog %q", got)
	}
}

func TestOpenPartialFailure(t *testing.T) {
	h := newFakeHost("GPIO4", "GPIO17", "GPIO25") // the Dragino's lines, no GPIO26
	cfg := Config{LoRaHAT: "dragino-lora-gps-hat", LED: "gpio:GPIO26", LEDActiveLow: true, Watchdog: filepath.Join(t.TempDir(), "missing")}
	d, err := open(cfg, piHardware, openEnv{res: h.resolver(), clock: newFakeClock()})
	if d.Radio == nil {
		t.Fatalf("radio not opened: %v", err)
	}
	if d.LED != nil || d.Watchdog != nil {
		t.Fatalf("failed devices not nil: %+v", d)
	}
	var de *DeviceError
	if !errors.As(err, &de) {
		t.Fatalf("err %v", err)
	}
	for _, want := range []string{"board: led gpio:GPIO26: board: not found", "missing"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("%q does not contain %q", err, want)
		}
	}
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
}

func TestOpenNothing(t *testing.T) {
	d, err := open(Config{}, Hardware{Board: genericPC}, openEnv{res: newFakeHost().resolver()})
	if err != nil || d.Radio != nil || d.LED != nil || d.Button != nil || d.Watchdog != nil {
		t.Fatalf("%+v, %v", d, err)
	}
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
}

func TestOpenInvalidConfig(t *testing.T) {
	d, err := open(Config{LoRaHAT: "nope", LED: "x", Button: "a b"}, piHardware, openEnv{res: newFakeHost().resolver()})
	if !errors.Is(err, ErrInvalidConfig) || d == nil || d.Radio != nil || d.LED != nil || d.Button != nil {
		t.Fatalf("%+v, %v", d, err)
	}
	for _, want := range []string{"board.lora_hat", "board.led", "board.button"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("%q does not name %s", err, want)
		}
	}
}

// TestOpenDefault goes through the exported Open on this machine: with
// nothing configured it opens nothing.
func TestOpenDefault(t *testing.T) {
	d, err := Open(Config{}, Hardware{Board: genericPC})
	if err != nil || d == nil {
		t.Fatalf("%+v, %v", d, err)
	}
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
}
