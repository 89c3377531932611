package store

import (
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"
)

// Entry is a value with the time it refers to: a thing's latest state or one
// history entry.
type Entry struct {
	At    time.Time // when the value was observed (UTC)
	Value []byte    // the value, a copy owned by the caller
}

const stateV1 = 1

// checkTime reports an ErrInvalid error when t does not fit Unix nanoseconds
// in an int64 (years 1678..2262).
func checkTime(what string, t time.Time) error {
	if !time.Unix(0, t.UnixNano()).Equal(t) {
		return invalidf("%s %v is outside the range of Unix nanoseconds", what, t)
	}
	return nil
}

// sortableTime maps Unix nanoseconds to a uint64 whose big-endian bytes sort
// in time order, negative times included.
func sortableTime(t time.Time) uint64 { return uint64(t.UnixNano()) ^ (1 << 63) }

func fromSortable(u uint64) time.Time { return time.Unix(0, int64(u^(1<<63))).UTC() }

// PutState stores value as the latest state of thingID, observed at at (zero
// means Options.Now). value is copied. State value layout: version byte 1,
// at as 8-byte big-endian Unix nanoseconds, then value.
func (db *DB) PutState(thingID string, value []byte, at time.Time) error {
	size, fn, err := db.putState(thingID, value, at)
	if err != nil {
		return fmt.Errorf("store: put state: %w", err)
	}
	return db.write("put state", size, fn)
}

// PutStateAsync is PutState without the wait: it queues the write and
// returns, and done (nil allowed) receives PutState's result once the write
// is durable or has failed. value is copied and a zero at is resolved
// before PutStateAsync returns. done is called exactly once, as described
// under "Asynchronous writes" in the package documentation: before
// PutStateAsync returns when the write is rejected up front (ErrInvalid,
// ErrClosed), otherwise on the committer goroutine, where it must not block
// or call any DB write method.
func (db *DB) PutStateAsync(thingID string, value []byte, at time.Time, done func(error)) {
	done = orNop(done)
	size, fn, err := db.putState(thingID, value, at)
	if err != nil {
		done(fmt.Errorf("store: put state: %w", err))
		return
	}
	db.writeAsync("put state", size, fn, done)
}

// putState validates a PutState and returns the bytes it adds and its
// transaction function, which owns a copy of value.
func (db *DB) putState(thingID string, value []byte, at time.Time) (int64, func(tx *bolt.Tx) error, error) {
	if at.IsZero() {
		at = db.opts.Now()
	}
	if err := errors.Join(checkName("thing id", thingID), checkTime("time", at)); err != nil {
		return 0, nil, err
	}
	v := make([]byte, 9, 9+len(value))
	v[0] = stateV1
	binary.BigEndian.PutUint64(v[1:9], uint64(at.UnixNano()))
	v = append(v, value...)
	return int64(len(thingID) + len(v) + leafOverhead), func(tx *bolt.Tx) error {
		return tx.Bucket(bucketState).Put([]byte(thingID), v)
	}, nil
}

func decodeState(v []byte) (Entry, error) {
	if len(v) < 9 || v[0] != stateV1 {
		return Entry{}, &CorruptError{Record: "state", Offset: 0, Reason: "bad version or truncated"}
	}
	return Entry{
		At:    time.Unix(0, int64(binary.BigEndian.Uint64(v[1:9]))).UTC(),
		Value: append([]byte{}, v[9:]...),
	}, nil
}

// State returns the latest state of thingID, or an error matching ErrNotFound.
func (db *DB) State(thingID string) (Entry, error) {
	var e Entry
	err := db.view("state", func(tx *bolt.Tx) error {
		v := tx.Bucket(bucketState).Get([]byte(thingID))
		if v == nil {
			return fmt.Errorf("thing %q: %w", thingID, ErrNotFound)
		}
		var err error
		if e, err = decodeState(v); err != nil {
			return fmt.Errorf("thing %q: %w", thingID, err)
		}
		return nil
	})
	return e, err
}

// States returns the latest state of every thing, keyed by thing id.
func (db *DB) States() (map[string]Entry, error) {
	out := make(map[string]Entry)
	err := db.view("states", func(tx *bolt.Tx) error {
		return tx.Bucket(bucketState).ForEach(func(k, v []byte) error {
			e, err := decodeState(v)
			if err != nil {
				return fmt.Errorf("thing %q: %w", k, err)
			}
			out[string(k)] = e
			return nil
		})
	})
	return out, err
}

// DeleteThing removes the state and the history of thingID, or fails with
// ErrNotFound when it has neither.
func (db *DB) DeleteThing(thingID string) error {
	return db.write("delete thing", 0, func(tx *bolt.Tx) error {
		k := []byte(thingID)
		s, h := tx.Bucket(bucketState), tx.Bucket(bucketHistory)
		hasState, hasHistory := s.Get(k) != nil, h.Bucket(k) != nil
		if !hasState && !hasHistory {
			return reject(fmt.Errorf("thing %q: %w", thingID, ErrNotFound))
		}
		if hasState {
			if err := s.Delete(k); err != nil {
				return err
			}
		}
		if hasHistory {
			if err := h.DeleteBucket(k); err != nil && !errors.Is(err, berrors.ErrBucketNotFound) {
				return err
			}
		}
		return nil
	})
}
