package gateway

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/edgegate/edgegate/gateway/admin"
	"github.com/edgegate/edgegate/gateway/oco"
)

func TestOCOConfigErrors(t *testing.T) {
	for _, c := range []struct{ toml, want string }{
		{"[oco]\nenabled = true\n", "oco.url"},
		{"[oco]\nenabled = true\nurl = \"ftp://x/api-agent.php\"\n", "oco.url"},
		{"[oco]\ngeneration = \"newest\"\n", "oco.generation"},
		{"[oco]\nenabled = true\nurl = \"https://u:p@x/api-agent.php\"\n", "credentials"},
		{"[oco]\nenabled = true\nurl = \"https://x/api-agent.php\"\nregistration_key = \"s3cret-reg\"\nregistration_key_file = \"/k\"\n", "not both"},
		{"[oco]\nenabled = true\nurl = \"https://x/api-agent.php\"\ninterval = \"10ms\"\n", "oco.interval"},
		{"[oco.jobs]\nmax_files = -1\n[oco]\nenabled = true\nurl = \"https://x/a\"\n", "oco.jobs"},
	} {
		_, err := ParseConfig(strings.NewReader(c.toml))
		if !errors.Is(err, ErrConfig) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%q: %v, want %q", c.toml, err, c.want)
		}
		if err != nil && strings.Contains(err.Error(), "s3cret") {
			t.Errorf("the key is in the error: %v", err)
		}
	}
	c, err := ParseConfig(strings.NewReader("[oco]\nenabled = true\nurl = \"https://x/api-agent.php\"\nregistration_key = \"s3cret-reg\"\n"))
	if err != nil || c.OCO.RegistrationKey.Reveal() != "s3cret-reg" {
		t.Fatalf("%v", err)
	}
	if b, _ := json.Marshal(c); strings.Contains(string(b), "s3cret") {
		t.Error("the configuration prints the key")
	}
}

func TestOCOOff(t *testing.T) {
	r := startGateway(t, t.TempDir(), "")
	err := r.api.Call(context.Background(), "GET", "/v1/oco/status", nil, nil)
	if !errors.Is(err, admin.ErrUnavailable) || !strings.Contains(err.Error(), "enabled = true") {
		t.Fatalf("%v", err)
	}
	if st, _ := r.api.Status(context.Background()); st.OCO != nil {
		t.Errorf("status %+v", st.OCO)
	}
}

// miniOCO answers the current hello of one host, registering it.
type miniOCO struct {
	mu        sync.Mutex
	serverKey string
	hellos    []map[string]any
	ts        float64
}

func (m *miniOCO) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	var req struct {
		Method string         `json:"method"`
		Params map[string]any `json:"params"`
	}
	json.Unmarshal(body, &req)
	m.mu.Lock()
	defer m.mu.Unlock()
	if r.Header.Get("Content-Type") != "application/json" || req.Method != "oco.agent.hello" {
		w.WriteHeader(400)
		io.WriteString(w, "Unknown method")
		return
	}
	m.hellos = append(m.hellos, req.Params)
	p := map[string]any{"server-key": nil, "agent-key": nil, "update": 0, "software-jobs": []any{}}
	if len(m.hellos) == 1 {
		p["server-key"], p["agent-key"] = m.serverKey, "agentkey0123456789abcdefghijkl"
	}
	m.ts = max(m.ts+0.001, float64(time.Now().UnixMicro())/1e6)
	out, _ := json.Marshal(map[string]any{"id": 1, "error": nil, "result": map[string]any{"success": true, "params": p, "timestamp": m.ts}})
	mac := hmac.New(sha256.New, []byte(m.serverKey))
	mac.Write(out)
	w.Header().Set("x-oco-server-signature", hex.EncodeToString(mac.Sum(nil)))
	w.Header().Set("content-type", "application/json")
	w.Write(out)
}

func TestOCOAgentRegisters(t *testing.T) {
	m := &miniOCO{serverKey: "serverkey0123456789abcdefghijk"}
	srv := httptest.NewTLSServer(m)
	defer srv.Close()
	// The server's certificate is trusted through ca_file.
	ca := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(ca, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw}), 0o600); err != nil {
		t.Fatal(err)
	}
	r := startGateway(t, t.TempDir(), "[oco]\nenabled = true\nurl = \""+srv.URL+"/api-agent.php\"\nhostname = \"gw-test\"\nregistration_key = \"reg\"\nca_file = \""+ca+"\"\n")
	var st oco.Status
	deadline := time.Now().Add(10 * time.Second)
	for {
		if err := r.api.Call(context.Background(), "GET", "/v1/oco/status", nil, &st); err != nil {
			t.Fatal(err)
		}
		if st.Stats.Hellos > 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if !st.AgentKey || !st.ServerKey || st.Generation != "current" || st.Hostname != "gw-test" || st.LastContact.IsZero() {
		t.Fatalf("status %+v", st)
	}
	m.mu.Lock()
	hello := m.hellos[0]
	m.mu.Unlock()
	if hello["hostname"] != "gw-test" || hello["uid"] != r.g.Identity().UUID {
		t.Errorf("hello params %v", hello)
	}
	gs, err := r.api.Status(context.Background())
	if err != nil || gs.OCO == nil {
		t.Fatalf("gateway status %+v %v", gs.OCO, err)
	}
	b, _ := json.Marshal(gs)
	if strings.Contains(string(b), m.serverKey) || strings.Contains(string(b), "agentkey0123") {
		t.Error("a key in the status")
	}
	// Forgetting the keys is an admin action over the API.
	if err := r.api.Call(context.Background(), "POST", "/v1/oco/forget-keys", nil, &st); err != nil || st.AgentKey || st.ServerKey {
		t.Fatalf("forget-keys: %+v %v", st, err)
	}
}
