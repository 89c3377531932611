package main

import (
	"context"
	"fmt"
	"io"
	"strconv"
	"time"

	"github.com/edgegate/edgegate/gateway/admin"
)

// ocoCmd runs "oco status" and "oco forget-keys".
func (x *cli) ocoCmd(ctx context.Context, args []string) error {
	if len(args) == 0 {
		return fmt.Errorf("%w: oco takes status or forget-keys", errUsage)
	}
	sub, rest := args[0], args[1:]
	switch sub {
	case "status":
		if _, err := parse(x.flags("oco status"), rest, 0, 0, "no arguments"); err != nil {
			return err
		}
		var st admin.OCOStatus
		if err := x.c.Call(ctx, "GET", "/v1/oco/status", nil, &st); err != nil || x.asJSON {
			return orJSON(x, st, err)
		}
		x.printOCO(st)
		return nil
	case "forget-keys":
		fs := x.flags("oco forget-keys")
		yes := fs.Bool("yes", false, "confirm")
		if _, err := parse(fs, rest, 0, 0, "--yes"); err != nil {
			return err
		}
		if !*yes {
			return fmt.Errorf("%w: oco forget-keys deletes the pinned OCO keys, and the gateway registers again with the registration key: "+
				"clear the host's keys on the server first, then run it with --yes", errUsage)
		}
		var st admin.OCOStatus
		if err := x.c.Call(ctx, "POST", "/v1/oco/forget-keys", nil, &st); err != nil || x.asJSON {
			return orJSON(x, st, err)
		}
		fmt.Fprintln(x.out, "keys forgotten: the next hello registers again")
		return nil
	}
	return fmt.Errorf("%w: oco takes status or forget-keys, not %q", errUsage, sub)
}

func present(b bool) string {
	if b {
		return "present"
	}
	return "absent"
}

func (x *cli) printOCO(st admin.OCOStatus) {
	gen := st.Generation
	if gen == "" {
		gen = "not known yet"
	}
	fmt.Fprintf(x.out, "server       %s\n", st.Server)
	fmt.Fprintf(x.out, "hostname     %s\n", st.Hostname)
	fmt.Fprintf(x.out, "generation   %s (configured: %s)\n", gen, st.Configured)
	next := ""
	if !st.NextHello.IsZero() {
		next = fmt.Sprintf(", next hello in %s", time.Until(st.NextHello).Round(time.Second))
	}
	fmt.Fprintf(x.out, "last contact %s%s\n", ago(st.LastContact), next)
	if st.LastError != "" {
		fmt.Fprintf(x.out, "last error   %s\n", st.LastError)
	}
	reg := "not configured"
	if st.RegistrationKey {
		reg = "configured"
	}
	fmt.Fprintf(x.out, "keys         agent key %s, server key %s, registration key %s\n", present(st.AgentKey), present(st.ServerKey), reg)
	s := st.Stats
	fmt.Fprintf(x.out, "hellos       %d (%d failed), %d inventories, %d responses rejected as forged\n",
		s.Hellos, s.HelloFailures, s.Inventories, s.SecurityRejects)
	fmt.Fprintf(x.out, "jobs         %d run, %d succeeded, %d failed, %d skipped\n", s.JobsRun, s.JobsSucceeded, s.JobsFailed, s.JobsSkipped)
	if len(st.Jobs) == 0 {
		return
	}
	x.table("JOB\tCONTAINER\tPHASE\tSTATE\tRETURN\tREPORTED\tUPDATED", func(w io.Writer) {
		for _, j := range st.Jobs {
			state, rc := "-", "-"
			if j.State != nil {
				state = strconv.Itoa(*j.State)
			}
			if j.Return != nil {
				rc = strconv.Itoa(*j.Return)
			}
			fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%v\t%s\n", j.ID, dash(j.Container), j.Phase, state, rc, j.Reported, ago(j.Updated))
		}
	})
}
