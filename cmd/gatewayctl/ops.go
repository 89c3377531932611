package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"time"

	"golang.org/x/term"

	"github.com/edgegate/edgegate/gateway/admin"
)

// coreStatus are the keys of admin.Status that status prints itself; any
// other key is a service's section (JOSP, steward, upstream, OCO), printed
// generically.
var coreStatus = map[string]bool{"name": true, "uuid": true, "version": true, "started": true, "devices": true,
	"sessions": true, "journal": true, "store": true, "osp": true, "udp": true, "things": true, "links": true,
	"board": true, "pairing": true}

func (x *cli) overview(ctx context.Context) (admin.Overview, error) {
	var ov admin.Overview
	err := x.c.Call(ctx, "GET", "/v1/overview", nil, &ov)
	return ov, err
}

// statusAll prints what the status page shows at its top: identity,
// health, clock, pairing, links, the store, and each service's section.
func (x *cli) statusAll(ctx context.Context, args []string) error {
	if _, err := parse(x.flags("status"), args, 0, 0, "no arguments"); err != nil {
		return err
	}
	if x.asJSON {
		st, err := x.c.Status(ctx)
		return orJSON(x, st, err)
	}
	// One overview, read twice: typed, and its status as a map for the
	// services' sections.
	var body json.RawMessage
	if err := x.c.Call(ctx, "GET", "/v1/overview", nil, &body); err != nil {
		return err
	}
	var ov admin.Overview
	var rawOv struct {
		Status map[string]any `json:"status"`
	}
	if err := json.Unmarshal(body, &ov); err != nil {
		return fmt.Errorf("admin API: decode GET /v1/overview: %w", err)
	}
	if err := json.Unmarshal(body, &rawOv); err != nil {
		return fmt.Errorf("admin API: decode GET /v1/overview: %w", err)
	}
	raw := rawOv.Status
	st := ov.Status
	w := x.out
	fmt.Fprintf(w, "gateway      %s (%s)\n", st.Name, st.UUID)
	fmt.Fprintf(w, "version      %s, up %s\n", dash(st.Version), time.Since(st.Started).Round(time.Second))
	fmt.Fprintf(w, "board        %s\n", st.Board)
	fmt.Fprintf(w, "health       %s\n", healthLine(ov.Health))
	fmt.Fprintf(w, "clock        %s\n", clockLine(ov.Clock))
	fmt.Fprintf(w, "pairing      %s\n", pairingLine(ov.Pairing))
	fmt.Fprintf(w, "devices      %d, %d sessions\n", st.Devices, st.Sessions)
	fmt.Fprintf(w, "journal      %d readings (seq %d..%d)\n", st.Journal.Count, st.Journal.FirstSeq, st.Journal.LastSeq)
	fmt.Fprintf(w, "store        %d appends, %d commits, %d fsyncs, %d queued, %d evicted by age, %d by size\n",
		st.Store.Appends, st.Store.Commits, st.Store.Fsyncs, st.Store.Queued, st.Store.EvictedByAge, st.Store.EvictedBySize)
	fmt.Fprintf(w, "things       %d, projected to seq %d, %d undecoded\n", st.Things.Count, st.Things.Projected, st.Things.Undecoded)
	for _, l := range ov.Links {
		fmt.Fprintf(w, "link         %s %s: %s\n", l.Name, upDown(l.Up), l.Detail)
	}
	var total uint32
	for _, n := range ov.Rates.Total {
		total += n
	}
	fmt.Fprintf(w, "readings     %d in the last %s\n", total, time.Duration(len(ov.Rates.Total))*ov.Rates.Step)
	fmt.Fprintf(w, "errors       %d recent (gatewayctl errors)\n", len(ov.Errors))
	keys := make([]string, 0, len(raw))
	for k := range raw {
		if !coreStatus[k] {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	for _, k := range keys {
		fmt.Fprintf(w, "%-12s %s\n", k, section(raw[k]))
	}
	return nil
}

// section renders a service's part of the status on one line: its scalar
// values that are not zero, nested keys dotted, lists by their length
// (`--json` has everything).
func section(v any) string {
	var parts []string
	var walk func(prefix string, v any)
	walk = func(prefix string, v any) {
		switch t := v.(type) {
		case map[string]any:
			keys := make([]string, 0, len(t))
			for k := range t {
				keys = append(keys, k)
			}
			slices.Sort(keys)
			for _, k := range keys {
				p := k
				if prefix != "" {
					p = prefix + "." + k
				}
				walk(p, t[k])
			}
		case []any:
			parts = append(parts, fmt.Sprintf("%s=[%d]", prefix, len(t)))
		case string:
			if t == "" {
				return
			}
			if ts, err := time.Parse(time.RFC3339Nano, t); err == nil {
				if !ts.IsZero() {
					parts = append(parts, prefix+"="+ago(ts))
				}
			} else {
				parts = append(parts, prefix+"="+t)
			}
		case float64:
			if t != 0 {
				parts = append(parts, fmt.Sprintf("%s=%v", prefix, t))
			}
		case bool:
			if t {
				parts = append(parts, prefix+"=true")
			}
		case nil:
		default:
			parts = append(parts, fmt.Sprintf("%s=%v", prefix, t))
		}
	}
	walk("", v)
	if len(parts) == 0 {
		return "idle"
	}
	return strings.Join(parts, " ")
}

func upDown(up bool) string {
	if up {
		return "up"
	}
	return "DOWN"
}

func healthLine(h admin.Health) string {
	if h.OK {
		return "ok"
	}
	var bad []string
	for _, c := range h.Checks {
		if !c.OK && !c.Advisory {
			bad = append(bad, c.Name+" ("+c.Detail+")")
		}
	}
	return "FAILING: " + strings.Join(bad, ", ")
}

func clockLine(c admin.ClockStatus) string {
	s := c.Now.Local().Format(time.DateTime)
	if !c.Sane {
		s += " NOT SET (before " + c.Floor.Local().Format(time.DateOnly) + "): upstream TLS waits for network time"
	}
	if c.HeldBack > 0 {
		s += fmt.Sprintf("; retention by age held back %s after a clock step", c.HeldBack.Round(time.Second))
	}
	return s
}

func pairingLine(p admin.Pairing) string {
	if p.Open {
		return "open until " + p.Until.Local().Format(time.TimeOnly)
	}
	return "closed"
}

// overviewCmd prints the whole status page as JSON (or, as text, status).
func (x *cli) overviewCmd(ctx context.Context, args []string) error {
	if _, err := parse(x.flags("overview"), args, 0, 0, "no arguments"); err != nil {
		return err
	}
	if !x.asJSON {
		return x.statusAll(ctx, nil)
	}
	ov, err := x.overview(ctx)
	return orJSON(x, ov, err)
}

func (x *cli) links(ctx context.Context, args []string) error {
	if _, err := parse(x.flags("links"), args, 0, 0, "no arguments"); err != nil {
		return err
	}
	ov, err := x.overview(ctx)
	if err != nil || x.asJSON {
		return orJSON(x, ov.Links, err)
	}
	x.table("LINK\tKIND\tSTATE\tDETAIL\tCOUNTERS", func(w io.Writer) {
		for _, l := range ov.Links {
			keys := make([]string, 0, len(l.Counters))
			for k := range l.Counters {
				keys = append(keys, k)
			}
			slices.Sort(keys)
			var cs []string
			for _, k := range keys {
				cs = append(cs, fmt.Sprintf("%s=%g", k, l.Counters[k]))
			}
			fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\n", l.Name, l.Kind, upDown(l.Up), dash(l.Detail), strings.Join(cs, " "))
		}
	})
	return nil
}

func (x *cli) errorsCmd(ctx context.Context, args []string) error {
	if _, err := parse(x.flags("errors"), args, 0, 0, "no arguments"); err != nil {
		return err
	}
	var list []admin.LogRecord
	err := x.c.Call(ctx, "GET", "/v1/errors", nil, &list)
	if err != nil || x.asJSON {
		return orJSON(x, nonNilList(list), err)
	}
	if len(list) == 0 {
		fmt.Fprintln(x.out, "no warning or error since gatewayd started")
		return nil
	}
	for _, r := range list {
		fmt.Fprintf(x.out, "%s %-5s %s\n", r.Time.Local().Format("2006-01-02 15:04:05"), r.Level, r.String())
	}
	return nil
}

func nonNilList[T any](l []T) []T {
	if l == nil {
		return []T{}
	}
	return l
}

// errUnhealthy makes health exit 1 with its report printed.
var errUnhealthy = errors.New("gatewayd is not healthy (see the failing checks above)")

func (x *cli) health(ctx context.Context, args []string) error {
	fs := x.flags("health")
	ready := fs.Bool("ready", false, "readiness: also a store write and the links")
	if _, err := parse(fs, args, 0, 0, "[--ready]"); err != nil {
		return err
	}
	path := "/v1/health"
	if *ready {
		path = "/v1/ready"
	}
	var h admin.Health
	if err := x.c.Call(ctx, "GET", path, nil, &h); err != nil {
		return err
	}
	if x.asJSON {
		if err := x.printJSON(h); err != nil {
			return err
		}
	} else {
		for _, c := range h.Checks {
			mark := "ok  "
			switch {
			case !c.OK && c.Advisory:
				mark = "warn"
			case !c.OK:
				mark = "FAIL"
			}
			fmt.Fprintf(x.out, "%s  %-16s %s\n", mark, c.Name, c.Detail)
		}
	}
	if !h.OK {
		return errUnhealthy
	}
	return nil
}

func (x *cli) rates(ctx context.Context, args []string) error {
	if _, err := parse(x.flags("rates"), args, 0, 0, "no arguments"); err != nil {
		return err
	}
	var r admin.Rates
	err := x.c.Call(ctx, "GET", "/v1/rates", nil, &r)
	if err != nil || x.asJSON {
		return orJSON(x, r, err)
	}
	span := time.Duration(len(r.Total)) * r.Step
	fmt.Fprintf(x.out, "readings per %s over the last %s (oldest left)\n", r.Step, span)
	x.table("SERIES\tTOTAL\tCHART", func(w io.Writer) {
		fmt.Fprintf(w, "all\t%d\t%s\n", sum(r.Total), sparkline(r.Total))
		keys := make([]string, 0, len(r.Devices))
		for k := range r.Devices {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		for _, k := range keys {
			fmt.Fprintf(w, "%s\t%d\t%s\n", k, sum(r.Devices[k]), sparkline(r.Devices[k]))
		}
	})
	return nil
}

func sum(c []uint32) (n uint64) {
	for _, v := range c {
		n += uint64(v)
	}
	return n
}

// sparkline draws counts with block characters, scaled to their maximum.
func sparkline(c []uint32) string {
	const blocks = " ▁▂▃▄▅▆▇█"
	runes := []rune(blocks)
	var hi uint32
	for _, v := range c {
		hi = max(hi, v)
	}
	var b strings.Builder
	for _, v := range c {
		i := 0
		if hi > 0 && v > 0 {
			i = 1 + int(uint64(v)*uint64(len(runes)-2)/uint64(hi))
		}
		b.WriteRune(runes[i])
	}
	return b.String()
}

func (x *cli) clock(ctx context.Context, args []string) error {
	if _, err := parse(x.flags("clock"), args, 0, 0, "no arguments"); err != nil {
		return err
	}
	var c admin.ClockStatus
	err := x.c.Call(ctx, "GET", "/v1/clock", nil, &c)
	if err != nil || x.asJSON {
		return orJSON(x, c, err)
	}
	fmt.Fprintf(x.out, "clock        %s\n", clockLine(c))
	fmt.Fprintf(x.out, "floor        %s (build time or last network-synchronised time)\n", c.Floor.Local().Format(time.DateTime))
	return nil
}

// web password: set the status page's password (read from the terminal
// without echo, or the first line of stdin), or --remove it.
func (x *cli) web(ctx context.Context, args []string, stdin io.Reader, stderr io.Writer) error {
	fs := x.flags("web password")
	remove := fs.Bool("remove", false, "remove the password (on the LAN the page then serves only /healthz and /readyz)")
	pos, err := parse(fs, args, 1, 1, "password [--remove]")
	if err != nil {
		return err
	}
	if pos[0] != "password" {
		return fmt.Errorf("%w: web takes password", errUsage)
	}
	var st admin.PasswordState
	if *remove {
		if err := x.c.Call(ctx, "DELETE", "/v1/web/password", nil, &st); err != nil {
			return err
		}
		return x.done(st, "status page password removed")
	}
	pw, err := readPassword(stdin, stderr)
	if err != nil {
		return err
	}
	if err := x.c.Call(ctx, "PUT", "/v1/web/password", admin.PasswordRequest{Password: pw}, &st); err != nil {
		return err
	}
	return x.done(st, "status page password set")
}

// done prints the gateway's answer v with --json, else text.
func (x *cli) done(v any, text string) error {
	if x.asJSON {
		return x.printJSON(v)
	}
	fmt.Fprintln(x.out, text)
	return nil
}

// readPassword asks twice on a terminal (without echo), else reads the
// first line of stdin.
func readPassword(stdin io.Reader, stderr io.Writer) (string, error) {
	if f, ok := stdin.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		fmt.Fprint(stderr, "new status page password: ")
		a, err := term.ReadPassword(int(f.Fd()))
		fmt.Fprintln(stderr)
		if err != nil {
			return "", err
		}
		fmt.Fprint(stderr, "again: ")
		b, err := term.ReadPassword(int(f.Fd()))
		fmt.Fprintln(stderr)
		if err != nil {
			return "", err
		}
		if string(a) != string(b) {
			return "", errors.New("the two passwords differ; nothing changed")
		}
		return string(a), nil
	}
	line, err := bufio.NewReader(stdin).ReadString('\n')
	if err != nil && line == "" {
		return "", fmt.Errorf("%w: give the password on stdin (echo 'PASSWORD' | gatewayctl web password)", errUsage)
	}
	return strings.TrimRight(line, "\r\n"), nil
}

// helpful turns an error of the API's transport into advice.
func helpful(err error, socket string) error {
	var ae *admin.Error
	switch {
	case err == nil:
		return nil
	case errors.As(err, &ae):
		if ae.Status == 404 && strings.Contains(ae.Message, "no such endpoint") {
			return fmt.Errorf("%s: this gatewayd is older than gatewayctl; upgrade the edgegate package", ae.Message)
		}
		return errors.New(ae.Message)
	case strings.Contains(err.Error(), "admin API:"):
		msg := err.Error()
		hint := "is gatewayd running? (systemctl status gatewayd)"
		switch {
		case strings.Contains(msg, "permission denied"):
			hint = "the socket is mode 0600: run gatewayctl as root (sudo) or as the edgegate user"
		case strings.Contains(msg, "no such file"):
			hint = "no socket there: is gatewayd running (systemctl status gatewayd), and is this its data directory? " +
				"Set --socket or $EDGEGATE_SOCKET"
		}
		return fmt.Errorf("cannot reach gatewayd at %s: %s", socket, hint)
	}
	return err
}
