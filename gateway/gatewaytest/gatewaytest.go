// Package gatewaytest runs an in-process gateway for the tests of the
// programs built on it (gatewayctl, ospsim): UDP on a free loopback port,
// the admin API in a temporary data directory, stopped at the test's end.
package gatewaytest

import (
	"context"
	"strings"
	"testing"

	"github.com/edgegate/edgegate/gateway"
)

// Start parses config (TOML; UDP listens on 127.0.0.1:0 unless config sets
// [osp.udp]), starts the gateway with its data in a temporary directory,
// waits until it serves, and stops it when the test ends, failing the test
// if Run returns an error.
func Start(t testing.TB, config string) *gateway.Gateway {
	t.Helper()
	if !strings.Contains(config, "[osp.udp]") {
		config = "[osp.udp]\nlisten = \"127.0.0.1:0\"\n" + config
	}
	cfg, err := gateway.ParseConfig(strings.NewReader(config))
	if err != nil {
		t.Fatal(err)
	}
	g, err := gateway.New(cfg, t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- g.Run(ctx) }()
	<-g.Ready()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("gateway Run: %v", err)
		}
	})
	return g
}
