package oco

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/user"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

const installScript = `#!/bin/sh
echo "installing $(cat payload.txt)"
echo "uid=$(id -u)"
echo "dir=$(pwd -P)"
echo "oops" >&2
exit 0
`

func reportStates(s srvJob) string {
	var parts []string
	for _, r := range s.reports {
		p := fmt.Sprint(r.state)
		if r.progress != nil {
			p += fmt.Sprintf("(%g)", *r.progress)
		}
		if r.code != nil && (r.state == StateSucceeded || r.state == StateFailed) {
			p += fmt.Sprintf("=%d", *r.code)
		}
		parts = append(parts, p)
	}
	return strings.Join(parts, " ")
}

func serverGen(g Generation) string {
	if g == Legacy {
		return "legacy"
	}
	return "current"
}

func TestJobWithDownload(t *testing.T) {
	for _, gen := range []Generation{Current, Legacy} {
		t.Run(gen.String(), func(t *testing.T) {
			r := newRig(t, serverGen(gen), gen)
			r.start()
			r.mustPoll()
			r.srv.addPackage("17", zipOf(t, "payload.txt", "hello-package", "install.sh", installScript, "docs/", "", "docs/readme.txt", "x"))
			var id any = 101
			if gen == Current {
				id = "dynamic-5"
			}
			j := r.srv.addJob(&srvJob{id: id, host: testHost, container: "deployment_rule::2", pkg: "17", download: true, procedure: "sh install.sh"})
			r.mustPoll()
			s := r.srv.jobSnapshot(j)
			want := "1(0) 1(101) 2(100) 3=0"
			if gen == Legacy {
				want = "1 1 2 3=0"
			}
			if got := reportStates(s); got != want {
				t.Fatalf("reports %q, want %q\nlog:\n%s", got, want, r.logs.String())
			}
			if s.state != StateSucceeded {
				t.Fatalf("state %d", s.state)
			}
			for _, rep := range s.reports {
				if gen == Current && rep.key != `"dynamic-5"` {
					t.Errorf("job id echoed as %s", rep.key)
				}
				if gen == Legacy && (rep.code == nil || rep.progress != nil) {
					t.Errorf("legacy report with return code %v, progress %v", rep.code, rep.progress)
				}
			}
			msg := s.message
			if !strings.Contains(msg, "installing hello-package") || !strings.Contains(msg, "oops") {
				t.Errorf("output %q", msg)
			}
			if os.Geteuid() == 0 {
				u, _ := user.Lookup("nobody")
				if !strings.Contains(msg, "uid="+u.Uid+"\n") {
					t.Errorf("not run as nobody: %q", msg)
				}
			}
			if !strings.Contains(msg, "dir="+filepath.Join(r.work, "jobs")) {
				t.Errorf("not run in its job directory under the data directory: %q", msg)
			}
			// The download went the generation's way.
			if gen == Legacy && len(r.srv.callsOf("GET download")) != 1 {
				t.Error("no legacy download")
			}
			if gen == Current && len(r.srv.callsOf("oco.agent.download")) != 1 {
				t.Error("no oco.agent.download")
			}
			left, _ := os.ReadDir(filepath.Join(r.work, "jobs"))
			if len(left) != 0 {
				t.Errorf("job directories left: %v", left)
			}
			rec, ok, _ := r.a.st.job(j.idRaw())
			if !ok || rec.Phase != phaseFinal || !rec.Reported || !rec.Succeeded {
				t.Errorf("record %+v", rec)
			}
			// Not offered any more; the next hello runs nothing.
			r.mustPoll()
			if got := reportStates(r.srv.jobSnapshot(j)); got != want {
				t.Errorf("after: %q", got)
			}
			if st := r.a.Stats(); st.JobsRun != 1 || st.JobsSucceeded != 1 || st.Downloads != 1 {
				t.Errorf("stats %+v", st)
			}
			r.noKeysInLogs()
		})
	}
}

func (j *srvJob) idRaw() []byte {
	if s, ok := j.id.(string); ok {
		return []byte(`"` + s + `"`)
	}
	return []byte(fmt.Sprint(j.id))
}

func TestSequenceModeStopsContainer(t *testing.T) {
	for _, gen := range []Generation{Current, Legacy} {
		t.Run(gen.String(), func(t *testing.T) {
			r := newRig(t, serverGen(gen), gen)
			r.start()
			r.mustPoll()
			a1 := r.srv.addJob(&srvJob{id: 1, host: testHost, container: 10, sequenceMode: 1, procedure: "echo one"})
			a2 := r.srv.addJob(&srvJob{id: 2, host: testHost, container: 10, sequenceMode: 1, procedure: "echo two; exit 3"})
			a3 := r.srv.addJob(&srvJob{id: 3, host: testHost, container: 10, sequenceMode: 1, procedure: "echo three"})
			b1 := r.srv.addJob(&srvJob{id: 4, host: testHost, container: 11, sequenceMode: 0, procedure: "exit 1"})
			b2 := r.srv.addJob(&srvJob{id: 5, host: testHost, container: 11, sequenceMode: 0, procedure: "echo five"})
			r.mustPoll()
			for _, c := range []struct {
				j     *srvJob
				state int
				n     int
			}{{a1, StateSucceeded, 2}, {a2, StateFailed, 2}, {a3, StateWaiting, 0}, {b1, StateFailed, 2}, {b2, StateSucceeded, 2}} {
				s := r.srv.jobSnapshot(c.j)
				if s.state != c.state || len(s.reports) != c.n {
					t.Errorf("job %v: state %d, reports %q; want state %d, %d reports", c.j.id, s.state, reportStates(s), c.state, c.n)
				}
			}
			if s := r.srv.jobSnapshot(a2); s.returnCode == nil || *s.returnCode != 3 || !strings.Contains(s.message, "two") {
				t.Errorf("failed job's report %+v", s)
			}
			if st := r.a.Stats(); st.JobsSkipped != 1 || st.JobsFailed != 2 || st.JobsSucceeded != 2 {
				t.Errorf("stats %+v", st)
			}
		})
	}
}

func TestEmptyProcedureSucceeds(t *testing.T) {
	r := newRig(t, "current", Current)
	r.start()
	r.mustPoll()
	j := r.srv.addJob(&srvJob{id: 9, host: testHost, container: 1, procedure: "  "})
	r.mustPoll()
	if s := r.srv.jobSnapshot(j); reportStates(s) != "3=0" {
		t.Fatalf("%q", reportStates(s))
	}
}

func TestJobTimeout(t *testing.T) {
	r := newRig(t, "current", Current)
	r.opts.Jobs.Timeout = 300 * time.Millisecond
	r.start()
	r.mustPoll()
	j := r.srv.addJob(&srvJob{id: 9, host: testHost, container: 1, procedure: "echo begun; sleep 30 & sleep 30; echo never"})
	start := time.Now()
	r.mustPoll()
	if time.Since(start) > 10*time.Second {
		t.Fatal("the timeout did not stop the procedure and its children")
	}
	s := r.srv.jobSnapshot(j)
	if s.state != StateFailed || *s.returnCode != ReturnCodeAgentError || !strings.Contains(s.message, "begun") ||
		!strings.Contains(s.message, "timed out") || strings.Contains(s.message, "never") {
		t.Fatalf("%+v", s)
	}
}

func TestJobOutputReportedWhileRunning(t *testing.T) {
	r := newRig(t, "current", Current)
	r.opts.Jobs.ReportInterval = 5 * time.Second
	r.start()
	r.mustPoll()
	gate := filepath.Join(r.work, "jobs") // the job's directory is created inside
	j := r.srv.addJob(&srvJob{id: 9, host: testHost, container: 1,
		procedure: "echo step1; while [ ! -e go ]; do sleep 0.02; done; echo step2"})
	done := make(chan error, 1)
	go func() { done <- r.a.Poll(context.Background()) }()
	deadline := time.Now().Add(10 * time.Second)
	sawStep1 := false
	for time.Now().Before(deadline) && !sawStep1 {
		r.clock.Advance(5 * time.Second)
		time.Sleep(20 * time.Millisecond)
		for _, rep := range r.srv.jobSnapshot(j).reports {
			if rep.state == StateExecuting && rep.message == "step1\n" {
				sawStep1 = true
			}
		}
	}
	if !sawStep1 {
		t.Fatalf("no partial output: %q", reportStates(r.srv.jobSnapshot(j)))
	}
	dirs, _ := os.ReadDir(gate)
	if len(dirs) != 1 {
		t.Fatalf("job directories %v", dirs)
	}
	if err := os.WriteFile(filepath.Join(gate, dirs[0].Name(), "package", "go"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	s := r.srv.jobSnapshot(j)
	if s.state != StateSucceeded || s.message != "step1\nstep2\n" {
		t.Fatalf("%+v", s)
	}
}

func TestPostActions(t *testing.T) {
	five := 5
	type call struct {
		act   PostAction
		delay time.Duration
	}
	for _, c := range []struct {
		name    string
		allow   func(*JobOptions)
		job     srvJob
		want    []call
		exit    bool
		skipped bool // the next job is left for later
	}{
		{"restart not allowed", func(*JobOptions) {}, srvJob{restart: &five}, nil, false, false},
		{"restart allowed", func(o *JobOptions) { o.AllowRestart = true }, srvJob{restart: &five}, []call{{PostRestart, 5 * time.Minute}}, false, true},
		{"shutdown allowed", func(o *JobOptions) { o.AllowShutdown = true }, srvJob{shutdown: &five}, []call{{PostShutdown, 5 * time.Minute}}, false, true},
		{"shutdown not allowed", func(o *JobOptions) { o.AllowRestart = true }, srvJob{shutdown: &five}, nil, false, false},
		{"exit not allowed", func(*JobOptions) {}, srvJob{exit: &five}, nil, false, false},
		{"exit allowed", func(o *JobOptions) { o.AllowExit = true }, srvJob{exit: &five}, nil, true, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := newRig(t, "current", Current)
			var calls []call
			r.opts.Jobs.PostAction = func(_ context.Context, act PostAction, d time.Duration) error {
				calls = append(calls, call{act, d})
				return nil
			}
			c.allow(&r.opts.Jobs)
			r.start()
			r.mustPoll()
			j := c.job
			j.id, j.host, j.container, j.procedure = 20, testHost, 1, "true"
			r.srv.addJob(&j)
			next := r.srv.addJob(&srvJob{id: 21, host: testHost, container: 2, procedure: "true"})
			err := r.poll()
			if c.exit != errors.Is(err, ErrExit) || (!c.exit && err != nil) {
				t.Fatalf("poll: %v", err)
			}
			if fmt.Sprint(calls) != fmt.Sprint(c.want) {
				t.Errorf("post-actions %v, want %v", calls, c.want)
			}
			if ran := len(r.srv.jobSnapshot(next).reports) > 0; ran == c.skipped {
				t.Errorf("next job ran: %v", ran)
			}
			if c.exit {
				return
			}
			// A scheduled reboot holds the jobs until it happens.
			r.mustPoll()
			if ran := len(r.srv.jobSnapshot(next).reports) > 0; ran == c.skipped {
				t.Errorf("next cycle: next job ran: %v", ran)
			}
		})
	}
}

func TestJobRefusedAsRootWithoutAccount(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root")
	}
	r := newRig(t, "current", Current)
	r.opts.Jobs.RunAs = ""
	r.start()
	r.mustPoll()
	j := r.srv.addJob(&srvJob{id: 3, host: testHost, container: 1, procedure: "touch /tmp/edgegate-oco-must-not-exist"})
	r.mustPoll()
	s := r.srv.jobSnapshot(j)
	if s.state != StateFailed || !strings.Contains(s.message, "run_as") {
		t.Fatalf("%+v", s)
	}
	if _, err := os.Stat("/tmp/edgegate-oco-must-not-exist"); err == nil {
		t.Fatal("the procedure ran as root")
	}
}

func TestRunAsRootRefused(t *testing.T) {
	r := newRig(t, "current", Current)
	r.opts.Jobs.RunAs = "root"
	if _, err := New(r.opts); !errors.Is(err, ErrInvalidOptions) {
		t.Fatalf("%v", err)
	}
	r.opts.Jobs.RunAs = "no-such-user-here"
	if _, err := New(r.opts); !errors.Is(err, ErrInvalidOptions) {
		t.Fatalf("%v", err)
	}
}

func TestRunAsOnlyForRoot(t *testing.T) {
	nobody, err := user.Lookup("nobody")
	if err != nil {
		t.Skip("no account nobody here")
	}
	if as, err := resolveRunAs("nobody", 0); err != nil || as == nil || fmt.Sprint(as.uid) != nobody.Uid || as.name != "nobody" {
		t.Fatalf("as root: %+v %v", as, err)
	}
	// A daemon that is not root cannot switch accounts: its jobs run as
	// its own user, the name only checked.
	if as, err := resolveRunAs("nobody", 1000); err != nil || as != nil {
		t.Fatalf("not root: %+v %v", as, err)
	}
	if _, err := resolveRunAs("root", 1000); !errors.Is(err, ErrInvalidOptions) {
		t.Fatalf("root named, not root: %v", err)
	}
	if as, err := resolveRunAs("", 0); err != nil || as != nil {
		t.Fatalf("none: %+v %v", as, err)
	}
}

func TestBadPackageFailsJob(t *testing.T) {
	for _, c := range []struct {
		name string
		zip  func(t *testing.T) []byte
		want string
	}{
		// From <work>/jobs/job-…/package, the name leads to <work>/escape.sh.
		{"traversal", func(t *testing.T) []byte { return zipOf(t, "../../../escape.sh", "x") }, "leaves the package"},
		{"not a zip", func(t *testing.T) []byte { return []byte("MZ not a zip at all") }, "not a ZIP"},
		{"link out", func(t *testing.T) []byte { return zipOf(t, "etc@", "/etc") }, "points out"},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := newRig(t, "current", Current)
			r.start()
			r.mustPoll()
			r.srv.addPackage("3", c.zip(t))
			j := r.srv.addJob(&srvJob{id: 8, host: testHost, container: 1, pkg: 3, download: true, procedure: "true"})
			r.mustPoll()
			s := r.srv.jobSnapshot(j)
			if got := reportStates(s); got != "1(0) 1(101) -1=-9999" || !strings.Contains(s.message, c.want) {
				t.Fatalf("%q %q", got, s.message)
			}
			if _, err := os.Stat(filepath.Join(r.work, "escape.sh")); err == nil {
				t.Fatal("written outside")
			}
		})
	}
	t.Run("too large", func(t *testing.T) {
		r := newRig(t, "current", Current)
		r.opts.Jobs.MaxPackageBytes = 100
		r.start()
		r.mustPoll()
		r.srv.addPackage("3", zipOf(t, "a.txt", strings.Repeat("some text ", 100), "b.bin", string(randBytes(400))))
		j := r.srv.addJob(&srvJob{id: 8, host: testHost, container: 1, pkg: 3, download: true, procedure: "true"})
		r.mustPoll()
		if s := r.srv.jobSnapshot(j); s.state != StateFailed || !strings.Contains(s.message, "limit") {
			t.Fatalf("%+v", s)
		}
	})
	t.Run("no active job", func(t *testing.T) {
		r := newRig(t, "current", Current)
		r.start()
		r.mustPoll()
		j := r.srv.addJob(&srvJob{id: 8, host: testHost, container: 1, pkg: 99, download: true, procedure: "true"})
		r.mustPoll()
		if s := r.srv.jobSnapshot(j); s.state != StateFailed || !strings.Contains(s.message, "Package not found") {
			t.Fatalf("%+v", s)
		}
	})
}
