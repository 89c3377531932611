// Command gatewayctl administers a running gatewayd over its local admin
// API (a unix socket, mode 0600, so it runs as gatewayd's user or root).
//
// Usage:
//
//	gatewayctl [-socket PATH] COMMAND [flags] [args]
//
//	status
//	devices list
//	devices show T:M
//	devices add --type T --module M [--secure [--key HEX]] [--tag-len N]
//	            [--max-message-id N] [--profile NAME] [--name NAME]
//	            [--ocs-id ID] [--replace]
//	devices remove T:M
//	sessions
//	readings --device T:M [--last N]
//	command --device T:M [--timeout D] SCRIPT
//	firmware add [--chunk-size N] NAME FILE
//	firmware list
//	firmware remove NAME
//	things [ID]
//	things perform [--test-only] ID ACTION [name=value ...]
//	pair [open [--for D] | close | revoke NAME]
//	ports
//	oco status
//	oco forget-keys --yes
//	josp objects | object ID | services | perms ID
//	josp perms add|update|remove ID [PERM] --srv S --usr U --type T [--conn C]
//	upstream [status]
//	upstream requeue|discard ID|--all
//
// Every command takes --json to print the API's JSON instead of a table.
// The socket defaults to $EDGEGATE_SOCKET, else
// /var/lib/edgegate/gatewayd.sock. A secure device added without --key gets
// a random key, printed once: flash it into the sensor.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/edgegate/edgegate/gateway/admin"
)

var version = "dev"

// DefaultSocket is the admin socket of a packaged gatewayd.
const DefaultSocket = "/var/lib/edgegate/gatewayd.sock"

// errUsage marks a command-line mistake (exit status 2).
var errUsage = errors.New("usage")

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "gatewayctl:", err)
		if errors.Is(err, errUsage) {
			os.Exit(2)
		}
		os.Exit(1)
	}
}

const usage = `usage: gatewayctl [-socket PATH] COMMAND [flags] [args]

commands:
  status                                   the gateway: identity, health, clock, links, store, services
  overview --json                          everything the status page shows, as JSON
  links                                    the OSP links and whether each is up
  errors                                   recent warnings and errors from the gateway's log
  health [--ready]                         liveness (or readiness) checks; exit status 1 when failing
  rates                                    readings per 10 s over the last 10 minutes, per device
  clock                                    the system clock as the gateway judges it
  web password [--remove]                  set the status page's password (asked, or the first line of stdin)
  completion bash|zsh                      a shell completion script
  devices list | show T:M | remove T:M     the device registry
  devices add --type T --module M [--secure [--key HEX]] [--tag-len N]
              [--max-message-id N] [--profile NAME] [--name NAME] [--ocs-id ID] [--replace]
  sessions                                 the OSP sessions
  readings --device T:M [--last N]         a device's latest journaled readings
  command --device T:M [--timeout D] SCRIPT
                                           send a COMMAND, wait for the response
  firmware add [--chunk-size N] NAME FILE | list | remove NAME
  things [ID]                              the hub's things and their state, the steward's paired clients
  things perform [--test-only] ID ACTION [name=value ...]
                                           perform a thing's action (an OSP COMMAND, a native thing's task)
  pair [open [--for D] | close]            the pairing window for native things (and its code)
  pair revoke NAME                         remove a native client's pairing and close its sockets
  ports                                    serial ports with USB VID:PID, serial number, product
  oco status | forget-keys --yes           the OCO agent: server, generation, contact, keys present, jobs
  josp objects | object ID | services | perms ID | perms add|update|remove ...   the JOSP objects
  upstream [status] | requeue ID|--all | discard ID|--all
                                           the OCS forwarder's queue, failures and dead letters

Every command takes --json. The socket defaults to $EDGEGATE_SOCKET or ` + DefaultSocket + `.
`

// cli is one invocation.
type cli struct {
	c      *admin.Client
	out    io.Writer
	asJSON bool
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	return runWith(ctx, args, os.Stdin, stdout, stderr)
}

// runWith is run with stdin given (web password reads it).
func runWith(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("gatewayctl", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, usage) }
	socket := fs.String("socket", envOr("EDGEGATE_SOCKET", DefaultSocket), "gatewayd's admin socket")
	showVersion := fs.Bool("version", false, "print the version and exit")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return fmt.Errorf("%w: %w", errUsage, err)
	}
	if *showVersion {
		fmt.Fprintln(stdout, "gatewayctl", version)
		return nil
	}
	rest := fs.Args()
	if len(rest) == 0 {
		fmt.Fprint(stderr, usage)
		return fmt.Errorf("%w: no command", errUsage)
	}
	c := admin.NewClient(*socket)
	defer c.Close()
	x := &cli{c: c, out: stdout}
	cmd, rest := rest[0], rest[1:]
	sub := ""
	if (cmd == "devices" || cmd == "firmware" || cmd == "upstream") && len(rest) > 0 && !strings.HasPrefix(rest[0], "-") {
		sub, rest = rest[0], rest[1:]
	}
	var err error
	switch cmd + " " + sub {
	case "status ":
		err = x.statusAll(ctx, rest)
	case "overview ":
		err = x.overviewCmd(ctx, rest)
	case "links ":
		err = x.links(ctx, rest)
	case "errors ":
		err = x.errorsCmd(ctx, rest)
	case "health ":
		err = x.health(ctx, rest)
	case "rates ":
		err = x.rates(ctx, rest)
	case "clock ":
		err = x.clock(ctx, rest)
	case "web ":
		err = x.web(ctx, rest, stdin, stderr)
	case "completion ":
		err = completion(rest, stdout)
	case "devices ", "devices list":
		err = x.devicesList(ctx, rest)
	case "devices show":
		err = x.devicesShow(ctx, rest)
	case "devices add":
		err = x.devicesAdd(ctx, rest)
	case "devices remove", "devices rm":
		err = x.devicesRemove(ctx, rest)
	case "sessions ":
		err = x.sessions(ctx, rest)
	case "readings ":
		err = x.readings(ctx, rest)
	case "command ":
		err = x.command(ctx, rest)
	case "firmware add":
		err = x.firmwareAdd(ctx, rest)
	case "firmware ", "firmware list":
		err = x.firmwareList(ctx, rest)
	case "firmware remove", "firmware rm":
		err = x.firmwareRemove(ctx, rest)
	case "things ":
		err = x.thingsCmd(ctx, rest)
	case "pair ", "pairing ":
		err = x.pair(ctx, rest)
	case "ports ":
		err = x.ports(ctx, rest)
	case "oco ":
		err = x.ocoCmd(ctx, rest)
	case "josp ":
		err = x.josp(ctx, rest)
	case "upstream ", "upstream status", "upstream requeue", "upstream discard":
		err = x.upstream(ctx, sub, rest)
	default:
		fmt.Fprint(stderr, usage)
		return fmt.Errorf("%w: unknown command %q", errUsage, strings.TrimSpace(cmd+" "+sub))
	}
	return helpful(err, *socket)
}

func envOr(key, def string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return def
}

// flags returns a flag set with --json bound to x.asJSON.
func (x *cli) flags(name string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.BoolVar(&x.asJSON, "json", false, "print JSON")
	return fs
}

// parse parses args and checks the number of positional arguments.
func parse(fs *flag.FlagSet, args []string, minArgs, maxArgs int, what string) ([]string, error) {
	if err := fs.Parse(args); err != nil {
		return nil, fmt.Errorf("%w: %s: %w", errUsage, fs.Name(), err)
	}
	// Allow flags after positional arguments too ("remove 1:2 --json").
	pos := []string{}
	rest := fs.Args()
	for len(rest) > 0 {
		pos = append(pos, rest[0])
		if err := fs.Parse(rest[1:]); err != nil {
			return nil, fmt.Errorf("%w: %s: %w", errUsage, fs.Name(), err)
		}
		rest = fs.Args()
	}
	if len(pos) < minArgs || len(pos) > maxArgs {
		return nil, fmt.Errorf("%w: %s takes %s", errUsage, fs.Name(), what)
	}
	return pos, nil
}

func (x *cli) printJSON(v any) error {
	enc := json.NewEncoder(x.out)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

func (x *cli) table(header string, rows func(w io.Writer)) {
	tw := tabwriter.NewWriter(x.out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, header)
	rows(tw)
	tw.Flush()
}

func ago(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return time.Since(t).Round(time.Second).String() + " ago"
}

func orJSON(x *cli, v any, err error) error {
	if err != nil {
		return err
	}
	return x.printJSON(v)
}

func (x *cli) devicesList(ctx context.Context, args []string) error {
	if _, err := parse(x.flags("devices list"), args, 0, 0, "no arguments"); err != nil {
		return err
	}
	if x.asJSON {
		list, err := x.c.Devices(ctx)
		return orJSON(x, list, err)
	}
	ov, err := x.overview(ctx)
	if err != nil {
		return err
	}
	x.table("DEVICE\tNAME\tSECURE\tPROFILE\tCONNECTED\tLAST READING\tVALUES\tOCS ID", func(w io.Writer) {
		for _, d := range ov.Devices {
			var vals []string
			for _, p := range d.Properties {
				if !p.Value.IsZero() {
					vals = append(vals, strings.TrimSpace(p.Name+"="+p.Value.String()+" "+p.Unit))
				}
			}
			fmt.Fprintf(w, "%s\t%s\t%v\t%s\t%v\t%s\t%s\t%s\n", d.ID, dash(d.Name), d.Secure, dash(d.Profile), d.Connected,
				ago(d.LastSeen), dash(strings.Join(vals, ", ")), d.OCSDeviceID)
		}
	})
	return nil
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func (x *cli) devicesShow(ctx context.Context, args []string) error {
	pos, err := parse(x.flags("devices show"), args, 1, 1, "one device T:M")
	if err != nil {
		return err
	}
	id, err := admin.ParseDeviceID(pos[0])
	if err != nil {
		return fmt.Errorf("%w: %w", errUsage, err)
	}
	d, err := x.c.Device(ctx, id)
	if err != nil || x.asJSON {
		return orJSON(x, d, err)
	}
	x.printDevice(d)
	return nil
}

func (x *cli) printDevice(d admin.Device) {
	fmt.Fprintf(x.out, "device       %s\n", d.ID)
	fmt.Fprintf(x.out, "name         %s\n", dash(d.Name))
	if d.Secure {
		tag := d.TagLen
		if tag == 0 {
			tag = 8
		}
		fmt.Fprintf(x.out, "security     secure (AES-128 EAX, %d-byte tag)\n", tag)
	} else {
		fmt.Fprintf(x.out, "security     none\n")
	}
	fmt.Fprintf(x.out, "profile      %s\n", dash(d.Profile))
	fmt.Fprintf(x.out, "ocs id       %s\n", d.OCSDeviceID)
	fmt.Fprintf(x.out, "connected    %v\n", d.Connected)
	if d.Key != "" {
		fmt.Fprintf(x.out, "key          %s   (generated: flash it into the sensor; it is not shown again)\n", d.Key)
	}
}

func (x *cli) devicesAdd(ctx context.Context, args []string) error {
	fs := x.flags("devices add")
	typ := fs.Uint("type", 0, "DeviceType (1..65535)")
	mod := fs.Uint64("module", 0, "ModuleID")
	var spec admin.DeviceSpec
	fs.BoolVar(&spec.Secure, "secure", false, "secure sessions (AES-128 EAX)")
	fs.StringVar(&spec.Key, "key", "", "AES-128 key, 32 hex digits (generated when omitted)")
	fs.IntVar(&spec.TagLen, "tag-len", 0, "EAX tag length 4..16 (default 8)")
	maxID := fs.Uint("max-message-id", 0, "largest MessageID before it wraps (default 255)")
	fs.StringVar(&spec.Profile, "profile", "", "device profile")
	fs.StringVar(&spec.Name, "name", "", "a name")
	fs.StringVar(&spec.OCSDeviceID, "ocs-id", "", "the device's OCS deviceId (default: derived)")
	fs.BoolVar(&spec.Replace, "replace", false, "replace an existing device")
	if _, err := parse(fs, args, 0, 0, "flags only"); err != nil {
		return err
	}
	if *typ == 0 || *typ > 65535 || *mod > 1<<32-1 {
		return fmt.Errorf("%w: devices add needs --type 1..65535 and --module 0..4294967295", errUsage)
	}
	if *maxID > 255 {
		return fmt.Errorf("%w: --max-message-id must be 0..255", errUsage)
	}
	spec.ID = admin.DeviceID{Type: uint16(*typ), Module: uint32(*mod)}
	spec.MaxMessageID = uint8(*maxID)
	d, err := x.c.AddDevice(ctx, spec)
	if err != nil || x.asJSON {
		return orJSON(x, d, err)
	}
	x.printDevice(d)
	return nil
}

func (x *cli) devicesRemove(ctx context.Context, args []string) error {
	pos, err := parse(x.flags("devices remove"), args, 1, 1, "one device T:M")
	if err != nil {
		return err
	}
	id, err := admin.ParseDeviceID(pos[0])
	if err != nil {
		return fmt.Errorf("%w: %w", errUsage, err)
	}
	if err := x.c.RemoveDevice(ctx, id); err != nil {
		return err
	}
	if x.asJSON {
		return x.printJSON(map[string]string{"removed": id.String()})
	}
	fmt.Fprintf(x.out, "removed %s\n", id)
	return nil
}

func (x *cli) sessions(ctx context.Context, args []string) error {
	if _, err := parse(x.flags("sessions"), args, 0, 0, "no arguments"); err != nil {
		return err
	}
	list, err := x.c.Sessions(ctx)
	if err != nil || x.asJSON {
		return orJSON(x, list, err)
	}
	x.table("DEVICE\tSID\tSTATE\tSECURE\tLINK\tOPENED\tLAST PACKET", func(w io.Writer) {
		for _, s := range list {
			fmt.Fprintf(w, "%s\t%d\t%s\t%v\t%s\t%s\t%s\n", s.Device, s.SID, s.State, s.Secure, dash(s.Link), ago(s.Opened), ago(s.LastRecv))
		}
	})
	return nil
}

func deviceFlag(fs *flag.FlagSet) *string { return fs.String("device", "", "the device, T:M") }

func (x *cli) readings(ctx context.Context, args []string) error {
	fs := x.flags("readings")
	dev := deviceFlag(fs)
	last := fs.Int("last", 10, "how many of the latest readings")
	if _, err := parse(fs, args, 0, 0, "--device T:M [--last N]"); err != nil {
		return err
	}
	id, err := admin.ParseDeviceID(*dev)
	if err != nil {
		return fmt.Errorf("%w: readings --device: %w", errUsage, err)
	}
	if *last < 1 {
		return fmt.Errorf("%w: --last must be positive", errUsage)
	}
	list, err := x.c.LastReadings(ctx, id, *last)
	if err != nil || x.asJSON {
		return orJSON(x, list, err)
	}
	x.table("SEQ\tTIME\tMSGID\tDATATYPE\tFLAGS\tPAYLOAD\tVALUES", func(w io.Writer) {
		for _, r := range list {
			flags := ""
			if r.AckReq {
				flags += "A"
			}
			if r.Cached {
				flags += "C"
			}
			if r.Authenticated {
				flags += "E"
			}
			vals := make([]string, len(r.Values))
			for i, v := range r.Values {
				vals[i] = v.String()
			}
			fmt.Fprintf(w, "%d\t%s\t%d\t%d\t%s\t%x\t%s\n", r.Seq, r.Time.Local().Format("2006-01-02 15:04:05.000"),
				r.MessageID, r.DataType, dash(flags), []byte(r.Payload), strings.Join(vals, " "))
		}
	})
	return nil
}

func (x *cli) command(ctx context.Context, args []string) error {
	fs := x.flags("command")
	dev := deviceFlag(fs)
	timeout := fs.Duration("timeout", 0, "how long to wait for the response (default: the gateway's command timeout)")
	pos, err := parse(fs, args, 1, 1, "--device T:M SCRIPT (quote a script with spaces)")
	if err != nil {
		return err
	}
	id, err := admin.ParseDeviceID(*dev)
	if err != nil {
		return fmt.Errorf("%w: command --device: %w", errUsage, err)
	}
	res, err := x.c.Command(ctx, id, admin.CommandRequest{Script: pos[0], TimeoutMS: int(timeout.Milliseconds())})
	if err != nil || x.asJSON {
		return orJSON(x, res, err)
	}
	if res.Busy {
		fmt.Fprintf(x.out, "device %s is busy (COMMAND %d not run)\n", id, res.ID)
		return nil
	}
	fmt.Fprintf(x.out, "exit code: %d\n", res.ExitCode)
	fmt.Fprintf(x.out, "response: %s\n", printable(res.Response))
	return nil
}

// printable returns b as text when it is printable UTF-8, else as hex.
func printable(b []byte) string {
	if utf8.Valid(b) && strings.IndexFunc(string(b), func(r rune) bool { return unicode.IsControl(r) && r != '\n' && r != '\t' }) < 0 {
		return strconv.Quote(string(b))
	}
	return fmt.Sprintf("%x (hex)", b)
}

func (x *cli) firmwareAdd(ctx context.Context, args []string) error {
	fs := x.flags("firmware add")
	chunk := fs.Int("chunk-size", 0, "bytes per chunk (default: the gateway's firmware_chunk_size)")
	pos, err := parse(fs, args, 2, 2, "NAME FILE")
	if err != nil {
		return err
	}
	data, err := os.ReadFile(pos[1])
	if err != nil {
		return err
	}
	fw, err := x.c.PutFirmware(ctx, pos[0], *chunk, data)
	if err != nil || x.asJSON {
		return orJSON(x, fw, err)
	}
	fmt.Fprintf(x.out, "firmware %s: %d bytes in %d chunks of %d, sha256 %s\n", fw.Name, fw.Size, fw.Chunks, fw.ChunkSize, fw.SHA256)
	return nil
}

func (x *cli) firmwareList(ctx context.Context, args []string) error {
	if _, err := parse(x.flags("firmware list"), args, 0, 0, "no arguments"); err != nil {
		return err
	}
	list, err := x.c.Firmware(ctx)
	if err != nil || x.asJSON {
		return orJSON(x, list, err)
	}
	x.table("NAME\tSIZE\tCHUNK SIZE\tCHUNKS\tSHA256\tADDED", func(w io.Writer) {
		for _, f := range list {
			fmt.Fprintf(w, "%s\t%d\t%d\t%d\t%s\t%s\n", f.Name, f.Size, f.ChunkSize, f.Chunks, f.SHA256, f.Added.Local().Format(time.DateTime))
		}
	})
	return nil
}

func (x *cli) firmwareRemove(ctx context.Context, args []string) error {
	pos, err := parse(x.flags("firmware remove"), args, 1, 1, "NAME")
	if err != nil {
		return err
	}
	if err := x.c.DeleteFirmware(ctx, pos[0]); err != nil {
		return err
	}
	if x.asJSON {
		return x.printJSON(map[string]string{"removed": pos[0]})
	}
	fmt.Fprintf(x.out, "removed firmware %s\n", pos[0])
	return nil
}

func (x *cli) things(ctx context.Context, args []string) error {
	pos, err := parse(x.flags("things"), args, 0, 1, "at most one thing ID")
	if err != nil {
		return err
	}
	if len(pos) == 1 {
		t, err := x.c.Thing(ctx, pos[0])
		if err != nil || x.asJSON {
			return orJSON(x, t, err)
		}
		fmt.Fprintf(x.out, "thing        %s (%s) %s\n", t.ID, t.Kind, t.Name)
		fmt.Fprintf(x.out, "present      %v, last seen %s\n", t.Present, ago(t.LastSeen))
		x.table("PROPERTY\tVALUE\tUNIT\tUPDATED", func(w io.Writer) {
			for _, p := range t.Properties {
				v := "-"
				if !p.Value.IsZero() {
					v = p.Value.String()
				}
				fmt.Fprintf(w, "%s\t%s\t%s\t%s\n", p.Name, v, dash(p.Unit), ago(p.Updated))
			}
		})
		for _, a := range t.Actions {
			fmt.Fprintf(x.out, "action       %s %s\n", a.Name, strings.Join(a.Params, " "))
		}
		return nil
	}
	list, err := x.c.Things(ctx)
	if err != nil || x.asJSON {
		return orJSON(x, list, err)
	}
	x.table("THING\tKIND\tNAME\tPRESENT\tLAST SEEN\tVALUES", func(w io.Writer) {
		for _, t := range list {
			var vals []string
			for _, p := range t.Properties {
				if !p.Value.IsZero() {
					s := p.Name + "=" + p.Value.String()
					if p.Unit != "" {
						s += " " + p.Unit
					}
					vals = append(vals, s)
				}
			}
			fmt.Fprintf(w, "%s\t%s\t%s\t%v\t%s\t%s\n", t.ID, t.Kind, dash(t.Name), t.Present, ago(t.LastSeen), strings.Join(vals, ", "))
		}
	})
	return nil
}

func (x *cli) ports(ctx context.Context, args []string) error {
	if _, err := parse(x.flags("ports"), args, 0, 0, "no arguments"); err != nil {
		return err
	}
	list, err := x.c.Ports(ctx)
	if err != nil || x.asJSON {
		return orJSON(x, list, err)
	}
	x.table("PORT\tUSB\tSERIAL\tPRODUCT\tLINK", func(w io.Writer) {
		for _, p := range list {
			usb := "-"
			if p.USB {
				usb = p.VID + ":" + p.PID
			}
			fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\n", p.Name, usb, dash(p.SerialNumber), dash(strings.TrimSpace(p.Manufacturer+" "+p.Product)), dash(p.Link))
		}
	})
	return nil
}
