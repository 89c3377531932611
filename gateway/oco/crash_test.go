package oco

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/edgegate/edgegate/store"
)

// TestCrashHelper is the agent process the crash tests kill with SIGKILL
// in the middle of a job. It runs only when they start it.
func TestCrashHelper(t *testing.T) {
	path := os.Getenv("OCO_CRASH_DB")
	if path == "" {
		t.Skip("started by the crash tests")
	}
	db, err := store.Open(path, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	opts := Options{URL: os.Getenv("OCO_CRASH_URL"), Generation: Current, Hostname: testHost, Version: "0.9.0",
		KV: db.KV("oco"), WorkDir: os.Getenv("OCO_CRASH_WORK"), Sources: fixtureSources(t),
		Jobs: JobOptions{ReportInterval: 50 * time.Millisecond, Timeout: time.Minute}}
	if os.Geteuid() == 0 {
		opts.Jobs.RunAs = "nobody"
	}
	a, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	err = a.Poll(context.Background())
	t.Fatalf("the poll returned (%v) instead of being killed", err)
}

// crash runs the agent in a process of its own on the rig's database and
// kills it when the server's hook says so.
func (r *rig) crash(kill <-chan struct{}) {
	r.t.Helper()
	path := r.db.Path()
	r.db.MustClose()
	cmd := exec.Command(os.Args[0], "-test.run=^TestCrashHelper$", "-test.count=1")
	cmd.Env = append(os.Environ(), "OCO_CRASH_DB="+path, "OCO_CRASH_URL="+r.srv.url(), "OCO_CRASH_WORK="+r.work)
	out := &logBuffer{}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		r.t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	select {
	case <-kill:
		cmd.Process.Signal(syscall.SIGKILL)
		<-exited
	case err := <-exited:
		r.t.Fatalf("the agent process ended by itself (%v):\n%s", err, out.String())
	case <-time.After(30 * time.Second):
		cmd.Process.Kill()
		r.t.Fatalf("the agent process never reached the crash point:\n%s", out.String())
	}
	sdb, err := store.Open(path, store.Options{})
	if err != nil {
		r.t.Fatal(err)
	}
	r.db.DB = sdb
}

func TestCrashAfterFinalStateBeforeReport(t *testing.T) {
	r := newRig(t, "current", Current)
	r.start()
	r.mustPoll()
	j := r.srv.addJob(&srvJob{id: "dynamic-30", host: testHost, container: "deployment_rule::4", procedure: `echo "run $$"`})
	kill := make(chan struct{})
	release := make(chan struct{})
	var mu sync.Mutex
	var lost string
	first := true
	r.srv.setJobState(func(_ *srvJob, state int, msg string) int {
		mu.Lock()
		defer mu.Unlock()
		if state != StateSucceeded || !first {
			return 0
		}
		// The final report arrives: the agent dies before it gets an
		// answer and the report is lost, as if it was never sent.
		first, lost = false, msg
		close(kill)
		<-release
		return 500
	})
	go func() { <-kill; time.Sleep(10 * time.Millisecond); close(release) }()
	r.crash(kill)
	mu.Lock()
	lostMsg := lost
	mu.Unlock()
	// The server still offers the job (it never got a final state).
	if s := r.srv.jobSnapshot(j); s.state != StateExecuting || !strings.HasPrefix(lostMsg, "run ") {
		t.Fatalf("before the restart: %+v, lostMsg report %q", s, lostMsg)
	}
	r.start()
	r.mustPoll()
	s := r.srv.jobSnapshot(j)
	if got := reportStates(s); got != "2(100) 3=0" {
		t.Fatalf("reports %q: the job ran again", got)
	}
	if s.message != lostMsg || s.state != StateSucceeded {
		t.Fatalf("final report %q, want the recorded %q", s.message, lostMsg)
	}
	if st := r.a.Stats(); st.JobsRun != 0 || st.JobsResumed != 1 {
		t.Errorf("stats %+v", st)
	}
	// Reported now: not offered, nothing more happens.
	r.mustPoll()
	if got := reportStates(r.srv.jobSnapshot(j)); got != "2(100) 3=0" {
		t.Fatalf("reports %q", got)
	}
}

func TestCrashWhileExecuting(t *testing.T) {
	r := newRig(t, "current", Current)
	r.start()
	r.mustPoll()
	j := r.srv.addJob(&srvJob{id: 31, host: testHost, container: 5, procedure: `echo "pid $$"; exec sleep 60`})
	kill := make(chan struct{})
	var mu sync.Mutex
	pid := 0
	r.srv.setJobState(func(_ *srvJob, state int, msg string) int {
		mu.Lock()
		defer mu.Unlock()
		if state == StateExecuting && strings.HasPrefix(msg, "pid ") && pid == 0 {
			pid, _ = strconv.Atoi(strings.TrimSpace(strings.TrimPrefix(msg, "pid ")))
			close(kill)
		}
		return 0
	})
	r.crash(kill)
	mu.Lock()
	killedPid := pid
	mu.Unlock()
	// The procedure died with the agent (parent-death signal).
	deadline := time.Now().Add(5 * time.Second)
	for syscall.Kill(killedPid, 0) == nil {
		if time.Now().After(deadline) {
			t.Fatalf("procedure %d survived the agent", killedPid)
		}
		time.Sleep(20 * time.Millisecond)
	}
	r.start()
	rec, _, _ := r.a.st.job([]byte("31"))
	if rec.Phase != phaseFinal || rec.State != StateFailed || rec.Reported {
		t.Fatalf("after the restart: %+v", rec)
	}
	r.mustPoll()
	s := r.srv.jobSnapshot(j)
	states := reportStates(s)
	if !strings.HasSuffix(states, " -1=-9999") || strings.Count(states, "2(100)") != 2 {
		// 2(100) at the start and once with the output, before the crash.
		t.Fatalf("reports %q", states)
	}
	if !strings.Contains(s.message, "not run again") {
		t.Fatalf("message %q", s.message)
	}
	// The killed run's directory went at the restart.
	if entries, err := os.ReadDir(filepath.Join(r.work, "jobs")); err == nil && len(entries) > 0 {
		t.Fatalf("left: %v", entries)
	}
}
