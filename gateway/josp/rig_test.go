package josp

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/edgegate/edgegate/gateway/josp/wire"
	"github.com/edgegate/edgegate/gateway/things"
	"github.com/edgegate/edgegate/store"
	"github.com/edgegate/edgegate/store/storetest"
)

// persister writes the hub's state and history to the store at once.
type persister struct{ db *storetest.DB }

func (p persister) PutState(id string, v []byte, at time.Time) error { return p.db.PutState(id, v, at) }
func (p persister) AppendHistory(id string, at time.Time, v []byte) error {
	return p.db.AppendHistory(id, at, v)
}

// performer is the owner of the tests' native things: it records what it
// is asked to do and answers done, or fails.
type performer struct {
	mu    sync.Mutex
	calls []string
	fail  error
	ch    chan string
}

func (p *performer) Perform(_ context.Context, thingID, action string, args map[string]string) (things.Result, error) {
	call := thingID + " " + action
	for k, v := range args {
		call += " " + k + "=" + v
	}
	p.mu.Lock()
	p.calls = append(p.calls, call)
	fail := p.fail
	p.mu.Unlock()
	p.ch <- call
	if fail != nil {
		return things.Result{}, fail
	}
	return things.Result{Status: things.StatusDone}, nil
}

// rig is an endpoint on a real store and hub, serving on loopback.
type rig struct {
	t     *testing.T
	db    *storetest.DB
	hub   *things.Hub
	owner *performer
	ep    *Endpoint
	opts  Options
	stop  func()
}

func lamp() things.Thing {
	return things.Thing{ID: "native:lamp", Kind: things.KindNative, Name: "Kitchen Lamp",
		Properties: []things.Property{
			{Name: "temperature", Type: things.TypeFloat, Unit: "Cel"},
			{Name: "on", Type: things.TypeBool},
			{Name: "label", Type: things.TypeString},
		},
		Actions: []things.Action{
			{Name: "reboot", Description: "Restart the lamp"},
			{Name: "setLevel", Params: []string{"level"}},
			{Name: "schedule", Params: []string{"at", "level"}},
		},
	}
}

func newRig(t *testing.T, edit func(*Options)) *rig {
	t.Helper()
	db := storetest.MustOpen(t, store.Options{})
	r := &rig{t: t, db: db, owner: &performer{ch: make(chan string, 16)}}
	r.hub = things.New(things.Options{Persister: persister{db}})
	r.hub.RegisterOwner(things.KindNative, r.owner)
	if err := r.hub.Register(lamp()); err != nil {
		t.Fatal(err)
	}
	r.opts = Options{Hub: r.hub, History: db, KV: db.KV("josp"), Host: "127.0.0.1", Everyone: wire.PermState,
		CoOwners: []Principal{{SrvID: "admin"}}, HandshakeTimeout: 2 * time.Second}
	if edit != nil {
		edit(&r.opts)
	}
	r.start()
	t.Cleanup(func() { r.stop(); r.hub.Close() })
	return r
}

// start runs a new endpoint on the rig's store and hub.
func (r *rig) start() {
	r.t.Helper()
	ep, err := New(r.opts)
	if err != nil {
		r.t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- ep.Run(ctx) }()
	r.ep = ep
	stopped := false
	r.stop = func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		select {
		case err := <-done:
			if err != nil {
				r.t.Errorf("Run: %v", err)
			}
		case <-time.After(10 * time.Second):
			r.t.Error("Run did not return")
		}
	}
	r.eventually("the object", func() bool { return len(ep.Objects()) > 0 })
}

func (r *rig) eventually(what string, cond func() bool) {
	r.t.Helper()
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		if cond() {
			return
		}
	}
	r.t.Fatalf("timed out waiting for %s", what)
}

func (r *rig) object(thingID string) ObjectInfo {
	r.t.Helper()
	o, err := r.ep.Object(thingID)
	if err != nil {
		r.t.Fatal(err)
	}
	return o
}

// client is a JOSP service: it speaks the wire over a TCP or TLS
// connection.
type client struct {
	t      *testing.T
	nc     net.Conn
	full   string
	objID  string
	frames chan []byte
	closed chan struct{}
}

// dial connects to addr as full and reads the object's ID line.
func dial(t *testing.T, addr, full string) *client {
	t.Helper()
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	return handshake(t, nc, full, true)
}

// handshake reads the objId line and, when sendID, sends full's line.
func handshake(t *testing.T, nc net.Conn, full string, sendID bool) *client {
	t.Helper()
	c := &client{t: t, nc: nc, full: full, frames: make(chan []byte, 4096), closed: make(chan struct{})}
	t.Cleanup(func() { nc.Close() })
	fr := wire.NewFrameReader(nc, 0)
	_ = nc.SetReadDeadline(time.Now().Add(5 * time.Second))
	line, err := fr.ReadLine(64)
	if err != nil || !wire.IsObjID(string(line)) {
		t.Fatalf("objId line %q: %v", line, err)
	}
	_ = nc.SetReadDeadline(time.Time{})
	c.objID = string(line)
	if sendID {
		c.write(full + "\n")
	}
	go func() {
		defer close(c.closed)
		for {
			f, err := fr.Next()
			if err != nil {
				return
			}
			c.frames <- append([]byte(nil), f...)
		}
	}()
	return c
}

func (c *client) write(frame string) {
	c.t.Helper()
	if _, err := io.WriteString(c.nc, frame+wire.Delimiter); err != nil {
		c.t.Fatal(err)
	}
}

func (c *client) send(m wire.Message) { c.t.Helper(); c.write(string(m.Append(nil))) }

// next returns the next frame, failing after a few seconds.
func (c *client) next() []byte {
	c.t.Helper()
	select {
	case f := <-c.frames:
		return f
	case <-time.After(5 * time.Second):
		c.t.Fatal("no frame")
	}
	return nil
}

// expect returns the next JOSP message, which must be of type typ.
func (c *client) expect(typ wire.Type) wire.Message {
	c.t.Helper()
	f := c.next()
	m, err := wire.Parse(f)
	if err != nil {
		c.t.Fatalf("frame %q: %v", f, err)
	}
	if m.Type() != typ {
		c.t.Fatalf("got %s (%q), want %s", m.Type(), f, typ)
	}
	return m
}

// quiet checks that nothing arrives for a while.
func (c *client) quiet(d time.Duration) {
	c.t.Helper()
	select {
	case f := <-c.frames:
		c.t.Fatalf("unexpected frame %q", f)
	case <-time.After(d):
	}
}

// waitClosed waits until the object closes the connection, and returns the
// frames that came before.
func (c *client) waitClosed() []string {
	c.t.Helper()
	var got []string
	for {
		select {
		case f := <-c.frames:
			got = append(got, string(f))
		case <-c.closed:
			for {
				select {
				case f := <-c.frames:
					got = append(got, string(f))
				default:
					return got
				}
			}
		case <-time.After(5 * time.Second):
			c.t.Fatalf("connection not closed; frames %q", got)
		}
	}
}

// presentation reads the presentation of a service at level and returns
// the structure.
func (c *client) presentation(level wire.PermType) wire.Structure {
	c.t.Helper()
	var st wire.Structure
	if level >= wire.PermState {
		inf := c.expect(wire.TypeObjectInfo).(wire.ObjectInfo)
		if inf.ObjID != c.objID {
			c.t.Fatalf("info of %s on %s's connection", inf.ObjID, c.objID)
		}
		m := c.expect(wire.TypeObjectStructure).(wire.ObjectStructure)
		var err error
		if st, err = m.Structure(); err != nil {
			c.t.Fatal(err)
		}
	}
	if level >= wire.PermCoOwner {
		c.expect(wire.TypeObjectPerms)
	}
	sp := c.expect(wire.TypeServicePerms).(wire.ServicePerms)
	if sp.Perm != level || sp.Conn != wire.ConnOnlyLocal {
		c.t.Fatalf("SRV_PERMS %v %v, want %v OnlyLocal", sp.Perm, sp.Conn, level)
	}
	return st
}

func (c *client) update() wire.Update { c.t.Helper(); return c.expect(wire.TypeUpdate).(wire.Update) }

func (c *client) command(path, cmdType, payload string) {
	c.t.Helper()
	c.send(wire.Command{Time: time.Now(), FullSrvID: c.full, ObjID: c.objID, CompPath: path, CmdType: cmdType, Payload: payload})
}

func (c *client) historyReq(path, reqID string, l wire.Limits) wire.StatusHistory {
	c.t.Helper()
	c.send(wire.HistoryRequest{Time: time.Now(), FullSrvID: c.full, ObjID: c.objID, CompPath: path, ReqID: reqID, Limits: l})
	h := c.expect(wire.TypeStatusHistory).(wire.StatusHistory)
	if h.ReqID != reqID || h.CompPath != path {
		c.t.Fatalf("history answer %+v to %s %s", h, reqID, path)
	}
	return h
}

// tlsDial connects over TLS with cert as the client certificate.
func tlsDial(t *testing.T, addr string, cert tls.Certificate) (*tls.Conn, error) {
	t.Helper()
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	tc := tls.Client(nc, &tls.Config{InsecureSkipVerify: true, Certificates: []tls.Certificate{cert}})
	_ = tc.SetDeadline(time.Now().Add(5 * time.Second))
	if err := tc.Handshake(); err != nil {
		nc.Close()
		return nil, err
	}
	// TLS 1.2: the client learns of a refused certificate on its first
	// read.
	_ = tc.SetDeadline(time.Time{})
	return tc, nil
}

var errNoFrame = errors.New("no frame")

func readFrame(nc net.Conn) (string, error) {
	fr := wire.NewFrameReader(nc, 0)
	_ = nc.SetReadDeadline(time.Now().Add(3 * time.Second))
	f, err := fr.Next()
	if err != nil {
		return "", errors.Join(errNoFrame, err)
	}
	return string(f), nil
}
