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

const (
	stateV1   = 1
	historyV1 = 1

	// historyFill is the FillPercent of per-thing history buckets: entries
	// mostly arrive in time order, so pages are filled rather than halved.
	historyFill = 0.9
)

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

// AppendHistory adds value at time at (zero means Options.Now) to the history
// of thingID, then drops the oldest entries (by time) beyond
// Options.HistoryPerThing. value is copied.
//
// Layout: history holds one nested bucket per thing id. Its keys are 16
// bytes: at as sortable 8-byte big-endian Unix nanoseconds (sign bit
// flipped), then an 8-byte big-endian tiebreak from the history bucket's
// sequence; so entries iterate in time order. Values are version byte 1 then
// value. The nested bucket's own sequence holds its entry count.
func (db *DB) AppendHistory(thingID string, at time.Time, value []byte) error {
	size, fn, err := db.appendHistory(thingID, at, value)
	if err != nil {
		return fmt.Errorf("store: append history: %w", err)
	}
	return db.write("append history", size, fn)
}

// AppendHistoryAsync is AppendHistory without the wait: it queues the write
// and returns, and done (nil allowed) receives AppendHistory's result once
// the write is durable or has failed. value is copied and a zero at is
// resolved before AppendHistoryAsync returns. done is called exactly once,
// as described under "Asynchronous writes" in the package documentation:
// before AppendHistoryAsync returns when the write is rejected up front
// (ErrInvalid, ErrClosed), otherwise on the committer goroutine, where it
// must not block or call any DB write method.
func (db *DB) AppendHistoryAsync(thingID string, at time.Time, value []byte, done func(error)) {
	done = orNop(done)
	size, fn, err := db.appendHistory(thingID, at, value)
	if err != nil {
		done(fmt.Errorf("store: append history: %w", err))
		return
	}
	db.writeAsync("append history", size, fn, done)
}

// appendHistory validates an AppendHistory and returns the bytes it adds and
// its transaction function, which owns a copy of value. The function counts
// the entries it trims in Stats.HistoryTrimmed once its transaction commits.
func (db *DB) appendHistory(thingID string, at time.Time, value []byte) (int64, func(tx *bolt.Tx) error, error) {
	if at.IsZero() {
		at = db.opts.Now()
	}
	if err := errors.Join(checkName("thing id", thingID), checkTime("time", at)); err != nil {
		return 0, nil, err
	}
	v := append([]byte{historyV1}, value...)
	entries := []historyEntry{{at: at, value: v}}
	return historySize(thingID, v), func(tx *bolt.Tx) error {
		return db.putHistory(tx, thingID, entries)
	}, nil
}

// historyEntry is one encoded history value (version byte included).
type historyEntry struct {
	at    time.Time
	value []byte
}

// putHistory adds entries to thingID's history in tx, opening its bucket
// once, then trims the history to Options.HistoryPerThing. The entries it
// trims are counted in Stats.HistoryTrimmed once tx commits.
func (db *DB) putHistory(tx *bolt.Tx, thingID string, entries []historyEntry) error {
	limit := uint64(db.opts.HistoryPerThing)
	h := tx.Bucket(bucketHistory)
	tb, err := h.CreateBucketIfNotExists([]byte(thingID))
	if err != nil {
		return err
	}
	tb.FillPercent = historyFill
	var k [16]byte
	for _, e := range entries {
		id, err := h.NextSequence()
		if err != nil {
			return err
		}
		binary.BigEndian.PutUint64(k[0:8], sortableTime(e.at))
		binary.BigEndian.PutUint64(k[8:16], id)
		if err := tb.Put(k[:], e.value); err != nil {
			return err
		}
	}
	count := tb.Sequence() + uint64(len(entries))
	if count > limit {
		// Delete at the cursor, which then stands on the next entry's
		// position; First finds it again without a search by key (Next
		// after Delete would skip one: bbolt issue #146).
		var trimmed uint64
		c := tb.Cursor()
		for k, _ := c.First(); k != nil && trimmed < count-limit; k, _ = c.First() {
			if err := c.Delete(); err != nil {
				return err
			}
			trimmed++
		}
		count -= trimmed
		// Counted only if the transaction commits, before any caller of
		// the batch is told it is durable.
		tx.OnCommit(func() { db.stats.historyTrimmed.Add(trimmed) })
	}
	return tb.SetSequence(count)
}

// History returns up to limit entries of thingID's history with from <= At
// <= to, in time order. A zero from means from the first entry, a zero to
// means up to the last. An unknown thing has no entries (no error). limit
// must be positive.
func (db *DB) History(thingID string, from, to time.Time, limit int) ([]Entry, error) {
	if limit <= 0 {
		return nil, fmt.Errorf("store: history: %w", invalidf("limit %d is not positive", limit))
	}
	for _, t := range [...]time.Time{from, to} {
		if t.IsZero() {
			continue
		}
		if err := checkTime("bound", t); err != nil {
			return nil, fmt.Errorf("store: history: %w", err)
		}
	}
	var out []Entry
	err := db.view("history", func(tx *bolt.Tx) error {
		tb := tx.Bucket(bucketHistory).Bucket([]byte(thingID))
		if tb == nil {
			return nil
		}
		c := tb.Cursor()
		var k, v []byte
		if from.IsZero() {
			k, v = c.First()
		} else {
			var start [8]byte
			binary.BigEndian.PutUint64(start[:], sortableTime(from))
			k, v = c.Seek(start[:])
		}
		for ; k != nil && len(out) < limit; k, v = c.Next() {
			if len(k) != 16 || len(v) < 1 || v[0] != historyV1 {
				return &CorruptError{Record: "history", Reason: "bad key length or value version"}
			}
			at := fromSortable(binary.BigEndian.Uint64(k[0:8]))
			if !to.IsZero() && at.After(to) {
				break
			}
			out = append(out, Entry{At: at, Value: append([]byte{}, v[1:]...)})
		}
		return nil
	})
	return out, err
}
