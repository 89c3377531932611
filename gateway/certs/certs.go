// Package certs keeps the gateway's own TLS key pairs: generated on first
// start, persisted in the data directory, loaded unchanged afterwards so
// that peers can pin them. The DTLS link, the steward's secure WebSockets,
// the JOSP endpoint's TLS mode and the upstream OCS client each have a
// pair of their own, named by [Spec.Name].
//
// Files are never silently replaced: a corrupt or mismatched file, a
// certificate without its key, or a key file readable by group or others is
// an error (ErrFiles) to be fixed by hand. The one repair made is a key
// without its certificate (what a crash during the first start leaves): a
// certificate is issued again for the same key.
package certs

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1" //nolint:gosec // a fingerprint format clients ask for, not a signature
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"github.com/edgegate/edgegate/gateway/atomicfile"
)

// ErrFiles is returned (wrapped) by LoadOrCreate for key or certificate
// files it will not use: unreadable, corrupt, mismatched, a certificate
// without its key, or a key readable by others.
var ErrFiles = errors.New("certs: certificate files")

// KeyType is the algorithm of a generated key.
type KeyType uint8

// Key types.
const (
	// ECDSAP256 is an ECDSA key on NIST P-256 (the default).
	ECDSAP256 KeyType = iota
	// RSA2048 is a 2048-bit RSA key, for peers that accept nothing else.
	RSA2048
)

// Spec describes one key pair: where it is kept and what a newly issued
// certificate says. A pair already on disk is loaded as it is, whatever
// Spec says now.
type Spec struct {
	// Name is the files' base name: Name-key.pem (PKCS #8, mode 0600) and
	// Name-cert.pem (mode 0644). Letters, digits, '-' and '_'.
	Name string
	// Subject is the certificate's subject; CommonName is required.
	Subject pkix.Name
	// DNSNames and IPs are the subject alternative names.
	DNSNames []string
	IPs      []net.IP
	// ExtKeyUsage defaults to server and client authentication.
	ExtKeyUsage []x509.ExtKeyUsage
	// Key is the algorithm of a new key.
	Key KeyType
}

var nameRE = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)

// KeyPath returns the key file's path for spec's name in dir.
func KeyPath(dir, name string) string { return filepath.Join(dir, name+"-key.pem") }

// CertPath returns the certificate file's path for spec's name in dir.
func CertPath(dir, name string) string { return filepath.Join(dir, name+"-cert.pem") }

// LoadOrCreate returns the key pair spec names, kept in dir (which must
// exist), creating it on first use: a new key and a self-signed certificate
// for it. The returned certificate has Leaf set.
func LoadOrCreate(dir string, spec Spec) (tls.Certificate, error) {
	if !nameRE.MatchString(spec.Name) {
		return tls.Certificate{}, fmt.Errorf("certs: invalid name %q", spec.Name)
	}
	if spec.Subject.CommonName == "" {
		return tls.Certificate{}, fmt.Errorf("certs: %s: a CommonName is required", spec.Name)
	}
	keyPath, certPath := KeyPath(dir, spec.Name), CertPath(dir, spec.Name)
	keyPEM, kerr := os.ReadFile(keyPath)
	certPEM, cerr := os.ReadFile(certPath)
	switch {
	case kerr == nil && cerr == nil:
		if err := checkKeyMode(keyPath); err != nil {
			return tls.Certificate{}, err
		}
		c, err := tls.X509KeyPair(certPEM, keyPEM)
		if err != nil {
			return tls.Certificate{}, fmt.Errorf("%w: %s, %s: %w", ErrFiles, keyPath, certPath, err)
		}
		return c, nil
	case errors.Is(kerr, fs.ErrNotExist) && errors.Is(cerr, fs.ErrNotExist):
		key, err := generate(spec.Key)
		if err != nil {
			return tls.Certificate{}, fmt.Errorf("certs: %s: generate key: %w", spec.Name, err)
		}
		der, err := x509.MarshalPKCS8PrivateKey(key)
		if err != nil {
			return tls.Certificate{}, fmt.Errorf("certs: %s: encode key: %w", spec.Name, err)
		}
		// The key first: a crash before the certificate is written leaves
		// the state repaired below.
		if err := atomicfile.WriteFile(keyPath, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600); err != nil {
			return tls.Certificate{}, err
		}
		return issue(key, spec, certPath)
	case kerr == nil && errors.Is(cerr, fs.ErrNotExist):
		if err := checkKeyMode(keyPath); err != nil {
			return tls.Certificate{}, err
		}
		key, err := parseKey(keyPEM)
		if err != nil {
			return tls.Certificate{}, fmt.Errorf("%w: %s: %w", ErrFiles, keyPath, err)
		}
		return issue(key, spec, certPath)
	case errors.Is(kerr, fs.ErrNotExist) && cerr == nil:
		return tls.Certificate{}, fmt.Errorf("%w: %s exists without %s: remove it to generate a new key pair", ErrFiles, certPath, keyPath)
	case kerr != nil:
		return tls.Certificate{}, fmt.Errorf("%w: %w", ErrFiles, kerr)
	default:
		return tls.Certificate{}, fmt.Errorf("%w: %w", ErrFiles, cerr)
	}
}

func generate(t KeyType) (crypto.Signer, error) {
	switch t {
	case ECDSAP256:
		return ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	case RSA2048:
		return rsa.GenerateKey(rand.Reader, 2048)
	default:
		return nil, fmt.Errorf("unknown key type %d", t)
	}
}

// issue writes a self-signed certificate for key to certPath.
//
// The dates do not carry the trust (peers pin the certificate or its key),
// and a board without a real-time clock may run with its clock far off
// either way, so they are wide: from 2000 to 9999-12-31, the "no
// well-defined expiration" of RFC 5280 section 4.1.2.5.
func issue(key crypto.Signer, spec Spec, certPath string) (tls.Certificate, error) {
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("certs: %s: serial: %w", spec.Name, err)
	}
	usage := x509.KeyUsageDigitalSignature
	if _, ok := key.(*rsa.PrivateKey); ok {
		usage |= x509.KeyUsageKeyEncipherment
	}
	ext := spec.ExtKeyUsage
	if len(ext) == 0 {
		ext = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth}
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               spec.Subject,
		DNSNames:              spec.DNSNames,
		IPAddresses:           spec.IPs,
		NotBefore:             time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC),
		NotAfter:              time.Date(9999, 12, 31, 23, 59, 59, 0, time.UTC),
		KeyUsage:              usage,
		ExtKeyUsage:           ext,
		BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("certs: %s: create certificate: %w", spec.Name, err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("certs: %s: parse certificate: %w", spec.Name, err)
	}
	if err := atomicfile.WriteFile(certPath, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644); err != nil {
		return tls.Certificate{}, err
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}, nil
}

// parseKey decodes a PEM private key: PKCS #8, SEC 1 (EC) or PKCS #1 (RSA).
func parseKey(b []byte) (crypto.Signer, error) {
	blk, _ := pem.Decode(b)
	if blk == nil {
		return nil, errors.New("no PEM block")
	}
	var k any
	var err error
	switch blk.Type {
	case "PRIVATE KEY":
		k, err = x509.ParsePKCS8PrivateKey(blk.Bytes)
	case "EC PRIVATE KEY":
		k, err = x509.ParseECPrivateKey(blk.Bytes)
	case "RSA PRIVATE KEY":
		k, err = x509.ParsePKCS1PrivateKey(blk.Bytes)
	default:
		return nil, fmt.Errorf("PEM block %q, want PRIVATE KEY", blk.Type)
	}
	if err != nil {
		return nil, err
	}
	switch k := k.(type) {
	case *ecdsa.PrivateKey:
		return k, nil
	case *rsa.PrivateKey:
		return k, nil
	default:
		return nil, fmt.Errorf("key %T, want ECDSA or RSA", k)
	}
}

// checkKeyMode refuses a key file that group or others may read.
func checkKeyMode(path string) error {
	fi, err := os.Stat(path)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrFiles, err)
	}
	if m := fi.Mode().Perm(); m&0o077 != 0 {
		return fmt.Errorf("%w: %s has mode %#o: it must not be readable by group or others (chmod 600)", ErrFiles, path, m)
	}
	return nil
}

// SHA256 returns the certificate's SHA-256 fingerprint (of its DER bytes)
// as lower-case hex without separators.
func SHA256(der []byte) string {
	s := sha256.Sum256(der)
	return hex.EncodeToString(s[:])
}

// SHA1 returns the certificate's SHA-1 fingerprint as lower-case hex.
func SHA1(der []byte) string {
	s := sha1.Sum(der) //nolint:gosec // a fingerprint, see the import
	return hex.EncodeToString(s[:])
}

// Colons formats a hex fingerprint as upper-case pairs separated by colons
// ("AB:CD:..."), the form openssl and browsers print.
func Colons(hexFP string) string {
	var b strings.Builder
	for i := 0; i+1 < len(hexFP); i += 2 {
		if i > 0 {
			b.WriteByte(':')
		}
		b.WriteString(strings.ToUpper(hexFP[i : i+2]))
	}
	return b.String()
}

// PEM returns the certificate's leaf as a PEM block.
func PEM(c tls.Certificate) []byte {
	if len(c.Certificate) == 0 {
		return nil
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Certificate[0]})
}
