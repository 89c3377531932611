package gateway

import (
	"context"
	"errors"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/edgegate/edgegate/gateway/things"
	"github.com/edgegate/edgegate/store"
)

// projectorConsumer is the projector's cursor name in the store.
const projectorConsumer = "things"

// projectBatch is how many journal readings the projector reads, and
// applies, at a time: each thing's state is written once per run.
const projectBatch = 4096

// projectPart is how many history entries the projector's writes put in
// one commit. A run's writes are split by thing into parts of about this
// size, committed one after another (see persister), so that no commit of
// the journal waits long behind derived data.
const projectPart = 256

// projectPartBehind is the part size while the projector is behind by a
// full batch: under sustained load one part per commit of projectPart
// entries would not keep up with the journal. It also caps one device's
// readings in a run, so that no part is much larger.
const projectPartBehind = 4 * projectPart

// projectLinger is how long the projector waits after a wake-up before it
// applies what was journaled, unless a full batch (projectBatch readings)
// is waiting: hub subscribers see a reading at most this much later than
// its ACK. At a trickle (a serial line) it saves a commit per reading or
// two; under load full batches go at once.
const projectLinger = 100 * time.Millisecond

// projector applies the journal to the hub: every committed reading is
// decoded with its device's profile and becomes an Update of the device's
// thing. It is a journal consumer with its own cursor, so it never slows
// the ingest path (a reading is acknowledged once journaled, not once
// projected), never drops a reading when it falls behind, and after a
// restart replays what it had not reached.
type projector struct {
	db      *store.DB
	hub     *things.Hub
	pers    *persister
	devices *deviceTable
	log     *slog.Logger
	wake    wakeup

	next      uint64                 // the next sequence to apply; only run touches it
	replayTo  uint64                 // readings up to here were journaled before this start
	perThing  map[store.DeviceID]int // readings of each device in the current run
	buf       []store.Reading        // the runs' readings, reused; only run touches it
	carry     []store.Reading        // read by the last run, left for the next (in buf)
	projected atomic.Uint64
	undecoded atomic.Uint64
	journaled atomic.Uint64 // the highest sequence notify reported
	caughtUp  chan chan struct{}
}

func newProjector(db *store.DB, hub *things.Hub, pers *persister, devices *deviceTable, log *slog.Logger) (*projector, error) {
	p := &projector{
		db: db, hub: hub, pers: pers, devices: devices, log: log,
		perThing: make(map[store.DeviceID]int), caughtUp: make(chan chan struct{}),
	}
	cur, err := db.Cursor(projectorConsumer)
	switch {
	case errors.Is(err, store.ErrNotFound):
		// First start: register the cursor so retention keeps what the
		// hub has not seen.
		if err := db.SetCursor(projectorConsumer, 0); err != nil {
			return nil, err
		}
	case err != nil:
		return nil, err
	}
	_, _, last, _, err := db.JournalStats()
	if err != nil {
		return nil, err
	}
	p.next, p.replayTo = cur+1, last
	p.projected.Store(cur)
	return p, nil
}

// notify tells the projector that the reading seq is journaled.
func (p *projector) notify(seq uint64) {
	for {
		last := p.journaled.Load()
		if seq <= last || p.journaled.CompareAndSwap(last, seq) {
			break
		}
	}
	p.wake.notify()
}

// batchWaiting reports whether a full batch is journaled and not applied.
func (p *projector) batchWaiting() bool {
	return p.journaled.Load()+1 >= p.next+projectBatch
}

// drain waits until the projector has applied everything journaled so far
// and its writes are durable (or five seconds passed).
func (p *projector) drain() {
	done := make(chan struct{})
	select {
	case p.caughtUp <- done:
		select {
		case <-done:
		case <-time.After(5 * time.Second):
		}
	case <-time.After(5 * time.Second):
	}
}

func (p *projector) run(ctx context.Context) {
	if p.next <= p.replayTo {
		p.log.Info("things: replaying the journal", "from", p.next, "to", p.replayTo)
	}
	retry := time.NewTimer(0)
	<-retry.C
	linger := time.NewTimer(0)
	<-linger.C
	for {
		more, err := p.step()
		if err != nil && !errors.Is(err, store.ErrClosed) {
			p.log.Error("things: reading the journal", "next", p.next, "err", err)
			retry.Reset(time.Second)
			select {
			case <-ctx.Done():
				return
			case <-retry.C:
			}
			continue
		}
		if more && ctx.Err() == nil {
			continue
		}
		select {
		case <-ctx.Done():
			return
		case <-p.wake.ch():
			// Linger so that the readings of many commits are applied,
			// and their state and history written, in one batch: the
			// committer then spends its time on the journal, which
			// sensors wait for, rather than on derived data.
			linger.Reset(projectLinger)
		lingering:
			for !p.batchWaiting() {
				select {
				case <-ctx.Done():
					return
				case <-linger.C:
					break lingering
				case <-p.wake.ch():
				case done := <-p.caughtUp:
					p.catchUp()
					close(done)
				}
			}
			if !linger.Stop() {
				select {
				case <-linger.C:
				default:
				}
			}
		case done := <-p.caughtUp:
			p.catchUp()
			close(done)
		}
	}
}

// catchUp applies everything journaled so far, until a step reports that
// nothing more is waiting, and waits until its writes are durable.
func (p *projector) catchUp() {
	defer p.pers.flush()
	for {
		if more, err := p.step(); err != nil || !more {
			return
		}
	}
}

// step applies up to projectBatch readings, and at most projectPartBehind
// of any one device, and queues their writes with the persister. It
// reports whether more readings may be waiting: it read a full batch or
// stopped short.
func (p *projector) step() (bool, error) {
	rs, from := p.carry, p.next
	if len(rs) > 0 {
		from = rs[len(rs)-1].Seq + 1
	}
	if len(rs) < projectBatch {
		// The carry moves to the front of the run's slice, which every
		// run reuses; the journal's next readings follow it. Its old
		// places the move did not overwrite are cleared, so that the
		// slice holds no payload twice.
		if p.buf == nil {
			p.buf = make([]store.Reading, 0, projectBatch)
		}
		k := copy(p.buf[:len(rs)], rs)
		if k > 0 {
			clear(p.buf[k : cap(p.buf)-cap(rs)+k])
		}
		p.carry = p.buf[:k]
		var err error
		if rs, err = p.db.AppendReadings(p.carry, from, projectBatch-len(p.carry)); err != nil {
			return false, err
		}
	}
	if len(rs) == 0 {
		return false, nil
	}
	clear(p.perThing)
	p.pers.begin()
	p.hub.BeginBatch()
	n := 0
	for ; n < len(rs); n++ {
		r := &rs[n]
		if p.perThing[r.Device] == projectPartBehind {
			break // the rest go in the next run
		}
		p.perThing[r.Device]++
		p.apply(r)
	}
	_ = p.hub.EndBatch() // failures are logged by the hub; the replay rebuilds
	last := rs[n-1].Seq
	// The applied readings are done with: their payloads are not kept
	// alive by the reused slice while the projector idles.
	clear(rs[:n])
	p.carry = nil
	if n < len(rs) {
		p.carry = rs[n:]
	}
	p.next = last + 1
	p.projected.Store(last) // applied to the hub; the store follows
	part := projectPart
	if len(rs) == projectBatch {
		part = projectPartBehind
	}
	p.pers.commit(projectorConsumer, last, part)
	return len(rs) == projectBatch || n < len(rs), nil
}

func (p *projector) apply(r *store.Reading) {
	dev, known := p.devices.lookup(r.Device)
	if !known {
		return // a removed device: its readings stay in the journal only
	}
	prof, id := dev.profile, dev.thing
	if r.Seq <= p.replayTo {
		// Replaying after a restart: the stored state may already hold
		// this reading (state is queued before the cursor, and a crash can
		// fall between them).
		if t, ok := p.hub.Get(id); ok && !r.Time.After(t.LastSeen) {
			return
		}
	}
	values := prof.DecodeOrRaw(r.DataType, r.Payload)
	if prof != nil && len(values) == 1 && values[0].Raw {
		p.undecoded.Add(1)
	}
	if err := p.hub.Update(id, values, r.Time); err != nil && !errors.Is(err, things.ErrUnknownThing) && !errors.Is(err, things.ErrClosed) {
		p.log.Warn("things: update", "thing", id, "seq", r.Seq, "err", err)
	}
}
