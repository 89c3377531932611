package dtls

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"math/big"
	"os"
	"path/filepath"
	"time"
)

// The files LoadOrCreateCertificate keeps in the data directory.
const (
	KeyFile  = "dtls-key.pem"  // PKCS #8 "PRIVATE KEY", mode 0600
	CertFile = "dtls-cert.pem" // "CERTIFICATE", mode 0644
)

// CertCommonName is the subject (and only DNS name) of the certificate
// LoadOrCreateCertificate issues; a client verifying it against the pinned
// certificate may use it as its server name.
const CertCommonName = "edgegate-gatewayd"

// LoadOrCreateCertificate returns the gateway's DTLS key pair kept in dir
// (which must exist), creating it on first use: an ECDSA P-256 key and a
// self-signed certificate for it. Afterwards the same pair is loaded, so
// clients can pin it.
//
// Files are never silently replaced: a corrupt or mismatched file, a
// certificate without its key, or a key file readable by group or others
// is an error (ErrCertificate) to be fixed by hand. The one repair made is
// a key without its certificate (what a crash during the first start
// leaves): a certificate is issued again for the same key.
func LoadOrCreateCertificate(dir string) (tls.Certificate, error) {
	keyPath, certPath := filepath.Join(dir, KeyFile), filepath.Join(dir, CertFile)
	keyPEM, kerr := os.ReadFile(keyPath)
	certPEM, cerr := os.ReadFile(certPath)
	switch {
	case kerr == nil && cerr == nil:
		if err := checkKeyMode(keyPath); err != nil {
			return tls.Certificate{}, err
		}
		c, err := tls.X509KeyPair(certPEM, keyPEM)
		if err != nil {
			return tls.Certificate{}, fmt.Errorf("%w: %s, %s: %w", ErrCertificate, keyPath, certPath, err)
		}
		return c, nil
	case errors.Is(kerr, fs.ErrNotExist) && errors.Is(cerr, fs.ErrNotExist):
		key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			return tls.Certificate{}, fmt.Errorf("dtls: generate key: %w", err)
		}
		der, err := x509.MarshalPKCS8PrivateKey(key)
		if err != nil {
			return tls.Certificate{}, fmt.Errorf("dtls: encode key: %w", err)
		}
		// The key first: a crash before the certificate is written leaves
		// the state repaired below.
		if err := writeFileAtomic(keyPath, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600); err != nil {
			return tls.Certificate{}, err
		}
		return issue(key, certPath)
	case kerr == nil && errors.Is(cerr, fs.ErrNotExist):
		if err := checkKeyMode(keyPath); err != nil {
			return tls.Certificate{}, err
		}
		key, err := parseKey(keyPEM)
		if err != nil {
			return tls.Certificate{}, fmt.Errorf("%w: %s: %w", ErrCertificate, keyPath, err)
		}
		return issue(key, certPath)
	case errors.Is(kerr, fs.ErrNotExist) && cerr == nil:
		return tls.Certificate{}, fmt.Errorf("%w: %s exists without %s: remove it to generate a new key pair", ErrCertificate, certPath, keyPath)
	case kerr != nil:
		return tls.Certificate{}, fmt.Errorf("%w: %w", ErrCertificate, kerr)
	default:
		return tls.Certificate{}, fmt.Errorf("%w: %w", ErrCertificate, cerr)
	}
}

// issue writes a self-signed certificate for key to certPath.
//
// The dates do not carry the trust (clients pin the certificate or its
// key), and a board without a real-time clock may run with its clock far
// off either way, so they are wide: from 2000 to 9999-12-31, the "no
// well-defined expiration" of RFC 5280 section 4.1.2.5.
func issue(key crypto.Signer, certPath string) (tls.Certificate, error) {
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("dtls: certificate serial: %w", err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: CertCommonName},
		DNSNames:              []string{CertCommonName},
		NotBefore:             time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC),
		NotAfter:              time.Date(9999, 12, 31, 23, 59, 59, 0, time.UTC),
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("dtls: create certificate: %w", err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("dtls: parse certificate: %w", err)
	}
	if err := writeFileAtomic(certPath, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644); err != nil {
		return tls.Certificate{}, err
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}, nil
}

// parseKey decodes a PEM private key (PKCS #8 or SEC 1) that must be ECDSA.
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
	default:
		return nil, fmt.Errorf("PEM block %q, want PRIVATE KEY", blk.Type)
	}
	if err != nil {
		return nil, err
	}
	ek, ok := k.(*ecdsa.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("key %T, want ECDSA", k)
	}
	return ek, nil
}

// checkKeyMode refuses a key file that group or others may read.
func checkKeyMode(path string) error {
	fi, err := os.Stat(path)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrCertificate, err)
	}
	if m := fi.Mode().Perm(); m&0o077 != 0 {
		return fmt.Errorf("%w: %s has mode %#o: it must not be readable by group or others (chmod 600)", ErrCertificate, path, m)
	}
	return nil
}

// writeFileAtomic writes path through a synced temporary file renamed over
// it, then syncs the directory, so a crash leaves the old file or the new
// one, whole.
func writeFileAtomic(path string, data []byte, mode os.FileMode) (err error) {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp*") // created 0600
	if err != nil {
		return fmt.Errorf("dtls: write %s: %w", path, err)
	}
	defer func() {
		if err != nil {
			_ = f.Close()
			_ = os.Remove(f.Name())
			err = fmt.Errorf("dtls: write %s: %w", path, err)
		}
	}()
	if _, err = f.Write(data); err != nil {
		return err
	}
	if err = f.Chmod(mode); err != nil {
		return err
	}
	if err = f.Sync(); err != nil {
		return err
	}
	if err = f.Close(); err != nil {
		return err
	}
	if err = os.Rename(f.Name(), path); err != nil {
		return err
	}
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
