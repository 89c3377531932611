// Command ospsim simulates OSP sensors: it opens N client sessions over UDP
// against a gateway, sends DATA at a given rate with a share of AckReq
// packets, answers COMMAND and RESEND as a real client does (from its
// cache), can drop a share of its own packets to exercise RESEND and
// retransmission, and prints what it measured.
//
// Usage:
//
//	ospsim -gateway 127.0.0.1:4700 -n 10 -count 100 [-secure -key HEX] [-type 1 -module 1000]
package main

import (
	"context"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"os/signal"
	"slices"
	"sync"
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
	rate       float64
	secure     bool
	key        []byte
	devType    uint
	module     uint
	dataType   uint
	payload    int
	ackShare   float64
	loss       float64
	wait       time.Duration
	answerCmds bool
}

func run(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("ospsim", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var o options
	var keyHex string
	fs.StringVar(&o.gateway, "gateway", "127.0.0.1:4700", "gateway OSP UDP address")
	fs.IntVar(&o.n, "n", 1, "number of simulated sensors")
	fs.IntVar(&o.count, "count", 10, "DATA packets per sensor")
	fs.Float64Var(&o.rate, "rate", 10, "DATA packets per second per sensor (0: as fast as ACKs allow)")
	fs.BoolVar(&o.secure, "secure", false, "secure sessions (AES-128 EAX)")
	fs.StringVar(&keyHex, "key", "", "AES-128 key of the secure sensors, 32 hex digits")
	fs.UintVar(&o.devType, "type", 1, "DeviceType of the sensors")
	fs.UintVar(&o.module, "module", 1, "ModuleID of the first sensor; the others follow")
	fs.UintVar(&o.dataType, "datatype", 10, "DataType of the DATA packets")
	fs.IntVar(&o.payload, "payload", 32, "payload bytes per DATA packet")
	fs.Float64Var(&o.ackShare, "ack", 1, "share of DATA packets with AckReq (0..1)")
	fs.Float64Var(&o.loss, "loss", 0, "share of the sensors' own packets dropped before sending (0..1)")
	fs.DurationVar(&o.wait, "wait", 10*time.Second, "how long to wait for outstanding ACKs at the end")
	fs.BoolVar(&o.answerCmds, "answer", true, "answer COMMANDs with exit code 1 and the script echoed")
	showVersion := fs.Bool("version", false, "print the version and exit")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *showVersion {
		fmt.Fprintln(stdout, "ospsim", version)
		return nil
	}
	if o.secure {
		k, err := hex.DecodeString(keyHex)
		if err != nil || len(k) != osp.KeyLen {
			return errors.New("-key must be 32 hex digits with -secure")
		}
		o.key = k
	}
	if o.n < 1 || o.payload < 0 || o.ackShare < 0 || o.ackShare > 1 || o.loss < 0 || o.loss >= 1 {
		return errors.New("invalid -n, -payload, -ack or -loss")
	}
	gw, err := net.ResolveUDPAddr("udp", o.gateway)
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	res := simulate(ctx, gw, o)
	res.print(stdout)
	if res.sessions < o.n {
		return fmt.Errorf("%d of %d sessions established", res.sessions, o.n)
	}
	return nil
}

type result struct {
	mu        sync.Mutex
	sessions  int
	sent      int
	ackReq    int
	acked     int
	commands  int
	resends   int
	latencies []time.Duration
	elapsed   time.Duration
	failures  []string
}

func (r *result) print(w io.Writer) {
	slices.Sort(r.latencies)
	pct := func(p float64) time.Duration {
		if len(r.latencies) == 0 {
			return 0
		}
		return r.latencies[min(len(r.latencies)-1, int(p*float64(len(r.latencies))))]
	}
	fmt.Fprintf(w, "sessions established: %d\n", r.sessions)
	fmt.Fprintf(w, "DATA sent: %d (%d with AckReq)\n", r.sent, r.ackReq)
	fmt.Fprintf(w, "ACKs received: %d\n", r.acked)
	fmt.Fprintf(w, "RESENDs answered: %d, COMMANDs answered: %d\n", r.resends, r.commands)
	if r.elapsed > 0 {
		fmt.Fprintf(w, "throughput: %.0f DATA/s\n", float64(r.sent)/r.elapsed.Seconds())
	}
	fmt.Fprintf(w, "ack latency: p50 %v p99 %v max %v\n", pct(0.50), pct(0.99), pct(1))
	fmt.Fprintf(w, "unacknowledged at the end: %d\n", r.ackReq-r.acked)
	for _, f := range r.failures {
		fmt.Fprintln(w, "failure:", f)
	}
}

// sensor is one simulated device on its own UDP socket.
type sensor struct {
	conn *net.UDPConn
	cl   *osp.Client
	loss float64
	rng  *rand.Rand
	mu   sync.Mutex

	sentAt map[uint64]time.Time // by sequence number in the payload
	acked  chan struct{}
	opened chan struct{}
}

func (s *sensor) Send(pkt []byte) error {
	if s.loss > 0 {
		s.mu.Lock()
		drop := s.rng.Float64() < s.loss
		s.mu.Unlock()
		if drop {
			return nil
		}
	}
	_, err := s.conn.Write(pkt)
	return err
}

func simulate(ctx context.Context, gw *net.UDPAddr, o options) *result {
	res := &result{}
	var wg sync.WaitGroup
	start := time.Now()
	for i := range o.n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := runSensor(ctx, gw, o, i, res); err != nil {
				res.mu.Lock()
				res.failures = append(res.failures, fmt.Sprintf("sensor %d: %v", i, err))
				res.mu.Unlock()
			}
		}()
	}
	wg.Wait()
	res.elapsed = time.Since(start)
	return res
}

func runSensor(ctx context.Context, gw *net.UDPAddr, o options, i int, res *result) error {
	conn, err := net.DialUDP("udp", nil, gw)
	if err != nil {
		return err
	}
	defer conn.Close()
	s := &sensor{conn: conn, loss: o.loss, rng: rand.New(rand.NewPCG(uint64(i), 7)),
		sentAt: map[uint64]time.Time{}, acked: make(chan struct{}, 1), opened: make(chan struct{}, 1)}
	sec := osp.Security{Secure: o.secure, Key: o.key}
	dev := osp.DeviceID{Type: uint16(o.devType), Module: uint32(o.module) + uint32(i)}
	s.cl, err = osp.NewClient(osp.ClientConfig{Device: dev, Security: sec, Peer: s, AckTimeout: time.Second,
		OnEvent: func(e osp.ClientEvent) { s.event(e, o, res) }})
	if err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() { <-ctx.Done(); conn.Close() }()
	go func() {
		buf := make([]byte, osp.MaxPacketSize)
		for {
			n, err := conn.Read(buf)
			if err != nil {
				return
			}
			s.cl.Handle(buf[:n])
		}
	}()
	go func() {
		t := time.NewTicker(100 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				s.cl.Tick()
			}
		}
	}()
	for attempt := 0; !s.cl.Open(); attempt++ {
		if attempt == 5 || ctx.Err() != nil {
			return errors.New("no session")
		}
		s.cl.Connect()
		select {
		case <-s.opened:
		case <-time.After(2 * time.Second):
		case <-ctx.Done():
		}
	}
	res.mu.Lock()
	res.sessions++
	res.mu.Unlock()

	var tick <-chan time.Time
	if o.rate > 0 {
		t := time.NewTicker(time.Duration(float64(time.Second) / o.rate))
		defer t.Stop()
		tick = t.C
	}
	payload := make([]byte, max(o.payload, 8))
	for seq := uint64(0); seq < uint64(o.count); {
		if tick != nil {
			select {
			case <-tick:
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		binary.BigEndian.PutUint64(payload, seq)
		var flags osp.Flags
		if float64(seq%1000)/1000 < o.ackShare {
			flags = osp.FlagAckReq
		}
		s.mu.Lock()
		s.sentAt[seq] = time.Now()
		s.mu.Unlock()
		if _, err := s.cl.SendData(uint16(o.dataType), payload[:max(o.payload, 8)], flags); err != nil {
			if errors.Is(err, osp.ErrCacheFull) {
				select { // every cache slot awaits an ACK: wait for one
				case <-s.acked:
				case <-time.After(time.Second):
				case <-ctx.Done():
					return ctx.Err()
				}
				continue
			}
			return err
		}
		res.mu.Lock()
		res.sent++
		if flags != 0 {
			res.ackReq++
		}
		res.mu.Unlock()
		seq++
	}
	deadline := time.Now().Add(o.wait)
	for len(s.cl.Unacked()) > 0 && time.Now().Before(deadline) && ctx.Err() == nil {
		time.Sleep(10 * time.Millisecond)
	}
	return s.cl.Close()
}

func (s *sensor) event(e osp.ClientEvent, o options, res *result) {
	switch e.Kind {
	case osp.ClientOpened:
		select {
		case s.opened <- struct{}{}:
		default:
		}
	case osp.ClientAcked:
		if len(e.Payload) >= 8 {
			seq := binary.BigEndian.Uint64(e.Payload)
			s.mu.Lock()
			at, ok := s.sentAt[seq]
			delete(s.sentAt, seq)
			s.mu.Unlock()
			res.mu.Lock()
			res.acked++
			if ok {
				res.latencies = append(res.latencies, time.Since(at))
			}
			res.mu.Unlock()
		}
		select {
		case s.acked <- struct{}{}:
		default:
		}
	case osp.ClientResendRequested:
		res.mu.Lock()
		res.resends++
		res.mu.Unlock()
	case osp.ClientCommand:
		res.mu.Lock()
		res.commands++
		res.mu.Unlock()
		if o.answerCmds {
			s.cl.RespondCommand(e.Command.ID, osp.ExitSuccess, e.Command.Script)
		}
	}
}
