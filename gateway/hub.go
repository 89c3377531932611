package gateway

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/edgegate/edgegate/gateway/osp"
	"github.com/edgegate/edgegate/gateway/things"
	"github.com/edgegate/edgegate/store"
)

// restoreState overlays the values of a stored things.StateRecord on t: the
// latest value of every property the record holds, and LastSeen. Presence
// is not restored: nothing is connected at start.
func restoreState(t *things.Thing, value []byte) {
	var rec things.StateRecord
	if err := json.Unmarshal(value, &rec); err != nil {
		return // an unreadable state is rebuilt by the next reading
	}
	idx := make(map[string]int, len(t.Properties))
	for i, p := range t.Properties {
		idx[p.Name] = i
	}
	for _, sp := range rec.Properties {
		if sp.Value.IsZero() {
			continue
		}
		if i, ok := idx[sp.Name]; ok {
			if p := &t.Properties[i]; p.Type == sp.Value.Type() {
				p.Value, p.Updated, p.Raw = sp.Value, sp.Updated, sp.Raw
			}
			continue
		}
		t.Properties = append(t.Properties, sp)
	}
	t.LastSeen = rec.LastSeen
}

// persister hands the hub's changes to the store's group committer: state
// and history are derived from the journal, which is durable first, and the
// projector's cursor is committed with or after them, so a crash loses
// nothing that a replay does not rebuild.
//
// While the projector applies a run of readings (between begin and commit),
// the changes are gathered into one store.Batch with the cursor last. commit
// splits it into parts of whole things (store.Batch.Split) and queues them;
// run hands the store one part at a time, the next once the one before is
// durable. A run of thousands of readings then costs the committer a few
// bounded writes, each riding along with the journal appends of one group
// commit, instead of one long transaction that every sensor's ACK would
// wait behind. (The projector wraps the run in Hub.BeginBatch and EndBatch,
// so each thing's state arrives once per run.)
//
// A change outside a run (presence, a re-described thing) is queued behind
// the parts still waiting, so that no older snapshot of a thing lands after
// it, or handed to the store at once when none are. A removed thing's
// deletion is queued the same way.
type persister struct {
	db   *store.DB
	log  *slog.Logger
	kick chan struct{} // something was queued

	mu      sync.Mutex
	batch   *store.Batch // non-nil during a run
	deletes []string     // things removed during the run, deleted after it
	queue   []queuedPart // waiting parts; queue[0] is with the store
	queued  int          // the writes in queue
	stopped bool         // run has returned: nothing waits for the queue
	drained *sync.Cond   // signalled whenever queue shrinks, and at stop
}

// queuedPart is a batch waiting in the persister's queue, or (b nil) the
// deletion of a removed thing's state and history.
type queuedPart struct {
	b   *store.Batch
	del string
}

// writes is how many writes q holds, for persistAhead.
func (q queuedPart) writes() int {
	if q.b == nil {
		return 1
	}
	return q.b.Len()
}

// persistAhead is how many writes the persister holds before commit waits:
// the projector prepares its next run while the last one's parts drain,
// and runs no further ahead.
const persistAhead = 2 * projectBatch

func newPersister(db *store.DB, log *slog.Logger) *persister {
	p := &persister{db: db, log: log, kick: make(chan struct{}, 1)}
	p.drained = sync.NewCond(&p.mu)
	return p
}

func (p *persister) PutState(thingID string, value []byte, at time.Time) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.batch != nil {
		return p.batch.PutState(thingID, value, at)
	}
	if len(p.queue) == 0 {
		p.db.PutStateAsync(thingID, value, at, p.done("state"))
		return nil
	}
	return p.tail(func(b *store.Batch) error { return b.PutState(thingID, value, at) })
}

func (p *persister) AppendHistory(thingID string, at time.Time, value []byte) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.batch != nil {
		return p.batch.AppendHistory(thingID, at, value)
	}
	if len(p.queue) == 0 {
		p.db.AppendHistoryAsync(thingID, at, value, p.done("history"))
		return nil
	}
	return p.tail(func(b *store.Batch) error { return b.AppendHistory(thingID, at, value) })
}

// tail adds a write made outside a run behind everything queued: to the
// last queued part when the store does not have it yet (so that a burst of
// presence changes costs one part, not one commit each), else to a new
// part. Call it with p.mu held and the queue not empty.
func (p *persister) tail(write func(*store.Batch) error) error {
	if n := len(p.queue); n > 1 && p.queue[n-1].b != nil && !p.stopped {
		if err := write(p.queue[n-1].b); err != nil {
			return err
		}
		p.queued++
		return nil
	}
	b := p.db.NewBatch()
	if err := write(b); err != nil {
		return err
	}
	p.enqueue(b)
	return nil
}

// deleteThing deletes a removed thing's state and history after every
// write of it that is queued or being gathered, so that none lands after
// the deletion and writes it back.
func (p *persister) deleteThing(thingID string) error {
	p.mu.Lock()
	switch {
	case p.batch != nil:
		p.deletes = append(p.deletes, thingID)
	case len(p.queue) > 0:
		p.enqueuePart(queuedPart{del: thingID})
	default:
		p.mu.Unlock()
		return p.db.DeleteThing(thingID)
	}
	p.mu.Unlock()
	return nil
}

// enqueue adds b to the queue; call it with p.mu held.
func (p *persister) enqueue(b *store.Batch) {
	p.enqueuePart(queuedPart{b: b})
}

// enqueuePart adds q to the queue; call it with p.mu held.
func (p *persister) enqueuePart(q queuedPart) {
	if p.stopped {
		return // stopping: the replay at the next start rebuilds it
	}
	p.queue = append(p.queue, q)
	p.queued += q.writes()
	select {
	case p.kick <- struct{}{}:
	default:
	}
}

// begin starts gathering changes into one batch.
func (p *persister) begin() {
	p.mu.Lock()
	p.batch = p.db.NewBatch()
	p.mu.Unlock()
}

// commit queues the gathered changes and the projector's cursor in parts
// of about part history entries (at once, so that a change made after the
// run queues behind them), then waits while more than persistAhead writes
// are queued.
func (p *persister) commit(consumer string, cursor uint64, part int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	b := p.batch
	p.batch = nil
	_ = b.SetCursor(consumer, cursor)
	for _, b := range b.Split(part) {
		p.enqueue(b)
	}
	for _, id := range p.deletes {
		p.enqueuePart(queuedPart{del: id})
	}
	p.deletes = p.deletes[:0]
	for p.queued > persistAhead && !p.stopped {
		p.drained.Wait()
	}
}

// flush waits until every queued part is durable or has failed, or run
// has returned.
func (p *persister) flush() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for len(p.queue) > 0 && !p.stopped {
		p.drained.Wait()
	}
}

// run hands the queued parts to the store one at a time until ctx ends. A
// part that failed is applied again after persistRetry (nothing of it was
// committed), and no later part goes first: a cursor never passes what it
// covers, and no thing's state gets ahead of its history. What is still
// queued when ctx ends is dropped: the projector's cursor did not pass it,
// so the next start replays it.
func (p *persister) run(ctx context.Context) {
	defer func() {
		p.mu.Lock()
		p.stopped = true
		clear(p.queue)
		p.queue, p.queued = p.queue[:0], 0
		p.drained.Broadcast()
		p.mu.Unlock()
	}()
	done := make(chan error, 1)
	retry := time.NewTimer(0)
	<-retry.C
	for {
		p.mu.Lock()
		var head queuedPart
		queued := len(p.queue) > 0
		if queued {
			head = p.queue[0]
		}
		p.mu.Unlock()
		switch {
		case !queued:
			select {
			case <-ctx.Done():
				return
			case <-p.kick:
			}
			continue
		case head.b == nil:
			if err := p.db.DeleteThing(head.del); err != nil && !errors.Is(err, store.ErrNotFound) && !errors.Is(err, store.ErrClosed) {
				p.log.Warn("things: delete a removed thing's state", "thing", head.del, "err", err)
			}
		default:
			p.db.ApplyAsync(head.b, func(err error) { done <- err })
			// done always comes: the store completes every write it took,
			// and its Close waits for this goroutine's end.
			if err := <-done; err != nil && !errors.Is(err, store.ErrClosed) {
				if !errors.Is(err, store.ErrInvalid) { // a rejected write: the rest committed
					p.log.Warn("things: persist failed; retrying", "what", "projection", "in", persistRetry, "err", err)
					retry.Reset(persistRetry)
					select {
					case <-ctx.Done():
						return
					case <-retry.C:
					}
					continue
				}
				p.log.Warn("things: persist failed", "what", "projection", "err", err)
			}
		}
		p.mu.Lock()
		p.queued -= p.queue[0].writes()
		p.queue[0] = queuedPart{}
		p.queue = p.queue[1:]
		p.drained.Broadcast()
		p.mu.Unlock()
		if ctx.Err() != nil {
			return
		}
	}
}

// persistRetry is how long the persister waits before it applies a failed
// part again.
const persistRetry = time.Second

func (p *persister) done(what string) func(error) {
	return func(err error) {
		if err != nil && !errors.Is(err, store.ErrClosed) {
			p.log.Warn("things: persist failed", "what", what, "err", err)
		}
	}
}

// ospOwner performs the actions of OSP things: the profile's COMMAND script,
// sent to the device's session.
type ospOwner struct{ g *Gateway }

func (o ospOwner) Perform(ctx context.Context, thingID, action string, args map[string]string) (things.Result, error) {
	typ, mod, ok := things.ParseOSPThingID(thingID)
	if !ok {
		return things.Result{}, fmt.Errorf("%w: %q", things.ErrUnknownThing, thingID)
	}
	id := store.DeviceID{Type: typ, Module: mod}
	p, _ := o.g.devices.get(id)
	script, err := p.CommandScript(action, args)
	if err != nil {
		return things.Result{}, err
	}
	res, err := o.g.command(ctx, id, script)
	if err != nil {
		return things.Result{}, err
	}
	msg := fmt.Sprintf("exit code %d", res.ExitCode)
	if len(res.Response) > 0 {
		msg += ": " + string(res.Response)
	}
	return things.Result{Status: things.StatusDone, Ref: fmt.Sprint(res.ID), Message: msg}, nil
}

// command sends script to the device's session and waits for the response
// (bounded by the server's command timeout) or ctx's end.
func (g *Gateway) command(ctx context.Context, id store.DeviceID, script []byte) (osp.CommandResult, error) {
	ch := make(chan osp.CommandResult, 1)
	_, err := g.srv.SendCommand(ospDevice(id), script, func(r osp.CommandResult) { ch <- r })
	if err != nil {
		return osp.CommandResult{}, err
	}
	select {
	case r := <-ch:
		if r.Err != nil {
			return r, r.Err
		}
		return r, nil
	case <-ctx.Done():
		return osp.CommandResult{}, fmt.Errorf("waiting for the response: %w", ctx.Err())
	}
}

// firmwareSource serves FIRMWARE requests from the store. A chunk larger
// than the link allows is answered empty (and logged): the image must be
// stored again with a smaller chunk size.
type firmwareSource struct {
	db  *store.DB
	log *slog.Logger
}

func (f firmwareSource) FirmwareChunk(dev osp.DeviceID, name string, chunk uint16, max int) ([]byte, error) {
	b, err := f.db.FirmwareChunk(name, chunk)
	if err != nil {
		if !errors.Is(err, store.ErrNotFound) {
			f.log.Error("firmware chunk", "device", dev.String(), "firmware", name, "chunk", chunk, "err", err)
		}
		return nil, err
	}
	if len(b) > max {
		f.log.Warn("firmware chunk larger than the link allows; answered empty",
			"device", dev.String(), "firmware", name, "chunk", chunk, "size", len(b), "max", max)
		return nil, nil
	}
	return b, nil
}

// wakeup is a coalescing signal: any number of notify calls before a
// receive wake the receiver once.
type wakeup struct {
	once sync.Once
	c    chan struct{}
}

func (w *wakeup) ch() chan struct{} {
	w.once.Do(func() { w.c = make(chan struct{}, 1) })
	return w.c
}

func (w *wakeup) notify() {
	select {
	case w.ch() <- struct{}{}:
	default:
	}
}
