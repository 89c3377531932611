package josp

import (
	"time"

	"github.com/edgegate/edgegate/gateway/josp/wire"
	"github.com/edgegate/edgegate/gateway/things"
)

// historyScan bounds the history entries read for one request (the
// store keeps 10,000 per thing by default).
const historyScan = 100000

// history answers a state history request from the store's history of the
// thing: one row per reading that holds the pillar's property, with the
// reading's time in Unix nanoseconds as its id and its payload new= the
// reading's value, old= the one before. Rows are selected by the limits
// (oldest first), at most HistoryMax of them (the newest, except for
// ancient and page limits). A pillar without history (an action, an
// unknown path) gets an empty answer.
func (o *object) history(req wire.HistoryRequest) wire.StatusHistory {
	o.mu.Lock()
	p := o.model.byPath[req.CompPath]
	objID := o.rec.ObjID
	o.mu.Unlock()
	res := wire.StatusHistory{Time: o.e.opts.Now(), ObjID: objID, CompPath: req.CompPath, ReqID: req.ReqID}
	if p == nil || p.isAction() {
		return res
	}
	// Read from the first entry, whatever the limits, so that every row's
	// old= is right; wire.Select drops what is before a date range.
	var to time.Time
	if req.Limits.Kind == wire.LimitDate {
		to = req.Limits.ToDate
	}
	entries, err := o.e.opts.History.History(o.thingID, time.Time{}, to, historyScan)
	if err != nil {
		o.log.Warn("josp: history", "err", err)
		return res
	}
	var items []wire.HistoryItem
	var oldB bool
	var oldV float64
	for _, en := range entries {
		rec, err := things.ParseHistory(en.At, en.Value)
		if err != nil {
			continue
		}
		for _, pv := range rec.Values {
			if pv.Name != p.prop {
				continue
			}
			var payload string
			if p.typ == wire.TypeBooleanState {
				b, ok := pv.Value.AsBool()
				if !ok {
					continue
				}
				payload = string(wire.AppendBoolPayload(nil, b, oldB))
				oldB = b
			} else {
				f, ok := pv.Value.AsFloat()
				if !ok {
					continue
				}
				payload = string(wire.AppendRangePayload(nil, f, oldV))
				oldV = f
			}
			items = append(items, wire.HistoryItem{ID: en.At.UnixNano(), CompPath: p.path, CompType: p.typ,
				UpdatedAt: en.At, Payload: payload})
		}
	}
	res.Items = capItems(wire.Select(items, req.Limits, func(h wire.HistoryItem) int64 { return h.ID },
		func(h wire.HistoryItem) time.Time { return h.UpdatedAt }), req.Limits, o.e.opts.HistoryMax)
	return res
}

// capItems keeps at most max items: the oldest for ancient and page
// limits, the newest otherwise.
func capItems[T any](items []T, l wire.Limits, max int) []T {
	if len(items) <= max {
		return items
	}
	if l.Kind == wire.LimitAncient || l.Kind == wire.LimitPage {
		return items[:max]
	}
	return items[len(items)-max:]
}

// eventsResponse answers an events request from the object's event log.
func (o *object) eventsResponse(req wire.EventsRequest) wire.EventsResponse {
	o.mu.Lock()
	objID := o.rec.ObjID
	o.mu.Unlock()
	res := wire.EventsResponse{Time: o.e.opts.Now(), ObjID: objID, ReqID: req.ReqID}
	all, err := o.events.list()
	if err != nil {
		o.log.Warn("josp: events", "err", err)
		return res
	}
	if req.EvType != "" {
		kept := all[:0]
		for _, ev := range all {
			if ev.Type == req.EvType {
				kept = append(kept, ev)
			}
		}
		all = kept
	}
	res.Events = capItems(wire.Select(all, req.Limits, func(e wire.Event) int64 { return e.ID },
		func(e wire.Event) time.Time { return e.EmittedAt }), req.Limits, o.e.opts.HistoryMax)
	return res
}
