package ocs

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/edgegate/edgegate/gateway/admin"
	"github.com/edgegate/edgegate/gateway/things"
	"github.com/edgegate/edgegate/store"
)

// outboxRecord is one entry of the forwarder's durable outbox: a
// serviceinfo message for a device (native thing updates), or an error
// report (State, for POST errors).
type outboxRecord struct {
	ID    string        `json:"id"`
	What  string        `json:"what"`
	Msg   ModuleMessage `json:"msg,omitzero"`
	State *DeviceState  `json:"state,omitempty"`
}

// errStop ends a scan early.
var errStop = errors.New("stop")

// stepOutbox posts up to a batch of outbox entries: consecutive messages
// of a device in one POST, each error report in its own.
func (f *Forwarder) stepOutbox(ctx context.Context) (more bool, err error) {
	if f.outboxN.Load() <= 0 {
		return false, nil
	}
	var lanes [][]*post
	lane := map[string]int{}
	n := 0
	err = f.o.KV.Scan(prefixOutbox, func(key string, v []byte) error {
		if n == f.size {
			more = true
			return errStop
		}
		n++
		var r outboxRecord
		if err := json.Unmarshal(v, &r); err != nil || r.ID == "" {
			f.log.Error("ocs: unreadable outbox entry dropped", "key", key, "err", err)
			r = outboxRecord{}
		}
		li, ok := lane[r.ID]
		if !ok {
			li = len(lanes)
			lane[r.ID] = li
			lanes = append(lanes, nil)
		}
		l := lanes[li]
		switch {
		case r.ID == "":
			lanes[li] = append(l, &post{keys: []string{key}, status: postOK}) // deleted below
		case r.State != nil:
			lanes[li] = append(l, &post{id: r.ID, what: r.What, state: r.State, keys: []string{key}})
		case len(l) > 0 && l[len(l)-1].state == nil && l[len(l)-1].status == postPending:
			p := l[len(l)-1]
			p.msgs = append(p.msgs, r.Msg)
			p.keys = append(p.keys, key)
		default:
			lanes[li] = append(l, &post{id: r.ID, what: r.What, msgs: []ModuleMessage{r.Msg}, keys: []string{key}})
		}
		return nil
	})
	if err != nil && !errors.Is(err, errStop) {
		return false, fmt.Errorf("ocs: read the outbox: %w", err)
	}
	if n == 0 {
		f.outboxN.Store(0)
		return false, nil
	}
	perr := f.postLanes(ctx, lanes)
	if f.shrink.Swap(false) {
		f.resize(f.size / 2)
	}
	var sent []string
	for _, l := range lanes {
		for _, p := range l {
			if p.status == postOK {
				sent = append(sent, p.keys...)
			}
		}
	}
	if len(sent) > 0 {
		if err := f.o.KV.Update(func(t *store.KVTx) error {
			for _, k := range sent {
				t.Delete(k)
			}
			return nil
		}); err != nil {
			return false, fmt.Errorf("ocs: outbox: %w", err)
		}
		f.outboxN.Add(-int64(len(sent)))
	}
	if perr != nil {
		return false, perr
	}
	return more, nil
}

// enqueue adds records to the outbox, durably; build, called inside the
// write with each record's outbox sequence, may fill in documents that
// carry it. When the outbox is full the oldest entries are dropped (counted
// and logged).
func (f *Forwarder) enqueue(recs []outboxRecord, build func(i int, seq uint64, r *outboxRecord) error) error {
	if len(recs) == 0 {
		return nil
	}
	var drop []string
	if over := f.outboxN.Load() + int64(len(recs)) - int64(f.o.MaxOutbox); over > 0 {
		_ = f.o.KV.Scan(prefixOutbox, func(key string, _ []byte) error {
			if int64(len(drop)) >= over {
				return errStop
			}
			drop = append(drop, key)
			return nil
		})
	}
	err := f.o.KV.Update(func(t *store.KVTx) error {
		for _, k := range drop {
			t.Delete(k)
		}
		for i := range recs {
			seq, err := t.NextSequence()
			if err != nil {
				return err
			}
			if build != nil {
				if err := build(i, seq, &recs[i]); err != nil {
					return err
				}
			}
			b, err := json.Marshal(recs[i])
			if err != nil {
				return err
			}
			if err := t.Put(prefixOutbox+store.SeqKey(seq), b); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("ocs: outbox: %w", err)
	}
	if len(drop) > 0 {
		f.outboxDropped.Add(uint64(len(drop)))
		f.log.Error("ocs: outbox full; oldest entries dropped", "dropped", len(drop), "max_outbox", f.o.MaxOutbox)
	}
	f.outboxN.Add(int64(len(recs) - len(drop)))
	f.notify()
	return nil
}

// Things is the part of the hub the native forwarding reads
// (*things.Hub).
type Things interface {
	Subscribe(ctx context.Context, buffer int) *things.Subscription
	Get(thingID string) (things.Thing, bool)
	List() []things.Thing
}

// nativeBuffer is the hub subscription's queue: events beyond it are lost
// and answered with a snapshot of every native thing.
const nativeBuffer = 4096

// RunNative forwards the updates of native things (things.KindNative):
// every hub event about one becomes a durable outbox entry (module
// nativething) that Run posts to the thing's OCS deviceId. When the hub
// reports lost events, a snapshot of every native thing is queued instead.
// It returns nil when ctx ends.
func (f *Forwarder) RunNative(ctx context.Context, hub Things) error {
	sub := hub.Subscribe(ctx, nativeBuffer)
	events := sub.Events()
	var recs []outboxRecord
	var docs []NativeDoc
	flush := func() {
		if len(recs) == 0 {
			return
		}
		err := f.enqueue(recs, func(i int, seq uint64, r *outboxRecord) error {
			docs[i].Seq = seq
			v, err := encodeDoc(docs[i])
			r.Msg = ModuleMessage{Module: ModuleNative, Msg: MsgUpdate, Value: v}
			return err
		})
		if err != nil {
			f.nativeLost.Add(uint64(len(recs)))
			f.log.Error("ocs: native thing updates not queued", "count", len(recs), "err", err)
		} else {
			f.nativeQueued.Add(uint64(len(recs)))
		}
		recs, docs = recs[:0], docs[:0]
	}
	add := func(t things.Thing, event string, at time.Time, values []things.PropertyValue) {
		doc := NativeDoc{Gateway: f.o.Gateway, Thing: t.ID, Event: event, Time: FormatTimestamp(at),
			Name: t.Name, Values: values, Present: t.Present}
		recs = append(recs, outboxRecord{ID: f.o.Binding.ThingDeviceID(t.ID), What: "native " + t.ID})
		docs = append(docs, doc)
	}
	for {
		var ev things.Event
		var ok bool
		select {
		case ev, ok = <-events:
		default:
			flush() // nothing more waiting: one write for what came
			select {
			case ev, ok = <-events:
			case <-ctx.Done():
				return nil
			}
		}
		if !ok {
			flush()
			return nil
		}
		if ev.Lost > 0 {
			f.nativeLost.Add(ev.Lost)
			f.log.Warn("ocs: native thing events lost; queueing a snapshot", "lost", ev.Lost)
			for _, t := range hub.List() {
				if t.Kind == things.KindNative {
					add(t, "snapshot", time.Now(), currentValues(t))
				}
			}
		}
		var t things.Thing
		switch ev.Type {
		case things.ThingAdded, things.ThingRemoved:
			t = ev.Thing
		default:
			if t, ok = hub.Get(ev.ThingID); !ok {
				continue
			}
		}
		if t.Kind != things.KindNative {
			continue
		}
		switch ev.Type {
		case things.ThingAdded:
			add(t, "added", ev.At, currentValues(t))
		case things.ThingRemoved:
			add(t, "removed", ev.At, nil)
		case things.ThingChanged:
			add(t, "changed", ev.At, ev.Changed)
		case things.PresenceChanged:
			t.Present = ev.Present
			add(t, "presence", ev.At, nil)
		}
		if len(recs) >= 256 {
			flush()
		}
	}
}

// currentValues returns the thing's properties that hold a value.
func currentValues(t things.Thing) []things.PropertyValue {
	var out []things.PropertyValue
	for _, p := range t.Properties {
		if !p.Value.IsZero() {
			out = append(out, things.PropertyValue{Name: p.Name, Value: p.Value, Raw: p.Raw})
		}
	}
	return out
}

// FailureKind is a session failure the owner should see.
type FailureKind uint8

// Session failures reported as POST errors.
const (
	// FailureAuth is a failed handshake: a wrong key, a forged CONNECT.
	FailureAuth FailureKind = iota + 1
	// FailureBadMAC is a packet of a live session whose EAX tag did not
	// verify; reported when repeated (badMACThreshold within reportWindow).
	FailureBadMAC
	// FailureHandshakeTimeout is a handshake the sensor did not complete,
	// which is what a sensor with the wrong key does (it cannot verify the
	// gateway and goes silent); reported when repeated
	// (timeoutThreshold within reportWindow), a lost packet being the
	// other cause.
	FailureHandshakeTimeout
)

// Error codes of the gateway's reports in ProtocolError.ec.
const (
	ECAuthFailed          = 1001
	ECBadMAC              = 1002
	ECHandshakeIncomplete = 1003
)

const (
	reportWindow     = time.Minute
	badMACThreshold  = 5
	timeoutThreshold = 3
	maxReporters     = 10000
)

type failure struct {
	dev  store.DeviceID
	kind FailureKind
	err  string
	at   time.Time
}

type reportKey struct {
	dev  store.DeviceID
	kind FailureKind
}

// reportState is a device's and kind's failures: at most one report per
// reportWindow, bad MACs only from badMACThreshold within a window.
type reportState struct {
	windowStart  time.Time
	count        int // in the window
	since        int // since the last report
	lastReported time.Time
}

// ReportFailure records a session failure of dev for the owner. It never
// blocks (the OSP engine calls it from its callbacks): when its queue is
// full the failure is counted and dropped.
func (f *Forwarder) ReportFailure(dev store.DeviceID, kind FailureKind, err error) {
	fl := failure{dev: dev, kind: kind, at: f.o.Clock.Now()}
	if err != nil {
		fl.err = err.Error()
	}
	select {
	case f.fail <- fl:
	default:
		f.failuresDropped.Add(1)
	}
}

func (f *Forwarder) drainFailures() {
	for {
		select {
		case fl := <-f.fail:
			f.reportFailure(fl)
		default:
			return
		}
	}
}

// reportFailure decides whether fl is reported and queues the report.
func (f *Forwarder) reportFailure(fl failure) {
	k := reportKey{fl.dev, fl.kind}
	st := f.reports[k]
	if st == nil {
		if len(f.reports) >= maxReporters {
			clear(f.reports)
		}
		st = &reportState{windowStart: fl.at}
		f.reports[k] = st
	}
	if fl.at.Sub(st.windowStart) >= reportWindow {
		st.windowStart, st.count = fl.at, 0
	}
	st.count++
	st.since++
	if !st.lastReported.IsZero() && fl.at.Sub(st.lastReported) < reportWindow {
		return
	}
	if fl.kind == FailureBadMAC && st.count < badMACThreshold || fl.kind == FailureHandshakeTimeout && st.count < timeoutThreshold {
		return
	}
	dev := fl.dev.String()
	var pe ProtocolError
	switch fl.kind {
	case FailureAuth:
		pe.EC = ECAuthFailed
		pe.EM = ptr(fmt.Sprintf("osp %s: handshake failed (%d since the last report): %s", dev, st.since, fl.err))
	case FailureHandshakeTimeout:
		pe.EC = ECHandshakeIncomplete
		pe.EM = ptr(fmt.Sprintf("osp %s: %d handshakes not completed within %s (a wrong key?) (%d since the last report)",
			dev, st.count, reportWindow, st.since))
	default:
		pe.EC = ECBadMAC
		pe.EM = ptr(fmt.Sprintf("osp %s: %d packets failed authentication within %s (%d since the last report)",
			dev, st.count, reportWindow, st.since))
	}
	st.lastReported, st.since = fl.at, 0
	rec := outboxRecord{ID: f.o.Binding.DeviceID(fl.dev), What: "error osp " + dev, State: &DeviceState{To2Error: &pe}}
	if err := f.enqueue([]outboxRecord{rec}, nil); err != nil {
		f.log.Error("ocs: failure report not queued", "device", dev, "err", err)
		return
	}
	f.failuresReported.Add(1)
}

func ptr[T any](v T) *T { return &v }

// Stats are the forwarder's counters, as the admin API shows them.
type Stats = admin.UpstreamForwarderStats

// Stats returns the forwarder's counters and queue.
func (f *Forwarder) Stats() Stats {
	s := Stats{
		Forwarded: f.forwarded.Load(), Posts: f.posts.Load(), Batches: f.batches.Load(), Errors: f.postErrors.Load(),
		Retries: f.retries.Load(), DeadLetters: f.deadLetters.Load(), Parked: f.parked.Load(), Lost: f.lost.Load(),
		Outbox: max(0, f.outboxN.Load()), OutboxDropped: f.outboxDropped.Load(), NativeQueued: f.nativeQueued.Load(),
		NativeLost: f.nativeLost.Load(), FailuresReported: f.failuresReported.Load(), FailuresDropped: f.failuresDropped.Load(),
		BatchSize: f.batchSize.Load(), LastSuccessUnix: unixSeconds(f.lastSuccess.Load()), LastFailureUnix: unixSeconds(f.lastFailure.Load()),
	}
	if cur, err := f.o.Journal.Cursor(f.o.Consumer); err == nil {
		s.Cursor = cur
	}
	if _, _, last, _, err := f.o.Journal.JournalStats(); err == nil {
		s.LastSeq = last
		if last > s.Cursor {
			s.QueueDepth = last - s.Cursor
			if rs, err := f.o.Journal.Readings(s.Cursor+1, 1); err == nil && len(rs) == 1 {
				s.OldestAgeSeconds = max(0, int64(f.o.Clock.Now().Sub(rs[0].Time)/time.Second))
			}
		}
	}
	return s
}

func unixSeconds(ns int64) int64 {
	if ns == 0 {
		return 0
	}
	return ns / int64(time.Second)
}

// LastError returns the last forwarding failure ("" for none).
func (f *Forwarder) LastError() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.lastErr
}
