package main

import (
	"bytes"
	"context"
	"crypto"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/edgegate/edgegate/gateway/certs"
	"github.com/edgegate/edgegate/gateway/ocs"
)

// logBuf collects a running ocsd's log.
type logBuf struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *logBuf) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *logBuf) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

// instance is an ocsd run in-process.
type instance struct {
	addr string
	log  *logBuf
	stop func() error
}

var listenRE = regexp.MustCompile(`msg="ocsd listening" addr=(\S+)`)

func start(t *testing.T, args ...string) *instance {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	lb := &logBuf{}
	done := make(chan error, 1)
	go func() { done <- run(ctx, args, lb) }()
	deadline := time.Now().Add(10 * time.Second)
	for {
		if m := listenRE.FindStringSubmatch(lb.String()); m != nil {
			in := &instance{addr: m[1], log: lb}
			stopped := false
			in.stop = func() error {
				if stopped {
					return nil
				}
				stopped = true
				cancel()
				return <-done
			}
			t.Cleanup(func() { _ = in.stop() })
			return in
		}
		select {
		case err := <-done:
			cancel()
			t.Fatalf("ocsd ended: %v\n%s", err, lb.String())
		case <-time.After(10 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			cancel()
			t.Fatalf("ocsd did not start\n%s", lb.String())
		}
	}
}

func clientCert(t *testing.T, dir, name string) tls.Certificate {
	t.Helper()
	c, err := certs.LoadOrCreate(dir, certs.Spec{Name: name, Subject: pkix.Name{CommonName: name}})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// TestOcsdMutualTLS starts ocsd with a generated server key pair and one
// trusted client certificate, uses the contract through it, refuses an
// unknown client, and keeps data and keys across a restart.
func TestOcsdMutualTLS(t *testing.T) {
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	gw := clientCert(t, dir, "gateway")
	stranger := clientCert(t, dir, "stranger")
	args := []string{"-listen", "127.0.0.1:0", "-data", data, "-client-cert", certs.CertPath(dir, "gateway"), "-log-level", "debug"}
	in := start(t, args...)
	pemBytes, err := os.ReadFile(filepath.Join(data, "ocsd-cert.pem"))
	if err != nil {
		t.Fatal(err)
	}
	var servers ocs.Trust
	if err := servers.AddPEM(pemBytes); err != nil {
		t.Fatal(err)
	}
	c, err := ocs.Dial("https://"+in.addr, ocs.ClientOptions{Cert: gw, Servers: servers})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx := context.Background()
	const id = "1fae14fb-deca-405a-abdd-b25391b9d932"
	if err := c.PutValue(ctx, id, "fw.bin", []byte("0123456789")); err != nil {
		t.Fatal(err)
	}
	if b, err := c.Value(ctx, id, "fw.bin", 2, 100); err != nil || string(b) != "23456789" {
		t.Errorf("value %q %v", b, err)
	}
	if _, err := c.State(ctx, id); !ocs.IsNotFound(err) {
		t.Errorf("missing state: %v", err)
	}
	sig1, err := c.Sign(ctx, id, "text")
	if err != nil || sig1.Alg != "EC" {
		t.Fatalf("sign: %+v %v", sig1, err)
	}
	h, err := c.Health(ctx)
	if err != nil || h.Version != version {
		t.Errorf("health %+v %v", h, err)
	}
	if strings.Contains(in.log.String(), "PRIVATE") {
		t.Error("a private key in the log")
	}
	if !strings.Contains(in.log.String(), certs.SHA256(servers.Certs[0].Raw)) {
		t.Error("the server certificate's fingerprint is not logged")
	}

	// An unknown client is refused during the handshake.
	sc, _ := ocs.Dial("https://"+in.addr, ocs.ClientOptions{Cert: stranger, Servers: servers})
	defer sc.Close()
	if _, err := sc.Health(ctx); err == nil || ocs.StatusOf(err) != 0 {
		t.Errorf("stranger: %v", err)
	}

	// A restart keeps the value, the server key pair and the owner key.
	if err := in.stop(); err != nil {
		t.Fatal(err)
	}
	in = start(t, append(args, "-client-pin", certs.SHA256(stranger.Certificate[0]))...)
	c2, _ := ocs.Dial("https://"+in.addr, ocs.ClientOptions{Cert: stranger, Servers: servers})
	defer c2.Close()
	if b, err := c2.Value(ctx, id, "fw.bin", 0, 2); err != nil || string(b) != "01" {
		t.Errorf("after restart: %q %v", b, err)
	}
	sig2, err := c2.Sign(ctx, id, "text")
	if err != nil || sig2.PK != sig1.PK {
		t.Errorf("owner key changed across restarts: %v", err)
	}
}

func TestOcsdRefusals(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"-plain", "-listen", "0.0.0.0:0"}, "loopback"},
		{[]string{"-listen", "127.0.0.1:0"}, "-client-cert"},
		{[]string{"-listen", "127.0.0.1:0", "-client-pin", "abc"}, "SHA-256"},
		{[]string{"-plain", "-listen", "127.0.0.1:0", "-owner-key-type", "dsa"}, "owner-key-type"},
		{[]string{"-cert", "x.pem"}, "go together"},
	} {
		err := run(ctx, append([]string{"-data", filepath.Join(dir, "d")}, c.args...), &logBuf{})
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("ocsd %v: %v, want an error about %q", c.args, err, c.want)
		}
	}
}

// TestOcsdPlainLoopbackAndRSAOwner serves plain HTTP on loopback with an
// imported RSA owner key, whose ciphers round-trip.
func TestOcsdPlainLoopbackAndRSAOwner(t *testing.T) {
	dir := t.TempDir()
	k, err := ocs.GenerateOwnerKey(true)
	if err != nil {
		t.Fatal(err)
	}
	keyFile := filepath.Join(dir, "owner.pem")
	if err := os.WriteFile(keyFile, pemKey(t, k), 0o600); err != nil {
		t.Fatal(err)
	}
	in := start(t, "-plain", "-listen", "127.0.0.1:0", "-data", filepath.Join(dir, "d"), "-owner-key", keyFile)
	c, err := ocs.Dial("http://"+in.addr, ocs.ClientOptions{})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	ct, err := c.Cipher(ctx, "x", ocs.Encipher, []byte("secret"))
	if err != nil {
		t.Fatal(err)
	}
	pt, err := c.Cipher(ctx, "x", ocs.Decipher, ct)
	if err != nil || string(pt) != "secret" {
		t.Errorf("decipher %q %v", pt, err)
	}
	sr, err := c.Sign(ctx, "x", "t")
	if _, derr := base64.StdEncoding.DecodeString(sr.SG); err != nil || sr.Alg != "RSA" || derr != nil {
		t.Errorf("sign %+v %v", sr, err)
	}
}

// TestOcsdTo0 sends the due devices to a To0Scheduler over plain loopback
// HTTP.
func TestOcsdTo0(t *testing.T) {
	hit := make(chan string, 4)
	sched := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var b bytes.Buffer
		_, _ = b.ReadFrom(r.Body)
		select {
		case hit <- r.URL.Path + " " + b.String():
		default:
		}
	}))
	defer sched.Close()
	dir := t.TempDir()
	start(t, "-plain", "-listen", "127.0.0.1:0", "-data", dir, "-to0", sched.URL, "-to0-interval", "50ms", "-to0-wait", "60")
	select {
	case got := <-hit:
		if got != `/v1/to0/devices {"guids":[],"waitSeconds":"60"}` {
			t.Errorf("to0 request %s", got)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no TO0 request")
	}
	if err := run(context.Background(), []string{"-plain", "-listen", "127.0.0.1:0", "-data", t.TempDir(), "-to0", "http://10.1.2.3:8049"}, &logBuf{}); !errors.Is(err, ocs.ErrPlainHTTP) {
		t.Errorf("plain to0 off loopback: %v", err)
	}
}

func pemKey(t *testing.T, k crypto.Signer) []byte {
	t.Helper()
	der, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
}
