package certs

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"
)

const testCN = "edgegate-test"

var testSpec = Spec{Name: "test", Subject: pkix.Name{CommonName: testCN, Organization: []string{"edgegate"}},
	DNSNames: []string{testCN, "localhost"}, IPs: []net.IP{net.IPv4(127, 0, 0, 1)}}

const (
	keyFile  = "test-key.pem"
	certFile = "test-cert.pem"
)

func TestCertificateCreatedOnce(t *testing.T) {
	dir := t.TempDir()
	c1, err := LoadOrCreate(dir, testSpec)
	if err != nil {
		t.Fatal(err)
	}
	key, ok := c1.PrivateKey.(*ecdsa.PrivateKey)
	if !ok || key.Curve.Params().Name != "P-256" {
		t.Fatalf("key %T", c1.PrivateKey)
	}
	leaf := c1.Leaf
	if leaf == nil || leaf.Subject.CommonName != testCN || len(leaf.Subject.Organization) != 1 || leaf.NotAfter.Year() != 9999 ||
		len(leaf.IPAddresses) != 1 || len(leaf.DNSNames) != 2 {
		t.Fatalf("leaf %+v", leaf)
	}
	if err := leaf.CheckSignature(leaf.SignatureAlgorithm, leaf.RawTBSCertificate, leaf.Signature); err != nil {
		t.Errorf("not self-signed: %v", err)
	}
	for name, want := range map[string]os.FileMode{keyFile: 0o600, certFile: 0o644} {
		fi, err := os.Stat(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != want {
			t.Errorf("%s mode %#o, want %#o", name, fi.Mode().Perm(), want)
		}
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 2 {
		t.Errorf("%d files in the directory, want 2 (no temporary left)", len(ents))
	}

	keyBefore, _ := os.ReadFile(filepath.Join(dir, keyFile))
	c2, err := LoadOrCreate(dir, testSpec)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(c1.Certificate[0], c2.Certificate[0]) || !c2.PrivateKey.(*ecdsa.PrivateKey).Equal(key) {
		t.Error("second call did not reuse the pair")
	}
	if keyAfter, _ := os.ReadFile(filepath.Join(dir, keyFile)); !bytes.Equal(keyBefore, keyAfter) {
		t.Error("key file rewritten")
	}
	// A client pinning the certificate verifies it (dates included).
	pool := x509.NewCertPool()
	pool.AddCert(c2.Leaf)
	if _, err := c2.Leaf.Verify(x509.VerifyOptions{Roots: pool, DNSName: testCN, CurrentTime: time.Now()}); err != nil {
		t.Errorf("verify: %v", err)
	}
}

func TestCertificateFilesNotReplaced(t *testing.T) {
	for _, tc := range []struct {
		name  string
		setup func(t *testing.T, dir string)
	}{
		{"corrupt key", func(t *testing.T, dir string) { write(t, dir, keyFile, "garbage", 0o600) }},
		{"corrupt cert", func(t *testing.T, dir string) { write(t, dir, certFile, "garbage", 0o644) }},
		{"cert of another key", func(t *testing.T, dir string) {
			other := t.TempDir()
			if _, err := LoadOrCreate(other, testSpec); err != nil {
				t.Fatal(err)
			}
			b, _ := os.ReadFile(filepath.Join(other, certFile))
			write(t, dir, certFile, string(b), 0o644)
		}},
		{"cert without key", func(t *testing.T, dir string) { os.Remove(filepath.Join(dir, keyFile)) }},
		{"key readable by others", func(t *testing.T, dir string) { os.Chmod(filepath.Join(dir, keyFile), 0o644) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			if _, err := LoadOrCreate(dir, testSpec); err != nil {
				t.Fatal(err)
			}
			tc.setup(t, dir)
			before := snapshot(dir)
			if _, err := LoadOrCreate(dir, testSpec); !errors.Is(err, ErrFiles) {
				t.Fatalf("error %v, want ErrFiles", err)
			}
			if after := snapshot(dir); after != before {
				t.Errorf("files changed:\n%s\n%s", before, after)
			}
		})
	}
}

func TestCertificateReissuedForKey(t *testing.T) {
	dir := t.TempDir()
	c1, err := LoadOrCreate(dir, testSpec)
	if err != nil {
		t.Fatal(err)
	}
	// What a crash between the two writes of the first start leaves.
	if err := os.Remove(filepath.Join(dir, certFile)); err != nil {
		t.Fatal(err)
	}
	c2, err := LoadOrCreate(dir, testSpec)
	if err != nil {
		t.Fatal(err)
	}
	if !c2.PrivateKey.(*ecdsa.PrivateKey).Equal(c1.PrivateKey) {
		t.Error("key replaced")
	}
	if _, err := os.Stat(filepath.Join(dir, certFile)); err != nil {
		t.Error(err)
	}
	if _, err := LoadOrCreate(dir, testSpec); err != nil {
		t.Errorf("reload: %v", err)
	}
}

func TestCertificateMissingDir(t *testing.T) {
	if _, err := LoadOrCreate(filepath.Join(t.TempDir(), "nope"), testSpec); err == nil {
		t.Error("created in a missing directory")
	}
}

func write(t *testing.T, dir, name, data string, mode os.FileMode) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(dir, name), []byte(data), mode); err != nil {
		t.Fatal(err)
	}
}

// snapshot lists a directory's files with their modes and contents.
func snapshot(dir string) string {
	var b bytes.Buffer
	ents, _ := os.ReadDir(dir)
	for _, e := range ents {
		fi, _ := e.Info()
		data, _ := os.ReadFile(filepath.Join(dir, e.Name()))
		b.WriteString(e.Name() + " " + fi.Mode().String() + " " + string(data) + "\n")
	}
	return b.String()
}

func TestRSAAndFingerprints(t *testing.T) {
	dir := t.TempDir()
	spec := testSpec
	spec.Name, spec.Key = "rsa", RSA2048
	c, err := LoadOrCreate(dir, spec)
	if err != nil {
		t.Fatal(err)
	}
	if k, ok := c.PrivateKey.(*rsa.PrivateKey); !ok || k.N.BitLen() != 2048 {
		t.Fatalf("key %T", c.PrivateKey)
	}
	again, err := LoadOrCreate(dir, spec)
	if err != nil || !bytes.Equal(again.Certificate[0], c.Certificate[0]) {
		t.Fatalf("reload: %v", err)
	}
	fp := SHA256(c.Certificate[0])
	if len(fp) != 64 || len(SHA1(c.Certificate[0])) != 40 {
		t.Fatalf("fingerprints %s %s", fp, SHA1(c.Certificate[0]))
	}
	if col := Colons("ab01ff"); col != "AB:01:FF" {
		t.Fatalf("Colons = %s", col)
	}
	if _, err := tls.X509KeyPair(PEM(c), mustRead(t, KeyPath(dir, "rsa"))); err != nil {
		t.Fatalf("PEM does not pair with the key: %v", err)
	}
	if _, err := LoadOrCreate(dir, Spec{Name: "../x", Subject: pkix.Name{CommonName: "x"}}); err == nil {
		t.Fatal("a name with a path was accepted")
	}
	if _, err := LoadOrCreate(dir, Spec{Name: "nocn"}); err == nil {
		t.Fatal("a spec without CommonName was accepted")
	}
}

func mustRead(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
