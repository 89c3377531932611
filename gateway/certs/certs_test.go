package dtls

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/x509"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"
)

func TestCertificateCreatedOnce(t *testing.T) {
	dir := t.TempDir()
	c1, err := LoadOrCreateCertificate(dir)
	if err != nil {
		t.Fatal(err)
	}
	key, ok := c1.PrivateKey.(*ecdsa.PrivateKey)
	if !ok || key.Curve.Params().Name != "P-256" {
		t.Fatalf("key %T", c1.PrivateKey)
	}
	leaf := c1.Leaf
	if leaf == nil || leaf.Subject.CommonName != CertCommonName || leaf.NotAfter.Year() != 9999 {
		t.Fatalf("leaf %+v", leaf)
	}
	if err := leaf.CheckSignature(leaf.SignatureAlgorithm, leaf.RawTBSCertificate, leaf.Signature); err != nil {
		t.Errorf("not self-signed: %v", err)
	}
	for name, want := range map[string]os.FileMode{KeyFile: 0o600, CertFile: 0o644} {
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

	keyBefore, _ := os.ReadFile(filepath.Join(dir, KeyFile))
	c2, err := LoadOrCreateCertificate(dir)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(c1.Certificate[0], c2.Certificate[0]) || !c2.PrivateKey.(*ecdsa.PrivateKey).Equal(key) {
		t.Error("second call did not reuse the pair")
	}
	if keyAfter, _ := os.ReadFile(filepath.Join(dir, KeyFile)); !bytes.Equal(keyBefore, keyAfter) {
		t.Error("key file rewritten")
	}
	// A client pinning the certificate verifies it (dates included).
	pool := x509.NewCertPool()
	pool.AddCert(c2.Leaf)
	if _, err := c2.Leaf.Verify(x509.VerifyOptions{Roots: pool, DNSName: CertCommonName, CurrentTime: time.Now()}); err != nil {
		t.Errorf("verify: %v", err)
	}
}

func TestCertificateFilesNotReplaced(t *testing.T) {
	for _, tc := range []struct {
		name  string
		setup func(t *testing.T, dir string)
	}{
		{"corrupt key", func(t *testing.T, dir string) { write(t, dir, KeyFile, "garbage", 0o600) }},
		{"corrupt cert", func(t *testing.T, dir string) { write(t, dir, CertFile, "garbage", 0o644) }},
		{"cert of another key", func(t *testing.T, dir string) {
			other := t.TempDir()
			if _, err := LoadOrCreateCertificate(other); err != nil {
				t.Fatal(err)
			}
			b, _ := os.ReadFile(filepath.Join(other, CertFile))
			write(t, dir, CertFile, string(b), 0o644)
		}},
		{"cert without key", func(t *testing.T, dir string) { os.Remove(filepath.Join(dir, KeyFile)) }},
		{"key readable by others", func(t *testing.T, dir string) { os.Chmod(filepath.Join(dir, KeyFile), 0o644) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			if _, err := LoadOrCreateCertificate(dir); err != nil {
				t.Fatal(err)
			}
			tc.setup(t, dir)
			before := snapshot(dir)
			if _, err := LoadOrCreateCertificate(dir); !errors.Is(err, ErrCertificate) {
				t.Fatalf("error %v, want ErrCertificate", err)
			}
			if after := snapshot(dir); after != before {
				t.Errorf("files changed:\n%s\n%s", before, after)
			}
		})
	}
}

func TestCertificateReissuedForKey(t *testing.T) {
	dir := t.TempDir()
	c1, err := LoadOrCreateCertificate(dir)
	if err != nil {
		t.Fatal(err)
	}
	// What a crash between the two writes of the first start leaves.
	if err := os.Remove(filepath.Join(dir, CertFile)); err != nil {
		t.Fatal(err)
	}
	c2, err := LoadOrCreateCertificate(dir)
	if err != nil {
		t.Fatal(err)
	}
	if !c2.PrivateKey.(*ecdsa.PrivateKey).Equal(c1.PrivateKey) {
		t.Error("key replaced")
	}
	if _, err := os.Stat(filepath.Join(dir, CertFile)); err != nil {
		t.Error(err)
	}
	if _, err := LoadOrCreateCertificate(dir); err != nil {
		t.Errorf("reload: %v", err)
	}
}

func TestCertificateMissingDir(t *testing.T) {
	if _, err := LoadOrCreateCertificate(filepath.Join(t.TempDir(), "nope")); err == nil {
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
