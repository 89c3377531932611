package ocs

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"testing"
)

// fuzzRoutes are the POST/PUT routes; may500 marks where the reference
// itself answers 500 for some bodies.
var fuzzRoutes = []struct {
	method, path string
	may500       bool
}{
	{"POST", "/v1/devices/voucher", false},
	{"POST", "/v1/devices//voucher", false},
	{"POST", "/v1/devices/" + devID + "/state", false},
	{"POST", "/v1/devices/" + devID + "/errors", true}, // empty or null body: NPE
	{"PUT", "/v1/devices/" + devID + "/msgs", false},
	{"POST", "/v1/devices/" + devID + "/msgs", false},
	{"PUT", "/v1/devices/" + devID + "/values/v", false},
	{"POST", "/v1/devices/" + devID + "/sessioninfo", false},
	{"POST", "/v1/signatures/" + devID, true},                      // empty body
	{"POST", "/v1/ciphers/" + devID + "?operation=encipher", true}, // EC owner key
}

func FuzzServerBodies(f *testing.F) {
	for _, name := range []string{"voucher.json", "devicestate.json", "sessioninfo.json", "sessioninfo-empty.json", "svimessage.json"} {
		b := readTestdata(f, name)
		for i := range fuzzRoutes {
			f.Add(uint8(i), b, true)
		}
	}
	f.Add(uint8(3), []byte(""), true)
	f.Add(uint8(4), []byte("null"), false)
	f.Add(uint8(5), []byte(`[{"module":1}]`), true)
	f.Add(uint8(7), []byte(`{"message41Store":{"n6":{}}}`), true)
	st, err := OpenStore(filepath.Join(f.TempDir(), "ocsd.db"))
	if err != nil {
		f.Fatal(err)
	}
	defer st.Close()
	k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err := st.SetOwnerKey(k); err != nil {
		f.Fatal(err)
	}
	h := NewServer(st, ServerOptions{})
	f.Fuzz(func(t *testing.T, route uint8, body []byte, asJSON bool) {
		rt := fuzzRoutes[int(route)%len(fuzzRoutes)]
		req := httptest.NewRequest(rt.method, rt.path, bytes.NewReader(body))
		if asJSON {
			req.Header.Set("Content-Type", "application/json")
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		code := w.Code
		if code >= 200 && code < 300 || code >= 400 && code < 500 || code == http.StatusInternalServerError && rt.may500 {
			return
		}
		t.Errorf("%s %s %q: status %d", rt.method, rt.path, body, code)
	})
}
