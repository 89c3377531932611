package board

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"
)

// tempWatchdog is a regular file standing in for /dev/watchdog: it takes
// the writes, and the timeout ioctl fails with ENOTTY.
func tempWatchdog(t *testing.T) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "watchdog")
	if err := os.WriteFile(p, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func fileContent(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestWatchdogFeedsWhileHealthy runs the feed loop against a plain file: one
// feed per interval while healthy, none while not, and the magic 'V' last.
func TestWatchdogFeedsWhileHealthy(t *testing.T) {
	p := tempWatchdog(t)
	clk := newFakeClock()
	w, err := OpenWatchdog(p, WatchdogConfig{Timeout: 15 * time.Second, Clock: clk})
	if err != nil {
		t.Fatal(err)
	}
	if w.Timeout() != 0 {
		t.Fatalf("Timeout() = %v on a plain file, want 0 (ioctl not taken)", w.Timeout())
	}
	if w.Interval() != 5*time.Second {
		t.Fatalf("Interval() = %v, want timeout/3", w.Interval())
	}
	var healthy atomic.Bool
	healthy.Store(true)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx, healthy.Load) }()

	// tick fires the loop's timer and returns once the loop has decided on
	// the feed and armed the next one.
	tick := func() {
		t.Helper()
		clk.WaitPending(t, 1)
		clk.AdvanceToNext(t)
		clk.WaitPending(t, 1)
	}
	clk.WaitPending(t, 1)
	if got := fileContent(t, p); got != "1" {
		t.Fatalf("after start %q, want one feed", got)
	}
	tick()
	tick()
	if got := fileContent(t, p); got != "111" {
		t.Fatalf("after two intervals %q", got)
	}
	healthy.Store(false)
	tick()
	tick()
	if got := fileContent(t, p); got != "111" {
		t.Fatalf("fed while unhealthy: %q", got)
	}
	healthy.Store(true)
	tick()
	if got := fileContent(t, p); got != "1111" {
		t.Fatalf("not fed after recovery: %q", got)
	}
	if clk.Elapsed() != 25*time.Second {
		t.Fatalf("elapsed %v, want 5 intervals", clk.Elapsed())
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if got := fileContent(t, p); got != "1111V" {
		t.Fatalf("after Close %q, want the magic V last", got)
	}
	if err := w.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if err := w.Feed(); !errors.Is(err, ErrClosed) {
		t.Fatalf("Feed after Close: %v", err)
	}
	if err := w.Run(context.Background(), nil); err != nil {
		t.Fatalf("Run after Close: %v", err)
	}
	if got := fileContent(t, p); got != "1111V" {
		t.Fatalf("written after Close: %q", got)
	}
}

// TestWatchdogCloseEndsRun closes the watchdog under a running loop: the
// next feed sees it closed and Run returns nil.
func TestWatchdogCloseEndsRun(t *testing.T) {
	p := tempWatchdog(t)
	clk := newFakeClock()
	w, err := OpenWatchdog(p, WatchdogConfig{Interval: time.Second, Clock: clk})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- w.Run(context.Background(), nil) }()
	clk.WaitPending(t, 1)
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	clk.AdvanceToNext(t)
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not end after Close")
	}
	if got := fileContent(t, p); got != "1V" {
		t.Fatalf("content %q", got)
	}
}

func TestWatchdogDefaultsAndErrors(t *testing.T) {
	w, err := OpenWatchdog(tempWatchdog(t), WatchdogConfig{})
	if err != nil {
		t.Fatal(err)
	}
	if w.Interval() != DefaultWatchdogInterval {
		t.Fatalf("default interval %v", w.Interval())
	}
	if w.String() == "" {
		t.Fatal("empty String()")
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}

	missing := filepath.Join(t.TempDir(), "watchdog0")
	_, err = OpenWatchdog(missing, WatchdogConfig{})
	var de *DeviceError
	if !errors.As(err, &de) || de.Device != missing || !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("err %v, want a DeviceError naming %s", err, missing)
	}
}

// TestWatchdogFeedError closes the file under the Watchdog, as if the
// device went away: the feed fails and Run returns it, naming the device.
func TestWatchdogFeedError(t *testing.T) {
	p := tempWatchdog(t)
	w, err := OpenWatchdog(p, WatchdogConfig{Clock: newFakeClock()})
	if err != nil {
		t.Fatal(err)
	}
	_ = w.f.Close() // the device goes away under the watchdog
	err = w.Run(context.Background(), nil)
	var de *DeviceError
	if !errors.As(err, &de) || de.Device != p {
		t.Fatalf("Run error %v, want a DeviceError naming %s", err, p)
	}
	if err := w.Close(); err == nil {
		t.Fatal("Close on a dead file reported no error")
	}
}
