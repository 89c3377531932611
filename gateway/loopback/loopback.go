// Package loopback tells whether a host or a listen address is the
// machine's loopback interface: what decides, across the gateway, that a
// listener stays private (plain HTTP to the OCS, the status page without a
// password, plain WebSockets) or that a request comes from the machine
// itself.
package loopback

import (
	"net"
	"net/netip"
	"strings"
)

// Host reports whether host names the loopback interface: "localhost" (in
// any case) or a loopback address, IPv6 in brackets or not, with or without
// a ":port" (a Host header is accepted as it comes).
func Host(host string) bool {
	h := host
	if hh, _, err := net.SplitHostPort(host); err == nil {
		h = hh
	}
	h = strings.TrimSuffix(strings.TrimPrefix(h, "["), "]")
	if strings.EqualFold(h, "localhost") {
		return true
	}
	a, err := netip.ParseAddr(h)
	return err == nil && a.IsLoopback()
}

// Listen reports whether a listen address "host:port" binds loopback only.
// An address without a host (":8080") binds every interface: false.
func Listen(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	return err == nil && host != "" && Host(host)
}
