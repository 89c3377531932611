package oco

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/user"
	"strconv"
	"time"
)

// runAs is the unprivileged account jobs run as when the daemon is root.
type runAs struct {
	name     string
	uid, gid uint32
	groups   []uint32
	home     string
}

// resolveRunAs looks the configured account up; it must not be root. When
// the daemon runs as root (euid 0) a job needs one; otherwise jobs run as
// the daemon's own user and the name is only checked (nil is returned).
func resolveRunAs(name string, euid int) (*runAs, error) {
	if name == "" {
		return nil, nil
	}
	u, err := user.Lookup(name)
	if err != nil {
		return nil, fmt.Errorf("oco: %w: jobs.run_as %q: %v", ErrInvalidOptions, name, err)
	}
	uid, err1 := strconv.ParseUint(u.Uid, 10, 32)
	gid, err2 := strconv.ParseUint(u.Gid, 10, 32)
	if err1 != nil || err2 != nil {
		return nil, fmt.Errorf("oco: %w: jobs.run_as %q: not a numeric account", ErrInvalidOptions, name)
	}
	if uid == 0 {
		return nil, fmt.Errorf("oco: %w: jobs.run_as %q is root: name an unprivileged account", ErrInvalidOptions, name)
	}
	if euid != 0 {
		return nil, nil
	}
	r := &runAs{name: name, uid: uint32(uid), gid: uint32(gid), home: u.HomeDir}
	if ids, err := u.GroupIds(); err == nil {
		for _, g := range ids {
			if n, err := strconv.ParseUint(g, 10, 32); err == nil {
				r.groups = append(r.groups, uint32(n))
			}
		}
	}
	return r, nil
}

// errRunAsRoot is a job refused because the daemon is root and no account
// to run it as is configured. The job runner refuses it before anything is
// given to the procedure; runProcedure relies on that.
var errRunAsRoot = errors.New("the gateway runs as root and [oco.jobs] run_as names no unprivileged account: job refused")

// procSpec is one procedure to run.
type procSpec struct {
	dir     string
	script  string
	as      *runAs // nil: the daemon's own user
	timeout time.Duration
	out     io.Writer
}

// errTimeout is a procedure killed at its timeout.
var errTimeout = errors.New("procedure timed out")

// jobEnv is the environment a procedure gets: none of the daemon's own.
func jobEnv(as *runAs) []string {
	env := []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "SHELL=/bin/sh"}
	if as != nil {
		env = append(env, "HOME="+as.home, "USER="+as.name, "LOGNAME="+as.name)
	} else if u, err := user.Current(); err == nil {
		env = append(env, "HOME="+u.HomeDir, "USER="+u.Username, "LOGNAME="+u.Username)
	}
	if l := os.Getenv("LANG"); l != "" {
		env = append(env, "LANG="+l)
	}
	return env
}

// runProcedure runs spec.script with /bin/sh in spec.dir, its output (both
// streams) into spec.out, killed with its process group at the timeout or
// when ctx ends. It returns the exit status.
func runProcedure(ctx context.Context, spec procSpec) (int, error) {
	ctx, cancel := context.WithTimeout(ctx, spec.timeout)
	defer cancel()
	cmd, cleanup, err := command(ctx, spec)
	if err != nil {
		return 0, err
	}
	defer cleanup()
	cmd.Env = jobEnv(spec.as)
	cmd.Stdin = nil
	cmd.Stdout, cmd.Stderr = spec.out, spec.out
	cmd.WaitDelay = 5 * time.Second
	err = startAndWait(cmd)
	var ee *exec.ExitError
	switch {
	case ctx.Err() == context.DeadlineExceeded:
		return -1, fmt.Errorf("%w after %s", errTimeout, spec.timeout)
	case ctx.Err() != nil:
		return -1, ctx.Err()
	case errors.As(err, &ee):
		return ee.ExitCode(), nil
	case err != nil:
		return -1, fmt.Errorf("oco: start the procedure: %w", err)
	}
	return 0, nil
}
