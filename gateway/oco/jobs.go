package oco

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// JobOptions configure the deploy jobs.
type JobOptions struct {
	// RunAs is the unprivileged account procedures run as when the
	// gateway runs as root (then required).
	RunAs string
	// Timeout bounds a job's download and procedure (default 1 h).
	Timeout time.Duration
	// MaxPackageBytes bounds a downloaded package (default 256 MiB);
	// MaxUnpackedBytes and MaxFiles what it unpacks to (default 1 GiB,
	// 10000 entries).
	MaxPackageBytes  int64
	MaxUnpackedBytes int64
	MaxFiles         int
	// OutputLimit bounds the output kept and reported (default 32 KiB,
	// which any text column of the server's database holds:
	// the first quarter and the last three quarters).
	OutputLimit int
	// ReportInterval is how often a running procedure's output is
	// reported with state 2 (default 5 s).
	ReportInterval time.Duration
	// AllowRestart, AllowShutdown and AllowExit let the jobs' post-actions
	// happen; by default they are logged and skipped.
	AllowRestart, AllowShutdown, AllowExit bool
	// PostAction carries out an allowed restart or shutdown after delay
	// (nil: SystemPostAction). An allowed exit makes Run return ErrExit.
	PostAction func(ctx context.Context, action PostAction, delay time.Duration) error
}

func (o JobOptions) withDefaults() JobOptions {
	if o.Timeout <= 0 {
		o.Timeout = time.Hour
	}
	if o.MaxPackageBytes <= 0 {
		o.MaxPackageBytes = 256 << 20
	}
	if o.MaxUnpackedBytes <= 0 {
		o.MaxUnpackedBytes = 1 << 30
	}
	if o.MaxFiles <= 0 {
		o.MaxFiles = 10000
	}
	if o.OutputLimit <= 0 {
		o.OutputLimit = 32 << 10
	}
	if o.ReportInterval <= 0 {
		o.ReportInterval = 5 * time.Second
	}
	if o.PostAction == nil {
		o.PostAction = SystemPostAction
	}
	return o
}

// PostAction is what a job asks for once it finished.
type PostAction int

// The post-actions, as the server numbers them.
const (
	PostRestart  PostAction = 1
	PostShutdown PostAction = 2
	PostExit     PostAction = 3
)

// String returns "restart", "shutdown" or "exit".
func (p PostAction) String() string {
	switch p {
	case PostRestart:
		return "restart"
	case PostShutdown:
		return "shutdown"
	case PostExit:
		return "exit"
	}
	return "post-action " + strconv.Itoa(int(p))
}

// SystemPostAction schedules a reboot or a power-off with shutdown(8) after
// delay (rounded up to minutes).
func SystemPostAction(ctx context.Context, action PostAction, delay time.Duration) error {
	flag := "-r"
	switch action {
	case PostRestart:
	case PostShutdown:
		flag = "-h"
	default:
		return fmt.Errorf("oco: %v is not a system action", action)
	}
	mins := int((delay + time.Minute - 1) / time.Minute)
	out, err := exec.CommandContext(ctx, "shutdown", flag, "+"+strconv.Itoa(mins)).CombinedOutput()
	if err != nil {
		return fmt.Errorf("oco: shutdown %s +%d: %w: %s", flag, mins, err, strings.TrimSpace(string(out)))
	}
	return nil
}

// outcome is what a job's turn in a cycle came to.
type outcome struct {
	// succeeded is the server's job-succeeded (false when unknown).
	succeeded bool
	// ran is set when the procedure ran in this cycle.
	ran bool
}

// runJobs handles the jobs in the server's order.
func (a *Agent) runJobs(ctx context.Context, gen Generation, jobs []Job) error {
	skip := map[string]bool{}
	a.mu.Lock()
	stopped := a.scheduled // a reboot or power-off is coming: no more jobs
	a.mu.Unlock()
	exit := false
	for _, j := range jobs {
		if ctx.Err() != nil {
			return nil
		}
		id := j.IDText()
		switch {
		case j.Container != "" && skip[j.Container]:
			a.c.jobsSkipped.Add(1)
			a.log.Info("oco: job skipped: an earlier job of its container failed and the container stops at a failure",
				"job", id, "container", j.Container)
			continue
		case stopped != "":
			a.c.jobsSkipped.Add(1)
			a.log.Info("oco: job left for later: a "+stopped+" is scheduled", "job", id)
			continue
		}
		out, err := a.job(ctx, gen, j)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			// The store failed: without its record a job could run twice.
			a.log.Error("oco: deploy job", "job", id, "err", err)
			return err
		}
		if j.SequenceMode == 1 && !out.succeeded {
			skip[j.Container] = true
			continue
		}
		if !out.ran {
			continue
		}
		act, ex := a.postActions(ctx, j)
		if act != "" {
			stopped = act
			a.mu.Lock()
			a.scheduled = act
			a.mu.Unlock()
		}
		if ex {
			exit = true
			break
		}
	}
	a.pruneJobs(jobs)
	if exit {
		return ErrExit
	}
	return nil
}

// postActions carries out a finished job's restart, shutdown or exit if the
// configuration allows it, and logs it otherwise. It returns the scheduled
// system action ("" if none) and whether the agent is to exit.
func (a *Agent) postActions(ctx context.Context, j Job) (string, bool) {
	o := a.opts.Jobs
	id := j.IDText()
	sched := ""
	for _, pa := range []struct {
		act     PostAction
		minutes *int
		allowed bool
		key     string
	}{{PostRestart, j.Restart, o.AllowRestart, "allow_restart"}, {PostShutdown, j.Shutdown, o.AllowShutdown, "allow_shutdown"}} {
		if pa.minutes == nil || sched != "" {
			continue
		}
		delay := time.Duration(*pa.minutes) * time.Minute
		if !pa.allowed {
			a.log.Warn("oco: job asks for a "+pa.act.String()+"; not done: [oco.jobs] "+pa.key+" is false", "job", id, "minutes", *pa.minutes)
			continue
		}
		if err := o.PostAction(ctx, pa.act, delay); err != nil {
			a.log.Error("oco: job's "+pa.act.String()+" failed", "job", id, "err", err)
			continue
		}
		a.log.Warn("oco: "+pa.act.String()+" scheduled by a deploy job", "job", id, "minutes", *pa.minutes)
		sched = pa.act.String()
	}
	if j.Exit == nil {
		return sched, false
	}
	if !o.AllowExit {
		a.log.Warn("oco: job asks the agent to exit; not done: [oco.jobs] allow_exit is false", "job", id)
		return sched, false
	}
	a.log.Warn("oco: a deploy job asks the agent to exit; the gateway stops", "job", id)
	return sched, true
}

// job carries out one offered job. A job whose final state is recorded is
// never run again: its final state is reported again (the server offers a
// job until it has it).
func (a *Agent) job(ctx context.Context, gen Generation, j Job) (outcome, error) {
	id := j.IDText()
	rec, found, err := a.st.job(j.ID)
	if err != nil {
		return outcome{}, err
	}
	if found && rec.Phase == phaseFinal {
		a.c.jobsResumed.Add(1)
		a.log.Info("oco: job already finished here; reporting its final state again, not running it", "job", id,
			"state", rec.State, "returnCode", rec.ReturnCode)
		ok, err := a.reportFinal(ctx, gen, &rec)
		return outcome{succeeded: ok}, err
	}
	if found && rec.Phase != phaseStarted {
		a.log.Info("oco: job interrupted before its procedure started; starting it over", "job", id, "phase", rec.Phase)
	}
	now := a.clock.Now()
	rec = jobRecord{ID: j.ID, Container: j.Container, Phase: phaseStarted, Started: now, Updated: now}
	if err := a.st.putJob(rec); err != nil {
		return outcome{}, err
	}
	a.c.jobsRun.Add(1)
	a.log.Info("oco: deploy job", "job", id, "container", j.Container, "download", j.Download)
	if strings.TrimSpace(j.Procedure) == "" {
		return a.finish(ctx, gen, &rec, StateSucceeded, 0, "")
	}
	dir, err := a.jobDir(j.ID)
	if err != nil {
		return a.fail(ctx, gen, &rec, err, "")
	}
	defer func() {
		if err := os.RemoveAll(dir); err != nil {
			a.log.Warn("oco: remove a job's directory", "dir", dir, "err", err)
		}
	}()
	work := filepath.Join(dir, "package")
	if err := os.Mkdir(work, 0o700); err != nil {
		return a.fail(ctx, gen, &rec, err, "")
	}
	if j.Download {
		rec.Phase = phaseDownloading
		if err := a.putJob(&rec); err != nil {
			return outcome{}, err
		}
		a.reportProgress(ctx, gen, j.ID, StateDownloading, 0, "")
		zipPath := filepath.Join(dir, "package.zip")
		if err := a.download(ctx, gen, j, zipPath); err != nil {
			if ctx.Err() != nil {
				return outcome{}, ctx.Err()
			}
			return a.fail(ctx, gen, &rec, err, "")
		}
		a.reportProgress(ctx, gen, j.ID, StateDownloading, 101, "")
		files, n, err := unpack(zipPath, work, unpackLimits{MaxFiles: a.opts.Jobs.MaxFiles, MaxBytes: a.opts.Jobs.MaxUnpackedBytes})
		os.Remove(zipPath)
		if err != nil {
			return a.fail(ctx, gen, &rec, err, "")
		}
		a.log.Info("oco: package unpacked", "job", id, "files", files, "bytes", n)
		rec.Phase = phaseUnpacked
		if err := a.putJob(&rec); err != nil {
			return outcome{}, err
		}
	}
	if a.runAs == nil && os.Geteuid() == 0 {
		return a.fail(ctx, gen, &rec, errRunAsRoot, "")
	}
	if err := chownTree(dir, a.runAs); err != nil {
		return a.fail(ctx, gen, &rec, err, "")
	}
	// Recorded before the procedure starts: after a crash from here on it
	// is reported as failed, never started again.
	rec.Phase = phaseExecuting
	if err := a.putJob(&rec); err != nil {
		return outcome{}, err
	}
	a.reportProgress(ctx, gen, j.ID, StateExecuting, 100, "")
	out := newCapture(a.opts.Jobs.OutputLimit)
	code, runErr := a.execute(ctx, gen, j, work, out)
	if runErr != nil && ctx.Err() != nil {
		// The gateway is stopping: the record stays "executing" and the
		// next start reports the job as interrupted.
		return outcome{}, ctx.Err()
	}
	if runErr != nil {
		return a.fail(ctx, gen, &rec, runErr, out.String())
	}
	a.log.Info("oco: procedure finished", "job", id, "returnCode", code)
	return a.finish(ctx, gen, &rec, StateSucceeded, code, out.String())
}

func (a *Agent) putJob(rec *jobRecord) error {
	rec.Updated = a.clock.Now()
	return a.st.putJob(*rec)
}

// execute runs the procedure, reporting its output with state 2 every
// ReportInterval while it changes.
func (a *Agent) execute(ctx context.Context, gen Generation, j Job, dir string, out *capture) (int, error) {
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		t := a.clock.NewTicker(a.opts.Jobs.ReportInterval)
		defer t.Stop()
		last := ""
		for {
			select {
			case <-stop:
				return
			case <-ctx.Done():
				return
			case <-t.Chan():
				if s := out.String(); s != last {
					a.reportProgress(ctx, gen, j.ID, StateExecuting, 100, s)
					last = s
				}
			}
		}
	}()
	code, err := runProcedure(ctx, procSpec{dir: dir, script: j.Procedure, as: a.runAs, timeout: a.opts.Jobs.Timeout, out: out})
	close(stop)
	<-done
	return code, err
}

// fail records and reports a job the agent could not carry out: state -1,
// return code -9999, the error (and the output so far) as the message.
func (a *Agent) fail(ctx context.Context, gen Generation, rec *jobRecord, err error, output string) (outcome, error) {
	a.log.Error("oco: deploy job failed", "job", rawText(rec.ID), "err", err)
	msg := "edgegate: " + err.Error()
	if output != "" {
		msg = output + "\n" + msg
	}
	return a.finish(ctx, gen, rec, StateFailed, ReturnCodeAgentError, msg)
}

// finish records the final state durably, then reports it.
func (a *Agent) finish(ctx context.Context, gen Generation, rec *jobRecord, state, code int, msg string) (outcome, error) {
	rec.Phase, rec.State, rec.ReturnCode, rec.Message = phaseFinal, state, code, msg
	if err := a.putJob(rec); err != nil {
		return outcome{}, err
	}
	ok, err := a.reportFinal(ctx, gen, rec)
	if ok {
		a.c.jobsSucceeded.Add(1)
	} else {
		a.c.jobsFailed.Add(1)
	}
	return outcome{succeeded: ok, ran: true}, err
}

// reportFinal sends a recorded final state and records the server's
// acknowledgment. A failed report is logged and left for the next offer;
// only a store error is returned.
func (a *Agent) reportFinal(ctx context.Context, gen Generation, rec *jobRecord) (bool, error) {
	code := rec.ReturnCode
	r, err := a.reportState(ctx, gen, rec.ID, rec.State, &code, rec.Message, nil)
	if err != nil {
		if !errors.Is(err, ErrNotFound) {
			return false, nil
		}
		a.log.Warn("oco: the server no longer knows the job; its final state stays recorded here", "job", rawText(rec.ID))
	}
	rec.Reported, rec.Succeeded = true, r.Succeeded
	if err := a.putJob(rec); err != nil {
		return r.Succeeded, err
	}
	a.log.Info("oco: job state reported", "job", rawText(rec.ID), "state", rec.State, "returnCode", rec.ReturnCode,
		"succeeded", r.Succeeded)
	return r.Succeeded, nil
}

// reportProgress sends a non-final state; a failure is logged only.
func (a *Agent) reportProgress(ctx context.Context, gen Generation, id json.RawMessage, state, progress int, msg string) {
	var code, p *int
	if gen == Legacy {
		zero := 0 // v1.0.1 needs a non-null return code, and takes no progress
		code = &zero
	} else {
		p = &progress
	}
	_, _ = a.reportState(ctx, gen, id, state, code, msg, p)
}

// reportState sends one job state report and verifies the answer.
func (a *Agent) reportState(ctx context.Context, gen Generation, id json.RawMessage, state int, code *int, msg string, progress *int) (JobReply, error) {
	m := gen.methods()
	agentKey, serverKey := a.st.keys()
	data := jobStateData{JobID: id, State: state, ReturnCode: code, Message: msg, DownloadProgress: progress}
	rep, err := a.call(ctx, gen, m.jobState, data, agentKey)
	if err == nil {
		err = a.verify(gen, m.jobState, rep, serverKey)
	}
	var r JobReply
	if err == nil {
		if r, err = ParseJobReply(m.jobState, rep.resp); err != nil {
			a.c.malformed.Add(1)
		}
	}
	if err == nil {
		err = a.accept(rep, a.clock.Now())
	}
	if err != nil {
		a.c.reportFailures.Add(1)
		if ctx.Err() == nil {
			a.logError("job state report failed", err)
		}
		return JobReply{}, err
	}
	a.c.reports.Add(1)
	return r, nil
}

// jobDir creates an empty working directory for the job under
// WorkDir/jobs, named after its id.
func (a *Agent) jobDir(id json.RawMessage) (string, error) {
	h := sha256.Sum256(id)
	name := "job-" + safeName(rawText(id)) + "-" + hex.EncodeToString(h[:4])
	dir := filepath.Join(jobsDir(a.opts.WorkDir), name)
	if err := os.RemoveAll(dir); err != nil {
		return "", err
	}
	if err := os.MkdirAll(jobsDir(a.opts.WorkDir), 0o700); err != nil {
		return "", err
	}
	if err := os.Mkdir(dir, 0o700); err != nil {
		return "", err
	}
	return dir, nil
}

func safeName(s string) string {
	b := []byte(s)
	if len(b) > 40 {
		b = b[:40]
	}
	for i, c := range b {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			b[i] = '_'
		}
	}
	return string(b)
}

// download fetches the job's package into path, reporting state 1 with the
// progress in percent as it goes.
func (a *Agent) download(ctx context.Context, gen Generation, j Job, path string) error {
	ctx, cancel := context.WithTimeout(ctx, a.opts.Jobs.Timeout)
	defer cancel()
	resp, err := a.requestPackage(ctx, gen, j)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return a.serverError(gen.methods().download, resp)
	}
	if ct := resp.Header.Get("Content-Type"); strings.HasPrefix(ct, "application/json") {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
		if _, err := ParseResponse(gen.methods().download, b); err != nil {
			return err
		}
		return fmt.Errorf("oco: download: %w: a JSON answer instead of the package", ErrProtocol)
	}
	limit := a.opts.Jobs.MaxPackageBytes
	if resp.ContentLength > limit {
		return fmt.Errorf("%w: %d bytes, the limit is %d", ErrPackage, resp.ContentLength, limit)
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	pw := &progressWriter{w: f, total: resp.ContentLength, every: a.opts.Jobs.ReportInterval, clock: a.clock.Now,
		last: a.clock.Now(), report: func(pct int) { a.reportProgress(ctx, gen, j.ID, StateDownloading, pct, "") }}
	n, err := io.Copy(pw, io.LimitReader(resp.Body, limit+1))
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	a.c.downloadBytes.Add(uint64(n))
	switch {
	case n > limit:
		return fmt.Errorf("%w: more than %d bytes", ErrPackage, limit)
	case err != nil:
		return fmt.Errorf("oco: download: %w", err)
	case resp.ContentLength >= 0 && n != resp.ContentLength:
		return fmt.Errorf("oco: download: %d of %d bytes", n, resp.ContentLength)
	}
	a.c.downloads.Add(1)
	a.log.Info("oco: package downloaded", "job", j.IDText(), "package", rawText(j.PackageID), "bytes", n)
	return nil
}

// requestPackage asks for the package: oco.agent.download, signed
// (current), or GET ?id=&hostname=&agent-key= (legacy). Errors never carry
// the legacy URL, which holds the agent key.
func (a *Agent) requestPackage(ctx context.Context, gen Generation, j Job) (*http.Response, error) {
	agentKey, _ := a.st.keys()
	if gen == Legacy {
		q := url.Values{"id": {rawText(j.PackageID)}, "hostname": {a.opts.Hostname}, "agent-key": {agentKey.Reveal()}}
		u := a.opts.URL
		if strings.Contains(u, "?") {
			u += "&" + q.Encode()
		} else {
			u += "?" + q.Encode()
		}
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
		if err != nil {
			return nil, errors.New("oco: download: bad URL")
		}
		req.Header.Set("User-Agent", "edgegate-oco/"+a.wireVersion)
		resp, err := a.hc.Do(req)
		if err != nil {
			var ue *url.Error
			if errors.As(err, &ue) {
				err = ue.Err
			}
			return nil, fmt.Errorf("oco: download: GET %s: %w", redactURL(a.opts.URL), err)
		}
		return resp, nil
	}
	a.reqMu.Lock()
	defer a.reqMu.Unlock()
	return a.send(ctx, gen, gen.methods().download, nil, agentKey, j.PackageID)
}

// progressWriter reports a download's progress at most every interval.
type progressWriter struct {
	w      io.Writer
	n      int64
	total  int64
	every  time.Duration
	clock  func() time.Time
	last   time.Time
	report func(pct int)
}

func (p *progressWriter) Write(b []byte) (int, error) {
	n, err := p.w.Write(b)
	p.n += int64(n)
	if p.total > 0 {
		if now := p.clock(); now.Sub(p.last) >= p.every {
			p.last = now
			p.report(int(p.n * 100 / p.total))
		}
	}
	return n, err
}

// pruneJobs forgets finished, reported jobs the server no longer offers
// after a month.
func (a *Agent) pruneJobs(offered []Job) {
	recs, err := a.st.jobs()
	if err != nil {
		return
	}
	live := map[string]bool{}
	for _, j := range offered {
		live[string(j.ID)] = true
	}
	cutoff := a.clock.Now().Add(-30 * 24 * time.Hour)
	for _, r := range recs {
		if r.Phase == phaseFinal && r.Reported && !live[string(r.ID)] && r.Updated.Before(cutoff) {
			_ = a.st.deleteJob(r.ID)
		}
	}
}

func readLimited(r io.Reader, n int64) ([]byte, error) {
	b, err := io.ReadAll(io.LimitReader(r, n+1))
	if err != nil {
		return nil, err
	}
	if int64(len(b)) > n {
		return nil, fmt.Errorf("%w: answer over %d bytes", ErrProtocol, n)
	}
	return b, nil
}
