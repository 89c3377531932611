package statuspage

import (
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/edgegate/edgegate/gateway/admin"
	"github.com/edgegate/edgegate/gateway/loopback"
)

type fakeSource struct {
	pairings atomic.Int32
	healthy  atomic.Bool
}

func (f *fakeSource) Overview(context.Context) (admin.Overview, error) {
	return admin.Overview{Status: admin.Status{Name: "barn-7", Version: "v1.2.3"}, Links: []admin.LinkState{}}, nil
}

func (f *fakeSource) OpenPairing(context.Context) (admin.Pairing, error) {
	f.pairings.Add(1)
	return admin.Pairing{Open: true, Until: time.Now().Add(time.Minute)}, nil
}

func (f *fakeSource) Health() admin.Health { return admin.Health{OK: f.healthy.Load()} }
func (f *fakeSource) Readiness(context.Context) admin.Health {
	return admin.Health{OK: false, Checks: []admin.Check{{Name: "link serial", OK: false}}}
}

type metricsStub struct{}

func (metricsStub) ServeHTTP(w http.ResponseWriter, _ *http.Request) {
	io.WriteString(w, "edgegate_x_total 1\n")
}

// serve runs a Server on a loopback port and returns its base URL.
func serve(t *testing.T, o Options) (*fakeSource, string) {
	t.Helper()
	src := &fakeSource{}
	src.healthy.Store(true)
	o.Source = src
	o.Metrics = metricsStub{}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- New(o).Serve(ctx, ln) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	})
	return src, "http://" + ln.Addr().String()
}

func client(t *testing.T) *http.Client {
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	t.Cleanup(c.CloseIdleConnections)
	return c
}

func do(t *testing.T, c *http.Client, method, u string, hdr map[string]string, body string) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(method, u, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range hdr {
		if k == "Host" {
			req.Host = v
			continue
		}
		req.Header.Set(k, v)
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	return resp, string(b)
}

var csrfRE = regexp.MustCompile(`name="csrf-token" content="([0-9a-f]+)"`)

func TestLoopbackPageAndPairing(t *testing.T) {
	src, base := serve(t, Options{})
	c := client(t)
	resp, body := do(t, c, "GET", base+"/", nil, "")
	if resp.StatusCode != 200 || !strings.Contains(body, `<script src="/assets/app.js"`) {
		t.Fatalf("index %d:\n%s", resp.StatusCode, body)
	}
	if csp := resp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "script-src 'self'") {
		t.Errorf("CSP %q", csp)
	}
	m := csrfRE.FindStringSubmatch(body)
	if m == nil {
		t.Fatal("no CSRF token in the page")
	}
	if strings.Contains(body, "<!--") || strings.Contains(body, "@CSRF@") || strings.Contains(body, `action="/logout"`) {
		t.Errorf("page markers left, or a logout button without login:\n%s", body)
	}
	for _, a := range []string{"/assets/app.js", "/assets/style.css"} {
		if resp, body := do(t, c, "GET", base+a, nil, ""); resp.StatusCode != 200 || len(body) < 100 {
			t.Errorf("%s: %d", a, resp.StatusCode)
		}
	}
	resp, body = do(t, c, "GET", base+"/api/overview", nil, "")
	var ov admin.Overview
	if resp.StatusCode != 200 || json.Unmarshal([]byte(body), &ov) != nil || ov.Status.Name != "barn-7" {
		t.Fatalf("overview %d %s", resp.StatusCode, body)
	}
	// A POST without the token, with a wrong one, or from another site is
	// refused; the page's own is accepted.
	for _, hdr := range []map[string]string{
		{},
		{"X-CSRF-Token": "00"},
		{"X-CSRF-Token": m[1], "Origin": "http://evil.example"},
		{"X-CSRF-Token": m[1], "Sec-Fetch-Site": "cross-site"},
	} {
		if resp, _ := do(t, c, "POST", base+"/api/pairing", hdr, "{}"); resp.StatusCode != http.StatusForbidden {
			t.Errorf("POST with %v: %d", hdr, resp.StatusCode)
		}
	}
	if src.pairings.Load() != 0 {
		t.Fatal("a refused POST opened the pairing window")
	}
	resp, body = do(t, c, "POST", base+"/api/pairing", map[string]string{"X-CSRF-Token": m[1], "Origin": base,
		"Sec-Fetch-Site": "same-origin"}, "{}")
	if resp.StatusCode != 200 || src.pairings.Load() != 1 || !strings.Contains(body, `"open": true`) {
		t.Errorf("pairing %d %s", resp.StatusCode, body)
	}
	// DNS rebinding: a foreign Host name is refused on loopback.
	if resp, _ := do(t, c, "GET", base+"/api/overview", map[string]string{"Host": "attacker.example"}, ""); resp.StatusCode != http.StatusMisdirectedRequest {
		t.Errorf("foreign Host: %d", resp.StatusCode)
	}
	if resp, _ := do(t, c, "GET", base+"/api/overview", map[string]string{"Host": "localhost:1234"}, ""); resp.StatusCode != 200 {
		t.Errorf("localhost Host: %d", resp.StatusCode)
	}
	if resp, body := do(t, c, "GET", base+"/metrics", nil, ""); resp.StatusCode != 200 || body != "edgegate_x_total 1\n" {
		t.Errorf("metrics %d %q", resp.StatusCode, body)
	}
}

func TestHealthEndpoints(t *testing.T) {
	src, base := serve(t, Options{RequireLogin: true})
	c := client(t)
	if resp, _ := do(t, c, "GET", base+"/healthz", nil, ""); resp.StatusCode != 200 {
		t.Errorf("healthz %d", resp.StatusCode)
	}
	src.healthy.Store(false)
	if resp, _ := do(t, c, "GET", base+"/healthz", nil, ""); resp.StatusCode != 503 {
		t.Errorf("unhealthy healthz %d", resp.StatusCode)
	}
	resp, body := do(t, c, "GET", base+"/readyz", nil, "")
	if resp.StatusCode != 503 || !strings.Contains(body, "link serial") {
		t.Errorf("readyz %d %s", resp.StatusCode, body)
	}
}

func TestLANWithoutPasswordServesNothing(t *testing.T) {
	_, base := serve(t, Options{RequireLogin: true})
	c := client(t)
	resp, body := do(t, c, "GET", base+"/", nil, "")
	if resp.StatusCode != 503 || !strings.Contains(body, "gatewayctl web password") || strings.Contains(body, "<form") {
		t.Errorf("index without a password %d:\n%s", resp.StatusCode, body)
	}
	for _, p := range []string{"/api/overview", "/metrics"} {
		if resp, _ := do(t, c, "GET", base+p, nil, ""); resp.StatusCode != 503 {
			t.Errorf("%s without a password: %d", p, resp.StatusCode)
		}
	}
}

func TestLANLogin(t *testing.T) {
	const pw = "correct horse battery"
	hash, err := HashPassword(pw)
	if err != nil {
		t.Fatal(err)
	}
	src, base := serve(t, Options{RequireLogin: true, PasswordHash: func() string { return hash }})
	c := client(t)
	resp, _ := do(t, c, "GET", base+"/", nil, "")
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/login" {
		t.Fatalf("index before login: %d %s", resp.StatusCode, resp.Header.Get("Location"))
	}
	if resp, _ := do(t, c, "GET", base+"/api/overview", nil, ""); resp.StatusCode != 401 {
		t.Errorf("api before login %d", resp.StatusCode)
	}
	_, body := do(t, c, "GET", base+"/login", nil, "")
	m := regexp.MustCompile(`name="csrf" value="([0-9a-f]+)"`).FindStringSubmatch(body)
	if m == nil {
		t.Fatalf("login form:\n%s", body)
	}
	form := func(csrf, pass string) string { return url.Values{"csrf": {csrf}, "password": {pass}}.Encode() }
	ctype := map[string]string{"Content-Type": "application/x-www-form-urlencoded"}
	if resp, _ := do(t, c, "POST", base+"/login", ctype, form("bad", pw)); resp.StatusCode != 403 {
		t.Errorf("login without the form's token: %d", resp.StatusCode)
	}
	start := time.Now()
	resp, _ = do(t, c, "POST", base+"/login", ctype, form(m[1], "wrong password"))
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/login?failed" || time.Since(start) < time.Second {
		t.Errorf("wrong password: %d %s after %v", resp.StatusCode, resp.Header.Get("Location"), time.Since(start))
	}
	if _, body := do(t, c, "GET", base+"/login?failed", nil, ""); !strings.Contains(body, "Wrong password") || strings.Contains(body, "no password yet") {
		t.Errorf("login page after a failure:\n%s", body)
	}
	resp, _ = do(t, c, "POST", base+"/login", ctype, form(m[1], pw))
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/" {
		t.Fatalf("login %d %s", resp.StatusCode, resp.Header.Get("Location"))
	}
	var cookie *http.Cookie
	for _, ck := range resp.Cookies() {
		if ck.Name == sessionCookie {
			cookie = ck
		}
	}
	if cookie == nil || !cookie.HttpOnly || cookie.SameSite != http.SameSiteStrictMode {
		t.Fatalf("session cookie %+v", cookie)
	}
	resp, body = do(t, c, "GET", base+"/", nil, "")
	tok := csrfRE.FindStringSubmatch(body)
	if resp.StatusCode != 200 || tok == nil || !strings.Contains(body, `action="/logout"`) {
		t.Fatalf("index after login %d", resp.StatusCode)
	}
	if resp, _ := do(t, c, "POST", base+"/api/pairing", map[string]string{"X-CSRF-Token": tok[1]}, "{}"); resp.StatusCode != 200 || src.pairings.Load() != 1 {
		t.Errorf("pairing after login %d", resp.StatusCode)
	}
	// Another client with HTTP Basic (a scraper).
	other := client(t)
	req, _ := http.NewRequest("GET", base+"/metrics", nil)
	req.SetBasicAuth("prometheus", pw)
	if resp, err := other.Do(req); err != nil || resp.StatusCode != 200 {
		t.Errorf("basic auth: %v %v", resp, err)
	} else {
		resp.Body.Close()
	}
	resp, _ = do(t, c, "POST", base+"/logout", map[string]string{"Content-Type": "application/x-www-form-urlencoded"}, "csrf="+tok[1])
	if resp.StatusCode != http.StatusSeeOther {
		t.Errorf("logout %d", resp.StatusCode)
	}
	if resp, _ := do(t, c, "GET", base+"/api/overview", nil, ""); resp.StatusCode != 401 {
		t.Errorf("api after logout %d", resp.StatusCode)
	}
}

func TestPasswordHash(t *testing.T) {
	h, err := HashPassword("0123456789")
	if err != nil || !strings.HasPrefix(h, "$argon2id$v=19$m=19456,t=2,p=1$") {
		t.Fatalf("%q %v", h, err)
	}
	h2, _ := HashPassword("0123456789")
	if h == h2 {
		t.Error("two hashes of one password are equal: no salt")
	}
	if !VerifyPassword(h, "0123456789") || VerifyPassword(h, "0123456788") {
		t.Error("verify")
	}
	if _, err := HashPassword("short"); err == nil {
		t.Error("short password accepted")
	}
	for _, bad := range []string{"", "$argon2id$v=19$m=0,t=1,p=1$AA$AA", "$bcrypt$x", h[:len(h)-5] + "!!!!!", "$argon2id$v=19$m=99999999,t=1,p=1$AA$AA"} {
		if VerifyPassword(bad, "0123456789") {
			t.Errorf("malformed hash %q matched", bad)
		}
	}
}

// FuzzHostAndOrigin feeds arbitrary Host and Origin headers to the checks
// that guard the loopback page: no panic, and a Host accepted as loopback
// names localhost or a loopback address.
func FuzzHostAndOrigin(f *testing.F) {
	f.Add("127.0.0.1:8080", "http://127.0.0.1:8080")
	f.Add("[::1]:80", "null")
	f.Add("evil.example", "http://evil.example")
	f.Fuzz(func(t *testing.T, host, origin string) {
		if loopback.Host(host) {
			h := strings.ToLower(host)
			if !strings.Contains(h, "localhost") && !strings.Contains(h, "127.") && !strings.Contains(h, ":") {
				t.Fatalf("%q taken for loopback", host)
			}
		}
		r, err := http.NewRequest("POST", "http://x/", nil)
		if err != nil {
			return
		}
		r.Host = host
		r.Header.Set("Origin", origin)
		if sameOrigin(r) && origin != "" && origin != "null" && origin != "http://"+host && origin != "https://"+host {
			t.Fatalf("origin %q accepted for host %q", origin, host)
		}
	})
}
