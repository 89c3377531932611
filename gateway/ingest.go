package gateway

import (
	"context"
	"errors"
	"fmt"

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

// acker sends the ACKNOWLEDGEs of durable readings from its own goroutine,
// so that the store's committer (which reports durability) goes straight
// back to committing instead of sealing and sending packets: the two then
// run in parallel, and a commit's ACKs go out while the next batch is
// written. The ACKs waiting in its queue leave together: on a UDP link in
// one system call, a sensor's ACKs in one segmented datagram (udp.Batch).
type acker struct {
	srv *osp.Server
	ch  chan osp.AckRef
}

// ackBatch is the most ACKs sealed before they are sent: about a group
// commit's worth. udp.Batch keeps each sensor's share below its receive
// window.
const ackBatch = 256

func newAcker(srv *osp.Server) *acker { return &acker{srv: srv, ch: make(chan osp.AckRef, 8192)} }

// push queues an ACK. It never blocks the committer and never drops an
// ACK: when the queue is full it sends the ACK itself.
func (a *acker) push(ref osp.AckRef) {
	select {
	case a.ch <- ref:
	default:
		_ = a.srv.Ack(ref)
	}
}

// run sends queued ACKs until ctx ends, then sends what is still queued.
func (a *acker) run(ctx context.Context) {
	b := udp.NewBatch(ackBatch)
	for {
		select {
		case ref := <-a.ch:
			a.send(ref, b)
		case <-ctx.Done():
			for {
				select {
				case ref := <-a.ch:
					a.send(ref, b)
				default:
					return
				}
			}
		}
	}
}

// send seals the ACK for ref and those queued behind it, up to ackBatch,
// and sends them. An ACK whose session is gone meanwhile is not sent: the
// sensor retransmits its reading in a new session.
func (a *acker) send(ref osp.AckRef, b *udp.Batch) {
	_ = a.srv.AckQueued(ref, b)
	for range ackBatch - 1 {
		select {
		case ref := <-a.ch:
			_ = a.srv.AckQueued(ref, b)
			continue
		default:
		}
		break
	}
	_ = b.Flush() // a failed send is counted by its link; the sensor retransmits
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
