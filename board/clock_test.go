package board

import (
	"slices"
	"sync"
	"testing"
	"time"
)

// fakeClock is a manual Clock: time moves only when the test advances it.
// It counts the timers made, so a test can wait for the loop under test to
// reach its next wait instead of sleeping.
type fakeClock struct {
	mu      sync.Mutex
	elapsed time.Duration
	timers  []*fakeTimer
	created int
	changed chan struct{} // closed and replaced whenever created changes
}

type fakeTimer struct {
	c    *fakeClock
	when time.Duration
	ch   chan time.Time
}

func newFakeClock() *fakeClock { return &fakeClock{changed: make(chan struct{})} }

var epoch = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

func (c *fakeClock) NewTimer(d time.Duration) Timer {
	c.mu.Lock()
	defer c.mu.Unlock()
	t := &fakeTimer{c: c, when: c.elapsed + d, ch: make(chan time.Time, 1)}
	c.timers = append(c.timers, t)
	c.created++
	close(c.changed)
	c.changed = make(chan struct{})
	return t
}

func (t *fakeTimer) C() <-chan time.Time { return t.ch }

func (t *fakeTimer) Stop() bool {
	t.c.mu.Lock()
	defer t.c.mu.Unlock()
	i := slices.Index(t.c.timers, t)
	if i < 0 {
		return false
	}
	t.c.timers = slices.Delete(t.c.timers, i, i+1)
	return true
}

// Elapsed returns the time advanced since the clock was made.
func (c *fakeClock) Elapsed() time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.elapsed
}

// Pending returns the number of armed timers.
func (c *fakeClock) Pending() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.timers)
}

// Advance moves time forward by d and fires the timers that are due.
func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.advanceTo(c.elapsed + d)
}

// AdvanceToNext moves time to the earliest armed timer and fires it; it
// fails the test when no timer is armed.
func (c *fakeClock) AdvanceToNext(t *testing.T) {
	t.Helper()
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.timers) == 0 {
		t.Fatalf("fake clock: no timer armed at %v", c.elapsed)
	}
	next := c.timers[0].when
	for _, tm := range c.timers {
		next = min(next, tm.when)
	}
	c.advanceTo(max(next, c.elapsed))
}

func (c *fakeClock) advanceTo(to time.Duration) {
	c.elapsed = to
	kept := c.timers[:0]
	for _, tm := range c.timers {
		if tm.when <= to {
			tm.ch <- epoch.Add(to)
		} else {
			kept = append(kept, tm)
		}
	}
	clear(c.timers[len(kept):])
	c.timers = kept
}

// Created returns the number of timers made so far.
func (c *fakeClock) Created() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.created
}

// WaitCreated waits until at least n timers have been made: the loop under
// test has reached its n-th wait. It fails the test after 5 s (a loop that
// never gets there), which is a deadlock guard, not part of any timing.
func (c *fakeClock) WaitCreated(t *testing.T, n int) {
	t.Helper()
	deadline := time.After(5 * time.Second)
	for {
		c.mu.Lock()
		got, ch := c.created, c.changed
		c.mu.Unlock()
		if got >= n {
			return
		}
		select {
		case <-ch:
		case <-deadline:
			t.Fatalf("fake clock: %d timers made, waited for %d", got, n)
		}
	}
}

// WaitPending waits until at least n timers are armed.
func (c *fakeClock) WaitPending(t *testing.T, n int) {
	t.Helper()
	deadline := time.After(5 * time.Second)
	for {
		c.mu.Lock()
		got, ch := len(c.timers), c.changed
		c.mu.Unlock()
		if got >= n {
			return
		}
		select {
		case <-ch:
		case <-deadline:
			t.Fatalf("fake clock: %d timers armed, waited for %d", got, n)
		}
	}
}

func TestFakeClock(t *testing.T) {
	c := newFakeClock()
	a := c.NewTimer(100 * time.Millisecond)
	b := c.NewTimer(50 * time.Millisecond)
	c.Advance(49 * time.Millisecond)
	select {
	case <-b.C():
		t.Fatal("b fired early")
	default:
	}
	c.AdvanceToNext(t)
	if got := c.Elapsed(); got != 50*time.Millisecond {
		t.Fatalf("elapsed %v, want 50ms", got)
	}
	<-b.C()
	if !a.Stop() || a.Stop() {
		t.Fatal("Stop: want true then false")
	}
	if c.Pending() != 0 {
		t.Fatalf("pending %d", c.Pending())
	}
}

func TestSystemClock(t *testing.T) {
	tm := SystemClock().NewTimer(time.Millisecond)
	<-tm.C()
	if tm.Stop() {
		t.Fatal("Stop after firing reported true")
	}
	if orSystem(nil) == nil {
		t.Fatal("orSystem(nil) is nil")
	}
}
