//go:build !linux

package oco

import (
	"context"
	"errors"
	"os/exec"
)

// command runs the procedure as the daemon's own user: switching accounts
// is supported on Linux only.
func command(ctx context.Context, spec procSpec) (*exec.Cmd, func(), error) {
	if spec.as != nil {
		return nil, nil, errors.New("running jobs as another account needs Linux")
	}
	cmd := exec.CommandContext(ctx, "/bin/sh", "-c", spec.script)
	cmd.Dir = spec.dir
	return cmd, func() {}, nil
}

func startAndWait(cmd *exec.Cmd) error { return cmd.Run() }

func chownTree(dir string, as *runAs) error { return nil }
