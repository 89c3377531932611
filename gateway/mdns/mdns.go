// Package mdns advertises the gateway's services by multicast DNS with
// DNS-SD (RFC 6762, RFC 6763) and browses for them. It is the one place that
// knows github.com/grandcat/zeroconf: the steward's `_wss._tcp` and
// `_https._tcp`, and the JOSP objects' `_josp2._tcp`, are advertised through
// an [Advertiser]; tests and gatewayctl find them with [Browse] and
// [Lookup].
//
// Every advertisement is its own zeroconf responder (a socket per address
// family, joined to the mDNS group on the chosen interfaces), announced when
// created and withdrawn with a goodbye (TTL 0) when closed. The host records
// (A/AAAA) carry the addresses of the chosen interfaces, loopback included,
// so a gateway configured for `lo` only is discoverable from the same
// machine and nowhere else.
package mdns

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"slices"
	"strings"
	"sync"

	"github.com/grandcat/zeroconf"
)

// Domain is the mDNS domain.
const Domain = "local."

// ErrNoInterface is returned when none of the configured interfaces exists,
// is up and has an address.
var ErrNoInterface = errors.New("mdns: no usable interface")

// Options configures an Advertiser.
type Options struct {
	// Interfaces names the network interfaces to advertise on (say
	// ["lo"] or ["eth0", "wlan0"]). Empty: every interface that is up and
	// multicast-capable, loopback excluded.
	Interfaces []string
	// Host is the host name the SRV records point at, without ".local"
	// (default: the machine's host name).
	Host string
	// Logger gets advertisement events (nil: discarded).
	Logger *slog.Logger
}

// Advertiser advertises services on a fixed set of interfaces. It is safe
// for concurrent use.
type Advertiser struct {
	ifaces []net.Interface
	ips    []string
	host   string
	log    *slog.Logger

	mu   sync.Mutex
	regs map[*Registration]struct{}
}

// Service is one DNS-SD service instance.
type Service struct {
	// Instance is the instance name ("steward", a JOSP object's name).
	Instance string
	// Type is the service type with its protocol, "_wss._tcp".
	Type string
	// Port is the TCP (or UDP) port the service listens on.
	Port int
	// Text is the TXT record, "key=value" strings.
	Text []string
}

// New resolves the interfaces and their addresses. It fails with
// ErrNoInterface when none is usable.
func New(opts Options) (*Advertiser, error) {
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	ifaces, err := Interfaces(opts.Interfaces)
	if err != nil {
		return nil, err
	}
	host := opts.Host
	if host == "" {
		if host, err = os.Hostname(); err != nil || host == "" {
			host = "edgegate"
		}
	}
	host = strings.TrimSuffix(strings.TrimSuffix(host, "."), ".local")
	var ips []string
	for _, ifc := range ifaces {
		addrs, err := ifc.Addrs()
		if err != nil {
			continue
		}
		for _, a := range addrs {
			ipn, ok := a.(*net.IPNet)
			if !ok {
				continue
			}
			ip, ok := netip.AddrFromSlice(ipn.IP)
			if !ok {
				continue
			}
			ip = ip.Unmap()
			if ip.Is6() && !ip.IsLoopback() && !ip.IsGlobalUnicast() && !ip.IsLinkLocalUnicast() {
				continue
			}
			ips = append(ips, ip.String())
		}
	}
	if len(ips) == 0 {
		return nil, fmt.Errorf("%w: %v has no address", ErrNoInterface, opts.Interfaces)
	}
	return &Advertiser{ifaces: ifaces, ips: ips, host: host, log: log, regs: map[*Registration]struct{}{}}, nil
}

// Interfaces resolves interface names (empty: every up, multicast-capable,
// non-loopback interface) and fails with ErrNoInterface when none is left.
func Interfaces(names []string) ([]net.Interface, error) {
	all, err := net.Interfaces()
	if err != nil {
		return nil, fmt.Errorf("mdns: interfaces: %w", err)
	}
	var out []net.Interface
	for _, ifc := range all {
		if ifc.Flags&net.FlagUp == 0 {
			continue
		}
		if len(names) == 0 {
			if ifc.Flags&net.FlagMulticast != 0 && ifc.Flags&net.FlagLoopback == 0 {
				out = append(out, ifc)
			}
			continue
		}
		if slices.Contains(names, ifc.Name) {
			out = append(out, ifc)
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%w: none of %v is up", ErrNoInterface, names)
	}
	return out, nil
}

// Advertise announces svc until the returned Registration is closed (or
// the Advertiser is).
func (a *Advertiser) Advertise(svc Service) (*Registration, error) {
	if svc.Instance == "" || svc.Type == "" || svc.Port <= 0 || svc.Port > 65535 {
		return nil, fmt.Errorf("mdns: advertise %q %q port %d: instance, type and port are required", svc.Instance, svc.Type, svc.Port)
	}
	srv, err := zeroconf.RegisterProxy(svc.Instance, svc.Type, Domain, svc.Port, a.host, a.ips, slices.Clone(svc.Text), a.ifaces)
	if err != nil {
		return nil, fmt.Errorf("mdns: advertise %s.%s: %w", svc.Instance, svc.Type, err)
	}
	r := &Registration{a: a, srv: srv, svc: svc}
	a.mu.Lock()
	a.regs[r] = struct{}{}
	a.mu.Unlock()
	a.log.Info("mdns: advertised", "instance", svc.Instance, "type", svc.Type, "port", svc.Port)
	return r, nil
}

// Close withdraws every advertisement still open.
func (a *Advertiser) Close() {
	a.mu.Lock()
	regs := make([]*Registration, 0, len(a.regs))
	for r := range a.regs {
		regs = append(regs, r)
	}
	a.mu.Unlock()
	for _, r := range regs {
		r.Close()
	}
}

// Registration is one advertised service.
type Registration struct {
	a    *Advertiser
	once sync.Once

	mu  sync.Mutex
	srv *zeroconf.Server
	svc Service
}

// SetText replaces the TXT record: the old responder says goodbye and a
// new one announces the new record. (zeroconf's own SetText changes the
// record under its responder goroutines without a lock.)
func (r *Registration) SetText(text []string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.srv == nil {
		return fmt.Errorf("mdns: re-advertise %s.%s: registration closed", r.svc.Instance, r.svc.Type)
	}
	svc := r.svc
	svc.Text = slices.Clone(text)
	r.srv.Shutdown()
	srv, err := zeroconf.RegisterProxy(svc.Instance, svc.Type, Domain, svc.Port, r.a.host, r.a.ips, slices.Clone(svc.Text), r.a.ifaces)
	if err != nil {
		return fmt.Errorf("mdns: re-advertise %s.%s: %w", svc.Instance, svc.Type, err)
	}
	r.srv, r.svc = srv, svc
	return nil
}

// Close withdraws the advertisement (a goodbye with TTL 0) and closes its
// sockets. It is idempotent.
func (r *Registration) Close() {
	r.once.Do(func() {
		r.a.mu.Lock()
		delete(r.a.regs, r)
		r.a.mu.Unlock()
		r.mu.Lock()
		if r.srv != nil {
			r.srv.Shutdown()
			r.srv = nil
		}
		r.mu.Unlock()
		r.a.log.Info("mdns: withdrawn", "instance", r.svc.Instance, "type", r.svc.Type)
	})
}

// Entry is a service instance found by Browse or Lookup.
type Entry struct {
	Instance string
	Type     string
	Host     string
	Port     int
	Addrs    []netip.Addr
	Text     []string
}

// TXT returns the value of key in the entry's TXT record and whether it is
// there.
func (e Entry) TXT(key string) (string, bool) {
	for _, kv := range e.Text {
		k, v, _ := strings.Cut(kv, "=")
		if strings.EqualFold(k, key) {
			return v, true
		}
	}
	return "", false
}

// Browse collects the instances of service (say "_wss._tcp") that answer
// on the named interfaces (empty: every multicast interface) until ctx
// ends, and returns them. A context that ends is not an error.
func Browse(ctx context.Context, service string, interfaces []string) ([]Entry, error) {
	return collect(ctx, interfaces, func(r *zeroconf.Resolver, ch chan *zeroconf.ServiceEntry) error {
		return r.Browse(ctx, service, Domain, ch)
	}, 0)
}

// Lookup waits until instance of service answers on the named interfaces
// and returns it, or fails with ctx's error.
func Lookup(ctx context.Context, instance, service string, interfaces []string) (Entry, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	es, err := collect(ctx, interfaces, func(r *zeroconf.Resolver, ch chan *zeroconf.ServiceEntry) error {
		return r.Lookup(ctx, instance, service, Domain, ch)
	}, 1)
	if err != nil {
		return Entry{}, err
	}
	if len(es) == 0 {
		return Entry{}, fmt.Errorf("mdns: lookup %s.%s: %w", instance, service, context.Cause(ctx))
	}
	return es[0], nil
}

// collect runs a query and gathers its entries until ctx ends or, when
// stopAfter > 0, that many were found.
func collect(ctx context.Context, interfaces []string, query func(*zeroconf.Resolver, chan *zeroconf.ServiceEntry) error, stopAfter int) ([]Entry, error) {
	var opts []zeroconf.ClientOption
	if len(interfaces) > 0 {
		ifaces, err := Interfaces(interfaces)
		if err != nil {
			return nil, err
		}
		opts = append(opts, zeroconf.SelectIfaces(ifaces))
	}
	r, err := zeroconf.NewResolver(opts...)
	if err != nil {
		return nil, fmt.Errorf("mdns: resolver: %w", err)
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	ch := make(chan *zeroconf.ServiceEntry, 16)
	if err := query(r, ch); err != nil {
		return nil, fmt.Errorf("mdns: query: %w", err)
	}
	var out []Entry
	for {
		select {
		case e, ok := <-ch:
			if !ok {
				return out, nil
			}
			out = append(out, toEntry(e))
			if stopAfter > 0 && len(out) >= stopAfter {
				cancel()
				return out, nil
			}
		case <-ctx.Done():
			return out, nil
		}
	}
}

func toEntry(e *zeroconf.ServiceEntry) Entry {
	out := Entry{Instance: unescape(e.Instance), Type: e.Service, Host: e.HostName, Port: e.Port, Text: e.Text}
	for _, ip := range slices.Concat(e.AddrIPv4, e.AddrIPv6) {
		if a, ok := netip.AddrFromSlice(ip); ok {
			out.Addrs = append(out.Addrs, a.Unmap())
		}
	}
	return out
}

// unescape undoes the DNS presentation escapes (`\ `, `\.`, `\DDD`) that
// zeroconf leaves in instance names.
func unescape(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c != '\\' || i+1 >= len(s) {
			b.WriteByte(c)
			continue
		}
		if i+3 < len(s) && isDigit(s[i+1]) && isDigit(s[i+2]) && isDigit(s[i+3]) {
			b.WriteByte((s[i+1]-'0')*100 + (s[i+2]-'0')*10 + (s[i+3] - '0'))
			i += 3
			continue
		}
		b.WriteByte(s[i+1])
		i++
	}
	return b.String()
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }
