//go:build linux && (386 || amd64 || arm || arm64 || riscv64 || loong64)

package board

import "testing"

// TestWatchdogIoctlNumber pins WDIOC_SETTIMEOUT to the value of
// include/uapi/linux/watchdog.h on these architectures.
func TestWatchdogIoctlNumber(t *testing.T) {
	if wdiocSetTimeout != 0xC0045706 {
		t.Fatalf("WDIOC_SETTIMEOUT = %#x, want 0xc0045706", wdiocSetTimeout)
	}
}
