package ocs

import (
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"strings"

	"github.com/edgegate/edgegate/gateway/loopback"
)

// Trust is the set of peer certificates one side of the contract accepts,
// the way the reference deploys it: a trust store holding the peers'
// self-signed leaf certificates (no CA), and, besides, SHA-256 fingerprints
// of certificates accepted whatever they say. A peer is accepted when its
// leaf's fingerprint is pinned, or when its chain verifies against Certs
// (with the host name checked on the client side, as the OPS's
// DefaultHostnameVerifier and the JDK do). An empty Trust accepts nobody.
type Trust struct {
	// Certs are trusted certificates: usually the peers' own self-signed
	// leaves, or a CA.
	Certs []*x509.Certificate
	// Pins are SHA-256 fingerprints of accepted leaf certificates.
	Pins [][sha256.Size]byte
}

// Empty reports whether t accepts nobody.
func (t Trust) Empty() bool { return len(t.Certs) == 0 && len(t.Pins) == 0 }

// Pin adds cert's fingerprint to t.
func (t *Trust) Pin(der []byte) { t.Pins = append(t.Pins, sha256.Sum256(der)) }

// AddPEM adds every certificate of a PEM file's contents to t.Certs.
func (t *Trust) AddPEM(pemBytes []byte) error {
	n := 0
	for {
		var blk *pem.Block
		blk, pemBytes = pem.Decode(pemBytes)
		if blk == nil {
			break
		}
		if blk.Type != "CERTIFICATE" {
			continue
		}
		c, err := x509.ParseCertificate(blk.Bytes)
		if err != nil {
			return fmt.Errorf("ocs: trust: %w: %v", ErrInvalid, err)
		}
		t.Certs = append(t.Certs, c)
		n++
	}
	if n == 0 {
		return fmt.Errorf("ocs: trust: %w: no CERTIFICATE block", ErrInvalid)
	}
	return nil
}

// AddFile adds the certificates of a PEM file to t.Certs.
func (t *Trust) AddFile(path string) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("ocs: trust: %w", err)
	}
	if err := t.AddPEM(b); err != nil {
		return fmt.Errorf("%w (%s)", err, path)
	}
	return nil
}

// LoadTrust returns the trust of PEM certificate files and SHA-256
// fingerprints ([ParsePin]).
func LoadTrust(files, pins []string) (Trust, error) {
	var t Trust
	for _, f := range files {
		if err := t.AddFile(f); err != nil {
			return Trust{}, err
		}
	}
	for _, p := range pins {
		pin, err := ParsePin(p)
		if err != nil {
			return Trust{}, err
		}
		t.Pins = append(t.Pins, pin)
	}
	return t, nil
}

// ParsePin reads a SHA-256 fingerprint: 64 hex digits, optionally prefixed
// "sha256:" and with colons between the bytes (as openssl prints them).
func ParsePin(s string) ([sha256.Size]byte, error) {
	var pin [sha256.Size]byte
	h := strings.ReplaceAll(strings.TrimPrefix(strings.ToLower(strings.TrimSpace(s)), "sha256:"), ":", "")
	b, err := hex.DecodeString(h)
	if err != nil || len(b) != sha256.Size {
		return pin, fmt.Errorf("ocs: pin %q: %w: want a SHA-256 fingerprint (64 hex digits)", s, ErrInvalid)
	}
	copy(pin[:], b)
	return pin, nil
}

// verify checks a peer's certificate chain against t. dnsName is checked
// when not empty (client side).
func (t Trust) verify(rawCerts [][]byte, usage x509.ExtKeyUsage, dnsName string) error {
	if len(rawCerts) == 0 {
		return errors.New("ocs: tls: the peer sent no certificate")
	}
	sum := sha256.Sum256(rawCerts[0])
	for _, p := range t.Pins {
		if p == sum {
			return nil
		}
	}
	if len(t.Certs) == 0 {
		return fmt.Errorf("ocs: tls: peer certificate sha256:%x is not pinned", sum)
	}
	certs := make([]*x509.Certificate, len(rawCerts))
	for i, der := range rawCerts {
		c, err := x509.ParseCertificate(der)
		if err != nil {
			return fmt.Errorf("ocs: tls: peer certificate: %w", err)
		}
		certs[i] = c
	}
	roots, inter := x509.NewCertPool(), x509.NewCertPool()
	for _, c := range t.Certs {
		roots.AddCert(c)
	}
	for _, c := range certs[1:] {
		inter.AddCert(c)
	}
	_, err := certs[0].Verify(x509.VerifyOptions{Roots: roots, Intermediates: inter, DNSName: dnsName,
		KeyUsages: []x509.ExtKeyUsage{usage}})
	if err != nil {
		return fmt.Errorf("ocs: tls: peer certificate sha256:%x (%s): %w", sum, certs[0].Subject.CommonName, err)
	}
	return nil
}

// ServerTLS returns the server side of the reference's deployment: TLS 1.3
// only (TLS_AES_256_GCM_SHA384 and TLS_AES_128_GCM_SHA256 are what Go
// negotiates), the server's certificate, and a client certificate required
// and checked against clients (client-auth=need).
func ServerTLS(cert tls.Certificate, clients Trust) (*tls.Config, error) {
	if clients.Empty() {
		return nil, fmt.Errorf("ocs: server tls: %w: no client certificate is trusted", ErrInvalid)
	}
	return &tls.Config{
		MinVersion:   tls.VersionTLS13,
		MaxVersion:   tls.VersionTLS13,
		Certificates: []tls.Certificate{cert},
		ClientAuth:   tls.RequireAnyClientCert,
		VerifyPeerCertificate: func(raw [][]byte, _ [][]*x509.Certificate) error {
			return clients.verify(raw, x509.ExtKeyUsageClientAuth, "")
		},
	}, nil
}

// ClientTLS returns the client side: TLS 1.3 only, cert presented as the
// client certificate, and the server's certificate checked against servers
// (its host name against serverName, unless the certificate is pinned).
func ClientTLS(cert tls.Certificate, servers Trust, serverName string) (*tls.Config, error) {
	if servers.Empty() {
		return nil, fmt.Errorf("ocs: client tls: %w: no server certificate is trusted", ErrInvalid)
	}
	return &tls.Config{
		MinVersion:   tls.VersionTLS13,
		MaxVersion:   tls.VersionTLS13,
		Certificates: []tls.Certificate{cert},
		ServerName:   serverName,
		// The chain is checked below, against Trust, not the system roots.
		InsecureSkipVerify: true, //nolint:gosec // verified in VerifyPeerCertificate
		VerifyPeerCertificate: func(raw [][]byte, _ [][]*x509.Certificate) error {
			return servers.verify(raw, x509.ExtKeyUsageServerAuth, serverName)
		},
	}, nil
}

// CheckURL validates an OCS base URL: https anywhere, plain http only on
// loopback (ErrPlainHTTP otherwise).
func CheckURL(base string) (*url.URL, error) {
	u, err := url.Parse(base)
	if err != nil {
		return nil, fmt.Errorf("ocs: url %q: %w: %v", base, ErrInvalid, err)
	}
	switch {
	case u.Host == "":
		return nil, fmt.Errorf("ocs: url %q: %w: no host", base, ErrInvalid)
	case u.Scheme == "https":
	case u.Scheme == "http":
		if !loopback.Host(u.Hostname()) {
			return nil, fmt.Errorf("ocs: url %q: %w", base, ErrPlainHTTP)
		}
	default:
		return nil, fmt.Errorf("ocs: url %q: %w: scheme must be https (or http on loopback)", base, ErrInvalid)
	}
	if u.RawQuery != "" || u.Fragment != "" {
		return nil, fmt.Errorf("ocs: url %q: %w: no query or fragment", base, ErrInvalid)
	}
	return u, nil
}

// CheckPlainListen refuses a plain-HTTP listen address that is not on
// loopback (ErrPlainHTTP).
func CheckPlainListen(addr string) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("ocs: listen %q: %w: %v", addr, ErrInvalid, err)
	}
	if !loopback.Host(host) {
		return fmt.Errorf("ocs: listen %q: %w", addr, ErrPlainHTTP)
	}
	return nil
}
