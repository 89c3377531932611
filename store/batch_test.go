package store_test

import (
	"errors"
	"testing"
	"time"

	"github.com/edgegate/edgegate/store"
	"github.com/edgegate/edgegate/store/storetest"
)

func TestBatchCommitsTogetherInOrder(t *testing.T) {
	clk := newClock()
	db := storetest.MustOpen(t, store.Options{Now: clk.Now, HistoryPerThing: 100})
	for i := range 3 {
		if _, err := db.Append(t.Context(), reading(i)); err != nil {
			t.Fatal(err)
		}
	}
	before := db.Stats().Commits
	b := db.NewBatch()
	at := clk.Now()
	for i := range 50 {
		if err := b.AppendHistory("t1", at.Add(time.Duration(i)*time.Second), []byte{byte(i)}); err != nil {
			t.Fatal(err)
		}
		if err := b.PutState("t1", []byte{byte(i)}, at.Add(time.Duration(i)*time.Second)); err != nil {
			t.Fatal(err)
		}
	}
	if err := b.SetCursor("things", 3); err != nil {
		t.Fatal(err)
	}
	if b.Len() != 101 {
		t.Fatalf("Len %d", b.Len())
	}
	if err := b.PutState("", nil, at); !errors.Is(err, store.ErrInvalid) || b.Len() != 101 {
		t.Fatalf("invalid thing id: %v, len %d", err, b.Len())
	}
	done, ch := doneChan()
	db.ApplyAsync(b, done)
	if err := <-ch; err != nil {
		t.Fatal(err)
	}
	if n := db.Stats().Commits - before; n != 1 {
		t.Errorf("%d commits for one batch", n)
	}
	if e, err := db.State("t1"); err != nil || e.Value[0] != 49 {
		t.Errorf("state %v %v: the last PutState must win", e, err)
	}
	if h, err := db.History("t1", time.Time{}, time.Time{}, 100); err != nil || len(h) != 50 {
		t.Errorf("history %d %v", len(h), err)
	}
	if c, err := db.Cursor("things"); err != nil || c != 3 {
		t.Errorf("cursor %d %v", c, err)
	}

	// Entries grouped per thing are trimmed once, to HistoryPerThing.
	b = db.NewBatch()
	for i := range 80 {
		b.AppendHistory("t1", at.Add(time.Hour+time.Duration(i)*time.Second), []byte{byte(100 + i)})
		b.AppendHistory("t3", at.Add(time.Duration(i)*time.Second), []byte{byte(i)})
	}
	done, ch = doneChan()
	db.ApplyAsync(b, done)
	if err := <-ch; err != nil {
		t.Fatal(err)
	}
	h, err := db.History("t1", time.Time{}, time.Time{}, 1000)
	if err != nil || len(h) != 100 || h[0].Value[0] != 30 || h[99].Value[0] != 179 {
		t.Errorf("trimmed history: %d entries, first %v, last %v, %v", len(h), h[0].Value, h[len(h)-1].Value, err)
	}
	if h3, _ := db.History("t3", time.Time{}, time.Time{}, 1000); len(h3) != 80 {
		t.Errorf("t3 has %d entries", len(h3))
	}
	if st := db.Stats(); st.HistoryTrimmed != 30 {
		t.Errorf("HistoryTrimmed %d, want 30", st.HistoryTrimmed)
	}

	// A cursor past the journal is reported; the rest still commits.
	b = db.NewBatch()
	b.PutState("t2", []byte("x"), at)
	b.SetCursor("things", 99)
	done, ch = doneChan()
	db.ApplyAsync(b, done)
	if err := <-ch; !errors.Is(err, store.ErrInvalid) {
		t.Errorf("cursor past the end: %v", err)
	}
	if _, err := db.State("t2"); err != nil {
		t.Errorf("the batch's valid write was lost: %v", err)
	}
	if c, _ := db.Cursor("things"); c != 3 {
		t.Errorf("cursor moved to %d", c)
	}

	// An empty batch completes at once.
	done, ch = doneChan()
	db.ApplyAsync(db.NewBatch(), done)
	if err := <-ch; err != nil {
		t.Error(err)
	}
}

func TestBatchSplitKeepsThingsWhole(t *testing.T) {
	clk := newClock()
	db := storetest.MustOpen(t, store.Options{Now: clk.Now, HistoryPerThing: 1000})
	if _, err := db.Append(t.Context(), reading(0)); err != nil {
		t.Fatal(err)
	}
	at := clk.Now()
	b := db.NewBatch()
	// t1: 3 entries, t2: 4, t3: 6 (more than the limit), t4: state only.
	counts := []struct {
		id string
		n  int
	}{{"t1", 3}, {"t2", 4}, {"t3", 6}, {"t4", 0}}
	for _, c := range counts {
		for i := range c.n {
			if err := b.AppendHistory(c.id, at.Add(time.Duration(i)*time.Second), []byte{byte(i)}); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := b.SetCursor("things", 1); err != nil {
		t.Fatal(err)
	}
	for _, c := range counts {
		if err := b.PutState(c.id, []byte(c.id), at); err != nil {
			t.Fatal(err)
		}
	}
	if b.Len() != 3+4+6+4+1 {
		t.Fatalf("Len %d", b.Len())
	}
	parts := b.Split(5)
	// t1 alone would leave room, but t1+t2 is 7 > 5: [t1] [t2] [t3] [t4 cursor].
	want := []int{3 + 1, 4 + 1, 6 + 1, 1 + 1}
	if len(parts) != len(want) {
		t.Fatalf("%d parts, want %d", len(parts), len(want))
	}
	for i, p := range parts {
		if p.Len() != want[i] {
			t.Errorf("part %d has %d writes, want %d", i, p.Len(), want[i])
		}
	}
	if b.Len() != 0 {
		t.Errorf("the split batch still holds %d writes", b.Len())
	}

	// Applied in order, each part is a commit of its own, and the cursor
	// moves only with the last.
	for i, p := range parts {
		before := db.Stats().Commits
		done, ch := doneChan()
		db.ApplyAsync(p, done)
		if err := <-ch; err != nil {
			t.Fatal(err)
		}
		if n := db.Stats().Commits - before; n != 1 {
			t.Errorf("part %d took %d commits", i, n)
		}
		c, err := db.Cursor("things")
		if moved := err == nil && c == 1; moved != (i == len(parts)-1) {
			t.Errorf("after part %d the cursor is %d (%v)", i, c, err)
		}
	}
	for _, c := range counts {
		if e, err := db.State(c.id); err != nil || string(e.Value) != c.id {
			t.Errorf("state of %s: %v %v", c.id, e, err)
		}
		if h, err := db.History(c.id, time.Time{}, time.Time{}, 100); err != nil || len(h) != c.n {
			t.Errorf("history of %s: %d entries, want %d (%v)", c.id, len(h), c.n, err)
		}
	}

	// Small things share a part; an empty batch has none.
	b = db.NewBatch()
	for _, id := range []string{"a", "b", "c"} {
		b.AppendHistory(id, at, []byte("x"))
		b.PutState(id, []byte("x"), at)
	}
	if parts := b.Split(5); len(parts) != 1 || parts[0].Len() != 6 {
		t.Errorf("three small things: %d parts", len(parts))
	}
	if parts := db.NewBatch().Split(5); len(parts) != 0 {
		t.Errorf("an empty batch split into %d parts", len(parts))
	}
}
