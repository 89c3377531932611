//go:build !linux

package main

import (
	"errors"
	"os"
)

// openPTY is Linux only: the slave's raw mode is set with Linux's termios
// ioctls. Elsewhere, create a pair with socat and use -serial.
func openPTY() (master, slave *os.File, err error) {
	return nil, nil, errors.New("-pty needs Linux; elsewhere run socat and use -serial")
}
