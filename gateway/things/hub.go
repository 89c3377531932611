package things

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strconv"
	"sync"
	"time"
)

// Persister receives every change the hub applies, in order. It is declared
// here and implemented by the store (bbolt). Both methods are called outside
// the hub's lock but one at a time, so a slow disk delays other writers, never
// readers or subscribers. The hub does not retain value after the call. A
// Persister must not call the hub's mutating methods (it would deadlock);
// reads (Get, List) are fine.
type Persister interface {
	// PutState replaces the latest state of a thing: value is a StateRecord
	// as JSON, at the time of the change.
	PutState(thingID string, value []byte, at time.Time) error
	// AppendHistory records one reading at at: value is a HistoryRecord in
	// its binary form (HistoryRecord.AppendBinary), which ParseHistory
	// reads back given at.
	AppendHistory(thingID string, at time.Time, value []byte) error
}

// StateRecord is the JSON document the hub hands to Persister.PutState: the
// thing's identity, presence and every property with its latest value.
type StateRecord struct {
	ID         string     `json:"id"`
	Kind       Kind       `json:"kind"`
	Name       string     `json:"name,omitempty"`
	Present    bool       `json:"present"`
	LastSeen   time.Time  `json:"lastSeen"`
	Properties []Property `json:"properties"`
}

// HistoryRecord is what the hub hands to Persister.AppendHistory, in its
// binary form: the values of one reading. Its JSON form is what versions
// before the binary form stored; ParseHistory reads both.
type HistoryRecord struct {
	At     time.Time       `json:"at"`
	Values []PropertyValue `json:"values"`
}

// Owner performs actions on the things of one Kind: the OSP server for
// KindOSP (a COMMAND script), the steward for KindNative.
type Owner interface {
	// Perform runs action on the thing with args. The hub has checked that
	// the thing exists, declares the action, and that args match the action's
	// Params when it declares any.
	Perform(ctx context.Context, thingID string, action string, args map[string]string) (Result, error)
}

// Status is the outcome an Owner reports for an accepted action.
type Status uint8

// The outcomes of an action.
const (
	// StatusDone: the thing performed the action.
	StatusDone Status = iota
	// StatusQueued: the command is stored and will be delivered when the
	// thing is reachable (e.g. an OSP COMMAND waiting for the next session).
	StatusQueued
)

// String returns "done" or "queued".
func (s Status) String() string {
	switch s {
	case StatusDone:
		return "done"
	case StatusQueued:
		return "queued"
	}
	return "Status(" + strconv.Itoa(int(s)) + ")"
}

// MarshalText encodes the status as its name.
func (s Status) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// UnmarshalText decodes a status from its name.
func (s *Status) UnmarshalText(b []byte) error {
	switch string(b) {
	case "done":
		*s = StatusDone
	case "queued":
		*s = StatusQueued
	default:
		return fmt.Errorf("things: unknown status %q", b)
	}
	return nil
}

// Result is what an Owner reports for an action it accepted.
type Result struct {
	Status Status `json:"status"`
	// Ref identifies the command at the owner (e.g. an outbox sequence), so
	// that a later response can be matched; empty when not applicable.
	Ref string `json:"ref,omitempty"`
	// Message is optional human-readable detail.
	Message string `json:"message,omitempty"`
}

// Options configure a Hub. The zero Options are valid.
type Options struct {
	// Logger receives warnings (persistence failures). Nil discards.
	Logger *slog.Logger
	// Now is the clock used when an update carries no time. Nil is time.Now.
	Now func() time.Time
	// Persister, when not nil, receives every change.
	Persister Persister
}

// Hub is the model of every thing, their latest state, the event fan-out and
// the command router. It is safe for concurrent use. Create it with New and
// stop it with Close.
type Hub struct {
	log       *slog.Logger
	now       func() time.Time
	persister Persister

	mu     sync.RWMutex
	things map[string]*entry
	owners map[Kind]Owner
	subs   map[*Subscription]struct{}
	seq    uint64 // last event sequence number
	closed bool
	done   chan struct{} // closed by Close
	wg     sync.WaitGroup

	// persistMu orders Persister calls. It is taken while mu is held and mu
	// is released right after (hand-over), so calls happen in change order
	// without holding mu during I/O. Never take mu while holding persistMu.
	persistMu sync.Mutex

	// Inside BeginBatch..EndBatch: the entries whose state is not yet
	// persisted, with the time of their last change, and in the order of
	// their first.
	batching     bool
	pending      map[*entry]time.Time
	pendingOrder []*entry
}

type entry struct {
	t   Thing
	idx map[string]int // property name -> index in t.Properties
}

func (e *entry) reindex() {
	e.idx = make(map[string]int, len(e.t.Properties))
	for i, p := range e.t.Properties {
		e.idx[p.Name] = i
	}
}

// New returns an empty hub.
func New(opts Options) *Hub {
	h := &Hub{
		log:       opts.Logger,
		now:       opts.Now,
		persister: opts.Persister,
		things:    make(map[string]*entry),
		owners:    make(map[Kind]Owner),
		subs:      make(map[*Subscription]struct{}),
		done:      make(chan struct{}),
		pending:   make(map[*entry]time.Time),
	}
	if h.log == nil {
		h.log = slog.New(slog.DiscardHandler)
	}
	if h.now == nil {
		h.now = time.Now
	}
	return h
}

// Close ends every subscription (their channels are closed) and waits for
// their goroutines. Later mutations return ErrClosed. Close is idempotent.
func (h *Hub) Close() {
	h.mu.Lock()
	if !h.closed {
		h.closed = true
		close(h.done)
	}
	h.mu.Unlock()
	h.wg.Wait()
}

// Register adds a new thing; it fails with ErrThingExists if the ID is taken.
// See Upsert.
func (h *Hub) Register(t Thing) error {
	_, err := h.upsert(t, false)
	return err
}

// Upsert adds t, or replaces the description of the thing with the same ID,
// and reports whether t was added. On replacement, a property of t without a
// value keeps the current value of the property of the same name and type;
// properties the thing had that t does not describe but that hold a value
// (for example raw payloads) are kept; LastSeen and Present are kept (they
// change through Update and SetPresent). A ThingAdded event is published in
// both cases, with Replaced set on replacement.
func (h *Hub) Upsert(t Thing) (added bool, err error) {
	return h.upsert(t, true)
}

func (h *Hub) upsert(t Thing, replace bool) (bool, error) {
	if err := t.validate(); err != nil {
		return false, err
	}
	t = t.Clone()
	h.mu.Lock()
	if h.closed {
		h.mu.Unlock()
		return false, ErrClosed
	}
	old, exists := h.things[t.ID]
	if exists && !replace {
		h.mu.Unlock()
		return false, fmt.Errorf("things: register %s: %w", t.ID, ErrThingExists)
	}
	e := &entry{t: t}
	if exists {
		e.reindex()
		for i := range e.t.Properties {
			p := &e.t.Properties[i]
			if !p.Value.IsZero() {
				continue
			}
			if j, ok := old.idx[p.Name]; ok && old.t.Properties[j].Type == p.Type {
				op := old.t.Properties[j]
				p.Value, p.Updated, p.Raw = op.Value, op.Updated, p.Raw || op.Raw
			}
		}
		for _, op := range old.t.Properties {
			if _, described := e.idx[op.Name]; !described && !op.Value.IsZero() {
				e.t.Properties = append(e.t.Properties, op)
			}
		}
		e.t.LastSeen, e.t.Present = old.t.LastSeen, old.t.Present
	}
	e.reindex()
	h.things[t.ID] = e
	at := h.now()
	h.publish(Event{Type: ThingAdded, ThingID: t.ID, At: at, Thing: e.t.Clone(), Present: e.t.Present, Replaced: exists})
	return !exists, h.persistUnlock(e, at, nil)
}

// Remove deletes a thing and publishes ThingRemoved. The Persister is not
// told: it has no delete operation (the store keeps the history).
func (h *Hub) Remove(thingID string) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return ErrClosed
	}
	e, ok := h.things[thingID]
	if !ok {
		return fmt.Errorf("things: remove %q: %w", thingID, ErrUnknownThing)
	}
	delete(h.things, thingID)
	h.publish(Event{Type: ThingRemoved, ThingID: thingID, At: h.now(), Thing: e.t, Present: e.t.Present})
	return nil
}

// Get returns a copy of the thing and whether it exists.
func (h *Hub) Get(thingID string) (Thing, bool) {
	h.mu.RLock()
	defer h.mu.RUnlock()
	e, ok := h.things[thingID]
	if !ok {
		return Thing{}, false
	}
	return e.t.Clone(), true
}

// Len returns the number of things.
func (h *Hub) Len() int {
	h.mu.RLock()
	defer h.mu.RUnlock()
	return len(h.things)
}

// List returns copies of every thing, sorted by ID.
func (h *Hub) List() []Thing {
	h.mu.RLock()
	out := make([]Thing, 0, len(h.things))
	for _, e := range h.things {
		out = append(out, e.t.Clone())
	}
	h.mu.RUnlock()
	slices.SortFunc(out, func(a, b Thing) int { return cmp.Compare(a.ID, b.ID) })
	return out
}

// Update merges one reading into a thing: each value replaces the value of
// the property of the same name (a property not yet described is added with
// the value's type), and LastSeen advances to at. A zero at means now. A
// value older than the property's current one (a replayed reading) does not
// replace it but is still published and recorded as history. An Int value is
// accepted for a Float property and converted; other type mismatches fail the
// whole update with ErrPropertyType and change nothing. Update publishes one
// ThingChanged event carrying every value of the reading: a repeated value is
// a new sample, not a non-change.
//
// An update without values only advances LastSeen: no event, nothing
// persisted (a keep-alive).
//
// The returned error also reports a Persister failure; the in-memory state
// and the event are applied regardless.
func (h *Hub) Update(thingID string, props []PropertyValue, at time.Time) error {
	for _, pv := range props {
		if pv.Name == "" || !pv.Value.Type().Valid() {
			return fmt.Errorf("things: update %q: property %q: %w", thingID, pv.Name, ErrInvalidValue)
		}
	}
	if at.IsZero() {
		at = h.now()
	}
	h.mu.Lock()
	if h.closed {
		h.mu.Unlock()
		return ErrClosed
	}
	e, ok := h.things[thingID]
	if !ok {
		h.mu.Unlock()
		return fmt.Errorf("things: update %q: %w", thingID, ErrUnknownThing)
	}
	changed := make([]PropertyValue, len(props))
	for i, pv := range props {
		if j, ok := e.idx[pv.Name]; ok {
			want := e.t.Properties[j].Type
			switch {
			case pv.Value.Type() == want:
			case want == TypeFloat && pv.Value.Type() == TypeInt:
				f, _ := pv.Value.AsFloat()
				pv.Value = FloatValue(f)
			default:
				h.mu.Unlock()
				return fmt.Errorf("things: update %q: property %q is %v, value is %v: %w",
					thingID, pv.Name, want, pv.Value.Type(), ErrPropertyType)
			}
		}
		changed[i] = pv
	}
	for _, pv := range changed {
		j, ok := e.idx[pv.Name]
		if !ok {
			e.t.Properties = append(e.t.Properties, Property{Name: pv.Name, Type: pv.Value.Type()})
			j = len(e.t.Properties) - 1
			e.idx[pv.Name] = j
		}
		p := &e.t.Properties[j]
		if p.Value.IsZero() || !at.Before(p.Updated) {
			p.Value, p.Updated, p.Raw = pv.Value, at, p.Raw || pv.Raw
		}
	}
	if at.After(e.t.LastSeen) {
		e.t.LastSeen = at
	}
	if len(changed) == 0 {
		h.mu.Unlock()
		return nil
	}
	h.publish(Event{Type: ThingChanged, ThingID: thingID, At: at, Changed: changed, Present: e.t.Present})
	return h.persistUnlock(e, at, &HistoryRecord{At: at, Values: changed})
}

// SetPresent records whether the thing is connected. A change publishes
// PresenceChanged and is persisted; setting the current value does nothing.
func (h *Hub) SetPresent(thingID string, present bool) error {
	h.mu.Lock()
	if h.closed {
		h.mu.Unlock()
		return ErrClosed
	}
	e, ok := h.things[thingID]
	if !ok {
		h.mu.Unlock()
		return fmt.Errorf("things: set presence of %q: %w", thingID, ErrUnknownThing)
	}
	if e.t.Present == present {
		h.mu.Unlock()
		return nil
	}
	e.t.Present = present
	at := h.now()
	h.publish(Event{Type: PresenceChanged, ThingID: thingID, At: at, Present: present})
	return h.persistUnlock(e, at, nil)
}

// persistUnlock is called with h.mu write-locked. It snapshots e as a
// StateRecord (or, inside a batch, marks its state pending), hands the lock
// over to persistMu, releases h.mu, and calls the Persister (history first,
// then state).
func (h *Hub) persistUnlock(e *entry, at time.Time, hist *HistoryRecord) error {
	if h.persister == nil {
		h.mu.Unlock()
		return nil
	}
	id := e.t.ID
	var state []byte
	if h.batching {
		if _, ok := h.pending[e]; !ok {
			h.pendingOrder = append(h.pendingOrder, e)
		}
		h.pending[e] = at
	} else {
		var err error
		if state, err = e.stateJSON(); err != nil {
			h.mu.Unlock()
			return err
		}
	}
	var history []byte
	if hist != nil {
		var err error
		if history, err = hist.AppendBinary(make([]byte, 0, 1+48*len(hist.Values))); err != nil {
			h.mu.Unlock()
			return fmt.Errorf("things: encode history of %q: %w", id, err)
		}
	}
	h.persistMu.Lock()
	h.mu.Unlock()
	defer h.persistMu.Unlock()
	var errs []error
	if history != nil {
		if err := h.persister.AppendHistory(id, at, history); err != nil {
			errs = append(errs, fmt.Errorf("things: append history of %q: %w", id, err))
		}
	}
	if state != nil {
		if err := h.persister.PutState(id, state, at); err != nil {
			errs = append(errs, fmt.Errorf("things: put state of %q: %w", id, err))
		}
	}
	err := errors.Join(errs...)
	if err != nil {
		h.log.Warn("things: persist failed", "thing", id, "err", err)
	}
	return err
}

// stateJSON returns e's StateRecord as JSON. Call it with h.mu held.
func (e *entry) stateJSON() ([]byte, error) {
	rec := StateRecord{
		ID: e.t.ID, Kind: e.t.Kind, Name: e.t.Name, Present: e.t.Present,
		LastSeen: e.t.LastSeen, Properties: e.t.Properties,
	}
	out, err := rec.AppendJSON(make([]byte, 0, 128+112*len(rec.Properties)))
	if err != nil {
		return nil, fmt.Errorf("things: encode state of %q: %w", e.t.ID, err)
	}
	return out, nil
}

// BeginBatch defers the state writes of every change until EndBatch, which
// hands each changed thing's state to the Persister once: a consumer that
// applies hundreds of readings in a row (the gateway's journal projector)
// then has each thing's state encoded and written once, not once per
// reading. History, events and the in-memory state are not deferred. Batches
// do not nest; the caller must call EndBatch.
func (h *Hub) BeginBatch() {
	h.mu.Lock()
	h.batching = true
	h.mu.Unlock()
}

// EndBatch ends the batch BeginBatch opened, handing the Persister the state
// of every thing changed since, in the order of their first change (a thing
// removed meanwhile is skipped).
func (h *Hub) EndBatch() error {
	h.mu.Lock()
	h.batching = false
	type write struct {
		id    string
		state []byte
		at    time.Time
	}
	var writes []write
	var errs []error
	for _, e := range h.pendingOrder {
		if h.things[e.t.ID] != e {
			continue // removed, or replaced by an entry that persists itself
		}
		state, err := e.stateJSON()
		if err != nil {
			errs = append(errs, err)
			continue
		}
		writes = append(writes, write{e.t.ID, state, h.pending[e]})
	}
	clear(h.pending)
	clear(h.pendingOrder)
	h.pendingOrder = h.pendingOrder[:0]
	if len(writes) == 0 || h.persister == nil {
		h.mu.Unlock()
		return errors.Join(errs...)
	}
	h.persistMu.Lock()
	h.mu.Unlock()
	defer h.persistMu.Unlock()
	for _, w := range writes {
		if err := h.persister.PutState(w.id, w.state, w.at); err != nil {
			errs = append(errs, fmt.Errorf("things: put state of %q: %w", w.id, err))
		}
	}
	err := errors.Join(errs...)
	if err != nil {
		h.log.Warn("things: persist failed", "err", err)
	}
	return err
}

// RegisterOwner makes o perform the actions of every thing of kind. A later
// call replaces the owner; a nil o unregisters it.
func (h *Hub) RegisterOwner(kind Kind, o Owner) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if o == nil {
		delete(h.owners, kind)
		return
	}
	h.owners[kind] = o
}

// Perform routes an action to the owner of the thing's kind. It fails with
// ErrUnknownThing, ErrUnknownAction (the thing does not declare the action),
// ErrInvalidArgs (the action declares Params and args lack one or name an
// undeclared one), or ErrNoOwner, before calling the owner. The owner gets a
// copy of args (never nil); its error is wrapped.
func (h *Hub) Perform(ctx context.Context, thingID string, action string, args map[string]string) (Result, error) {
	h.mu.RLock()
	if h.closed {
		h.mu.RUnlock()
		return Result{}, ErrClosed
	}
	e, ok := h.things[thingID]
	if !ok {
		h.mu.RUnlock()
		return Result{}, fmt.Errorf("things: perform %q on %q: %w", action, thingID, ErrUnknownThing)
	}
	a, ok := e.t.Action(action)
	if !ok {
		h.mu.RUnlock()
		return Result{}, fmt.Errorf("things: perform %q on %q: %w", action, thingID, ErrUnknownAction)
	}
	params := slices.Clone(a.Params)
	o := h.owners[e.t.Kind]
	kind := e.t.Kind
	h.mu.RUnlock()

	if err := checkArgs(params, args); err != nil {
		return Result{}, fmt.Errorf("things: perform %q on %q: %w", action, thingID, err)
	}
	if o == nil {
		return Result{}, fmt.Errorf("things: perform %q on %q (%v): %w", action, thingID, kind, ErrNoOwner)
	}
	own := make(map[string]string, len(args))
	maps.Copy(own, args)
	res, err := o.Perform(ctx, thingID, action, own)
	if err != nil {
		return res, fmt.Errorf("things: perform %q on %q: %w", action, thingID, err)
	}
	return res, nil
}

// checkArgs enforces declared params: every one present, no other. No
// declared params means any args are accepted.
func checkArgs(params []string, args map[string]string) error {
	if len(params) == 0 {
		return nil
	}
	for _, p := range params {
		if _, ok := args[p]; !ok {
			return fmt.Errorf("%w: missing %q", ErrInvalidArgs, p)
		}
	}
	for _, k := range slices.Sorted(maps.Keys(args)) {
		if !slices.Contains(params, k) {
			return fmt.Errorf("%w: undeclared %q", ErrInvalidArgs, k)
		}
	}
	return nil
}
