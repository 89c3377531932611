package main

import (
	"context"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/edgegate/edgegate/drivers/udp"
	"github.com/edgegate/edgegate/gateway/admin"
	"github.com/edgegate/edgegate/gateway/osp"
	"github.com/edgegate/edgegate/gateway/things"
)

// testGateway is a small gateway for the tests: the real OSP engine behind a
// real UDP link, a journal in memory that outlives restarts (as the bbolt
// file does), and the real admin API on a unix socket. With dropEvery set it
// acknowledges every reading but does not store those whose counter is
// dropEvery-1 modulo dropEvery (retransmissions included): a broken gateway
// that -verify must catch.
type testGateway struct {
	t         *testing.T
	sock      string
	dropEvery int

	mu      sync.Mutex
	devices map[osp.DeviceID]osp.Security
	journal []admin.Reading
	appends uint64
	events  map[osp.EventKind]int
	started time.Time

	addr *net.UDPAddr
	stop context.CancelFunc // the OSP server
	done chan struct{}
}

var _ admin.Backend = (*testGateway)(nil)

func newTestGateway(t *testing.T, dropEvery int) *testGateway {
	t.Helper()
	return newTestGatewayOn(t, dropEvery, func(g *testGateway) { g.start("127.0.0.1:0") })
}

// newTestGatewayOn is newTestGateway with the OSP server's link started by
// start (which calls g.serve).
func newTestGatewayOn(t *testing.T, dropEvery int, start func(*testGateway)) *testGateway {
	t.Helper()
	dir, err := os.MkdirTemp("", "ospsim") // short: a unix socket path is limited to 108 bytes
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	g := &testGateway{t: t, sock: filepath.Join(dir, "admin.sock"), dropEvery: dropEvery,
		devices: map[osp.DeviceID]osp.Security{}, events: map[osp.EventKind]int{}}
	start(g)
	ln, err := admin.ListenUnix(g.sock)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan struct{})
	go func() {
		defer close(served)
		_ = admin.NewServer(g, nil).Serve(ctx, ln)
	}()
	t.Cleanup(func() {
		cancel()
		<-served
		g.halt()
	})
	return g
}

// start runs a fresh OSP server (no sessions) on a UDP socket at addr.
func (g *testGateway) start(addr string) {
	g.t.Helper()
	pc, err := net.ListenPacket("udp", addr)
	if err != nil {
		g.t.Fatal(err)
	}
	link := udp.New(pc, udp.Options{})
	g.serve(func(ctx context.Context, srv *osp.Server) error { return link.Run(ctx, srv) })
	g.mu.Lock()
	g.addr = pc.LocalAddr().(*net.UDPAddr)
	g.mu.Unlock()
}

// serve runs a fresh OSP server (no sessions) behind the link run runs.
func (g *testGateway) serve(run func(ctx context.Context, srv *osp.Server) error) {
	g.t.Helper()
	h := &serverHandler{g: g}
	srv, err := osp.NewServer(osp.ServerConfig{Devices: g, Handler: h, ResendTimeout: 200 * time.Millisecond})
	if err != nil {
		g.t.Fatal(err)
	}
	h.srv = srv
	ctx, stop := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(2)
	go func() {
		defer wg.Done()
		_ = run(ctx, srv)
	}()
	go func() {
		defer wg.Done()
		t := time.NewTicker(50 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				srv.Tick()
			}
		}
	}()
	done := make(chan struct{})
	go func() {
		wg.Wait()
		close(done)
	}()
	g.mu.Lock()
	g.stop, g.done, g.started = stop, done, time.Now()
	g.mu.Unlock()
}

// halt stops the OSP server abruptly, as kill -9 would: no terminating
// CONNECTs, the sessions are forgotten.
func (g *testGateway) halt() {
	g.mu.Lock()
	stop, done := g.stop, g.done
	g.mu.Unlock()
	stop()
	<-done
}

// restart halts the server and starts a new one on the same port after a
// gap in which the port is closed.
func (g *testGateway) restart(gap time.Duration) {
	g.halt()
	time.Sleep(gap)
	g.start(g.addr.String())
}

func (g *testGateway) count(k osp.EventKind) int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.events[k]
}

func (g *testGateway) journalLen() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return len(g.journal)
}

// options returns simulator options for this gateway, with short timers.
func (g *testGateway) options(n, count int) options {
	o := defaults()
	o.gateway, o.n, o.count, o.rate, o.module = g.addr.String(), n, count, 0, 100
	o.secure, o.key = true, testKey
	o.admin = g.sock
	o.ackTimeout, o.handshakeTimeout, o.silence, o.wait = 200*time.Millisecond, 300*time.Millisecond, 500*time.Millisecond, 5*time.Second
	return o
}

var testKey = []byte{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15}

// serverHandler connects one OSP server incarnation to the journal.
type serverHandler struct {
	g   *testGateway
	srv *osp.Server
}

func (h *serverHandler) HandleData(r osp.Reading) {
	g := h.g
	g.mu.Lock()
	g.appends++
	if g.dropEvery == 0 || len(r.Payload) < 8 || binary.BigEndian.Uint64(r.Payload)%uint64(g.dropEvery) != uint64(g.dropEvery-1) {
		g.journal = append(g.journal, admin.Reading{Seq: uint64(len(g.journal)) + 1, Time: r.Received,
			Device: admin.DeviceID{Type: r.Device.Type, Module: r.Device.Module}, SID: r.SID, MessageID: r.MessageID,
			DataType: r.DataType, AckReq: r.Flags&osp.FlagAckReq != 0, Cached: r.Flags&osp.FlagCached != 0,
			Authenticated: r.Authenticated, Payload: append([]byte(nil), r.Payload...)})
	}
	g.mu.Unlock()
	if r.Flags&osp.FlagAckReq != 0 {
		_ = h.srv.Ack(r.AckRef())
	}
}

func (h *serverHandler) HandleEvent(e osp.Event) {
	h.g.mu.Lock()
	h.g.events[e.Kind]++
	h.g.mu.Unlock()
}

func (g *testGateway) LookupDevice(id osp.DeviceID) (osp.Security, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	sec, ok := g.devices[id]
	if !ok {
		return osp.Security{}, fmt.Errorf("%w: %s", osp.ErrUnknownDevice, id)
	}
	return sec, nil
}

// The admin API: what ospsim uses is real, the rest is not found.

func (g *testGateway) Status(context.Context) (admin.Status, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	st := admin.Status{Started: g.started, Devices: len(g.devices)}
	st.Journal.Count = uint64(len(g.journal))
	st.Journal.LastSeq = uint64(len(g.journal))
	if len(g.journal) > 0 {
		st.Journal.FirstSeq = 1
	}
	// One "fsync" per 100 readings.
	st.Store.Appends, st.Store.Fsyncs = g.appends, g.appends/100
	return st, nil
}

func (g *testGateway) AddDevice(_ context.Context, spec admin.DeviceSpec) (admin.Device, error) {
	key, err := hex.DecodeString(spec.Key)
	if err != nil || (spec.Secure && len(key) != osp.KeyLen) {
		return admin.Device{}, fmt.Errorf("%w: key", admin.ErrInvalid)
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	id := osp.DeviceID{Type: spec.ID.Type, Module: spec.ID.Module}
	if _, ok := g.devices[id]; ok && !spec.Replace {
		return admin.Device{}, admin.ErrConflict
	}
	g.devices[id] = osp.Security{Secure: spec.Secure, Key: key}
	return admin.Device{ID: spec.ID, Secure: spec.Secure}, nil
}

func (g *testGateway) Readings(_ context.Context, q admin.ReadingQuery) ([]admin.Reading, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	var out []admin.Reading
	for _, r := range g.journal {
		if r.Seq >= q.From && len(out) < q.Limit {
			out = append(out, r)
		}
	}
	return out, nil
}

func (g *testGateway) Devices(context.Context) ([]admin.Device, error) { return nil, nil }
func (g *testGateway) Device(context.Context, admin.DeviceID) (admin.Device, error) {
	return admin.Device{}, admin.ErrNotFound
}
func (g *testGateway) RemoveDevice(context.Context, admin.DeviceID) error { return admin.ErrNotFound }
func (g *testGateway) Sessions(context.Context) ([]admin.Session, error)  { return nil, nil }
func (g *testGateway) Command(context.Context, admin.DeviceID, []byte) (admin.CommandResult, error) {
	return admin.CommandResult{}, admin.ErrNotFound
}
func (g *testGateway) Firmware(context.Context) ([]admin.Firmware, error) { return nil, nil }
func (g *testGateway) PutFirmware(context.Context, string, int, []byte) (admin.Firmware, error) {
	return admin.Firmware{}, admin.ErrInvalid
}
func (g *testGateway) DeleteFirmware(context.Context, string) error   { return admin.ErrNotFound }
func (g *testGateway) Things(context.Context) ([]things.Thing, error) { return nil, nil }
func (g *testGateway) Thing(context.Context, string) (things.Thing, error) {
	return things.Thing{}, admin.ErrNotFound
}
