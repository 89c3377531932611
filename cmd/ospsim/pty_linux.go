//go:build linux

package main

import (
	"fmt"
	"os"
	"syscall"
	"unsafe"

	"github.com/creack/pty"
)

// openPTY creates a pseudo-terminal pair for -pty: ospsim talks on the
// master, gatewayd opens the slave's path.
//
// creack/pty leaves the master in blocking mode, where Close cannot interrupt
// a Read blocked in another goroutine (drivers/serial's link tests say the
// same), so the master is duplicated into a non-blocking descriptor that the
// runtime poller serves: read deadlines and Close both work on it.
//
// The slave is put in raw mode at once and stays open until the pair is
// closed. Raw mode matters because the line discipline treats the bytes when
// they are written to the master, not when the slave is read: packets
// written before gatewayd opens the slave (and sets raw mode itself) would
// otherwise be echoed back and have CR translated. Keeping the slave open
// means the master never reads EIO while gatewayd has it closed (starting,
// or reopening after a hangup); the bytes wait in the slave's input queue.
func openPTY() (master, slave *os.File, err error) {
	m, s, err := pty.Open()
	if err != nil {
		return nil, nil, fmt.Errorf("pty: %w", err)
	}
	if err := makeRaw(s); err != nil {
		m.Close()
		s.Close()
		return nil, nil, fmt.Errorf("pty: raw mode on %s: %w", s.Name(), err)
	}
	fd, err := syscall.Dup(int(m.Fd()))
	m.Close()
	if err == nil {
		if err = syscall.SetNonblock(fd, true); err != nil {
			syscall.Close(fd)
		}
	}
	if err != nil {
		s.Close()
		return nil, nil, fmt.Errorf("pty: master: %w", err)
	}
	return os.NewFile(uintptr(fd), "ptmx"), s, nil
}

// makeRaw sets f's terminal to raw mode, as cfmakeraw(3) does: no echo, no
// line editing, no signals, no CR/NL translation, 8 bits.
func makeRaw(f *os.File) error {
	var t syscall.Termios
	if err := ioctl(f, syscall.TCGETS, unsafe.Pointer(&t)); err != nil {
		return err
	}
	t.Iflag &^= syscall.IGNBRK | syscall.BRKINT | syscall.PARMRK | syscall.ISTRIP | syscall.INLCR |
		syscall.IGNCR | syscall.ICRNL | syscall.IXON
	t.Oflag &^= syscall.OPOST
	t.Lflag &^= syscall.ECHO | syscall.ECHONL | syscall.ICANON | syscall.ISIG | syscall.IEXTEN
	t.Cflag &^= syscall.CSIZE | syscall.PARENB
	t.Cflag |= syscall.CS8
	t.Cc[syscall.VMIN], t.Cc[syscall.VTIME] = 1, 0
	return ioctl(f, syscall.TCSETS, unsafe.Pointer(&t))
}

func ioctl(f *os.File, req uintptr, arg unsafe.Pointer) error {
	if _, _, e := syscall.Syscall(syscall.SYS_IOCTL, f.Fd(), req, uintptr(arg)); e != 0 {
		return e
	}
	return nil
}
