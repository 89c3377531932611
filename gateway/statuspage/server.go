package statuspage

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"embed"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"html"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/edgegate/edgegate/gateway/admin"
	"github.com/edgegate/edgegate/gateway/httpserve"
	"github.com/edgegate/edgegate/gateway/loopback"
)

//go:embed assets
var assets embed.FS

// page renders an embedded HTML page: each <!--NAME-->...<!--/NAME-->
// block is kept only when keep[NAME], and @CSRF@ becomes the token. (A
// template engine would cost the binary megabytes: text/template's
// reflection keeps every method of every type alive.)
func page(name, csrf string, keep map[string]bool) []byte {
	b, err := assets.ReadFile("assets/" + name)
	if err != nil {
		return []byte("statuspage: no page " + name)
	}
	s := string(b)
	for {
		i := strings.Index(s, "<!--")
		if i < 0 {
			break
		}
		j := strings.Index(s[i:], "-->")
		if j < 0 {
			break
		}
		block := s[i+4 : i+j]
		end := "<!--/" + block + "-->"
		k := strings.Index(s, end)
		if strings.HasPrefix(block, "/") || k < 0 {
			s = s[:i] + s[i+j+3:] // a stray or closing marker
			continue
		}
		inner := s[i+j+3 : k]
		if !keep[block] {
			inner = ""
		}
		s = s[:i] + inner + s[k+len(end):]
	}
	return []byte(strings.ReplaceAll(s, "@CSRF@", html.EscapeString(csrf)))
}

// Source is what the page shows and does. The gateway implements it.
type Source interface {
	// Overview is everything the page shows.
	Overview(ctx context.Context) (admin.Overview, error)
	// OpenPairing opens the pairing window.
	OpenPairing(ctx context.Context) (admin.Pairing, error)
	// Health is liveness (the gateway's loops), Readiness adds a store
	// write and the links.
	Health() admin.Health
	Readiness(ctx context.Context) admin.Health
}

// Options configure a Server.
type Options struct {
	Source Source
	// Metrics serves /metrics (nil: 404).
	Metrics http.Handler
	// RequireLogin asks for the password on every page but the health
	// endpoints: set it when the page listens beyond loopback.
	RequireLogin bool
	// PasswordHash returns the stored argon2id hash ("" when none is set).
	// It is called on every request that needs a login: keep it cheap.
	PasswordHash func() string
	// SessionTTL is how long a login lasts without use (default 12h).
	SessionTTL time.Duration
	// Logger receives logins and failures (nil: discarded).
	Logger *slog.Logger
}

// Server is the status page's HTTP handler. Create it with New.
type Server struct {
	o      Options
	log    *slog.Logger
	mux    *http.ServeMux
	secret [32]byte // CSRF key, made at New

	mu       sync.Mutex
	sessions map[string]time.Time // token -> expiry
	loginMu  sync.Mutex           // one password check at a time
	basicOK  map[[32]byte]time.Time
}

// maxSessions bounds the logins kept; the oldest goes first.
const maxSessions = 64

// New returns the page's handler.
func New(o Options) *Server {
	if o.SessionTTL <= 0 {
		o.SessionTTL = 12 * time.Hour
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.PasswordHash == nil {
		o.PasswordHash = func() string { return "" }
	}
	s := &Server{o: o, log: o.Logger, mux: http.NewServeMux(), sessions: map[string]time.Time{}, basicOK: map[[32]byte]time.Time{}}
	_, _ = rand.Read(s.secret[:])
	static, _ := fs.Sub(assets, "assets")
	s.mux.Handle("GET /assets/", http.StripPrefix("/assets/", http.FileServerFS(static)))
	s.mux.HandleFunc("GET /healthz", s.health)
	s.mux.HandleFunc("GET /readyz", s.ready)
	s.mux.HandleFunc("GET /login", s.loginPage)
	s.mux.HandleFunc("POST /login", s.login)
	s.mux.HandleFunc("POST /logout", s.authed(s.logout))
	s.mux.HandleFunc("GET /{$}", s.authed(s.index))
	s.mux.HandleFunc("GET /api/overview", s.authed(s.overview))
	s.mux.HandleFunc("POST /api/pairing", s.authed(s.pairing))
	if o.Metrics != nil {
		s.mux.Handle("GET /metrics", s.authed(func(w http.ResponseWriter, r *http.Request, _ string) { o.Metrics.ServeHTTP(w, r) }))
	}
	return s
}

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Content-Security-Policy", "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "+
		"frame-ancestors 'none'; base-uri 'none'; form-action 'self'")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Referrer-Policy", "no-referrer")
	if !s.o.RequireLogin && !loopback.Host(r.Host) {
		http.Error(w, "this page answers on its loopback address only (http://127.0.0.1:PORT/); "+
			"to serve the LAN set [admin] http to a LAN address and a password", http.StatusMisdirectedRequest)
		return
	}
	s.mux.ServeHTTP(w, r)
}

// Serve answers on ln until ctx ends, then shuts down within five seconds.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	hs := &http.Server{Handler: s, ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 2 * time.Minute,
		BaseContext: func(net.Listener) context.Context { return ctx }}
	if err := httpserve.Serve(ctx, hs, ln); err != nil {
		return fmt.Errorf("statuspage: %w", err)
	}
	return nil
}

const sessionCookie = "edgegate_session"

// session returns the request's valid session token ("" when none),
// sliding its expiry.
func (s *Server) session(r *http.Request) string {
	c, err := r.Cookie(sessionCookie)
	if err != nil || c.Value == "" {
		return ""
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	exp, ok := s.sessions[c.Value]
	if !ok || time.Now().After(exp) {
		delete(s.sessions, c.Value)
		return ""
	}
	s.sessions[c.Value] = time.Now().Add(s.o.SessionTTL)
	return c.Value
}

// csrfToken is the token a page of this session must send back.
func (s *Server) csrfToken(session string) string {
	m := hmac.New(sha256.New, s.secret[:])
	m.Write([]byte("csrf\x00" + session))
	return hex.EncodeToString(m.Sum(nil))
}

// sameOrigin checks the headers browsers add to cross-site requests.
func sameOrigin(r *http.Request) bool {
	if o := r.Header.Get("Origin"); o != "" && o != "null" {
		if o != "http://"+r.Host && o != "https://"+r.Host {
			return false
		}
	}
	switch r.Header.Get("Sec-Fetch-Site") {
	case "", "same-origin", "none":
		return true
	}
	return false
}

// checkCSRF checks a POST's token and origin.
func (s *Server) checkCSRF(r *http.Request, session string) bool {
	if !sameOrigin(r) {
		return false
	}
	tok := r.Header.Get("X-CSRF-Token")
	if tok == "" {
		tok = r.PostFormValue("csrf")
	}
	return subtle.ConstantTimeCompare([]byte(tok), []byte(s.csrfToken(session))) == 1
}

// authed wraps a handler that needs a login (when RequireLogin) and, for
// POST, a CSRF token. The handler gets the session token ("" without
// login).
func (s *Server) authed(h func(w http.ResponseWriter, r *http.Request, session string)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		session := ""
		if s.o.RequireLogin {
			hash := s.o.PasswordHash()
			if hash == "" {
				s.noPassword(w, r)
				return
			}
			session = s.session(r)
			if session == "" {
				if u, p, ok := r.BasicAuth(); ok && u != "" && s.basic(hash, p) {
					session = "basic"
				}
			}
			if session == "" {
				if r.Method == http.MethodGet && !strings.HasPrefix(r.URL.Path, "/api/") && r.URL.Path != "/metrics" {
					http.Redirect(w, r, "/login", http.StatusSeeOther)
					return
				}
				w.Header().Set("WWW-Authenticate", `Basic realm="edgegate", charset="UTF-8"`)
				writeJSON(w, http.StatusUnauthorized, map[string]string{"error": "log in first"})
				return
			}
		}
		if r.Method == http.MethodPost && !s.checkCSRF(r, session) {
			writeJSON(w, http.StatusForbidden, map[string]string{"error": "missing or wrong CSRF token, or a cross-site request; reload the page"})
			return
		}
		h(w, r, session)
	}
}

// basic checks an HTTP Basic password, remembering a good one for a few
// minutes so a scraper does not pay the key derivation every time.
func (s *Server) basic(hash, password string) bool {
	key := sha256.Sum256([]byte(hash + "\x00" + password))
	s.mu.Lock()
	exp, ok := s.basicOK[key]
	s.mu.Unlock()
	if ok && time.Now().Before(exp) {
		return true
	}
	if !s.verify(hash, password) {
		return false
	}
	s.mu.Lock()
	if len(s.basicOK) > maxSessions {
		clear(s.basicOK)
	}
	s.basicOK[key] = time.Now().Add(10 * time.Minute)
	s.mu.Unlock()
	return true
}

// verify checks a password one at a time, pausing after a failure, so
// guessing runs at about one try a second.
func (s *Server) verify(hash, password string) bool {
	s.loginMu.Lock()
	defer s.loginMu.Unlock()
	if VerifyPassword(hash, password) {
		return true
	}
	time.Sleep(time.Second)
	return false
}

func (s *Server) noPassword(w http.ResponseWriter, r *http.Request) {
	if strings.HasPrefix(r.URL.Path, "/api/") || r.URL.Path == "/metrics" {
		writeJSON(w, http.StatusServiceUnavailable, map[string]string{"error": "no password set: run `gatewayctl web password` on the gateway"})
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(http.StatusServiceUnavailable)
	_, _ = w.Write(page("login.html", "", map[string]bool{"nopassword": true}))
}

func (s *Server) loginPage(w http.ResponseWriter, r *http.Request) {
	if !s.o.RequireLogin {
		http.Redirect(w, r, "/", http.StatusSeeOther)
		return
	}
	hash := s.o.PasswordHash()
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	_, _ = w.Write(page("login.html", s.csrfToken("login"), map[string]bool{"nopassword": hash == "", "form": hash != "",
		"failed": r.URL.Query().Has("failed")}))
}

func (s *Server) login(w http.ResponseWriter, r *http.Request) {
	if !s.o.RequireLogin {
		http.Redirect(w, r, "/", http.StatusSeeOther)
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, 4096)
	if !s.checkCSRF(r, "login") {
		http.Error(w, "stale login form; reload it", http.StatusForbidden)
		return
	}
	hash := s.o.PasswordHash()
	if hash == "" {
		s.noPassword(w, r)
		return
	}
	if !s.verify(hash, r.PostFormValue("password")) {
		s.log.Warn("statuspage: login failed", "from", r.RemoteAddr)
		http.Redirect(w, r, "/login?failed", http.StatusSeeOther)
		return
	}
	var b [32]byte
	_, _ = rand.Read(b[:])
	tok := hex.EncodeToString(b[:])
	s.mu.Lock()
	now := time.Now()
	for k, exp := range s.sessions {
		if now.After(exp) {
			delete(s.sessions, k)
		}
	}
	for len(s.sessions) >= maxSessions {
		var oldest string
		var at time.Time
		for k, exp := range s.sessions {
			if oldest == "" || exp.Before(at) {
				oldest, at = k, exp
			}
		}
		delete(s.sessions, oldest)
	}
	s.sessions[tok] = now.Add(s.o.SessionTTL)
	s.mu.Unlock()
	s.log.Info("statuspage: logged in", "from", r.RemoteAddr)
	http.SetCookie(w, &http.Cookie{Name: sessionCookie, Value: tok, Path: "/", HttpOnly: true, SameSite: http.SameSiteStrictMode,
		Secure: r.TLS != nil})
	http.Redirect(w, r, "/", http.StatusSeeOther)
}

func (s *Server) logout(w http.ResponseWriter, r *http.Request, session string) {
	s.mu.Lock()
	delete(s.sessions, session)
	s.mu.Unlock()
	http.SetCookie(w, &http.Cookie{Name: sessionCookie, Value: "", Path: "/", MaxAge: -1, HttpOnly: true, SameSite: http.SameSiteStrictMode})
	http.Redirect(w, r, "/login", http.StatusSeeOther)
}

func (s *Server) index(w http.ResponseWriter, r *http.Request, session string) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	_, _ = w.Write(page("index.html", s.csrfToken(session), map[string]bool{"logout": s.o.RequireLogin && session != "basic"}))
}

func (s *Server) overview(w http.ResponseWriter, r *http.Request, _ string) {
	ov, err := s.o.Source.Overview(r.Context())
	if err != nil {
		s.log.Error("statuspage: overview", "err", err)
		writeJSON(w, http.StatusInternalServerError, map[string]string{"error": err.Error()})
		return
	}
	writeJSON(w, http.StatusOK, ov)
}

func (s *Server) pairing(w http.ResponseWriter, r *http.Request, _ string) {
	p, err := s.o.Source.OpenPairing(r.Context())
	if err != nil {
		writeJSON(w, http.StatusServiceUnavailable, map[string]string{"error": err.Error()})
		return
	}
	s.log.Info("statuspage: pairing window opened", "from", r.RemoteAddr, "until", p.Until)
	writeJSON(w, http.StatusOK, p)
}

func (s *Server) health(w http.ResponseWriter, r *http.Request) {
	writeHealth(w, s.o.Source.Health())
}

func (s *Server) ready(w http.ResponseWriter, r *http.Request) {
	writeHealth(w, s.o.Source.Readiness(r.Context()))
}

func writeHealth(w http.ResponseWriter, h admin.Health) {
	status := http.StatusOK
	if !h.OK {
		status = http.StatusServiceUnavailable
	}
	writeJSON(w, status, h)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", " ")
	_ = enc.Encode(v)
}
