package osp

import (
	"bytes"
	"errors"
	"sync"
	"testing"
	"time"
)

// manualClock is a Clock tests advance by hand.
type manualClock struct {
	mu  sync.Mutex
	now time.Time
}

func newClock() *manualClock { return &manualClock{now: time.Unix(0x65000000, 0)} }

func (c *manualClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *manualClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

// seqReader returns the given bytes, then repeats the last fill byte.
type seqReader struct {
	mu   sync.Mutex
	data []byte
}

func (r *seqReader) Read(p []byte) (int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for i := range p {
		if len(r.data) > 0 {
			p[i], r.data = r.data[0], r.data[1:]
		} else {
			p[i] = 0x5a
		}
	}
	return len(p), nil
}

// queuePeer is one direction of an in-memory link: it keeps what was sent
// until the test delivers it.
type queuePeer struct {
	mu   sync.Mutex
	pkts [][]byte
	drop int // drop the next n packets
	all  [][]byte
	mtu  int
}

func (q *queuePeer) Send(pkt []byte) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	cp := append([]byte(nil), pkt...)
	q.all = append(q.all, append([]byte(nil), pkt...)) // Handle decrypts cp in place
	if q.drop > 0 {
		q.drop--
		return nil
	}
	q.pkts = append(q.pkts, cp)
	return nil
}

func (q *queuePeer) take() [][]byte {
	q.mu.Lock()
	defer q.mu.Unlock()
	p := q.pkts
	q.pkts = nil
	return p
}

func (q *queuePeer) dropNext(n int) {
	q.mu.Lock()
	q.drop += n
	q.mu.Unlock()
}

func (q *queuePeer) sent() [][]byte {
	q.mu.Lock()
	defer q.mu.Unlock()
	return append([][]byte(nil), q.all...)
}

type mtuPeer struct {
	*queuePeer
}

func (m mtuPeer) MTU() int { return m.mtu }

// recorder is a Handler and a DeviceLookup and a FirmwareSource backed by
// maps, recording what the server hands up.
type recorder struct {
	mu       sync.Mutex
	devices  map[DeviceID]Security
	readings []Reading
	events   []Event
	firmware map[string][]byte
	fwCalls  int
}

func newRecorder() *recorder {
	return &recorder{devices: map[DeviceID]Security{}, firmware: map[string][]byte{}}
}

func (r *recorder) LookupDevice(id DeviceID) (Security, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	s, ok := r.devices[id]
	if !ok {
		return Security{}, ErrUnknownDevice
	}
	return s, nil
}

func (r *recorder) HandleData(rd Reading) {
	r.mu.Lock()
	defer r.mu.Unlock()
	rd.Payload = append([]byte(nil), rd.Payload...)
	r.readings = append(r.readings, rd)
}

func (r *recorder) HandleEvent(e Event) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.events = append(r.events, e)
}

func (r *recorder) FirmwareChunk(dev DeviceID, name string, chunk uint16, max int) ([]byte, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.fwCalls++
	fw, ok := r.firmware[name]
	if !ok {
		return nil, errors.New("no such firmware")
	}
	start := int(chunk) * 64
	if start >= len(fw) {
		return nil, nil
	}
	return fw[start:min(start+64, len(fw))], nil
}

func (r *recorder) eventsOf(k EventKind) []Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	return ofKind(r.events, func(e Event) bool { return e.Kind == k })
}

// ofKind returns the elements of xs that keep accepts.
func ofKind[T any](xs []T, keep func(T) bool) []T {
	var out []T
	for _, x := range xs {
		if keep(x) {
			out = append(out, x)
		}
	}
	return out
}

func (r *recorder) takeReadings() []Reading {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := r.readings
	r.readings = nil
	return out
}

var testKey = []byte{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15}

var (
	secDev   = DeviceID{Type: 1, Module: 4242}
	plainDev = DeviceID{Type: 2, Module: 7}
)

// rig is a server and clients wired through queues.
type rig struct {
	t     testing.TB
	clock *manualClock
	rec   *recorder
	srv   *Server
}

type rigClient struct {
	*Client
	toServer *queuePeer // what the client sent
	toClient *queuePeer // what the server sent to this client
	events   []ClientEvent
	mu       sync.Mutex
	onCmd    func(c *rigClient, e ClientEvent)
}

func newRig(t testing.TB, mod func(*ServerConfig)) *rig {
	t.Helper()
	r := &rig{t: t, clock: newClock(), rec: newRecorder()}
	r.rec.devices[secDev] = Security{Secure: true, Key: testKey, TagLen: 8}
	r.rec.devices[plainDev] = Security{}
	cfg := ServerConfig{Devices: r.rec, Handler: r.rec, Firmware: r.rec, Clock: r.clock,
		Rand: &seqReader{data: []byte{0xbe, 0xef, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22}}}
	if mod != nil {
		mod(&cfg)
	}
	srv, err := NewServer(cfg)
	if err != nil {
		t.Fatal(err)
	}
	r.srv = srv
	return r
}

func (r *rig) client(dev DeviceID, sec Security, mod func(*ClientConfig)) *rigClient {
	r.t.Helper()
	rc := &rigClient{toServer: &queuePeer{}, toClient: &queuePeer{}}
	cfg := ClientConfig{Device: dev, Security: sec, Peer: rc.toServer, Clock: r.clock,
		Rand:    &seqReader{data: bytes.Repeat([]byte{0x11}, 8)},
		OnEvent: rc.record}
	if mod != nil {
		mod(&cfg)
	}
	c, err := NewClient(cfg)
	if err != nil {
		r.t.Fatal(err)
	}
	rc.Client = c
	return rc
}

func (rc *rigClient) record(e ClientEvent) {
	rc.mu.Lock()
	rc.events = append(rc.events, e)
	f := rc.onCmd
	rc.mu.Unlock()
	if e.Kind == ClientCommand && f != nil {
		f(rc, e)
	}
}

func (rc *rigClient) eventsOf(k ClientEventKind) []ClientEvent {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return ofKind(rc.events, func(e ClientEvent) bool { return e.Kind == k })
}

// pump delivers queued packets both ways until none are left; it returns
// the errors Handle reported, in order.
func (r *rig) pump(cs ...*rigClient) []error {
	var errs []error
	for range 1000 {
		moved := false
		for _, c := range cs {
			for _, p := range c.toServer.take() {
				moved = true
				if err := r.srv.Handle(p, c.toClient); err != nil {
					errs = append(errs, err)
				}
			}
			for _, p := range c.toClient.take() {
				moved = true
				if err := c.Handle(p); err != nil {
					errs = append(errs, err)
				}
			}
		}
		if !moved {
			return errs
		}
	}
	r.t.Fatal("pump did not settle")
	return nil
}

func (r *rig) connect(rc *rigClient) {
	r.t.Helper()
	if err := rc.Connect(); err != nil {
		r.t.Fatal(err)
	}
	if errs := r.pump(rc); len(errs) > 0 {
		r.t.Fatalf("handshake errors: %v", errs)
	}
	if !rc.Open() {
		r.t.Fatal("session did not open")
	}
}

func (r *rig) secureClient(mod func(*ClientConfig)) *rigClient {
	return r.client(secDev, Security{Secure: true, Key: testKey, TagLen: 8}, mod)
}

// clientOf returns a client of the secure or the plain test device.
func (r *rig) clientOf(secure bool) *rigClient {
	if secure {
		return r.secureClient(nil)
	}
	return r.plainClient(nil)
}

func (r *rig) plainClient(mod func(*ClientConfig)) *rigClient {
	return r.client(plainDev, Security{}, mod)
}

func (r *rig) session(sid uint16) *session {
	r.srv.mu.RLock()
	defer r.srv.mu.RUnlock()
	return r.srv.sessions[sid]
}
