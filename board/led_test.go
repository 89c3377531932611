package board

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"periph.io/x/conn/v3/gpio"
	"periph.io/x/conn/v3/gpio/gpiotest"
)

const ms = time.Millisecond

// level is one write to an output: when (fake time) and what it reads back.
type level struct {
	At time.Duration
	V  string
}

func (l level) String() string { return fmt.Sprintf("%v:%s", l.At, l.V) }

// recorder wraps an Output and records, after every Set, what the hardware
// under it reads (the gpiotest pin's level, the sysfs brightness file).
type recorder struct {
	out  Output
	read func() string
	clk  *fakeClock

	mu     sync.Mutex
	levels []level
	fail   error
}

func (r *recorder) Set(on bool) error {
	if err := r.failure(); err != nil {
		return err
	}
	if err := r.out.Set(on); err != nil {
		return err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.levels = append(r.levels, level{r.clk.Elapsed(), r.read()})
	return nil
}

func (r *recorder) failure() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.fail
}

func (r *recorder) Levels() []level {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.levels)
}

func newPinRecorder(clk *fakeClock, activeLow bool) (*recorder, *gpiotest.Pin) {
	pin := &gpiotest.Pin{N: "GPIO6", Num: 6}
	return &recorder{
		out: PinOutput{Pin: pin, ActiveLow: activeLow},
		read: func() string {
			if pin.Read() == gpio.High {
				return "H"
			}
			return "L"
		},
		clk: clk,
	}, pin
}

// runLED starts l.Run and returns a stop function that cancels it and
// returns Run's error.
func runLED(t *testing.T, l *LED) (stop func() error) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- l.Run(ctx) }()
	var once sync.Once
	var err error
	stop = func() error {
		once.Do(func() {
			cancel()
			select {
			case err = <-done:
			case <-time.After(5 * time.Second):
				t.Fatal("LED.Run did not return")
			}
		})
		return err
	}
	t.Cleanup(func() { _ = stop() })
	return stop
}

// stepTimers fires the loop's timer n times, each once the loop has armed
// it; it returns when the loop has armed the next one, so the recorder holds
// every level up to the last fired step.
func stepTimers(t *testing.T, clk *fakeClock, n int) {
	t.Helper()
	for range n {
		clk.WaitPending(t, 1)
		clk.AdvanceToNext(t)
	}
	clk.WaitPending(t, 1)
}

func levels(s string) []level {
	var out []level
	for f := range strings.FieldsSeq(s) {
		at, v, _ := strings.Cut(f, ":")
		d, err := time.ParseDuration(at)
		if err != nil {
			panic(err)
		}
		out = append(out, level{d, v})
	}
	return out
}

func TestLEDPatternSequences(t *testing.T) {
	for _, tc := range []struct {
		p     Pattern
		steps int
		want  string
	}{
		{PatternStarting, 4, "0s:H 100ms:L 200ms:H 300ms:L 400ms:H"},
		{PatternPairing, 5, "0s:H 150ms:L 300ms:H 450ms:L 1s:H 1.15s:L"},
		{PatternUpstreamDown, 3, "0s:H 1s:L 2s:H 3s:L"},
	} {
		t.Run(tc.p.String(), func(t *testing.T) {
			clk := newFakeClock()
			rec, _ := newPinRecorder(clk, false)
			l := NewLED(rec, clk)
			l.Set(tc.p)
			stop := runLED(t, l)
			stepTimers(t, clk, tc.steps)
			if got, want := rec.Levels(), levels(tc.want); !slices.Equal(got, want) {
				t.Fatalf("levels\n got %v\nwant %v", got, want)
			}
			if err := stop(); err != nil {
				t.Fatal(err)
			}
			if got := rec.Levels(); got[len(got)-1].V != "L" {
				t.Fatalf("LED not off after Run: %v", got)
			}
		})
	}
}

func TestLEDSteadyPatternsUseNoTimer(t *testing.T) {
	clk := newFakeClock()
	rec, pin := newPinRecorder(clk, false)
	l := NewLED(rec, clk)
	l.Set(PatternRunning)
	stop := runLED(t, l)
	waitFor(t, func() bool { return len(rec.Levels()) == 1 })
	if pin.Read() != gpio.High {
		t.Fatal("running: LED not on")
	}
	l.Set(PatternOff)
	waitFor(t, func() bool { return len(rec.Levels()) == 2 })
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	if got, want := rec.Levels(), levels("0s:H 0s:L"); !slices.Equal(got, want) {
		t.Fatalf("levels %v, want %v", got, want)
	}
	if clk.Created() != 0 {
		t.Fatalf("steady patterns made %d timers", clk.Created())
	}
}

// TestLEDSwitchMidPeriod switches pattern in the middle of a step: the new
// pattern starts at its first step at once, the old timer is stopped, and
// an unchanged level is not written again.
func TestLEDSwitchMidPeriod(t *testing.T) {
	clk := newFakeClock()
	rec, _ := newPinRecorder(clk, false)
	l := NewLED(rec, clk)
	l.Set(PatternStarting)
	runLED(t, l)
	stepTimers(t, clk, 1) // 0 on, 100ms off, timer to 200ms
	clk.Advance(50 * ms)  // 150ms: mid "off"
	n := clk.Created()
	l.Set(PatternUpstreamDown)
	clk.WaitCreated(t, n+1) // 150ms on, timer to 1.15s
	if clk.Pending() != 1 {
		t.Fatalf("%d timers armed, want the new pattern's only", clk.Pending())
	}
	stepTimers(t, clk, 1) // 1.15s off
	if got, want := rec.Levels(), levels("0s:H 100ms:L 150ms:H 1.15s:L"); !slices.Equal(got, want) {
		t.Fatalf("levels\n got %v\nwant %v", got, want)
	}

	// Running lights it at once and arms no timer.
	n = clk.Created()
	l.Set(PatternRunning)
	waitFor(t, func() bool { return len(rec.Levels()) == 5 })
	if clk.Created() != n || clk.Pending() != 0 {
		t.Fatalf("running armed a timer (created %d→%d, pending %d)", n, clk.Created(), clk.Pending())
	}
	// Same level, new pattern: pairing's first step is "on" as well, so
	// nothing is written until its first "off".
	l.Set(PatternPairing)
	stepTimers(t, clk, 1)
	if got, want := rec.Levels(), levels("0s:H 100ms:L 150ms:H 1.15s:L 1.15s:H 1.3s:L"); !slices.Equal(got, want) {
		t.Fatalf("levels\n got %v\nwant %v", got, want)
	}
}

func TestLEDSetBeforeRunAndPattern(t *testing.T) {
	l := NewLED(PinOutput{Pin: &gpiotest.Pin{N: "X"}}, nil)
	if l.Pattern() != PatternOff {
		t.Fatalf("initial pattern %v", l.Pattern())
	}
	l.Set(PatternPairing)
	l.Set(PatternStarting) // coalesced with the pending change
	if l.Pattern() != PatternStarting {
		t.Fatalf("pattern %v", l.Pattern())
	}
}

func TestLEDActiveLow(t *testing.T) {
	clk := newFakeClock()
	rec, pin := newPinRecorder(clk, true)
	l := NewLED(rec, clk)
	l.Set(PatternRunning)
	stop := runLED(t, l)
	waitFor(t, func() bool { return len(rec.Levels()) == 1 })
	if pin.Read() != gpio.Low {
		t.Fatal("active-low LED on: pin not low")
	}
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	if pin.Read() != gpio.High {
		t.Fatal("active-low LED off: pin not high")
	}
}

func TestLEDOutputErrorEndsRun(t *testing.T) {
	clk := newFakeClock()
	rec, _ := newPinRecorder(clk, false)
	rec.fail = errors.New("EIO")
	l := NewLED(rec, clk)
	l.Set(PatternStarting)
	err := l.Run(context.Background())
	if err == nil || !strings.Contains(err.Error(), "status led") || !strings.Contains(err.Error(), "EIO") {
		t.Fatalf("Run error %v", err)
	}
}

func TestPatternStringsAndSteps(t *testing.T) {
	for p := PatternOff; p <= PatternUpstreamDown; p++ {
		if strings.HasPrefix(p.String(), "Pattern(") {
			t.Errorf("%d has no name", p)
		}
		var period time.Duration
		for _, s := range p.Steps() {
			period += s.D
		}
		if n := len(p.Steps()); n > 1 && period < 200*ms {
			t.Errorf("%v: period %v too short to see", p, period)
		}
	}
	if got := Pattern(42).String(); got != "Pattern(42)" {
		t.Errorf("String() = %q", got)
	}
	if got := Pattern(42).Steps(); len(got) != 1 || got[0].On {
		t.Errorf("unknown pattern steps %v, want off", got)
	}
}

// sysfsLEDDir makes a fake /sys/class/leds/NAME directory.
func sysfsLEDDir(t *testing.T, maxBrightness, trigger string) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "ACT")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	files := map[string]string{"brightness": "0\n"}
	if maxBrightness != "" {
		files["max_brightness"] = maxBrightness
	}
	if trigger != "" {
		files["trigger"] = trigger
	}
	for name, v := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(v), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func readAttr(t *testing.T, dir, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, name))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestSysfsLED(t *testing.T) {
	dir := sysfsLEDDir(t, "255\n", "none rc-feedback timer [mmc0] heartbeat\n")
	l, err := OpenSysfsLED(dir, false)
	if err != nil {
		t.Fatal(err)
	}
	if got := readAttr(t, dir, "trigger"); got != "none\n" {
		t.Fatalf("trigger after open %q, want none", got)
	}
	if err := l.Set(true); err != nil {
		t.Fatal(err)
	}
	if got := readAttr(t, dir, "brightness"); got != "255\n" {
		t.Fatalf("brightness on %q", got)
	}
	if err := l.Set(false); err != nil {
		t.Fatal(err)
	}
	if got := readAttr(t, dir, "brightness"); got != "0\n" {
		t.Fatalf("brightness off %q", got)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if got := readAttr(t, dir, "trigger"); got != "mmc0\n" {
		t.Fatalf("trigger after close %q, want mmc0 restored", got)
	}
	if err := l.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if err := l.Set(true); !errors.Is(err, ErrClosed) {
		t.Fatalf("Set after Close: %v", err)
	}
}

func TestSysfsLEDVariants(t *testing.T) {
	t.Run("no trigger, no max_brightness, active low", func(t *testing.T) {
		dir := sysfsLEDDir(t, "", "")
		l, err := OpenSysfsLED(dir, true)
		if err != nil {
			t.Fatal(err)
		}
		if err := l.Set(true); err != nil {
			t.Fatal(err)
		}
		if got := readAttr(t, dir, "brightness"); got != "0\n" {
			t.Fatalf("active-low on wrote %q", got)
		}
		if err := l.Set(false); err != nil {
			t.Fatal(err)
		}
		if got := readAttr(t, dir, "brightness"); got != "1\n" {
			t.Fatalf("active-low off wrote %q", got)
		}
		if err := l.Close(); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("trigger already none is left alone", func(t *testing.T) {
		dir := sysfsLEDDir(t, "1", "[none] mmc0\n")
		l, err := OpenSysfsLED(dir, false)
		if err != nil {
			t.Fatal(err)
		}
		if err := l.Close(); err != nil {
			t.Fatal(err)
		}
		if got := readAttr(t, dir, "trigger"); got != "[none] mmc0\n" {
			t.Fatalf("trigger rewritten: %q", got)
		}
	})
	t.Run("missing device", func(t *testing.T) {
		_, err := OpenSysfsLED(filepath.Join(t.TempDir(), "nope"), false)
		if err == nil || !strings.Contains(err.Error(), "nope") {
			t.Fatalf("err %v, want one naming the directory", err)
		}
	})
}

// TestLEDOnSysfs drives a pattern through the LED class output and reads
// the brightness file back after every write.
func TestLEDOnSysfs(t *testing.T) {
	dir := sysfsLEDDir(t, "1\n", "none [heartbeat]\n")
	s, err := OpenSysfsLED(dir, false)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	clk := newFakeClock()
	rec := &recorder{out: s, clk: clk, read: func() string { return strings.TrimSpace(readAttr(t, dir, "brightness")) }}
	l := NewLED(rec, clk)
	l.Set(PatternUpstreamDown)
	stop := runLED(t, l)
	stepTimers(t, clk, 2)
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	if got, want := rec.Levels(), levels("0s:1 1s:0 2s:1 2s:0"); !slices.Equal(got, want) {
		t.Fatalf("levels\n got %v\nwant %v", got, want)
	}
}

// waitFor polls cond for what a goroutine does without a timer (a steady
// pattern's single write); it is a deadlock guard, not a timing.
func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not reached in 5s")
		}
		time.Sleep(100 * time.Microsecond)
	}
}
