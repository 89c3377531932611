package loopback

import (
	"strings"
	"testing"
)

func TestHost(t *testing.T) {
	for host, want := range map[string]bool{"127.0.0.1:8080": true, "localhost": true, "LOCALHOST:1": true, "[::1]:80": true,
		"::1": true, "[::1]": true, "127.1.2.3": true, "::ffff:127.0.0.1": true, "192.168.1.5:8080": false,
		"gateway.local": false, "0.0.0.0": false, "::": false, "": false, "localhost.evil.example": false} {
		if got := Host(host); got != want {
			t.Errorf("Host(%q) = %v", host, got)
		}
	}
}

func TestListen(t *testing.T) {
	for addr, want := range map[string]bool{"127.0.0.1:8887": true, "localhost:80": true, "[::1]:80": true,
		":8080": false, "0.0.0.0:80": false, "192.168.1.5:80": false, "127.0.0.1": false, "": false} {
		if got := Listen(addr); got != want {
			t.Errorf("Listen(%q) = %v", addr, got)
		}
	}
}

// FuzzHost: no panic, and whatever is taken for loopback names localhost
// or holds a loopback address.
func FuzzHost(f *testing.F) {
	for _, s := range []string{"127.0.0.1:8080", "[::1]:80", "localhost", "evil.example", "::ffff:127.0.0.1"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, host string) {
		if Host(host) {
			h := strings.ToLower(host)
			if !strings.Contains(h, "localhost") && !strings.Contains(h, "127.") && !strings.Contains(h, ":") {
				t.Fatalf("%q taken for loopback", host)
			}
		}
	})
}
