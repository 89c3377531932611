package steward

import (
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/edgegate/edgegate/gateway/things"
	"github.com/edgegate/edgegate/store"
)

// closeCode is a WebSocket close status the steward uses.
type closeCode int

// The close codes (RFC 6455 section 7.4.1).
const (
	closeNormal      closeCode = 1000 // a permanent error, the steward stopping
	closeGoingAway   closeCode = 1001 // "automatic close": a newer hello for the same client
	closeBinary      closeCode = 1003 // a binary frame
	closeInvalidJSON closeCode = 1007
	closePolicy      closeCode = 1008 // no requestID, no path, flooding, hello timeout
	closeTooBig      closeCode = 1009
	closeRevoked     closeCode = 4001 // the pairing was revoked
)

// transport is a session's connection: a writer queue and a close.
type transport interface {
	// send queues one text frame: errClosing when the connection is
	// closing, errQueueFull when the peer does not read its frames.
	send(frame []byte) error
	// close sends the frames queued so far, then closes with code.
	close(code closeCode, reason string)
	// abort drops the connection without a close handshake.
	abort()
	remote() string
}

// session is one connection's protocol state: who it is (after hello) and
// the thingIDs, eventIDs and pending requests that live as long as it
// does.
type session struct {
	s *Steward
	t transport

	mu       sync.Mutex
	gen      Generation // the generation of its hello (before it, of its endpoint)
	client   string     // client ID after hello; "" before
	things   map[string]*nthing
	pending  map[string]*pending
	retired  []string // requestIDs whose late answers are ignored
	closed   bool
	failures int // failed hellos

	// rate limiting (reader goroutine only)
	tokens float64
	last   time.Time
	flood  int
}

// pending is a request of the steward's waiting for the thing's answer.
type pending struct {
	kind string // "observe", "perform", "cancel"
	done chan []Entry
}

func (s *Steward) newSession(t transport, endpoint Generation) *session {
	return &session{s: s, t: t, gen: endpoint,
		things: map[string]*nthing{}, pending: map[string]*pending{},
		tokens: float64(s.opts.Limits.MessageBurst)}
}

func (se *session) clientID() string {
	se.mu.Lock()
	defer se.mu.Unlock()
	return se.client
}

func (se *session) generation() Generation {
	se.mu.Lock()
	defer se.mu.Unlock()
	return se.gen
}

func (se *session) isClosed() bool {
	se.mu.Lock()
	defer se.mu.Unlock()
	return se.closed
}

// closeWith closes the session's connection after what was queued.
func (se *session) closeWith(code closeCode, reason string) {
	se.mu.Lock()
	already := se.closed
	se.closed = true
	se.mu.Unlock()
	if !already {
		se.t.close(code, reason)
	}
}

func (se *session) sendJSON(v any) {
	b, err := json.Marshal(v)
	if err != nil {
		se.s.log.Error("steward: encode", "err", err)
		return
	}
	if err := se.t.send(b); err == errQueueFull {
		se.s.st.slowClosed.Add(1)
		se.closeWith(closePolicy, "not reading")
	}
}

// reply sends a reply; a Simple pair or hello reply carries a timestamp.
func (se *session) reply(r Reply, stamped bool) {
	if stamped {
		r.Timestamp = time.Now().Unix()
	}
	se.sendJSON(r)
}

// fail answers m with an error; a permanent one closes the socket, as the
// original steward does.
func (se *session) fail(m Message, permanent bool, diagnostic string, stamped bool) {
	se.failVia(m, &ErrorBody{Permanent: permanent, Diagnostic: diagnostic}, stamped)
}

func (se *session) failVia(m Message, e *ErrorBody, stamped bool) {
	se.reply(Reply{RequestID: m.RequestID, Error: e}, stamped)
	if e.Permanent {
		se.s.st.closedPermanent.Add(1)
		se.closeWith(closeNormal, e.Diagnostic)
	}
}

// allow takes a token from the connection's bucket.
func (se *session) allow(now time.Time) bool {
	l := se.s.opts.Limits
	if !se.last.IsZero() {
		se.tokens = min(float64(l.MessageBurst), se.tokens+now.Sub(se.last).Seconds()*l.MessageRate)
	}
	se.last = now
	if se.tokens >= 1 {
		se.tokens--
		se.flood = 0
		return true
	}
	se.flood++
	return false
}

// handle processes one text frame. It returns false when the connection
// is to be closed (it has been asked to close already).
func (se *session) handle(frame []byte) bool {
	s := se.s
	s.st.messages.Add(1)
	m, err := Decode(frame)
	switch err {
	case nil:
	case ErrInvalidJSON:
		s.st.closedInvalidJSON.Add(1)
		se.closeWith(closeInvalidJSON, "invalid JSON")
		return false
	default:
		s.st.closedNoRequestID.Add(1)
		se.closeWith(closePolicy, "missing requestID")
		return false
	}
	if !se.allow(time.Now()) {
		s.st.rateLimited.Add(1)
		if se.flood > 2*s.opts.Limits.MessageBurst {
			se.closeWith(closePolicy, "message rate exceeded")
			return false
		}
		se.fail(m, false, "rate limit exceeded, slow down", false)
		return true
	}
	if m.Path == "" {
		if !se.answer(m) {
			s.st.closedNoPath.Add(1)
			se.closeWith(closePolicy, "missing path")
			return false
		}
		return !se.isClosed()
	}
	o, gen, arg := route(m.Path)
	switch o {
	case opPair:
		se.pair(m, gen, arg)
	case opHello:
		se.hello(m, gen, arg)
	case opUnknown:
		se.fail(m, false, "unknown api", false)
	default:
		if se.clientID() == "" {
			se.fail(m, false, "unknown api", false)
			break
		}
		switch o {
		case opPrototype:
			se.prototype(m, gen)
		case opRegister:
			se.register(m, gen)
		case opUpdate:
			se.update(m, gen)
		case opReport:
			se.report(m, gen)
		}
	}
	return !se.isClosed()
}

// pair creates a pairing: a Simple client with a TOTP key, or a Native
// one with a passcode.
func (se *session) pair(m Message, gen Generation, arg string) {
	s := se.s
	stamped := gen == Simple
	var name string
	if gen == Simple {
		n, ok := m.String("name")
		switch {
		case !ok:
			se.fail(m, true, "missing name element", stamped)
			return
		case n == "":
			se.fail(m, true, "empty name element", stamped)
			return
		}
		name = n
	} else {
		u, ok := m.String("uuid")
		switch {
		case !ok:
			se.fail(m, true, "missing uuid element", false)
			return
		case u == "":
			se.fail(m, true, "empty uuid element", false)
			return
		}
		name = u
	}
	if !s.opts.Pairing.IsOpen() {
		s.st.pairsRefused.Add(1)
		if gen == Simple {
			se.failVia(m, &ErrorBody{Diagnostic: "unknown api: " + m.Path, Videlicet: "pairing window closed"}, stamped)
		} else {
			se.fail(m, false, "pairing window closed", false)
		}
		return
	}
	code, hasCode := m.String("pairingCode", "paringCode")
	if s.opts.Pairing.CodeRequired() {
		if !hasCode {
			s.st.pairsRefused.Add(1)
			se.fail(m, true, "missing pairingCode element", stamped)
			return
		}
		if !s.opts.Pairing.Match(code) {
			s.st.pairsRefused.Add(1)
			se.fail(m, false, "invalid pairingCode element", stamped)
			return
		}
	}
	if strings.Contains(name, "/") || len(name) > 256 {
		se.fail(m, true, "invalid uuid", stamped)
		return
	}
	if gen == Simple {
		// The original steward acknowledges the pair at once and answers
		// when the pairing is stored; its client waits for both.
		se.reply(Reply{RequestID: m.RequestID}, true)
	}
	c := &client{Name: name, Generation: gen, Created: time.Now().UTC(), Remote: se.t.remote()}
	var pass secret
	if gen == Simple {
		c.Key = newTOTPKey()
	} else {
		pass = newPasscode()
		c.PassHash = passHash(string(pass))
	}
	s.mu.Lock()
	if id, dup := s.byName[name]; dup {
		s.mu.Unlock()
		s.st.pairsRefused.Add(1)
		se.failVia(m, &ErrorBody{Diagnostic: "duplicate uuid", Videlicet: "user/.things/" + id}, stamped)
		return
	}
	err := s.opts.Store.Update(func(t *store.KVTx) error {
		n, err := t.NextSequence()
		if err != nil {
			return err
		}
		c.ID = strconv.FormatUint(n, 10)
		b, err := json.Marshal(c)
		if err != nil {
			return err
		}
		return t.Put(clientKey(c.ID), b)
	})
	if err != nil {
		s.mu.Unlock()
		s.log.Error("steward: store the pairing", "err", err)
		se.fail(m, false, "database busy, please retry", stamped)
		return
	}
	s.clients[c.ID], s.byName[name] = c, c.ID
	s.mu.Unlock()
	s.st.paired.Add(1)
	s.log.Info("steward: paired", "client", c.ID, "name", name, "generation", gen.String(), "remote", se.t.remote())
	res := map[string]any{"status": "success", "success": true}
	if gen == Simple {
		issuer := cmpStr(s.opts.Name, "steward")
		res["thingID"] = c.ID
		res["params"] = map[string]any{"algorithm": "sha1", "length": totpKeyLen, "name": name + "@" + issuer,
			"issuer": issuer, "step": int(totpStep / time.Second), "base32": base32Key(c.Key), "protocol": "totp"}
	} else {
		res["passCode"] = string(pass)
	}
	se.reply(Reply{RequestID: m.RequestID, Result: res}, stamped)
}

func cmpStr(a, b string) string {
	if a == "" {
		return b
	}
	return a
}

// maxHelloFailures closes a connection that keeps guessing.
const maxHelloFailures = 5

// hello authenticates the session as a paired client.
func (se *session) hello(m Message, gen Generation, arg string) {
	s := se.s
	stamped := gen == Simple
	var c *client
	if gen == Simple {
		if arg == "" {
			se.fail(m, true, "missing thingID", true)
			return
		}
		resp, ok := m.String("response")
		if !ok {
			se.fail(m, true, "missing response element", true)
			return
		}
		if len(resp) < minDigits {
			se.fail(m, true, "invalid response element", true)
			return
		}
		s.mu.Lock()
		c = s.clients[arg]
		var key secret
		if c != nil && c.Generation == Simple {
			key = c.Key
		}
		s.mu.Unlock()
		if key == "" {
			se.helloFailed(m, "invalid thingID/response pair")
			return
		}
		if !checkTOTP(key, resp, time.Now()) {
			se.helloFailed(m, "invalid thingID/response pair (check your clock)")
			return
		}
	} else {
		uuid, _ := m.String("uuid")
		pass, _ := m.String("passcode", "passCode")
		s.mu.Lock()
		if id, ok := s.byName[uuid]; ok && s.clients[id].Generation == Native {
			c = s.clients[id]
		}
		var hash []byte
		if c != nil {
			hash = c.PassHash
		}
		s.mu.Unlock()
		if !checkPasscode(hash, pass) {
			s.st.helloFailed.Add(1)
			se.fail(m, true, "authentication failed", false)
			return
		}
	}
	se.mu.Lock()
	if se.client != "" && se.client != c.ID {
		se.mu.Unlock()
		se.fail(m, false, "already authenticated as another client", stamped)
		return
	}
	se.client, se.gen = c.ID, gen
	se.mu.Unlock()

	s.mu.Lock()
	prev := c.LastLogin
	c.LastLogin, c.Remote = time.Now().UTC(), se.t.remote()
	rec := *c
	var older []*session
	for o := range s.sessions {
		if o != se && o.clientID() == c.ID {
			older = append(older, o)
		}
	}
	s.mu.Unlock()
	if err := s.putJSON(clientKey(rec.ID), rec); err != nil {
		s.log.Warn("steward: store the last login", "client", rec.ID, "err", err)
	}
	for _, o := range older {
		o.closeWith(closeGoingAway, "automatic close")
		o.detach() // its things may be registered again at once
	}
	s.st.helloOK.Add(1)
	s.log.Info("steward: hello", "client", rec.ID, "name", rec.Name, "generation", gen.String(), "remote", se.t.remote())
	if gen == Native {
		se.reply(Reply{RequestID: m.RequestID, Result: success()}, false)
		return
	}
	var last any
	if !prev.IsZero() {
		last = prev.Format(time.RFC3339Nano)
	}
	se.reply(Reply{RequestID: m.RequestID, Result: map[string]any{
		"uuid": s.opts.UUID + ":things", "name": ".things", "comments": "simple thing protocol client", "lastLogin": last,
		"client":  map[string]any{"uuid": rec.Name, "name": rec.Name, "comments": "", "lastLogin": last, "thingID": ".things/" + rec.ID},
		"success": true, "status": "success",
	}}, true)
}

func (se *session) helloFailed(m Message, diagnostic string) {
	se.s.st.helloFailed.Add(1)
	se.mu.Lock()
	se.failures++
	n := se.failures
	se.mu.Unlock()
	se.fail(m, false, diagnostic, true)
	if n >= maxHelloFailures {
		se.closeWith(closePolicy, "too many failed hellos")
	}
}

// thingEntries reads a request's things; a missing element is a permanent
// error, too many entries a temporary one.
func (se *session) thingEntries(m Message) ([]Entry, bool) {
	list, ok := m.Entries("things")
	if !ok {
		se.fail(m, true, "missing things element", false)
		return nil, false
	}
	if !se.withinEntryLimit(m, len(list)) {
		return nil, false
	}
	return list, true
}

// withinEntryLimit reports whether a message's n entries are within the
// limit, and fails the message (a temporary error) when they are not.
func (se *session) withinEntryLimit(m Message, n int) bool {
	if limit := se.s.opts.Limits.MaxEntries; n > limit {
		se.fail(m, false, fmt.Sprintf("too many entries (at most %d)", limit), false)
		return false
	}
	return true
}

// prototype defines thing prototypes.
func (se *session) prototype(m Message, gen Generation) {
	s := se.s
	list, ok := se.thingEntries(m)
	if !ok {
		return
	}
	cid := se.clientID()
	out := make(map[string]Result, len(list))
	for _, e := range list {
		path := e.Key
		if !validThingPath(path) || !e.IsObject() {
			out[path] = failure(false, "invalid thingPath")
			continue
		}
		rec := protoRecord{Path: path, Client: cid, Generation: gen, Defined: time.Now().UTC()}
		props, hasProps := e.Object("properties")
		dev, hasDev := e.Object("device")
		if gen == Simple {
			var fatal string
			switch {
			case !hasDev:
				fatal = "missing device in " + path
			case !nonEmpty(dev, "name"):
				fatal = "missing device name in " + path
			case !e.Has("name"):
				fatal = "missing name in " + path
			case !e.Has("status"):
				fatal = "missing status in " + path
			}
			if fatal != "" {
				se.fail(m, true, fatal, false)
				return
			}
		} else if !hasProps {
			out[path] = failure(true, "missing properties parameter")
			continue
		}
		if hasDev {
			rec.Device, _ = e.Field("device")
		}
		rec.Properties = map[string]json.RawMessage{}
		for k, v := range props {
			if k != "name" {
				rec.Properties[k] = v
			}
		}
		if raw, ok := e.Field("status"); ok {
			if _, isList := rec.Properties["status"]; !isList {
				rec.Properties["status"] = raw
			}
		}
		if raw, ok := rec.Properties["status"]; ok {
			if sp, err := parseSpec(raw, 0); err == nil && sp.kind == specKeywords {
				rec.Status = sp.keywords
			} else if err != nil || sp.kind != specString {
				out[path] = failure(false, "invalid status in "+path)
				continue
			}
		}
		rec.Observe, rec.Perform = stringList(e, "observe"), stringList(e, "perform")
		if v, ok := e.Object("validate"); ok {
			rec.Validate.Observe = boolMember(v, "observe")
			rec.Validate.Perform = boolMember(v, "perform")
		}
		p, err := newPrototype(rec)
		if err != nil {
			out[path] = failure(false, "invalid properties in "+path+": "+err.Error())
			continue
		}
		s.mu.Lock()
		if _, exists := s.protos[path]; exists {
			s.mu.Unlock()
			r := success()
			r.Diagnostic = "previously defined"
			out[path] = r
			continue
		}
		n := 0
		for _, q := range s.protos {
			if q.rec.Client == cid {
				n++
			}
		}
		if n >= s.opts.Limits.MaxPrototypes {
			s.mu.Unlock()
			s.st.limited.Add(1)
			out[path] = failure(false, fmt.Sprintf("too many prototypes for this client (at most %d)", s.opts.Limits.MaxPrototypes))
			continue
		}
		if err := s.putJSON(keyProto+path, rec); err != nil {
			s.mu.Unlock()
			s.log.Error("steward: store the prototype", "path", path, "err", err)
			out[path] = failure(false, "database busy, please retry")
			continue
		}
		s.protos[path] = p
		s.mu.Unlock()
		s.st.prototypes.Add(1)
		out[path] = success()
	}
	se.reply(Reply{RequestID: m.RequestID, Things: out}, false)
}

// validThingPath reports whether p is /device/<x>[/...].
func validThingPath(p string) bool {
	rest, ok := strings.CutPrefix(p, "/device/")
	if !ok || rest == "" || len(p) > 512 {
		return false
	}
	for _, seg := range strings.Split(rest, "/") {
		if seg == "" {
			return false
		}
	}
	return true
}

func nonEmpty(obj map[string]json.RawMessage, key string) bool {
	raw, ok := field(obj, key)
	if !ok {
		return false
	}
	s, isText := scalarText(raw)
	if isText {
		return s != ""
	}
	_, isObj := object(raw)
	return isObj
}

func boolMember(obj map[string]json.RawMessage, key string) bool {
	raw, ok := field(obj, key)
	var b bool
	return ok && json.Unmarshal(raw, &b) == nil && b
}

func stringList(e Entry, key string) []string {
	raw, ok := e.Field(key)
	out := []string{}
	if !ok {
		return out
	}
	var list []json.RawMessage
	if json.Unmarshal(raw, &list) != nil {
		return out
	}
	for _, v := range list {
		if s, ok := scalarText(v); ok && s != "" {
			out = append(out, s)
		}
	}
	return out
}

// register defines or re-attaches things, giving each a thingID for the
// session.
func (se *session) register(m Message, gen Generation) {
	s := se.s
	list, ok := se.thingEntries(m)
	if !ok {
		return
	}
	cid := se.clientID()
	out := make(map[string]Result, len(list))
	var attached []*nthing
	for _, e := range list {
		key := e.Key
		bad := func(diag string) bool {
			if gen == Simple {
				se.fail(m, true, diag, false)
				return true
			}
			out[key] = failure(true, diag)
			return false
		}
		if !e.IsObject() {
			if bad("invalid thing " + key) {
				return
			}
			continue
		}
		ptype, hasType := e.String("devicetype", "prototype")
		s.mu.Lock()
		p := s.protos[ptype]
		s.mu.Unlock()
		dev, hasDev := e.Object("device")
		unit, hasUnit := field(dev, "unit")
		unitObj, _ := object(unit)
		udn, hasUDN := "", false
		if raw, ok := field(unitObj, "udn"); ok {
			udn, hasUDN = scalarText(raw)
			hasUDN = hasUDN && udn != ""
		}
		var diag string
		switch {
		case !hasType:
			diag = "missing devicetype property in " + key
		case p == nil:
			diag = "unknown devicetype in " + key
		case gen == Simple && !e.Has("name"):
			diag = "missing name in " + key
		case gen == Simple && !e.Has("status"):
			diag = "missing status in " + key
		case gen == Simple && !hasDev:
			diag = "missing device in " + key
		case gen == Simple && !nonEmpty(dev, "name"):
			diag = "missing device name in " + key
		case gen == Simple && (!hasUnit || unitObj == nil):
			diag = "missing device unit property in " + key
		case gen == Simple && !hasUDN:
			diag = "missing device unit UDN in " + key
		}
		if diag != "" {
			if bad(diag) {
				return
			}
			continue
		}
		if !hasUDN {
			udn = key // the draft keys registrations by UDN
		}
		if len(udn) > 512 {
			out[key] = failure(true, "invalid UDN in "+key)
			continue
		}
		name, _ := e.String("name")
		if name == "" {
			name, _ = scalarText(dev["name"])
		}
		name = cmpStr(name, udn)
		props, err := se.thingValues(p, e)
		if err != nil {
			out[key] = failure(false, err.Error()+" in "+key)
			continue
		}
		nt, res := se.attach(p, udn, name, cid, e, gen)
		out[key] = res
		if nt == nil {
			continue
		}
		now := time.Now()
		if len(props) > 0 {
			if err := s.opts.Hub.Update(nt.id, props, now); err != nil {
				s.log.Debug("steward: register values", "thing", nt.id, "err", err)
			}
		}
		attached = append(attached, nt)
	}
	se.reply(Reply{RequestID: m.RequestID, Things: out}, false)
	if s.opts.ObserveDeclared {
		for _, nt := range attached {
			for _, o := range nt.proto.rec.Observe {
				se.observe(nt, o, "{}", false)
			}
		}
	}
}

// attach registers or re-attaches the thing with udn to the session.
func (se *session) attach(p *prototype, udn, name, cid string, e Entry, gen Generation) (*nthing, Result) {
	s := se.s
	now := time.Now()
	s.mu.Lock()
	nt := s.things[udn]
	if nt != nil && nt.sess != nil {
		s.mu.Unlock()
		return nil, failure(gen == Native, "UDN is already registered")
	}
	if nt == nil || nt.rec.Client != cid {
		n := 0
		for _, t := range s.things {
			if t.rec.Client == cid {
				n++
			}
		}
		if n >= s.opts.Limits.MaxThings {
			s.mu.Unlock()
			s.st.limited.Add(1)
			return nil, failure(false, fmt.Sprintf("too many things for this client (at most %d)", s.opts.Limits.MaxThings))
		}
	}
	rec := thingRecord{UDN: udn, Client: cid, Prototype: p.rec.Path, Name: name, Registered: now.UTC()}
	if raw, ok := e.Field("device"); ok {
		rec.Device = raw
	}
	if nt != nil && !nt.rec.Registered.IsZero() {
		rec.Registered = nt.rec.Registered
	}
	if err := s.putJSON(keyThing+udn, rec); err != nil {
		s.mu.Unlock()
		s.log.Error("steward: store the thing", "udn", udn, "err", err)
		return nil, failure(false, "database busy, please retry")
	}
	reattach := nt != nil
	if nt == nil {
		nt = &nthing{id: ThingID(udn), counts: map[string]int64{}}
		s.things[udn] = nt
	}
	nt.rec, nt.proto = rec, p
	sid := randomID(func(id string) bool { _, used := s.sids[id]; return used })
	nt.sess, nt.sid = se, sid
	s.sids[sid] = nt
	nt.lastUpdate.Store(now.UnixNano())
	nt.absent.Store(false)
	se.mu.Lock()
	se.things[sid] = nt
	se.mu.Unlock()
	s.mu.Unlock()
	if _, err := s.opts.Hub.Upsert(p.thing(nt.id, name)); err != nil {
		s.log.Warn("steward: hub", "thing", nt.id, "err", err)
	}
	_ = s.opts.Hub.SetPresent(nt.id, true)
	if reattach {
		s.st.reattached.Add(1)
	}
	s.st.registered.Add(1)
	r := success()
	r.ThingID = sid
	return nt, r
}

// thingValues converts a register or update entry's status and info.
func (se *session) thingValues(p *prototype, e Entry) ([]things.PropertyValue, error) {
	var out []things.PropertyValue
	if raw, ok := e.Field("status"); ok && !isNull(raw) {
		st, ok := scalarText(raw)
		if !ok {
			return nil, fmt.Errorf("invalid status")
		}
		out = append(out, things.PropertyValue{Name: "status", Value: things.StringValue(st)})
	}
	if raw, ok := e.Field("info"); ok && !isNull(raw) {
		info, ok := object(raw)
		if !ok {
			return nil, fmt.Errorf("invalid info")
		}
		delete(info, "status")
		var err error
		if out, err = values(p.specs, info, "", 0, out); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// update merges new state into the session's things.
func (se *session) update(m Message, gen Generation) {
	s := se.s
	list, ok := se.thingEntries(m)
	if !ok {
		return
	}
	out := make(map[string]Result, len(list))
	now := time.Now()
	for _, e := range list {
		se.mu.Lock()
		nt := se.things[e.Key]
		se.mu.Unlock()
		if nt == nil {
			s.mu.Lock()
			_, elsewhere := s.sids[e.Key]
			s.mu.Unlock()
			switch {
			case gen == Native:
				out[e.Key] = failure(true, "no such thingID")
			case elsewhere:
				out[e.Key] = failure(false, "invalid clientID")
			default:
				out[e.Key] = failure(false, "invalid thingID")
			}
			continue
		}
		if !e.IsObject() {
			out[e.Key] = failure(false, "invalid thing")
			continue
		}
		s.mu.Lock()
		p := nt.proto
		s.mu.Unlock()
		props, err := se.thingValues(p, e)
		if err != nil {
			out[e.Key] = failure(false, err.Error())
			continue
		}
		if name, ok := e.String("name"); ok && name != "" {
			s.rename(nt, name)
		}
		if len(props) > 0 {
			if err := s.opts.Hub.Update(nt.id, props, now); err != nil {
				out[e.Key] = failure(false, "invalid thing: "+strings.TrimPrefix(err.Error(), "things: "))
				continue
			}
		}
		nt.lastUpdate.Store(now.UnixNano())
		if nt.absent.CompareAndSwap(true, false) {
			_ = s.opts.Hub.SetPresent(nt.id, true)
		}
		s.st.updates.Add(1)
		out[e.Key] = success()
	}
	se.reply(Reply{RequestID: m.RequestID, Things: out}, false)
}

// rename changes a thing's name in the hub and the store.
func (s *Steward) rename(nt *nthing, name string) {
	s.mu.Lock()
	if nt.rec.Name == name {
		s.mu.Unlock()
		return
	}
	nt.rec.Name = name
	rec, p := nt.rec, nt.proto
	err := s.putJSON(keyThing+rec.UDN, rec)
	s.mu.Unlock()
	if err != nil {
		s.log.Warn("steward: store the name", "thing", nt.id, "err", err)
	}
	if _, err := s.opts.Hub.Upsert(p.thing(nt.id, name)); err != nil {
		s.log.Warn("steward: hub", "thing", nt.id, "err", err)
	}
}

// report handles a thing's reports: occurrences and failures of observed
// events (answered per entry), and its answers to the steward's observe and
// perform requests sent as reports (not answered, as in the original).
func (se *session) report(m Message, gen Generation) {
	s := se.s
	events, hasEvents := m.Entries("events")
	tasks, hasTasks := m.Entries("tasks")
	if !hasEvents && !hasTasks {
		se.fail(m, true, "missing event element", false)
		return
	}
	if !se.withinEntryLimit(m, len(events)+len(tasks)) {
		return
	}
	if !hasEvents {
		se.deliver(m.RequestID, tasks)
		return
	}
	out := map[string]Result{}
	var answers []Entry
	for _, e := range events {
		s.mu.Lock()
		ev := s.events[e.Key]
		if ev != nil && ev.sess != se {
			ev = nil
		}
		s.mu.Unlock()
		if !e.IsObject() {
			out[e.Key] = failure(true, "invalid reason")
			continue
		}
		reason, hasReason := e.String("reason")
		hasErr, hasStatus := e.Has("error"), e.Has("status")
		switch {
		case hasErr || (hasStatus && !hasReason):
			// An answer to an observe request.
			if hasErr && !hasReason && gen == Simple {
				se.fail(m, true, "missing reason in "+e.Key, false)
				return
			}
			if !hasErr {
				st, _ := e.String("status")
				if st != "success" && st != "proceed" {
					se.fail(m, true, "invalid status for "+e.Key, false)
					return
				}
			}
			if ev != nil {
				answers = append(answers, e)
			}
			continue
		case ev == nil:
			out[e.Key] = failure(gen == Native, "invalid eventID")
		case reason == "observe":
			s.occurred(ev)
			out[e.Key] = success()
		case reason == "failure":
			diag, _ := e.String("diagnostic")
			s.log.Info("steward: the thing can no longer observe", "event", ev.id, "observe", ev.observe, "diagnostic", diag)
			s.forget(ev)
			out[e.Key] = success()
		default:
			out[e.Key] = failure(true, "invalid reason")
		}
	}
	if len(answers) > 0 {
		se.observeAnswers(answers)
		se.deliver(m.RequestID, answers)
	}
	if len(out) > 0 {
		se.reply(Reply{RequestID: m.RequestID, Events: out}, false)
	}
}

// occurred fires an observed event in the hub: the thing's event.<name>
// property counts its occurrences.
func (s *Steward) occurred(ev *event) {
	s.mu.Lock()
	nt := ev.thing
	nt.counts[ev.observe]++
	n := nt.counts[ev.observe]
	ev.watched = true
	s.mu.Unlock()
	s.st.occurrences.Add(1)
	if err := s.opts.Hub.Update(nt.id, []things.PropertyValue{{Name: eventPrefix + ev.observe, Value: things.IntValue(n)}}, time.Now()); err != nil {
		s.log.Debug("steward: event", "thing", nt.id, "err", err)
	}
}

// forget drops an observation.
func (s *Steward) forget(ev *event) {
	s.mu.Lock()
	delete(s.events, ev.id)
	s.mu.Unlock()
}

// observeAnswers applies a thing's answers to observe requests: success
// confirms the observation, an error ends it, proceed leaves it to be sent
// again.
func (se *session) observeAnswers(list []Entry) {
	s := se.s
	for _, e := range list {
		s.mu.Lock()
		ev := s.events[e.Key]
		if ev == nil || ev.sess != se {
			s.mu.Unlock()
			continue
		}
		if e.Has("error") {
			delete(s.events, e.Key)
		} else if st, _ := e.String("status"); st == "success" {
			ev.watched = true
		}
		s.mu.Unlock()
	}
}

// answer handles a message without a path: the answer to one of the
// steward's requests. It returns false when no request of this session
// has that requestID.
func (se *session) answer(m Message) bool {
	se.mu.Lock()
	p := se.pending[m.RequestID]
	late := p == nil && slices.Contains(se.retired, m.RequestID)
	se.mu.Unlock()
	if late {
		return true
	}
	if p == nil {
		return false
	}
	var list []Entry
	switch p.kind {
	case "observe":
		list, _ = m.Entries("events")
		se.observeAnswers(list)
	case "cancel":
		list, _ = m.Entries("events")
	case "perform":
		list, _ = m.Entries("tasks")
	}
	if e, ok := m.Field("error"); ok {
		// A whole-request error: every entry failed.
		list = []Entry{{Key: "*", Raw: json.RawMessage(`{"error":` + string(e) + `}`), fields: map[string]json.RawMessage{"error": e}}}
	}
	se.deliver(m.RequestID, list)
	return true
}

// deliver hands an answer to the request waiting for it, if any.
func (se *session) deliver(requestID string, list []Entry) {
	se.mu.Lock()
	p := se.pending[requestID]
	delete(se.pending, requestID)
	se.mu.Unlock()
	if p != nil {
		p.done <- list // buffered
	}
}

// expect registers a request of the steward's.
func (se *session) expect(requestID, kind string) *pending {
	p := &pending{kind: kind, done: make(chan []Entry, 1)}
	se.mu.Lock()
	if !se.closed {
		se.pending[requestID] = p
	}
	se.mu.Unlock()
	return p
}

// maxRetired bounds the requestIDs whose late answers are still accepted.
const maxRetired = 32

// retire stops waiting for an answer; one arriving later is still
// accepted (and ignored) for a while, not taken for a message without a
// path.
func (se *session) retire(requestID string) {
	se.mu.Lock()
	if _, ok := se.pending[requestID]; ok {
		delete(se.pending, requestID)
		if len(se.retired) >= maxRetired {
			se.retired = se.retired[1:]
		}
		se.retired = append(se.retired, requestID)
	}
	se.mu.Unlock()
}

// end drops the session's state: its things become absent, its thingIDs,
// eventIDs and pending requests are forgotten.
func (se *session) end() {
	s := se.s
	se.mu.Lock()
	se.closed = true
	pend := se.pending
	se.pending = map[string]*pending{}
	se.mu.Unlock()
	for _, p := range pend {
		close(p.done)
	}
	s.mu.Lock()
	delete(s.sessions, se)
	s.mu.Unlock()
	se.detach()
}

// detach releases the session's things (absent in the hub) and its
// observations.
func (se *session) detach() {
	s := se.s
	s.mu.Lock()
	var gone []string
	for sid, nt := range se.things {
		if nt.sess == se {
			nt.sess, nt.sid = nil, ""
			gone = append(gone, nt.id)
		}
		delete(s.sids, sid)
	}
	se.mu.Lock()
	se.things = map[string]*nthing{}
	se.mu.Unlock()
	for id, ev := range s.events {
		if ev.sess == se {
			delete(s.events, id)
		}
	}
	s.mu.Unlock()
	for _, id := range gone {
		_ = s.opts.Hub.SetPresent(id, false)
	}
}
