package gateway

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"
)

// TestServicesRunAndStop checks that a registered service runs once the
// gateway is ready, is stopped by Run's context, and that a failing service
// stops the gateway with its error.
func TestServicesRunAndStop(t *testing.T) {
	const config = "[osp.udp]\nlisten = \"127.0.0.1:0\"\n"
	g := newGateway(t, t.TempDir(), config)
	running, stopped := make(chan struct{}), make(chan struct{})
	g.addService("test", func(ctx context.Context) error {
		close(running)
		<-ctx.Done()
		close(stopped)
		return nil
	}, nil)
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- g.Run(ctx) }()
	<-running
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Run = %v", err)
	}
	select {
	case <-stopped:
	default:
		t.Fatal("Run returned before the service stopped")
	}

	g = newGateway(t, t.TempDir(), config)
	errBoom := errors.New("boom")
	g.addService("failing", func(context.Context) error { return errBoom }, nil)
	select {
	case err := <-func() chan error { c := make(chan error, 1); go func() { c <- g.Run(t.Context()) }(); return c }():
		if !errors.Is(err, errBoom) || !strings.Contains(err.Error(), "failing") {
			t.Fatalf("Run = %v, want the service's error", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("a failing service did not stop the gateway")
	}
}

// TestServiceClosedWhenNewFails checks that New releases a service's
// resources when it fails after the service was added.
func TestServiceClosedWhenNewFails(t *testing.T) {
	g := newGateway(t, t.TempDir(), "[osp.udp]\nlisten = \"127.0.0.1:0\"\n")
	closed := false
	g.addService("x", func(context.Context) error { return nil }, func() { closed = true })
	g.closeEarly()
	if !closed {
		t.Fatal("closeEarly did not close the service")
	}
}

// TestMDNSAdvertiserShared checks that every caller gets the same
// advertiser and that a bad interface is reported with the key.
func TestMDNSAdvertiserShared(t *testing.T) {
	g := &Gateway{cfg: Config{MDNS: MDNSConfig{Interfaces: []string{"lo"}}}, log: discardLogger()}
	a, err := g.mdnsAdvertiser()
	if err != nil {
		t.Fatal(err)
	}
	if b, _ := g.mdnsAdvertiser(); a != b {
		t.Fatal("two advertisers")
	}
	g.closeMDNS()
	g = &Gateway{cfg: Config{MDNS: MDNSConfig{Interfaces: []string{"no-such-if0"}}}, log: discardLogger()}
	if _, err := g.mdnsAdvertiser(); err == nil || !strings.Contains(err.Error(), "mdns.interfaces") {
		t.Fatalf("err = %v", err)
	}
}

func discardLogger() *slog.Logger { return slog.New(slog.DiscardHandler) }
