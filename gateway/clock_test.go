package gateway

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/edgegate/edgegate/store"
	"github.com/edgegate/edgegate/store/storetest"
)

// fakeTime is a wall clock and a monotonic clock the test moves apart.
type fakeTime struct {
	mu   sync.Mutex
	wall time.Time
	mono time.Duration
}

func (f *fakeTime) Wall() time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.wall
}

func (f *fakeTime) Mono() time.Duration {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.mono
}

// advance moves both clocks by d, as time passing does.
func (f *fakeTime) advance(d time.Duration) {
	f.mu.Lock()
	f.wall, f.mono = f.wall.Add(d), f.mono+d
	f.mu.Unlock()
}

// set steps the wall clock only, as NTP does.
func (f *fakeTime) set(t time.Time) {
	f.mu.Lock()
	f.wall = t
	f.mu.Unlock()
}

var build = time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)

func TestClockSane(t *testing.T) {
	for _, tc := range []struct {
		now  time.Time
		want bool
	}{
		{time.Unix(0, 0), false},
		{build.Add(-time.Second), false},
		{build, true},
		{build.AddDate(3, 0, 0), true},
	} {
		if got := ClockSane(tc.now, build); got != tc.want {
			t.Errorf("ClockSane(%v) = %v", tc.now, got)
		}
	}
	if bt := BuildTime(); bt.Before(fallbackFloor) {
		t.Errorf("BuildTime %v before the fallback floor", bt)
	}
}

// TestNoRTCBootStampsFromTheFloorAndRetentionWaitsAfterTheSync is the
// Raspberry Pi without a real-time clock: it boots in 1970, stamps its
// readings from the last known time on, then NTP steps the clock forward
// by years. Retention by age (MaxAge 1h) must not delete those readings at
// the next pass: they go only once they are really an hour old.
func TestNoRTCBootStampsFromTheFloorAndRetentionWaitsAfterTheSync(t *testing.T) {
	ft := &fakeTime{wall: time.Unix(3600, 0).UTC()} // 1970, as a Pi without RTC boots
	const maxAge = time.Hour
	clk := newWallClockAt(ft.Wall, ft.Mono, func() bool { return true }, build, maxAge, nil)
	db := storetest.MustOpen(t, store.Options{MaxAge: maxAge, Now: clk.retentionNow, PruneInterval: -1})
	// The floor from the previous run: a day after the build.
	lastGood := build.Add(24 * time.Hour)
	kv := db.KV(kvClock)
	if err := kv.Put("state", []byte(`{"lastGood":"`+lastGood.Format(time.RFC3339Nano)+`"}`)); err != nil {
		t.Fatal(err)
	}
	if err := clk.load(kv); err != nil {
		t.Fatal(err)
	}
	if clk.Sane() || !clk.Floor().Equal(lastGood) {
		t.Fatalf("sane %v floor %v", clk.Sane(), clk.Floor())
	}
	ctx := context.Background()
	var stamps []time.Time
	for range 3 {
		ft.advance(10 * time.Second)
		clk.check()
		at := clk.Stamp(time.Unix(3600, 0)) // what the OSP server saw: 1970
		stamps = append(stamps, at)
		if _, err := db.Append(ctx, store.Reading{Time: at, Device: store.DeviceID{Type: 1, Module: 1}, Payload: []byte{1}}); err != nil {
			t.Fatal(err)
		}
	}
	for i, at := range stamps {
		if at.Before(lastGood) || (i > 0 && !at.After(stamps[i-1])) {
			t.Fatalf("stamps %v: before the floor or out of order", stamps)
		}
	}
	if err := db.SetCursor("upstream", 3); err != nil { // forwarded already
		t.Fatal(err)
	}
	// NTP: the real time is two years after the build.
	synced := build.AddDate(2, 0, 0)
	ft.set(synced)
	clk.check()
	if !clk.Sane() {
		t.Fatal("not sane after the sync")
	}
	st := clk.Status()
	if st.HeldBack < 600*24*time.Hour {
		t.Fatalf("retention held back %v after a step of about two years", st.HeldBack)
	}
	p, err := db.Prune(ctx)
	if err != nil || p.ByAge != 0 {
		t.Fatalf("prune right after the sync deleted %d (%v): the burst is lost", p.ByAge, err)
	}
	// A reading after the sync carries the true time.
	if at := clk.Stamp(synced); !at.Equal(synced) {
		t.Errorf("stamp after sync %v", at)
	}
	// The step is persisted: a restart keeps holding retention back.
	clk2 := newWallClockAt(ft.Wall, ft.Mono, func() bool { return true }, build, maxAge, nil)
	waitKV(t, kv)
	if err := clk2.load(kv); err != nil {
		t.Fatal(err)
	}
	if clk2.Status().HeldBack != st.HeldBack || !clk2.Floor().Equal(synced) {
		t.Errorf("after restart: held back %v floor %v", clk2.Status().HeldBack, clk2.Floor())
	}
	// Half an hour on, still kept; past MaxAge after the sync, pruned.
	ft.advance(30 * time.Minute)
	clk.check()
	if p, _ := db.Prune(ctx); p.ByAge != 0 {
		t.Fatalf("pruned %d after 30 min", p.ByAge)
	}
	ft.advance(31 * time.Minute)
	clk.check()
	if clk.Status().HeldBack != 0 {
		t.Errorf("still held back %v after MaxAge", clk.Status().HeldBack)
	}
	if p, _ := db.Prune(ctx); p.ByAge != 3 {
		t.Errorf("pruned %d an hour after the sync, want the 3 readings", p.ByAge)
	}
}

// waitKV waits until the asynchronous state write is durable: a
// synchronous write behind it in the same committer queue.
func waitKV(t *testing.T, kv *store.KV) {
	t.Helper()
	if err := kv.Put("barrier", []byte{1}); err != nil {
		t.Fatal(err)
	}
}

func TestClockStepBackIsNotRecorded(t *testing.T) {
	ft := &fakeTime{wall: build.AddDate(1, 0, 0)}
	clk := newWallClockAt(ft.Wall, ft.Mono, func() bool { return true }, build, time.Hour, nil)
	clk.check()
	ft.set(build.AddDate(0, 6, 0))
	clk.check()
	if st := clk.Status(); st.HeldBack != 0 || !st.Sane {
		t.Errorf("after a step back: %+v", st)
	}
	// Small drift is not a step.
	ft.set(ft.Wall().Add(5 * time.Second))
	clk.check()
	if clk.Status().HeldBack != 0 {
		t.Error("a 5 s adjustment was taken for a step")
	}
}

func TestWaitSane(t *testing.T) {
	ft := &fakeTime{wall: time.Unix(0, 0)}
	clk := newWallClockAt(ft.Wall, ft.Mono, func() bool { return true }, build, 0, nil)
	clk.poll = time.Millisecond
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if err := clk.WaitSane(ctx, "upstream TLS"); err == nil {
		t.Fatal("WaitSane returned with the clock in 1970")
	}
	done := make(chan error, 1)
	go func() { done <- clk.WaitSane(context.Background(), "upstream TLS") }()
	ft.set(build.Add(time.Hour))
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("WaitSane did not return once the clock was set")
	}
}
