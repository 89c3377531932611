package gateway

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/edgegate/edgegate/drivers/udp"
	"github.com/edgegate/edgegate/gateway/osp"
	"github.com/edgegate/edgegate/gateway/things"
	"github.com/edgegate/edgegate/store"
)

// HandleData journals a reading and acknowledges it once it is durable; the
// projector then applies it to the hub.
func (g *Gateway) HandleData(r osp.Reading) {
	rec := store.Reading{
		Time: g.clock.Stamp(r.Received), Device: store.DeviceID{Type: r.Device.Type, Module: r.Device.Module},
		SID: r.SID, MessageID: r.MessageID, DataType: r.DataType, Flags: uint8(r.Flags),
		Payload: r.Payload, Authenticated: r.Authenticated,
	}
	if s, ok := r.Peer.(fmt.Stringer); ok {
		rec.Link = s.String()
	}
	if s, ok := r.Peer.(signalPeer); ok { // a radio packet's link quality
		rec.RSSI, rec.SNR = s.Signal()
	}
	ack := r.Flags&osp.FlagAckReq != 0
	ref := r.AckRef()
	dev := rec.Device // the callback captures this, not the whole reading
	g.db.AppendAsync(rec, func(seq uint64, err error) {
		if err != nil {
			g.log.Error("reading not journaled; not acknowledged", "device", dev.String(), "message_id", ref.MessageID, "err", err)
			return
		}
		if ack {
			g.acks.push(ref)
		}
		g.rates.add(dev)
		g.proj.notify(seq)
	})
}

// signalPeer is a peer that knows its packet's radio link quality (a LoRa
// packet's peer).
type signalPeer interface {
	Signal() (rssiDBm, snrDB float32)
}

// acker sends the ACKNOWLEDGEs of durable readings. The store's committer
// pushes the ACK of each durable reading from the commit's callbacks and
// flushes them from its OnCommit hook, once every callback of the commit
// ran; a commit's ACKs are sealed and leave together, on a UDP link in one
// system call and a sensor's ACKs in one segmented datagram (udp.Batch).
//
// A commit with few ACKs (a gateway that is not saturated) sends them from
// the committer itself, before the next commit begins: a few microseconds
// each, where a hand-off to another goroutine costs the ACKs a wait for a
// free processor (p90 2 ms at half the maximum on a busy two-CPU machine). A
// commit with many (a stream at the maximum) hands them to run's goroutine,
// so that sealing and sending run in parallel with the next commit.
type acker struct {
	srv *osp.Server // set before the first push

	mu   sync.Mutex
	refs []osp.AckRef // pushed by the current commit
	b    *udp.Batch   // the committer's

	big     chan []osp.AckRef // a large commit's ACKs, for run
	free    chan []osp.AckRef // slices run is done with
	stopped bool              // run has returned: flush sends everything itself

	inline, handed atomic.Uint64 // commits whose ACKs the committer sent, or handed to run
	inRun          atomic.Int64  // ACKs handed to run and not yet sent
}

// ackBatch is the most ACKs sealed before they are sent. udp.Batch keeps
// each sensor's share below its receive window.
const ackBatch = 256

// ackInline is the most ACKs of one commit the committer sends itself.
const ackInline = 64

func newAcker() *acker {
	return &acker{b: udp.NewBatch(ackBatch), big: make(chan []osp.AckRef, 4), free: make(chan []osp.AckRef, 4)}
}

// push queues the ACK of a durable reading until the commit's flush.
func (a *acker) push(ref osp.AckRef) {
	a.mu.Lock()
	a.refs = append(a.refs, ref)
	a.mu.Unlock()
}

// pending is the number of ACKs pushed and not yet sent.
func (a *acker) pending() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return len(a.refs) + int(a.inRun.Load())
}

// flush sends the ACKs the current commit pushed, or hands them to run.
// It never blocks on run: when run is behind (or has stopped), the
// committer sends them itself.
func (a *acker) flush() {
	a.mu.Lock()
	defer a.mu.Unlock()
	if len(a.refs) > ackInline && !a.stopped {
		a.inRun.Add(int64(len(a.refs)))
		select {
		case a.big <- a.refs:
			select {
			case a.refs = <-a.free:
			default:
				a.refs = make([]osp.AckRef, 0, cap(a.refs))
			}
			a.handed.Add(1)
			return
		default:
			a.inRun.Add(-int64(len(a.refs)))
		}
	}
	if len(a.refs) == 0 {
		return
	}
	a.send(a.refs, a.b)
	a.inline.Add(1)
	clear(a.refs)
	a.refs = a.refs[:0]
}

// run sends the ACKs of large commits until ctx ends, then what is still
// handed over; after it the committer sends every commit's ACKs itself.
func (a *acker) run(ctx context.Context) {
	b := udp.NewBatch(ackBatch)
	done := func(refs []osp.AckRef) {
		a.send(refs, b)
		a.inRun.Add(-int64(len(refs)))
		clear(refs)
		select {
		case a.free <- refs[:0]:
		default:
		}
	}
	for {
		select {
		case refs := <-a.big:
			done(refs)
		case <-ctx.Done():
			a.mu.Lock() // no flush between the drain and stopped
			defer a.mu.Unlock()
			a.stopped = true
			for {
				select {
				case refs := <-a.big:
					done(refs)
				default:
					return
				}
			}
		}
	}
}

// send seals the ACKs of refs into b, ackBatch at a time, and sends them.
// An ACK whose session is gone meanwhile is not sent: the sensor
// retransmits its reading in a new session.
func (a *acker) send(refs []osp.AckRef, b *udp.Batch) {
	for i, ref := range refs {
		_ = a.srv.AckQueued(ref, b)
		if (i+1)%ackBatch == 0 || i == len(refs)-1 {
			_ = b.Flush() // a failed send is counted by its link; the sensor retransmits
		}
	}
}

// HandleEvent logs session life-cycle events and keeps the things'
// presence.
func (g *Gateway) HandleEvent(e osp.Event) {
	g.reportSessionFailure(e)
	attrs := []any{"device", e.Device.String(), "sid", e.SID}
	if e.Peer != nil {
		if s, ok := e.Peer.(fmt.Stringer); ok {
			attrs = append(attrs, "peer", s.String())
		}
	}
	tid := things.OSPThingID(e.Device.Type, e.Device.Module)
	switch e.Kind {
	case osp.EventSessionOpened:
		g.log.Info("osp session opened", append(attrs, "secure", e.Secure)...)
		_ = g.hub.SetPresent(tid, true)
	case osp.EventSessionClosed:
		g.log.Info("osp session closed", append(attrs, "reason", errString(e.Err))...)
		if !errors.Is(e.Err, osp.ErrReplaced) { // its successor is open
			_ = g.hub.SetPresent(tid, false)
		}
	case osp.EventHandshakeFailed:
		g.hsCauses.count(e.Err)
		g.log.Warn("osp handshake failed", append(attrs, "err", e.Err)...)
	case osp.EventAuthFailed:
		g.log.Debug("osp packet failed authentication", attrs...)
	case osp.EventResendFailed, osp.EventResendUnavailable:
		g.log.Warn("osp reading lost by sensor", append(attrs, "event", e.Kind.String(), "message_id", e.MessageID)...)
	default:
		g.log.Info("osp "+e.Kind.String(), attrs...)
	}
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}
