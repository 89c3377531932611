package store

import "sync/atomic"

// counters are the store's running totals. atomic.Uint64 is 64-bit aligned
// on every platform, 32-bit ARM included.
type counters struct {
	appends        atomic.Uint64
	commits        atomic.Uint64
	fsyncs         atomic.Uint64
	evictedByAge   atomic.Uint64
	evictedBySize  atomic.Uint64
	historyTrimmed atomic.Uint64
}

// Stats is a snapshot of the store's counters since Open.
type Stats struct {
	// Appends counts journal readings made durable.
	Appends uint64
	// Commits counts group-commit transactions (each holds one or more
	// queued writes: readings, state, history, cursors, devices, settings,
	// firmware).
	Commits uint64
	// Fsyncs counts durable write transactions of every kind: group
	// commits, retention passes and schema migrations. Each is one
	// durability point; bbolt reaches it with two fdatasync calls (data
	// pages, then the meta page).
	Fsyncs uint64
	// EvictedByAge counts journal records deleted because every consumer
	// had passed them and they were older than Options.MaxAge.
	EvictedByAge uint64
	// EvictedBySize counts journal records deleted, oldest first, to keep
	// the file under Options.MaxSize, whether or not consumers had passed them.
	EvictedBySize uint64
	// HistoryTrimmed counts history entries dropped by Options.HistoryPerThing.
	HistoryTrimmed uint64
	// Queued is the number of writes waiting for the committer right now.
	Queued int
}

// Stats returns a snapshot of the counters. It works after Close too.
func (db *DB) Stats() Stats {
	return Stats{
		Appends:        db.stats.appends.Load(),
		Commits:        db.stats.commits.Load(),
		Fsyncs:         db.stats.fsyncs.Load(),
		EvictedByAge:   db.stats.evictedByAge.Load(),
		EvictedBySize:  db.stats.evictedBySize.Load(),
		HistoryTrimmed: db.stats.historyTrimmed.Load(),
		Queued:         len(db.reqs),
	}
}
