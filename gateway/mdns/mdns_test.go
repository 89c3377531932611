package mdns_test

import (
	"context"
	"net"
	"testing"
	"time"

	"github.com/edgegate/edgegate/gateway/mdns"
)

// freePort returns a TCP port nothing listens on (for the SRV record only).
func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// TestAdvertiseLookupLoopback advertises on lo and finds the service over
// real multicast DNS on the same interface: SRV port, TXT and the loopback
// address, then a TXT change, then the goodbye.
func TestAdvertiseLookupLoopback(t *testing.T) {
	adv, err := mdns.New(mdns.Options{Interfaces: []string{"lo"}, Host: "edgegate-test"})
	if err != nil {
		t.Fatal(err)
	}
	defer adv.Close()
	port := freePort(t)
	reg, err := adv.Advertise(mdns.Service{Instance: "steward test", Type: "_edgegatetest._tcp", Port: port,
		Text: []string{"uuid=1234", "name=barn"}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	e, err := mdns.Lookup(ctx, "steward test", "_edgegatetest._tcp", []string{"lo"})
	if err != nil {
		t.Fatal(err)
	}
	if e.Instance != "steward test" || e.Port != port || e.Host != "edgegate-test.local." {
		t.Fatalf("entry = %+v", e)
	}
	if v, ok := e.TXT("uuid"); !ok || v != "1234" {
		t.Fatalf("TXT uuid = %q, %v (%v)", v, ok, e.Text)
	}
	found := false
	for _, a := range e.Addrs {
		found = found || a.IsLoopback()
	}
	if !found {
		t.Fatalf("no loopback address in %v", e.Addrs)
	}

	if err := reg.SetText([]string{"uuid=1234", "name=shed"}); err != nil {
		t.Fatal(err)
	}
	ctx2, cancel2 := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel2()
	e, err = mdns.Lookup(ctx2, "steward test", "_edgegatetest._tcp", []string{"lo"})
	if err != nil {
		t.Fatal(err)
	}
	if v, _ := e.TXT("name"); v != "shed" {
		t.Fatalf("TXT after SetText = %v", e.Text)
	}

	reg.Close()
	reg.Close() // idempotent
	ctx3, cancel3 := context.WithTimeout(t.Context(), 1500*time.Millisecond)
	defer cancel3()
	es, err := mdns.Browse(ctx3, "_edgegatetest._tcp", []string{"lo"})
	if err != nil {
		t.Fatal(err)
	}
	if len(es) != 0 {
		t.Fatalf("withdrawn service still answers: %+v", es)
	}
}

func TestBrowseMany(t *testing.T) {
	adv, err := mdns.New(mdns.Options{Interfaces: []string{"lo"}, Host: "edgegate-test"})
	if err != nil {
		t.Fatal(err)
	}
	defer adv.Close()
	for _, name := range []string{"a", "b", "c"} {
		if _, err := adv.Advertise(mdns.Service{Instance: name, Type: "_edgegatemany._tcp", Port: freePort(t)}); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Second)
	defer cancel()
	es, err := mdns.Browse(ctx, "_edgegatemany._tcp", []string{"lo"})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]bool{}
	for _, e := range es {
		got[e.Instance] = true
	}
	if !got["a"] || !got["b"] || !got["c"] {
		t.Fatalf("browse found %v", got)
	}
}

func TestOptionsErrors(t *testing.T) {
	if _, err := mdns.New(mdns.Options{Interfaces: []string{"no-such-if0"}}); err == nil {
		t.Fatal("New with a missing interface succeeded")
	}
	adv, err := mdns.New(mdns.Options{Interfaces: []string{"lo"}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := adv.Advertise(mdns.Service{Instance: "x", Type: "_x._tcp"}); err == nil {
		t.Fatal("Advertise without a port succeeded")
	}
}
