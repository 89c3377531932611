package board

import (
	"context"
	"fmt"
	"sync"
	"time"
)

// Output is one light, on or off: a GPIO pin ([PinOutput]) or a Linux LED
// class device ([SysfsLED]).
type Output interface {
	Set(on bool) error
}

// Pattern is what the status LED shows.
type Pattern uint8

// Status patterns. When several states hold at once (pairing while the
// upstream is unreachable), the caller decides which one to show.
const (
	// PatternOff keeps the LED dark.
	PatternOff Pattern = iota
	// PatternStarting is a fast blink (100 ms on, 100 ms off): the gateway
	// is starting.
	PatternStarting
	// PatternRunning is steady on: the gateway runs and reaches its
	// upstream.
	PatternRunning
	// PatternPairing is a double blink (150 ms on, 150 ms off, 150 ms on,
	// 550 ms off): the pairing window is open.
	PatternPairing
	// PatternUpstreamDown is a slow blink (1 s on, 1 s off): the gateway
	// runs but cannot reach its upstream.
	PatternUpstreamDown
)

// String returns the pattern's name.
func (p Pattern) String() string {
	switch p {
	case PatternOff:
		return "off"
	case PatternStarting:
		return "starting"
	case PatternRunning:
		return "running"
	case PatternPairing:
		return "pairing"
	case PatternUpstreamDown:
		return "upstream-down"
	}
	return fmt.Sprintf("Pattern(%d)", uint8(p))
}

// Step is one phase of a pattern: the LED on or off for D. A pattern of one
// step is steady and its D is zero.
type Step struct {
	// On lights the LED.
	On bool
	// D is how long the step lasts.
	D time.Duration
}

// Steps returns one period of the pattern. An unknown pattern is off.
func (p Pattern) Steps() []Step {
	const ms = time.Millisecond
	switch p {
	case PatternStarting:
		return []Step{{true, 100 * ms}, {false, 100 * ms}}
	case PatternRunning:
		return []Step{{On: true}}
	case PatternPairing:
		return []Step{{true, 150 * ms}, {false, 150 * ms}, {true, 150 * ms}, {false, 550 * ms}}
	case PatternUpstreamDown:
		return []Step{{true, time.Second}, {false, time.Second}}
	}
	return []Step{{On: false}}
}

// LED shows a [Pattern] on an [Output]. [LED.Set] may be called at any time,
// from any goroutine, before or while [LED.Run] runs; a new pattern starts
// at its first step at once.
type LED struct {
	out   Output
	clock Clock

	mu      sync.Mutex
	pattern Pattern
	changed chan struct{} // capacity 1: "pattern changed" for Run
}

// NewLED returns an LED on out, showing PatternOff until [LED.Set]. A nil
// clock is the system clock. The LED does not own out: whoever opened it
// closes it, after Run has returned.
func NewLED(out Output, clock Clock) *LED {
	return &LED{out: out, clock: orSystem(clock), changed: make(chan struct{}, 1)}
}

// Set switches the pattern.
func (l *LED) Set(p Pattern) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if p == l.pattern {
		return
	}
	l.pattern = p
	select {
	case l.changed <- struct{}{}:
	default: // Run has a change pending already; it reads the latest pattern.
	}
}

// Pattern returns the current pattern.
func (l *LED) Pattern() Pattern {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.pattern
}

// Run drives the output until ctx is done, then switches the LED off and
// returns nil. It is called once at a time. It writes the output only when the level changes. An error
// from the output ends Run and is returned: the LED is broken, the gateway
// is not.
func (l *LED) Run(ctx context.Context) (err error) {
	lit, known := false, false
	set := func(on bool) error {
		if known && lit == on {
			return nil
		}
		if err := l.out.Set(on); err != nil {
			return fmt.Errorf("board: status led: %w", err)
		}
		lit, known = on, true
		return nil
	}
	defer func() {
		if err == nil {
			err = set(false)
		}
	}()
	for {
		// Take the pattern and the change notice together: a notice sent
		// before this read is about the pattern being read, and would
		// otherwise restart it for nothing.
		l.mu.Lock()
		select {
		case <-l.changed:
		default:
		}
		steps := l.pattern.Steps()
		l.mu.Unlock()
		restart := false
		for i := 0; !restart; i = (i + 1) % len(steps) {
			if err := set(steps[i].On); err != nil {
				return err
			}
			var fire <-chan time.Time
			var t Timer
			if len(steps) > 1 {
				t = l.clock.NewTimer(steps[i].D)
				fire = t.C()
			}
			select {
			case <-ctx.Done():
				if t != nil {
					t.Stop()
				}
				return nil
			case <-l.changed:
				if t != nil {
					t.Stop()
				}
				restart = true
			case <-fire:
			}
		}
	}
}
