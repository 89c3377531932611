package oco

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Generation is a generation of the OCO agent protocol.
type Generation int

const (
	// Auto detects the generation from the server's answer to the current
	// hello and remembers it.
	Auto Generation = iota
	// Legacy is the protocol of servers up to v1.0.1: oco.agent_hello,
	// oco.agent_update, oco.update_deploy_status, the agent key in
	// plaintext, the server key repeated in every reply.
	Legacy
	// Current is the protocol of servers from v1.1.7 on: oco.agent.hello,
	// oco.agent.update, oco.agent.update_job_state, oco.agent.download,
	// HMAC-SHA256 signatures both ways and increasing timestamps.
	Current
)

// String returns "auto", "legacy" or "current".
func (g Generation) String() string {
	switch g {
	case Legacy:
		return "legacy"
	case Current:
		return "current"
	}
	return "auto"
}

// ParseGeneration parses "auto" (or ""), "legacy" or "current".
func ParseGeneration(s string) (Generation, error) {
	switch s {
	case "", "auto":
		return Auto, nil
	case "legacy":
		return Legacy, nil
	case "current":
		return Current, nil
	}
	return Auto, fmt.Errorf("%w: generation %q: want auto, legacy or current", ErrInvalidOptions, s)
}

// methods are one generation's method names.
type methods struct{ hello, update, jobState, download string }

func (g Generation) methods() methods {
	if g == Legacy {
		return methods{"oco.agent_hello", "oco.agent_update", "oco.update_deploy_status", "download"}
	}
	return methods{"oco.agent.hello", "oco.agent.update", "oco.agent.update_job_state", "oco.agent.download"}
}

// Job states, as Models\Job numbers them.
const (
	StateWaiting     = 0  // server: waiting for the agent
	StateDownloading = 1  // agent: download started
	StateExecuting   = 2  // agent: execution started
	StateSucceeded   = 3  // agent: finished (the server checks the return code)
	StateFailed      = -1 // agent or server: failed
)

// ReturnCodeAgentError is the return code of a job the agent could not
// carry out (JobContainer::RETURN_CODE_AGENT_ERROR).
const ReturnCodeAgentError = -9999

// Header names, lower-case on the wire: the server looks the agent's up in
// a case-sensitive PHP array.
const (
	headerAgentSignature  = "x-oco-agent-signature"
	headerServerSignature = "x-oco-server-signature"
	headerContentType     = "content-type"
	contentTypeJSON       = "application/json"
)

// sign returns hex(HMAC-SHA256(key, body)).
func sign(key string, body []byte) string {
	m := hmac.New(sha256.New, []byte(key))
	m.Write(body)
	return hex.EncodeToString(m.Sum(nil))
}

// verifySignature reports whether sig is hex(HMAC-SHA256(key, body)).
func verifySignature(key string, body []byte, sig string) bool {
	got, err := hex.DecodeString(strings.TrimSpace(sig))
	if err != nil || len(got) != sha256.Size {
		return false
	}
	m := hmac.New(sha256.New, []byte(key))
	m.Write(body)
	return hmac.Equal(got, m.Sum(nil))
}

func constantTimeEqual(a, b string) bool {
	return subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1
}

// Timestamp is an agent timestamp: Unix time in units of 100 µs, written
// as seconds with exactly four decimals (the server keeps 14 significant
// digits, four decimals at current epochs).
type Timestamp int64

// TimestampOf returns t's timestamp, rounded down to 100 µs.
func TimestampOf(t time.Time) Timestamp { return Timestamp(t.UnixMicro() / 100) }

// String writes "1718000000.1234".
func (t Timestamp) String() string {
	v := int64(t)
	sign := ""
	if v < 0 {
		sign, v = "-", -v
	}
	return fmt.Sprintf("%s%d.%04d", sign, v/10000, v%10000)
}

// MarshalJSON writes the timestamp as a JSON number with four decimals.
func (t Timestamp) MarshalJSON() ([]byte, error) { return []byte(t.String()), nil }

// UnmarshalJSON reads a number of seconds, keeping four decimals (more are
// cut, not rounded).
func (t *Timestamp) UnmarshalJSON(b []byte) error {
	s := strings.TrimSpace(string(b))
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	whole, frac, _ := strings.Cut(s, ".")
	frac = (frac + "0000")[:4]
	w, err1 := strconv.ParseInt(whole, 10, 64)
	f, err2 := strconv.ParseInt(frac, 10, 64)
	if err1 != nil || err2 != nil || w > 1<<40 {
		return fmt.Errorf("oco: timestamp %q", b)
	}
	v := w*10000 + f
	if neg {
		v = -v
	}
	*t = Timestamp(v)
	return nil
}

// rpcRequest is a JSON-RPC 2.0 request; all four keys are required.
type rpcRequest struct {
	JSONRPC string `json:"jsonrpc"`
	ID      int    `json:"id"`
	Method  string `json:"method"`
	Params  any    `json:"params"`
}

// legacyParams are a legacy request's params: the agent key in plaintext.
type legacyParams struct {
	Hostname string `json:"hostname"`
	AgentKey string `json:"agent-key"`
	Data     any    `json:"data"`
}

// currentParams are a current request's params; the key signs the body.
type currentParams struct {
	Hostname  string    `json:"hostname"`
	UID       string    `json:"uid,omitempty"`
	Timestamp Timestamp `json:"timestamp"`
	// PackageID is set by oco.agent.download only, in params itself.
	PackageID json.RawMessage `json:"package-id,omitempty"`
	Data      any             `json:"data,omitempty"`
}

// helloData is a hello's data.
type helloData struct {
	AgentVersion string    `json:"agent_version"`
	Networks     []Network `json:"networks"`
	Uptime       *int64    `json:"uptime,omitempty"`
}

// jobStateData is a job state report's data. Every key is sent; the
// legacy generation needs a non-null return code.
type jobStateData struct {
	JobID            json.RawMessage `json:"job-id"`
	State            int             `json:"state"`
	ReturnCode       *int            `json:"return-code"`
	Message          string          `json:"message"`
	DownloadProgress *int            `json:"download-progress,omitempty"`
}

func encodeRequest(method string, params any) ([]byte, error) {
	b, err := json.Marshal(rpcRequest{JSONRPC: "2.0", ID: 1, Method: method, Params: params})
	if err != nil {
		return nil, fmt.Errorf("oco: %s: encode: %w", method, err)
	}
	return b, nil
}

// maxResponse bounds a JSON response the agent reads.
const maxResponse = 8 << 20

// maxErrorBody bounds the message kept from an error answer.
const maxErrorBody = 1024

// Response is a successful JSON-RPC answer.
type Response struct {
	// Success is result.success (true, 1 or "1").
	Success bool
	// Params is result.params by key; PHP's empty array [] and null give
	// an empty map.
	Params map[string]json.RawMessage
	// Timestamp is result.timestamp, the server's microtime; HasTimestamp
	// reports whether it was there.
	Timestamp    float64
	HasTimestamp bool
}

// ParseResponse parses a JSON-RPC answer with status 200. A non-null
// "error" member (how servers up to v0.13 answered an unknown method) is a
// *ServerError; anything that is not a JSON object with a result object is
// ErrProtocol.
func ParseResponse(method string, body []byte) (Response, error) {
	var env struct {
		Error  json.RawMessage `json:"error"`
		Result json.RawMessage `json:"result"`
	}
	if err := json.Unmarshal(body, &env); err != nil {
		return Response{}, fmt.Errorf("oco: %s: %w: %v", method, ErrProtocol, err)
	}
	if e := bytes.TrimSpace(env.Error); len(e) > 0 && !bytes.Equal(e, []byte("null")) {
		return Response{}, &ServerError{Method: method, Status: http.StatusOK, Message: errorText(e)}
	}
	var res struct {
		Success   json.RawMessage `json:"success"`
		Params    json.RawMessage `json:"params"`
		Timestamp json.RawMessage `json:"timestamp"`
	}
	r := bytes.TrimSpace(env.Result)
	if len(r) == 0 || r[0] != '{' {
		return Response{}, fmt.Errorf("oco: %s: %w: no result object", method, ErrProtocol)
	}
	if err := json.Unmarshal(r, &res); err != nil {
		return Response{}, fmt.Errorf("oco: %s: %w: result: %v", method, ErrProtocol, err)
	}
	out := Response{Params: map[string]json.RawMessage{}}
	var err error
	if out.Success, err = looseBool(res.Success); err != nil {
		return Response{}, fmt.Errorf("oco: %s: %w: result.success: %v", method, ErrProtocol, err)
	}
	if p := bytes.TrimSpace(res.Params); len(p) > 0 && !bytes.Equal(p, []byte("null")) {
		switch p[0] {
		case '{':
			if err := json.Unmarshal(p, &out.Params); err != nil {
				return Response{}, fmt.Errorf("oco: %s: %w: result.params: %v", method, ErrProtocol, err)
			}
		case '[':
			var list []json.RawMessage
			if err := json.Unmarshal(p, &list); err != nil || len(list) != 0 {
				return Response{}, fmt.Errorf("oco: %s: %w: result.params is a non-empty list", method, ErrProtocol)
			}
		default:
			return Response{}, fmt.Errorf("oco: %s: %w: result.params is not an object", method, ErrProtocol)
		}
	}
	if t := bytes.TrimSpace(res.Timestamp); len(t) > 0 && !bytes.Equal(t, []byte("null")) {
		if out.Timestamp, err = looseFloat(t); err != nil {
			return Response{}, fmt.Errorf("oco: %s: %w: result.timestamp: %v", method, ErrProtocol, err)
		}
		out.HasTimestamp = true
	}
	return out, nil
}

// errorText renders a JSON-RPC error member: a string, or an object's
// message.
func errorText(raw json.RawMessage) string {
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return clip(s)
	}
	var o struct {
		Message string `json:"message"`
		Code    any    `json:"code"`
	}
	if json.Unmarshal(raw, &o) == nil && o.Message != "" {
		return clip(o.Message)
	}
	return clip(string(raw))
}

func clip(s string) string {
	s = strings.ToValidUTF8(strings.TrimSpace(s), "\uFFFD")
	if len(s) > maxErrorBody {
		s = s[:maxErrorBody]
	}
	return s
}

// ParseServerError builds the error of a non-200 answer from its status,
// the status line's reason phrase (v1.0.1 puts its message there and sends
// an empty body) and its body (a current server's bare message, text/html).
func ParseServerError(method string, status int, reason string, body []byte) *ServerError {
	msg := clip(string(body))
	if msg == "" {
		msg = strings.TrimSpace(reason)
		if msg == http.StatusText(status) {
			msg = ""
		}
	}
	if strings.HasPrefix(msg, "<") {
		msg = clip(stripTags(msg))
	}
	return &ServerError{Method: method, Status: status, Message: msg}
}

// stripTags removes HTML markup from an error page (a PHP fatal error
// rendered with html_errors, a proxy's error page).
func stripTags(s string) string {
	var b strings.Builder
	in := false
	for _, r := range s {
		switch {
		case r == '<':
			in = true
		case r == '>':
			in = false
			b.WriteByte(' ')
		case !in:
			b.WriteRune(r)
		}
	}
	return strings.Join(strings.Fields(b.String()), " ")
}

// reasonPhrase returns the text after the code in an http.Response.Status
// ("400 Parameter Mismatch" -> "Parameter Mismatch").
func reasonPhrase(status string) string {
	_, r, _ := strings.Cut(status, " ")
	return r
}

func looseBool(raw json.RawMessage) (bool, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || bytes.Equal(raw, []byte("null")) {
		return false, nil
	}
	var v any
	if err := json.Unmarshal(raw, &v); err != nil {
		return false, err
	}
	switch x := v.(type) {
	case bool:
		return x, nil
	case float64:
		return x != 0, nil
	case string:
		switch strings.ToLower(x) {
		case "", "0", "false":
			return false, nil
		case "1", "true":
			return true, nil
		}
	}
	return false, fmt.Errorf("not a boolean: %.40s", raw)
}

func looseFloat(raw json.RawMessage) (float64, error) {
	var v any
	if err := json.Unmarshal(raw, &v); err != nil {
		return 0, err
	}
	switch x := v.(type) {
	case float64:
		return x, nil
	case string:
		f, err := strconv.ParseFloat(strings.TrimSpace(x), 64)
		if err == nil {
			return f, nil
		}
	}
	return 0, fmt.Errorf("not a number: %.40s", raw)
}

// looseInt reads an integer that PHP may have sent as a number or a string
// (PDO returns columns as strings). null is 0, with ok false.
func looseInt(raw json.RawMessage) (v int64, ok bool, err error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || bytes.Equal(raw, []byte("null")) {
		return 0, false, nil
	}
	var x any
	d := json.NewDecoder(bytes.NewReader(raw))
	d.UseNumber()
	if err := d.Decode(&x); err != nil {
		return 0, false, err
	}
	var s string
	switch t := x.(type) {
	case json.Number:
		s = t.String()
	case string:
		s = strings.TrimSpace(t)
	case bool:
		if t {
			return 1, true, nil
		}
		return 0, true, nil
	default:
		return 0, false, fmt.Errorf("not an integer: %.40s", raw)
	}
	if n, err := strconv.ParseInt(s, 10, 64); err == nil {
		return n, true, nil
	}
	if f, err := strconv.ParseFloat(s, 64); err == nil && f == float64(int64(f)) {
		return int64(f), true, nil
	}
	return 0, false, fmt.Errorf("not an integer: %.40s", raw)
}

// keyParam reads a key member: a string, or null/absent ("").
func keyParam(p map[string]json.RawMessage, name string) (Secret, error) {
	raw := bytes.TrimSpace(p[name])
	if len(raw) == 0 || bytes.Equal(raw, []byte("null")) {
		return Secret{}, nil
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return Secret{}, fmt.Errorf("%s is not a string", name)
	}
	return NewSecret(s), nil
}

// Hello is a hello's answer.
type Hello struct {
	// ServerKey and AgentKey are the keys the server sent (zero when null):
	// only when it issued them, in the current generation; the server key
	// in every answer, in the legacy one.
	ServerKey, AgentKey Secret
	// Update asks for the full inventory (oco.agent.update).
	Update bool
	// Jobs are the pending deploy jobs, in the server's order.
	Jobs []Job
}

// Job is a deploy job as the server lists it (parseJob reads it).
type Job struct {
	// ID is the job's id exactly as sent: a number, or a string such as
	// "dynamic-12"; it is echoed back unchanged.
	ID json.RawMessage
	// Container is the container's id as text ("12",
	// "deployment_rule::3"); jobs of one container share it.
	Container string
	// PackageID is the package's id exactly as sent.
	PackageID json.RawMessage
	Download  bool
	Procedure string
	// SequenceMode 1 skips the container's remaining jobs after a failure.
	SequenceMode int
	// Restart, Shutdown and Exit are post-actions with their delay in
	// minutes; nil when not asked.
	Restart, Shutdown, Exit *int
}

// IDText returns the job id as text: a string's content or the number.
func (j Job) IDText() string { return rawText(j.ID) }

// maxIDLen bounds job, container and package ids.
const maxIDLen = 200

// rawText renders a JSON scalar as text: a string's content, a number's
// digits.
func rawText(raw json.RawMessage) string {
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s
	}
	return string(bytes.TrimSpace(raw))
}

// ParseHello reads a hello answer's params.
func ParseHello(method string, r Response) (Hello, error) {
	bad := func(format string, a ...any) (Hello, error) {
		return Hello{}, fmt.Errorf("oco: %s: %w: %s", method, ErrProtocol, fmt.Sprintf(format, a...))
	}
	var h Hello
	var err error
	if h.ServerKey, err = keyParam(r.Params, "server-key"); err != nil {
		return bad("%v", err)
	}
	if h.AgentKey, err = keyParam(r.Params, "agent-key"); err != nil {
		return bad("%v", err)
	}
	u, _, err := looseInt(r.Params["update"])
	if err != nil {
		return bad("update: %v", err)
	}
	h.Update = u != 0
	raw := bytes.TrimSpace(r.Params["software-jobs"])
	var list []json.RawMessage
	switch {
	case len(raw) == 0 || bytes.Equal(raw, []byte("null")):
	case raw[0] == '[':
		if err := json.Unmarshal(raw, &list); err != nil {
			return bad("software-jobs: %v", err)
		}
	case raw[0] == '{':
		// The seed text shows a single job object.
		list = []json.RawMessage{raw}
	default:
		return bad("software-jobs is not a list")
	}
	for i, jr := range list {
		j, err := parseJob(jr)
		if err != nil {
			return bad("software-jobs[%d]: %v", i, err)
		}
		h.Jobs = append(h.Jobs, j)
	}
	return h, nil
}

func parseJob(raw json.RawMessage) (Job, error) {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(raw, &m); err != nil {
		return Job{}, fmt.Errorf("not an object")
	}
	var j Job
	id, err := scalarID(m["id"])
	if err != nil {
		return Job{}, fmt.Errorf("id: %v", err)
	}
	j.ID = id
	if c := bytes.TrimSpace(m["container-id"]); len(c) > 0 && !bytes.Equal(c, []byte("null")) {
		cid, err := scalarID(c)
		if err != nil {
			return Job{}, fmt.Errorf("container-id: %v", err)
		}
		j.Container = rawText(cid)
	}
	if p := bytes.TrimSpace(m["package-id"]); len(p) > 0 && !bytes.Equal(p, []byte("null")) {
		if j.PackageID, err = scalarID(p); err != nil {
			return Job{}, fmt.Errorf("package-id: %v", err)
		}
	}
	if j.Download, err = looseBool(m["download"]); err != nil {
		return Job{}, fmt.Errorf("download: %v", err)
	}
	if p := bytes.TrimSpace(m["procedure"]); len(p) > 0 && !bytes.Equal(p, []byte("null")) {
		if err := json.Unmarshal(p, &j.Procedure); err != nil {
			return Job{}, fmt.Errorf("procedure is not a string")
		}
	}
	sm, _, err := looseInt(m["sequence-mode"])
	if err != nil {
		return Job{}, fmt.Errorf("sequence-mode: %v", err)
	}
	j.SequenceMode = int(sm)
	for _, pa := range []struct {
		name string
		dst  **int
	}{{"restart", &j.Restart}, {"shutdown", &j.Shutdown}, {"exit", &j.Exit}} {
		v, ok, err := looseInt(m[pa.name])
		if err != nil {
			return Job{}, fmt.Errorf("%s: %v", pa.name, err)
		}
		if ok {
			if v < 0 || v > 1<<20 {
				return Job{}, fmt.Errorf("%s: %d minutes is out of range", pa.name, v)
			}
			n := int(v)
			*pa.dst = &n
		}
	}
	if j.Download && len(j.PackageID) == 0 {
		return Job{}, fmt.Errorf("download without a package-id")
	}
	return j, nil
}

// scalarID checks that raw is a JSON string or number of a sane length and
// returns it compacted, byte for byte otherwise.
func scalarID(raw json.RawMessage) (json.RawMessage, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 {
		return nil, fmt.Errorf("missing")
	}
	if len(raw) > maxIDLen {
		return nil, fmt.Errorf("longer than %d bytes", maxIDLen)
	}
	var v any
	d := json.NewDecoder(bytes.NewReader(raw))
	d.UseNumber()
	if err := d.Decode(&v); err != nil {
		return nil, err
	}
	switch t := v.(type) {
	case json.Number:
	case string:
		if t == "" || strings.ContainsAny(t, "\x00\r\n") {
			return nil, fmt.Errorf("empty or with control characters")
		}
	default:
		return nil, fmt.Errorf("not a number or a string")
	}
	return bytes.Clone(raw), nil
}

// JobReply is the answer to a job state report. (The legacy generation's
// repeated server key is checked with every answer's, before.)
type JobReply struct {
	// Succeeded is params.job-succeeded: true only for a final success
	// (the server checks the return code against the job's list).
	Succeeded bool
}

// ParseJobReply reads a job state report's answer.
func ParseJobReply(method string, r Response) (JobReply, error) {
	ok, err := looseBool(r.Params["job-succeeded"])
	if err != nil {
		return JobReply{}, fmt.Errorf("oco: %s: %w: job-succeeded: %v", method, ErrProtocol, err)
	}
	return JobReply{Succeeded: ok}, nil
}
