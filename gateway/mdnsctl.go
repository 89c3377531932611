package gateway

import (
	"fmt"
	"sync"

	"github.com/edgegate/edgegate/gateway/mdns"
)

// MDNSConfig says where the gateway's services are advertised by multicast
// DNS ([mdns]).
type MDNSConfig struct {
	// Interfaces to advertise on, by name; empty: every multicast
	// interface but loopback. The embedded configuration says ["lo"], so
	// `make run` is found from the same machine only.
	Interfaces []string `toml:"interfaces"`
	// Host is the host name the records point at (default: the machine's).
	Host string `toml:"host"`
}

// advertiser returns the gateway's shared mDNS advertiser, created on first
// use from [mdns]; every service that advertises uses it, and Run closes it.
type advertiser struct {
	once sync.Once
	adv  *mdns.Advertiser
	err  error
}

// mdnsAdvertiser returns the shared advertiser, creating it on first use.
func (g *Gateway) mdnsAdvertiser() (*mdns.Advertiser, error) {
	g.mdns.once.Do(func() {
		g.mdns.adv, g.mdns.err = mdns.New(mdns.Options{Interfaces: g.cfg.MDNS.Interfaces, Host: g.cfg.MDNS.Host,
			Logger: g.log.With("subsystem", "mdns")})
		if g.mdns.err != nil {
			g.mdns.err = fmt.Errorf("gateway: mdns.interfaces %v: %w", g.cfg.MDNS.Interfaces, g.mdns.err)
		}
	})
	return g.mdns.adv, g.mdns.err
}

// closeMDNS withdraws every advertisement.
func (g *Gateway) closeMDNS() {
	if g.mdns.adv != nil {
		g.mdns.adv.Close()
	}
}
