package oco

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jonboulle/clockwork"

	"github.com/edgegate/edgegate/gateway/admin"
)

// Options configure an Agent.
type Options struct {
	// URL is the server's agent API, e.g.
	// "https://oco.example.com/api-agent.php".
	URL string
	// Generation is the protocol generation; Auto detects it and keeps
	// what it found in the store.
	Generation Generation
	// Hostname is the computer's identity on the server.
	Hostname string
	// UID is sent as the computer's uid by the current generation (a
	// UNIQUE column on the server): the gateway's UUID. "" omits it.
	UID string
	// RegistrationKey is the server's agent registration key, used for the
	// first hello only. It comes from the configuration, never from the
	// network.
	RegistrationKey Secret
	// Version is edgegate's version; see WireAgentVersion.
	Version string
	// Interval between hellos (default 60 s); Jitter spreads each wait by
	// ±Jitter of it (default 0.1; negative: none).
	Interval time.Duration
	Jitter   float64
	// MaxBackoff caps the wait after failures, which doubles from Interval
	// (default 15 min).
	MaxBackoff time.Duration
	// RequestTimeout bounds each JSON request (default 2 min); downloads
	// are bounded by the job timeout.
	RequestTimeout time.Duration
	// Transport carries TLS settings (nil: http.DefaultTransport). The
	// agent never follows a redirect: a POST redirected becomes a GET, so
	// the 3xx is reported instead.
	Transport http.RoundTripper
	// KV holds the agent's records (a store namespace).
	KV KV
	// WorkDir holds the jobs' working directories (WorkDir/jobs/...).
	WorkDir string
	// Sources are where the inventory comes from.
	Sources Sources
	// Jobs configures the deploy jobs.
	Jobs JobOptions
	// Clock drives the polling (nil: the real clock); Rand returns numbers
	// in [0, 1) for the jitter (nil: math/rand/v2).
	Clock  clockwork.Clock
	Rand   func() float64
	Logger *slog.Logger
}

// Stats are the agent's counters since start, as the admin API shows
// them.
type Stats = admin.OCOStats

type counters struct {
	hellos, helloFailures, inventories, jobsRun, jobsSucceeded, jobsFailed, jobsSkipped, jobsResumed atomic.Uint64
	reports, reportFailures, downloads, downloadBytes, serverErrors, securityRejects, malformed      atomic.Uint64
}

// Agent is the gateway as a managed OCO agent: it says hello every
// interval, pins the server's keys on first use, sends its inventory when
// asked and runs the deploy jobs it is given. Create it with New; Run
// polls until its context ends.
type Agent struct {
	opts        Options
	log         *slog.Logger
	clock       clockwork.Clock
	rand        func() float64
	hc          *http.Client
	st          *state
	wireVersion string
	runAs       *runAs

	reqMu sync.Mutex // one request at a time (the output reporter runs beside the job)

	mu          sync.Mutex
	lastAttempt time.Time
	lastError   string
	next        time.Time
	inUse       Generation
	scheduled   string // a restart or shutdown a job scheduled: the jobs wait for it
	c           counters
}

// New checks opts, loads the agent's records and marks a job whose
// procedure was running when the gateway stopped as failed, to be reported
// (it is never started again).
func New(opts Options) (*Agent, error) {
	u, err := url.Parse(opts.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("oco: %w: url %q: want http(s)://host/.../api-agent.php", ErrInvalidOptions, opts.URL)
	}
	if opts.Hostname == "" {
		return nil, fmt.Errorf("oco: %w: no hostname", ErrInvalidOptions)
	}
	if opts.KV == nil {
		return nil, fmt.Errorf("oco: %w: no store", ErrInvalidOptions)
	}
	if opts.WorkDir == "" {
		return nil, fmt.Errorf("oco: %w: no work directory", ErrInvalidOptions)
	}
	if opts.Interval <= 0 {
		opts.Interval = 60 * time.Second
	}
	if opts.Jitter == 0 {
		opts.Jitter = 0.1
	} else if opts.Jitter < 0 {
		opts.Jitter = 0
	}
	if opts.Jitter > 0.5 {
		opts.Jitter = 0.5
	}
	if opts.MaxBackoff <= 0 {
		opts.MaxBackoff = 15 * time.Minute
	}
	opts.MaxBackoff = max(opts.MaxBackoff, opts.Interval)
	if opts.RequestTimeout <= 0 {
		opts.RequestTimeout = 2 * time.Minute
	}
	opts.Jobs = opts.Jobs.withDefaults()
	a := &Agent{opts: opts, log: opts.Logger, clock: opts.Clock, rand: opts.Rand,
		hc: &http.Client{Transport: opts.Transport, CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		}},
		wireVersion: WireAgentVersion(opts.Version)}
	if a.log == nil {
		a.log = slog.New(slog.DiscardHandler)
	}
	if a.clock == nil {
		a.clock = clockwork.NewRealClock()
	}
	if a.rand == nil {
		a.rand = rand.Float64
	}
	if a.runAs, err = resolveRunAs(opts.Jobs.RunAs, os.Geteuid()); err != nil {
		return nil, err
	}
	if a.st, err = loadState(opts.KV); err != nil {
		return nil, err
	}
	if err := a.markInterrupted(); err != nil {
		return nil, err
	}
	// No job runs yet: what a stopped run left behind goes.
	if err := os.RemoveAll(jobsDir(opts.WorkDir)); err != nil {
		return nil, fmt.Errorf("oco: clear the jobs' directories: %w", err)
	}
	return a, nil
}

// markInterrupted turns the record of a job whose procedure was running
// when the gateway stopped into a failed final state: a procedure is run at
// most once.
func (a *Agent) markInterrupted() error {
	recs, err := a.st.jobs()
	if err != nil {
		return err
	}
	for _, r := range recs {
		if r.Phase != phaseExecuting {
			continue
		}
		a.log.Warn("oco: a deploy job's procedure was running when the gateway stopped; it is reported as failed and not run again",
			"job", rawText(r.ID))
		r.Phase, r.State, r.ReturnCode = phaseFinal, StateFailed, ReturnCodeAgentError
		r.Message = strings.TrimSpace(r.Message + "\n" + msgInterrupted)
		r.Updated = a.clock.Now()
		if err := a.st.putJob(r); err != nil {
			return err
		}
	}
	return nil
}

const msgInterrupted = "edgegate: the gateway stopped while the procedure ran; it is not run again (reschedule the job to run it)"

// Run says hello at once and then every interval (with jitter; doubling
// after failures up to MaxBackoff) until ctx ends, and returns nil then. It
// returns ErrExit when a job's exit post-action is allowed.
func (a *Agent) Run(ctx context.Context) error {
	a.log.Info("oco agent started", "server", redactURL(a.opts.URL), "hostname", a.opts.Hostname,
		"generation", a.opts.Generation.String(), "interval", a.opts.Interval.String())
	if strings.HasPrefix(a.opts.URL, "http://") {
		a.log.Warn("oco: the server is reached over plain HTTP: requests and deploy packages are not protected in transit")
	}
	failures := 0
	for {
		err := a.Poll(ctx)
		if errors.Is(err, ErrExit) {
			return err
		}
		if ctx.Err() != nil {
			return nil
		}
		if err != nil {
			failures++
		} else {
			failures = 0
		}
		wait := a.delay(failures)
		a.mu.Lock()
		a.next = a.clock.Now().Add(wait)
		a.mu.Unlock()
		t := a.clock.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-t.Chan():
		}
	}
}

// delay is the wait before the next hello after failures consecutive
// failed polls.
func (a *Agent) delay(failures int) time.Duration {
	d := a.opts.Interval
	for i := 1; i < failures && d < a.opts.MaxBackoff; i++ {
		d *= 2
	}
	d = min(d, a.opts.MaxBackoff)
	f := 1 + a.opts.Jitter*(2*a.rand()-1)
	return time.Duration(float64(d) * f)
}

// Poll runs one cycle: hello, the inventory when the server asks for it,
// then the deploy jobs in order. It returns the hello's error, or ErrExit.
func (a *Agent) Poll(ctx context.Context) error {
	a.mu.Lock()
	a.lastAttempt = a.clock.Now()
	a.mu.Unlock()
	h, gen, err := a.hello(ctx)
	a.setError(err)
	if err != nil {
		a.c.helloFailures.Add(1)
		if ctx.Err() == nil {
			a.logError("hello failed", err)
		}
		return err
	}
	a.c.hellos.Add(1)
	if h.Update {
		if err := a.sendInventory(ctx, gen); err != nil {
			a.logError("inventory update failed", err)
		}
	}
	return a.runJobs(ctx, gen, h.Jobs)
}

func (a *Agent) setError(err error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if err == nil {
		a.lastError = ""
	} else {
		a.lastError = err.Error()
	}
}

// logError logs a failed exchange: a security event, a server's refusal
// with what to do about it, or a transport error.
func (a *Agent) logError(what string, err error) {
	var sec *SecurityError
	var se *ServerError
	switch {
	case errors.As(err, &sec):
		a.log.Error("oco: security event: response rejected", "security", true, "method", sec.Method, "reason", sec.Reason)
	case errors.Is(err, ErrNoServerKey):
		a.log.Error("oco: security event: "+what, "security", true, "err", err)
	case errors.As(err, &se):
		attrs := []any{"method", se.Method, "status", se.Status, "message", se.Message}
		if h := se.Hint(); h != "" {
			attrs = append(attrs, "hint", h)
		}
		a.log.Error("oco: "+what+": the server refused", attrs...)
	default:
		a.log.Error("oco: "+what, "err", err)
	}
}

// isLegacyAnswer reports whether err is how a legacy server answers the
// current hello: an unknown method (v0.13 and earlier), or v1.0.1's "400
// Parameter Mismatch" (it knows the current name but wants the plaintext
// agent key).
func isLegacyAnswer(err error) bool {
	if errors.Is(err, ErrUnknownMethod) {
		return true
	}
	var se *ServerError
	return errors.As(err, &se) && se.Status == http.StatusBadRequest && strings.EqualFold(se.Message, "Parameter Mismatch")
}

// hello says hello in the configured generation, or detects it.
func (a *Agent) hello(ctx context.Context) (Hello, Generation, error) {
	gen := a.opts.Generation
	stored := a.st.generation()
	if gen == Auto {
		gen = stored
	}
	if gen == Auto {
		gen = Current
	}
	h, err := a.helloAs(ctx, gen)
	if a.opts.Generation == Auto {
		switch {
		case gen == Current && stored != Current && isLegacyAnswer(err):
			a.log.Info("oco: the server answered the current hello as a legacy server does; using the legacy protocol")
			gen = Legacy
			h, err = a.helloAs(ctx, gen)
		case gen == Legacy && errors.Is(err, ErrUnknownMethod):
			a.log.Info("oco: the server no longer knows the legacy hello; using the current protocol")
			gen = Current
			h, err = a.helloAs(ctx, gen)
		}
	} else if errors.Is(err, ErrUnknownMethod) {
		err = fmt.Errorf("%w (is [oco] generation = %q right? \"auto\" detects it)", err, a.opts.Generation)
	}
	if err != nil {
		return Hello{}, gen, err
	}
	if a.opts.Generation == Auto && a.st.generation() != gen {
		if err := a.st.setGeneration(gen); err != nil {
			return Hello{}, gen, err
		}
		a.log.Info("oco: protocol generation detected and stored", "generation", gen.String())
	}
	a.mu.Lock()
	a.inUse = gen
	a.mu.Unlock()
	return h, gen, nil
}

func (a *Agent) helloAs(ctx context.Context, gen Generation) (Hello, error) {
	m := gen.methods()
	agentKey, serverKey := a.st.keys()
	key, registering := agentKey, agentKey.IsZero()
	if registering {
		key = a.opts.RegistrationKey
		a.log.Info("oco: registering with the server", "hostname", a.opts.Hostname, "generation", gen.String(),
			"registrationKey", !key.IsZero())
	}
	data := helloData{AgentVersion: a.wireVersion, Networks: a.opts.Sources.Networks()}
	if up, ok := a.opts.Sources.Uptime(); ok {
		data.Uptime = &up
	}
	rep, err := a.call(ctx, gen, m.hello, data, key)
	if err != nil {
		return Hello{}, err
	}
	h, err := ParseHello(m.hello, rep.resp)
	if err != nil {
		a.c.malformed.Add(1)
		return Hello{}, err
	}
	now := a.clock.Now()
	check := serverKey
	if check.IsZero() {
		// First contact: the answer is signed with (legacy: carries) the
		// server key it issues; checking it proves only that the answer is
		// whole. Trust comes from this first use.
		check = h.ServerKey
	}
	if check.IsZero() {
		// A host pre-registered with a server key gets only its agent key,
		// once: keep it, but nothing can be verified.
		if !h.AgentKey.IsZero() {
			if _, _, err := a.st.pin(h.AgentKey, Secret{}, now); err != nil {
				return Hello{}, err
			}
		}
		return Hello{}, fmt.Errorf("oco: %s: %w: the server sent none (a host pre-registered with a server key); clear the host's keys on the server and run gatewayctl oco forget-keys", m.hello, ErrNoServerKey)
	}
	if err := a.verify(gen, m.hello, rep, check); err != nil {
		return Hello{}, err
	}
	newAgent, newServer, err := a.st.pin(h.AgentKey, h.ServerKey, now)
	if errors.Is(err, errKeyChange) {
		return Hello{}, a.securityError(m.hello, err.Error()+"; the pinned keys are kept")
	}
	if err != nil {
		if !h.AgentKey.IsZero() && registering {
			a.log.Error("oco: the server issued keys that could not be stored; they are sent only once, so the host must be reset on the server", "err", err)
		}
		return Hello{}, err
	}
	if newAgent || newServer {
		a.log.Info("oco: keys pinned", "agentKey", newAgent, "serverKey", newServer)
	}
	if err := a.accept(rep, now); err != nil {
		return Hello{}, err
	}
	if !rep.resp.Success {
		return Hello{}, &ServerError{Method: m.hello, Status: http.StatusOK, Message: "success: false"}
	}
	return h, nil
}

// securityError counts and returns a rejection.
func (a *Agent) securityError(method, reason string) error {
	a.c.securityRejects.Add(1)
	return &SecurityError{Method: method, Reason: reason}
}

// verify checks an answer against the server key: the signature and the
// increasing timestamp (current), the repeated server key (legacy).
func (a *Agent) verify(gen Generation, method string, rep reply, key Secret) error {
	if key.IsZero() {
		return fmt.Errorf("oco: %s: %w", method, ErrNoServerKey)
	}
	if gen == Legacy {
		offered, err := keyParam(rep.resp.Params, "server-key")
		switch {
		case err != nil:
			a.c.malformed.Add(1)
			return fmt.Errorf("oco: %s: %w: %v", method, ErrProtocol, err)
		case offered.IsZero():
			return a.securityError(method, "the answer does not carry the server key")
		case !offered.Equal(key):
			return a.securityError(method, "the server key differs from the pinned one")
		}
	} else {
		sig := rep.header.Get(headerServerSignature)
		switch {
		case sig == "":
			return a.securityError(method, "the answer is not signed")
		case !verifySignature(key.Reveal(), rep.body, sig):
			return a.securityError(method, "the signature does not match the pinned server key")
		case !rep.resp.HasTimestamp:
			return a.securityError(method, "the answer has no timestamp")
		}
	}
	if c := a.st.clock(); rep.resp.HasTimestamp && c.HasServer && rep.resp.Timestamp <= c.Server {
		return a.securityError(method, fmt.Sprintf("the timestamp %.4f is not above the last one %.4f (a replayed answer?)", rep.resp.Timestamp, c.Server))
	}
	return nil
}

// accept records a verified answer's timestamp and the contact.
func (a *Agent) accept(rep reply, now time.Time) error {
	c := a.st.clock()
	if rep.resp.HasTimestamp {
		c.Server, c.HasServer = rep.resp.Timestamp, true
	}
	c.Contact = now
	return a.st.saveClock(c)
}

// reply is a successful answer with what verification needs.
type reply struct {
	header http.Header
	body   []byte
	resp   Response
}

// call sends one JSON-RPC request signed (current) or carrying the key
// (legacy) and returns its parsed answer; it does not verify it.
func (a *Agent) call(ctx context.Context, gen Generation, method string, data any, key Secret) (reply, error) {
	a.reqMu.Lock()
	defer a.reqMu.Unlock()
	ctx, cancel := context.WithTimeout(ctx, a.opts.RequestTimeout)
	defer cancel()
	resp, err := a.send(ctx, gen, method, data, key, nil)
	if err != nil {
		return reply{}, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return reply{}, a.serverError(method, resp)
	}
	b, err := readLimited(resp.Body, maxResponse)
	if err != nil {
		return reply{}, fmt.Errorf("oco: %s: read the answer: %w", method, err)
	}
	r, err := ParseResponse(method, b)
	if err != nil {
		if errors.Is(err, ErrProtocol) {
			a.c.malformed.Add(1)
		} else {
			a.c.serverErrors.Add(1)
		}
		return reply{}, err
	}
	return reply{header: resp.Header, body: b, resp: r}, nil
}

// send posts one JSON-RPC request: the params of gen (the agent key in
// plaintext, or the next agent timestamp, stored first) around data, and
// packageID in the params themselves (oco.agent.download). The caller holds
// reqMu while the timestamp is taken and the request goes out.
func (a *Agent) send(ctx context.Context, gen Generation, method string, data any, key Secret, packageID json.RawMessage) (*http.Response, error) {
	var params any
	if gen == Legacy {
		params = legacyParams{Hostname: a.opts.Hostname, AgentKey: key.Reveal(), Data: data}
	} else {
		ts, err := a.st.nextAgentTimestamp(a.clock.Now())
		if err != nil {
			return nil, err
		}
		params = currentParams{Hostname: a.opts.Hostname, UID: a.opts.UID, Timestamp: ts, Data: data, PackageID: packageID}
	}
	body, err := encodeRequest(method, params)
	if err != nil {
		return nil, err
	}
	resp, err := a.post(ctx, gen, body, key)
	if err != nil {
		return nil, fmt.Errorf("oco: %s: %w", method, err)
	}
	return resp, nil
}

// serverError counts and returns the error a non-200 answer carries.
func (a *Agent) serverError(method string, resp *http.Response) *ServerError {
	b, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
	a.c.serverErrors.Add(1)
	return ParseServerError(method, resp.StatusCode, reasonPhrase(resp.Status), b)
}

// post sends body to the API with the exact, lower-case headers the
// server's PHP code looks up: content-type (no charset) and, in the current
// generation, x-oco-agent-signature. Header.Set would canonicalise the
// names; HTTP/1.1 sends map keys verbatim.
func (a *Agent) post(ctx context.Context, gen Generation, body []byte, key Secret) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, a.opts.URL, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header[headerContentType] = []string{contentTypeJSON}
	if gen != Legacy {
		req.Header[headerAgentSignature] = []string{sign(key.Reveal(), body)}
	}
	req.Header.Set("User-Agent", "edgegate-oco/"+a.wireVersion)
	return a.hc.Do(req)
}

// sendInventory answers update:1 with the full inventory.
func (a *Agent) sendInventory(ctx context.Context, gen Generation) error {
	m := gen.methods()
	inv := a.opts.Sources.Collect(ctx, a.wireVersion)
	agentKey, serverKey := a.st.keys()
	rep, err := a.call(ctx, gen, m.update, inv, agentKey)
	if err != nil {
		return err
	}
	if err := a.verify(gen, m.update, rep, serverKey); err != nil {
		return err
	}
	if err := a.accept(rep, a.clock.Now()); err != nil {
		return err
	}
	a.c.inventories.Add(1)
	a.log.Info("oco: inventory sent", "software", len(inv.Software), "networks", len(inv.Networks), "partitions", len(inv.Partitions))
	return nil
}

// ForgetKeys deletes the pinned keys (and the detected generation), so
// that the next hello registers again with the registration key. It is
// what an operator does after clearing the host's keys on the server.
func (a *Agent) ForgetKeys() error {
	if err := a.st.forgetKeys(); err != nil {
		return err
	}
	a.log.Warn("oco: pinned keys forgotten; the next hello registers again")
	return nil
}

// Status is what the admin API shows of the agent: never a key.
type Status = admin.OCOStatus

// JobStatus is a deploy job's progress as the agent recorded it.
type JobStatus = admin.OCOJob

// Status reports the agent's state.
func (a *Agent) Status() (Status, error) {
	ak, sk := a.st.keys()
	c := a.st.clock()
	a.mu.Lock()
	s := Status{Server: redactURL(a.opts.URL), Hostname: a.opts.Hostname, Configured: a.opts.Generation.String(),
		LastContact: c.Contact, LastAttempt: a.lastAttempt, NextHello: a.next, LastError: a.lastError,
		AgentKey: !ak.IsZero(), ServerKey: !sk.IsZero(), RegistrationKey: !a.opts.RegistrationKey.IsZero()}
	inUse := a.inUse
	a.mu.Unlock()
	if inUse == Auto {
		inUse = a.st.generation()
	}
	if inUse != Auto {
		s.Generation = inUse.String()
	}
	recs, err := a.st.jobs()
	if err != nil {
		return s, err
	}
	s.Jobs = make([]JobStatus, 0, len(recs))
	for _, r := range recs {
		js := JobStatus{ID: rawText(r.ID), Container: r.Container, Phase: r.Phase, Reported: r.Reported,
			Succeeded: r.Succeeded, Started: r.Started, Updated: r.Updated}
		if r.Phase == phaseFinal {
			st, rc := r.State, r.ReturnCode
			js.State, js.Return = &st, &rc
		}
		s.Jobs = append(s.Jobs, js)
	}
	s.Stats = a.Stats()
	return s, nil
}

// Stats returns the counters.
func (a *Agent) Stats() Stats {
	c := &a.c
	return Stats{Hellos: c.hellos.Load(), HelloFailures: c.helloFailures.Load(), Inventories: c.inventories.Load(),
		JobsRun: c.jobsRun.Load(), JobsSucceeded: c.jobsSucceeded.Load(), JobsFailed: c.jobsFailed.Load(),
		JobsSkipped: c.jobsSkipped.Load(), JobsResumed: c.jobsResumed.Load(), Reports: c.reports.Load(),
		ReportFailures: c.reportFailures.Load(), Downloads: c.downloads.Load(), DownloadBytes: c.downloadBytes.Load(),
		ServerErrors: c.serverErrors.Load(), SecurityRejects: c.securityRejects.Load(), Malformed: c.malformed.Load()}
}

// redactURL drops user information and the query from u.
func redactURL(u string) string {
	p, err := url.Parse(u)
	if err != nil {
		return "(unparsable URL)"
	}
	p.User, p.RawQuery, p.Fragment = nil, "", ""
	return p.String()
}

func jobsDir(workDir string) string { return filepath.Join(workDir, "jobs") }
