package steward

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"log/slog"
	"math/big"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/edgegate/edgegate/gateway/admin"
	"github.com/edgegate/edgegate/gateway/certs"
	"github.com/edgegate/edgegate/gateway/mdns"
	"github.com/edgegate/edgegate/gateway/things"
	"github.com/edgegate/edgegate/store"
)

// Store is the steward's key/value namespace (a *store.KV): pairings,
// prototypes and native things. A pairing's client ID is the namespace's
// next sequence number, taken in the update that stores the pairing.
type Store interface {
	Put(key string, value []byte) error
	Delete(key string) error
	List(prefix string) ([]store.KVEntry, error)
	Update(fn func(t *store.KVTx) error) error
}

// Hub is what the steward needs of the things hub (a *things.Hub).
type Hub interface {
	Upsert(t things.Thing) (bool, error)
	Update(thingID string, props []things.PropertyValue, at time.Time) error
	SetPresent(thingID string, present bool) error
	Get(thingID string) (things.Thing, bool)
}

// Pairing is the pairing window (a *pairing.Window): whether a pair
// request may proceed, and whether it must carry the current code.
type Pairing interface {
	IsOpen() bool
	CodeRequired() bool
	Match(code string) bool
}

// Advertiser announces the steward by mDNS (a *mdns.Advertiser).
type Advertiser interface {
	Advertise(svc mdns.Service) (*mdns.Registration, error)
}

// Options configure a Steward.
type Options struct {
	// Store keeps pairings, prototypes and things (required).
	Store Store
	// Hub receives the native things (required).
	Hub Hub
	// Pairing is the pairing window (required; pairing is refused while
	// it is closed).
	Pairing Pairing
	// Certificate is the secure listener's key pair (required by Run's
	// secure listener and by the fingerprint endpoints).
	Certificate tls.Certificate
	// UUID identifies the steward in mDNS and hello replies.
	UUID string
	// Name is the gateway's name, advertised in TXT name=.
	Name string
	// Advertiser, when set, announces _wss._tcp and _https._tcp.
	Advertiser Advertiser
	// Restore overlays a native thing's last stored state on t before New
	// puts it into the hub (nil: nothing restored).
	Restore func(t *things.Thing)
	// Logger gets connection and pairing events (nil: discarded). Secrets
	// are never logged.
	Logger *slog.Logger

	Limits
	Timeouts

	// ObserveDeclared makes the steward ask every registered thing to
	// observe each event its prototype declares, so that occurrences reach
	// the hub without anyone asking.
	ObserveDeclared bool
}

// Limits bound what one connection and one client may use. Zero fields take
// the defaults.
type Limits struct {
	// MaxMessageBytes bounds a frame (default 64 KiB); a larger one closes
	// the socket (1009).
	MaxMessageBytes int
	// MessageRate and MessageBurst are a connection's token bucket
	// (default 20 messages/s, burst 40). A message over the rate is
	// answered with a temporary error and dropped; a connection that keeps
	// flooding is closed.
	MessageRate  float64
	MessageBurst int
	// MaxPrototypes and MaxThings bound one client's prototypes (default
	// 64) and registered things (default 256).
	MaxPrototypes int
	MaxThings     int
	// MaxEntries bounds the entries of one message (default 256).
	MaxEntries int
	// MaxConnections bounds concurrent connections (default 4096).
	MaxConnections int
}

// Timeouts of a connection. Zero fields take the defaults.
type Timeouts struct {
	// Hello is how long a connection may stay unauthenticated (default 30 s).
	Hello time.Duration
	// Read is the longest silence between two messages (default 5 min).
	Read time.Duration
	// Write bounds one frame's write (default 10 s).
	Write time.Duration
	// Ping is the keep-alive interval (default 30 s); a ping unanswered for
	// Pong (default 15 s) closes the socket.
	Ping time.Duration
	Pong time.Duration
	// Absent is the silence after which a registered thing is marked
	// absent in the hub (default 60 s, as the original steward did).
	Absent time.Duration
	// Answer bounds the wait for a thing's answer to perform, observe and
	// cancel (default 10 s).
	Answer time.Duration
	// ObserveRetry is how often an observation the thing has not confirmed
	// is sent again (default 3 s, as the original steward did).
	ObserveRetry time.Duration
}

func (o *Options) defaults() {
	l := &o.Limits
	l.MaxMessageBytes = cmpOr(l.MaxMessageBytes, 64<<10)
	if l.MessageRate <= 0 {
		l.MessageRate = 20
	}
	l.MessageBurst = cmpOr(l.MessageBurst, 40)
	l.MaxPrototypes = cmpOr(l.MaxPrototypes, 64)
	l.MaxThings = cmpOr(l.MaxThings, 256)
	l.MaxEntries = cmpOr(l.MaxEntries, 256)
	l.MaxConnections = cmpOr(l.MaxConnections, 4096)
	t := &o.Timeouts
	t.Hello = cmpOr(t.Hello, 30*time.Second)
	t.Read = cmpOr(t.Read, 5*time.Minute)
	t.Write = cmpOr(t.Write, 10*time.Second)
	t.Ping = cmpOr(t.Ping, 30*time.Second)
	t.Pong = cmpOr(t.Pong, 15*time.Second)
	t.Absent = cmpOr(t.Absent, 60*time.Second)
	t.Answer = cmpOr(t.Answer, 10*time.Second)
	t.ObserveRetry = cmpOr(t.ObserveRetry, 3*time.Second)
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
}

func cmpOr[T int | time.Duration](v, def T) T {
	if v <= 0 {
		return def
	}
	return v
}

// Steward serves native things over WebSockets: the Native Thing draft on
// /native and the Simple Thing Protocol on /manage, one engine for both.
// Create it with New, serve it with Run.
type Steward struct {
	opts Options
	log  *slog.Logger
	st   stats

	certPEM        []byte
	sha1, sha256FP string

	reqSeq atomic.Uint64 // the steward's own requestIDs

	mu       sync.Mutex
	clients  map[string]*client // by client ID
	byName   map[string]string  // client name -> ID
	protos   map[string]*prototype
	things   map[string]*nthing // by UDN
	sids     map[string]*nthing // live session thingIDs
	events   map[string]*event  // live eventIDs
	sessions map[*session]struct{}
	closed   bool

	wg sync.WaitGroup // connections
}

// client is one pairing.
type client struct {
	ID         string     `json:"id"`
	Name       string     `json:"name"`
	Generation Generation `json:"generation"`
	// Key is the TOTP key of a Simple pairing.
	Key secret `json:"key,omitempty"`
	// PassHash is the hash of a Native pairing's passcode.
	PassHash  []byte    `json:"passHash,omitempty"`
	Created   time.Time `json:"created"`
	LastLogin time.Time `json:"lastLogin,omitzero"`
	Remote    string    `json:"remote,omitempty"`
}

// admin is the pairing as the admin API shows it, without its
// connections and things.
func (c *client) admin() admin.StewardClient {
	return admin.StewardClient{ID: c.ID, Name: c.Name, Generation: c.Generation.String(), Created: c.Created, LastLogin: c.LastLogin}
}

// prototype is a defined thing prototype.
type prototype struct {
	rec   protoRecord
	specs map[string]spec
}

// protoRecord is a prototype as stored and as the prototype message
// defined it.
type protoRecord struct {
	Path       string                     `json:"path"`
	Client     string                     `json:"client"`
	Generation Generation                 `json:"generation"`
	Observe    []string                   `json:"observe"`
	Perform    []string                   `json:"perform"`
	Status     []string                   `json:"status,omitempty"`
	Properties map[string]json.RawMessage `json:"properties"`
	Validate   struct {
		Observe bool `json:"observe"`
		Perform bool `json:"perform"`
	} `json:"validate"`
	Device  json.RawMessage `json:"device,omitempty"`
	Defined time.Time       `json:"defined"`
}

// thingRecord is a native thing as stored: its permanent identity is its
// UDN.
type thingRecord struct {
	UDN        string          `json:"udn"`
	Client     string          `json:"client"`
	Prototype  string          `json:"prototype"`
	Name       string          `json:"name"`
	Device     json.RawMessage `json:"device,omitempty"`
	Registered time.Time       `json:"registered"`
}

// nthing is a native thing in memory. Its fields are guarded by the
// steward's mutex except lastUpdate and absent.
type nthing struct {
	rec   thingRecord
	proto *prototype
	id    string // the hub's thing ID

	sess *session // the live session it is attached to, or nil
	sid  string   // its thingID in that session

	lastUpdate atomic.Int64 // Unix ns of the last register or update
	absent     atomic.Bool  // marked absent for silence while attached
	counts     map[string]int64
}

// event is an observation a live session carries.
type event struct {
	id        string
	sess      *session
	thing     *nthing
	observe   string
	parameter string
	watched   bool
	sent      time.Time
	rid       string // requestID of the latest observe request
}

// ThingID returns the hub's ID of the native thing with that UDN:
// "native:<UDN>".
func ThingID(udn string) string { return "native:" + udn }

// Store keys.
const (
	keyClient = "client/" // + store.SeqKey of the client ID
	keyProto  = "prototype/"
	keyThing  = "thing/"
)

// clientKey is the store key of the pairing with client ID id.
func clientKey(id string) string {
	n, _ := strconv.ParseUint(id, 10, 64)
	return keyClient + store.SeqKey(n)
}

// New loads the pairings, prototypes and things from the store and puts the
// things into the hub, absent until they connect.
func New(opts Options) (*Steward, error) {
	if opts.Store == nil || opts.Hub == nil || opts.Pairing == nil {
		return nil, fmt.Errorf("%w: Store, Hub and Pairing are required", ErrConfig)
	}
	opts.defaults()
	s := &Steward{
		opts: opts, log: opts.Logger,
		clients: map[string]*client{}, byName: map[string]string{},
		protos: map[string]*prototype{}, things: map[string]*nthing{},
		sids: map[string]*nthing{}, events: map[string]*event{}, sessions: map[*session]struct{}{},
	}
	if c := opts.Certificate; len(c.Certificate) > 0 {
		s.certPEM = certs.PEM(c)
		s.sha1, s.sha256FP = certs.SHA1(c.Certificate[0]), certs.SHA256(c.Certificate[0])
	}
	if err := s.load(); err != nil {
		return nil, err
	}
	return s, nil
}

func (s *Steward) load() error {
	cl, err := s.opts.Store.List(keyClient)
	if err != nil {
		return fmt.Errorf("steward: load pairings: %w", err)
	}
	for _, e := range cl {
		var c client
		if err := json.Unmarshal(e.Value, &c); err != nil || c.ID == "" {
			s.log.Warn("steward: unreadable pairing skipped", "key", e.Key)
			continue
		}
		s.clients[c.ID], s.byName[c.Name] = &c, c.ID
	}
	pl, err := s.opts.Store.List(keyProto)
	if err != nil {
		return fmt.Errorf("steward: load prototypes: %w", err)
	}
	for _, e := range pl {
		var r protoRecord
		if err := json.Unmarshal(e.Value, &r); err != nil {
			s.log.Warn("steward: unreadable prototype skipped", "key", e.Key)
			continue
		}
		p, err := newPrototype(r)
		if err != nil {
			s.log.Warn("steward: invalid prototype skipped", "path", r.Path, "err", err)
			continue
		}
		s.protos[r.Path] = p
	}
	tl, err := s.opts.Store.List(keyThing)
	if err != nil {
		return fmt.Errorf("steward: load things: %w", err)
	}
	for _, e := range tl {
		var r thingRecord
		if err := json.Unmarshal(e.Value, &r); err != nil || r.UDN == "" {
			s.log.Warn("steward: unreadable thing skipped", "key", e.Key)
			continue
		}
		p := s.protos[r.Prototype]
		if p == nil {
			s.log.Warn("steward: thing of an unknown prototype skipped", "udn", r.UDN, "prototype", r.Prototype)
			continue
		}
		nt := &nthing{rec: r, proto: p, id: ThingID(r.UDN), counts: map[string]int64{}}
		t := p.thing(nt.id, r.Name)
		if s.opts.Restore != nil {
			s.opts.Restore(&t)
		}
		for _, pr := range t.Properties {
			if n, ok := strings.CutPrefix(pr.Name, eventPrefix); ok {
				nt.counts[n], _ = pr.Value.AsInt()
			}
		}
		if _, err := s.opts.Hub.Upsert(t); err != nil {
			return fmt.Errorf("steward: restore %s: %w", nt.id, err)
		}
		s.things[r.UDN] = nt
	}
	return nil
}

// eventPrefix names the hub property counting an observed event's
// occurrences: "event.motion".
const eventPrefix = "event."

// newPrototype parses a record's property types.
func newPrototype(r protoRecord) (*prototype, error) {
	p := &prototype{rec: r, specs: make(map[string]spec, len(r.Properties))}
	for name, raw := range r.Properties {
		if name == "" {
			return nil, fmt.Errorf("a property without a name")
		}
		sp, err := parseSpec(raw, 0)
		if err != nil {
			return nil, fmt.Errorf("property %s: %w", name, err)
		}
		p.specs[name] = sp
	}
	if _, ok := p.specs["status"]; !ok {
		p.specs["status"] = spec{kind: specKeywords, keywords: r.Status}
	}
	delete(p.specs, "name")
	return p, nil
}

// thing describes a native thing of this prototype for the hub.
func (p *prototype) thing(id, name string) things.Thing {
	t := things.Thing{ID: id, Kind: things.KindNative, Name: name}
	names := make([]string, 0, len(p.specs))
	for n := range p.specs {
		names = append(names, n)
	}
	slices.Sort(names)
	for _, n := range names {
		t.Properties = p.specs[n].properties(n, t.Properties)
	}
	for _, a := range p.rec.Perform {
		if a != "" && a != "set" && !slices.ContainsFunc(t.Actions, func(x things.Action) bool { return x.Name == a }) {
			t.Actions = append(t.Actions, things.Action{Name: a})
		}
	}
	t.Actions = append(t.Actions, things.Action{Name: "set", Description: "rename the thing (name=...), handled by the steward"})
	return t
}

// randomID returns a random 8-digit zero-padded string not in used.
func randomID(used func(string) bool) string {
	for {
		n, _ := rand.Int(rand.Reader, big.NewInt(100_000_000)) // crypto/rand never fails
		id := fmt.Sprintf("%08d", n.Int64())
		if !used(id) {
			return id
		}
	}
}

// nextRequestID returns the steward's next requestID, a string.
func (s *Steward) nextRequestID() string { return strconv.FormatUint(s.reqSeq.Add(1), 10) }

func (s *Steward) putJSON(key string, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return s.opts.Store.Put(key, b)
}

// Clients lists the pairings, by ID order, with their live connections and
// things.
func (s *Steward) Clients() []admin.StewardClient {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]admin.StewardClient, 0, len(s.clients))
	for _, c := range s.clients {
		cl := c.admin()
		for sess := range s.sessions {
			if sess.clientID() == c.ID {
				cl.Connected++
			}
		}
		for _, nt := range s.things {
			if nt.rec.Client == c.ID {
				cl.Things = append(cl.Things, nt.id)
			}
		}
		slices.Sort(cl.Things)
		out = append(out, cl)
	}
	slices.SortFunc(out, func(a, b admin.StewardClient) int {
		x, _ := strconv.ParseUint(a.ID, 10, 64)
		y, _ := strconv.ParseUint(b.ID, 10, 64)
		return int(x) - int(y)
	})
	return out
}

// Revoke removes the pairing called name (or with that client ID) and
// closes its sockets. Its things stay in the hub, absent, until another
// pairing registers their UDNs.
func (s *Steward) Revoke(name string) (admin.StewardClient, error) {
	s.mu.Lock()
	id, ok := s.byName[name]
	if !ok {
		if _, byID := s.clients[name]; byID {
			id, ok = name, true
		}
	}
	if !ok {
		s.mu.Unlock()
		return admin.StewardClient{}, fmt.Errorf("%w: %q", ErrUnknownClient, name)
	}
	c := s.clients[id]
	if err := s.opts.Store.Delete(clientKey(id)); err != nil {
		s.mu.Unlock()
		return admin.StewardClient{}, fmt.Errorf("steward: revoke %s: %w", name, err)
	}
	delete(s.clients, id)
	delete(s.byName, c.Name)
	var victims []*session
	for sess := range s.sessions {
		if sess.clientID() == id {
			victims = append(victims, sess)
		}
	}
	s.mu.Unlock()
	for _, v := range victims {
		v.closeWith(closeRevoked, "pairing revoked")
		v.detach()
	}
	s.st.revoked.Add(1)
	s.log.Info("steward: pairing revoked", "client", c.ID, "name", c.Name, "closed", len(victims))
	return c.admin(), nil
}

// advertise announces the steward on the secure port: _wss._tcp and
// _https._tcp, TXT uuid, name and the certificate's sha256.
func (s *Steward) advertise(port int) ([]*mdns.Registration, error) {
	if s.opts.Advertiser == nil {
		return nil, nil
	}
	text := []string{"uuid=" + s.opts.UUID}
	if s.opts.Name != "" {
		text = append(text, "name="+s.opts.Name)
	}
	if s.sha256FP != "" {
		text = append(text, "sha256="+s.sha256FP)
	}
	var regs []*mdns.Registration
	for _, typ := range []string{"_wss._tcp", "_https._tcp"} {
		r, err := s.opts.Advertiser.Advertise(mdns.Service{Instance: "steward", Type: typ, Port: port, Text: text})
		if err != nil {
			for _, r := range regs {
				r.Close()
			}
			return nil, fmt.Errorf("steward: %w", err)
		}
		regs = append(regs, r)
	}
	return regs, nil
}

// sweep marks silent things absent and sends unconfirmed observations
// again, until ctx ends.
func (s *Steward) sweep(ctx context.Context) {
	every := min(s.opts.Timeouts.Absent/6, s.opts.Timeouts.ObserveRetry, time.Second)
	t := time.NewTicker(max(every, 10*time.Millisecond))
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		now := time.Now()
		var silent []*nthing
		var resend []*event
		s.mu.Lock()
		for _, nt := range s.things {
			if nt.sess != nil && !nt.absent.Load() && now.Sub(time.Unix(0, nt.lastUpdate.Load())) >= s.opts.Timeouts.Absent {
				silent = append(silent, nt)
			}
		}
		for _, ev := range s.events {
			if !ev.watched && now.Sub(ev.sent) >= s.opts.Timeouts.ObserveRetry {
				ev.sent = now
				resend = append(resend, ev)
			}
		}
		s.mu.Unlock()
		for _, nt := range silent {
			if nt.absent.CompareAndSwap(false, true) {
				s.st.absent.Add(1)
				_ = s.opts.Hub.SetPresent(nt.id, false)
			}
		}
		for _, ev := range resend {
			ev.sess.sendObserve(ev, false)
		}
	}
}
