package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/edgegate/edgegate/gateway/admin"
	"github.com/edgegate/edgegate/gateway/pairing"
	"github.com/edgegate/edgegate/gateway/things"
)

// pair runs `pair`, `pair open [--for D]`, `pair close`, `pair revoke NAME`.
func (x *cli) pair(ctx context.Context, args []string) error {
	sub := ""
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		sub, args = args[0], args[1:]
	}
	var st pairing.State
	switch sub {
	case "", "status":
		if _, err := parse(x.flags("pair"), args, 0, 0, "no arguments"); err != nil {
			return err
		}
		if err := x.c.Call(ctx, http.MethodGet, "/v1/pairing", nil, &st); err != nil {
			return err
		}
	case "open":
		fs := x.flags("pair open")
		d := fs.Duration("for", 0, "how long the window stays open (default: the board's pairing_window)")
		if _, err := parse(fs, args, 0, 0, "[--for D]"); err != nil {
			return err
		}
		var req admin.PairingRequest
		if *d != 0 {
			req.For = d.String()
		}
		if err := x.c.Call(ctx, http.MethodPost, "/v1/pairing", req, &st); err != nil {
			return err
		}
	case "close":
		if _, err := parse(x.flags("pair close"), args, 0, 0, "no arguments"); err != nil {
			return err
		}
		if err := x.c.Call(ctx, http.MethodDelete, "/v1/pairing", nil, &st); err != nil {
			return err
		}
	case "revoke":
		pos, err := parse(x.flags("pair revoke"), args, 1, 1, "one client NAME (or ID), as `gatewayctl things` lists it")
		if err != nil {
			return err
		}
		var c admin.StewardClient
		if err := x.c.Call(ctx, http.MethodDelete, "/v1/steward/clients/"+url.PathEscape(pos[0]), nil, &c); err != nil {
			return err
		}
		if x.asJSON {
			return x.printJSON(c)
		}
		fmt.Fprintf(x.out, "revoked the pairing of %s (client %s); its sockets are closed\n", c.Name, c.ID)
		return nil
	default:
		return fmt.Errorf("%w: pair takes open [--for D], close, revoke NAME, or nothing", errUsage)
	}
	if x.asJSON {
		return x.printJSON(st)
	}
	if !st.Open {
		fmt.Fprintln(x.out, "pairing window closed (open it with `gatewayctl pair open --for 5m`)")
		return nil
	}
	fmt.Fprintf(x.out, "pairing window open until %s (%s left)\n", st.Until.Local().Format(time.TimeOnly), time.Until(st.Until).Round(time.Second))
	if st.CodeRequired {
		fmt.Fprintf(x.out, "pairing code %s (changes at %s)\n", st.Code, st.CodeValidUntil.Local().Format(time.TimeOnly))
	}
	return nil
}

// thingsCmd runs `things [ID]` (with the steward's paired clients) and
// `things perform ID ACTION [k=v...]`.
func (x *cli) thingsCmd(ctx context.Context, args []string) error {
	if len(args) > 0 && args[0] == "perform" {
		return x.perform(ctx, args[1:])
	}
	if err := x.things(ctx, args); err != nil || x.asJSON {
		return err
	}
	if pos, _ := parse(x.flags("things"), args, 0, 1, ""); len(pos) == 1 {
		return nil
	}
	var clients []admin.StewardClient
	if err := x.c.Call(ctx, http.MethodGet, "/v1/steward/clients", nil, &clients); err != nil {
		if errors.Is(err, admin.ErrNotFound) {
			return nil // the steward is off
		}
		return err
	}
	fmt.Fprintln(x.out)
	x.table("CLIENT\tNAME\tPROTOCOL\tCONNECTED\tLAST LOGIN\tTHINGS", func(w io.Writer) {
		for _, c := range clients {
			fmt.Fprintf(w, "%s\t%s\t%s\t%d\t%s\t%s\n", c.ID, c.Name, c.Generation, c.Connected, ago(c.LastLogin), dash(strings.Join(c.Things, ", ")))
		}
	})
	return nil
}

func (x *cli) perform(ctx context.Context, args []string) error {
	fs := x.flags("things perform")
	testOnly := fs.Bool("test-only", false, "native things: only evaluate the parameters")
	pos, err := parse(fs, args, 2, 64, "ID ACTION [name=value ...]")
	if err != nil {
		return err
	}
	req := admin.PerformRequest{Action: pos[1], Args: map[string]string{}, TestOnly: *testOnly}
	for _, a := range pos[2:] {
		k, v, ok := strings.Cut(a, "=")
		if !ok || k == "" {
			return fmt.Errorf("%w: argument %q: write name=value", errUsage, a)
		}
		req.Args[k] = v
	}
	var res things.Result
	if err := x.c.Call(ctx, http.MethodPost, "/v1/things/"+url.PathEscape(pos[0])+"/perform", req, &res); err != nil {
		return err
	}
	if x.asJSON {
		return x.printJSON(res)
	}
	fmt.Fprintf(x.out, "%s %s: %s", pos[0], pos[1], res.Status)
	if res.Message != "" {
		fmt.Fprintf(x.out, " (%s)", res.Message)
	}
	fmt.Fprintln(x.out)
	return nil
}
