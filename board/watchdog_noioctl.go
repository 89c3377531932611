//go:build !(linux && (386 || amd64 || arm || arm64 || riscv64 || loong64))

package board

import (
	"errors"
	"fmt"
	"os"
)

// setWatchdogTimeout is not implemented here: the ioctl encoding differs (or
// the OS has no Linux watchdog API), so a configured timeout is an error
// rather than silently ignored.
func setWatchdogTimeout(*os.File, int) (int, error) {
	return 0, fmt.Errorf("WDIOC_SETTIMEOUT: %w", errors.ErrUnsupported)
}

// errNoWatchdogIoctl is never returned on this platform.
var errNoWatchdogIoctl = errors.New("not a watchdog device (ENOTTY)")
