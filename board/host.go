package board

import (
	"errors"
	"fmt"

	"periph.io/x/conn/v3/gpio/gpioreg"
	"periph.io/x/conn/v3/spi/spireg"
)

// HostInit loads the host's GPIO and SPI drivers into periph's registries.
// The daemon passes [github.com/edgegate/edgegate/board/boardhost.Init],
// which calls periph.io/x/host/v3's host.Init; keeping it a parameter keeps
// periph's host drivers (and their /dev/gpiomem probing) out of this
// package's import graph, so its tests run on any machine.
type HostInit func() error

// Hardware reports what [Init] made available.
type Hardware struct {
	// Board is the board Init was called for.
	Board Info
	// GPIO reports whether periph's gpioreg holds at least one pin.
	GPIO bool
	// SPI reports whether periph's spireg holds at least one port.
	SPI bool
	// Reason explains, for the log and the status page, why GPIO or SPI is
	// unavailable; empty when both are available.
	Reason string
}

// Init prepares the host's GPIO and SPI for board.
//
// On a Raspberry Pi (detected, or forced by the configuration) it calls
// hostInit once and then reports which of GPIO and SPI the registries hold.
// On any other machine it does nothing, hostInit is not called, and the
// Hardware says that GPIO and SPI are unavailable: "not this board" is a
// skip, not a failure, so Init returns no error.
//
// An error means that the host drivers failed to load on a Raspberry Pi; the
// returned Hardware is still valid (GPIO and SPI false) and the gateway runs
// on without them.
func Init(board Info, hostInit HostInit) (Hardware, error) {
	hw := Hardware{Board: board}
	if !board.IsRaspberryPi() {
		hw.Reason = fmt.Sprintf("%s is not a Raspberry Pi: GPIO and SPI unavailable", board.Model.Name)
		return hw, nil
	}
	if hostInit == nil {
		hw.Reason = "no host driver initialiser: GPIO and SPI unavailable"
		return hw, fmt.Errorf("board: init %s: %w", board.Model.Name, errors.New("no HostInit function"))
	}
	if err := hostInit(); err != nil {
		hw.Reason = "host drivers failed to load: GPIO and SPI unavailable"
		return hw, fmt.Errorf("board: init %s: %w", board.Model.Name, err)
	}
	hw.GPIO = len(gpioreg.All()) > 0
	hw.SPI = len(spireg.All()) > 0
	switch {
	case !hw.GPIO && !hw.SPI:
		hw.Reason = "no GPIO pin and no SPI port registered (permissions on /dev/gpiomem, /dev/gpiochip*, /dev/spidev*? SPI enabled with dtparam=spi=on?)"
	case !hw.GPIO:
		hw.Reason = "no GPIO pin registered (permissions on /dev/gpiomem or /dev/gpiochip*?)"
	case !hw.SPI:
		hw.Reason = "no SPI port registered (SPI enabled with dtparam=spi=on? permissions on /dev/spidev*?)"
	}
	return hw, nil
}
