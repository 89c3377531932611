package gateway

import "golang.org/x/sys/unix"

// kernelSynced reports whether the kernel considers the clock synchronised
// (NTP through systemd-timesyncd or chrony clears STA_UNSYNC).
func kernelSynced() bool {
	var tx unix.Timex
	state, err := unix.Adjtimex(&tx)
	return err == nil && state != unix.TIME_ERROR && tx.Status&unix.STA_UNSYNC == 0
}
