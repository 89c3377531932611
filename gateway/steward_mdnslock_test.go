package gateway

import (
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

// lockStewardMDNS serialises the tests, across packages and processes, that
// advertise the instance "steward" on loopback: two responders for one
// instance name would mix their records in a browser's answer. Released at
// the test's end.
func lockStewardMDNS(t testing.TB) {
	t.Helper()
	f, err := os.OpenFile(filepath.Join(os.TempDir(), "edgegate-steward-mdns.lock"), os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		f.Close()
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() }) // closing releases the lock
}
