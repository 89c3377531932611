package store

import (
	"errors"
	"fmt"
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
	fns  []func(tx *bolt.Tx) error
}

// NewBatch returns an empty batch for db.
func (db *DB) NewBatch() *Batch { return &Batch{db: db} }

// Len returns the number of writes in the batch.
func (b *Batch) Len() int { return len(b.fns) }

func (b *Batch) add(size int64, fn func(tx *bolt.Tx) error, err error) error {
	if err != nil {
		return err
	}
	b.size += size
	b.fns = append(b.fns, fn)
	return nil
}

// PutState adds a PutState; its arguments are checked now (ErrInvalid) and
// value is copied.
func (b *Batch) PutState(thingID string, value []byte, at time.Time) error {
	size, fn, err := b.db.putState(thingID, value, at)
	if err = b.add(size, fn, err); err != nil {
		return fmt.Errorf("store: batch: put state: %w", err)
	}
	return nil
}

// AppendHistory adds an AppendHistory; its arguments are checked now
// (ErrInvalid) and value is copied.
func (b *Batch) AppendHistory(thingID string, at time.Time, value []byte) error {
	size, fn, err := b.db.appendHistory(thingID, at, value)
	if err = b.add(size, fn, err); err != nil {
		return fmt.Errorf("store: batch: append history: %w", err)
	}
	return nil
}

// SetCursor adds a SetCursor. The consumer name is checked now; a seq past
// the journal's last sequence is judged in the transaction.
func (b *Batch) SetCursor(consumer string, seq uint64) error {
	size, fn, err := setCursor(consumer, seq)
	if err = b.add(size, fn, err); err != nil {
		return fmt.Errorf("store: batch: set cursor: %w", err)
	}
	return nil
}

// ApplyAsync queues the batch's writes as one write and returns; done (nil
// allowed) is called once they are durable, or with the error. The batch
// must not be used afterwards. An empty batch calls done(nil) at once.
//
// A write that the transaction rejects (a cursor past the journal's end) is
// skipped and reported through done; the batch's other writes still commit.
// A bbolt failure fails the whole transaction, as for every write. done is
// called exactly once, as described under "Asynchronous writes" in the
// package documentation.
func (db *DB) ApplyAsync(b *Batch, done func(error)) {
	done = orNop(done)
	if len(b.fns) == 0 {
		done(nil)
		return
	}
	fns, size := b.fns, b.size
	b.fns, b.size = nil, 0
	var rejected []error
	db.writeAsync("batch", size, func(tx *bolt.Tx) error {
		rejected = rejected[:0]
		for _, fn := range fns {
			if err := fn(tx); err != nil {
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
