package store_test

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/edgegate/edgegate/store"
	"github.com/edgegate/edgegate/store/storetest"
)

// TestHistoryBlocksMatchModel appends batches of entries, mostly in time
// order with some older ones and repeated times, values of every size
// (several larger than a block), under a cap, and checks after every batch
// that History returns exactly what a sorted, capped list holds, whole and
// by time range.
func TestHistoryBlocksMatchModel(t *testing.T) {
	const limit = 300
	db := storetest.MustOpen(t, store.Options{HistoryPerThing: limit})
	rng := rand.New(rand.NewPCG(1, 2))
	t0 := time.Date(2026, 12, 3, 0, 0, 0, 0, time.UTC)
	type ent struct {
		at  time.Time
		val string
		n   int // order added
	}
	var model []ent
	now, added := 0, 0
	for round := range 60 {
		b := db.NewBatch()
		for range 1 + rng.IntN(40) {
			at := now
			switch rng.IntN(10) {
			case 0:
				at -= rng.IntN(200) // older than what is stored
			case 1: // the same time as the last
			default:
				now += 1 + rng.IntN(3)
				at = now
			}
			size := rng.IntN(120)
			if rng.IntN(30) == 0 {
				size = 1500 + rng.IntN(3000)
			}
			val := fmt.Sprintf("%d:%s", added, make([]byte, size))
			e := ent{at: t0.Add(time.Duration(at) * time.Millisecond), val: val, n: added}
			added++
			if err := b.AppendHistory("t", e.at, []byte(e.val)); err != nil {
				t.Fatal(err)
			}
			model = append(model, e)
		}
		done := make(chan error, 1)
		db.ApplyAsync(b, func(err error) { done <- err })
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		slices.SortStableFunc(model, func(a, b ent) int { return a.at.Compare(b.at) })
		if len(model) > limit {
			model = model[len(model)-limit:]
		}
		got, err := db.History("t", time.Time{}, time.Time{}, 10*limit)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != len(model) {
			t.Fatalf("round %d: %d entries, want %d", round, len(got), len(model))
		}
		for i := range got {
			if !got[i].At.Equal(model[i].at) || string(got[i].Value) != model[i].val {
				t.Fatalf("round %d: entry %d = %v %.8q, want %v %.8q", round, i, got[i].At, got[i].Value, model[i].at, model[i].val)
			}
		}
		// A range starting inside the history, and a limit.
		lo, hi := model[len(model)/3].at, model[2*len(model)/3].at
		got, err = db.History("t", lo, hi, 10*limit)
		if err != nil {
			t.Fatal(err)
		}
		var want []ent
		for _, e := range model {
			if !e.at.Before(lo) && !e.at.After(hi) {
				want = append(want, e)
			}
		}
		if len(got) != len(want) || string(got[0].Value) != want[0].val || string(got[len(got)-1].Value) != want[len(want)-1].val {
			t.Fatalf("round %d: History(%v..%v) has %d entries, want %d", round, lo, hi, len(got), len(want))
		}
		if got, _ := db.History("t", lo, time.Time{}, 3); len(got) != 3 || string(got[2].Value) != want[2].val {
			t.Fatalf("round %d: History(%v.., limit 3) = %d entries", round, lo, len(got))
		}
	}
	if st := db.Stats(); st.HistoryTrimmed != uint64(added-limit) {
		t.Fatalf("HistoryTrimmed = %d, want %d", st.HistoryTrimmed, added-limit)
	}
}
