package things

import (
	"context"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// EventType says what happened to a thing.
type EventType uint8

// The event types.
const (
	// ThingAdded: a thing was registered, or its description replaced
	// (Event.Replaced). Event.Thing holds the description and state.
	ThingAdded EventType = iota + 1
	// ThingRemoved: a thing was removed. Event.Thing holds its last state.
	ThingRemoved
	// ThingChanged: a reading arrived. Event.Changed holds its values.
	ThingChanged
	// PresenceChanged: the thing connected or disconnected (Event.Present).
	PresenceChanged
)

// String returns the event type's name, e.g. "ThingChanged".
func (t EventType) String() string {
	switch t {
	case ThingAdded:
		return "ThingAdded"
	case ThingRemoved:
		return "ThingRemoved"
	case ThingChanged:
		return "ThingChanged"
	case PresenceChanged:
		return "PresenceChanged"
	}
	return "EventType(" + strconv.Itoa(int(t)) + ")"
}

// Event is one change published by the hub. Slices in an event are shared
// between subscribers: treat them as read-only (or Clone the Thing).
type Event struct {
	// Type says what happened; it selects the fields that are set.
	Type EventType
	// Seq numbers the hub's events from 1 with no gaps, so a subscriber can
	// also see losses as gaps.
	Seq uint64
	// ThingID names the thing the event is about.
	ThingID string
	// At is the time of the reading (ThingChanged) or of the change.
	At time.Time
	// Thing is set for ThingAdded and ThingRemoved.
	Thing Thing
	// Replaced is set on ThingAdded when an existing description was
	// replaced.
	Replaced bool
	// Changed holds the values of the reading, for ThingChanged.
	Changed []PropertyValue
	// Present is the thing's presence after the event.
	Present bool
	// Lost counts the events this subscriber lost, because its queue was
	// full, just before this one. A consumer seeing Lost > 0 should
	// resynchronise from Hub.List.
	Lost uint64
}

// DefaultBuffer is the queue length of a subscription when Subscribe is
// given a buffer < 1.
const DefaultBuffer = 64

// Subscription is a stream of hub events. Its channel is closed by the hub
// when the context given to Subscribe is done or the hub is closed; events
// still queued then are discarded.
type Subscription struct {
	h      *Hub
	out    chan Event
	notify chan struct{} // capacity 1: "the queue changed"

	mu    sync.Mutex
	ring  []Event // circular queue of capacity len(ring)
	head  int
	count int
	lost  uint64 // drops not yet reported in an Event.Lost

	dropped atomic.Uint64
}

// Subscribe returns a subscription receiving every event published from now
// on. At most buffer events wait for the consumer; when the queue is full the
// oldest waiting event is dropped and counted (see Event.Lost). To get a
// consistent view, subscribe first, then read Hub.List. A hub that is already
// closed returns a subscription whose channel is closed.
func (h *Hub) Subscribe(ctx context.Context, buffer int) *Subscription {
	if buffer < 1 {
		buffer = DefaultBuffer
	}
	s := &Subscription{
		h:      h,
		out:    make(chan Event),
		notify: make(chan struct{}, 1),
		ring:   make([]Event, buffer),
	}
	h.mu.Lock()
	if h.closed {
		h.mu.Unlock()
		close(s.out)
		return s
	}
	h.subs[s] = struct{}{}
	h.wg.Add(1)
	h.mu.Unlock()
	go s.run(ctx)
	return s
}

// Events returns the channel of events. It is closed when the subscription
// ends.
func (s *Subscription) Events() <-chan Event { return s.out }

// Dropped returns how many events this subscription has lost in total.
func (s *Subscription) Dropped() uint64 { return s.dropped.Load() }

// publish numbers ev and queues it for every subscriber. Called with h.mu
// write-locked, which orders events like the changes they describe. It never
// blocks on a consumer.
func (h *Hub) publish(ev Event) {
	h.seq++
	ev.Seq = h.seq
	for s := range h.subs {
		s.push(ev)
	}
}

// push queues ev, dropping the oldest queued event when the queue is full.
func (s *Subscription) push(ev Event) {
	s.mu.Lock()
	n := len(s.ring)
	if s.count == n {
		s.ring[s.head] = Event{}
		s.head = (s.head + 1) % n
		s.count--
		s.lost++
		s.dropped.Add(1)
	}
	s.ring[(s.head+s.count)%n] = ev
	s.count++
	s.mu.Unlock()
	select {
	case s.notify <- struct{}{}:
	default: // a wake-up is already pending
	}
}

// peek returns the oldest queued event, carrying the pending Lost count.
func (s *Subscription) peek() (Event, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.count == 0 {
		return Event{}, false
	}
	ev := s.ring[s.head]
	ev.Lost = s.lost
	return ev, true
}

// delivered is called after ev was received by the consumer. ev leaves the
// queue; if it was dropped meanwhile (the queue overflowed while the send was
// in progress), that drop is undone in the counters, since it was delivered.
func (s *Subscription) delivered(ev Event) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.lost -= ev.Lost
	if s.count > 0 && s.ring[s.head].Seq == ev.Seq {
		s.ring[s.head] = Event{}
		s.head = (s.head + 1) % len(s.ring)
		s.count--
		return
	}
	// Only run pops, so the head can only have moved by dropping ev.
	s.lost--
	s.dropped.Add(^uint64(0))
}

// run is the subscription's only goroutine: it moves events from the queue
// to the consumer, without holding the queue while it waits, so publishing
// never blocks. It closes the channel it sends on when it ends.
func (s *Subscription) run(ctx context.Context) {
	defer s.h.wg.Done()
	defer close(s.out)
	defer s.h.unsubscribe(s)
	for {
		ev, ok := s.peek()
		if !ok {
			select {
			case <-s.notify:
				continue
			case <-ctx.Done():
				return
			case <-s.h.done:
				return
			}
		}
		select {
		case s.out <- ev:
			s.delivered(ev)
		case <-s.notify:
			// The queue changed (the head may have been dropped): peek again.
		case <-ctx.Done():
			return
		case <-s.h.done:
			return
		}
	}
}

func (h *Hub) unsubscribe(s *Subscription) {
	h.mu.Lock()
	delete(h.subs, s)
	h.mu.Unlock()
}
