package store_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/edgegate/edgegate/store"
	"github.com/edgegate/edgegate/store/storetest"
)

func TestState(t *testing.T) {
	clk := newClock()
	db := storetest.MustOpen(t, store.Options{Now: clk.Now})
	if _, err := db.State("lamp"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("State of unknown thing: %v", err)
	}
	val := []byte("on")
	if err := db.PutState("lamp", val, time.Time{}); err != nil {
		t.Fatal(err)
	}
	val[0] = 'X' // the store copied it
	e, err := db.State("lamp")
	if err != nil || string(e.Value) != "on" || !e.At.Equal(clk.Now()) {
		t.Fatalf("State = %+v, %v", e, err)
	}
	old := time.Date(1969, 7, 20, 20, 17, 0, 0, time.UTC) // negative Unix time
	if err := db.PutState("lamp", []byte("off"), old); err != nil {
		t.Fatal(err)
	}
	if e, _ := db.State("lamp"); string(e.Value) != "off" || !e.At.Equal(old) {
		t.Fatalf("State = %+v", e)
	}
	for _, bad := range []struct {
		id string
		at time.Time
	}{{"", clk.Now()}, {strings.Repeat("x", store.MaxNameLen+1), clk.Now()}, {"ok", time.Date(2300, 1, 1, 0, 0, 0, 0, time.UTC)}} {
		if err := db.PutState(bad.id, nil, bad.at); !errors.Is(err, store.ErrInvalid) {
			t.Errorf("PutState(%.10q, %v) = %v, want ErrInvalid", bad.id, bad.at, err)
		}
	}
	if err := db.DeleteThing("nothing"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("DeleteThing unknown: %v", err)
	}
}

func TestHistory(t *testing.T) {
	clk := newClock()
	db := storetest.MustOpen(t, store.Options{Now: clk.Now, HistoryPerThing: 5})
	t0 := clk.Now()
	at := func(m int) time.Time { return t0.Add(time.Duration(m) * time.Minute) }
	// Out of order, with a duplicate time: History is in time order anyway.
	for _, m := range []int{3, 1, 2, 0, 2, 4} {
		if err := db.AppendHistory("temp", at(m), []byte{byte(m)}); err != nil {
			t.Fatal(err)
		}
	}
	h, err := db.History("temp", time.Time{}, time.Time{}, 100)
	if err != nil {
		t.Fatal(err)
	}
	// Cap 5: the oldest (m=0) is gone.
	want := []int{1, 2, 2, 3, 4}
	if len(h) != len(want) {
		t.Fatalf("history = %v, want minutes %v", h, want)
	}
	for i, m := range want {
		if !h[i].At.Equal(at(m)) || h[i].Value[0] != byte(m) {
			t.Fatalf("history[%d] = %+v, want minute %d", i, h[i], m)
		}
	}
	if st := db.Stats(); st.HistoryTrimmed != 1 {
		t.Fatalf("HistoryTrimmed = %d", st.HistoryTrimmed)
	}
	// Ranges are inclusive at both ends; limit cuts from the start.
	if h, _ := db.History("temp", at(2), at(3), 100); len(h) != 3 || h[0].Value[0] != 2 || h[2].Value[0] != 3 {
		t.Fatalf("History(2..3) = %v", h)
	}
	if h, _ := db.History("temp", at(2), time.Time{}, 2); len(h) != 2 || h[1].Value[0] != 2 {
		t.Fatalf("History(2.., limit 2) = %v", h)
	}
	if h, err := db.History("nobody", time.Time{}, time.Time{}, 10); err != nil || len(h) != 0 {
		t.Fatalf("History of unknown thing = %v, %v", h, err)
	}
	if _, err := db.History("temp", time.Time{}, time.Time{}, 0); !errors.Is(err, store.ErrInvalid) {
		t.Fatalf("limit 0: %v", err)
	}
	// Many more appends keep exactly the cap, newest last.
	for m := 10; m < 30; m++ {
		if err := db.AppendHistory("temp", at(m), []byte{byte(m)}); err != nil {
			t.Fatal(err)
		}
	}
	h, _ = db.History("temp", time.Time{}, time.Time{}, 100)
	if len(h) != 5 || h[0].Value[0] != 25 || h[4].Value[0] != 29 {
		t.Fatalf("history after 20 more = %v", h)
	}
	// DeleteThing removes history too.
	if err := db.DeleteThing("temp"); err != nil {
		t.Fatal(err)
	}
	if h, _ := db.History("temp", time.Time{}, time.Time{}, 100); len(h) != 0 {
		t.Fatalf("history after DeleteThing = %v", h)
	}
	// A lower cap at reopen trims on the next append.
	for m := range 5 {
		if err := db.AppendHistory("hum", at(m), []byte{byte(m)}); err != nil {
			t.Fatal(err)
		}
	}
	db.MustClose()
	db2 := storetest.MustOpenPath(t, db.Path(), store.Options{Now: clk.Now, HistoryPerThing: 2})
	if err := db2.AppendHistory("hum", at(9), []byte{9}); err != nil {
		t.Fatal(err)
	}
	if h, _ := db2.History("hum", time.Time{}, time.Time{}, 100); len(h) != 2 || h[0].Value[0] != 4 || h[1].Value[0] != 9 {
		t.Fatalf("history after lowering the cap = %v", h)
	}
}

func TestSettingsAndCursorsValidation(t *testing.T) {
	db := storetest.MustOpen(t, store.Options{})
	if err := db.PutSetting("", []byte("x")); !errors.Is(err, store.ErrInvalid) {
		t.Fatalf("empty setting key: %v", err)
	}
	if _, err := db.Setting("missing"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("missing setting: %v", err)
	}
	if err := db.DeleteSetting("missing"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("delete missing setting: %v", err)
	}
	v := []byte("abc")
	if err := db.PutSetting("k", v); err != nil {
		t.Fatal(err)
	}
	got, _ := db.Setting("k")
	got[0] = 'Z' // returned values are copies
	if again, _ := db.Setting("k"); string(again) != "abc" {
		t.Fatalf("setting changed through a returned slice: %q", again)
	}
	if err := db.SetCursor("", 0); !errors.Is(err, store.ErrInvalid) {
		t.Fatalf("empty consumer: %v", err)
	}
	if err := db.SetCursor("c", 1); !errors.Is(err, store.ErrInvalid) {
		t.Fatalf("cursor past an empty journal: %v", err)
	}
	if _, err := db.Cursor("c"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("rejected cursor was registered: %v", err)
	}
	if err := db.DeleteCursor("c"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("delete unknown cursor: %v", err)
	}
	if cs, err := db.Consumers(); err != nil || len(cs) != 0 {
		t.Fatalf("consumers = %v, %v", cs, err)
	}
}

// TestRejectedWriteDoesNotSpoilBatch queues a write that is rejected inside
// the shared transaction together with good writes: only it fails.
func TestRejectedWriteDoesNotSpoilBatch(t *testing.T) {
	release := make(chan struct{})
	done := make(chan struct{})
	var opts store.Options
	store.SetBeforeCommit(&opts, func() {
		select {
		case <-done:
		default:
			<-release
			close(done)
		}
	})
	db := storetest.MustOpen(t, opts)
	errs := make(chan error, 3)
	go func() { errs <- db.DeleteDevice(9, 9) }()
	go func() { errs <- db.PutSetting("a", []byte("1")) }()
	go func() { _, err := db.Append(t.Context(), reading(1)); errs <- err }()
	waitFor(t, "3 writes queued", func() bool { return db.Stats().Queued == 2 })
	close(release)
	var notFound, ok int
	for range 3 {
		switch err := <-errs; {
		case err == nil:
			ok++
		case errors.Is(err, store.ErrNotFound) && strings.HasPrefix(err.Error(), "store: delete device: "):
			notFound++
		default:
			t.Fatalf("unexpected error %v", err)
		}
	}
	if ok != 2 || notFound != 1 {
		t.Fatalf("%d ok, %d not found", ok, notFound)
	}
	if c := db.Stats().Commits; c != 1 {
		t.Fatalf("%d commits, want the three writes in one", c)
	}
}
