package main

import (
	"context"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/edgegate/edgegate/gateway"
	"github.com/edgegate/edgegate/store"
)

// TestSimulatorAgainstGateway runs secure sensors with 10% packet loss
// against an in-process gateway and checks that every acknowledged reading
// is in the journal and that loss was recovered by RESEND or retransmission.
func TestSimulatorAgainstGateway(t *testing.T) {
	cfgText := "[osp.udp]\nlisten = \"127.0.0.1:0\"\n[osp]\nresend_timeout = \"200ms\"\n"
	for m := 100; m < 104; m++ {
		cfgText += "[[device]]\ntype = 1\nmodule = " + strconv.Itoa(m) + "\nsecure = true\nkey = \"000102030405060708090a0b0c0d0e0f\"\n"
	}
	cfg, err := gateway.ParseConfig(strings.NewReader(cfgText))
	if err != nil {
		t.Fatal(err)
	}
	data := t.TempDir()
	g, err := gateway.New(cfg, data, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- g.Run(ctx) }()
	<-g.Ready()

	o := options{n: 4, count: 150, rate: 300, secure: true, key: []byte{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15},
		devType: 1, module: 100, dataType: 10, payload: 32, ackShare: 1, loss: 0.1, wait: 20 * time.Second}
	res := simulate(context.Background(), g.UDPAddr().(*net.UDPAddr), o)
	if res.sessions != 4 || res.sent != 600 || res.acked != 600 {
		t.Fatalf("sessions %d sent %d acked %d; failures %v", res.sessions, res.sent, res.acked, res.failures)
	}
	if res.resends == 0 {
		t.Error("10% loss caused no RESEND")
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	db, err := store.Open(data+"/"+gateway.DBFile, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	rds, err := db.Readings(0, 10000)
	if err != nil {
		t.Fatal(err)
	}
	distinct := map[string]bool{}
	for _, r := range rds {
		distinct[r.Device.String()+string(r.Payload[:8])] = true
	}
	if len(distinct) != 600 {
		t.Errorf("%d distinct readings journaled, want 600 (%d records)", len(distinct), len(rds))
	}
}
