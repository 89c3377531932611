package board

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync"
	"time"
)

// DefaultWatchdogInterval is the feed interval when neither an interval nor
// a timeout is configured: a third of the Raspberry Pi's bcm2835_wdt default
// (and maximum) timeout of 15 s.
const DefaultWatchdogInterval = 5 * time.Second

// WatchdogConfig tunes a [Watchdog]; zero fields take the defaults.
type WatchdogConfig struct {
	// Timeout, when set, is asked of the driver with WDIOC_SETTIMEOUT
	// (whole seconds); zero keeps the driver's timeout.
	Timeout time.Duration
	// Interval is the feed period: Timeout/3 by default, or
	// DefaultWatchdogInterval when Timeout is zero.
	Interval time.Duration
	// Clock times the feeds (the system clock when nil).
	Clock Clock
}

// Watchdog is a Linux hardware watchdog device (/dev/watchdog), following
// the kernel's watchdog API (Documentation/watchdog/watchdog-api.rst):
// opening the device arms it; every write feeds it; writing the magic
// character 'V' just before closing disarms it, where the driver supports
// the magic close and the kernel was not built with
// CONFIG_WATCHDOG_NOWAYOUT. A process that dies without the magic close
// leaves it armed, and the board resets after the timeout.
//
// Feeds write '1', never 'V': a 'V' written as a feed would let a crash
// (which closes the file) disarm the watchdog.
type Watchdog struct {
	path     string
	interval time.Duration
	timeout  time.Duration // as set by the driver; zero when unknown
	clock    Clock

	mu     sync.Mutex
	f      *os.File
	closed bool
}

// OpenWatchdog opens and so arms the watchdog at path and, when cfg.Timeout
// is set, asks the driver for that timeout. A device that does not take the
// ioctl (ENOTTY: a plain file or a FIFO, as in tests) keeps its timeout;
// one that rejects the value (EINVAL: beyond the hardware's limit, 15 s on
// a Raspberry Pi) is disarmed again and reported. Errors are
// [*DeviceError]s naming path.
func OpenWatchdog(path string, cfg WatchdogConfig) (*Watchdog, error) {
	if cfg.Interval <= 0 {
		cfg.Interval = DefaultWatchdogInterval
		if cfg.Timeout > 0 {
			cfg.Interval = cfg.Timeout / 3
		}
	}
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		return nil, deviceErr(path, err)
	}
	w := &Watchdog{path: path, interval: cfg.Interval, clock: orSystem(cfg.Clock), f: f}
	if cfg.Timeout > 0 {
		secs := int(cfg.Timeout / time.Second)
		got, err := setWatchdogTimeout(f, secs)
		switch {
		case errors.Is(err, errNoWatchdogIoctl):
		case err != nil:
			cerr := w.Close()
			return nil, deviceErr(path, errors.Join(fmt.Errorf("set timeout %ds: %w", secs, err), cerr))
		default:
			w.timeout = time.Duration(got) * time.Second
		}
	}
	return w, nil
}

// Timeout returns the timeout the driver reported when it was set; zero when
// it was not set or the device does not take the ioctl.
func (w *Watchdog) Timeout() time.Duration { return w.timeout }

// Interval returns the feed period.
func (w *Watchdog) Interval() time.Duration { return w.interval }

// Feed tells the watchdog the system is alive.
func (w *Watchdog) Feed() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return deviceErr(w.path, ErrClosed)
	}
	if _, err := w.f.Write([]byte{'1'}); err != nil {
		return deviceErr(w.path, fmt.Errorf("feed: %w", err))
	}
	return nil
}

// Run feeds the watchdog now and then every interval, each time healthy
// reports true, until ctx is done; then it returns nil, leaving the
// watchdog armed (the owner's Close disarms it). While healthy reports
// false Run skips the feeds, so a gateway that stays unhealthy for longer
// than the timeout has its board reset; one that recovers in time is fed
// again. A nil healthy counts as always healthy.
//
// A failed feed ends Run with the error; a Watchdog closed meanwhile ends
// it with nil.
func (w *Watchdog) Run(ctx context.Context, healthy func() bool) error {
	for {
		if healthy == nil || healthy() {
			if err := w.Feed(); err != nil {
				if errors.Is(err, ErrClosed) {
					return nil
				}
				return err
			}
		}
		t := w.clock.NewTimer(w.interval)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-t.C():
		}
	}
}

// Close disarms the watchdog with the magic close, writing 'V' and closing
// the device. It is idempotent; a Run still going ends at its next feed.
func (w *Watchdog) Close() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return nil
	}
	w.closed = true
	_, werr := w.f.Write([]byte{'V'})
	cerr := w.f.Close()
	if err := errors.Join(werr, cerr); err != nil {
		return deviceErr(w.path, fmt.Errorf("magic close: %w", err))
	}
	return nil
}

// String names the device.
func (w *Watchdog) String() string { return "watchdog " + w.path }
