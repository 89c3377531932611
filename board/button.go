package board

import (
	"context"
	"fmt"
	"time"

	"periph.io/x/conn/v3/gpio"
)

// Button defaults.
const (
	// DefaultDebounce is how long a level must hold before it counts.
	DefaultDebounce = 50 * time.Millisecond
	// DefaultButtonPoll bounds how long Button.Run takes to notice that its
	// context is done: the longest single wait for an edge.
	DefaultButtonPoll = 200 * time.Millisecond
)

// ButtonConfig tunes a [Button]; zero fields take the defaults.
type ButtonConfig struct {
	// Debounce is how long the level must stay put after an edge before the
	// button is considered pressed or released (DefaultDebounce).
	Debounce time.Duration
	// Poll is the longest wait for an edge before Run checks its context
	// (DefaultButtonPoll).
	Poll time.Duration
	// Clock times the debounce (the system clock when nil).
	Clock Clock
}

// Button is a push button between a GPIO pin and ground, read with the pin's
// pull-up: released reads high, pressed reads low. A press is reported once,
// when the pin has read low for the debounce time after a falling edge; the
// button must be released (high for the debounce time) before the next press
// counts, so holding it or contact bounce never reports twice.
type Button struct {
	pin      gpio.PinIn
	debounce time.Duration
	poll     time.Duration
	clock    Clock
}

// NewButton configures pin as an input with its pull-up and edge detection
// and returns the button. The error, a [*DeviceError], names the pin.
//
// Edges are requested on both directions, not only falling ones: seeing the
// release edge is what tells a new press from contact bounce or a held
// button without polling the level; presses still act on the falling side.
func NewButton(pin gpio.PinIn, cfg ButtonConfig) (*Button, error) {
	if cfg.Debounce <= 0 {
		cfg.Debounce = DefaultDebounce
	}
	if cfg.Poll <= 0 {
		cfg.Poll = DefaultButtonPoll
	}
	if err := pin.In(gpio.PullUp, gpio.BothEdges); err != nil {
		return nil, deviceErr("button "+pin.Name(), err)
	}
	return &Button{pin: pin, debounce: cfg.Debounce, poll: cfg.Poll, clock: orSystem(cfg.Clock)}, nil
}

// Run calls onPress for every debounced press until ctx is done, then
// returns nil (within the configured poll time). onPress runs on Run's
// goroutine: a press that happens while it runs is seen after it returns if
// the button is still down, so it should return quickly (open the pairing
// window, not wait for it to close).
//
// A button held down when Run starts is not a press: it counts once it has
// been released and pressed again. A nil onPress ignores presses. Run is
// called once at a time: it owns the pin's edges.
func (b *Button) Run(ctx context.Context, onPress func()) error {
	if onPress == nil {
		onPress = func() {}
	}
	stable := b.pin.Read()
	for {
		if ctx.Err() != nil {
			return nil
		}
		if !b.pin.WaitForEdge(b.poll) {
			continue
		}
		// An edge: wait for the contacts to settle, then take the level.
		// Edges that arrive meanwhile are bounce; the ones the driver
		// queued are read by the next WaitForEdge and settle the same way.
		t := b.clock.NewTimer(b.debounce)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-t.C():
		}
		level := b.pin.Read()
		if level == stable {
			continue
		}
		stable = level
		if level == gpio.Low {
			onPress()
		}
	}
}

// String names the button's pin.
func (b *Button) String() string { return fmt.Sprintf("button %s", b.pin.Name()) }
