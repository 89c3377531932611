package ocs

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"math/big"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/edgegate/edgegate/gateway/certs"
)

func trustOf(c tls.Certificate) Trust { return Trust{Certs: []*x509.Certificate{c.Leaf}} }

func pinOf(c tls.Certificate) Trust {
	var t Trust
	t.Pin(c.Certificate[0])
	return t
}

func okHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.TLS == nil || r.TLS.Version != tls.VersionTLS13 {
			w.WriteHeader(500)
			return
		}
		_, _ = w.Write([]byte(`{"version":"v","timestamp":"t"}`))
	})
}

func TestMutualTLS(t *testing.T) {
	pki := newPKI(t)
	stranger, err := certs.LoadOrCreate(t.TempDir(), certs.Spec{Name: "stranger", Subject: pkix.Name{CommonName: "gateway"}})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	cases := []struct {
		name       string
		clients    Trust // what the server trusts
		cert       tls.Certificate
		servers    Trust // what the client trusts
		serverName string
		ok         bool
	}{
		{"trust store both ways", trustOf(pki.client), pki.client, trustOf(pki.server), "", true},
		{"pinned both ways", pinOf(pki.client), pki.client, pinOf(pki.server), "", true},
		{"pinned server, any name", trustOf(pki.client), pki.client, pinOf(pki.server), "elsewhere.example", true},
		{"trust store checks the host name", trustOf(pki.client), pki.client, trustOf(pki.server), "elsewhere.example", false},
		{"www.ocs.com is in the certificate", trustOf(pki.client), pki.client, trustOf(pki.server), "www.ocs.com", true},
		{"client certificate not trusted", trustOf(pki.client), stranger, trustOf(pki.server), "", false},
		{"client certificate not pinned", pinOf(pki.client), stranger, trustOf(pki.server), "", false},
		{"server certificate not trusted", trustOf(pki.client), pki.client, trustOf(stranger), "", false},
		{"no client certificate", trustOf(pki.client), tls.Certificate{}, trustOf(pki.server), "", false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			hs := serveTLS(t, okHandler(), pki.server, c.clients)
			name := c.serverName
			if name == "" {
				name = "127.0.0.1"
			}
			cfg, err := ClientTLS(c.cert, c.servers, name)
			if err != nil {
				t.Fatal(err)
			}
			cl := NewClient(&http.Client{Transport: &http.Transport{TLSClientConfig: cfg}}, hs.URL)
			defer cl.Close()
			_, err = cl.Health(ctx)
			if (err == nil) != c.ok {
				t.Errorf("Health: %v, want ok=%v", err, c.ok)
			}
		})
	}
}

func TestTLS12Refused(t *testing.T) {
	pki := newPKI(t)
	hs := serveTLS(t, okHandler(), pki.server, trustOf(pki.client))
	cfg, _ := ClientTLS(pki.client, trustOf(pki.server), "127.0.0.1")
	cfg.MinVersion, cfg.MaxVersion = tls.VersionTLS12, tls.VersionTLS12
	cl := NewClient(&http.Client{Transport: &http.Transport{TLSClientConfig: cfg}}, hs.URL)
	if _, err := cl.Health(context.Background()); err == nil {
		t.Error("a TLS 1.2 client was served")
	}
}

func TestEmptyTrustRefused(t *testing.T) {
	pki := newPKI(t)
	if _, err := ServerTLS(pki.server, Trust{}); !errors.Is(err, ErrInvalid) {
		t.Errorf("ServerTLS without trust: %v", err)
	}
	if _, err := Dial("https://127.0.0.1:1", ClientOptions{Cert: pki.client}); !errors.Is(err, ErrInvalid) {
		t.Errorf("Dial without trust: %v", err)
	}
	if _, err := Dial("https://127.0.0.1:1", ClientOptions{Servers: trustOf(pki.server)}); !errors.Is(err, ErrInvalid) {
		t.Errorf("Dial without a client certificate: %v", err)
	}
}

func TestPlainHTTPOnlyOnLoopback(t *testing.T) {
	for _, c := range []struct {
		url string
		err error
	}{
		{"http://127.0.0.1:9009", nil},
		{"http://localhost:9009/", nil},
		{"http://[::1]:9009", nil},
		{"http://192.168.1.10:9009", ErrPlainHTTP},
		{"http://ocs.example.com", ErrPlainHTTP},
		{"https://ocs.example.com:9009", nil},
		{"ftp://ocs.example.com", ErrInvalid},
		{"https://", ErrInvalid},
		{"https://ocs/?x=1", ErrInvalid},
	} {
		_, err := CheckURL(c.url)
		if c.err == nil && err != nil || c.err != nil && !errors.Is(err, c.err) {
			t.Errorf("CheckURL(%q) = %v, want %v", c.url, err, c.err)
		}
	}
	for addr, want := range map[string]error{"127.0.0.1:9009": nil, "localhost:0": nil, "[::1]:1": nil,
		"0.0.0.0:9009": ErrPlainHTTP, ":9009": ErrPlainHTTP, "10.0.0.1:1": ErrPlainHTTP, "nonsense": ErrInvalid} {
		if err := CheckPlainListen(addr); want == nil && err != nil || want != nil && !errors.Is(err, want) {
			t.Errorf("CheckPlainListen(%q) = %v, want %v", addr, err, want)
		}
	}
}

func TestParsePin(t *testing.T) {
	sum := sha256.Sum256([]byte("x"))
	hexs := strings.ToUpper(certs.SHA256([]byte("x")))
	for _, s := range []string{hexs, "sha256:" + hexs, certs.Colons(hexs)} {
		p, err := ParsePin(s)
		if err != nil || p != sum {
			t.Errorf("ParsePin(%q) = %x, %v", s, p, err)
		}
	}
	for _, bad := range []string{"", "abcd", hexs + "00", "zz" + hexs[2:]} {
		if _, err := ParsePin(bad); !errors.Is(err, ErrInvalid) {
			t.Errorf("ParsePin(%q) accepted", bad)
		}
	}
}

func TestTrustAddPEM(t *testing.T) {
	pki := newPKI(t)
	var tr Trust
	if err := tr.AddPEM(append(certs.PEM(pki.server), certs.PEM(pki.client)...)); err != nil || len(tr.Certs) != 2 {
		t.Fatalf("AddPEM: %v, %d certs", err, len(tr.Certs))
	}
	if err := tr.AddPEM([]byte("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n")); !errors.Is(err, ErrInvalid) {
		t.Errorf("a key as a certificate: %v", err)
	}
}

// referenceCert issues a certificate shaped like the reference's demo
// keystores: RSA-2048, SHA256withRSA, self-signed, no EKU and no basic
// constraints, SAN localhost.
func referenceCert(t *testing.T, cn string) tls.Certificate {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: cn},
		DNSNames: []string{"localhost", cn}, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Date(2293, 1, 1, 0, 0, 0, 0, time.UTC),
		KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	leaf, _ := x509.ParseCertificate(der)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}
}

// TestReferenceStyleCertificates: the reference's trust stores hold the
// peers' self-signed RSA leaves without EKU or basic constraints, and the
// OPS checks the host name (localhost).
func TestReferenceStyleCertificates(t *testing.T) {
	ocsCert, opsCert := referenceCert(t, "www.ocs.com"), referenceCert(t, "www.ops.com")
	hs := serveTLS(t, okHandler(), ocsCert, trustOf(opsCert))
	port := hs.URL[strings.LastIndexByte(hs.URL, ':'):]
	cl, err := Dial("https://localhost"+port, ClientOptions{Cert: opsCert, Servers: trustOf(ocsCert)})
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	if _, err := cl.Health(context.Background()); err != nil {
		t.Errorf("OPS-style client against OCS-style server: %v", err)
	}
	cl2, _ := Dial(hs.URL, ClientOptions{Cert: opsCert, Servers: trustOf(ocsCert)}) // 127.0.0.1 is not in the SAN
	defer cl2.Close()
	if _, err := cl2.Health(context.Background()); err == nil {
		t.Error("host name not checked")
	}
}

func TestLoadTrust(t *testing.T) {
	pki := newPKI(t)
	file := filepath.Join(t.TempDir(), "server.pem")
	if err := os.WriteFile(file, certs.PEM(pki.server), 0o600); err != nil {
		t.Fatal(err)
	}
	tr, err := LoadTrust([]string{file}, []string{certs.SHA256(pki.client.Certificate[0])})
	if err != nil || len(tr.Certs) != 1 || !tr.Certs[0].Equal(pki.server.Leaf) || len(tr.Pins) != 1 ||
		tr.Pins[0] != sha256.Sum256(pki.client.Certificate[0]) {
		t.Fatalf("LoadTrust = %+v, %v", tr, err)
	}
	if _, err := LoadTrust(nil, []string{"abcd"}); !errors.Is(err, ErrInvalid) {
		t.Errorf("a bad pin: %v", err)
	}
	if _, err := LoadTrust([]string{filepath.Join(t.TempDir(), "missing.pem")}, nil); err == nil {
		t.Error("a missing file")
	}
}
