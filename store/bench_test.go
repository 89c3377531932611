package store_test

import (
	"context"
	"testing"
	"time"

	"github.com/edgegate/edgegate/store"
	"github.com/edgegate/edgegate/store/storetest"
)

func benchReading() store.Reading {
	return store.Reading{
		Device: store.DeviceID{Type: 1, Module: 4242}, SID: 1, DataType: 3,
		Payload: make([]byte, 32), Link: "udp:127.0.0.1:5000",
	}
}

// reportFsyncs reports fsyncs per 1000 readings appended during the benchmark.
func reportFsyncs(b *testing.B, db *storetest.DB, before store.Stats) {
	st := db.Stats()
	appends := st.Appends - before.Appends
	if appends == 0 {
		return
	}
	b.ReportMetric(float64(st.Fsyncs-before.Fsyncs)*1000/float64(appends), "fsyncs/1000rec")
	b.ReportMetric(float64(appends)/float64(st.Commits-before.Commits), "rec/commit")
}

// BenchmarkAppendParallel models many sensors: 32 goroutines per CPU each
// Append and wait for durability, so their readings share commits.
func BenchmarkAppendParallel(b *testing.B) {
	db := storetest.MustOpen(b, store.Options{Logger: discardLogger()})
	r := benchReading()
	ctx := context.Background()
	before := db.Stats()
	b.SetParallelism(32)
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := db.Append(ctx, r); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.StopTimer()
	reportFsyncs(b, db, before)
}

// BenchmarkAppendSerial is one sensor: every Append waits for its own fsync.
func BenchmarkAppendSerial(b *testing.B) {
	db := storetest.MustOpen(b, store.Options{Logger: discardLogger()})
	r := benchReading()
	ctx := context.Background()
	before := db.Stats()
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		if _, err := db.Append(ctx, r); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	reportFsyncs(b, db, before)
}

// BenchmarkHistoryAtCap is the things hub under load: each op applies one
// batch of 256 history entries to each of 4 things whose history is full,
// so every entry added trims one.
func BenchmarkHistoryAtCap(b *testing.B) {
	const perThing, cap = 256, 2000
	db := storetest.MustOpen(b, store.Options{Logger: discardLogger(), HistoryPerThing: cap})
	value := []byte(`{"at":"2026-12-03T00:00:00Z","values":[{"name":"temperature","value":21.5,"unit":"Cel"}]}`)
	at := time.Date(2026, 12, 3, 0, 0, 0, 0, time.UTC)
	apply := func() {
		batch := db.NewBatch()
		for _, id := range []string{"osp:1:1", "osp:1:2", "osp:1:3", "osp:1:4"} {
			for range perThing {
				at = at.Add(time.Millisecond)
				if err := batch.AppendHistory(id, at, value); err != nil {
					b.Fatal(err)
				}
			}
		}
		done, ch := doneChan()
		db.ApplyAsync(batch, done)
		if err := <-ch; err != nil {
			b.Fatal(err)
		}
	}
	for range cap / perThing {
		apply() // fill to the cap
	}
	before := db.Stats().HistoryTrimmed
	b.ResetTimer()
	for range b.N {
		apply()
	}
	b.StopTimer()
	if db.Stats().HistoryTrimmed == before {
		b.Fatal("nothing was trimmed")
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*4*perThing), "ns/entry")
}
