// Package board knows the machine gatewayd runs on: which board it is, how
// its LoRa HAT is wired, and the small hardware that tells an installer what
// the gateway is doing or lets them act on it — a status LED, a pairing
// button, the hardware watchdog.
//
// # Boards
//
// [Detect] reads the device tree's model string (/proc/device-tree/model, a
// NUL-terminated string such as "Raspberry Pi Zero 2 W Rev 1.0") and
// recognises the Raspberry Pi models ([Models]: Pi 1, 2, 3, 3+, 4, 400, 5,
// 500, Zero, Zero W, Zero 2 W, CM1, CM3, CM3+, CM4, CM4S, CM5) into a
// [Model] with a [Family]. Anything else is generic: a laptop, a CI runner.
// [Config.Resolve] lets the configuration override detection.
//
// [Init] initialises periph.io's host drivers only on a Raspberry Pi; on a
// generic machine it does nothing and reports that GPIO and SPI are
// unavailable. The periph host drivers themselves live behind a parameter
// ([HostInit], implemented by package boardhost) so that this package, and
// its tests, never load them.
//
// # LoRa HATs
//
// A [Profile] names the wiring of a known SX127x HAT ([Profiles]: the
// Adafruit RFM9x LoRa Radio Bonnet, the Dragino LoRa/GPS HAT, the Uputronics
// Pi Zero LoRa board on CE0 or CE1); lora_hat = "custom" takes a [PinMap]
// from the configuration. Pin and port names are resolved through periph's
// gpioreg and spireg when the radio is opened ([OpenRadio]). Each profile
// cites its sources in profile.go.
//
// # Status LED, pairing button, watchdog
//
// An [LED] shows a [Pattern] (starting, running, pairing, upstream down) on a
// GPIO pin ([PinOutput]) or a Linux LED class device ([SysfsLED], e.g. the
// Pi's "ACT"). A [Button] on a GPIO reports debounced presses to a callback;
// the gateway opens the steward's pairing window for the configured time.
// A [Watchdog] feeds /dev/watchdog while the gateway reports itself healthy
// and disarms it with the magic close on a clean stop.
//
// Each of them runs in a Run(ctx, ...) method that blocks until ctx is done:
// the caller starts the goroutine, cancels the context and waits for it.
// Timers go through a [Clock], so tests advance time instead of sleeping.
// Nothing here logs: errors are returned, events are callbacks.
//
// # The contract with the gateway
//
// Board hardware is an accessory of the gateway, never a reason for it not
// to run. So:
//
//   - [Config.Validate] rejects a bad configuration before anything is
//     opened; its errors name the key and the value.
//   - [Detect] never fails, and [Init] on a machine that is not a Raspberry
//     Pi is not an error.
//   - [Open] opens each configured device on its own. A device that cannot
//     be opened is reported as a [*DeviceError] naming it ("lora dio0
//     GPIO22", "/dev/watchdog", "led sysfs:ACT"), joined into Open's error,
//     and left nil; everything else is opened all the same. The caller logs
//     the error and keeps the rest of the gateway running: without a radio
//     on a laptop, without an LED whose sysfs file is not writable.
//   - A Run that fails later (an LED write error) returns its error; the
//     caller logs it and carries on without that device.
//
// The daemon's wiring, in order:
//
//	info, err := cfg.Board.Resolve(board.Detect(os.DirFS("/")))
//	hw, err := board.Init(info, boardhost.Init)   // log err, continue
//	devs, err := board.Open(cfg.Board, hw)        // log err, continue
//	defer devs.Close()                            // after the loops returned
//	// go devs.LED.Run(ctx); go devs.Button.Run(ctx, openPairing);
//	// go devs.Watchdog.Run(ctx, healthy); devs.Radio to drivers/lora.
package board
