package store

import (
	"cmp"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"slices"
	"time"

	bolt "go.etcd.io/bbolt"
)

// History layout.
//
// The history bucket holds one nested bucket per thing id, whose sequence
// is the thing's entry count; the history bucket's own sequence hands out
// tiebreaks. Every entry has a 16-byte key: its time as sortable 8-byte
// big-endian Unix nanoseconds (sign bit flipped), then its 8-byte
// big-endian tiebreak. A thing's entries are kept in key order, so in time
// order, with entries of the same time in the order they were added.
//
// Entries are stored in blocks of consecutive entries, so that a thing's
// history costs one bbolt key per block, not one per entry. A block's bbolt
// key is its first entry's key, and blocks never overlap. Its value is
// version byte 2, then for each entry, in key order, three uvarints (the
// entry's time minus the previous entry's, or minus the block key's time
// for the first, which is 0; the entry's tiebreak; the length of its value)
// and the value. A version-1 value, written by schemas 1 to 3, is a block
// of one entry: version byte 1, then the value.
const (
	historyV1 = 1
	historyV2 = 2

	// historyFill is the FillPercent of per-thing history buckets: entries
	// mostly arrive in time order, so pages are filled rather than halved.
	historyFill = 0.9

	// historyBlock is the size at which a block is closed: new entries
	// then start the next block. A block that an older entry lands in is
	// split once it reaches twice this size. About a quarter of a 4 KiB
	// page, so that a leaf holds several blocks and rewriting the newest
	// block stays cheap.
	historyBlock = 1024
)

// histKey is the key of one history entry: at is its sortable time.
type histKey struct{ at, seq uint64 }

func (k histKey) compare(o histKey) int {
	if c := cmp.Compare(k.at, o.at); c != 0 {
		return c
	}
	return cmp.Compare(k.seq, o.seq)
}

func (k histKey) bytes() [16]byte {
	var b [16]byte
	binary.BigEndian.PutUint64(b[0:8], k.at)
	binary.BigEndian.PutUint64(b[8:16], k.seq)
	return b
}

// histRec is one history entry; value is not copied from the block it was
// decoded from.
type histRec struct {
	key   histKey
	value []byte
}

func compareRecs(a, b histRec) int { return a.key.compare(b.key) }

// historyEntry is one entry of a write, before it has a tiebreak.
type historyEntry struct {
	at    time.Time
	value []byte
}

func corruptHistory(reason string) error {
	return &CorruptError{Record: "history", Reason: reason}
}

// decodeBlock appends the entries of the block stored under k as v to dst.
// The entries' values point into v.
func decodeBlock(dst []histRec, k, v []byte) ([]histRec, error) {
	if len(k) != 16 || len(v) < 1 {
		return dst, corruptHistory("bad key length or empty value")
	}
	key := histKey{binary.BigEndian.Uint64(k[0:8]), binary.BigEndian.Uint64(k[8:16])}
	switch v[0] {
	case historyV1:
		return append(dst, histRec{key: key, value: v[1:]}), nil
	case historyV2:
	default:
		return dst, corruptHistory(fmt.Sprintf("unknown value version %d", v[0]))
	}
	p, prev, start := v[1:], key, len(dst)
	if len(p) == 0 {
		return dst, corruptHistory("empty block")
	}
	for len(p) > 0 {
		var f [3]uint64
		for i := range f {
			x, n := binary.Uvarint(p)
			if n <= 0 {
				return dst, corruptHistory("truncated entry header")
			}
			f[i], p = x, p[n:]
		}
		if f[2] > uint64(len(p)) {
			return dst, corruptHistory("entry longer than its block")
		}
		at := prev.at + f[0]
		if at < prev.at {
			return dst, corruptHistory("entry time overflows")
		}
		r := histRec{key: histKey{at, f[1]}, value: p[:f[2]:f[2]]}
		p = p[f[2]:]
		if len(dst) == start {
			if r.key != key {
				return dst, corruptHistory("first entry does not match the block key")
			}
		} else if r.key.compare(prev) <= 0 {
			return dst, corruptHistory("entries out of order")
		}
		dst, prev = append(dst, r), r.key
	}
	return dst, nil
}

// entrySize is the encoded size of r in a block after an entry at prevAt.
func entrySize(r histRec, prevAt uint64) int {
	return uvarintLen(r.key.at-prevAt) + uvarintLen(r.key.seq) + uvarintLen(uint64(len(r.value))) + len(r.value)
}

func uvarintLen(x uint64) int {
	n := 1
	for ; x >= 0x80; x >>= 7 {
		n++
	}
	return n
}

// encodeBlock returns recs (sorted, not empty) as a version-2 block value
// of size bytes.
func encodeBlock(recs []histRec, size int) []byte {
	b := make([]byte, 1, size)
	b[0] = historyV2
	prev := recs[0].key.at
	for _, r := range recs {
		b = binary.AppendUvarint(b, r.key.at-prev)
		b = binary.AppendUvarint(b, r.key.seq)
		b = binary.AppendUvarint(b, uint64(len(r.value)))
		b = append(b, r.value...)
		prev = r.key.at
	}
	return b
}

// blockLen returns how many of recs (sorted) the block they start holds
// when it is closed once it reaches closeAt bytes, and that block's size.
func blockLen(recs []histRec, closeAt int) (n, size int) {
	size = 1
	for n < len(recs) && size < closeAt {
		prev := recs[0].key.at
		if n > 0 {
			prev = recs[n-1].key.at
		}
		size += entrySize(recs[n], prev)
		n++
	}
	return n, size
}

// putBlocks stores recs (sorted, not empty) as blocks, closing each once
// it reaches closeAt bytes. Each block is stored under its first entry's
// key; a block already stored there is replaced.
func putBlocks(tb *bolt.Bucket, recs []histRec, closeAt int) error {
	for len(recs) > 0 {
		n, size := blockLen(recs, closeAt)
		k := recs[0].key.bytes()
		// bbolt keeps the value (not the key) until the transaction ends.
		if err := tb.Put(k[:], encodeBlock(recs[:n], size)); err != nil {
			return err
		}
		recs = recs[n:]
	}
	return nil
}

// seekBlock positions c on the block where an entry with key belongs: the
// last block whose key is not after it, or the first block when every block
// is after it. It returns nil when the bucket is empty.
func seekBlock(c *bolt.Cursor, key histKey) (k, v []byte) {
	kb := key.bytes()
	k, v = c.Seek(kb[:])
	switch {
	case k == nil:
		return c.Last()
	case string(k) == string(kb[:]):
		return k, v
	}
	if pk, pv := c.Prev(); pk != nil {
		return pk, pv
	}
	return c.First()
}

// AppendHistory adds value at time at (zero means Options.Now) to the history
// of thingID, then drops the oldest entries (by time) beyond
// Options.HistoryPerThing. value is copied. The layout is described at
// historyV2.
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
	v := slices.Clone(value)
	entries := []historyEntry{{at: at, value: v}}
	return historySize(thingID, v), func(tx *bolt.Tx) error {
		return db.putHistory(tx, thingID, entries)
	}, nil
}

// putHistory adds entries to thingID's history in tx, then trims the
// history to Options.HistoryPerThing. Entries newer than every stored one
// (the usual case) are appended to the newest block and the blocks after
// it; an older entry is inserted into the block that holds its place. The
// entries it trims are counted in Stats.HistoryTrimmed once tx commits.
func (db *DB) putHistory(tx *bolt.Tx, thingID string, entries []historyEntry) error {
	h := tx.Bucket(bucketHistory)
	tb, err := h.CreateBucketIfNotExists([]byte(thingID))
	if err != nil {
		return err
	}
	tb.FillPercent = historyFill
	seq := h.Sequence()
	recs := make([]histRec, len(entries))
	for i, e := range entries {
		seq++
		recs[i] = histRec{key: histKey{sortableTime(e.at), seq}, value: e.value}
	}
	if err := h.SetSequence(seq); err != nil {
		return err
	}
	if !slices.IsSortedFunc(recs, compareRecs) {
		slices.SortFunc(recs, compareRecs) // keys are unique: no ties
	}

	tail, full, err := lastBlock(tb)
	if err != nil {
		return err
	}
	if len(tail) > 0 {
		last := tail[len(tail)-1].key
		older, _ := slices.BinarySearchFunc(recs, last, func(r histRec, k histKey) int { return r.key.compare(k) })
		if older > 0 {
			for _, r := range recs[:older] {
				if err := insertHistory(tb, r); err != nil {
					return err
				}
			}
			if tail, full, err = lastBlock(tb); err != nil {
				return err
			}
		}
		recs = recs[older:]
		if full {
			tail = nil
		}
	}
	if len(recs) > 0 {
		if err := putBlocks(tb, append(tail, recs...), historyBlock); err != nil {
			return err
		}
	}
	count := tb.Sequence() + uint64(len(entries))
	if limit := uint64(db.opts.HistoryPerThing); count > limit {
		trimmed, err := trimHistory(tb, count-limit)
		if err != nil {
			return err
		}
		count -= trimmed
		// Counted only if the transaction commits, before any caller of
		// the batch is told it is durable.
		tx.OnCommit(func() { db.stats.historyTrimmed.Add(trimmed) })
	}
	return tb.SetSequence(count)
}

// lastBlock returns the entries of tb's newest block, and whether that
// block is full (new entries go in a block of their own). The whole block
// is decoded, also when full: that validates it, and its last key orders
// what comes after.
func lastBlock(tb *bolt.Bucket) ([]histRec, bool, error) {
	k, v := tb.Cursor().Last()
	if k == nil {
		return nil, false, nil
	}
	recs, err := decodeBlock(make([]histRec, 0, 32), k, v)
	return recs, len(v) >= historyBlock, err
}

// insertHistory puts r, older than tb's newest entry, into the block that
// holds its place, splitting that block once it reaches twice
// historyBlock.
func insertHistory(tb *bolt.Bucket, r histRec) error {
	k, v := seekBlock(tb.Cursor(), r.key)
	if k == nil {
		return putBlocks(tb, []histRec{r}, historyBlock)
	}
	recs, err := decodeBlock(nil, k, v)
	if err != nil {
		return err
	}
	i, _ := slices.BinarySearchFunc(recs, r, compareRecs)
	recs = slices.Insert(recs, i, r)
	if i == 0 { // the block's first key changes
		if err := tb.Delete(k); err != nil {
			return err
		}
	}
	closeAt := math.MaxInt
	if _, size := blockLen(recs, math.MaxInt); size >= 2*historyBlock {
		closeAt = historyBlock
	}
	return putBlocks(tb, recs, closeAt)
}

// trimHistory drops the oldest n entries of tb (fewer if it holds fewer):
// whole blocks, then the oldest entries of the block after them. It
// returns the number dropped.
func trimHistory(tb *bolt.Bucket, n uint64) (uint64, error) {
	var trimmed uint64
	var recs []histRec
	c := tb.Cursor()
	// Delete at the cursor, which then stands on the next block's
	// position; First finds it again without a search by key (Next after
	// Delete would skip one: bbolt issue #146).
	for k, v := c.First(); k != nil && trimmed < n; k, v = c.First() {
		var err error
		if recs, err = decodeBlock(recs[:0], k, v); err != nil {
			return trimmed, err
		}
		if err := c.Delete(); err != nil {
			return trimmed, err
		}
		if drop := n - trimmed; drop < uint64(len(recs)) {
			trimmed += drop
			return trimmed, putBlocks(tb, recs[drop:], math.MaxInt)
		}
		trimmed += uint64(len(recs))
	}
	return trimmed, nil
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
	lo, hi := uint64(0), uint64(math.MaxUint64)
	if !from.IsZero() {
		lo = sortableTime(from)
	}
	if !to.IsZero() {
		hi = sortableTime(to)
	}
	var out []Entry
	err := db.view("history", func(tx *bolt.Tx) error {
		tb := tx.Bucket(bucketHistory).Bucket([]byte(thingID))
		if tb == nil {
			return nil
		}
		c := tb.Cursor()
		var recs []histRec
		for k, v := seekBlock(c, histKey{at: lo}); k != nil; k, v = c.Next() {
			var err error
			if recs, err = decodeBlock(recs[:0], k, v); err != nil {
				return err
			}
			for _, r := range recs {
				switch {
				case r.key.at < lo:
					continue
				case r.key.at > hi:
					return nil
				}
				out = append(out, Entry{At: fromSortable(r.key.at), Value: slices.Clone(r.value)})
				if len(out) == limit {
					return nil
				}
			}
		}
		return nil
	})
	return out, err
}
