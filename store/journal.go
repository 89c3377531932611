package store

import (
	"context"
	"encoding/binary"
	"fmt"
	"slices"
	"time"

	bolt "go.etcd.io/bbolt"
)

// seqKey is the journal key of seq: 8 bytes big-endian, so byte order is
// sequence order.
func seqKey(seq uint64) []byte {
	var k [8]byte
	binary.BigEndian.PutUint64(k[:], seq)
	return k[:]
}

// leafOverhead approximates bbolt's per-element cost in a leaf page.
const leafOverhead = 16

// prepare fills in Time and encodes r, or returns an ErrInvalid error.
func (db *DB) prepare(r *Reading) ([]byte, error) {
	if r.Time.IsZero() {
		r.Time = db.opts.Now()
	}
	return encodeReading(r)
}

// Append adds r to the journal and returns its sequence number once the
// record is durable: its transaction is committed and fsynced. Concurrent
// Appends share one transaction and one fsync (group commit). r.Seq is
// ignored; a zero r.Time is set from Options.Now. The payload is copied
// before Append returns.
//
// If ctx ends while Append waits for room in the queue, the reading is not
// written. If ctx ends after the reading was queued, Append returns ctx.Err()
// at once, and the reading may still be committed. Append after Close fails
// with ErrClosed.
func (db *DB) Append(ctx context.Context, r Reading) (uint64, error) {
	rec, err := db.prepare(&r)
	if err != nil {
		return 0, fmt.Errorf("store: append: %w", err)
	}
	req := &request{op: "append", rec: rec, size: int64(len(rec) + 8 + leafOverhead), res: make(chan result, 1)}
	if err := db.enqueue(ctx, req); err != nil {
		return 0, fmt.Errorf("store: append: %w", err)
	}
	select {
	case res := <-req.res:
		return res.seq, res.err
	case <-ctx.Done():
		return 0, fmt.Errorf("store: append: %w (the reading may still be committed)", ctx.Err())
	}
}

// AppendAsync queues r like Append but returns without waiting for the
// commit; done is called with the sequence number once the record is
// durable, or with the error. This lets a protocol engine acknowledge a
// sensor only after its reading is on disk without a goroutine per packet.
//
// done is called exactly once (unless nil). When r is rejected up front
// (invalid, or the DB is closed: ErrClosed) it is called before AppendAsync
// returns, on the caller's goroutine. Otherwise it is called from the
// committer goroutine after the fsync, in queue order within a transaction.
// IMPORTANT: done runs on the goroutine that commits every write; it must
// not block, and must not call Append, AppendAsync or any other DB write
// method (that would deadlock the committer). Hand the result to your own
// goroutine (e.g. a buffered channel) and return.
//
// AppendAsync blocks only while the queue (4×MaxBatch writes) is full.
func (db *DB) AppendAsync(r Reading, done func(seq uint64, err error)) {
	if done == nil {
		done = func(uint64, error) {}
	}
	rec, err := db.prepare(&r)
	if err != nil {
		done(0, fmt.Errorf("store: append: %w", err))
		return
	}
	req := &request{op: "append", rec: rec, size: int64(len(rec) + 8 + leafOverhead), done: done}
	if err := db.enqueue(context.Background(), req); err != nil {
		done(0, fmt.Errorf("store: append: %w", err))
	}
}

// Readings returns up to limit journal readings with sequence >= fromSeq, in
// sequence order. Readings that retention removed are simply absent: a
// consumer that fell behind sees the sequence jump. limit must be positive.
func (db *DB) Readings(fromSeq uint64, limit int) ([]Reading, error) {
	return db.AppendReadings(nil, fromSeq, limit)
}

// AppendReadings is Readings appending to dst, so that a consumer that
// reads the journal run after run can reuse one slice. On error it returns
// dst as it was.
func (db *DB) AppendReadings(dst []Reading, fromSeq uint64, limit int) ([]Reading, error) {
	if limit <= 0 {
		return dst, fmt.Errorf("store: readings: %w", invalidf("limit %d is not positive", limit))
	}
	out := dst
	var d readingDecoder
	err := db.view("readings", func(tx *bolt.Tx) error {
		c := tx.Bucket(bucketJournal).Cursor()
		k, v := c.Seek(seqKey(fromSeq))
		if k != nil && out == nil {
			out = make([]Reading, 0, min(limit, readingsPrealloc))
		}
		for n := 0; k != nil && n < limit; k, v = c.Next() {
			r, err := d.decodeJournal(k, v)
			if err != nil {
				return err
			}
			out = append(out, r)
			n++
		}
		return nil
	})
	if err != nil {
		clear(out[len(dst):])
		return dst, err
	}
	return out, nil
}

// readingsPrealloc is how many readings AppendReadings makes room for at
// once when dst is nil: a long scan grows from there, a short one wastes
// little.
const readingsPrealloc = 512

// decodeJournal decodes one journal entry, setting Seq from the key.
func decodeJournal(k, v []byte) (Reading, error) {
	return (*readingDecoder)(nil).decodeJournal(k, v)
}

// decodeJournal is decodeJournal, its copies made by d.
func (d *readingDecoder) decodeJournal(k, v []byte) (Reading, error) {
	if len(k) != 8 {
		return Reading{}, &CorruptError{Record: "journal key", Offset: len(k), Reason: "want 8 bytes"}
	}
	seq := binary.BigEndian.Uint64(k)
	r, err := d.decode(v)
	if err != nil {
		return Reading{}, fmt.Errorf("seq %d: %w", seq, err)
	}
	r.Seq = seq
	return r, nil
}

// TailScanLimit bounds how many journal records LastReadings examines.
const TailScanLimit = 20000

// LastReadings returns the last n readings of device, oldest first. It scans
// back from the end of the journal, looking at no more than TailScanLimit
// records, so a device that has been silent for long returns fewer (or none).
func (db *DB) LastReadings(device DeviceID, n int) ([]Reading, error) {
	if n <= 0 {
		return nil, fmt.Errorf("store: last readings: %w", invalidf("n %d is not positive", n))
	}
	var out []Reading
	err := db.view("last readings", func(tx *bolt.Tx) error {
		c := tx.Bucket(bucketJournal).Cursor()
		scanned := 0
		for k, v := c.Last(); k != nil && len(out) < n && scanned < TailScanLimit; k, v = c.Prev() {
			scanned++
			if id, ok := peekDevice(v); ok && id != device {
				continue
			}
			r, err := decodeJournal(k, v)
			if err != nil {
				return err
			}
			out = append(out, r)
		}
		return nil
	})
	slices.Reverse(out)
	return out, err
}

// JournalStats describes the journal: the number of records, the first and
// last sequence held, and the Time of the first record. The journal is
// always one contiguous run of sequences (retention deletes a prefix), so
// count is lastSeq-firstSeq+1. When the journal is empty, count and firstSeq
// are 0, oldest is zero and lastSeq is the last sequence ever assigned (0
// for a new file).
func (db *DB) JournalStats() (count, firstSeq, lastSeq uint64, oldest time.Time, err error) {
	err = db.view("journal stats", func(tx *bolt.Tx) error {
		j := tx.Bucket(bucketJournal)
		c := j.Cursor()
		fk, fv := c.First()
		if fk == nil {
			lastSeq = j.Sequence()
			return nil
		}
		lk, _ := c.Last()
		if len(fk) != 8 || len(lk) != 8 {
			return &CorruptError{Record: "journal key", Reason: "want 8 bytes"}
		}
		firstSeq, lastSeq = binary.BigEndian.Uint64(fk), binary.BigEndian.Uint64(lk)
		count = lastSeq - firstSeq + 1
		t, err := peekTime(fv)
		if err != nil {
			return fmt.Errorf("seq %d: %w", firstSeq, err)
		}
		oldest = t.UTC()
		return nil
	})
	return count, firstSeq, lastSeq, oldest, err
}
