package josp

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/edgegate/edgegate/gateway/josp/wire"
	"github.com/edgegate/edgegate/store"
)

// The endpoint's keys in its store.KV namespace:
//
//	obj/<thingID>                  the object's record (JSON, objectRecord)
//	ev/<thingID>/<16 hex digits>   one event row, by the object's event id
const (
	objPrefix = "obj/"
	evPrefix  = "ev/"
)

// objectRecord is what is kept of an object across restarts.
type objectRecord struct {
	// IDHw is the first group of the objId, kept when a new owner makes a
	// new objId.
	IDHw    string `json:"idHw"`
	ObjID   string `json:"objId"`
	OwnerID string `json:"ownerId"`
	// Name is the name a service set (OBJ_SETNAME_MSG); "" is the thing's.
	Name  string      `json:"name,omitempty"`
	Perms []wire.Perm `json:"perms"`
	// Granted lists the configured principals ("srv/usr") that already
	// got their default CoOwner row, so a row a CoOwner removed is not
	// added again at the next start.
	Granted []string `json:"granted,omitempty"`
	// Actions holds the last state of each action pillar, by compPath.
	Actions map[string]float64 `json:"actions,omitempty"`
}

func (r *objectRecord) check() error {
	if !wire.IsObjID(r.ObjID) || len(r.IDHw) != 5 || !wire.IsIDPart(r.OwnerID) {
		return fmt.Errorf("objId %q, idHw %q, owner %q", r.ObjID, r.IDHw, r.OwnerID)
	}
	for _, p := range r.Perms {
		if err := wire.CheckPrincipal(p.SrvID, p.UsrID); err != nil || p.ID == "" || !p.Type.Valid() {
			return fmt.Errorf("permission %q", p.ID)
		}
	}
	return nil
}

// recordStore keeps the records and event logs in the KV namespace.
type recordStore struct {
	kv *store.KV
}

// load returns the thing's record, or a new one (not yet saved) with
// created set.
func (s recordStore) load(thingID string) (rec objectRecord, created bool, err error) {
	b, err := s.kv.Get(objPrefix + thingID)
	if errors.Is(err, store.ErrNotFound) {
		hw := wire.NewObjIDHw()
		return objectRecord{IDHw: hw, ObjID: wire.NewObjID(hw), OwnerID: wire.AnonymousID}, true, nil
	}
	if err != nil {
		return rec, false, err
	}
	if err := json.Unmarshal(b, &rec); err != nil {
		return rec, false, fmt.Errorf("josp: record of %s: %w", thingID, err)
	}
	if err := rec.check(); err != nil {
		return rec, false, fmt.Errorf("josp: record of %s: %w", thingID, err)
	}
	return rec, false, nil
}

func (s recordStore) save(thingID string, rec *objectRecord) error {
	b, err := json.Marshal(rec)
	if err != nil {
		return err
	}
	return s.kv.Put(objPrefix+thingID, b)
}

func (s recordStore) saveAsync(thingID string, rec *objectRecord, done func(error)) {
	b, err := json.Marshal(rec)
	if err != nil {
		done(err)
		return
	}
	s.kv.PutAsync(objPrefix+thingID, b, done)
}

// eventLog is one object's persisted events: rows keyed by a per-object
// sequence, at most max kept (trimmed in batches of a tenth).
type eventLog struct {
	kv     *store.KV
	prefix string
	max    int

	mu   sync.Mutex
	keys []string // oldest first
	next int64    // the next event id
}

func openEventLog(kv *store.KV, thingID string, max int) (*eventLog, error) {
	l := &eventLog{kv: kv, prefix: evPrefix + thingID + "/", max: max, next: 1}
	err := kv.Scan(l.prefix, func(key string, _ []byte) error {
		l.keys = append(l.keys, key)
		return nil
	})
	if err != nil {
		return nil, err
	}
	if n := len(l.keys); n > 0 {
		var last int64
		if _, err := fmt.Sscanf(strings.TrimPrefix(l.keys[n-1], l.prefix), "%x", &last); err == nil {
			l.next = last + 1
		}
	}
	return l, nil
}

// add records an event; the write is queued (durable shortly after), and
// the oldest rows beyond max are deleted now and then.
func (l *eventLog) add(e wire.Event, onErr func(error)) {
	l.mu.Lock()
	e.ID = l.next
	l.next++
	key := l.prefix + store.SeqKey(uint64(e.ID))
	l.keys = append(l.keys, key)
	var trim []string
	if len(l.keys) > l.max+max(1, l.max/10) {
		n := len(l.keys) - l.max
		trim = slices.Clone(l.keys[:n])
		l.keys = slices.Delete(l.keys, 0, n)
	}
	l.mu.Unlock()
	l.kv.PutAsync(key, e.AppendText(nil), func(err error) {
		if err != nil {
			onErr(err)
		}
	})
	if trim != nil {
		// Deleting is rare (once per max/10 events); it waits for its
		// commit, after the rows queued before it.
		if err := l.kv.Update(func(t *store.KVTx) error {
			for _, k := range trim {
				t.Delete(k)
			}
			return nil
		}); err != nil {
			onErr(err)
		}
	}
}

// list returns the events, oldest first.
func (l *eventLog) list() ([]wire.Event, error) {
	var out []wire.Event
	err := l.kv.Scan(l.prefix, func(_ string, v []byte) error {
		if e, err := wire.ParseEvent(string(v)); err == nil {
			out = append(out, e)
		}
		return nil
	})
	return out, err
}

// eventPayload formats the JSON-ish one-line payload the reference writes,
// e.g. {"srvId": "x", "usrId": "y"}, from key/value pairs, sanitised.
func eventPayload(kv ...string) string {
	var b strings.Builder
	b.WriteByte('{')
	for i := 0; i+1 < len(kv); i += 2 {
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "%q: %q", wire.Sanitize(kv[i]), wire.Sanitize(kv[i+1]))
	}
	b.WriteByte('}')
	return b.String()
}

// newEvent returns an event of the object emitted now.
func newEvent(typ, objID, phase, payload string, at time.Time) wire.Event {
	return wire.Event{Type: typ, SrcID: objID, SrcType: wire.AgentObj, EmittedAt: at, Phase: wire.Sanitize(phase),
		Payload: payload, ErrorPayload: "null"}
}
