package lora

import (
	"testing"
	"time"
)

func TestDutyCycleEarliest(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	s := func(d time.Duration) time.Time { return t0.Add(d) }
	// 10% of 100 s: a 10 s budget.
	dc := dutyCycle{frac: 0.1, window: 100 * time.Second}
	if got, ok := dc.earliest(s(0), 10*time.Second, nil); !ok || !got.Equal(s(0)) {
		t.Errorf("empty: %v %v, want now", got, ok)
	}
	if _, ok := dc.earliest(s(0), 11*time.Second, nil); ok {
		t.Error("11 s of air in a 10 s budget: want never")
	}
	dc.record(s(0), 6*time.Second)
	if got := dc.used(s(6*time.Second), nil); got != 6*time.Second {
		t.Errorf("used %v, want 6s", got)
	}
	// 4 s more fit at once; 5 s once 1 s of the first has left the window:
	// at 101 s the window (1 s, 101 s] holds 5 s of it.
	if got, _ := dc.earliest(s(6*time.Second), 4*time.Second, nil); !got.Equal(s(6 * time.Second)) {
		t.Errorf("4 s: at %v", got.Sub(t0))
	}
	if got, _ := dc.earliest(s(6*time.Second), 5*time.Second, nil); !got.Equal(s(101 * time.Second)) {
		t.Errorf("5 s: at %v, want 101s", got.Sub(t0))
	}
	// Planned transmissions count like recorded ones.
	ahead := []span{{s(6 * time.Second), s(9 * time.Second)}}
	if got, _ := dc.earliest(s(9*time.Second), 2*time.Second, ahead); !got.Equal(s(101 * time.Second)) {
		t.Errorf("behind a planned one: at %v, want 101s", got.Sub(t0))
	}
	// Pruning forgets what left the window: at 105 s, 1 s is still in it.
	dc.prune(s(105 * time.Second))
	if dc.used(s(105*time.Second), nil) != time.Second || len(dc.spans) != 1 {
		t.Errorf("at 105 s: %v used, spans %v", dc.used(s(105*time.Second), nil), dc.spans)
	}
	dc.prune(s(106 * time.Second))
	if len(dc.spans) != 0 {
		t.Errorf("at 106 s: spans %v", dc.spans)
	}
}

func TestDutyCycleOff(t *testing.T) {
	now := time.Now()
	dc := dutyCycle{window: time.Hour}
	dc.record(now, time.Hour)
	if got, ok := dc.earliest(now, 2*time.Hour, nil); !ok || !got.Equal(now) || len(dc.spans) != 0 {
		t.Errorf("off: %v %v, spans %v", got, ok, dc.spans)
	}
}
