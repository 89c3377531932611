package store

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"slices"

	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"
)

// Pruned reports what one retention pass deleted from the journal.
type Pruned struct {
	// ByAge counts records deleted because every consumer had passed them
	// and they were older than Options.MaxAge.
	ByAge uint64
	// BySize counts records evicted, oldest first, to honour Options.MaxSize.
	BySize uint64
	// Unconsumed counts the BySize records that some consumer had not yet
	// passed: readings lost to the size cap before delivery.
	Unconsumed uint64
	// FirstSeq and LastSeq bound the sequences deleted; both 0 when none.
	FirstSeq, LastSeq uint64
}

// Total returns ByAge + BySize.
func (p Pruned) Total() uint64 { return p.ByAge + p.BySize }

func (p *Pruned) span(first, last uint64) {
	if p.FirstSeq == 0 || first < p.FirstSeq {
		p.FirstSeq = first
	}
	p.LastSeq = max(p.LastSeq, last)
}

// pruneChunk bounds the records deleted in one transaction, so a pass over a
// large backlog never builds one huge transaction.
const pruneChunk = 10000

// errNothing rolls back a retention transaction that found nothing to
// delete, sparing the fsync of an empty commit.
var errNothing = errors.New("nothing to delete")

// sizeLimits are the byte budgets derived from Options.MaxSize; all zero
// when there is no cap. hard is the largest bbolt high-water mark whose file
// still fits under MaxSize; the committer evicts when the live data plus the
// incoming batch would pass high, down to low, so eviction happens in
// chunks rather than at every commit.
type sizeLimits struct {
	hard, high, low int64
}

// computeLimits follows bbolt v1.4's growth policy (db.grow, db.mmapSize):
// below allocSize (16 MiB) the file is the mmap size, a power of two at
// least one page above the high-water mark; above it, the file is the
// high-water mark plus allocSize.
func computeLimits(maxSize int64, pageSize, allocSize int) sizeLimits {
	if maxSize <= 0 {
		return sizeLimits{}
	}
	ps, as := int64(pageSize), int64(allocSize)
	var hard int64
	if maxSize < 2*as {
		p := int64(1)
		for p*2 <= maxSize {
			p *= 2
		}
		hard = p - 2*ps
	} else {
		hard = maxSize - as - 2*ps
	}
	return sizeLimits{hard: hard, high: hard / 8 * 7, low: hard / 8 * 5}
}

// usedBytes estimates the live data: bbolt's high-water mark minus the free
// and pending pages (which the next write transaction can reuse).
func (db *DB) usedBytes() (int64, error) {
	var hwm int64
	if err := db.bolt.View(func(tx *bolt.Tx) error {
		hwm = tx.Size()
		return nil
	}); err != nil {
		return 0, err
	}
	st := db.bolt.Stats()
	return hwm - int64(st.FreePageN+st.PendingPageN)*int64(db.pageSize), nil
}

// makeRoom is called by the committer before each group commit: when the
// live data plus incoming bytes would pass the high mark it evicts the
// oldest journal records (one logged pass). It returns the room left under
// the hard limit for the batch's new data; the committer refuses with
// ErrFull the writes that do not fit in it.
func (db *DB) makeRoom(incoming int64) (int64, error) {
	if db.limits.hard == 0 {
		return math.MaxInt64, nil
	}
	overhead := 4 * int64(db.pageSize) // pages the commit rewrites (leaf, branches, freelist, meta)
	used, err := db.usedBytes()
	if err != nil {
		return 0, err
	}
	if used+overhead+incoming > db.limits.high {
		db.pruneMu.Lock()
		defer db.pruneMu.Unlock()
		var p Pruned
		used, err = db.evictForSize(context.Background(), overhead+incoming, &p)
		db.logPass("commit", p, used, err)
		if err != nil {
			return 0, err
		}
	}
	return db.limits.hard - used - overhead, nil
}

// fullError explains an ErrFull refusal.
func (db *DB) fullError(size, room int64) error {
	return fmt.Errorf("%w: write needs about %d bytes, %d left under the limit %d for MaxSize %d",
		ErrFull, size, max(room, 0), db.limits.hard, db.opts.MaxSize)
}

// evictForSize deletes the oldest journal records until the live data plus
// incoming is at or under the low mark, or the journal is empty. The caller
// holds pruneMu. It returns the live bytes afterwards.
func (db *DB) evictForSize(ctx context.Context, incoming int64, p *Pruned) (int64, error) {
	used, err := db.usedBytes()
	if err != nil {
		return 0, err
	}
	for used+incoming > db.limits.high {
		if err := ctx.Err(); err != nil {
			return used, err
		}
		need := used + incoming - db.limits.low
		var n, unconsumed, first, last uint64
		err := db.bolt.Update(func(tx *bolt.Tx) error {
			n, unconsumed, first, last = 0, 0, 0, 0
			low, _, err := minCursor(tx)
			if err != nil {
				return err
			}
			j := tx.Bucket(bucketJournal)
			c := j.Cursor()
			var keys [][]byte
			var freed int64
			for k, v := c.First(); k != nil && freed < need && len(keys) < pruneChunk; k, v = c.Next() {
				keys = append(keys, slices.Clone(k))
				freed += int64(len(k) + len(v) + leafOverhead)
			}
			if len(keys) == 0 {
				return errNothing
			}
			for _, k := range keys {
				if err := j.Delete(k); err != nil {
					return err
				}
				if binary.BigEndian.Uint64(k) > low {
					unconsumed++
				}
			}
			n = uint64(len(keys))
			first, last = binary.BigEndian.Uint64(keys[0]), binary.BigEndian.Uint64(keys[len(keys)-1])
			return nil
		})
		if errors.Is(err, errNothing) {
			return used, nil // journal empty: nothing more to give
		}
		if err != nil {
			return used, err
		}
		db.stats.fsyncs.Add(1)
		db.stats.evictedBySize.Add(n)
		p.BySize += n
		p.Unconsumed += unconsumed
		p.span(first, last)
		if used, err = db.usedBytes(); err != nil {
			return used, err
		}
	}
	return used, nil
}

// pruneAge deletes, oldest first, the journal records that every consumer
// has passed and that are older than MaxAge. It stops at the first record
// that does not qualify, so the journal stays one contiguous run.
func (db *DB) pruneAge(ctx context.Context, p *Pruned) error {
	if db.opts.MaxAge <= 0 {
		return nil
	}
	cutoff := db.opts.Now().Add(-db.opts.MaxAge)
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		var n, first, last uint64
		err := db.bolt.Update(func(tx *bolt.Tx) error {
			n, first, last = 0, 0, 0
			low, _, err := minCursor(tx)
			if err != nil {
				return err
			}
			j := tx.Bucket(bucketJournal)
			c := j.Cursor()
			var keys [][]byte
			for k, v := c.First(); k != nil && len(keys) < pruneChunk; k, v = c.Next() {
				if len(k) != 8 {
					return &CorruptError{Record: "journal key", Offset: len(k), Reason: "want 8 bytes"}
				}
				seq := binary.BigEndian.Uint64(k)
				if seq > low {
					break
				}
				t, err := peekTime(v)
				if err != nil {
					return fmt.Errorf("seq %d: %w", seq, err)
				}
				if !t.Before(cutoff) {
					break
				}
				keys = append(keys, slices.Clone(k))
			}
			if len(keys) == 0 {
				return errNothing
			}
			for _, k := range keys {
				if err := j.Delete(k); err != nil {
					return err
				}
			}
			n = uint64(len(keys))
			first, last = binary.BigEndian.Uint64(keys[0]), binary.BigEndian.Uint64(keys[len(keys)-1])
			return nil
		})
		if errors.Is(err, errNothing) {
			return nil
		}
		if err != nil {
			return err
		}
		db.stats.fsyncs.Add(1)
		db.stats.evictedByAge.Add(n)
		p.ByAge += n
		p.span(first, last)
		if n < pruneChunk {
			return nil
		}
	}
}

// prune runs one retention pass (age, then size) and logs it.
func (db *DB) prune(ctx context.Context, trigger string) (Pruned, error) {
	db.pruneMu.Lock()
	defer db.pruneMu.Unlock()
	var p Pruned
	err := db.pruneAge(ctx, &p)
	var used int64
	if err == nil && db.limits.hard > 0 {
		used, err = db.evictForSize(ctx, 0, &p)
	}
	db.logPass(trigger, p, used, err)
	return p, err
}

// Prune runs one retention pass now: first by age (records every consumer
// has passed and older than Options.MaxAge, judged with Options.Now), then
// by size (oldest first, until the live data is back under the cap's low
// mark). The committer also runs it every Options.PruneInterval. Every pass
// that deletes anything logs one line with the counts and the sequence range.
func (db *DB) Prune(ctx context.Context) (Pruned, error) {
	if db.isClosed.Load() {
		return Pruned{}, fmt.Errorf("store: prune: %w", ErrClosed)
	}
	p, err := db.prune(ctx, "prune")
	if err != nil {
		if errors.Is(err, berrors.ErrDatabaseNotOpen) {
			err = ErrClosed
		}
		return p, fmt.Errorf("store: prune: %w", err)
	}
	return p, nil
}

// logPass writes the one aggregated line of a retention pass. A pass that
// deleted nothing and failed nothing is silent. Evictions by size lose data
// consumers may not have seen, so they are logged as warnings.
func (db *DB) logPass(trigger string, p Pruned, used int64, err error) {
	if p.Total() == 0 && err == nil {
		return
	}
	level := slog.LevelInfo
	if p.BySize > 0 {
		level = slog.LevelWarn
	}
	if err != nil {
		level = slog.LevelError
	}
	attrs := []slog.Attr{
		slog.String("trigger", trigger),
		slog.Uint64("by_age", p.ByAge),
		slog.Uint64("by_size", p.BySize),
		slog.Uint64("unconsumed", p.Unconsumed),
		slog.Uint64("first_seq", p.FirstSeq),
		slog.Uint64("last_seq", p.LastSeq),
	}
	if db.opts.MaxAge > 0 {
		attrs = append(attrs, slog.Duration("max_age", db.opts.MaxAge))
	}
	if db.limits.hard > 0 {
		attrs = append(attrs, slog.Int64("live_bytes", used), slog.Int64("max_size", db.opts.MaxSize))
	}
	if err != nil {
		attrs = append(attrs, slog.Any("err", err))
	}
	db.log.LogAttrs(context.Background(), level, "store: journal records deleted by retention", attrs...)
}
