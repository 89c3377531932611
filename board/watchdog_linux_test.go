//go:build linux

package board

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

// TestWatchdogFIFO runs the watchdog against a FIFO, a reader at the other
// end: the writes arrive as they happen (nothing is buffered by a file),
// the timeout ioctl fails with ENOTTY and is ignored, and the reader sees
// the feeds, the magic 'V', then end of file.
func TestWatchdogFIFO(t *testing.T) {
	p := filepath.Join(t.TempDir(), "watchdog")
	if err := syscall.Mkfifo(p, 0o600); err != nil {
		t.Skipf("mkfifo: %v", err)
	}
	got := make(chan string, 1)
	go func() {
		f, err := os.Open(p) // blocks until OpenWatchdog opens the write end
		if err != nil {
			got <- "open: " + err.Error()
			return
		}
		defer f.Close()
		b, err := io.ReadAll(f)
		if err != nil {
			got <- "read: " + err.Error()
			return
		}
		got <- string(b)
	}()
	clk := newFakeClock()
	w, err := OpenWatchdog(p, WatchdogConfig{Timeout: 10 * time.Second, Clock: clk})
	if err != nil {
		if f, err := os.OpenFile(p, os.O_WRONLY, 0); err == nil {
			_ = f.Close() // release the reader
		}
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx, func() bool { return true }) }()
	clk.WaitPending(t, 1)
	clk.AdvanceToNext(t)
	clk.WaitPending(t, 1)
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case s := <-got:
		if s != "11V" {
			t.Fatalf("the reader saw %q, want two feeds and the magic close", s)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the reader saw no end of file")
	}
}
