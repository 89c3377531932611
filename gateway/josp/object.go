package josp

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"slices"
	"strconv"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/edgegate/edgegate/gateway/josp/wire"
	"github.com/edgegate/edgegate/gateway/mdns"
	"github.com/edgegate/edgegate/gateway/things"
)

// maxConnsPerObject bounds the connections (handshaking or live) one
// object accepts.
const maxConnsPerObject = 256

// object is one thing served as a JOSP object.
type object struct {
	e       *Endpoint
	thingID string
	log     *slog.Logger
	ctx     context.Context
	cancel  context.CancelFunc
	wg      sync.WaitGroup // accept loops, connections, the command worker
	ln      net.Listener
	shareLn net.Listener // certificate sharing (TLS), port+1
	events  *eventLog
	instID  int
	cmds    chan command
	slots   chan struct{} // one per connection

	mu       sync.Mutex
	closed   bool
	rec      objectRecord
	thing    things.Thing
	desc     Description
	model    *model
	shape    string // the structure without states, to tell a change
	conns    map[string]*conn
	reg      *mdns.Registration
	instance string
}

// command is a CMD_MSG waiting for the object's command worker.
type command struct {
	from  string // fullSrvId
	path  string
	value float64 // booleans: 1 or 0
}

// open serves thing t: its record (created with the default permissions
// on first sight), its listeners, its advertisement.
func (e *Endpoint) open(t things.Thing) (*object, error) {
	rec, created, err := e.recs.load(t.ID)
	if err != nil {
		return nil, err
	}
	now := e.opts.Now()
	changed := created
	if created {
		if e.opts.Everyone > wire.PermNone {
			rec.Perms = append(rec.Perms, wire.Perm{ID: wire.NewPermID(), ObjID: rec.ObjID, SrvID: wire.WildcardAll,
				UsrID: wire.WildcardAll, Type: e.opts.Everyone, Conn: wire.ConnOnlyLocal, Updated: now})
		}
		// The owner, once one is set, is CoOwner (the reference's default).
		rec.Perms = append(rec.Perms, wire.Perm{ID: wire.NewPermID(), ObjID: rec.ObjID, SrvID: wire.WildcardAll,
			UsrID: wire.WildcardOwner, Type: wire.PermCoOwner, Conn: wire.ConnLocalAndCloud, Updated: now})
	}
	for _, p := range e.opts.CoOwners {
		key := p.String()
		if slices.Contains(rec.Granted, key) {
			continue
		}
		usr := p.UsrID
		if usr == "" {
			usr = wire.WildcardAll
		}
		rec.Perms = append(rec.Perms, wire.Perm{ID: wire.NewPermID(), ObjID: rec.ObjID, SrvID: p.SrvID, UsrID: usr,
			Type: wire.PermCoOwner, Conn: wire.ConnOnlyLocal, Updated: now})
		rec.Granted = append(rec.Granted, key)
		changed = true
	}
	if changed {
		if err := e.recs.save(t.ID, &rec); err != nil {
			return nil, fmt.Errorf("josp: save the record of %s: %w", t.ID, err)
		}
	}
	events, err := openEventLog(e.opts.KV, t.ID, e.opts.EventsKept)
	if err != nil {
		return nil, fmt.Errorf("josp: event log of %s: %w", t.ID, err)
	}
	ln, shareLn, err := e.listen()
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(e.ctx)
	o := &object{e: e, thingID: t.ID, log: e.log.With("thing", t.ID), ctx: ctx, cancel: cancel,
		ln: ln, shareLn: shareLn, events: events, instID: rand.IntN(10000), cmds: make(chan command, 32),
		slots: make(chan struct{}, maxConnsPerObject), rec: rec, conns: map[string]*conn{}}
	o.describe(t)
	o.wg.Add(2)
	go func() { defer o.wg.Done(); o.acceptLoop(ln, o.serve) }()
	go func() { defer o.wg.Done(); o.commandWorker() }()
	if shareLn != nil {
		o.wg.Add(1)
		go func() { defer o.wg.Done(); o.acceptLoop(shareLn, o.share) }()
	}
	o.mu.Lock()
	o.advertiseLocked()
	o.mu.Unlock()
	o.event(wire.EventLocalStart, "Local communication started", eventPayload("addr", ln.Addr().String()))
	o.log.Info("josp: object served", "addr", ln.Addr().String(), "instance", o.instance, "tls", e.tls != nil)
	return o, nil
}

// listen binds an object's port (and port+1 for the certificate sharing
// when TLS is on) in the configured range, or ephemeral ports.
func (e *Endpoint) listen() (net.Listener, net.Listener, error) {
	bind := func(port int) (net.Listener, error) {
		return net.Listen("tcp", net.JoinHostPort(e.opts.Host, strconv.Itoa(port)))
	}
	pair := func(port int) (net.Listener, net.Listener, error) {
		ln, err := bind(port)
		if err != nil {
			return nil, nil, err
		}
		if e.tls == nil {
			return ln, nil, nil
		}
		p := ln.Addr().(*net.TCPAddr).Port
		if e.opts.PortMax != 0 && p+1 > e.opts.PortMax {
			ln.Close()
			return nil, nil, ErrNoPort
		}
		share, err := bind(p + 1)
		if err != nil {
			ln.Close()
			return nil, nil, err
		}
		return ln, share, nil
	}
	if e.opts.PortMin == 0 {
		var last error
		for range 32 { // an ephemeral port whose next one is taken: try another
			ln, share, err := pair(0)
			if err == nil {
				return ln, share, nil
			}
			last = err
		}
		return nil, nil, fmt.Errorf("%w: %w", ErrNoPort, last)
	}
	for p := e.opts.PortMin; p <= e.opts.PortMax; p++ {
		if ln, share, err := pair(p); err == nil {
			return ln, share, nil
		}
	}
	return nil, nil, fmt.Errorf("%w in %d-%d", ErrNoPort, e.opts.PortMin, e.opts.PortMax)
}

// acceptLoop hands each connection of ln to serve until ln is closed.
func (o *object) acceptLoop(ln net.Listener, serve func(net.Conn)) {
	for {
		nc, err := ln.Accept()
		if err != nil {
			if o.ctx.Err() != nil || errors.Is(err, net.ErrClosed) {
				return
			}
			o.log.Warn("josp: accept", "err", err)
			select {
			case <-o.ctx.Done():
				return
			case <-time.After(50 * time.Millisecond):
			}
			continue
		}
		select {
		case o.slots <- struct{}{}:
		default:
			o.e.c.rejected.Add(1)
			nc.Close()
			continue
		}
		o.wg.Add(1)
		go func() {
			defer o.wg.Done()
			defer func() { <-o.slots }()
			serve(nc)
		}()
	}
}

// share runs one certificate sharing exchange.
func (o *object) share(nc net.Conn) {
	err := shareCertificates(o.ctx, nc, o.e.opts.TLS.Certificate[0], o.e.trust, func(c *x509.Certificate) {
		o.e.c.certShares.Add(1)
		o.log.Info("josp: certificate shared", "remote", nc.RemoteAddr().String(), "cn", c.Subject.CommonName)
	})
	if err != nil && o.ctx.Err() == nil {
		o.log.Debug("josp: certificate sharing", "remote", nc.RemoteAddr().String(), "err", err)
	}
}

// close withdraws the object: bye to every service, listeners and the
// advertisement closed, goroutines waited for.
func (o *object) close() {
	o.mu.Lock()
	if o.closed {
		o.mu.Unlock()
		return
	}
	o.closed = true
	conns := make([]*conn, 0, len(o.conns))
	for _, c := range o.conns {
		conns = append(conns, c)
	}
	reg := o.reg
	o.reg = nil
	o.mu.Unlock()
	o.event(wire.EventLocalStop, "Local communication stopped", "{}")
	o.ln.Close()
	if o.shareLn != nil {
		o.shareLn.Close()
	}
	for _, c := range conns {
		c.bye()
	}
	if reg != nil {
		reg.Close()
	}
	o.cancel()
	o.wg.Wait()
	o.log.Info("josp: object withdrawn")
}

// name is the object's name: set by a service, else the thing's.
func (o *object) nameLocked() string {
	n := o.rec.Name
	if n == "" {
		n = wire.Sanitize(o.thing.Name)
	}
	if n == "" {
		n = wire.Sanitize(o.thing.ID)
	}
	return n
}

// instanceName returns the DNS-SD instance name the reference uses,
// {objName}-{instanceId}, within the 63 bytes of a DNS label.
func instanceName(name string, inst int) string {
	suffix := "-" + strconv.Itoa(inst)
	for len(name)+len(suffix) > 63 {
		_, size := utf8.DecodeLastRuneInString(name)
		name = name[:len(name)-size]
	}
	return name + suffix
}

// advertiseLocked (re-)announces the object under its current name.
func (o *object) advertiseLocked() {
	inst := instanceName(o.nameLocked(), o.instID)
	if o.reg != nil && o.instance == inst {
		return
	}
	if o.reg != nil {
		o.reg.Close()
		o.reg = nil
	}
	o.instance = inst
	if o.e.opts.Advertiser == nil || o.closed {
		return
	}
	port := o.ln.Addr().(*net.TCPAddr).Port
	reg, err := o.e.opts.Advertiser.Advertise(mdns.Service{Instance: inst, Type: wire.ServiceType, Port: port,
		Text: []string{strconv.Itoa(o.instID)}})
	if err != nil {
		o.log.Warn("josp: not advertised", "instance", inst, "err", err)
		return
	}
	o.reg = reg
}

// describe takes t's description: model, structure and description.
func (o *object) describe(t things.Thing) {
	o.thing = t
	o.desc = Description{Model: t.Kind.String(), Brand: "edgegate", Descr: t.ID}
	if o.e.opts.Describe != nil {
		o.desc = o.e.opts.Describe(t)
	}
	o.model = buildModel(t, o.e.opts.Ranges, o.rec.Actions)
	o.shape = o.shapeLocked()
	for _, s := range o.model.skipped {
		o.log.Debug("josp: no pillar", "for", s)
	}
}

// shapeLocked returns the structure's JSON without states.
func (o *object) shapeLocked() string {
	st := o.model.structure(o.thing, o.desc)
	for i := range st.Components {
		for j := range st.Components[i].Components {
			c := &st.Components[i].Components[j]
			c.Bool, c.Value = false, 0
		}
	}
	return string(st.AppendJSON(nil))
}

// redescribe takes a new description of the thing: a changed name is
// announced (OBJ_INF_MSG, mDNS), a changed structure sent (OBJ_STRUCT_MSG),
// changed values updated (UPD_MSG).
func (o *object) redescribe(t things.Thing) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.closed {
		return
	}
	oldName, oldDesc, oldShape, oldModel := o.nameLocked(), o.desc, o.shape, o.model
	o.describe(t)
	now := o.e.opts.Now()
	if o.nameLocked() != oldName || o.desc != oldDesc {
		o.broadcastLocked(o.infoFrameLocked(now), wire.PermState)
		o.advertiseLocked()
	}
	if o.shape != oldShape {
		o.broadcastLocked(o.structFrameLocked(now), wire.PermState)
		o.eventLocked(wire.EventStructUpdate, "Structure updated", "{}")
		return
	}
	for i, p := range o.model.pillars {
		q := oldModel.pillars[i]
		if p.isAction() {
			p.bool, p.value = q.bool, q.value
			continue
		}
		if p.bool != q.bool || p.value != q.value {
			o.broadcastLocked(o.updateFrameLocked(p, q.bool, q.value, now), wire.PermState)
		}
	}
}

// applyValues applies a reading: each value that changes a pillar's state
// is sent as UPD_MSG to the services with at least State. It returns
// false, changing nothing, when the reading holds a property the model
// does not know (the thing must be described again).
func (o *object) applyValues(values []things.PropertyValue) bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.closed {
		return true
	}
	for _, pv := range values {
		if _, ok := o.model.byProp[pv.Name]; !ok {
			switch pv.Value.Type() {
			case things.TypeBool, things.TypeInt, things.TypeFloat:
				return false
			}
		}
	}
	now := o.e.opts.Now()
	for _, pv := range values {
		p := o.model.byProp[pv.Name]
		if p == nil {
			continue
		}
		oldB, oldV := p.bool, p.value
		if p.typ == wire.TypeBooleanState {
			b, ok := pv.Value.AsBool()
			if !ok || b == p.bool {
				continue
			}
			p.bool = b
		} else {
			f, ok := pv.Value.AsFloat()
			if !ok || f == p.value {
				continue
			}
			p.value = f
		}
		o.broadcastLocked(o.updateFrameLocked(p, oldB, oldV, now), wire.PermState)
	}
	return true
}

// The frames an object sends, each built once and shared by the services
// it goes to.

func (o *object) infoFrameLocked(now time.Time) []byte {
	m := wire.ObjectInfo{Time: now, ObjID: o.rec.ObjID, Name: o.nameLocked(), JODVersion: JODVersion,
		OwnerID: o.rec.OwnerID, Model: wire.Sanitize(o.desc.Model), Brand: wire.Sanitize(o.desc.Brand), Descr: wire.Sanitize(o.desc.Descr)}
	return wire.AppendFrame(nil, m.Append(nil))
}

func (o *object) structFrameLocked(now time.Time) []byte {
	st := o.model.structure(o.thing, o.desc)
	m := wire.ObjectStructure{Time: now, ObjID: o.rec.ObjID, JSON: st.AppendJSON(nil)}
	return wire.AppendFrame(nil, m.Append(nil))
}

func (o *object) permsFrameLocked(now time.Time) []byte {
	m := wire.ObjectPerms{Time: now, ObjID: o.rec.ObjID, Perms: o.rec.Perms}
	return wire.AppendFrame(nil, m.Append(nil))
}

func (o *object) srvPermsFrameLocked(level wire.PermType, now time.Time) []byte {
	m := wire.ServicePerms{Time: now, ObjID: o.rec.ObjID, Perm: level, Conn: wire.ConnOnlyLocal}
	return wire.AppendFrame(nil, m.Append(nil))
}

func (o *object) updateFrameLocked(p *pillar, oldB bool, oldV float64, now time.Time) []byte {
	o.e.c.updates.Add(1)
	m := wire.Update{Time: now, ObjID: o.rec.ObjID, CompPath: p.path, CmdType: p.cmdType(), Payload: p.payload(oldB, oldV)}
	return wire.AppendFrame(nil, m.Append(nil))
}

// broadcastLocked queues frame for every service with at least min.
func (o *object) broadcastLocked(frame []byte, min wire.PermType) {
	for _, c := range o.conns {
		if c.perm >= min {
			c.send(frame)
		}
	}
}

// levelLocked evaluates the permissions for a service over a direct
// connection.
func (o *object) levelLocked(id wire.FullSrvID) (wire.PermType, bool) {
	return wire.Evaluate(o.rec.Perms, id.SrvID, id.UsrID, o.rec.OwnerID, wire.ConnOnlyLocal)
}

// attach registers a connection that completed its handshake and sends it
// the presentation; it reports false when the fullSrvId is already
// connected (the new connection is then to be closed with bye).
func (o *object) attach(c *conn) bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.closed {
		return false
	}
	if _, dup := o.conns[c.full]; dup {
		return false
	}
	o.conns[c.full] = c
	now := o.e.opts.Now()
	level, any := o.levelLocked(c.id)
	c.perm = level
	if level >= wire.PermState {
		c.send(o.infoFrameLocked(now))
		c.send(o.structFrameLocked(now))
	}
	if level >= wire.PermCoOwner {
		c.send(o.permsFrameLocked(now))
	}
	if any {
		c.send(o.srvPermsFrameLocked(level, now))
	}
	return true
}

// detach forgets a connection that ended.
func (o *object) detach(c *conn) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.conns[c.full] == c {
		delete(o.conns, c.full)
	}
}

// syncLocked sends every service the object's info, structure and
// permissions as its level allows, and its own level: what the reference
// does after a permission change.
func (o *object) syncLocked() {
	now := o.e.opts.Now()
	var info, st, perms []byte
	for _, c := range o.conns {
		level, _ := o.levelLocked(c.id)
		c.perm = level
		if level >= wire.PermState {
			if info == nil {
				info, st = o.infoFrameLocked(now), o.structFrameLocked(now)
			}
			c.send(info)
			c.send(st)
		}
		if level >= wire.PermCoOwner {
			if perms == nil {
				perms = o.permsFrameLocked(now)
			}
			c.send(perms)
		}
		c.send(o.srvPermsFrameLocked(level, now))
	}
}

// event records an event of the object.
func (o *object) event(typ, phase, payload string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.eventLocked(typ, phase, payload)
}

func (o *object) eventLocked(typ, phase, payload string) {
	o.addEventLocked(newEvent(typ, o.rec.ObjID, phase, payload, o.e.opts.Now()))
}

// addEventLocked records ev; a failure to save it is logged.
func (o *object) addEventLocked(ev wire.Event) {
	o.events.add(ev, func(err error) {
		o.log.Warn("josp: event not saved", "type", ev.Type, "err", err)
	})
}

// saveLocked persists the record.
func (o *object) saveLocked() error {
	if err := o.e.recs.save(o.thingID, &o.rec); err != nil {
		o.log.Error("josp: record not saved", "err", err)
		return err
	}
	return nil
}

func (o *object) objID() string {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.rec.ObjID
}

func (o *object) connCount() int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return len(o.conns)
}

func (o *object) info() ObjectInfo {
	o.mu.Lock()
	defer o.mu.Unlock()
	oi := ObjectInfo{ThingID: o.thingID, ObjID: o.rec.ObjID, Name: o.nameLocked(), OwnerID: o.rec.OwnerID,
		Instance: o.instance, Addr: o.ln.Addr().String(), TLS: o.e.tls != nil, Services: len(o.conns),
		Skipped: append([]string(nil), o.model.skipped...)}
	if o.shareLn != nil {
		oi.CertSharingAddr = o.shareLn.Addr().String()
	}
	for _, p := range o.model.pillars {
		oi.Pillars = append(oi.Pillars, p.path+" ("+p.typ+")")
	}
	return oi
}

func (o *object) services() []ServiceInfo {
	o.mu.Lock()
	defer o.mu.Unlock()
	var out []ServiceInfo
	for _, c := range o.conns {
		out = append(out, ServiceInfo{ThingID: o.thingID, ObjID: o.rec.ObjID, FullSrvID: c.full,
			Remote: c.remote, TLS: c.tls, Since: c.since, Perm: c.perm})
	}
	return out
}

func (o *object) perms() []wire.Perm {
	o.mu.Lock()
	defer o.mu.Unlock()
	return append([]wire.Perm(nil), o.rec.Perms...)
}
