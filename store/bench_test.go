package store_test

import (
	"context"
	"fmt"
	"syscall"
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

// BenchmarkHistoryAtCap is the things hub under load: each op commits one
// batch of history entries to things whose history is full, so every entry
// added trims one. cpu-ns/entry counts the process's CPU, the fsync's
// included.
func BenchmarkHistoryAtCap(b *testing.B) {
	jsonValue := []byte(`{"at":"2026-12-03T00:00:00.123456789Z","values":[{"name":"payload","value":{"type":"bytes","value":"AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="},"raw":true}]}`)
	shapes := []struct {
		name             string
		things, perThing int
		value            []byte
	}{
		// A large batch of few things; the projector's part under load
		// (whole things, 256 entries), with its entries as JSON and in
		// the binary form of a 32-byte raw payload; many small things.
		{"things=4/per=256", 4, 256, jsonValue},
		{"things=2/per=128", 2, 128, jsonValue},
		{"things=32/per=8", 32, 8, jsonValue},
		{"things=2/per=128/value=43", 2, 128, jsonValue[:43]},
	}
	for _, sh := range shapes {
		b.Run(sh.name, func(b *testing.B) {
			benchmarkHistoryAtCap(b, sh.things, sh.perThing, sh.value)
		})
	}
}

func benchmarkHistoryAtCap(b *testing.B, things, perThing int, value []byte) {
	const cap = 2000
	db := storetest.MustOpen(b, store.Options{Logger: discardLogger(), HistoryPerThing: cap})
	ids := make([]string, things)
	for i := range ids {
		ids[i] = fmt.Sprintf("osp:1:%d", i+1)
	}
	at := time.Date(2026, 12, 3, 0, 0, 0, 0, time.UTC)
	apply := func() {
		batch := db.NewBatch()
		for _, id := range ids {
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
	for range cap/perThing + 1 {
		apply() // fill to the cap
	}
	before := db.Stats().HistoryTrimmed
	cpu0 := processCPU(b)
	b.ResetTimer()
	for range b.N {
		apply()
	}
	b.StopTimer()
	cpu := processCPU(b) - cpu0
	if db.Stats().HistoryTrimmed == before {
		b.Fatal("nothing was trimmed")
	}
	n := float64(b.N * things * perThing)
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/n, "ns/entry")
	b.ReportMetric(float64(cpu.Nanoseconds())/n, "cpu-ns/entry")
}

// processCPU is the user and system CPU time the process has used.
func processCPU(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
