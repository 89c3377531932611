package josp

import (
	"cmp"
	"context"
	"crypto/tls"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/edgegate/edgegate/gateway/admin"
	"github.com/edgegate/edgegate/gateway/josp/wire"
	"github.com/edgegate/edgegate/gateway/mdns"
	"github.com/edgegate/edgegate/gateway/things"
	"github.com/edgegate/edgegate/store"
)

// Hub is what the endpoint needs of the things hub.
type Hub interface {
	List() []things.Thing
	Get(thingID string) (things.Thing, bool)
	Subscribe(ctx context.Context, buffer int) *things.Subscription
	Perform(ctx context.Context, thingID, action string, args map[string]string) (things.Result, error)
}

// History reads a thing's history: the store.
type History interface {
	History(thingID string, from, to time.Time, limit int) ([]store.Entry, error)
}

// Advertiser announces the objects by mDNS: gateway/mdns.
type Advertiser interface {
	Advertise(svc mdns.Service) (*mdns.Registration, error)
}

// Principal names services by id and user: a configured CoOwner. An empty
// UsrID is every user (#All).
type Principal struct {
	SrvID string
	UsrID string
}

// ParsePrincipal reads "srvId" or "srvId/usrId".
func ParsePrincipal(s string) (Principal, error) {
	srv, usr, slash := strings.Cut(s, "/")
	p := Principal{SrvID: srv, UsrID: usr}
	if !wire.IsIDPart(srv) || (slash && !wire.IsIDPart(usr)) {
		return p, fmt.Errorf("%w: service %q: want srvId or srvId/usrId (letters, digits, '-', '_')", ErrInvalid, s)
	}
	return p, nil
}

// String returns "srvId" or "srvId/usrId".
func (p Principal) String() string {
	if p.UsrID == "" {
		return p.SrvID
	}
	return p.SrvID + "/" + p.UsrID
}

// Defaults of Options.
const (
	DefaultHeartbeat        = 30 * time.Second
	DefaultHandshakeTimeout = 10 * time.Second
	DefaultHistoryMax       = 1000
	DefaultEventsKept       = 500
	DefaultSendQueue        = 1024
)

// JODVersion is the version OBJ_INF_MSG reports: the reference release
// whose wire the endpoint speaks.
const JODVersion = "2.2.4"

// Options configure an Endpoint. Hub, History and KV are required.
type Options struct {
	Hub     Hub
	History History
	// KV is the endpoint's namespace: objects' identities, permissions
	// and event logs.
	KV *store.KV
	// Advertiser announces every object; nil announces nothing.
	Advertiser Advertiser
	// Host is the address the objects' listeners bind ("127.0.0.1",
	// "0.0.0.0", "::"); empty is every address.
	Host string
	// PortMin and PortMax bound the objects' ports (with TLS, each object
	// takes a port and the next one for the certificate sharing); both 0:
	// ephemeral ports.
	PortMin, PortMax int
	// TLS, when set, makes the objects speak TLS 1.2 with client
	// certificates and share certificates on port+1; nil is plain TCP.
	TLS *tls.Certificate
	// Everyone is the level a new object grants every service (#All/#All);
	// the gateway's configuration defaults it to State.
	Everyone wire.PermType
	// CoOwners get a CoOwner permission row on every object.
	CoOwners []Principal
	// Heartbeat is the silence after which a connection is asked for a
	// heartbeat; a connection silent for another 9/10 of it is closed.
	Heartbeat time.Duration
	// HandshakeTimeout bounds the TLS handshake and the identity line.
	HandshakeTimeout time.Duration
	// HistoryMax bounds the items of one history or events response.
	HistoryMax int
	// EventsKept bounds each object's persisted event log.
	EventsKept int
	// SendQueue is the frames a connection may have waiting; a service
	// that lets more pile up is disconnected.
	SendQueue int
	// Describe returns an object's model, brand and description; nil
	// describes every thing by its kind and ID.
	Describe func(things.Thing) Description
	// Ranges returns the bounds of a range pillar (by property or action
	// name); nil or false gives 0..100 by 10, the reference's defaults.
	Ranges func(thingID, name string) (Range, bool)
	// Logger gets the endpoint's logs; nil discards them.
	Logger *slog.Logger
	// Now is the clock (nil: time.Now).
	Now func() time.Time
}

// Stats are the endpoint's counters since start.
type Stats struct {
	Objects        int    `json:"objects"`
	Connections    int    `json:"connections"`
	Accepted       uint64 `json:"accepted"`
	Rejected       uint64 `json:"rejected"`
	Duplicates     uint64 `json:"duplicates"`
	TLSFailures    uint64 `json:"tlsFailures"`
	CertShares     uint64 `json:"certShares"`
	FramesIn       uint64 `json:"framesIn"`
	FramesOut      uint64 `json:"framesOut"`
	Malformed      uint64 `json:"malformed"`
	WrongObject    uint64 `json:"wrongObject"`
	IdentityDenied uint64 `json:"identityMismatch"`
	Refused        uint64 `json:"refused"`
	Updates        uint64 `json:"updates"`
	Commands       uint64 `json:"commands"`
	CommandErrors  uint64 `json:"commandErrors"`
	HistoryReqs    uint64 `json:"historyRequests"`
	EventsReqs     uint64 `json:"eventsRequests"`
	PermChanges    uint64 `json:"permChanges"`
	SlowClosed     uint64 `json:"slowClosed"`
	HeartbeatsLost uint64 `json:"heartbeatTimeouts"`
	HubLost        uint64 `json:"hubEventsLost"`
	// Trusted counts the certificates shared by services (TLS).
	Trusted int `json:"trusted"`
}

type counters struct {
	accepted, rejected, duplicates, tlsFailures, certShares        atomic.Uint64
	framesIn, framesOut, malformed, wrongObject, identity, refused atomic.Uint64
	updates, commands, commandErrors, historyReqs, eventsReqs      atomic.Uint64
	permChanges, slowClosed, heartbeatsLost, hubLost               atomic.Uint64
}

// Endpoint serves the hub's things as JOSP objects: one TCP (or TLS)
// listener per thing, advertised as _josp2._tcp. Create it with New and
// serve with Run.
type Endpoint struct {
	opts  Options
	log   *slog.Logger
	recs  recordStore
	trust *trustStore
	tls   *tls.Config
	c     counters

	mu      sync.Mutex
	objects map[string]*object // by thing ID
	running bool
	ctx     context.Context
}

// New checks the options and returns an endpoint; nothing listens before
// Run.
func New(opts Options) (*Endpoint, error) {
	if opts.Hub == nil || opts.History == nil || opts.KV == nil {
		return nil, fmt.Errorf("%w: Hub, History and KV are required", ErrInvalid)
	}
	if opts.PortMin < 0 || opts.PortMax > 65535 || opts.PortMin > opts.PortMax || (opts.PortMin == 0) != (opts.PortMax == 0) {
		return nil, fmt.Errorf("%w: port range %d-%d", ErrInvalid, opts.PortMin, opts.PortMax)
	}
	if opts.TLS != nil && opts.PortMax != 0 && opts.PortMax == opts.PortMin {
		return nil, fmt.Errorf("%w: port range %d-%d: TLS needs two ports per object", ErrInvalid, opts.PortMin, opts.PortMax)
	}
	if !opts.Everyone.Valid() {
		return nil, fmt.Errorf("%w: level %v", ErrInvalid, opts.Everyone)
	}
	for _, p := range opts.CoOwners {
		if _, err := ParsePrincipal(p.String()); err != nil {
			return nil, err
		}
	}
	set := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	set(&opts.Heartbeat, DefaultHeartbeat)
	set(&opts.HandshakeTimeout, DefaultHandshakeTimeout)
	if opts.HistoryMax <= 0 {
		opts.HistoryMax = DefaultHistoryMax
	}
	if opts.EventsKept <= 0 {
		opts.EventsKept = DefaultEventsKept
	}
	if opts.SendQueue <= 0 {
		opts.SendQueue = DefaultSendQueue
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	e := &Endpoint{opts: opts, log: opts.Logger, recs: recordStore{kv: opts.KV}, trust: newTrustStore(),
		objects: map[string]*object{}}
	if opts.TLS != nil {
		e.tls = serverTLS(*opts.TLS, e.trust)
	}
	return e, nil
}

// Run serves until ctx is done: an object for every thing of the hub, then
// for every thing that appears, withdrawn when it goes away. On return
// every connection has been told bye and every listener and advertisement
// is closed.
func (e *Endpoint) Run(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	sub := e.opts.Hub.Subscribe(ctx, 4096)
	e.mu.Lock()
	e.running, e.ctx = true, ctx
	e.mu.Unlock()
	defer e.shutdown()
	e.sync()
	for ev := range sub.Events() {
		if ev.Lost > 0 {
			e.c.hubLost.Add(ev.Lost)
			e.sync()
			continue
		}
		switch ev.Type {
		case things.ThingAdded:
			e.upsert(ev.Thing)
		case things.ThingRemoved:
			e.remove(ev.ThingID)
		case things.ThingChanged:
			if o := e.object(ev.ThingID); o != nil {
				if !o.applyValues(ev.Changed) {
					if t, ok := e.opts.Hub.Get(ev.ThingID); ok {
						o.redescribe(t)
					}
				}
			}
		}
	}
	return nil
}

// sync makes the objects match the hub's things.
func (e *Endpoint) sync() {
	list := e.opts.Hub.List()
	seen := map[string]bool{}
	for _, t := range list {
		seen[t.ID] = true
		e.upsert(t)
	}
	e.mu.Lock()
	var gone []string
	for id := range e.objects {
		if !seen[id] {
			gone = append(gone, id)
		}
	}
	e.mu.Unlock()
	for _, id := range gone {
		e.remove(id)
	}
}

func (e *Endpoint) upsert(t things.Thing) {
	if o := e.object(t.ID); o != nil {
		o.redescribe(t)
		return
	}
	o, err := e.open(t)
	if err != nil {
		e.log.Error("josp: object not served", "thing", t.ID, "err", err)
		return
	}
	e.mu.Lock()
	e.objects[t.ID] = o
	e.mu.Unlock()
}

func (e *Endpoint) remove(thingID string) {
	e.mu.Lock()
	o := e.objects[thingID]
	delete(e.objects, thingID)
	e.mu.Unlock()
	if o != nil {
		o.close()
	}
}

func (e *Endpoint) shutdown() {
	e.mu.Lock()
	e.running = false
	objs := make([]*object, 0, len(e.objects))
	for _, o := range e.objects {
		objs = append(objs, o)
	}
	clear(e.objects)
	e.mu.Unlock()
	var wg sync.WaitGroup
	for _, o := range objs {
		wg.Add(1)
		go func() { defer wg.Done(); o.close() }()
	}
	wg.Wait()
}

func (e *Endpoint) object(thingID string) *object {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.objects[thingID]
}

// find returns the object ref names: a thing ID or an objId.
func (e *Endpoint) find(ref string) (*object, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if !e.running {
		return nil, ErrNotRunning
	}
	if o := e.objects[ref]; o != nil {
		return o, nil
	}
	for _, o := range e.objects {
		if o.objID() == ref {
			return o, nil
		}
	}
	return nil, fmt.Errorf("%w: %q", ErrUnknownObject, ref)
}

func (e *Endpoint) all() []*object {
	e.mu.Lock()
	defer e.mu.Unlock()
	out := make([]*object, 0, len(e.objects))
	for _, o := range e.objects {
		out = append(out, o)
	}
	slices.SortFunc(out, func(a, b *object) int { return cmp.Compare(a.thingID, b.thingID) })
	return out
}

// ObjectInfo describes a served object.
type ObjectInfo = admin.JOSPObject

// ServiceInfo describes a connected service.
type ServiceInfo = admin.JOSPService

// Objects lists the served objects, by thing ID.
func (e *Endpoint) Objects() []ObjectInfo {
	var out []ObjectInfo
	for _, o := range e.all() {
		out = append(out, o.info())
	}
	return out
}

// Object describes the object ref names (thing ID or objId).
func (e *Endpoint) Object(ref string) (ObjectInfo, error) {
	o, err := e.find(ref)
	if err != nil {
		return ObjectInfo{}, err
	}
	return o.info(), nil
}

// Services lists the connected services of every object.
func (e *Endpoint) Services() []ServiceInfo {
	var out []ServiceInfo
	for _, o := range e.all() {
		out = append(out, o.services()...)
	}
	return out
}

// Perms returns the permission rows of the object ref names.
func (e *Endpoint) Perms(ref string) ([]wire.Perm, error) {
	o, err := e.find(ref)
	if err != nil {
		return nil, err
	}
	return o.perms(), nil
}

// AddPerm adds a permission row to the object ref names and re-syncs its
// services, as OBJ_ADDPERM_MSG does.
func (e *Endpoint) AddPerm(ref, srvID, usrID string, typ wire.PermType, conn wire.ConnType) (wire.Perm, error) {
	o, err := e.find(ref)
	if err != nil {
		return wire.Perm{}, err
	}
	if err := checkRow(srvID, usrID, typ, conn); err != nil {
		return wire.Perm{}, err
	}
	return o.addPerm("admin", srvID, usrID, typ, conn)
}

// UpdatePerm replaces a permission row of the object ref names and
// re-syncs its services, as OBJ_UPDPERM_MSG does.
func (e *Endpoint) UpdatePerm(ref, permID, srvID, usrID string, typ wire.PermType, conn wire.ConnType) (wire.Perm, error) {
	o, err := e.find(ref)
	if err != nil {
		return wire.Perm{}, err
	}
	if err := checkRow(srvID, usrID, typ, conn); err != nil {
		return wire.Perm{}, err
	}
	return o.updPerm("admin", permID, srvID, usrID, typ, conn)
}

// RemovePerm removes a permission row of the object ref names and re-syncs
// its services, as OBJ_REMPERM_MSG does.
func (e *Endpoint) RemovePerm(ref, permID string) error {
	o, err := e.find(ref)
	if err != nil {
		return err
	}
	return o.remPerm("admin", permID)
}

func checkRow(srvID, usrID string, typ wire.PermType, conn wire.ConnType) error {
	if err := wire.CheckPrincipal(srvID, usrID); err != nil {
		return fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	if !typ.Valid() || (conn != wire.ConnOnlyLocal && conn != wire.ConnLocalAndCloud) {
		return fmt.Errorf("%w: level %v, connection %v", ErrInvalid, typ, conn)
	}
	return nil
}

// Stats returns the counters.
func (e *Endpoint) Stats() Stats {
	objs := e.all()
	s := Stats{Objects: len(objs), Trusted: e.trust.len()}
	for _, o := range objs {
		s.Connections += o.connCount()
	}
	c := &e.c
	s.Accepted, s.Rejected, s.Duplicates = c.accepted.Load(), c.rejected.Load(), c.duplicates.Load()
	s.TLSFailures, s.CertShares = c.tlsFailures.Load(), c.certShares.Load()
	s.FramesIn, s.FramesOut, s.Malformed = c.framesIn.Load(), c.framesOut.Load(), c.malformed.Load()
	s.WrongObject, s.IdentityDenied, s.Refused = c.wrongObject.Load(), c.identity.Load(), c.refused.Load()
	s.Updates, s.Commands, s.CommandErrors = c.updates.Load(), c.commands.Load(), c.commandErrors.Load()
	s.HistoryReqs, s.EventsReqs, s.PermChanges = c.historyReqs.Load(), c.eventsReqs.Load(), c.permChanges.Load()
	s.SlowClosed, s.HeartbeatsLost, s.HubLost = c.slowClosed.Load(), c.heartbeatsLost.Load(), c.hubLost.Load()
	return s
}
