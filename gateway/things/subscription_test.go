package things

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"
)

func TestSlowSubscriberDropsOldest(t *testing.T) {
	checkGoroutines(t)
	clk := newClock()
	h := newHub(t, Options{Now: clk.Now})
	id := "osp:1:7"
	if err := h.Register(thermoThing(t, 7)); err != nil { // Seq 1, before the subscriptions
		t.Fatal(err)
	}
	ctx := t.Context()
	slow := h.Subscribe(ctx, 4)
	fast := h.Subscribe(ctx, 4)

	// The fast consumer reads concurrently; the slow one reads nothing yet.
	const n = 20
	fastGot := make(chan []uint64, 1)
	go func() {
		var seqs []uint64
		for ev := range fast.Events() {
			seqs = append(seqs, ev.Seq)
			if ev.Seq == n+1 {
				break
			}
		}
		fastGot <- seqs
	}()
	for i := range n { // Seq 2..21; never blocks on the slow subscriber
		if err := h.Update(id, []PropertyValue{{Name: "battery", Value: IntValue(int64(i))}}, clk.Advance(time.Second)); err != nil {
			t.Fatal(err)
		}
	}
	// The slow subscriber kept the newest 4 (Seq 18..21) and lost 16.
	first := recv(t, slow)
	if first.Seq != 18 || first.Lost != 16 {
		t.Errorf("first event Seq %d Lost %d, want Seq 18 Lost 16", first.Seq, first.Lost)
	}
	if v := first.Changed[0].Value; !v.Equal(IntValue(16)) {
		t.Errorf("first kept value = %v, want 16", v)
	}
	for want := uint64(19); want <= n+1; want++ {
		if ev := recv(t, slow); ev.Seq != want || ev.Lost != 0 {
			t.Errorf("event Seq %d Lost %d, want Seq %d Lost 0", ev.Seq, ev.Lost, want)
		}
	}
	if d := slow.Dropped(); d != 16 {
		t.Errorf("Dropped = %d, want 16", d)
	}
	// Further events reach the slow subscriber with no loss.
	if err := h.SetPresent(id, true); err != nil {
		t.Fatal(err)
	}
	if ev := recv(t, slow); ev.Type != PresenceChanged || ev.Lost != 0 {
		t.Errorf("after catching up: %s", eventSummary(ev))
	}
	// The fast consumer's losses, if the scheduler made it lag, are exactly
	// accounted for by its own counter.
	seqs := <-fastGot
	if uint64(len(seqs))+fast.Dropped() != n {
		t.Errorf("fast: %d delivered + %d dropped, want %d", len(seqs), fast.Dropped(), n)
	}
}

// TestLostAccountingUnderRace publishes while a consumer reads slowly, so
// drops happen while an event is being handed over. Every gap in Seq must be
// announced by Lost, and the Lost values must add up to Dropped.
func TestLostAccountingUnderRace(t *testing.T) {
	checkGoroutines(t)
	h := newHub(t, Options{})
	id := "native:lamp"
	if err := h.Register(Thing{ID: id, Kind: KindNative}); err != nil {
		t.Fatal(err)
	}
	sub := h.Subscribe(t.Context(), 3)
	const n = 5000
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := range n {
			if err := h.Update(id, []PropertyValue{{Name: "level", Value: IntValue(int64(i))}}, time.Time{}); err != nil {
				t.Error(err)
				return
			}
		}
	}()
	var prev, lost, delivered uint64 = 1, 0, 0 // Seq 1 was the registration
	for prev < n+1 {
		ev := recv(t, sub)
		if ev.Seq != prev+ev.Lost+1 {
			t.Fatalf("Seq %d after %d with Lost %d: a gap was not announced", ev.Seq, prev, ev.Lost)
		}
		prev, lost, delivered = ev.Seq, lost+ev.Lost, delivered+1
		if delivered%7 == 0 {
			time.Sleep(time.Microsecond) // a slow consumer
		}
	}
	wg.Wait()
	if lost != sub.Dropped() || delivered+lost != n {
		t.Errorf("delivered %d, Lost sum %d, Dropped %d, published %d", delivered, lost, sub.Dropped(), n)
	}
	t.Logf("delivered %d, lost %d", delivered, lost)
}

func TestSubscriptionEndsOnCancel(t *testing.T) {
	checkGoroutines(t)
	h := newHub(t, Options{})
	ctx, cancel := context.WithCancel(t.Context())
	var subs []*Subscription
	for range 50 {
		subs = append(subs, h.Subscribe(ctx, 2))
	}
	other := h.Subscribe(t.Context(), 2)
	if err := h.Register(Thing{ID: "native:a", Kind: KindNative}); err != nil { // queued, never read
		t.Fatal(err)
	}
	cancel()
	for _, s := range subs {
		waitClosed(t, s)
	}
	// The hub forgot the cancelled subscriptions: publishing reaches only the
	// live one.
	deadline := time.Now().Add(2 * time.Second)
	for {
		h.mu.RLock()
		n := len(h.subs)
		h.mu.RUnlock()
		if n == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d subscriptions registered, want 1", n)
		}
		time.Sleep(time.Millisecond)
	}
	if ev := recv(t, other); ev.Type != ThingAdded {
		t.Errorf("live subscriber got %v", ev.Type)
	}
	// A subscription on an already-cancelled context ends at once.
	waitClosed(t, h.Subscribe(ctx, 1))
}

func TestCloseEndsSubscriptions(t *testing.T) {
	checkGoroutines(t)
	h := New(Options{})
	subs := []*Subscription{h.Subscribe(context.Background(), 1), h.Subscribe(context.Background(), 8)}
	if err := h.Register(Thing{ID: "native:a", Kind: KindNative}); err != nil {
		t.Fatal(err)
	}
	h.Close()
	h.Close() // idempotent
	for _, s := range subs {
		waitClosed(t, s)
	}
	waitClosed(t, h.Subscribe(context.Background(), 1))
	if err := h.Register(Thing{ID: "native:b", Kind: KindNative}); !errors.Is(err, ErrClosed) {
		t.Errorf("Register after Close: %v", err)
	}
	if err := h.Update("native:a", []PropertyValue{{Name: "x", Value: IntValue(1)}}, time.Time{}); !errors.Is(err, ErrClosed) {
		t.Errorf("Update after Close: %v", err)
	}
	if _, err := h.Perform(context.Background(), "native:a", "x", nil); !errors.Is(err, ErrClosed) {
		t.Errorf("Perform after Close: %v", err)
	}
	if _, ok := h.Get("native:a"); !ok {
		t.Error("reads still work after Close")
	}
}

// TestCloseWhileConsumersBlocked: Close must not wait for consumers that
// stopped reading.
func TestCloseWhileConsumersBlocked(t *testing.T) {
	checkGoroutines(t)
	h := New(Options{})
	for range 10 {
		h.Subscribe(context.Background(), 1)
	}
	for i := range 100 {
		if err := h.Register(Thing{ID: "native:" + string(rune('a'+i%26)) + string(rune('0'+i/26)), Kind: KindNative}); err != nil {
			t.Fatal(err)
		}
	}
	done := make(chan struct{})
	go func() { h.Close(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Close blocked")
	}
}
