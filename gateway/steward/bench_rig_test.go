package steward

import (
	"context"
	"crypto/tls"
	"fmt"
	"log/slog"
	"net"
	"testing"
	"time"

	"github.com/edgegate/edgegate/gateway/pairing"
	"github.com/edgegate/edgegate/gateway/things"
	"github.com/edgegate/edgegate/store"
	"github.com/edgegate/edgegate/store/storetest"
)

type asyncPersister struct{ db *store.DB }

func (p asyncPersister) PutState(id string, v []byte, at time.Time) error {
	p.db.PutStateAsync(id, v, at, func(error) {})
	return nil
}

func (p asyncPersister) AppendHistory(id string, at time.Time, v []byte) error {
	p.db.AppendHistoryAsync(id, at, v, func(error) {})
	return nil
}

// benchRig is a steward with n Native pairings (bench-0..), passcode "p".
type benchRig struct {
	st   *Steward
	hub  *things.Hub
	cert tls.Certificate
	addr string
	stop func()
}

func newBenchRig(b *testing.B, n int) *benchRig {
	db := storetest.MustOpen(b, store.Options{Logger: slog.New(slog.DiscardHandler), MaxBatch: 1024})
	// The hub persists state and history as the gateway's does outside
	// the projector's runs: each change queued to the group committer.
	hub := things.New(things.Options{Persister: asyncPersister{db.DB}})
	cert := testCert(b)
	st, err := New(Options{Store: db.KV("steward"), Hub: hub, Pairing: pairing.New(pairing.Options{}), Certificate: cert,
		UUID: "bench", Limits: Limits{MaxConnections: n + 16}})
	if err != nil {
		b.Fatal(err)
	}
	for i := range n {
		id := fmt.Sprint(i + 1)
		st.clients[id] = &client{ID: id, Name: fmt.Sprintf("bench-%d", i), Generation: Native, PassHash: passHash("p")}
		st.byName[fmt.Sprintf("bench-%d", i)] = id
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- st.Run(ctx, ln, nil) }()
	return &benchRig{st: st, hub: hub, cert: cert, addr: ln.Addr().String(), stop: func() {
		cancel()
		<-done
		hub.Close()
	}}
}
