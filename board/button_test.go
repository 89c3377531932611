package board

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"periph.io/x/conn/v3/gpio"
	"periph.io/x/conn/v3/gpio/gpiotest"
)

// buttonRig is a Button on a gpiotest pin whose edges the test sends one at
// a time through an unbuffered channel: a send returns once Run has taken
// the edge, so the test always knows where the loop is.
type buttonRig struct {
	t       *testing.T
	pin     *gpiotest.Pin
	clk     *fakeClock
	b       *Button
	presses atomic.Int32
	cancel  context.CancelFunc
	done    chan error
}

func newButtonRig(t *testing.T, before func(*gpiotest.Pin)) *buttonRig {
	t.Helper()
	r := &buttonRig{
		t:    t,
		pin:  &gpiotest.Pin{N: "GPIO5", Num: 5, EdgesChan: make(chan gpio.Level)},
		clk:  newFakeClock(),
		done: make(chan error, 1),
	}
	b, err := NewButton(r.pin, ButtonConfig{Clock: r.clk, Poll: 2 * ms})
	if err != nil {
		t.Fatal(err)
	}
	if r.pin.Pull() != gpio.PullUp {
		t.Fatalf("pull %v, want up", r.pin.Pull())
	}
	if before != nil {
		before(r.pin)
	}
	r.b = b
	var ctx context.Context
	ctx, r.cancel = context.WithCancel(context.Background())
	go func() { r.done <- b.Run(ctx, func() { r.presses.Add(1) }) }()
	t.Cleanup(func() { r.stop() })
	return r
}

func (r *buttonRig) setLevel(l gpio.Level) {
	r.pin.Lock()
	r.pin.L = l
	r.pin.Unlock()
}

// edge delivers an edge (the pin then reads l) and returns once Run is
// waiting out the debounce.
func (r *buttonRig) edge(l gpio.Level) {
	r.t.Helper()
	n := r.clk.Created()
	select {
	case r.pin.EdgesChan <- l:
	case <-time.After(5 * time.Second):
		r.t.Fatal("Run is not waiting for edges")
	}
	r.clk.WaitCreated(r.t, n+1)
}

// settle ends the debounce; Run then reads the level.
func (r *buttonRig) settle() { r.clk.Advance(DefaultDebounce) }

// sync returns once Run has finished with the previous edge: it delivers
// one more edge at the current level, which changes nothing.
func (r *buttonRig) sync() {
	r.t.Helper()
	r.edge(r.pin.Read())
	r.settle()
}

func (r *buttonRig) stop() error {
	r.cancel()
	select {
	case err := <-r.done:
		r.done <- err
		return err
	case <-time.After(5 * time.Second):
		r.t.Fatal("Button.Run did not return")
		return nil
	}
}

func (r *buttonRig) wantPresses(n int32) {
	r.t.Helper()
	r.sync()
	if got := r.presses.Load(); got != n {
		r.t.Fatalf("presses %d, want %d", got, n)
	}
}

func TestButtonPress(t *testing.T) {
	r := newButtonRig(t, nil)
	r.edge(gpio.Low)
	r.settle()
	r.wantPresses(1)
}

func TestButtonDebounceAndHold(t *testing.T) {
	r := newButtonRig(t, nil)
	// Press with bounce: the falling edge, then more bounce edges while the
	// button stays down. One press.
	r.edge(gpio.Low)
	r.settle()
	r.edge(gpio.Low)
	r.settle()
	r.edge(gpio.Low)
	r.settle()
	r.wantPresses(1)
	// Release, with a bounce edge reading low that settles high.
	r.edge(gpio.High)
	r.settle()
	r.edge(gpio.Low)
	r.setLevel(gpio.High)
	r.settle()
	r.wantPresses(1)
	// A new press counts.
	r.edge(gpio.Low)
	r.settle()
	r.wantPresses(2)
}

// TestButtonGlitch is a falling edge whose level is back high before the
// debounce time: noise, not a press.
func TestButtonGlitch(t *testing.T) {
	r := newButtonRig(t, nil)
	r.edge(gpio.Low)
	r.setLevel(gpio.High)
	r.settle()
	r.wantPresses(0)
}

// TestButtonHeldAtStart: a button already down when Run starts is not a
// press until it is released and pressed again.
func TestButtonHeldAtStart(t *testing.T) {
	r := newButtonRig(t, func(p *gpiotest.Pin) { p.L = gpio.Low })
	r.edge(gpio.Low)
	r.settle()
	r.wantPresses(0)
	r.edge(gpio.High)
	r.settle()
	r.edge(gpio.Low)
	r.settle()
	r.wantPresses(1)
}

func TestButtonStops(t *testing.T) {
	t.Run("waiting for an edge", func(t *testing.T) {
		r := newButtonRig(t, nil)
		if err := r.stop(); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("during the debounce", func(t *testing.T) {
		r := newButtonRig(t, nil)
		r.edge(gpio.Low)
		if err := r.stop(); err != nil {
			t.Fatal(err)
		}
		if r.presses.Load() != 0 {
			t.Fatal("a press reported after cancel")
		}
		if r.clk.Pending() != 0 {
			t.Fatal("debounce timer left armed")
		}
	})
}

// failingPin refuses In.
type failingPin struct{ gpiotest.Pin }

func (p *failingPin) In(gpio.Pull, gpio.Edge) error { return errors.New("EBUSY") }

func TestNewButtonError(t *testing.T) {
	_, err := NewButton(&failingPin{gpiotest.Pin{N: "GPIO5"}}, ButtonConfig{})
	var de *DeviceError
	if !errors.As(err, &de) || de.Device != "button GPIO5" || !strings.Contains(err.Error(), "EBUSY") {
		t.Fatalf("err %v, want a DeviceError naming button GPIO5", err)
	}
}

func TestButtonDefaults(t *testing.T) {
	b, err := NewButton(&gpiotest.Pin{N: "GPIO12", EdgesChan: make(chan gpio.Level)}, ButtonConfig{})
	if err != nil {
		t.Fatal(err)
	}
	if b.debounce != DefaultDebounce || b.poll != DefaultButtonPoll {
		t.Fatalf("defaults %v %v", b.debounce, b.poll)
	}
	if b.String() != "button GPIO12" {
		t.Fatalf("String() %q", b.String())
	}
}
