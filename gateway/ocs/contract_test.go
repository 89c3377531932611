package ocs

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/edgegate/edgegate/gateway/certs"
)

const devID = "1fae14fb-deca-405a-abdd-b25391b9d932"

// testPKI is a server and a client key pair, each trusting the other by
// its self-signed certificate, as the reference deploys them.
type testPKI struct {
	server, client tls.Certificate
}

func newPKI(t testing.TB) testPKI {
	t.Helper()
	dir := t.TempDir()
	srv, err := certs.LoadOrCreate(dir, certs.Spec{Name: "ocs", Subject: pkix.Name{CommonName: "www.ocs.com"},
		DNSNames: []string{"localhost", "www.ocs.com"}, IPs: []net.IP{net.IPv4(127, 0, 0, 1)}})
	if err != nil {
		t.Fatal(err)
	}
	cl, err := certs.LoadOrCreate(dir, certs.Spec{Name: "gateway", Subject: pkix.Name{CommonName: "gateway"}})
	if err != nil {
		t.Fatal(err)
	}
	return testPKI{server: srv, client: cl}
}

// serve runs h over mutual TLS 1.3 on 127.0.0.1, trusting clients.
func serveTLS(t testing.TB, h http.Handler, cert tls.Certificate, clients Trust) *httptest.Server {
	t.Helper()
	hs := httptest.NewUnstartedServer(h)
	cfg, err := ServerTLS(cert, clients)
	if err != nil {
		t.Fatal(err)
	}
	hs.TLS = cfg
	hs.Config.ErrorLog = log.New(io.Discard, "", 0) // refused handshakes are what some tests want
	hs.StartTLS()
	t.Cleanup(hs.Close)
	return hs
}

// testServer is the contract's server on a fresh store, over mutual TLS on
// 127.0.0.1, with an HTTP client that presents the trusted client
// certificate (for raw requests).
type testServer struct {
	URL string
	hc  *http.Client
	pki testPKI
}

// newTestServer serves a fresh store; cleanup closes both and runs bbolt's
// consistency check.
func newTestServer(t testing.TB, opts ServerOptions) (*Client, *Store, *testServer) {
	t.Helper()
	st, err := OpenStore(filepath.Join(t.TempDir(), "ocsd.db"))
	if err != nil {
		t.Fatal(err)
	}
	pki := newPKI(t)
	var clients Trust
	clients.Certs = append(clients.Certs, pki.client.Leaf)
	hs := serveTLS(t, NewServer(st, opts), pki.server, clients)
	t.Cleanup(func() {
		hs.Close()
		if err := checkBolt(st.Bolt()); err != nil {
			t.Error(err)
		}
		_ = st.Close()
	})
	var servers Trust
	servers.Certs = append(servers.Certs, pki.server.Leaf)
	c, err := Dial(hs.URL, ClientOptions{Cert: pki.client, Servers: servers})
	if err != nil {
		t.Fatal(err)
	}
	return c, st, &testServer{URL: hs.URL, hc: c.hc, pki: pki}
}

func checkBolt(db *bolt.DB) error {
	return db.View(func(tx *bolt.Tx) error {
		for err := range tx.Check() {
			return err
		}
		return nil
	})
}

func wantStatus(t *testing.T, what string, err error, status int) {
	t.Helper()
	if got := StatusOf(err); got != status {
		t.Errorf("%s: status %d (%v), want %d", what, got, err, status)
	}
}

func raw(t *testing.T, hs *testServer, method, path, ctype string, body []byte) (int, []byte) {
	t.Helper()
	req, _ := http.NewRequest(method, hs.URL+path, bytes.NewReader(body))
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	resp, err := hs.hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

func TestContractVoucher(t *testing.T) {
	c, _, hs := newTestServer(t, ServerOptions{})
	ctx := context.Background()
	_, err := c.Voucher(ctx, devID)
	wantStatus(t, "missing voucher", err, 404)
	if !IsNotFound(err) {
		t.Errorf("IsNotFound(%v) = false", err)
	}
	var he *HTTPError
	if !errors.As(err, &he) || he.Status != 404 {
		t.Errorf("errors.As: %v", err)
	}
	v := readTestdata(t, "voucher.json")
	if err := c.PostVoucher(ctx, v); err != nil {
		t.Fatal(err)
	}
	got, err := c.Voucher(ctx, devID)
	if err != nil || !bytes.Equal(got, v) {
		t.Fatalf("voucher = %s, %v", got, err)
	}
	// The OPS's double slash, and a voucher with whitespace kept verbatim.
	v2 := append([]byte(" "), v...)
	if st, _ := raw(t, hs, "POST", "/v1/devices//voucher", "application/json", v2); st != 200 {
		t.Fatalf("POST //voucher: %d", st)
	}
	if got, _ := c.Voucher(ctx, devID); !bytes.Equal(got, v2) {
		t.Errorf("voucher not verbatim: %q", got)
	}
	if st, _ := raw(t, hs, "POST", "/v1/devices/voucher", "text/plain", v); st != 415 {
		t.Errorf("text/plain voucher: %d", st)
	}
	wantStatus(t, "bad voucher", c.PostVoucher(ctx, []byte(`{"oh":{}}`)), 400)
}

func TestContractState(t *testing.T) {
	c, _, hs := newTestServer(t, ServerOptions{})
	ctx := context.Background()
	_, err := c.State(ctx, devID)
	wantStatus(t, "missing state", err, 404)
	rec := readTestdata(t, "devicestate.json")
	if st, _ := raw(t, hs, "POST", "/v1/devices/"+devID+"/state", "application/json", rec); st != 200 {
		t.Fatalf("POST recorded state: %d", st)
	}
	if st, b := raw(t, hs, "GET", "/v1/devices/"+devID+"/state", "", nil); st != 200 || !bytes.Equal(b, rec) {
		t.Errorf("GET state: %d %s", st, b)
	}
	s := func(v string) *string { return &v }
	if err := c.PostState(ctx, devID, DeviceState{To2State: s("to2end")}); err != nil {
		t.Fatal(err)
	}
	got, err := c.State(ctx, devID)
	if err != nil || *got.To2State != "to2end" || *got.To2Timestamp != "2021-03-04T10:11:12.123456" || got.To2Error != nil || *got.To0Ws != 7200 {
		t.Errorf("merged state %+v %v", got, err)
	}
	if err := c.PostError(ctx, devID, DeviceState{To2Error: &ProtocolError{EC: 100, EMsg: 255, EM: s("x")}}); err != nil {
		t.Fatal(err)
	}
	if got, _ := c.State(ctx, devID); got.To2Error == nil || got.To2Error.EC != 100 || *got.To2State != "to2end" {
		t.Errorf("after errors %+v", got)
	}
	if st, _ := raw(t, hs, "POST", "/v1/devices/"+devID+"/errors", "application/json", nil); st != 500 {
		t.Errorf("empty errors body: %d, want 500 (reference NPE)", st)
	}
	if st, _ := raw(t, hs, "POST", "/v1/devices/"+devID+"/state", "application/json", nil); st != 400 {
		t.Errorf("empty state body: %d", st)
	}
	if st, _ := raw(t, hs, "POST", "/v1/devices/"+devID+"/state", "application/json", []byte(`{"to0Ws":"x"}`)); st != 400 {
		t.Errorf("bad state body: %d", st)
	}
}

func TestContractMsgsAndValues(t *testing.T) {
	c, st, hs := newTestServer(t, ServerOptions{})
	ctx := context.Background()
	_, err := c.ServiceInfo(ctx, devID)
	wantStatus(t, "missing svi", err, 404)
	svi := []SviMessage{{Module: "sdo_sys", Msg: "filedesc", ValueLen: -1, ValueID: "payload.bin", Enc: "base64"},
		{Module: "sdo_sys", Msg: "active", ValueLen: 1, ValueID: "one", Enc: "ascii"}}
	if err := c.PutServiceInfo(ctx, devID, svi); err != nil {
		t.Fatal(err)
	}
	_, err = c.ServiceInfo(ctx, devID)
	wantStatus(t, "svi with missing value", err, 404)
	val := []byte("0123456789")
	if err := c.PutValue(ctx, "other-device", "payload.bin", val); err != nil {
		t.Fatal(err)
	}
	got, err := c.ServiceInfo(ctx, devID)
	if err != nil || len(got) != 2 || got[0].ValueLen != 10 || got[1].ValueLen != 1 {
		t.Errorf("svi %+v %v", got, err)
	}
	ranges := []struct {
		s, e int
		want string
		code int
	}{{0, 3, "012", 200}, {3, 100, "3456789", 200}, {10, 12, "", 200}, {4, 4, "", 200},
		{11, 12, "", 500}, {5, 4, "", 500}, {-1, 3, "", 500}}
	for _, r := range ranges {
		b, err := c.Value(ctx, devID, "payload.bin", r.s, r.e)
		if r.code == 200 {
			if err != nil || string(b) != r.want {
				t.Errorf("value [%d,%d) = %q, %v", r.s, r.e, b, err)
			}
			continue
		}
		wantStatus(t, "value range", err, r.code)
	}
	if code, _ := raw(t, hs, "GET", "/v1/devices/"+devID+"/values/payload.bin?start=0", "", nil); code != 400 {
		t.Errorf("missing end: %d", code)
	}
	if code, _ := raw(t, hs, "PUT", "/v1/devices/"+devID+"/values/x", "application/json", []byte("1")); code != 415 {
		t.Errorf("json value: %d", code)
	}
	_, err = c.Value(ctx, devID, "nope", 0, 1)
	wantStatus(t, "missing value", err, 404)
	if err := c.DeleteValue(ctx, devID, "payload.bin"); err != nil {
		t.Fatal(err)
	}
	if err := c.DeleteValue(ctx, devID, "payload.bin"); err != nil {
		t.Errorf("second delete: %v", err)
	}
	if err := c.DeleteServiceInfo(ctx, devID); err != nil {
		t.Fatal(err)
	}
	_, err = c.ServiceInfo(ctx, devID)
	wantStatus(t, "deleted svi", err, 404)
	wantStatus(t, "bad svi", raw2(c, ctx, "PUT", "/v1/devices/"+devID+"/msgs", `[{"valueLen":"x"}]`), 400)

	// POST msgs appends device serviceinfo.
	for i := 0; i < 2; i++ {
		if err := c.PostDeviceServiceInfo(ctx, devID, []ModuleMessage{{"sdo_sys", "maxver", "1"}}); err != nil {
			t.Fatal(err)
		}
	}
	if dvi, err := st.DeviceServiceInfo(devID); err != nil || len(dvi) != 2 {
		t.Errorf("dvi %+v %v", dvi, err)
	}
	// psi
	_, err = c.PreServiceInfo(ctx, devID)
	wantStatus(t, "missing psi", err, 404)
	if err := st.PutPreServiceInfo(devID, []ModuleMessage{{"sdo_sys", "maxver", "1"}}); err != nil {
		t.Fatal(err)
	}
	if psi, err := c.PreServiceInfo(ctx, devID); err != nil || len(psi) != 1 || psi[0].Value != "1" {
		t.Errorf("psi %+v %v", psi, err)
	}
}

func raw2(c *Client, ctx context.Context, method, path, body string) error {
	_, err := c.do(ctx, method, path, []byte(body), "application/json", "")
	return err
}

func TestContractSessionInfo(t *testing.T) {
	c, _, hs := newTestServer(t, ServerOptions{})
	ctx := context.Background()
	path := "/v1/devices/" + devID + "/sessioninfo"
	if code, b := raw(t, hs, "GET", path, "", nil); code != 200 || !bytes.Equal(b, readTestdata(t, "sessioninfo-empty.json")) {
		t.Errorf("empty session: %d %s", code, b)
	}
	full := readTestdata(t, "sessioninfo.json")
	if code, _ := raw(t, hs, "POST", path, "application/json", full); code != 200 {
		t.Fatalf("POST session: %d", code)
	}
	if code, b := raw(t, hs, "GET", path, "", nil); code != 200 || !bytes.Equal(b, full) {
		t.Errorf("session not byte for byte:\n got %s\nwant %s", b, full)
	}
	// A partial update replaces only what it carries.
	if err := c.PostSessionInfo(ctx, devID, To2DeviceSessionInfo{DeviceCryptoInfo: &DeviceCryptoInfo{CtrNonce: FragmentOf(`"bg=="`), CtrCounter: 9}}); err != nil {
		t.Fatal(err)
	}
	si, err := c.SessionInfo(ctx, devID)
	if err != nil || si.DeviceCryptoInfo.CtrCounter != 9 || string(si.Message45Store.XB) != `"[256,\"eGI=\"]"` {
		t.Errorf("partial update: %+v %v", si, err)
	}
	if err := c.DeleteSessionInfo(ctx, devID); err != nil {
		t.Fatal(err)
	}
	if code, b := raw(t, hs, "GET", path, "", nil); code != 200 || !bytes.Equal(b, readTestdata(t, "sessioninfo-empty.json")) {
		t.Errorf("deleted session: %d %s", code, b)
	}
	if code, _ := raw(t, hs, "POST", path, "application/json", []byte(`{"message41Store":{"n6":5}}`)); code != 400 {
		t.Errorf("bad fragment: %d", code)
	}
}

func TestContractDeviceMisc(t *testing.T) {
	c, _, hs := newTestServer(t, ServerOptions{Version: "1.10.8"})
	ctx := context.Background()
	si, err := c.SetupInfo(ctx, devID)
	if err != nil || len(si.G3) != 36 || si.G3 == devID || si.R3 == nil {
		t.Errorf("setupinfo %+v %v", si, err)
	}
	if ok, err := c.Resale(ctx, devID); err != nil || !ok {
		t.Errorf("resale %v %v", ok, err)
	}
	h, err := c.Health(ctx)
	if err != nil || h.Version != "1.10.8" || h.Timestamp == "" {
		t.Errorf("health %+v %v", h, err)
	}
	_ = c.PostVoucher(ctx, readTestdata(t, "voucher.json"))
	_ = c.PutValue(ctx, devID, "kept", []byte("v"))
	if err := c.DeleteBlob(ctx, devID); err != nil {
		t.Fatal(err)
	}
	_, err = c.Voucher(ctx, devID)
	wantStatus(t, "voucher after blob", err, 404)
	if b, err := c.Value(ctx, devID, "kept", 0, 1); err != nil || string(b) != "v" {
		t.Errorf("value after blob: %q %v", b, err)
	}
	if code, _ := raw(t, hs, "GET", "/devices/"+devID+"/resale", "", nil); code != 404 {
		t.Errorf("resale without /v1: %d", code)
	}

	c2, _, _ := newTestServer(t, ServerOptions{CredentialReuse: true, NoResale: true})
	if si, _ := c2.SetupInfo(ctx, devID); si.G3 != devID {
		t.Errorf("credential reuse g3 %q", si.G3)
	}
	if ok, _ := c2.Resale(ctx, devID); ok {
		t.Error("NoResale answered true")
	}
}

func TestContractSignaturesAndCiphers(t *testing.T) {
	c, st, hs := newTestServer(t, ServerOptions{})
	ctx := context.Background()
	_, err := c.Sign(ctx, devID, "hello")
	wantStatus(t, "no key", err, 500)

	ec, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err := st.SetOwnerKey(ec); err != nil {
		t.Fatal(err)
	}
	sr, err := c.Sign(ctx, devID, "hello")
	if err != nil || sr.Alg != "EC" {
		t.Fatalf("sign EC %+v %v", sr, err)
	}
	pkDER, _ := base64.StdEncoding.DecodeString(sr.PK)
	pk, _ := x509.ParsePKIXPublicKey(pkDER)
	sig, _ := base64.StdEncoding.DecodeString(sr.SG)
	sum := sha256.Sum256([]byte("hello"))
	if epk, ok := pk.(*ecdsa.PublicKey); !ok || !ecdsa.VerifyASN1(epk, sum[:], sig) {
		t.Error("EC signature does not verify")
	}
	if code, _ := raw(t, hs, "POST", "/v1/signatures/"+devID, "text/plain", nil); code != 500 {
		t.Errorf("empty text: %d", code)
	}
	_, err = c.Cipher(ctx, devID, Encipher, []byte("k"))
	wantStatus(t, "cipher with EC key", err, 500)

	rk, _ := rsa.GenerateKey(rand.Reader, 2048)
	if err := st.SetOwnerKey(rk); err != nil {
		t.Fatal(err)
	}
	sr, err = c.Sign(ctx, devID, "héllo")
	if err != nil || sr.Alg != "RSA" {
		t.Fatalf("sign RSA %+v %v", sr, err)
	}
	sig, _ = base64.StdEncoding.DecodeString(sr.SG)
	// text/plain is read as ISO-8859-1: the two UTF-8 bytes of é become "??".
	sum = sha256.Sum256([]byte("h??llo"))
	if rsa.VerifyPKCS1v15(&rk.PublicKey, crypto.SHA256, sum[:], sig) != nil {
		t.Error("RSA signature does not verify")
	}
	ct, err := c.Cipher(ctx, devID, Encipher, []byte("secret"))
	if err != nil || len(ct) != 256 {
		t.Fatalf("encipher %d %v", len(ct), err)
	}
	pt, err := c.Cipher(ctx, devID, Decipher, ct)
	if err != nil || string(pt) != "secret" {
		t.Errorf("decipher %q %v", pt, err)
	}
	_, err = c.Cipher(ctx, devID, "rot13", []byte("x"))
	wantStatus(t, "unknown operation", err, 500)
	if code, _ := raw(t, hs, "POST", "/v1/ciphers/"+devID, "application/octet-stream", []byte("x")); code != 400 {
		t.Errorf("missing operation: %d", code)
	}
}

func TestClientTo0Devices(t *testing.T) {
	var got []byte
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != "POST" || r.URL.Path != "/v1/to0/devices" || !strings.HasPrefix(r.Header.Get("Content-Type"), "application/json") {
			w.WriteHeader(404)
			return
		}
		got, _ = io.ReadAll(r.Body)
		if bytes.Contains(got, []byte(`"guids":null`)) {
			w.WriteHeader(400)
		}
	}))
	defer hs.Close()
	c := NewClient(hs.Client(), hs.URL+"/")
	if err := c.To0Devices(context.Background(), To0Request{GUIDs: []string{devID}, WaitSeconds: "7200"}); err != nil {
		t.Fatal(err)
	}
	if want := readTestdata(t, "to0request.json"); !bytes.Equal(got, want) {
		t.Errorf("to0 body %s, want %s", got, want)
	}
	if err := c.To0Devices(context.Background(), To0Request{}); err != nil || string(got) != `{"guids":[],"waitSeconds":""}` {
		t.Errorf("empty to0: %s %v", got, err)
	}
}

func TestContractNotAcceptable(t *testing.T) {
	c, _, hs := newTestServer(t, ServerOptions{})
	_ = c.PutValue(context.Background(), devID, "v", []byte("abc"))
	get := func(path, accept string) int {
		req, _ := http.NewRequest("GET", hs.URL+path, nil)
		if accept != "" {
			req.Header.Set("Accept", accept)
		}
		resp, err := hs.hc.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	for _, c := range []struct {
		path, accept string
		code         int
	}{
		{"/v1/devices/" + devID + "/resale", "application/json", 200},
		{"/v1/devices/" + devID + "/resale", "text/html, */*;q=0.1", 200},
		{"/v1/devices/" + devID + "/resale", "application/*", 200},
		{"/v1/devices/" + devID + "/resale", "text/html", 406},
		{"/v1/devices/" + devID + "/resale", "application/json;q=0", 406},
		{"/v1/devices/" + devID + "/values/v?start=0&end=3", "application/octet-stream", 200},
		{"/v1/devices/" + devID + "/values/v?start=0&end=3", "application/json", 406},
		{"/v1/devices/" + devID + "/values/v?start=0&end=3", "", 200},
	} {
		if got := get(c.path, c.accept); got != c.code {
			t.Errorf("GET %s Accept %q: %d, want %d", c.path, c.accept, got, c.code)
		}
	}
}

// TestClientContextDeadline: a stalled server ends a call at the
// context's deadline, and a call without one at the client's timeout.
func TestClientContextDeadline(t *testing.T) {
	release := make(chan struct{})
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	defer hs.Close()
	defer close(release)
	c := NewClient(hs.Client(), hs.URL)
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := c.State(ctx, devID)
	if !errors.Is(err, context.DeadlineExceeded) || time.Since(start) > 2*time.Second {
		t.Errorf("State with a deadline: %v after %v", err, time.Since(start))
	}
	c.timeout = 100 * time.Millisecond
	start = time.Now()
	if _, err := c.Resale(context.Background(), devID); !errors.Is(err, context.DeadlineExceeded) || time.Since(start) > 2*time.Second {
		t.Errorf("Resale without a deadline: %v after %v", err, time.Since(start))
	}
	if StatusOf(err) != 0 {
		t.Errorf("a timeout has an HTTP status")
	}
}

func TestClientErrorsKeepStatus(t *testing.T) {
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		code, _ := strconv.Atoi(r.URL.Query().Get("start"))
		w.WriteHeader(code)
		_, _ = w.Write([]byte("boom"))
	}))
	defer hs.Close()
	c := NewClient(hs.Client(), hs.URL)
	for _, code := range []int{400, 404, 408, 429, 500, 503} {
		_, err := c.Value(context.Background(), devID, "v", code, 1)
		if StatusOf(err) != code || IsNotFound(err) != (code == 404) {
			t.Errorf("status %d: %v (StatusOf %d)", code, err, StatusOf(err))
		}
		var he *HTTPError
		if !errors.As(err, &he) || string(he.Body) != "boom" {
			t.Errorf("status %d: body not kept: %v", code, err)
		}
	}
}

func TestOwnerKeys(t *testing.T) {
	_, st, _ := newTestServer(t, ServerOptions{})
	_, ed, _ := ed25519.GenerateKey(rand.Reader)
	small, _ := rsa.GenerateKey(rand.Reader, 1024)
	p224, _ := ecdsa.GenerateKey(elliptic.P224(), rand.Reader)
	for _, k := range []crypto.Signer{ed, small, p224} {
		if err := st.SetOwnerKey(k); !errors.Is(err, ErrInvalid) {
			t.Errorf("SetOwnerKey(%T) = %v", k, err)
		}
	}
	for _, rsaKey := range []bool{false, true} {
		k, err := GenerateOwnerKey(rsaKey)
		if err != nil {
			t.Fatal(err)
		}
		der, _ := x509.MarshalPKCS8PrivateKey(k)
		back, err := ParseOwnerKey(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}))
		if err != nil || st.SetOwnerKey(back) != nil {
			t.Fatalf("owner key rsa=%v: %v", rsaKey, err)
		}
		got, err := st.OwnerKey()
		if err != nil || !got.Public().(interface{ Equal(crypto.PublicKey) bool }).Equal(k.Public()) {
			t.Errorf("stored owner key rsa=%v: %v", rsaKey, err)
		}
	}
	if _, err := ParseOwnerKey([]byte("not pem")); !errors.Is(err, ErrInvalid) {
		t.Errorf("ParseOwnerKey(junk) = %v", err)
	}
}

func TestDeviceServiceInfoOrder(t *testing.T) {
	c, st, _ := newTestServer(t, ServerOptions{})
	ctx := context.Background()
	for i := range 5 {
		batch := []ModuleMessage{{"osp", "reading", strconv.Itoa(2 * i)}, {"osp", "reading", strconv.Itoa(2*i + 1)}}
		if err := c.PostDeviceServiceInfo(ctx, devID, batch); err != nil {
			t.Fatal(err)
		}
	}
	got, err := st.DeviceServiceInfo(devID)
	if err != nil || len(got) != 10 {
		t.Fatalf("dvi %v %v", got, err)
	}
	for i, m := range got {
		if m.Value != strconv.Itoa(i) {
			t.Errorf("dvi[%d] = %+v", i, m)
		}
	}
	if ids, _ := st.Devices(); len(ids) != 1 || ids[0] != devID {
		t.Errorf("Devices = %v", ids)
	}
	if _, err := st.DeviceServiceInfo("nobody"); !errors.Is(err, ErrNotFound) {
		t.Errorf("dvi of nobody: %v", err)
	}
}
