package josp

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"sync"
	"time"

	"github.com/edgegate/edgegate/gateway/certs"
	"github.com/edgegate/edgegate/gateway/josp/wire"
)

// CertName is the base name of the endpoint's key pair in the data
// directory (josp-key.pem, josp-cert.pem).
const CertName = "josp"

// LoadCertificate returns the endpoint's key pair from dir, creating it
// on first use: RSA-2048, self-signed, subject CN=cn,OU=JOSP,O=edgegate (a
// CN alone breaks the reference's peers, which read the CN up to the next
// comma). A newly created certificate whose DER holds the frame delimiter
// "##" is made again, because the reference's peers cut the certificate
// sharing stream there.
func LoadCertificate(dir, cn string) (tls.Certificate, error) {
	spec := certs.Spec{
		Name:    CertName,
		Subject: pkix.Name{CommonName: cn, OrganizationalUnit: []string{"JOSP"}, Organization: []string{"edgegate"}},
		Key:     certs.RSA2048,
	}
	_, statErr := os.Stat(certs.KeyPath(dir, CertName))
	fresh := errors.Is(statErr, fs.ErrNotExist)
	for try := 0; ; try++ {
		c, err := certs.LoadOrCreate(dir, spec)
		if err != nil {
			return c, fmt.Errorf("josp: %w", err)
		}
		if !fresh || try == 15 || !bytes.Contains(c.Certificate[0], []byte(wire.Delimiter)) {
			return c, nil
		}
		for _, p := range []string{certs.CertPath(dir, CertName), certs.KeyPath(dir, CertName)} {
			if err := os.Remove(p); err != nil {
				return c, fmt.Errorf("josp: %w", err)
			}
		}
	}
}

// maxTrusted bounds the certificates received by certificate sharing that
// the endpoint trusts (the oldest is forgotten first).
const maxTrusted = 256

// trustStore holds the certificates that services shared: the only ones
// their TLS connections may present, as with the reference (which keeps
// them in memory, from an empty set at each start).
type trustStore struct {
	mu    sync.Mutex
	certs map[[32]byte]bool
	order [][32]byte
}

func newTrustStore() *trustStore { return &trustStore{certs: map[[32]byte]bool{}} }

func (t *trustStore) add(der []byte) {
	k := sha256.Sum256(der)
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.certs[k] {
		return
	}
	t.certs[k] = true
	t.order = append(t.order, k)
	if len(t.order) > maxTrusted {
		delete(t.certs, t.order[0])
		t.order = t.order[1:]
	}
}

func (t *trustStore) has(der []byte) bool {
	k := sha256.Sum256(der)
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.certs[k]
}

func (t *trustStore) len() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.certs)
}

// errUntrusted fails a TLS handshake whose client certificate was not
// shared first.
var errUntrusted = errors.New("josp: client certificate not shared (use the certificate sharing port)")

// serverTLS returns the TLS configuration of the objects' listeners: TLS
// 1.2 only, a client certificate required, trusted when it was shared.
func serverTLS(cert tls.Certificate, trust *trustStore) *tls.Config {
	return &tls.Config{
		Certificates: []tls.Certificate{cert},
		MinVersion:   tls.VersionTLS12,
		MaxVersion:   tls.VersionTLS12,
		ClientAuth:   tls.RequireAnyClientCert,
		VerifyPeerCertificate: func(raw [][]byte, _ [][]*x509.Certificate) error {
			if len(raw) == 0 || !trust.has(raw[0]) {
				return errUntrusted
			}
			return nil
		},
	}
}

// peerCN returns the common name of the peer's certificate (the last of
// its chain, as the reference reads it).
func peerCN(st tls.ConnectionState) string {
	if n := len(st.PeerCertificates); n > 0 {
		return st.PeerCertificates[n-1].Subject.CommonName
	}
	return ""
}

// certSharingTimeout bounds one certificate sharing exchange, as the
// reference does.
const certSharingTimeout = 30 * time.Second

// shareCertificates runs the certificate sharing exchange on one
// connection of port+1: the gateway's certificate goes out as DER bytes
// and the delimiter, the peer's comes in the same way (its length read
// from the DER header, since the bytes may hold the delimiter) and is
// trusted; the exchange ends with the peer's bye, its hang-up or the
// timeout.
func shareCertificates(ctx context.Context, nc net.Conn, der []byte, trust *trustStore, onShared func(*x509.Certificate)) error {
	defer nc.Close()
	stop := context.AfterFunc(ctx, func() { nc.SetDeadline(time.Now()) })
	defer stop()
	_ = nc.SetDeadline(time.Now().Add(certSharingTimeout))
	if _, err := nc.Write(append(bytes.Clone(der), wire.Delimiter...)); err != nil {
		return err
	}
	fr := wire.NewFrameReader(nc, 64<<10)
	got := false
	for {
		head, err := fr.Peek(1)
		if err != nil {
			if got {
				return nil
			}
			return err
		}
		if head[0] == 0x30 && !got {
			var n int
			for k := 2; ; k++ {
				h, err := fr.Peek(k)
				if err != nil {
					return err
				}
				var ok bool
				if n, ok, err = wire.DERLength(h); err != nil {
					return err
				} else if ok {
					break
				}
			}
			if n > 64<<10 {
				return fmt.Errorf("josp: shared certificate of %d bytes", n)
			}
			b, err := fr.ReadFull(n)
			if err != nil {
				return err
			}
			c, err := x509.ParseCertificate(b)
			if err != nil {
				return fmt.Errorf("josp: shared certificate: %w", err)
			}
			trust.add(c.Raw)
			got = true
			if onShared != nil {
				onShared(c)
			}
			continue
		}
		f, err := fr.Next()
		if err != nil {
			if got {
				return nil
			}
			return err
		}
		switch string(f) {
		case wire.Bye:
			return nil
		case wire.HeartbeatRequest:
			if _, err := nc.Write(hbRsFrame); err != nil {
				return err
			}
		}
	}
}
