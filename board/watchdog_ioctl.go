//go:build linux && (386 || amd64 || arm || arm64 || riscv64 || loong64)

package board

import (
	"errors"
	"os"
	"syscall"
	"unsafe"
)

// wdiocSetTimeout is WDIOC_SETTIMEOUT, _IOWR('W', 6, int) in
// include/uapi/linux/watchdog.h, with the generic ioctl encoding (dir<<30 |
// size<<16 | type<<8 | nr) of these architectures; mips, powerpc and sparc
// encode differently and take the other file.
const wdiocSetTimeout uintptr = 3<<30 | 4<<16 | 'W'<<8 | 6

// setWatchdogTimeout asks the driver for secs and returns the timeout it
// set (drivers round to what the hardware can do).
func setWatchdogTimeout(f *os.File, secs int) (int, error) {
	rc, err := f.SyscallConn()
	if err != nil {
		return 0, err
	}
	v := int32(secs)
	var errno syscall.Errno
	if err := rc.Control(func(fd uintptr) {
		_, _, errno = syscall.Syscall(syscall.SYS_IOCTL, fd, wdiocSetTimeout, uintptr(unsafe.Pointer(&v)))
	}); err != nil {
		return 0, err
	}
	switch {
	case errno == syscall.ENOTTY:
		return 0, errNoWatchdogIoctl
	case errno != 0:
		return 0, errno
	}
	return int(v), nil
}

// errNoWatchdogIoctl reports a file that is not a watchdog driver (ENOTTY).
var errNoWatchdogIoctl = errors.New("not a watchdog device (ENOTTY)")
