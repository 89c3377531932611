package gateway

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"

	"github.com/edgegate/edgegate/gateway/admin"
	"github.com/edgegate/edgegate/store"
)

// Boards without a real-time clock (every Raspberry Pi but the 5 without
// its battery) boot with the time of 1970, or of the last shutdown when
// fake-hwclock restored it, until NTP sets it: the clock is then wrong by
// anything from minutes to decades, and it steps when the time is synced.
// WallClock keeps the journal sound through that:
//
//   - Readings are ordered by the journal's sequence, never by time, so a
//     step cannot reorder them.
//   - While the clock is before the plausible floor (the build time, or the
//     last time the gateway knew to be right, whichever is later), readings
//     are stamped floor + time since start on the monotonic clock instead
//     of 1970: dated too early, by at most the time the board was off, but
//     in order.
//   - A forward step of the stamping clock (the time sync) makes every
//     reading stamped before it look older than it is by the step. The step
//     is recorded (and persisted), and for MaxAge after it the store's
//     retention clock runs behind the wall clock by that much, so retention
//     by age never deletes readings for their misdated age: they go at the
//     earliest MaxAge after the sync, later ones are kept a little longer.
//   - TLS to the upstream waits until the clock is plausible (WaitSane).
//
// The floor of the next boot is saved only while the kernel reports the
// clock synchronised (adjtimex), so a clock that ran ahead can never hold
// the next boot back.

// stepThreshold is the smallest jump of the wall clock against the
// monotonic one that counts as a step (NTP slews smaller offsets).
const stepThreshold = 30 * time.Second

// saveEvery is how often the last plausible time is written to the store,
// as the floor for the next boot.
const saveEvery = 10 * time.Minute

// fallbackFloor is the earliest plausible date when the binary carries no
// build time (go test, -buildvcs=false).
var fallbackFloor = time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)

// BuildTime returns the time of the commit the binary was built from (the
// vcs.time Go stamps into binaries built in a git checkout), or a fixed
// date in 2025 when there is none.
func BuildTime() time.Time {
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, s := range bi.Settings {
			if s.Key == "vcs.time" {
				if t, err := time.Parse(time.RFC3339, s.Value); err == nil && t.After(fallbackFloor) {
					return t
				}
			}
		}
	}
	return fallbackFloor
}

// ClockSane reports whether now is a plausible wall time: not before floor.
// A board that booted without a real-time clock and without network time
// fails it.
func ClockSane(now, floor time.Time) bool { return !now.Before(floor) }

// kvClock is the store namespace of the clock's records.
const kvClock = "clock"

// clockState is what the clock persists.
type clockState struct {
	// LastGood is the last plausible time seen: the floor after a reboot.
	LastGood time.Time `json:"lastGood"`
	// Steps are the recent forward steps holding retention back.
	Steps []clockStep `json:"steps,omitempty"`
}

// clockStep is one forward step of the stamping clock: readings stamped
// before it look Amount older than they are, until Until (wall time after
// the step), when they are MaxAge old in any case.
type clockStep struct {
	Amount time.Duration `json:"amount"`
	At     time.Time     `json:"at"`
	Until  time.Time     `json:"until"`
}

// WallClock is the gateway's view of the wall time: how plausible it is,
// the stamps of readings while it is not, its steps, and the store's
// retention clock. Its methods are safe for concurrent use.
type WallClock struct {
	wall   func() time.Time     // the system's wall time, without monotonic reading
	mono   func() time.Duration // monotonic time since the clock was made
	synced func() bool          // the kernel says NTP disciplines the clock
	maxAge time.Duration
	log    *slog.Logger
	poll   time.Duration // WaitSane's polling interval

	floorNs atomic.Int64 // floor, for Stamp's lock-free fast path

	mu       sync.Mutex
	kv       *store.KV
	build    time.Time
	floor    time.Time
	base     time.Time // stamp = base + mono, as of the last check
	state    clockState
	lastSave time.Duration // mono of the last save
	sane     bool
}

// newWallClock returns a clock on the system's time; maxAge is the store's
// retention by age (0: none).
func newWallClock(maxAge time.Duration, log *slog.Logger) *WallClock {
	start := time.Now()
	return newWallClockAt(func() time.Time { return time.Now().Round(0) },
		func() time.Duration { return time.Since(start) }, kernelSynced, BuildTime(), maxAge, log)
}

func newWallClockAt(wall func() time.Time, mono func() time.Duration, synced func() bool, build time.Time, maxAge time.Duration, log *slog.Logger) *WallClock {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	c := &WallClock{wall: wall, mono: mono, synced: synced, maxAge: maxAge, log: log, poll: time.Second, build: build, floor: build}
	c.floorNs.Store(build.UnixNano())
	c.base = c.currentBase(wall(), mono())
	c.sane = ClockSane(wall(), c.floor)
	return c
}

// load reads the persisted floor and steps from kv and keeps kv for saving.
func (c *WallClock) load(kv *store.KV) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.kv = kv
	b, err := kv.Get("state")
	if errors.Is(err, store.ErrNotFound) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("gateway: clock: %w", err)
	}
	var st clockState
	if err := json.Unmarshal(b, &st); err != nil {
		c.log.Warn("clock: stored state unreadable; starting afresh", "err", err)
		return nil
	}
	c.state = st
	if st.LastGood.After(c.floor) {
		c.floor = st.LastGood
		c.floorNs.Store(c.floor.UnixNano())
	}
	w, m := c.wall(), c.mono()
	c.sane = ClockSane(w, c.floor)
	c.base = c.currentBase(w, m)
	if !c.sane {
		c.log.Warn("clock: the system clock is before the last time this gateway knew to be right; "+
			"stamping readings from that time on until the clock is set (NTP)", "clock", w, "floor", c.floor)
	}
	return nil
}

// currentBase is the stamping clock's origin: the wall time minus the
// monotonic time when the wall clock is plausible, else the floor.
func (c *WallClock) currentBase(w time.Time, m time.Duration) time.Time {
	if ClockSane(w, c.floor) {
		return w.Add(-m)
	}
	return c.floor
}

// Floor returns the earliest plausible time: the build time or the last
// plausible time the gateway saw, whichever is later.
func (c *WallClock) Floor() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.floor
}

// Sane reports whether the system clock is plausible now.
func (c *WallClock) Sane() bool { return ClockSane(c.wall(), c.Floor()) }

// Now returns the gateway's time: the system's when it is plausible, else
// the floor plus the time since start.
func (c *WallClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	w, m := c.wall(), c.mono()
	if ClockSane(w, c.floor) {
		return w
	}
	return c.estimate(m)
}

// estimate is the stamp while the wall clock is implausible.
func (c *WallClock) estimate(m time.Duration) time.Time {
	if ClockSane(c.base.Add(m), c.floor) {
		return c.base.Add(m)
	}
	return c.floor.Add(m)
}

// Stamp returns the time to journal for a reading received at t (a
// time.Now value): t itself when the clock is plausible, else the estimate.
func (c *WallClock) Stamp(t time.Time) time.Time {
	if t.UnixNano() >= c.floorNs.Load() { // the ingest path: no lock
		return t
	}
	return c.Now()
}

// retentionNow is the store's clock (Options.Now): the wall time held back
// by the recent forward steps.
func (c *WallClock) retentionNow() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	w := c.wall()
	return w.Add(-c.heldBack(w))
}

// heldBack is how far retention runs behind the wall time w; the caller
// holds mu.
func (c *WallClock) heldBack(w time.Time) time.Duration {
	var back time.Duration
	for _, s := range c.state.Steps {
		if w.Before(s.Until) {
			back += s.Amount
		}
	}
	return back
}

// check runs on the gateway's tick: it notices the clock becoming
// plausible and steps of the stamping clock, records forward steps, and
// saves the last plausible time every few minutes.
func (c *WallClock) check() {
	c.mu.Lock()
	defer c.mu.Unlock()
	w, m := c.wall(), c.mono()
	sane := ClockSane(w, c.floor)
	var base time.Time
	if sane {
		base = w.Add(-m)
	} else {
		base = c.base // the estimate keeps its origin while the clock is wrong
		if !ClockSane(base.Add(m), c.floor) {
			base = c.floor.Add(-m)
		}
	}
	step := base.Sub(c.base)
	c.base = base
	if sane != c.sane {
		c.sane = sane
		if sane {
			c.log.Info("clock: the system clock is plausible now", "clock", w, "floor", c.floor)
		} else {
			c.log.Warn("clock: the system clock went before the plausible floor; stamping readings from the floor on",
				"clock", w, "floor", c.floor)
		}
	}
	changed := false
	if step >= stepThreshold || step <= -stepThreshold {
		changed = c.stepped(step, w)
	}
	// Forget steps whose hold has passed.
	kept := c.state.Steps[:0]
	for _, s := range c.state.Steps {
		if w.Before(s.Until) {
			kept = append(kept, s)
		} else {
			changed = true
		}
	}
	c.state.Steps = kept
	// The floor of the next boot is a time NTP vouched for: a clock that
	// was merely plausible may be ahead (a bad RTC), and a floor in the
	// future would hold upstream TLS back until the world caught up. The
	// floor of this run stays what it was at start for the same reason.
	if sane && c.synced() && (changed || c.state.LastGood.IsZero() || m-c.lastSave >= saveEvery) {
		c.state.LastGood = w
		changed = true
	}
	if changed {
		c.lastSave = m
		c.save()
	}
}

// stepped records a step of the stamping clock; it reports whether the
// state changed.
func (c *WallClock) stepped(step time.Duration, w time.Time) bool {
	if step < 0 {
		c.log.Warn("clock: the system clock stepped back; readings stamped before keep their later times "+
			"(the journal's sequence keeps their order)", "step", step.Round(time.Second), "clock", w)
		return false
	}
	c.log.Info("clock: the system clock stepped forward; retention by age holds readings stamped before the step "+
		"until they are max_age old", "step", step.Round(time.Second), "clock", w)
	if c.maxAge <= 0 {
		return false
	}
	c.state.Steps = append(c.state.Steps, clockStep{Amount: step, At: w, Until: w.Add(c.maxAge)})
	return true
}

// save writes the state; the caller holds mu. A failure is logged: the
// floor and steps are a help, not a condition of running.
func (c *WallClock) save() {
	if c.kv == nil {
		return
	}
	b, err := json.Marshal(c.state)
	if err != nil {
		return
	}
	c.kv.PutAsync("state", b, func(err error) {
		if err != nil {
			c.log.Warn("clock: state not saved", "err", err)
		}
	})
}

// Status returns the clock's state.
func (c *WallClock) Status() admin.ClockStatus {
	c.mu.Lock()
	defer c.mu.Unlock()
	w := c.wall()
	return admin.ClockStatus{Now: w, Sane: ClockSane(w, c.floor), Floor: c.floor, HeldBack: c.heldBack(w)}
}

// WaitSane returns once the system clock is plausible, or ctx's error. While
// it waits it says so once, naming what waits (e.g. "upstream TLS"): a
// certificate cannot be checked against a clock in 1970.
func (c *WallClock) WaitSane(ctx context.Context, what string) error {
	if c.Sane() {
		return nil
	}
	c.log.Warn("clock: waiting for the system clock to be set before "+what+
		" (no real-time clock and no network time yet?)", "clock", c.wall(), "floor", c.Floor())
	t := time.NewTicker(c.poll)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
			if c.Sane() {
				c.log.Info("clock: set; "+what+" goes ahead", "clock", c.wall())
				return nil
			}
		}
	}
}

// Clock returns the gateway's wall clock. Upstream clients call
// WaitSane before a TLS handshake.
func (g *Gateway) Clock() *WallClock { return g.clock }
