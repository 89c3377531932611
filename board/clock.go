package board

import "time"

// Clock makes the timers of the LED, Button and Watchdog loops. Production
// code uses [SystemClock]; tests pass a manual clock and advance it, so they
// assert exact sequences without sleeping.
type Clock interface {
	NewTimer(d time.Duration) Timer
}

// Timer is a one-shot timer made by a [Clock].
type Timer interface {
	// C delivers the time once the timer fires.
	C() <-chan time.Time
	// Stop prevents the timer from firing; it reports whether it did.
	Stop() bool
}

// SystemClock returns the Clock of package time.
func SystemClock() Clock { return systemClock{} }

type systemClock struct{}

// NewTimer returns a time.Timer.
func (systemClock) NewTimer(d time.Duration) Timer { return sysTimer{time.NewTimer(d)} }

type sysTimer struct{ t *time.Timer }

// C returns the timer's channel.
func (t sysTimer) C() <-chan time.Time { return t.t.C }

// Stop stops the timer.
func (t sysTimer) Stop() bool { return t.t.Stop() }

func orSystem(c Clock) Clock {
	if c == nil {
		return SystemClock()
	}
	return c
}
