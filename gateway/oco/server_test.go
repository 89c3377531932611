package oco

import (
	"bufio"
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// ocoServer is an OCO server written for the tests. It speaks one
// generation the way oco-agent-wire.md records the real ones:
//
//   - current (v1.2.2): content-type must be exactly application/json (the
//     header name in any case, as PHP's CONTENT_TYPE); the signature header
//     is looked up by its exact lower-case name, as getallheaders() keys
//     are case-sensitive; HMAC over the raw body; keys returned once;
//     hello timestamps must exceed the stored one (kept at 14 significant
//     digits) once the stored agent_version is >= 1.1.7; plaintext
//     fallback below 1.1.7; errors 400/401 with a bare text/html message;
//     responses signed with the server key and carrying result.timestamp;
//     an empty params is PHP's [].
//   - legacy (v1.0.1): every legacy and current name, agent-key in
//     plaintext, server-key repeated, errors as a reason phrase with an
//     empty body.
//   - v013: legacy names only; an unknown method is 200 with a JSON error.
//
// Jobs are offered until they reach a final state.
type ocoServer struct {
	t       testing.TB
	gen     string // "current", "legacy", "v013"
	srv     *httptest.Server
	mu      sync.Mutex
	regKey  string
	selfReg bool
	hosts   map[string]*host
	jobs    []*srvJob
	pkgs    map[string][]byte
	calls   []srvCall
	lastTS  float64
	// updateInterval: inventory asked when the last is older.
	updateInterval time.Duration

	// Hooks, called without the lock. respond may rewrite a JSON answer
	// before it is sent (the body and the signature header); jobState sees
	// each job state report before it is applied and may answer instead
	// (a non-zero status).
	respond  func(method string, body []byte, sig string) ([]byte, string)
	jobState func(j *srvJob, state int, msg string) (status int)
	// override answers every request instead (a server that fails).
	override http.Handler
}

// The hooks are set while the server runs: under the lock.
func (s *ocoServer) setRespond(f func(method string, body []byte, sig string) ([]byte, string)) {
	s.mu.Lock()
	s.respond = f
	s.mu.Unlock()
}

func (s *ocoServer) setJobState(f func(j *srvJob, state int, msg string) int) {
	s.mu.Lock()
	s.jobState = f
	s.mu.Unlock()
}

func (s *ocoServer) setOverride(h http.Handler) {
	s.mu.Lock()
	s.override = h
	s.mu.Unlock()
}

func (s *ocoServer) respondHook() func(string, []byte, string) ([]byte, string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.respond
}

type host struct {
	name, agentKey, serverKey, agentVersion, uid string
	agentTS                                      float64
	lastUpdate                                   time.Time
	forceUpdate                                  bool
	inventory                                    map[string]any
	hellos                                       int
}

type srvJob struct {
	id           any // int or "dynamic-N"
	host         string
	container    any
	pkg          any
	download     bool
	procedure    string
	sequenceMode int
	restart      *int
	shutdown     *int
	exit         *int
	successCodes []int
	state        int
	returnCode   *int
	message      string
	reports      []jobReport
}

type jobReport struct {
	state    int
	code     *int
	message  string
	progress *float64
	key      string // job-id as sent, raw
}

// srvCall is one request as the server saw it.
type srvCall struct {
	method      string
	status      int
	headerNames []string // as sent on the wire
	contentType string
	body        []byte
}

func newOCOServer(t testing.TB, gen string) *ocoServer {
	s := &ocoServer{t: t, gen: gen, regKey: "reg-" + randKey(), selfReg: true, hosts: map[string]*host{},
		pkgs: map[string][]byte{}, updateInterval: 2 * time.Hour}
	s.srv = httptest.NewUnstartedServer(http.HandlerFunc(s.serve))
	s.srv.Listener = &recListener{Listener: s.srv.Listener}
	s.srv.Config.ConnContext = func(ctx context.Context, c net.Conn) context.Context {
		return context.WithValue(ctx, connKey{}, c)
	}
	s.srv.Start()
	t.Cleanup(s.srv.Close)
	return s
}

func (s *ocoServer) url() string { return s.srv.URL + "/api-agent.php" }

// randKey is the server's randomString(): 30 characters [0-9a-z].
func randKey() string {
	const alphabet = "0123456789abcdefghijklmnopqrstuvwxyz"
	b := make([]byte, 30)
	for i := range b {
		n, _ := rand.Int(rand.Reader, big.NewInt(int64(len(alphabet))))
		b[i] = alphabet[n.Int64()]
	}
	return string(b)
}

// recListener wraps every connection so that the handler can read the
// request's header names exactly as they were sent.
type recListener struct{ net.Listener }

func (l *recListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &recConn{Conn: c}, nil
}

type connKey struct{}

type recConn struct {
	net.Conn
	mu  sync.Mutex
	buf bytes.Buffer
}

func (c *recConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	c.mu.Lock()
	c.buf.Write(p[:n])
	c.mu.Unlock()
	return n, err
}

// takeHeaderNames returns the raw header names of the request whose body
// the handler has read, and forgets its bytes (the client does not
// pipeline).
func (c *recConn) takeHeaderNames() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	raw := c.buf.Bytes()
	end := bytes.Index(raw, []byte("\r\n\r\n"))
	if end < 0 {
		return nil
	}
	var names []string
	sc := bufio.NewScanner(bytes.NewReader(raw[:end]))
	first := true
	for sc.Scan() {
		if first {
			first = false
			continue
		}
		if k, _, ok := strings.Cut(sc.Text(), ":"); ok {
			names = append(names, k)
		}
	}
	c.buf.Reset()
	return names
}

// rawHeader returns the value sent under exactly name (PHP's
// getallheaders()[name]).
func rawHeader(r *http.Request, names []string, name string) (string, bool) {
	for _, n := range names {
		if n == name {
			return r.Header.Get(name), true
		}
	}
	return "", false
}

func (s *ocoServer) record(c srvCall) {
	s.mu.Lock()
	s.calls = append(s.calls, c)
	s.mu.Unlock()
}

func (s *ocoServer) callsOf(method string) []srvCall {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []srvCall
	for _, c := range s.calls {
		if c.method == method {
			out = append(out, c)
		}
	}
	return out
}

// errPage answers a current server's error: the bare message as text/html.
func errPage(w http.ResponseWriter, status int, msg string) {
	w.Header().Set("Content-Type", "text/html; charset=UTF-8")
	w.WriteHeader(status)
	io.WriteString(w, msg)
}

// reasonPhrase answers as v1.0.1's header('HTTP/1.1 400 Parameter
// Mismatch'); die(): the message in the status line, an empty body. Go's
// server writes only standard phrases, so the status line goes out raw.
func writeReason(w http.ResponseWriter, status int, reason string) {
	hj, ok := w.(http.Hijacker)
	if !ok {
		panic("no hijacker")
	}
	conn, bw, err := hj.Hijack()
	if err != nil {
		panic(err)
	}
	defer conn.Close()
	fmt.Fprintf(bw, "HTTP/1.1 %d %s\r\nContent-Length: 0\r\nContent-Type: text/html; charset=UTF-8\r\nConnection: close\r\n\r\n", status, reason)
	bw.Flush()
}

func (s *ocoServer) serve(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	override := s.override
	s.mu.Unlock()
	if override != nil {
		override.ServeHTTP(w, r)
		return
	}
	body, _ := io.ReadAll(r.Body)
	names := r.Context().Value(connKey{}).(*recConn).takeHeaderNames()
	ct := r.Header.Get("Content-Type") // PHP's CONTENT_TYPE: any name case
	call := srvCall{headerNames: names, contentType: ct, body: body}
	rw := &statusRecorder{ResponseWriter: w, status: 200}
	defer func() { call.status = rw.status; s.record(call) }()
	if ct == "" && r.URL.Query().Get("id") != "" {
		call.method = "GET download"
		s.legacyDownload(rw, r)
		return
	}
	if s.gen == "current" {
		if ct != "application/json" {
			errPage(rw, 400, "Content type mismatch")
			return
		}
	} else if ct != "application/json" {
		rw.status = 400
		writeReason(w, 400, "Content Type Mismatch")
		return
	}
	var req map[string]json.RawMessage
	if json.Unmarshal(body, &req) != nil || string(req["jsonrpc"]) != `"2.0"` || isNull(req["method"]) || isNull(req["params"]) || isNull(req["id"]) {
		s.fail(rw, w, 400, "Invalid JSON data", "Payload Corrupt")
		return
	}
	var method string
	json.Unmarshal(req["method"], &method)
	call.method = method
	var params map[string]json.RawMessage
	if json.Unmarshal(req["params"], &params) != nil {
		s.fail(rw, w, 400, "Invalid JSON data", "Payload Corrupt")
		return
	}
	if s.gen == "current" {
		s.current(rw, r, names, body, req["id"], method, params)
	} else {
		s.legacy(rw, w, req["id"], method, params)
	}
}

type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (s *statusRecorder) WriteHeader(code int) { s.status = code; s.ResponseWriter.WriteHeader(code) }

func (s *statusRecorder) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	return s.ResponseWriter.(http.Hijacker).Hijack()
}

func (s *ocoServer) fail(rw *statusRecorder, w http.ResponseWriter, status int, current, legacyReason string) {
	if s.gen == "current" {
		errPage(rw, status, current)
		return
	}
	rw.status = status
	writeReason(w, status, legacyReason)
}

func isNull(raw json.RawMessage) bool { return len(raw) == 0 || string(raw) == "null" }

func str(raw json.RawMessage) (string, bool) {
	var s string
	if json.Unmarshal(raw, &s) != nil {
		return "", false
	}
	return s, true
}

func dataOf(params map[string]json.RawMessage) map[string]json.RawMessage {
	var d map[string]json.RawMessage
	json.Unmarshal(params["data"], &d)
	if d == nil {
		d = map[string]json.RawMessage{}
	}
	return d
}

// microtime is the server's microtime(true), strictly increasing.
func (s *ocoServer) microtime() float64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	ts := float64(time.Now().UnixMicro()) / 1e6
	if ts <= s.lastTS {
		ts = s.lastTS + 0.000001
	}
	s.lastTS = ts
	return ts
}

// updateDue reports whether the host is to send its inventory (s.mu held).
func (s *ocoServer) updateDue(h *host) bool {
	return time.Since(h.lastUpdate) > s.updateInterval || h.forceUpdate
}

// flag is the server's 0 or 1 for b.
func flag(b bool) int {
	if b {
		return 1
	}
	return 0
}

// permission is a current server's PermissionException.
type permission string

func (s *ocoServer) current(w http.ResponseWriter, r *http.Request, names []string, body, id json.RawMessage, method string, params map[string]json.RawMessage) {
	data := dataOf(params)
	hostname, okHost := str(params["hostname"])
	var h *host
	var before string // the stored agent_version when the request came in
	reply := func(p map[string]any) {
		res := map[string]any{"success": true, "params": p, "timestamp": s.microtime()}
		if p == nil {
			res["params"] = []any{}
		}
		s.answerCurrent(w, method, id, res, h, before)
	}
	// signed checks the request's signature by key.
	signed := func(key string) permission {
		sig, ok := rawHeader(r, names, "x-oco-agent-signature")
		if !ok {
			return "Signature header missing"
		}
		m := hmac.New(sha256.New, []byte(key))
		m.Write(body)
		if sig != hex.EncodeToString(m.Sum(nil)) {
			return "Invalid agent signature"
		}
		return ""
	}
	checkAuth := func(key string) (*host, permission) {
		s.mu.Lock()
		hh := s.hosts[hostname]
		s.mu.Unlock()
		if hh == nil {
			return nil, "Computer not found"
		}
		if key == "" {
			key = hh.agentKey
		}
		dv, ok := str(data["agent_version"])
		if !ok {
			dv = "1.0.0"
		}
		if phpVersionCompare(hh.agentVersion, "1.1.7") < 0 && phpVersionCompare(dv, "1.1.7") < 0 {
			if k, _ := str(params["agent-key"]); k != key || isNull(params["agent-key"]) {
				return hh, "Agent key mismatch"
			}
			return hh, ""
		}
		return hh, signed(key)
	}
	// authorize answers 401 unless the request is the known host's,
	// authenticated by key ("": the host's agent key).
	authorize := func(key string) (*host, bool) {
		hh, perm := checkAuth(key)
		if perm != "" {
			errPage(w, 401, string(perm))
			return nil, false
		}
		return hh, true
	}
	switch method {
	case "oco.agent.hello":
		if !okHost {
			errPage(w, 400, "Invalid JSON data")
			return
		}
		s.mu.Lock()
		h = s.hosts[hostname]
		s.mu.Unlock()
		var p map[string]any
		s.mu.Lock()
		selfReg := s.selfReg
		s.mu.Unlock()
		if h == nil {
			if !selfReg {
				errPage(w, 401, "Client self-registration is disabled")
				return
			}
			dv, ok := str(data["agent_version"])
			if !ok {
				dv = "1.1.7"
			}
			if phpVersionCompare(dv, "1.1.7") < 0 {
				if k, _ := str(params["agent-key"]); k != s.regKey {
					errPage(w, 401, "Agent registration key mismatch")
					return
				}
			} else if perm := signed(s.regKey); perm != "" {
				errPage(w, 401, string(perm))
				return
			}
			h = &host{name: hostname, agentKey: randKey(), serverKey: randKey(), agentVersion: dv}
			h.uid, _ = str(params["uid"])
			s.mu.Lock()
			s.hosts[hostname] = h
			s.mu.Unlock()
			before = h.agentVersion
			p = map[string]any{"server-key": h.serverKey, "agent-key": h.agentKey, "update": 1}
		} else {
			key := h.agentKey
			if key == "" {
				key = s.regKey
			}
			if _, ok := authorize(key); !ok {
				return
			}
			s.mu.Lock()
			before = h.agentVersion
			if phpVersionCompare(h.agentVersion, "1.1.7") >= 0 {
				ts, err := looseFloat(params["timestamp"])
				if err != nil || ts <= h.agentTS {
					s.mu.Unlock()
					errPage(w, 401, "Agent timestamp too old")
					return
				}
				h.agentTS, _ = strconv.ParseFloat(strconv.FormatFloat(ts, 'g', 14, 64), 64)
			}
			p = map[string]any{"server-key": nil, "agent-key": nil}
			if h.agentKey == "" {
				h.agentKey = randKey()
				p["agent-key"] = h.agentKey
			}
			if h.serverKey == "" {
				h.serverKey = randKey()
				p["server-key"] = h.serverKey
			}
			if v, ok := str(data["agent_version"]); ok {
				h.agentVersion = v
			}
			p["update"] = flag(s.updateDue(h))
			s.mu.Unlock()
		}
		s.mu.Lock()
		h.hellos++
		p["software-jobs"] = s.pendingJobs(hostname)
		s.mu.Unlock()
		p["logins-since"] = "1970-01-01 00:00:00"
		p["events"] = []any{}
		p["update-passwords"] = []any{}
		reply(p)
	case "oco.agent.update":
		if !okHost || len(data) == 0 {
			errPage(w, 400, "Invalid JSON data")
			return
		}
		hh, ok := authorize("")
		if !ok {
			return
		}
		h = hh
		s.mu.Lock()
		before = h.agentVersion
		if time.Since(h.lastUpdate) < 25*time.Second && h.forceUpdate {
			s.mu.Unlock()
			errPage(w, 400, "Update refused (too often or invalid data)")
			return
		}
		inv := map[string]any{}
		json.Unmarshal(params["data"], &inv)
		h.inventory, h.lastUpdate, h.forceUpdate = inv, time.Now(), false
		if v, ok := inv["agent_version"].(string); ok {
			h.agentVersion = v
		}
		s.mu.Unlock()
		reply(map[string]any{"policies": []any{}})
	case "oco.agent.update_job_state":
		s.jobStateCurrent(w, r, names, body, id, method, params, authorize, reply, &h, &before)
	case "oco.agent.download":
		if !okHost || isNull(params["package-id"]) {
			errPage(w, 400, "Invalid JSON data")
			return
		}
		hh, ok := authorize("")
		if !ok {
			return
		}
		s.download(w, hh, rawText(params["package-id"]), func(code int, msg string) { errPage(w, code, msg) })
	default:
		errPage(w, 400, "Unknown method")
	}
}

func (s *ocoServer) jobStateCurrent(w http.ResponseWriter, r *http.Request, names []string, body, id json.RawMessage, method string,
	params map[string]json.RawMessage, authorize func(string) (*host, bool), reply func(map[string]any), hp **host, before *string) {
	data := dataOf(params)
	_, rcPresent := data["return-code"]
	if isNull(params["hostname"]) || isNull(data["job-id"]) || isNull(data["state"]) || !rcPresent || isNull(data["message"]) {
		errPage(w, 400, "Invalid JSON data")
		return
	}
	hh, ok := authorize("")
	if !ok {
		return
	}
	*hp = hh
	*before = hh.agentVersion
	j := s.findJob(data["job-id"])
	if j == nil {
		errPage(w, 400, "Job »"+rawText(data["job-id"])+"« not found")
		return
	}
	if j.host != hh.name {
		errPage(w, 401, "Computer not allowed to update job »"+rawText(data["job-id"])+"«")
		return
	}
	state, code, msg, prog := s.decodeReport(data)
	if st := s.hook(j, state, msg); st != 0 {
		errPage(w, st, "hook")
		return
	}
	succeeded := s.applyReport(j, data["job-id"], state, code, msg, prog)
	reply(map[string]any{"job-succeeded": succeeded})
}

func (s *ocoServer) hook(j *srvJob, state int, msg string) int {
	s.mu.Lock()
	f := s.jobState
	s.mu.Unlock()
	if f == nil {
		return 0
	}
	return f(j, state, msg)
}

func (s *ocoServer) decodeReport(data map[string]json.RawMessage) (int, *int, string, *float64) {
	st, _, _ := looseInt(data["state"])
	var code *int
	if c, ok, _ := looseInt(data["return-code"]); ok {
		n := int(c)
		code = &n
	}
	msg, _ := str(data["message"])
	var prog *float64
	if p, err := looseFloat(data["download-progress"]); err == nil {
		prog = &p
	}
	return int(st), code, msg, prog
}

// applyReport stores a report; a final success is checked against the
// job's success codes. It returns job-succeeded.
func (s *ocoServer) applyReport(j *srvJob, rawID json.RawMessage, state int, code *int, msg string, prog *float64) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if state == StateSucceeded && len(j.successCodes) > 0 {
		state = StateFailed
		for _, c := range j.successCodes {
			if code != nil && *code == c {
				state = StateSucceeded
			}
		}
	}
	j.state, j.returnCode, j.message = state, code, msg
	j.reports = append(j.reports, jobReport{state: state, code: code, message: msg, progress: prog, key: string(rawID)})
	return state == StateSucceeded
}

// findJob finds a job by the id sent: "dynamic-N" strings for dynamic
// jobs, otherwise the static id (number or numeric string).
func (s *ocoServer) findJob(raw json.RawMessage) *srvJob {
	want := rawText(raw)
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, j := range s.jobs {
		if fmt.Sprint(j.id) == want {
			return j
		}
	}
	return nil
}

// pendingJobs lists a host's jobs in state 0, 1 or 2 (called locked).
func (s *ocoServer) pendingJobs(hostname string) []map[string]any {
	out := []map[string]any{}
	for _, j := range s.jobs {
		if j.host != hostname || j.state < 0 || j.state > 2 {
			continue
		}
		out = append(out, map[string]any{"id": j.id, "container-id": j.container, "package-id": j.pkg,
			"download": j.download, "procedure": j.procedure, "sequence-mode": j.sequenceMode,
			"restart": j.restart, "shutdown": j.shutdown, "exit": j.exit})
	}
	return out
}

// answerCurrent writes a JSON answer, signed with the server key when the
// host's agent_version (as stored when the request came in) is >= 1.1.7,
// with the server key repeated otherwise.
func (s *ocoServer) answerCurrent(w http.ResponseWriter, method string, id json.RawMessage, res map[string]any, h *host, before string) {
	out := map[string]any{"id": id, "error": nil, "result": res}
	sig := ""
	if h != nil {
		if phpVersionCompare(before, "1.1.7") < 0 {
			p, _ := res["params"].(map[string]any)
			if p == nil {
				p = map[string]any{}
				res["params"] = p
			}
			p["server-key"] = h.serverKey
			if p["agent-key"] == nil || p["agent-key"] == "" {
				p["agent-key"] = nil
			}
		}
	}
	b, _ := json.Marshal(out)
	if h != nil && phpVersionCompare(before, "1.1.7") >= 0 {
		m := hmac.New(sha256.New, []byte(h.serverKey))
		m.Write(b)
		sig = hex.EncodeToString(m.Sum(nil))
	}
	if f := s.respondHook(); f != nil {
		b, sig = f(method, b, sig)
	}
	w.Header().Set("content-type", "application/json")
	if sig != "" {
		w.Header().Set("x-oco-server-signature", sig)
	}
	w.Write(b)
}

// download serves a package to a host with an active job for it.
func (s *ocoServer) download(w http.ResponseWriter, h *host, pkg string, fail func(int, string)) {
	s.mu.Lock()
	zip, ok := s.pkgs[pkg]
	active := false
	for _, j := range s.jobs {
		if j.host == h.name && fmt.Sprint(j.pkg) == pkg && j.state >= 0 && j.state <= 2 {
			active = true
		}
	}
	s.mu.Unlock()
	switch {
	case !ok:
		fail(400, "Package not found")
	case !active:
		fail(400, "No active job for this package")
	default:
		w.Header().Set("Content-Type", "application/octet-stream")
		w.Header().Set("Content-Length", strconv.Itoa(len(zip)))
		w.Write(zip)
	}
}

// legacyDownload is GET ?id=&hostname=&agent-key= (every generation).
func (s *ocoServer) legacyDownload(w *statusRecorder, r *http.Request) {
	q := r.URL.Query()
	s.mu.Lock()
	_, ok := s.pkgs[q.Get("id")]
	h := s.hosts[q.Get("hostname")]
	s.mu.Unlock()
	switch {
	case !ok:
		w.status = 404
		writeReason(w.ResponseWriter, 404, "Not Found")
	case h == nil || q.Get("agent-key") != h.agentKey:
		w.status = 401
		writeReason(w.ResponseWriter, 401, "Client Not Authorized")
	default:
		s.download(w, h, q.Get("id"), func(code int, _ string) {
			w.status = 401
			writeReason(w.ResponseWriter, 401, "No Active Job")
		})
	}
}

// legacy is v1.0.1's api-agent.php (and v0.13's with gen "v013").
func (s *ocoServer) legacy(rw *statusRecorder, w http.ResponseWriter, id json.RawMessage, method string, params map[string]json.RawMessage) {
	reason := func(code int, phrase string) { rw.status = code; writeReason(w, code, phrase) }
	data := dataOf(params)
	hostname, okHost := str(params["hostname"])
	agentKey, okKey := str(params["agent-key"])
	known := map[string]string{
		"oco.agent_hello": "hello", "oco.agent_update": "update", "oco.update_deploy_status": "state",
	}
	if s.gen == "legacy" {
		known["oco.agent.hello"], known["oco.agent.update"] = "hello", "update"
		known["oco.agent.update_job_state"], known["oco.agent.update_deploy_status"] = "state", "state"
	}
	reply := func(p map[string]any) {
		b, _ := json.Marshal(map[string]any{"id": id, "error": nil, "result": map[string]any{"success": true, "params": p}})
		if f := s.respondHook(); f != nil {
			b, _ = f(method, b, "")
		}
		w.Header().Set("Content-Type", "application/json")
		w.Write(b)
	}
	s.mu.Lock()
	h := s.hosts[hostname]
	s.mu.Unlock()
	// authorized answers unless the host is known and the agent key is
	// its own.
	authorized := func() bool {
		if h == nil {
			reason(404, "Computer Not Found")
			return false
		}
		if agentKey != h.agentKey {
			reason(401, "Client Not Authorized")
			return false
		}
		return true
	}
	switch known[method] {
	case "hello":
		if !okHost || !okKey {
			reason(400, "Parameter Mismatch")
			return
		}
		p := map[string]any{"agent-key": nil}
		s.mu.Lock()
		if h == nil {
			if agentKey != s.regKey {
				s.mu.Unlock()
				reason(401, "Client Not Authorized")
				return
			}
			if !s.selfReg {
				s.mu.Unlock()
				reason(403, "Client Self-Registration Disabled")
				return
			}
			h = &host{name: hostname, agentKey: randKey(), serverKey: randKey()}
			h.agentVersion, _ = str(data["agent_version"])
			s.hosts[hostname] = h
			p["agent-key"], p["update"] = h.agentKey, 1
		} else {
			if h.agentKey == "" {
				if agentKey != s.regKey {
					s.mu.Unlock()
					reason(401, "Client Not Authorized")
					return
				}
				h.agentKey = randKey()
				p["agent-key"] = h.agentKey
			} else if agentKey != h.agentKey {
				s.mu.Unlock()
				reason(401, "Client Not Authorized")
				return
			}
			if h.serverKey == "" {
				h.serverKey = randKey()
			}
			p["update"] = flag(s.updateDue(h))
		}
		h.hellos++
		p["server-key"] = h.serverKey
		p["software-jobs"] = s.pendingJobs(hostname)
		s.mu.Unlock()
		reply(p)
	case "update":
		if !okHost || !okKey {
			reason(400, "Parameter Mismatch")
			return
		}
		if !authorized() {
			return
		}
		s.mu.Lock()
		if !s.updateDue(h) || len(data) == 0 {
			s.mu.Unlock()
			reason(400, "Update Not Necessary")
			return
		}
		// v1.0.1 reads these without a default: a missing key is a PHP
		// warning and a NULL in the database.
		for _, k := range []string{"os", "os_version", "kernel_version", "architecture", "cpu", "gpu", "ram", "agent_version",
			"serial", "manufacturer", "model", "bios_version", "boot_type", "secure_boot"} {
			if _, ok := data[k]; !ok {
				s.t.Errorf("legacy update without %s", k)
			}
		}
		inv := map[string]any{}
		json.Unmarshal(params["data"], &inv)
		h.inventory, h.lastUpdate, h.forceUpdate = inv, time.Now(), false
		s.mu.Unlock()
		reply(map[string]any{"server-key": h.serverKey})
	case "state":
		if !okHost || !okKey || isNull(data["job-id"]) || isNull(data["state"]) || isNull(data["return-code"]) || isNull(data["message"]) {
			reason(400, "Parameter Mismatch")
			return
		}
		if !authorized() {
			return
		}
		j := s.findJob(data["job-id"])
		if j == nil {
			reason(404, "Job Not Found")
			return
		}
		if j.host != h.name {
			reason(403, "Forbidden")
			return
		}
		state, code, msg, prog := s.decodeReport(data)
		if st := s.hook(j, state, msg); st != 0 {
			reason(st, "Hook")
			return
		}
		succeeded := s.applyReport(j, data["job-id"], state, code, msg, prog)
		reply(map[string]any{"server-key": h.serverKey, "job-succeeded": succeeded})
	default:
		if s.gen == "v013" {
			w.Header().Set("Content-Type", "application/json")
			io.WriteString(w, `{"error":"Unknown Method","result":null}`)
			return
		}
		reason(400, "Unknown Method")
	}
}

// addJob schedules a job for hostname; id is an int or "dynamic-N".
func (s *ocoServer) addJob(j *srvJob) *srvJob {
	s.mu.Lock()
	defer s.mu.Unlock()
	if j.successCodes == nil {
		j.successCodes = []int{0}
	}
	s.jobs = append(s.jobs, j)
	return j
}

func (s *ocoServer) addPackage(id string, zip []byte) {
	s.mu.Lock()
	s.pkgs[id] = zip
	s.mu.Unlock()
}

// jobSnapshot returns a copy of a job's state and reports.
func (s *ocoServer) jobSnapshot(j *srvJob) srvJob {
	s.mu.Lock()
	defer s.mu.Unlock()
	c := *j
	c.reports = append([]jobReport(nil), j.reports...)
	return c
}

// TestServerIsStrict checks the test server against the pitfalls it is
// there to catch: a canonicalised signature header, a content type with a
// charset, a missing JSON-RPC key.
func TestServerIsStrict(t *testing.T) {
	s := newOCOServer(t, "current")
	body := []byte(`{"jsonrpc":"2.0","id":1,"method":"oco.agent.hello","params":{"hostname":"h","timestamp":1,"data":{"agent_version":"1.2.0"}}}`)
	post := func(body []byte, h http.Header) (int, string) {
		req, _ := http.NewRequest("POST", s.url(), bytes.NewReader(body))
		req.Header = h
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	m := hmac.New(sha256.New, []byte(s.regKey))
	m.Write(body)
	sig := hex.EncodeToString(m.Sum(nil))
	h := http.Header{"content-type": {"application/json"}}
	h.Set("X-Oco-Agent-Signature", sig)
	if code, msg := post(body, h); code != 401 || msg != "Signature header missing" {
		t.Errorf("canonical header name: %d %q", code, msg)
	}
	if code, msg := post(body, http.Header{"content-type": {"application/json; charset=utf-8"}, "x-oco-agent-signature": {sig}}); code != 400 || msg != "Content type mismatch" {
		t.Errorf("charset: %d %q", code, msg)
	}
	if code, msg := post([]byte(`{"jsonrpc":"2.0","method":"oco.agent.hello","params":{}}`), http.Header{"content-type": {"application/json"}}); code != 400 || msg != "Invalid JSON data" {
		t.Errorf("no id: %d %q", code, msg)
	}
	if code, msg := post(body, http.Header{"content-type": {"application/json"}, "x-oco-agent-signature": {sig}}); code != 200 || !strings.Contains(msg, `"agent-key":"`) {
		t.Errorf("right request: %d %q", code, msg)
	}
	// Keys are returned once.
	m = hmac.New(sha256.New, []byte(s.hostSnapshot("h").agentKey))
	body2 := []byte(strings.Replace(string(body), `"timestamp":1`, `"timestamp":2`, 1))
	m.Write(body2)
	if code, msg := post(body2, http.Header{"content-type": {"application/json"}, "x-oco-agent-signature": {hex.EncodeToString(m.Sum(nil))}}); code != 200 || !strings.Contains(msg, `"agent-key":null`) {
		t.Errorf("second hello: %d %q", code, msg)
	}
	// A replayed hello (same timestamp) is refused.
	if code, msg := post(body2, http.Header{"content-type": {"application/json"}, "x-oco-agent-signature": {hex.EncodeToString(m.Sum(nil))}}); code != 401 || msg != "Agent timestamp too old" {
		t.Errorf("replayed hello: %d %q", code, msg)
	}
	l := newOCOServer(t, "legacy")
	req, _ := http.NewRequest("POST", l.url(), strings.NewReader(`{"jsonrpc":"2.0","id":1,"method":"oco.agent.hello","params":{"hostname":"h","data":{}}}`))
	req.Header["content-type"] = []string{"application/json"}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.Status != "400 Parameter Mismatch" {
		t.Errorf("legacy answer to the current hello: %q", resp.Status)
	}
}
