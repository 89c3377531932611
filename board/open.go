package board

import (
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"sync"

	"periph.io/x/conn/v3/gpio"
)

// Devices are the board devices a [Config] asks for. A field is nil when the
// device is not configured or failed to open.
//
// The owner runs the loops, each on a goroutine it starts and waits for:
// LED.Run(ctx), Button.Run(ctx, onPress), Watchdog.Run(ctx, healthy); it
// hands Radio's port and pins to the LoRa driver. After those have returned
// it calls Close.
type Devices struct {
	// Hardware is what Init reported.
	Hardware Hardware
	// Radio is the SX127x radio's wiring.
	Radio *Radio
	// LED is the status LED.
	LED *LED
	// Button is the pairing button.
	Button *Button
	// Watchdog is the hardware watchdog, armed.
	Watchdog *Watchdog

	mu      sync.Mutex
	closers []func() error // in opening order; the watchdog apart
}

// openEnv is what Open reaches beyond its arguments; tests replace it.
type openEnv struct {
	res         resolver
	ledClassDir string
	clock       Clock
}

// Open opens every device cfg asks for on the hardware hw that [Init]
// reported. Each device is opened on its own: one that fails is left nil
// and its [*DeviceError] (naming it) joins the returned error, while the
// others are opened all the same. Open never returns nil Devices, so the
// caller logs the error and runs on with what opened. A device that needs
// GPIO or SPI where hw has none fails with [ErrUnavailable]; the sysfs LED
// and the watchdog need neither.
//
// cfg should have passed Validate; an invalid key fails that device with
// [ErrInvalidConfig].
func Open(cfg Config, hw Hardware) (*Devices, error) {
	return open(cfg, hw, openEnv{res: periphResolver(), ledClassDir: LEDClassDir})
}

func open(cfg Config, hw Hardware, env openEnv) (*Devices, error) {
	cfg = cfg.WithDefaults()
	d := &Devices{Hardware: hw}
	var errs []error
	needGPIO := func(device string, spi bool) error {
		if !hw.GPIO || (spi && !hw.SPI) {
			return deviceErr(device, fmt.Errorf("%w: %s", ErrUnavailable, hw.Reason))
		}
		return nil
	}
	gpioPin := func(device, name string) (gpio.PinIO, error) {
		if err := needGPIO(device, false); err != nil {
			return nil, err
		}
		p := env.res.pin(name)
		if p == nil {
			return nil, deviceErr(device, ErrNotFound)
		}
		return p, nil
	}

	// The radio.
	if name, pins, ok, err := cfg.RadioPins(); err != nil {
		errs = append(errs, deviceErr("lora radio", err))
	} else if ok {
		if err := needGPIO("lora radio "+name, true); err != nil {
			errs = append(errs, err)
		} else if r, err := env.res.openRadio(name, pins); err != nil {
			errs = append(errs, err)
		} else {
			d.Radio = r
			d.closers = append(d.closers, r.Close)
		}
	}

	// The status LED.
	kind, name, err := cfg.LEDSpec()
	switch {
	case err != nil:
		errs = append(errs, deviceErr("led", err))
	case kind == ledGPIO:
		device := "led gpio:" + name
		p, err := gpioPin(device, name)
		if err == nil {
			out := PinOutput{Pin: p, ActiveLow: cfg.LEDActiveLow}
			if err = out.Set(false); err == nil {
				d.LED = NewLED(out, env.clock)
			} else {
				err = deviceErr(device, err)
			}
		}
		if err != nil {
			errs = append(errs, err)
		}
	case kind == ledSysfs:
		device := "led sysfs:" + name
		l, err := OpenSysfsLED(filepath.Join(env.ledClassDir, name), cfg.LEDActiveLow)
		if err == nil {
			d.closers = append(d.closers, l.Close)
			if err = l.Set(false); err == nil {
				d.LED = NewLED(l, env.clock)
			}
		}
		if err != nil {
			errs = append(errs, deviceErr(device, err))
		}
	}

	// The pairing button.
	if pin, err := cfg.ButtonPin(); err != nil {
		errs = append(errs, deviceErr("button", err))
	} else if pin != "" {
		device := "button " + pin
		p, err := gpioPin(device, pin)
		if err == nil {
			d.Button, err = NewButton(p, ButtonConfig{Debounce: cfg.ButtonDebounce, Clock: env.clock})
		}
		if err != nil {
			errs = append(errs, err)
		}
	}

	// The watchdog, last: it arms on open, after everything that could
	// fail slowly.
	if cfg.Watchdog != "" {
		w, err := OpenWatchdog(cfg.Watchdog, WatchdogConfig{Timeout: cfg.WatchdogTimeout, Interval: cfg.WatchdogInterval, Clock: env.clock})
		if err != nil {
			errs = append(errs, err)
		} else {
			d.Watchdog = w
		}
	}
	return d, errors.Join(errs...)
}

// Close closes what Open opened, in reverse order: the LED's sysfs trigger
// is restored, the SPI port closed, and the watchdog disarmed last, so that
// it still guards a shutdown that hangs before. The loops must have
// returned. Close is idempotent.
func (d *Devices) Close() error {
	d.mu.Lock()
	closers := d.closers
	d.closers = nil
	d.mu.Unlock()
	var errs []error
	for _, c := range slices.Backward(closers) {
		errs = append(errs, c())
	}
	if d.Watchdog != nil {
		errs = append(errs, d.Watchdog.Close()) // idempotent itself
	}
	return errors.Join(errs...)
}
