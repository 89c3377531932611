package gateway

import (
	"context"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/edgegate/edgegate/gateway/things"
	"github.com/edgegate/edgegate/store"
	"github.com/edgegate/edgegate/store/storetest"
)

// BenchmarkProjectorStep is the projector under load: runs of projectBatch
// readings of 32 devices with 32-byte raw payloads, journal to hub and
// store, as gatewayd projects what the bench's sensors send.
func BenchmarkProjectorStep(b *testing.B) {
	db := storetest.MustOpen(b, store.Options{HistoryPerThing: 1000})
	log := slog.New(slog.DiscardHandler)
	pers := newPersister(db.DB, log)
	hub := things.New(things.Options{Logger: log, Persister: pers})
	defer hub.Close()
	devices := newDeviceTable(nil)
	const sensors = 32
	for m := range sensors {
		d := store.DeviceID{Type: 1, Module: uint32(m + 1)}
		devices.set(d, nil)
		if err := hub.Register(things.OSPThing(d.Type, d.Module, "", nil)); err != nil {
			b.Fatal(err)
		}
	}
	p, err := newProjector(db.DB, hub, pers, devices, log)
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(b.Context())
	defer cancel()
	go pers.run(ctx)
	at := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	payload := make([]byte, 32)
	var seq int
	fill := func(n int) {
		var wg sync.WaitGroup
		wg.Add(n)
		for range n {
			seq++
			r := store.Reading{Device: store.DeviceID{Type: 1, Module: uint32(seq%sensors + 1)}, DataType: 1,
				Payload: payload, Time: at.Add(time.Duration(seq) * time.Millisecond), Link: "127.0.0.1:40000", Authenticated: true}
			db.AppendAsync(r, func(uint64, error) { wg.Done() })
		}
		wg.Wait()
	}
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		b.StopTimer()
		fill(projectBatch)
		pers.flush()
		b.StartTimer()
		if _, err := p.step(); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*projectBatch), "ns/reading")
}
