package oco

import (
	"context"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"syscall"
)

// command builds the shell command. As another user the directory is
// entered through an inherited descriptor (/proc/self/fd/3): the child
// changes its directory after dropping privileges, and the data
// directory's ancestors need not be open to that user. The procedure is
// passed as an argument, never spliced into a script.
func command(ctx context.Context, spec procSpec) (*exec.Cmd, func(), error) {
	attr := &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	var cmd *exec.Cmd
	cleanup := func() {}
	if spec.as == nil {
		cmd = exec.CommandContext(ctx, "/bin/sh", "-c", spec.script)
		cmd.Dir = spec.dir
	} else {
		d, err := os.Open(spec.dir)
		if err != nil {
			return nil, nil, err
		}
		cleanup = func() { d.Close() }
		cmd = exec.CommandContext(ctx, "/bin/sh", "-c",
			`cd -P /proc/self/fd/3 || exit 126; exec /bin/sh -c "$1" 3<&-`, "edgegate-job", spec.script)
		cmd.ExtraFiles = []*os.File{d}
		cmd.Dir = "/"
		attr.Credential = &syscall.Credential{Uid: spec.as.uid, Gid: spec.as.gid, Groups: spec.as.groups}
	}
	cmd.SysProcAttr = attr
	cmd.Cancel = func() error {
		if cmd.Process == nil {
			return nil
		}
		return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	}
	return cmd, cleanup, nil
}

// startAndWait starts cmd from a locked OS thread and waits on it there:
// the parent-death signal follows the thread that forked, so it must not
// exit before the child.
func startAndWait(cmd *exec.Cmd) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		if err := cmd.Start(); err != nil {
			errc <- err
			return
		}
		errc <- cmd.Wait()
	}()
	return <-errc
}

// chownTree gives the job's directory to the account it runs as.
func chownTree(dir string, as *runAs) error {
	if as == nil {
		return nil
	}
	return filepath.WalkDir(dir, func(p string, _ fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		return os.Lchown(p, int(as.uid), int(as.gid))
	})
}
