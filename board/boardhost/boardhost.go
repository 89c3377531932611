// Package boardhost loads periph.io's host drivers (periph.io/x/host/v3):
// the Raspberry Pi's bcm283x and rpi headers, the Linux GPIO character
// device, sysfs SPI. It exists so that only the daemon imports them: package
// board takes its [Init] as a parameter ([board.HostInit]) and its tests run
// on machines without /dev/gpiomem.
package boardhost

import (
	"fmt"

	"periph.io/x/host/v3"

	"github.com/edgegate/edgegate/board"
)

// Init calls periph's host.Init, which loads each driver once (later calls
// return the first result). Drivers that do not apply to the machine skip
// themselves; a driver that fails (bcm283x-dma without root, say) does not
// fail Init unless periph reports an error, since board.Init then checks the
// registries it needs.
func Init() error {
	if _, err := host.Init(); err != nil {
		return fmt.Errorf("boardhost: host.Init: %w", err)
	}
	return nil
}

var _ board.HostInit = Init
