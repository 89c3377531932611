package board

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"

	"periph.io/x/conn/v3/gpio"
)

// PinOutput is an [Output] on a GPIO pin.
type PinOutput struct {
	// Pin is the GPIO the LED is on.
	Pin gpio.PinOut
	// ActiveLow lights the LED with a low level (an LED wired from 3V3 to
	// the pin).
	ActiveLow bool
}

// Set drives the pin.
func (o PinOutput) Set(on bool) error {
	if err := o.Pin.Out(gpio.Level(on != o.ActiveLow)); err != nil {
		return fmt.Errorf("gpio %s: %w", o.Pin.Name(), err)
	}
	return nil
}

// LEDClassDir is where the Linux LED class lists its devices.
const LEDClassDir = "/sys/class/leds"

// SysfsLED is an [Output] on a Linux LED class device
// (/sys/class/leds/NAME): on a Raspberry Pi "ACT" (the green activity LED;
// "led0" on kernels before 6.1) or "PWR". See the kernel's
// Documentation/ABI/testing/sysfs-class-led.
//
// Opening it sets the device's trigger to "none", so the kernel (mmc0
// activity, heartbeat...) stops driving the LED; Close restores the trigger
// that was active.
type SysfsLED struct {
	dir       string
	on        []byte // max_brightness, or "1"
	activeLow bool

	mu          sync.Mutex
	prevTrigger string // "" when unchanged
	closed      bool
}

// OpenSysfsLED opens the LED class device in dir (e.g.
// /sys/class/leds/ACT). activeLow inverts the levels, for devices whose
// brightness 0 lights them.
func OpenSysfsLED(dir string, activeLow bool) (*SysfsLED, error) {
	l := &SysfsLED{dir: dir, on: []byte("1"), activeLow: activeLow}
	if _, err := os.Stat(filepath.Join(dir, "brightness")); err != nil {
		return nil, fmt.Errorf("led %s: %w", dir, err)
	}
	if b, err := os.ReadFile(filepath.Join(dir, "max_brightness")); err == nil {
		if n, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil && n > 0 {
			l.on = []byte(strconv.Itoa(n))
		}
	}
	b, err := os.ReadFile(filepath.Join(dir, "trigger"))
	switch {
	case errors.Is(err, fs.ErrNotExist):
	case err != nil:
		return nil, fmt.Errorf("led %s: %w", dir, err)
	default:
		if cur := activeTrigger(b); cur != "" && cur != "none" {
			if err := writeAttr(dir, "trigger", []byte("none")); err != nil {
				return nil, fmt.Errorf("led %s: %w", dir, err)
			}
			l.prevTrigger = cur
		}
	}
	return l, nil
}

// activeTrigger returns the bracketed entry of a trigger file ("none
// [mmc0] timer" gives "mmc0").
func activeTrigger(b []byte) string {
	for _, f := range bytes.Fields(b) {
		if len(f) > 2 && f[0] == '[' && f[len(f)-1] == ']' {
			return string(f[1 : len(f)-1])
		}
	}
	return ""
}

// Set writes the brightness: max_brightness for on, 0 for off.
func (l *SysfsLED) Set(on bool) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return fmt.Errorf("led %s: %w", l.dir, ErrClosed)
	}
	v := []byte("0")
	if on != l.activeLow {
		v = l.on
	}
	if err := writeAttr(l.dir, "brightness", v); err != nil {
		return fmt.Errorf("led %s: %w", l.dir, err)
	}
	return nil
}

// Close restores the trigger the LED had when it was opened. It is
// idempotent.
func (l *SysfsLED) Close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return nil
	}
	l.closed = true
	if l.prevTrigger == "" {
		return nil
	}
	if err := writeAttr(l.dir, "trigger", []byte(l.prevTrigger)); err != nil {
		return fmt.Errorf("led %s: restore trigger %q: %w", l.dir, l.prevTrigger, err)
	}
	return nil
}

// writeAttr writes one sysfs attribute in one write, as `echo v > attr`
// does; it never creates the file.
func writeAttr(dir, name string, v []byte) error {
	f, err := os.OpenFile(filepath.Join(dir, name), os.O_WRONLY|os.O_TRUNC, 0)
	if err != nil {
		return err
	}
	_, werr := f.Write(append(v[:len(v):len(v)], '\n'))
	if cerr := f.Close(); werr == nil {
		werr = cerr
	}
	return werr
}

var (
	_ Output = PinOutput{}
	_ Output = (*SysfsLED)(nil)
)
