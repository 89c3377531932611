package steward

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/edgegate/edgegate/gateway/things"
)

var _ things.Owner = (*Steward)(nil)

// live returns the native thing with hub ID id and its session.
func (s *Steward) live(id string) (*nthing, *session, string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	udn, ok := strings.CutPrefix(id, ThingID(""))
	nt := s.things[udn]
	switch {
	case !ok || nt == nil:
		return nil, nil, "", fmt.Errorf("%w: %s", ErrUnknownThing, id)
	case nt.sess == nil:
		return nt, nil, "", fmt.Errorf("%w: %s", ErrNotConnected, id)
	}
	return nt, nt.sess, nt.sid, nil
}

// Perform performs an action of a native thing: the hub's Owner for
// things.KindNative. "set" is the steward's own (name=... renames the
// thing); any other action is sent to the thing as a perform task, its
// parameter being args["parameter"] when that is the only argument, else
// args as a JSON object.
func (s *Steward) Perform(ctx context.Context, thingID, action string, args map[string]string) (things.Result, error) {
	if action == "set" {
		nt, _, _, err := s.live(thingID)
		if nt == nil {
			return things.Result{}, err
		}
		name, ok := args["name"]
		if !ok || name == "" {
			return things.Result{}, fmt.Errorf("%w: set needs name=NAME", things.ErrInvalidArgs)
		}
		s.rename(nt, name)
		return things.Result{Status: things.StatusDone, Message: "renamed"}, nil
	}
	return s.PerformTask(ctx, thingID, action, Parameter(args), false)
}

// Parameter is the perform or observe parameter for args: the value of
// "parameter" when it is the only argument, else args as a JSON object
// ("{}" for none), as the original steward stringified parameters.
func Parameter(args map[string]string) string {
	if p, ok := args["parameter"]; ok && len(args) == 1 {
		return p
	}
	if args == nil {
		args = map[string]string{}
	}
	b, _ := json.Marshal(args) // a map of strings always encodes
	return string(b)
}

// PerformTask sends one task to a connected native thing and waits for its
// answer, up to the answer timeout: a per-task error is returned as a
// *ThingError; a thing that does not answer (the Simple Thing Protocol
// does not require it) leaves the task performed as sent. With testOnly
// the thing only evaluates the parameters.
func (s *Steward) PerformTask(ctx context.Context, thingID, action, parameter string, testOnly bool) (things.Result, error) {
	nt, se, sid, err := s.live(thingID)
	if err != nil {
		return things.Result{}, err
	}
	s.mu.Lock()
	declared := slices.Contains(nt.proto.rec.Perform, action)
	s.mu.Unlock()
	if !declared {
		return things.Result{}, fmt.Errorf("%w: perform %q", ErrUndeclared, action)
	}
	gen := se.generation()
	taskID := randomID(func(string) bool { return false })
	e := performEntry{Perform: action, Parameter: parameter, TestOnly: testOnly}
	if gen == Simple {
		e.ThingID = sid
	} else {
		e.Thing = sid
	}
	rid := s.nextRequestID()
	p := se.expect(rid, "perform")
	defer se.retire(rid)
	se.sendJSON(Request{Path: opPath(gen, "perform"), RequestID: rid, Tasks: map[string]any{taskID: e}})
	s.st.performs.Add(1)
	res, err := s.await(ctx, p, taskID)
	if err != nil {
		return things.Result{}, err
	}
	if res == nil {
		return things.Result{Status: things.StatusDone, Ref: taskID,
			Message: fmt.Sprintf("sent; no answer within %s", s.opts.Timeouts.Answer)}, nil
	}
	msg := "performed"
	if testOnly {
		msg = "parameters accepted (test only)"
	}
	return things.Result{Status: things.StatusDone, Ref: taskID, Message: msg}, nil
}

// await waits for the answer to one entry of a request: nil, nil when the
// thing did not answer in time; a *ThingError when it answered with an
// error.
func (s *Steward) await(ctx context.Context, p *pending, key string) (*Entry, error) {
	t := time.NewTimer(s.opts.Timeouts.Answer)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return nil, fmt.Errorf("steward: waiting for the thing: %w", ctx.Err())
	case <-t.C:
		return nil, nil
	case list, ok := <-p.done:
		if !ok {
			return nil, fmt.Errorf("%w: the connection closed before the thing answered", ErrClosed)
		}
		for _, e := range list {
			if e.Key != key && e.Key != "*" {
				continue
			}
			if raw, ok := e.Field("error"); ok {
				eb, _ := object(raw)
				te := &ThingError{Permanent: boolMember(eb, "permanent")}
				te.Diagnostic, _ = scalarText(eb["diagnostic"])
				return nil, te
			}
			return &e, nil
		}
		return &Entry{Key: key}, nil
	}
}

// Observation is what Observe reports.
type Observation struct {
	EventID string `json:"eventID,omitempty"`
	// Confirmed reports whether the thing answered success; an observation
	// it has not confirmed is sent again until it does.
	Confirmed bool `json:"confirmed"`
}

// Observe asks a connected native thing to observe an event its prototype
// declares, and waits for the answer up to the answer timeout. Occurrences
// it reports count in the hub property event.<observe>. With testOnly the
// thing only evaluates the parameter and nothing is kept.
func (s *Steward) Observe(ctx context.Context, thingID, observe, parameter string, testOnly bool) (Observation, error) {
	nt, se, _, err := s.live(thingID)
	if err != nil {
		return Observation{}, err
	}
	s.mu.Lock()
	declared := slices.Contains(nt.proto.rec.Observe, observe)
	s.mu.Unlock()
	if !declared {
		return Observation{}, fmt.Errorf("%w: observe %q", ErrUndeclared, observe)
	}
	ev, rid, p := se.observe(nt, observe, parameter, testOnly)
	defer se.retire(rid)
	e, err := s.await(ctx, p, ev.id)
	if err != nil {
		return Observation{}, err
	}
	o := Observation{EventID: ev.id}
	if testOnly {
		o.EventID = ""
	}
	if e != nil {
		st, _ := e.String("status")
		o.Confirmed = st == "success"
	}
	return o, nil
}

// observe creates an observation (unless testOnly) and sends its request.
func (se *session) observe(nt *nthing, observe, parameter string, testOnly bool) (*event, string, *pending) {
	s := se.s
	s.mu.Lock()
	ev := &event{sess: se, thing: nt, observe: observe, parameter: parameter, sent: time.Now()}
	ev.id = randomID(func(id string) bool { _, used := s.events[id]; return used })
	if !testOnly {
		s.events[ev.id] = ev
	}
	s.mu.Unlock()
	rid, p := se.sendObserve(ev, testOnly)
	s.st.observes.Add(1)
	return ev, rid, p
}

// sendObserve sends (or sends again) an observe request for ev.
func (se *session) sendObserve(ev *event, testOnly bool) (string, *pending) {
	s := se.s
	gen := se.generation()
	s.mu.Lock()
	e := observeEntry{Observe: ev.observe, Parameter: ev.parameter, TestOnly: testOnly}
	if gen == Simple {
		e.ThingID = ev.thing.sid
	} else {
		e.Thing = ev.thing.sid
	}
	s.mu.Unlock()
	rid := s.nextRequestID()
	s.mu.Lock()
	old := ev.rid
	ev.rid = rid
	s.mu.Unlock()
	if old != "" {
		se.retire(old)
	}
	p := se.expect(rid, "observe")
	se.sendJSON(Request{Path: opPath(gen, "observe"), RequestID: rid, Events: map[string]any{ev.id: e}})
	return rid, p
}

// Cancel asks the thing to stop observing an event and forgets it.
func (s *Steward) Cancel(ctx context.Context, eventID string) error {
	s.mu.Lock()
	ev := s.events[eventID]
	delete(s.events, eventID)
	s.mu.Unlock()
	if ev == nil {
		return fmt.Errorf("%w: %q", ErrUnknownEvent, eventID)
	}
	se := ev.sess
	rid := s.nextRequestID()
	p := se.expect(rid, "cancel")
	defer se.retire(rid)
	se.sendJSON(Request{Path: opPath(se.generation(), "report"), RequestID: rid,
		Events: map[string]any{eventID: map[string]string{"reason": "cancel"}}})
	_, err := s.await(ctx, p, eventID)
	return err
}

// Event is a live observation as the admin API lists it.
type Event struct {
	EventID   string `json:"eventID"`
	Thing     string `json:"thing"`
	Observe   string `json:"observe"`
	Parameter string `json:"parameter"`
	Confirmed bool   `json:"confirmed"`
}

// Events lists the live observations.
func (s *Steward) Events() []Event {
	s.mu.Lock()
	out := make([]Event, 0, len(s.events))
	for _, id := range slices.Sorted(maps.Keys(s.events)) {
		ev := s.events[id]
		out = append(out, Event{EventID: id, Thing: ev.thing.id, Observe: ev.observe, Parameter: ev.parameter, Confirmed: ev.watched})
	}
	s.mu.Unlock()
	return out
}
