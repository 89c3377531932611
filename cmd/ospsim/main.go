// Command ospsim simulates OSP sensors: it opens N client sessions over UDP
// against a gateway, sends DATA at a given rate with a share of AckReq
// packets, answers COMMAND and RESEND as a real client does (from its
// cache), can drop a share of its own packets to exercise RESEND and
// retransmission, and prints what it measured.
//
// Usage:
//
//	ospsim -gateway 127.0.0.1:4700 -n 10 -count 100 [-secure -key HEX] [-type 1 -module 1000]
//
// With -admin (gatewayd's admin socket) it can provision the simulated
// sensors first (-provision), check afterwards that every acknowledged
// reading is in the journal (-verify), and reports the store's fsyncs per
// reading. A sensor whose session goes silent reconnects, so a run survives
// a gateway restart. -pause exercises dormant sessions, -hold keeps idle
// sessions open (a session-count test), -echo measures a UDP echo server
// with the same traffic shape instead (the benchmark's baseline), and -json
// ends the output with one machine-readable line.
//
// # Serial lines
//
// With -serial PATH (a tty, opened at -baud) or -pty, all the sensors share
// one serial line instead of UDP, as sensors behind a transparent LoRa UART
// or on an RS-485 bus do; OSP packets delimit themselves by PacketSize. -pty
// creates a pseudo-terminal pair, talks on its master and prints the slave's
// path on stderr ("serial: /dev/pts/N") for gatewayd's [[osp.serial]] path.
// -pty-link PATH also keeps a symbolic link at PATH to the current slave and
// prints PATH instead: gatewayd can be configured (and started) before ospsim,
// since its serial link retries a path that is not there yet, and a new pair
// after a hangup is found under the same name, as udev's /dev/serial/by-id
// links find a replugged adapter.
//
//	ospsim -pty -pty-link /tmp/ttyOSP -n 3 -secure -key HEX -count 300 -garbage 0.05 -split
//
// Faults on the line: -garbage P writes 1 to 16 random bytes before a packet
// with probability P; -split writes every packet in two or three pieces 1 ms
// apart; -burst N writes N packets back to back in one write (a packet waits
// at most 5 ms for the others); -line-rate B paces the writes to B bytes per
// second (a pty has no baud rate: 11520 is 115200 baud 8N1); -hangup-after D
// closes the line D after it opened, and again D after every reopen. A pty is
// hung up by closing its master (gatewayd reads EIO on the slave), and a new
// pair takes its place at once under -pty-link (so -hangup-after needs
// -pty-link with -pty); a -serial port is closed and reopened with backoff.
// The gateway's link reopens the port itself. Handshakes on a line take turns
// (see line.go). Everything else (-count, -rate, -window, -secure, -admin
// -verify, -json) works as over UDP.
//
// The files: sim.go runs the sensors, line.go is the serial line, admin.go
// provisions and verifies, echo.go is the baseline mode, report.go prints the
// results.
package main

import (
	"context"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/edgegate/edgegate/gateway/osp"
)

var version = "dev"

func main() {
	if err := run(os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "ospsim:", err)
		os.Exit(1)
	}
}

type options struct {
	gateway    string
	n          int
	count      int
	duration   time.Duration
	rate       float64
	window     int
	secure     bool
	key        []byte
	devType    uint
	module     uint
	dataTypes  []uint16
	payload    int
	ackShare   float64
	loss       float64
	wait       time.Duration
	answerCmds bool

	pauseEvery int
	pause      time.Duration
	hold       time.Duration
	silence    time.Duration
	handshakes int

	ackTimeout       time.Duration
	handshakeTimeout time.Duration

	admin     string
	provision bool
	verify    bool
	echo      string
	echoRate  float64 // -rate when given with -echo: a paced baseline
	json      bool

	// The line mode (line.go).
	serial      string
	baud        int
	pty         bool
	ptyLink     string
	garbage     float64
	split       bool
	burst       int
	lineRate    int
	hangupAfter time.Duration

	// progress receives progress lines (stderr in the command).
	progress io.Writer
}

// defaults returns the options of a command line without flags.
func defaults() options {
	return options{gateway: "127.0.0.1:4700", n: 1, count: 10, rate: 10, devType: 1, module: 1,
		dataTypes: []uint16{10}, payload: 32, ackShare: 1, wait: 10 * time.Second, answerCmds: true,
		silence: 3 * time.Second, handshakes: 64, ackTimeout: time.Second, handshakeTimeout: 2 * time.Second,
		baud: 115200, progress: io.Discard}
}

func run(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("ospsim", flag.ContinueOnError)
	fs.SetOutput(stderr)
	o := defaults()
	var keyHex, dataTypes string
	var dataType uint
	fs.StringVar(&o.gateway, "gateway", o.gateway, "gateway OSP UDP address")
	fs.IntVar(&o.n, "n", o.n, "number of simulated sensors")
	fs.IntVar(&o.count, "count", o.count, "DATA packets per sensor (0: only open the sessions)")
	fs.DurationVar(&o.duration, "duration", 0, "stop sending after this long even if -count is not reached (0: no limit)")
	fs.Float64Var(&o.rate, "rate", o.rate, "DATA packets per second per sensor (0: as fast as ACKs allow); with -echo, requests per second per worker (not given: the maximum)")
	fs.IntVar(&o.window, "window", 0, "AckReq DATA packets a sensor may have unacknowledged (0: its cache, 256)")
	fs.BoolVar(&o.secure, "secure", false, "secure sessions (AES-128 EAX)")
	fs.StringVar(&keyHex, "key", "", "AES-128 key of the secure sensors, 32 hex digits")
	fs.UintVar(&o.devType, "type", o.devType, "DeviceType of the sensors")
	fs.UintVar(&o.module, "module", o.module, "ModuleID of the first sensor; the others follow")
	fs.UintVar(&dataType, "datatype", 10, "DataType of the DATA packets")
	fs.StringVar(&dataTypes, "datatypes", "", "DataTypes used round-robin, comma-separated (overrides -datatype)")
	fs.IntVar(&o.payload, "payload", o.payload, "payload bytes per DATA packet; from 8 on it starts with a 64-bit counter")
	fs.Float64Var(&o.ackShare, "ack", o.ackShare, "share of DATA packets with AckReq (0..1)")
	fs.Float64Var(&o.loss, "loss", 0, "share of the sensors' own packets dropped before sending (0..1)")
	fs.DurationVar(&o.wait, "wait", o.wait, "how long to wait for outstanding ACKs at the end")
	fs.BoolVar(&o.answerCmds, "answer", o.answerCmds, "answer COMMANDs with exit code 1 and the script echoed")
	fs.IntVar(&o.pauseEvery, "pause-every", 0, "pause the session after every N DATA packets (with -pause)")
	fs.DurationVar(&o.pause, "pause", 0, "how long a paused session stays silent before its next DATA resumes it")
	fs.DurationVar(&o.hold, "hold", 0, "keep every session open this long after sending, then close")
	fs.DurationVar(&o.silence, "silence", o.silence, "reconnect when unacknowledged DATA has waited this long with no packet from the gateway")
	fs.IntVar(&o.handshakes, "handshakes", o.handshakes, "handshakes in flight at once while opening the sessions (more can overflow the gateway's socket buffer)")
	fs.DurationVar(&o.ackTimeout, "ack-timeout", o.ackTimeout, "retransmit unacknowledged DATA after this long")
	fs.DurationVar(&o.handshakeTimeout, "handshake-timeout", o.handshakeTimeout, "give up a handshake step after this long and retry")
	fs.StringVar(&o.admin, "admin", "", "gatewayd's admin socket, for -provision, -verify and the store's counters")
	fs.BoolVar(&o.provision, "provision", false, "add every simulated sensor through the admin API first (needs -admin)")
	fs.BoolVar(&o.verify, "verify", false, "check that every acknowledged reading is in the journal (needs -admin)")
	fs.StringVar(&o.echo, "echo", "", "baseline: drive the UDP echo server at this address instead of a gateway")
	fs.BoolVar(&o.json, "json", false, "end the output with the result as one JSON line")
	fs.StringVar(&o.serial, "serial", "", "run all sensors over this serial line (a tty) instead of UDP")
	fs.IntVar(&o.baud, "baud", o.baud, "speed of the -serial line")
	fs.BoolVar(&o.pty, "pty", false, "run all sensors over a new pseudo-terminal; prints the slave's path (\"serial: PATH\") on stderr")
	fs.StringVar(&o.ptyLink, "pty-link", "", "with -pty: keep a symbolic link at this path to the current slave (configure gatewayd with it)")
	fs.Float64Var(&o.garbage, "garbage", 0, "line: probability per packet of writing random garbage bytes before it (0..1)")
	fs.BoolVar(&o.split, "split", false, "line: write every packet in 2 or 3 pieces with a short pause between them")
	fs.IntVar(&o.burst, "burst", 0, "line: write N packets back to back in one write (0: one packet per write)")
	fs.IntVar(&o.lineRate, "line-rate", 0, "line: pace the writes to this many bytes per second (11520: 115200 baud 8N1; 0: no pacing)")
	fs.DurationVar(&o.hangupAfter, "hangup-after", 0, "line: hang the line up this long after it opened, and again after every reopen")
	cpuProfile := fs.String("cpuprofile", "", "write ospsim's own CPU profile to this file (go tool pprof)")
	showVersion := fs.Bool("version", false, "print the version and exit")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return err
	}
	if *showVersion {
		fmt.Fprintln(stdout, "ospsim", version)
		return nil
	}
	fs.Visit(func(f *flag.Flag) {
		if f.Name == "rate" {
			o.echoRate = o.rate // the echo is a maximum unless -rate says otherwise
		}
	})
	o.progress = stderr
	if o.secure {
		k, err := hex.DecodeString(keyHex)
		if err != nil || len(k) != osp.KeyLen {
			return errors.New("-key must be 32 hex digits with -secure")
		}
		o.key = k
	}
	o.dataTypes = []uint16{uint16(dataType)}
	if dataTypes != "" {
		dts, err := parseDataTypes(dataTypes)
		if err != nil {
			return err
		}
		o.dataTypes = dts
	}
	if err := o.check(); err != nil {
		return err
	}
	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if o.echo != "" {
		addr, err := net.ResolveUDPAddr("udp", o.echo)
		if err != nil {
			return err
		}
		res, err := runEcho(ctx, addr, o)
		if err != nil {
			return err
		}
		res.print(stdout, o.json)
		if res.echoed == 0 {
			return errors.New("no echo received")
		}
		return nil
	}
	var to target
	if o.lineMode() {
		ln, err := openLine(&o)
		if err != nil {
			return err
		}
		to.line = ln
		if w := o.lineWarning(); w != "" {
			fmt.Fprintln(stderr, "ospsim: warning:", w)
		}
	} else {
		gw, err := net.ResolveUDPAddr("udp", o.gateway)
		if err != nil {
			return err
		}
		to.udp = gw
	}
	res, err := runOSP(ctx, to, o)
	if res != nil {
		res.print(stdout, o)
	}
	if err != nil {
		return err
	}
	switch {
	case res.sessions < o.n:
		return fmt.Errorf("%d of %d sessions established", res.sessions, o.n)
	case o.verify && res.lost > 0:
		return fmt.Errorf("%d acknowledged readings are not in the journal", res.lost)
	}
	return nil
}

// check validates the option values and their combinations.
func (o *options) check() error {
	switch {
	case o.n < 1 || o.count < 0 || o.payload < 0 || o.rate < 0 || o.window < 0:
		return errors.New("invalid -n, -count, -payload, -rate or -window")
	case o.ackShare < 0 || o.ackShare > 1 || o.loss < 0 || o.loss >= 1:
		return errors.New("-ack must be 0..1 and -loss 0..1 (excluded)")
	case o.payload+3+osp.DefaultTagLen+osp.MaxHeaderLen > osp.MaxPacketSize:
		return fmt.Errorf("-payload %d does not fit an OSP packet", o.payload)
	case slices.Contains(o.dataTypes, 0):
		return errors.New("DataType 0 is the resend stub: use 1..65535")
	case o.pauseEvery < 0 || (o.pauseEvery > 0) != (o.pause > 0):
		return errors.New("-pause and -pause-every go together")
	case o.handshakes < 1 || o.silence <= 0 || o.ackTimeout <= 0 || o.handshakeTimeout <= 0:
		return errors.New("invalid -handshakes, -silence, -ack-timeout or -handshake-timeout")
	case (o.provision || o.verify) && o.admin == "":
		return errors.New("-provision and -verify need -admin")
	case o.verify && o.payload < 8:
		return errors.New("-verify needs -payload 8 or more: the reading's counter identifies it")
	case o.echo != "" && (o.admin != "" || o.pauseEvery > 0 || o.hold > 0):
		return errors.New("-echo does not combine with -admin, -pause or -hold")
	}
	return o.checkLine()
}

// lineWarning warns when the sensors' windows of unacknowledged DATA take
// longer to cross the line than the ACK timeout: the sensors would then
// retransmit packets still waiting for the line, which adds to the wait (a
// congestion collapse). UDP has no such queue; a line paced by -line-rate or
// slowed by -split has.
func (o *options) lineWarning() string {
	per := time.Duration(0) // line time of one DATA packet
	if o.lineRate > 0 {
		per += time.Duration(echoPacketSize(o.payload)) * time.Second / time.Duration(o.lineRate)
	}
	if o.split {
		per += 3 * splitPause / 2
	}
	window := o.window
	if window == 0 {
		window = 256
	}
	if per == 0 || o.ackShare == 0 || (o.rate > 0 && float64(o.n)*o.rate*per.Seconds() < 0.8) {
		return "" // a line that is not full has no queue
	}
	if queue := time.Duration(o.n*window) * per; queue > o.ackTimeout {
		return fmt.Sprintf("%d sensors × -window %d packets take about %v on the line, more than -ack-timeout %v: "+
			"sensors will retransmit packets still waiting for the line; lower -window or raise -ack-timeout",
			o.n, window, queue.Round(time.Millisecond), o.ackTimeout)
	}
	return ""
}

// lineMode reports whether the sensors share a serial line.
func (o *options) lineMode() bool { return o.serial != "" || o.pty }

// checkLine validates the line options.
func (o *options) checkLine() error {
	faults := o.garbage != 0 || o.split || o.burst != 0 || o.lineRate != 0 || o.hangupAfter != 0 || o.ptyLink != ""
	switch {
	case o.serial != "" && o.pty:
		return errors.New("-serial and -pty exclude each other")
	case !o.lineMode() && faults:
		return errors.New("-garbage, -split, -burst, -line-rate, -hangup-after and -pty-link need -serial or -pty")
	case o.lineMode() && o.echo != "":
		return errors.New("-echo is UDP only")
	case o.ptyLink != "" && !o.pty:
		return errors.New("-pty-link goes with -pty")
	case o.garbage < 0 || o.garbage > 1:
		return errors.New("-garbage must be 0..1")
	case o.burst < 0 || o.lineRate < 0 || o.hangupAfter < 0 || o.baud <= 0:
		return errors.New("invalid -burst, -line-rate, -hangup-after or -baud")
	case o.pty && o.hangupAfter > 0 && o.ptyLink == "":
		return errors.New("-hangup-after with -pty needs -pty-link: every new pair has a new slave path")
	}
	return nil
}

// parseDataTypes parses "10,11": DataTypes 1..65535 (0 is the resend stub).
func parseDataTypes(s string) ([]uint16, error) {
	var dts []uint16
	for f := range strings.SplitSeq(s, ",") {
		v, err := strconv.ParseUint(strings.TrimSpace(f), 0, 16)
		if err != nil || v == 0 {
			return nil, fmt.Errorf("-datatypes: %q is not a DataType 1..65535", f)
		}
		dts = append(dts, uint16(v))
	}
	return dts, nil
}
