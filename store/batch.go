package store

import (
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"time"

	bolt "go.etcd.io/bbolt"
)

// Batch collects state, history and cursor writes that ApplyAsync queues as
// ONE write: a consumer that derives many of them from a run of journal
// readings (the things hub) then costs the committer one queue slot instead
// of one per write, and its writes always land in the same transaction, in
// the order they were added. Create it with DB.NewBatch; it is not safe for
// concurrent use.
type Batch struct {
	db   *DB
	size int64
	fns  []batchWrite

	// History entries grouped by thing, so that a thing's history bucket
	// is opened and trimmed once per batch, not once per entry.
	history map[string][]historyEntry
	things  []string // in order of first entry
}

// batchWrite is one write of a batch other than history: a state (thing
// set) or a cursor (thing empty).
type batchWrite struct {
	thing string
	size  int64
	fn    func(tx *bolt.Tx) error
}

// NewBatch returns an empty batch for db.
func (db *DB) NewBatch() *Batch { return &Batch{db: db} }

// Len returns the number of writes in the batch.
func (b *Batch) Len() int {
	n := len(b.fns)
	for _, es := range b.history {
		n += len(es)
	}
	return n
}

func (b *Batch) add(thing string, size int64, fn func(tx *bolt.Tx) error, err error) error {
	if err != nil {
		return err
	}
	b.size += size
	b.fns = append(b.fns, batchWrite{thing: thing, size: size, fn: fn})
	return nil
}

// PutState adds a PutState; its arguments are checked now (ErrInvalid) and
// value is copied.
func (b *Batch) PutState(thingID string, value []byte, at time.Time) error {
	size, fn, err := b.db.putState(thingID, value, at)
	if err = b.add(thingID, size, fn, err); err != nil {
		return fmt.Errorf("store: batch: put state: %w", err)
	}
	return nil
}

// AppendHistory adds an AppendHistory; its arguments are checked now
// (ErrInvalid) and value is copied. A thing's entries are written in the
// order they were added, before the batch's other writes (so a cursor in
// the batch never lands without them).
func (b *Batch) AppendHistory(thingID string, at time.Time, value []byte) error {
	if at.IsZero() {
		at = b.db.opts.Now()
	}
	if err := errors.Join(checkName("thing id", thingID), checkTime("time", at)); err != nil {
		return fmt.Errorf("store: batch: append history: %w", err)
	}
	v := slices.Clone(value)
	if b.history == nil {
		b.history = make(map[string][]historyEntry)
	}
	es, ok := b.history[thingID]
	if !ok {
		b.things = append(b.things, thingID)
	}
	b.history[thingID] = append(es, historyEntry{at: at, value: v})
	b.size += historySize(thingID, v)
	return nil
}

// historySize estimates, on the high side, the bytes one history entry
// adds: its value, its header in a block (at most three full uvarints), and
// its share of what a block costs besides (the key, a leaf element, the
// version byte, and as much again for the thing's own bucket), whole for
// an entry that fills a block by itself.
func historySize(thingID string, v []byte) int64 {
	entry := len(v) + 3*binary.MaxVarintLen64
	block := 16 + 1 + leafOverhead + len(thingID) + leafOverhead
	return int64(entry + (block*entry+historyBlock-1)/historyBlock)
}

// Split divides the batch by thing into batches of about maxHistory
// history entries each, to be applied one after another: a consumer that
// derives thousands of writes from a run of journal readings then never
// holds the committer (and the journal appends queued behind it) for long.
//
// Every write of one thing (its history and its states) lands in the same
// part, so that each thing's stored state always matches its stored
// history, whichever parts a crash lets through. A part holds whole things
// up to maxHistory entries, or one thing with more. The writes of no thing
// (cursors) go in the last part, in their order: applied in sequence, a
// cursor never lands before what it covers.
//
// b must not be used afterwards. An empty batch splits into none.
func (b *Batch) Split(maxHistory int) []*Batch {
	// Things in order: those with history (first entry first), then those
	// with states only; the writes of no thing apart.
	order := b.things
	writes := make(map[string][]batchWrite)
	var rest []batchWrite
	for _, w := range b.fns {
		if w.thing == "" {
			rest = append(rest, w)
			continue
		}
		if _, seen := writes[w.thing]; !seen && b.history[w.thing] == nil {
			order = append(order, w.thing)
		}
		writes[w.thing] = append(writes[w.thing], w)
	}
	history := b.history
	b.fns, b.size, b.history, b.things = nil, 0, nil, nil

	var parts []*Batch
	cur, n := b.db.NewBatch(), 0
	add := func(w batchWrite) {
		cur.fns = append(cur.fns, w)
		cur.size += w.size
	}
	for _, id := range order {
		es := history[id]
		if n > 0 && n+len(es) > maxHistory {
			parts = append(parts, cur)
			cur, n = b.db.NewBatch(), 0
		}
		if len(es) > 0 {
			if cur.history == nil {
				cur.history = make(map[string][]historyEntry)
			}
			cur.history[id] = es
			cur.things = append(cur.things, id)
			for _, e := range es {
				cur.size += historySize(id, e.value)
			}
			n += len(es)
		}
		for _, w := range writes[id] {
			add(w)
		}
	}
	for _, w := range rest {
		add(w)
	}
	if cur.Len() > 0 {
		parts = append(parts, cur)
	}
	return parts
}

// SetCursor adds a SetCursor. The consumer name is checked now; a seq past
// the journal's last sequence is judged in the transaction.
func (b *Batch) SetCursor(consumer string, seq uint64) error {
	size, fn, err := setCursor(consumer, seq)
	if err = b.add("", size, fn, err); err != nil {
		return fmt.Errorf("store: batch: set cursor: %w", err)
	}
	return nil
}

// ApplyAsync queues the batch's writes as one write and returns; done (nil
// allowed) is called once they are durable, or with the error. The batch
// must not be changed until done is called. After an error that does not
// match ErrInvalid or ErrClosed, nothing of it was committed (the size cap
// refused it, or the transaction failed), and it may be applied again. An
// empty batch calls done(nil) at once.
//
// A write that the transaction rejects (a cursor past the journal's end) is
// skipped and reported through done; the batch's other writes still commit.
// A bbolt failure fails the whole transaction, as for every write. done is
// called exactly once, as described under "Asynchronous writes" in the
// package documentation.
func (db *DB) ApplyAsync(b *Batch, done func(error)) {
	done = orNop(done)
	if b.Len() == 0 {
		done(nil)
		return
	}
	fns, size, history, things := b.fns, b.size, b.history, b.things
	var rejected []error
	db.writeAsync("batch", size, func(tx *bolt.Tx) error {
		rejected = rejected[:0]
		for _, id := range things {
			if err := db.putHistory(tx, id, history[id]); err != nil {
				return err
			}
		}
		for _, w := range fns {
			if err := w.fn(tx); err != nil {
				var rj *rejectError
				if !errors.As(err, &rj) {
					return err
				}
				rejected = append(rejected, rj.err)
			}
		}
		if len(rejected) > 0 {
			return reject(errors.Join(rejected...))
		}
		return nil
	}, done)
}
