package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/edgegate/edgegate/gateway/admin"
)

// errNoUpstream explains a 404 from the upstream endpoints.
var errNoUpstream = errors.New("no upstream OCS is configured: set [upstream] url (or [upstream.bundled] enabled = true) in gatewayd's configuration")

func upstreamErr(err error) error {
	var ae *admin.Error
	if errors.As(err, &ae) && ae.Status == 404 && (ae.Code != "not_found" || strings.Contains(ae.Message, "no such endpoint")) {
		return errNoUpstream
	}
	return err
}

// upstream runs "upstream status | requeue ID|--all | discard ID|--all".
func (x *cli) upstream(ctx context.Context, sub string, args []string) error {
	switch sub {
	case "", "status":
		return x.upstreamStatus(ctx, args)
	case "requeue", "discard":
		fs := x.flags("upstream " + sub)
		all := fs.Bool("all", false, "every dead letter")
		pos, err := parse(fs, args, 0, 1, "a dead letter's id or --all")
		if err != nil {
			return err
		}
		if (len(pos) == 1) == *all {
			return fmt.Errorf("%w: upstream %s takes a dead letter's id (see upstream status) or --all", errUsage, sub)
		}
		req := admin.UpstreamDeadLetterRequest{All: *all}
		if len(pos) == 1 {
			req.ID = pos[0]
		}
		var out struct {
			Count int `json:"count"`
		}
		if err := x.c.Call(ctx, "POST", "/v1/upstream/deadletters/"+sub, req, &out); err != nil {
			return upstreamErr(err)
		}
		if x.asJSON {
			return x.printJSON(out)
		}
		verb := map[string]string{"requeue": "requeued", "discard": "discarded"}[sub]
		fmt.Fprintf(x.out, "%d dead letters %s\n", out.Count, verb)
		return nil
	}
	return fmt.Errorf("%w: unknown upstream command %q (status, requeue, discard)", errUsage, sub)
}

func (x *cli) upstreamStatus(ctx context.Context, args []string) error {
	if _, err := parse(x.flags("upstream status"), args, 0, 0, "no arguments"); err != nil {
		return err
	}
	var s admin.UpstreamStatus
	if err := x.c.Call(ctx, "GET", "/v1/upstream/status", nil, &s); err != nil || x.asJSON {
		return orJSON(x, s, upstreamErr(err))
	}
	f, p := s.Forwarder, s.Puller
	where := s.URL
	if s.Bundled {
		where += " (bundled, in-process)"
	}
	fmt.Fprintf(x.out, "ocs          %s\n", where)
	fmt.Fprintf(x.out, "queue        %d readings (cursor %d, journal %d), oldest waiting %s; outbox %d\n",
		f.QueueDepth, f.Cursor, f.LastSeq, (time.Duration(f.OldestAgeSeconds) * time.Second).String(), f.Outbox)
	fmt.Fprintf(x.out, "forwarded    %d in %d posts, batch size %d; last success %s\n",
		f.Forwarded, f.Posts, f.BatchSize, unixAgo(f.LastSuccessUnix))
	fmt.Fprintf(x.out, "failures     %d failed posts, %d retries; last failure %s\n", f.Errors, f.Retries, unixAgo(f.LastFailureUnix))
	if s.LastError != "" {
		fmt.Fprintf(x.out, "last error   %s\n", s.LastError)
	}
	if f.Lost > 0 || f.OutboxDropped > 0 {
		fmt.Fprintf(x.out, "LOST         %d readings evicted by the store's size cap before forwarding, %d outbox entries dropped\n",
			f.Lost, f.OutboxDropped)
	}
	fmt.Fprintf(x.out, "owner        %d polls (%d failed), %d commands (%d failed), %d firmware images, %d settings applied\n",
		p.Polls, p.PollErrors, p.Commands, p.CommandsFailed, p.Firmware, p.PSIApplied)
	fmt.Fprintf(x.out, "reported     %d session failures\n", f.FailuresReported)
	fmt.Fprintf(x.out, "dead letters %d\n", len(s.DeadLetters))
	if len(s.DeadLetters) > 0 {
		x.table("ID\tWHAT\tDEVICE ID\tSEQ\tCOUNT\tSTATUS\tPARKED\tRESPONSE", func(w io.Writer) {
			for _, d := range s.DeadLetters {
				seq := "-"
				if d.FirstSeq > 0 {
					seq = fmt.Sprintf("%d..%d", d.FirstSeq, d.LastSeq)
				}
				fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%d\t%d\t%s\t%s\n", d.ID, d.What, d.DeviceID, seq, d.Count, d.Status,
					ago(d.Parked), printable([]byte(truncate(d.Response, 60))))
			}
		})
		fmt.Fprintln(x.out, "requeue them with `gatewayctl upstream requeue ID|--all` once the OCS accepts them, or drop them with `upstream discard`")
	}
	return nil
}

func unixAgo(s int64) string {
	if s == 0 {
		return "never"
	}
	return ago(time.Unix(s, 0))
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}
