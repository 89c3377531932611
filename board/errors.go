package board

import "errors"

// Sentinel errors. Each is returned wrapped (test with [errors.Is]); device
// failures come inside a [*DeviceError] that names the device.
var (
	// ErrInvalidConfig is returned by [Config.Validate] (and by the functions
	// that resolve a configuration) for a key whose value cannot be used; the
	// message names the key and the value.
	ErrInvalidConfig = errors.New("board: invalid configuration")

	// ErrNotFound is returned when a GPIO pin or SPI port name is not in
	// periph's registries (gpioreg, spireg): the host was not initialised,
	// the name is wrong, or the board has no such line.
	ErrNotFound = errors.New("board: not found")

	// ErrUnavailable is returned when a device needs GPIO or SPI and [Init]
	// reported them unavailable (a generic machine, or a failed host init).
	ErrUnavailable = errors.New("board: unavailable on this machine")

	// ErrClosed is returned by a [Watchdog] used after Close.
	ErrClosed = errors.New("board: closed")
)

// DeviceError reports a device that could not be opened or driven. Device
// names it the way an operator would look for it ("lora dio0 GPIO22",
// "/dev/watchdog", "led sysfs:ACT").
//
// A DeviceError concerns that device only: the gateway keeps running without
// it (see the package documentation).
type DeviceError struct {
	// Device names the device.
	Device string
	// Err is what went wrong.
	Err error
}

// Error implements error.
func (e *DeviceError) Error() string { return "board: " + e.Device + ": " + e.Err.Error() }

// Unwrap returns the underlying error.
func (e *DeviceError) Unwrap() error { return e.Err }

func deviceErr(device string, err error) error {
	if err == nil {
		return nil
	}
	return &DeviceError{Device: device, Err: err}
}
