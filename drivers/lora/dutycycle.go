package lora

import (
	"math"
	"slices"
	"time"
)

// dutyCycle accounts transmissions over a sliding window: at any instant t,
// the airtime inside (t − window, t] must stay within frac·window. A
// transmission starting at t with airtime a is allowed when the airtime
// already inside (t − window, t] plus a fits the budget; since the past
// only slides out of later windows (at most as fast as the new transmission
// enters them), every window that contains part of it then fits too.
//
// It is not safe for concurrent use; Link guards it with its lock.
type dutyCycle struct {
	frac   float64       // 0: unlimited
	window time.Duration // the sliding window (1 h for ETSI EN 300 220)
	spans  []span        // past transmissions, oldest first
}

// span is one transmission: [start, end).
type span struct{ start, end time.Time }

func (dc *dutyCycle) on() bool { return dc.frac > 0 }

// budget is the airtime allowed per window.
func (dc *dutyCycle) budget() time.Duration {
	return time.Duration(dc.frac * float64(dc.window))
}

// record accounts a transmission of air starting at start.
func (dc *dutyCycle) record(start time.Time, air time.Duration) {
	if dc.on() {
		dc.spans = append(dc.spans, span{start, start.Add(air)})
	}
}

// prune forgets transmissions that ended a window or more before now.
func (dc *dutyCycle) prune(now time.Time) {
	from := now.Add(-dc.window)
	i := 0
	for i < len(dc.spans) && !dc.spans[i].end.After(from) {
		i++
	}
	dc.spans = slices.Delete(dc.spans, 0, i)
}

// used is the airtime of the recorded spans and extra after t − window. A
// span still running at t counts whole: with a real clock none is (Transmit
// returns after the packet), but planned spans and manual clocks need it.
func (dc *dutyCycle) used(t time.Time, extra []span) time.Duration {
	from := t.Add(-dc.window)
	var sum time.Duration
	for _, set := range [2][]span{dc.spans, extra} {
		for _, s := range set {
			lo := s.start
			if lo.Before(from) {
				lo = from
			}
			if s.end.After(lo) {
				sum += s.end.Sub(lo)
			}
		}
	}
	return sum
}

// earliest returns the first instant at or after from at which a
// transmission of air fits the budget, given the recorded spans and extra
// (transmissions planned before it, all ending by from). ok is false when air
// exceeds the whole budget. With the limit off it returns from.
func (dc *dutyCycle) earliest(from time.Time, air time.Duration, extra []span) (t time.Time, ok bool) {
	if !dc.on() {
		return from, true
	}
	target := dc.budget() - air
	if target < 0 {
		return time.Time{}, false
	}
	u := dc.used(from, extra)
	if u <= target {
		return from, true
	}
	// used(t) is non-increasing and linear between the instants where a
	// span's start or end leaves the window: find the segment where it
	// falls to target and interpolate.
	var bps []time.Time
	for _, set := range [2][]span{dc.spans, extra} {
		for _, s := range set {
			for _, b := range [2]time.Time{s.start.Add(dc.window), s.end.Add(dc.window)} {
				if b.After(from) {
					bps = append(bps, b)
				}
			}
		}
	}
	slices.SortFunc(bps, func(a, b time.Time) int { return a.Compare(b) })
	prev, uprev := from, u
	for _, b := range bps {
		ub := dc.used(b, extra)
		if ub <= target {
			frac := float64(uprev-target) / float64(uprev-ub)
			return prev.Add(time.Duration(math.Ceil(frac * float64(b.Sub(prev))))), true
		}
		prev, uprev = b, ub
	}
	return prev, true // not reached: after the last breakpoint nothing is used
}
