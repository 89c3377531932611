package store

import (
	"encoding/binary"
	"fmt"
	"math"

	bolt "go.etcd.io/bbolt"
)

// MaxNameLen bounds consumer names, thing ids and setting keys.
const MaxNameLen = 1024

func checkName(what, name string) error {
	if name == "" {
		return invalidf("empty %s", what)
	}
	if len(name) > MaxNameLen {
		return invalidf("%s is %d bytes, the limit is %d", what, len(name), MaxNameLen)
	}
	return nil
}

// SetCursor records that consumer has passed (processed) every journal
// record up to and including seq, registering the consumer if it is new.
// From then on retention by age keeps every record the consumer has not
// passed (the size cap still evicts them). seq may go backwards (a replay)
// but not past the last sequence assigned: that fails with ErrInvalid.
// SetCursor(name, 0) registers a consumer that has passed nothing.
func (db *DB) SetCursor(consumer string, seq uint64) error {
	size, fn, err := setCursor(consumer, seq)
	if err != nil {
		return fmt.Errorf("store: set cursor: %w", err)
	}
	return db.write("set cursor", size, fn)
}

// SetCursorAsync is SetCursor without the wait: it queues the write and
// returns, and done (nil allowed) receives SetCursor's result once the write
// is durable or has failed. Whether seq is past the last sequence is judged
// in the transaction, so readings queued before the cursor (AppendAsync
// included) count, and that ErrInvalid reaches done from the committer.
// done is called exactly once, as
// described under "Asynchronous writes" in the package documentation:
// before SetCursorAsync returns when the write is rejected up front
// (ErrInvalid, ErrClosed), otherwise on the committer goroutine, where it
// must not block or call any DB write method.
func (db *DB) SetCursorAsync(consumer string, seq uint64, done func(error)) {
	done = orNop(done)
	size, fn, err := setCursor(consumer, seq)
	if err != nil {
		done(fmt.Errorf("store: set cursor: %w", err))
		return
	}
	db.writeAsync("set cursor", size, fn, done)
}

// setCursor validates a SetCursor and returns the bytes it adds and its
// transaction function, which rejects a seq past the journal's last sequence.
func setCursor(consumer string, seq uint64) (int64, func(tx *bolt.Tx) error, error) {
	if err := checkName("consumer name", consumer); err != nil {
		return 0, nil, err
	}
	return int64(len(consumer) + 8 + leafOverhead), func(tx *bolt.Tx) error {
		if last := tx.Bucket(bucketJournal).Sequence(); seq > last {
			return reject(invalidf("cursor %d for %q is past the last sequence %d", seq, consumer, last))
		}
		var v [8]byte
		binary.BigEndian.PutUint64(v[:], seq)
		return tx.Bucket(bucketCursors).Put([]byte(consumer), v[:])
	}, nil
}

// Cursor returns the last sequence consumer has passed, or ErrNotFound if it
// is not registered.
func (db *DB) Cursor(consumer string) (uint64, error) {
	var seq uint64
	err := db.view("cursor", func(tx *bolt.Tx) error {
		v := tx.Bucket(bucketCursors).Get([]byte(consumer))
		if v == nil {
			return fmt.Errorf("consumer %q: %w", consumer, ErrNotFound)
		}
		if len(v) != 8 {
			return &CorruptError{Record: "cursor", Offset: len(v), Reason: "want 8 bytes"}
		}
		seq = binary.BigEndian.Uint64(v)
		return nil
	})
	return seq, err
}

// Consumers returns the registered consumers in byte order.
func (db *DB) Consumers() ([]string, error) {
	var out []string
	err := db.view("consumers", func(tx *bolt.Tx) error {
		return tx.Bucket(bucketCursors).ForEach(func(k, _ []byte) error {
			out = append(out, string(k))
			return nil
		})
	})
	return out, err
}

// DeleteCursor unregisters consumer, so retention no longer waits for it.
// It fails with ErrNotFound if the consumer is not registered.
func (db *DB) DeleteCursor(consumer string) error {
	return db.write("delete cursor", 0, func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketCursors)
		if b.Get([]byte(consumer)) == nil {
			return reject(fmt.Errorf("consumer %q: %w", consumer, ErrNotFound))
		}
		return b.Delete([]byte(consumer))
	})
}

// minCursor returns the lowest registered cursor, and how many consumers
// there are. With none, every record counts as passed (math.MaxUint64).
func minCursor(tx *bolt.Tx) (uint64, int, error) {
	low, n := uint64(math.MaxUint64), 0
	err := tx.Bucket(bucketCursors).ForEach(func(k, v []byte) error {
		if len(v) != 8 {
			return &CorruptError{Record: "cursor", Offset: len(v), Reason: "want 8 bytes"}
		}
		n++
		low = min(low, binary.BigEndian.Uint64(v))
		return nil
	})
	return low, n, err
}
