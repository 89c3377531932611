package ocs

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jonboulle/clockwork"

	"github.com/edgegate/edgegate/gateway/admin"
	"github.com/edgegate/edgegate/gateway/things"
	"github.com/edgegate/edgegate/store"
)

// Journal is what the forwarder reads: the store's readings journal and
// its consumer cursors (*store.DB).
type Journal interface {
	Readings(fromSeq uint64, limit int) ([]store.Reading, error)
	Cursor(consumer string) (uint64, error)
	SetCursor(consumer string, seq uint64) error
	SetCursorAsync(consumer string, seq uint64, done func(error))
	JournalStats() (count, firstSeq, lastSeq uint64, oldest time.Time, err error)
}

// Binding maps the gateway's devices and things onto the OCS.
type Binding interface {
	// DeviceID returns the OCS deviceId of an OSP device (removed devices
	// included).
	DeviceID(dev store.DeviceID) string
	// ThingDeviceID returns the OCS deviceId of a native thing.
	ThingDeviceID(thingID string) string
	// Decode decodes a reading's payload with the device's profile, as the
	// hub's projection does.
	Decode(dev store.DeviceID, dataType uint16, payload []byte) []things.PropertyValue
}

// Uploader is the part of the contract the forwarder posts to (*Client).
type Uploader interface {
	PostDeviceServiceInfo(ctx context.Context, id string, list []ModuleMessage) error
	PostError(ctx context.Context, id string, st DeviceState) error
}

// ForwarderOptions configures a Forwarder.
type ForwarderOptions struct {
	Upstream Uploader
	Journal  Journal
	// KV is the forwarder's namespace: outbox, dead letters, boots.
	KV      *store.KV
	Binding Binding
	// Gateway is the gateway's UUID, the "gw" of every document.
	Gateway string
	// Consumer is the journal cursor's name (default "ocs").
	Consumer string
	// BatchSize is the largest batch of journal readings (default 2048);
	// MinBatch the smallest the adaptive sizing goes down to (default 8).
	// A batch starts at MinBatch*4 and doubles while the OCS answers
	// quickly, halves when it is slow, times out or answers 413.
	BatchSize, MinBatch int
	// SlowBatch is the answer time above which the batch size halves
	// (default 2 s).
	SlowBatch time.Duration
	// MaxPostBytes bounds a POST's body, roughly: a device's part of a
	// batch is cut into several POSTs above it (default 512 KiB).
	MaxPostBytes int
	// Parallel bounds the POSTs in flight, one device each (default 4).
	Parallel int
	// Interval is how often an idle forwarder looks for new readings
	// (default 1 s).
	Interval time.Duration
	// Timeout bounds one POST (default 30 s).
	Timeout time.Duration
	// BackoffMin and BackoffMax bound the retry delay, which doubles per
	// failed attempt, with jitter (defaults 1 s and 5 min).
	BackoffMin, BackoffMax time.Duration
	// MaxOutbox bounds the outbox (native things, error reports); the
	// oldest entries go first when it is full (default 100000).
	MaxOutbox int
	// Clock drives backoff and intervals (default the real clock).
	Clock clockwork.Clock
	// Jitter returns a number in [0,1) (default math/rand/v2).
	Jitter func() float64
	Log    *slog.Logger
}

// Forwarder drains the readings journal to the OCS as device serviceinfo
// (module osp), and the outbox of native thing updates (module
// nativething) and session failures (POST errors). It keeps the
// store-and-forward promises:
//
//   - at least once: the journal cursor advances, durably, only after the
//     OCS answered 200 for every reading up to it (or the reading was
//     parked); a restart resends what was not confirmed, and documents carry
//     (gw, seq) for de-duplication;
//   - per device in order: each device's readings of a batch go in one POST
//     (or consecutive ones), batches one after the other;
//   - a 4xx answer other than 408 and 429 parks the device's part of the
//     batch in the dead-letter list with the answer, and the queue goes on;
//     413 splits the POST first; everything else is retried with
//     exponential backoff and jitter;
//   - retention keeps every reading the cursor has not passed (the cursor is
//     registered at first start); readings the store's size cap evicted
//     before they were forwarded are counted (Stats.Lost) and logged.
type Forwarder struct {
	o    ForwarderOptions
	log  *slog.Logger
	wake chan struct{}
	fail chan failure

	cursor  uint64 // only run touches it after New
	boots   []bootRecord
	pending *batch // a journal batch not yet fully confirmed
	size    int    // current adaptive batch size
	attempt int    // consecutive failed steps

	outboxN atomic.Int64 // entries in the outbox

	forwarded, posts, batches, postErrors, retries atomic.Uint64
	parked, lost, outboxDropped                    atomic.Uint64
	nativeQueued, nativeLost, failuresReported     atomic.Uint64
	failuresDropped, deadLetters                   atomic.Uint64
	batchSize                                      atomic.Int64
	lastSuccess, lastFailure                       atomic.Int64
	consecutiveParked                              atomic.Int64
	shrink                                         atomic.Bool // a 413 asked for smaller batches

	mu      sync.Mutex
	lastErr string
	// reports rate-limits failure reports per device and kind; only Run
	// (and drainFailures) touch it.
	reports map[reportKey]*reportState
}

// KV key prefixes of the forwarder's namespace.
const (
	prefixOutbox = "out/"
	prefixDead   = "dead/"
	prefixBoot   = "boot/"
)

// parkLimit is how many POSTs in a row may be parked before the forwarder
// stops parking: an OCS that refuses everything is misconfigured (a wrong
// URL, say), and the journal then waits instead of draining into the
// dead-letter list.
const parkLimit = 16

// NewForwarder opens the forwarder: registers its journal cursor (at 0 on first
// start, so everything journaled is forwarded), loads the outbox size and
// records this start (boot) for the documents' monotonic times.
func NewForwarder(o ForwarderOptions) (*Forwarder, error) {
	if o.Upstream == nil || o.Journal == nil || o.KV == nil || o.Binding == nil {
		return nil, fmt.Errorf("ocs: forwarder: %w: Upstream, Journal, KV and Binding are required", ErrInvalid)
	}
	if o.Consumer == "" {
		o.Consumer = "ocs"
	}
	if o.BatchSize <= 0 {
		o.BatchSize = 2048
	}
	if o.MinBatch <= 0 {
		o.MinBatch = 8
	}
	o.MinBatch = min(o.MinBatch, o.BatchSize)
	if o.SlowBatch <= 0 {
		o.SlowBatch = 2 * time.Second
	}
	if o.Parallel <= 0 {
		o.Parallel = 4
	}
	if o.MaxPostBytes <= 0 {
		o.MaxPostBytes = 512 << 10
	}
	if o.Interval <= 0 {
		o.Interval = time.Second
	}
	if o.Timeout <= 0 {
		o.Timeout = 30 * time.Second
	}
	if o.BackoffMin <= 0 {
		o.BackoffMin = time.Second
	}
	if o.BackoffMax < o.BackoffMin {
		o.BackoffMax = max(5*time.Minute, o.BackoffMin)
	}
	if o.MaxOutbox <= 0 {
		o.MaxOutbox = 100000
	}
	if o.Clock == nil {
		o.Clock = clockwork.NewRealClock()
	}
	if o.Jitter == nil {
		o.Jitter = rand.Float64
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	f := &Forwarder{o: o, log: o.Log, wake: make(chan struct{}, 1), fail: make(chan failure, 256),
		size: min(o.BatchSize, o.MinBatch*4), reports: make(map[reportKey]*reportState)}
	f.batchSize.Store(int64(f.size))
	cur, err := o.Journal.Cursor(o.Consumer)
	switch {
	case errors.Is(err, store.ErrNotFound):
		if err := o.Journal.SetCursor(o.Consumer, 0); err != nil {
			return nil, fmt.Errorf("ocs: forwarder: register cursor: %w", err)
		}
	case err != nil:
		return nil, fmt.Errorf("ocs: forwarder: cursor: %w", err)
	}
	f.cursor = cur
	n := 0
	if err := o.KV.Scan(prefixOutbox, func(string, []byte) error { n++; return nil }); err != nil {
		return nil, fmt.Errorf("ocs: forwarder: outbox: %w", err)
	}
	f.outboxN.Store(int64(n))
	d := 0
	if err := o.KV.Scan(prefixDead, func(string, []byte) error { d++; return nil }); err != nil {
		return nil, fmt.Errorf("ocs: forwarder: dead letters: %w", err)
	}
	f.deadLetters.Store(uint64(d))
	if err := f.recordBoot(); err != nil {
		return nil, err
	}
	return f, nil
}

// recordBoot adds this start to the boot list and drops boots whose
// readings are all forwarded (but the last of them).
func (f *Forwarder) recordBoot() error {
	_, _, last, _, err := f.o.Journal.JournalStats()
	if err != nil {
		return fmt.Errorf("ocs: forwarder: journal: %w", err)
	}
	now := f.o.Clock.Now()
	err = f.o.KV.Update(func(t *store.KVTx) error {
		n, err := t.NextSequence()
		if err != nil {
			return err
		}
		b, _ := json.Marshal(bootRecord{Boot: n, FirstSeq: last + 1, Wall: now.UnixNano()})
		return t.Put(prefixBoot+store.SeqKey(n), b)
	})
	if err != nil {
		return fmt.Errorf("ocs: forwarder: record the start: %w", err)
	}
	entries, err := f.o.KV.List(prefixBoot)
	if err != nil {
		return fmt.Errorf("ocs: forwarder: boots: %w", err)
	}
	for _, e := range entries {
		var b bootRecord
		if json.Unmarshal(e.Value, &b) == nil {
			f.boots = append(f.boots, b)
		}
	}
	// Keep the boot that holds the cursor's next reading, and later ones.
	keep := 0
	for i, b := range f.boots {
		if b.FirstSeq <= f.cursor+1 {
			keep = i
		}
	}
	for _, b := range f.boots[:keep] {
		if err := f.o.KV.Delete(prefixBoot + store.SeqKey(b.Boot)); err != nil {
			return fmt.Errorf("ocs: forwarder: boots: %w", err)
		}
	}
	f.boots = f.boots[keep:]
	return nil
}

// bootOf returns the boot a reading was journaled in; readings older than
// the first recorded start have boot 0 (and mono 0: unknown).
func (f *Forwarder) bootOf(seq uint64) bootRecord {
	b := bootRecord{}
	for _, x := range f.boots {
		if x.FirstSeq <= seq {
			b = x
		}
	}
	return b
}

// notify wakes the forwarder (new outbox entries).
func (f *Forwarder) notify() {
	select {
	case f.wake <- struct{}{}:
	default:
	}
}

// Run forwards until ctx ends; it returns nil then. A POST in flight when
// ctx ends is abandoned: its readings are sent again next time.
func (f *Forwarder) Run(ctx context.Context) error {
	f.log.Info("ocs: forwarding", "cursor", f.cursor, "outbox", f.outboxN.Load(), "boot", f.boots[len(f.boots)-1].Boot)
	for {
		f.drainFailures()
		more, err := f.step(ctx)
		if ctx.Err() != nil {
			return nil
		}
		var wait time.Duration
		switch {
		case err != nil:
			f.attempt++
			wait = f.backoff(f.attempt, RetryAfterOf(err))
			f.retries.Add(1)
			f.noteFailure(err)
			f.log.Warn("ocs: forwarding failed; retrying", "in", wait.Round(time.Millisecond), "attempt", f.attempt, "err", err)
		case more:
			f.attempt = 0
			continue
		default:
			f.attempt = 0
			wait = f.o.Interval
		}
		// During a backoff new outbox entries wait; session failures are
		// taken in either case.
		wake := f.wake
		if err != nil {
			wake = nil
		}
		t := f.o.Clock.NewTimer(wait)
		for waiting := true; waiting; {
			select {
			case <-ctx.Done():
				t.Stop()
				return nil
			case <-t.Chan():
				waiting = false
			case <-wake:
				t.Stop()
				waiting = false
			case fl := <-f.fail:
				f.reportFailure(fl)
			}
		}
	}
}

// backoff returns the delay before retry attempt n (1, 2, ...): BackoffMin
// doubled per attempt up to BackoffMax, with full jitter over its upper
// half, and at least the server's Retry-After.
func (f *Forwarder) backoff(n int, retryAfter time.Duration) time.Duration {
	d := f.o.BackoffMin
	for i := 1; i < n && d < f.o.BackoffMax; i++ {
		d *= 2
	}
	d = min(d, f.o.BackoffMax)
	d = d/2 + time.Duration(f.o.Jitter()*float64(d/2))
	return max(d, min(retryAfter, f.o.BackoffMax))
}

func (f *Forwarder) noteFailure(err error) {
	f.lastFailure.Store(f.o.Clock.Now().UnixNano())
	f.mu.Lock()
	f.lastErr = err.Error()
	f.mu.Unlock()
}

// step forwards one journal batch and one outbox batch; more reports that
// work is waiting.
func (f *Forwarder) step(ctx context.Context) (more bool, err error) {
	jmore, err := f.stepJournal(ctx)
	if err != nil {
		return false, err
	}
	omore, err := f.stepOutbox(ctx)
	if err != nil {
		return false, err
	}
	return jmore || omore, nil
}

// post is one POST of a batch: a device's serviceinfo messages (or one
// error report), and what they cover.
type post struct {
	id     string // OCS deviceId
	what   string // for logs and dead letters: "osp 1:4242", "native ..."
	msgs   []ModuleMessage
	seqs   []uint64       // journal sequences of msgs (readings)
	keys   []string       // outbox keys of msgs (outbox)
	state  *DeviceState   // an error report instead of msgs
	bytes  int            // the values' size, to bound a POST
	status postStatus     // set by postLanes
	resp   *deadLetterErr // the answer that parked it
}

type postStatus uint8

const (
	postPending postStatus = iota
	postOK
	postParked
)

// batch is a run of journal readings being forwarded.
type batch struct {
	to    uint64 // the last reading's sequence
	n     int
	lanes [][]*post // one lane per device, posted in order
}

// deadLetterErr is the answer that parked a post.
type deadLetterErr struct {
	status int
	body   string
}

func (f *Forwarder) stepJournal(ctx context.Context) (more bool, err error) {
	if f.pending == nil {
		rs, err := f.o.Journal.Readings(f.cursor+1, f.size)
		if err != nil {
			return false, fmt.Errorf("ocs: read the journal: %w", err)
		}
		if len(rs) == 0 {
			count, _, last, _, err := f.o.Journal.JournalStats()
			if err != nil {
				return false, fmt.Errorf("ocs: read the journal: %w", err)
			}
			switch {
			case last <= f.cursor:
				return false, nil
			case count > 0:
				// Committed after the read above: read again. (An eviction
				// leaves the journal's later records, which the read would
				// have returned.)
				return true, nil
			default: // the journal is empty: everything unforwarded was evicted
				f.noteLost(f.cursor+1, last)
				return false, f.advance(last)
			}
		}
		if first := rs[0].Seq; first > f.cursor+1 {
			f.noteLost(f.cursor+1, first-1)
		}
		if f.pending, err = f.buildBatch(rs); err != nil {
			return false, err
		}
	}
	b := f.pending
	start := f.o.Clock.Now()
	err = f.postLanes(ctx, b.lanes)
	took := f.o.Clock.Now().Sub(start)
	if f.shrink.Swap(false) {
		f.resize(f.size / 2)
	}
	if err != nil {
		if errors.Is(err, context.DeadlineExceeded) || took > f.o.SlowBatch {
			f.resize(f.size / 2)
		}
		return false, err
	}
	f.batches.Add(1)
	if err := f.advance(b.to); err != nil {
		return false, err
	}
	f.pending = nil
	full := b.n >= f.size
	switch {
	case took > f.o.SlowBatch:
		f.resize(f.size / 2)
	case full && took < f.o.SlowBatch/4:
		f.resize(f.size * 2)
	}
	return full, nil
}

func (f *Forwarder) resize(n int) {
	f.size = max(f.o.MinBatch, min(f.o.BatchSize, n))
	f.batchSize.Store(int64(f.size))
}

// advance moves the cursor. The write is queued, not waited for: the
// next batch goes at once, and the store commits cursor writes in order, so
// a crash finds the cursor at or behind what the OCS confirmed (readings
// are then sent again, never skipped).
func (f *Forwarder) advance(to uint64) error {
	f.o.Journal.SetCursorAsync(f.o.Consumer, to, func(err error) {
		if err != nil && !errors.Is(err, store.ErrClosed) {
			f.log.Error("ocs: cursor not written; readings may be sent again", "seq", to, "err", err)
		}
	})
	f.cursor = to
	if len(f.boots) > 1 && f.boots[1].FirstSeq <= to+1 {
		old := f.boots[0]
		if err := f.o.KV.Delete(prefixBoot + store.SeqKey(old.Boot)); err == nil {
			f.boots = f.boots[1:]
		}
	}
	return nil
}

func (f *Forwarder) noteLost(from, to uint64) {
	n := to - from + 1
	f.lost.Add(n)
	f.log.Error("ocs: readings evicted by the store's size cap before they were forwarded",
		"first_seq", from, "last_seq", to, "count", n)
}

// buildBatch groups readings per device, in order, into documents.
func (f *Forwarder) buildBatch(rs []store.Reading) (*batch, error) {
	b := &batch{to: rs[len(rs)-1].Seq, n: len(rs)}
	lane := map[store.DeviceID]int{}
	for i := range rs {
		r := &rs[i]
		doc := readingDoc(f.o.Gateway, f.bootOf(r.Seq), r, f.o.Binding.Decode(r.Device, r.DataType, r.Payload))
		v, err := encodeDoc(doc)
		if err != nil {
			return nil, err
		}
		li, ok := lane[r.Device]
		if !ok {
			li = len(b.lanes)
			lane[r.Device] = li
			b.lanes = append(b.lanes, []*post{{id: f.o.Binding.DeviceID(r.Device), what: "osp " + doc.Device}})
		}
		l := b.lanes[li]
		p := l[len(l)-1]
		if p.bytes+len(v) > f.o.MaxPostBytes && len(p.msgs) > 0 {
			p = &post{id: p.id, what: p.what}
			b.lanes[li] = append(l, p)
		}
		p.msgs = append(p.msgs, ModuleMessage{Module: ModuleOSP, Msg: MsgReading, Value: v})
		p.seqs = append(p.seqs, r.Seq)
		p.bytes += len(v) + 48 // the message's JSON around the value, escapes aside
	}
	return b, nil
}

// postLanes posts every lane, up to Parallel at once; a lane goes in
// order and stops at its first failure. It returns nil when every post is
// done (confirmed or parked), else the first retryable error.
func (f *Forwarder) postLanes(ctx context.Context, lanes [][]*post) error {
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		first error
		sem   = make(chan struct{}, f.o.Parallel)
	)
	for i := range lanes {
		if done(lanes[i]) {
			continue
		}
		wg.Add(1)
		sem <- struct{}{}
		go func(i int) {
			defer wg.Done()
			defer func() { <-sem }()
			out, err := f.postLane(ctx, lanes[i])
			mu.Lock()
			lanes[i] = out
			if err != nil && first == nil {
				first = err
			}
			mu.Unlock()
		}(i)
	}
	wg.Wait()
	return first
}

func done(lane []*post) bool {
	for _, p := range lane {
		if p.status == postPending {
			return false
		}
	}
	return true
}

// postLane posts a lane's pending posts in order. A 413 splits the post in
// two (a single message is parked); the lane may come back longer.
func (f *Forwarder) postLane(ctx context.Context, lane []*post) ([]*post, error) {
	for i := 0; i < len(lane); i++ {
		p := lane[i]
		if p.status != postPending {
			continue
		}
		err := f.send(ctx, p)
		if err == nil {
			p.status = postOK
			f.forwarded.Add(uint64(max(1, len(p.msgs))))
			f.consecutiveParked.Store(0)
			f.lastSuccess.Store(f.o.Clock.Now().UnixNano())
			continue
		}
		f.postErrors.Add(1)
		status := StatusOf(err)
		switch {
		case status == 413 && len(p.msgs) > 1:
			f.shrink.Store(true)
			h := len(p.msgs) / 2
			a, b := p.split(h)
			lane = append(lane[:i], append([]*post{a, b}, lane[i+1:]...)...)
			i-- // post the first half now
			continue
		case status == 408 || status == 429 || status < 400 || status >= 500:
			return lane, err
		}
		// A 4xx the request itself caused: park it, unless everything is
		// refused.
		if f.consecutiveParked.Add(1) > parkLimit {
			return lane, fmt.Errorf("%w (the OCS refused the last %d posts: check [upstream] url; parking stopped)", err, parkLimit)
		}
		var he *HTTPError
		errors.As(err, &he)
		p.resp = &deadLetterErr{status: status, body: string(he.Body)}
		if err := f.park(p); err != nil {
			return lane, err
		}
		p.status = postParked
	}
	return lane, nil
}

func (p *post) split(h int) (*post, *post) {
	a := &post{id: p.id, what: p.what, msgs: p.msgs[:h:h]}
	b := &post{id: p.id, what: p.what, msgs: p.msgs[h:]}
	if p.seqs != nil {
		a.seqs, b.seqs = p.seqs[:h:h], p.seqs[h:]
	}
	if p.keys != nil {
		a.keys, b.keys = p.keys[:h:h], p.keys[h:]
	}
	return a, b
}

// send makes one POST under the request timeout.
func (f *Forwarder) send(ctx context.Context, p *post) error {
	ctx, cancel := context.WithTimeout(ctx, f.o.Timeout)
	defer cancel()
	f.posts.Add(1)
	if p.state != nil {
		return f.o.Upstream.PostError(ctx, p.id, *p.state)
	}
	return f.o.Upstream.PostDeviceServiceInfo(ctx, p.id, p.msgs)
}

// DeadLetter is a POST the OCS refused with a 4xx, kept with its answer
// and what it carried.
type DeadLetter struct {
	admin.UpstreamDeadLetter
	// Messages (or State) is what was posted, for a requeue.
	Messages []ModuleMessage `json:"messages,omitempty"`
	State    *DeviceState    `json:"state,omitempty"`
}

// park keeps p in the dead-letter list (and, for outbox entries, deletes
// them from the outbox in the same transaction).
func (f *Forwarder) park(p *post) error {
	dl := DeadLetter{UpstreamDeadLetter: admin.UpstreamDeadLetter{What: p.what, DeviceID: p.id, Count: len(p.msgs),
		Status: p.resp.status, Response: p.resp.body, Parked: f.o.Clock.Now().UTC()}, Messages: p.msgs, State: p.state}
	if p.state != nil {
		dl.Count = 1
	}
	if len(p.seqs) > 0 {
		dl.FirstSeq, dl.LastSeq = p.seqs[0], p.seqs[len(p.seqs)-1]
	}
	err := f.o.KV.Update(func(t *store.KVTx) error {
		n, err := t.NextSequence()
		if err != nil {
			return err
		}
		dl.ID = store.SeqKey(n)
		b, err := json.Marshal(dl)
		if err != nil {
			return err
		}
		for _, k := range p.keys {
			t.Delete(k)
		}
		return t.Put(prefixDead+dl.ID, b)
	})
	if err != nil {
		return fmt.Errorf("ocs: park %s: %w", p.what, err)
	}
	if len(p.keys) > 0 {
		f.outboxN.Add(-int64(len(p.keys)))
	}
	f.deadLetters.Add(1)
	f.parked.Add(uint64(dl.Count))
	f.log.Error("ocs: the OCS refused a post; parked in the dead-letter list", "what", p.what, "device_id", p.id,
		"status", dl.Status, "count", dl.Count, "first_seq", dl.FirstSeq, "last_seq", dl.LastSeq,
		"response", truncate(dl.Response, 200), "dead_letter", dl.ID)
	return nil
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}

// DeadLetters returns the parked posts, oldest first.
func (f *Forwarder) DeadLetters() ([]DeadLetter, error) {
	entries, err := f.o.KV.List(prefixDead)
	if err != nil {
		return nil, err
	}
	out := make([]DeadLetter, 0, len(entries))
	for _, e := range entries {
		var dl DeadLetter
		if err := json.Unmarshal(e.Value, &dl); err != nil {
			return nil, fmt.Errorf("ocs: dead letter %s: %w", e.Key, err)
		}
		out = append(out, dl)
	}
	return out, nil
}

// Requeue moves a dead letter (id "" for all of them) to the outbox, to be
// posted again; it returns how many moved.
func (f *Forwarder) Requeue(id string) (int, error) {
	return f.takeDead(id, true)
}

// Discard deletes a dead letter (id "" for all of them); it returns how
// many were deleted.
func (f *Forwarder) Discard(id string) (int, error) {
	return f.takeDead(id, false)
}

func (f *Forwarder) takeDead(id string, requeue bool) (int, error) {
	if strings.Contains(id, "/") {
		return 0, fmt.Errorf("ocs: dead letter %q: %w", id, ErrInvalid)
	}
	var keys []string
	if id != "" {
		keys = []string{prefixDead + id}
	} else {
		entries, err := f.o.KV.List(prefixDead)
		if err != nil {
			return 0, err
		}
		for _, e := range entries {
			keys = append(keys, e.Key)
		}
	}
	n, queued := 0, 0
	err := f.o.KV.Update(func(t *store.KVTx) error {
		n, queued = 0, 0
		for _, key := range keys {
			v, err := t.Get(key)
			if errors.Is(err, store.ErrNotFound) {
				continue
			}
			if err != nil {
				return err
			}
			var dl DeadLetter
			if err := json.Unmarshal(v, &dl); err != nil {
				return fmt.Errorf("ocs: dead letter %s: %w", key, err)
			}
			n++
			t.Delete(key)
			if !requeue {
				continue
			}
			recs := []outboxRecord{{ID: dl.DeviceID, What: dl.What, State: dl.State}}
			if dl.State == nil {
				recs = recs[:0]
				for _, m := range dl.Messages {
					recs = append(recs, outboxRecord{ID: dl.DeviceID, What: dl.What, Msg: m})
				}
			}
			for _, r := range recs {
				seq, err := t.NextSequence()
				if err != nil {
					return err
				}
				b, _ := json.Marshal(r)
				if err := t.Put(prefixOutbox+store.SeqKey(seq), b); err != nil {
					return err
				}
				queued++
			}
		}
		return nil
	})
	if err != nil {
		return 0, err
	}
	if n == 0 && id != "" {
		return 0, fmt.Errorf("ocs: dead letter %q: %w", id, ErrNotFound)
	}
	if n > 0 {
		f.deadLetters.Add(^uint64(n - 1))
	}
	f.outboxN.Add(int64(queued))
	if queued > 0 {
		f.notify()
	}
	return n, nil
}
