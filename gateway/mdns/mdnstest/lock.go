package mdnstest

import (
	"net/url"
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

// LockInstance holds, until the test ends, a lock on the mDNS instance
// name, shared by every test process on the machine: two responders for
// one instance name would mix their records in a browser's answer, so the
// tests that advertise it (in any package) take turns. The lock is a
// flock(2) on a file in the system's temporary directory.
func LockInstance(t testing.TB, name string) {
	t.Helper()
	path := filepath.Join(os.TempDir(), "edgegate-"+url.PathEscape(name)+"-mdns.lock")
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		f.Close()
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() }) // closing releases the lock
}
