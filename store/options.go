package store

import (
	"log/slog"
	"time"
)

// Defaults applied by Open to zero Options fields.
const (
	DefaultMaxBatch        = 256
	DefaultPruneInterval   = time.Minute
	DefaultHistoryPerThing = 10000
	DefaultLockTimeout     = time.Second

	// MinMaxSize is the smallest non-zero Options.MaxSize Open accepts; it
	// must also be at least 64 bbolt pages (1 MiB with 16 KiB pages).
	MinMaxSize = 256 << 10
	minPages   = 64
)

// Options configure a DB. The zero value is usable: no retention by age, no
// size cap, defaults for everything else.
type Options struct {
	// MaxAge is how long a journal record is kept after every registered
	// consumer has passed it. A record is deleted by age only when it is
	// older than MaxAge AND every consumer's cursor is at or past its
	// sequence. Zero disables deletion by age.
	MaxAge time.Duration

	// MaxSize caps the database file, in bytes. Before a commit would take
	// the file past the cap, the oldest journal records are evicted, even if
	// consumers have not passed them (counted in Stats.EvictedBySize and
	// logged). Writes fail with ErrFull only when the journal is empty and
	// the other buckets alone fill the cap; deletions always go through.
	// Zero means no cap; otherwise it must be at least MinMaxSize and 64
	// pages.
	//
	// bbolt grows a file below 16 MiB in powers of two and above that in
	// 16 MiB steps, so the store keeps bbolt's high-water mark under the
	// largest size whose growth step still fits: a power-of-two MaxSize below
	// 32 MiB wastes nothing; other values below 32 MiB are effectively
	// rounded down to a power of two, and above 32 MiB 16 MiB are held back.
	//
	// The budget is computed from bbolt's page counts (high-water mark minus
	// free pages) and an estimate of each batch. It holds for records that
	// fit in a page, which is every reading (OSP payloads are small) and the
	// usual state, history, cursor and setting values. A single value larger
	// than about a quarter page (1 KiB with 4 KiB pages) lands in bbolt
	// overflow pages, which need contiguous free space; such values can make
	// bbolt grow the file past the cap when the free space is fragmented.
	//
	// bbolt v1.4.3 (the version this module uses) has no Options.MaxSize of
	// its own, so the cap is enforced only here; bbolt v1.5 adds one, which
	// would make a hard backstop.
	MaxSize int64

	// MaxBatch is the largest number of queued writes (readings and other
	// writes) the committer puts into one transaction. Default 256.
	MaxBatch int

	// MaxDelay is how long the committer waits for more writes once it has
	// one, before committing a batch smaller than MaxBatch. Zero (the
	// default) commits at once: batching then comes from the writes that
	// queue up while the previous fsync runs, with no added latency.
	MaxDelay time.Duration

	// PaceBatch and PaceInterval pace commits under load, as a database's
	// commit delay does. When the committer drains at least PaceBatch
	// queued writes, or the previous commit had that many (writers that
	// wait for their ACKs send again only after it), a stream is running;
	// it then waits for the stream's next writes, and commits once a write
	// arrives with PaceBatch writes in hand, once PaceInterval has passed
	// since the previous commit began, or with MaxBatch in hand. Otherwise
	// it commits at once. Under sustained load a commit then carries at
	// least PaceBatch writes unless PaceInterval ran out first, so the
	// fsyncs, which wear flash, come one per PaceBatch writes or one per
	// PaceInterval, whichever comes first, and no commit waits for more
	// writes than PaceBatch; a write waits at most PaceInterval minus the
	// time the previous commit already took, and never after a commit
	// that itself took PaceInterval or longer. Zero values (the default)
	// disable pacing.
	PaceBatch    int
	PaceInterval time.Duration

	// PruneInterval is how often the committer runs a retention pass (age
	// and size). Default one minute; negative disables periodic passes
	// (Prune still works; the size cap is still enforced at every commit).
	PruneInterval time.Duration

	// HistoryPerThing caps the history entries kept per thing; the oldest
	// (by time) are dropped first. Default 10000.
	HistoryPerThing int

	// LockTimeout bounds the wait for the file lock at Open. Default one
	// second. bbolt waits forever when this is zero, so the store never
	// passes zero.
	LockTimeout time.Duration

	// Logger receives the store's log lines (open, migrations, retention
	// passes). Nil discards them.
	Logger *slog.Logger

	// Now is the clock used for record times the caller left zero, for
	// Device.Added and Firmware.Added, and for retention by age. Nil means time.Now. Tests
	// inject a fake clock here and never sleep. Commit latency (OnCommit) is
	// always measured with the real monotonic clock.
	Now func() time.Time

	// OnCommit, if set, is called by the committer after every group commit
	// that succeeded, once the callbacks of its writes ran (so it can act on
	// what they gathered, say send their acknowledgements together), with
	// the number of writes in the transaction (journal readings plus other
	// writes) and the time from the start of the transaction to the end of
	// its fsync. The next commit waits for it: it must be fast and must not
	// call into the DB.
	OnCommit func(records int, d time.Duration)

	// beforeCommit is a test hook called by the committer with the first
	// request of a batch in hand, before it drains the queue.
	beforeCommit func()
}

// withDefaults returns o with defaults filled in, or an ErrInvalid error.
func (o Options) withDefaults() (Options, error) {
	switch {
	case o.MaxAge < 0:
		return o, invalidf("MaxAge %v is negative", o.MaxAge)
	case o.MaxSize < 0 || (o.MaxSize > 0 && o.MaxSize < MinMaxSize):
		return o, invalidf("MaxSize %d is below the minimum %d", o.MaxSize, MinMaxSize)
	case o.MaxBatch < 0:
		return o, invalidf("MaxBatch %d is negative", o.MaxBatch)
	case o.MaxDelay < 0:
		return o, invalidf("MaxDelay %v is negative", o.MaxDelay)
	case o.PaceBatch < 0:
		return o, invalidf("PaceBatch %d is negative", o.PaceBatch)
	case o.PaceInterval < 0:
		return o, invalidf("PaceInterval %v is negative", o.PaceInterval)
	case o.HistoryPerThing < 0:
		return o, invalidf("HistoryPerThing %d is negative", o.HistoryPerThing)
	case o.LockTimeout < 0:
		return o, invalidf("LockTimeout %v is negative", o.LockTimeout)
	}
	if o.MaxBatch == 0 {
		o.MaxBatch = DefaultMaxBatch
	}
	if o.PruneInterval == 0 {
		o.PruneInterval = DefaultPruneInterval
	}
	if o.HistoryPerThing == 0 {
		o.HistoryPerThing = DefaultHistoryPerThing
	}
	if o.LockTimeout == 0 {
		o.LockTimeout = DefaultLockTimeout
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return o, nil
}
