package gateway

import (
	"context"
	"fmt"
	"log/slog"
	"testing"
	"time"

	"github.com/edgegate/edgegate/gateway/things"
	"github.com/edgegate/edgegate/store"
	"github.com/edgegate/edgegate/store/storetest"
)

// TestPersisterCommitsRunsInPartsInOrder: a run's writes reach the store as
// one commit per part of whole things, the cursor with the last; a change
// made after the run lands after the run's older snapshot of the thing.
func TestPersisterCommitsRunsInPartsInOrder(t *testing.T) {
	db := storetest.MustOpen(t, store.Options{HistoryPerThing: 10000})
	if _, err := db.Append(t.Context(), store.Reading{Device: store.DeviceID{Type: 1, Module: 1}, Payload: []byte{1}}); err != nil {
		t.Fatal(err)
	}
	p := newPersister(db.DB, slog.New(slog.DiscardHandler))
	ctx, cancel := context.WithCancel(t.Context())
	stopped := make(chan struct{})

	at := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	before := db.Stats().Commits
	p.begin()
	for _, id := range []string{"a", "b", "c"} {
		for i := range 300 {
			if err := p.AppendHistory(id, at.Add(time.Duration(i)*time.Millisecond), []byte(`{}`)); err != nil {
				t.Fatal(err)
			}
		}
		if err := p.PutState(id, []byte("run"), at); err != nil {
			t.Fatal(err)
		}
	}
	p.commit(projectorConsumer, 1, 256)
	// Outside a run, while the parts may still be queued: a newer state of c,
	// the thing of the last part.
	if err := p.PutState("c", []byte("later"), at.Add(time.Second)); err != nil {
		t.Fatal(err)
	}
	// Removed while its writes are queued: nothing of d may come back.
	p.AppendHistory("d", at, []byte(`{}`)) // queued as a part of its own
	if err := p.deleteThing("d"); err != nil {
		t.Fatal(err)
	}
	// Started only now, so that everything above waits in the queue.
	go func() { defer close(stopped); p.run(ctx) }()
	p.flush()
	if h, _ := db.History("d", time.Time{}, time.Time{}, 10); len(h) != 0 {
		t.Errorf("a removed thing's queued history came back: %d entries", len(h))
	}
	eventually(t, "the later state", func() bool {
		e, err := db.State("c")
		return err == nil && string(e.Value) == "later"
	})
	if n := db.Stats().Commits - before; n < 3 {
		t.Errorf("%d commits for three parts of 300 entries", n)
	}
	for _, id := range []string{"a", "b", "c"} {
		if h, err := db.History(id, time.Time{}, time.Time{}, 1000); err != nil || len(h) != 300 {
			t.Errorf("history of %s: %d entries (%v)", id, len(h), err)
		}
	}
	if e, err := db.State("b"); err != nil || string(e.Value) != "run" {
		t.Errorf("state of b: %q %v", e.Value, err)
	}
	if c, err := db.Cursor(projectorConsumer); err != nil || c != 1 {
		t.Errorf("cursor %d %v", c, err)
	}

	// Once run has returned, nothing waits on the queue.
	cancel()
	<-stopped
	p.begin()
	for i := range persistAhead + 10 {
		p.AppendHistory(fmt.Sprint("t", i%50), at, []byte(`{}`))
	}
	done := make(chan struct{})
	go func() { p.commit(projectorConsumer, 1, 256); p.flush(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("commit or flush blocked after the persister stopped")
	}
}

// TestProjectorCapsOneDevicePerRun: a run applies at most projectPartBehind
// readings of one device, so that one busy device cannot make a part of
// thousands of entries; the run stops before that device's next reading,
// and the next run goes on from there.
func TestProjectorCapsOneDevicePerRun(t *testing.T) {
	db := storetest.MustOpen(t, store.Options{HistoryPerThing: 10000})
	log := slog.New(slog.DiscardHandler)
	busy, quiet := store.DeviceID{Type: 1, Module: 1}, store.DeviceID{Type: 1, Module: 2}
	at := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	n := projectPartBehind + 100
	count := map[store.DeviceID]int{}
	for i := range n {
		d := busy
		if i%100 == 0 {
			d = quiet
		}
		count[d]++
		r := store.Reading{Device: d, DataType: 1, Payload: []byte{byte(i)}, Time: at.Add(time.Duration(i) * time.Millisecond)}
		if _, err := db.Append(t.Context(), r); err != nil {
			t.Fatal(err)
		}
	}
	pers := newPersister(db.DB, log)
	hub := things.New(things.Options{Logger: log, Persister: pers})
	defer hub.Close()
	devices := newDeviceTable(nil)
	for _, d := range []store.DeviceID{busy, quiet} {
		devices.set(d, nil)
		if err := hub.Register(things.OSPThing(d.Type, d.Module, "", nil)); err != nil {
			t.Fatal(err)
		}
	}
	p, err := newProjector(db.DB, hub, pers, devices, log)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	go pers.run(ctx)

	// The reused slice holds no reading but the carry between runs.
	held := func(run string) {
		t.Helper()
		all := p.buf[:cap(p.buf)]
		from, to := 0, 0 // the carry's slots
		if len(p.carry) > 0 {
			from = cap(p.buf) - cap(p.carry)
			to = from + len(p.carry)
		}
		for i := range all {
			if all[i].Payload != nil && (i < from || i >= to) {
				t.Fatalf("after the %s run, slot %d of the projector's slice still holds seq %d", run, i, all[i].Seq)
			}
		}
	}
	more, err := p.step()
	if err != nil || !more {
		t.Fatalf("first run: more %v, err %v", more, err)
	}
	if len(p.carry) == 0 {
		t.Fatal("first run left no carry")
	}
	held("first")
	got := p.projected.Load()
	// The run stops before the busy device's next reading.
	var busyApplied int
	rs, err := db.Readings(1, int(got))
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range rs {
		if r.Device == busy {
			busyApplied++
		}
	}
	if busyApplied != projectPartBehind {
		t.Errorf("first run applied %d readings of the busy device, want %d", busyApplied, projectPartBehind)
	}
	if more, err := p.step(); err != nil || more {
		t.Fatalf("second run: more %v, err %v", more, err)
	}
	held("second")
	if p.projected.Load() != uint64(n) {
		t.Errorf("projected %d of %d", p.projected.Load(), n)
	}
	pers.flush()
	if c, err := db.Cursor(projectorConsumer); err != nil || c != uint64(n) {
		t.Errorf("cursor %d %v, want %d", c, err, n)
	}
	for _, d := range []store.DeviceID{busy, quiet} {
		id := things.OSPThingID(d.Type, d.Module)
		if h, err := db.History(id, time.Time{}, time.Time{}, 10000); err != nil || len(h) != count[d] {
			t.Errorf("history of %s: %d entries, want %d (%v)", id, len(h), count[d], err)
		}
	}
}
