package store

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"time"

	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"
)

// fileMode is the permission of the database file: it holds device keys.
const fileMode fs.FileMode = 0o600

// DB is the gateway's database: one bbolt file and the committer goroutine
// that group-commits every write. All methods are safe for concurrent use.
// Open starts the committer; Close stops it and must be called.
type DB struct {
	bolt     *bolt.DB
	path     string
	opts     Options
	log      *slog.Logger
	pageSize int
	limits   sizeLimits

	// mu guards closed and every send on reqs: writers hold it shared while
	// they enqueue, Close holds it exclusively to flip closed and close reqs,
	// so nothing is ever sent on a closed channel and nothing accepted is
	// left behind.
	mu       sync.RWMutex
	closed   bool
	isClosed atomic.Bool // mirror of closed for the read paths

	reqs          chan *request // owned by Close (the only closer)
	committerDone chan struct{} // closed when the committer returns
	closeDone     chan struct{} // closed when Close has finished
	closeErr      error         // result of the first Close
	pruneMu       sync.Mutex    // one retention pass at a time
	stats         counters
}

// Open opens (creating if needed, mode 0600) the database at path, migrates
// its schema to SchemaVersion and starts the committer. It fails with
// ErrLocked when another DB holds the file past opts.LockTimeout and with
// ErrSchemaTooNew when the file is newer than this build.
func Open(path string, opts Options) (*DB, error) {
	opts, err := opts.withDefaults()
	if err != nil {
		return nil, fmt.Errorf("store: open %s: %w", path, err)
	}
	// The freelist is not written at each commit (NoFreelistSync) but
	// rebuilt by a scan at open, and kept as a hash map: a journal that
	// retention trims leaves many free pages, and writing their list into
	// every group commit would grow each commit with the file's age.
	bdb, err := bolt.Open(path, fileMode, &bolt.Options{Timeout: opts.LockTimeout,
		NoFreelistSync: true, FreelistType: bolt.FreelistMapType})
	if err != nil {
		if errors.Is(err, berrors.ErrTimeout) {
			return nil, fmt.Errorf("store: open %s: %w after %v: %w", path, ErrLocked, opts.LockTimeout, err)
		}
		return nil, fmt.Errorf("store: open %s: %w", path, err)
	}
	db := &DB{
		bolt:          bdb,
		path:          path,
		opts:          opts,
		log:           opts.Logger,
		pageSize:      bdb.Info().PageSize,
		reqs:          make(chan *request, 4*opts.MaxBatch),
		committerDone: make(chan struct{}),
		closeDone:     make(chan struct{}),
	}
	if opts.MaxSize > 0 && opts.MaxSize < minPages*int64(db.pageSize) {
		_ = bdb.Close()
		return nil, fmt.Errorf("store: open %s: %w", path, invalidf("MaxSize %d is under %d pages of %d bytes", opts.MaxSize, minPages, db.pageSize))
	}
	db.limits = computeLimits(opts.MaxSize, db.pageSize, bdb.AllocSize)
	if err := db.fixMode(); err != nil {
		_ = bdb.Close()
		return nil, fmt.Errorf("store: open %s: %w", path, err)
	}
	if err := db.migrate(); err != nil {
		_ = bdb.Close()
		return nil, fmt.Errorf("store: open %s: %w", path, err)
	}
	go db.run()
	db.log.Info("store: opened", slog.String("path", path), slog.Uint64("schema", uint64(SchemaVersion)),
		slog.Int64("max_size", opts.MaxSize), slog.Duration("max_age", opts.MaxAge))
	return db, nil
}

// fixMode tightens an existing file that is readable by others to 0600.
func (db *DB) fixMode() error {
	fi, err := os.Stat(db.path)
	if err != nil {
		return err
	}
	if perm := fi.Mode().Perm(); perm&^fileMode != 0 {
		if err := os.Chmod(db.path, fileMode); err != nil {
			return fmt.Errorf("restrict mode %v to %v: %w", perm, fileMode, err)
		}
		db.log.Warn("store: database file was readable by others; mode restricted", slog.String("path", db.path),
			slog.String("was", perm.String()), slog.String("now", fileMode.String()))
	}
	return nil
}

// Path returns the database file's path.
func (db *DB) Path() string { return db.path }

// Close stops accepting writes, lets the committer commit everything already
// accepted (every such caller gets its sequence or the commit's error), then
// closes the file. Later calls wait for the first to finish and return nil.
// Writes submitted after Close has begun fail with ErrClosed.
func (db *DB) Close() error {
	db.mu.Lock()
	if db.closed {
		db.mu.Unlock()
		<-db.closeDone
		return nil
	}
	db.closed = true
	db.isClosed.Store(true)
	close(db.reqs)
	db.mu.Unlock()

	<-db.committerDone
	if err := db.bolt.Close(); err != nil {
		db.closeErr = fmt.Errorf("store: close: %w", err)
	}
	db.log.Info("store: closed", slog.String("path", db.path))
	close(db.closeDone)
	return db.closeErr
}

// request is one write waiting for the committer.
type request struct {
	op   string                  // operation name, for errors
	rec  []byte                  // an encoded reading to append to the journal, or nil
	fn   func(tx *bolt.Tx) error // any other write; nil when rec is set
	size int64                   // bytes the write adds, for the size cap

	// Completion: done when set, else res.
	done func(seq uint64, err error)
	res  chan result

	seq uint64 // set by the committer
	err error  // set by the committer
}

type result struct {
	seq uint64
	err error
}

func (r *request) finish() {
	if r.done != nil {
		r.done(r.seq, r.err)
		return
	}
	r.res <- result{seq: r.seq, err: r.err} // buffered: never blocks
}

// enqueue hands req to the committer. It blocks while the queue is full
// (backpressure) unless ctx ends first.
func (db *DB) enqueue(ctx context.Context, req *request) error {
	db.mu.RLock()
	defer db.mu.RUnlock()
	if db.closed {
		return ErrClosed
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	select {
	case db.reqs <- req:
		return nil
	default:
	}
	select {
	case db.reqs <- req:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// write runs fn in a group-commit transaction and returns once that
// transaction is durable. fn must validate before it writes and report a
// validation failure as reject(err), which fails this call only; any other
// error aborts the transaction for every write in it.
//
// size is the bytes of keys and values fn adds; it is doubled for the size
// cap because bbolt splits pages half full (FillPercent 0.5) in every bucket
// but the journal, so new data may take twice its size in pages.
func (db *DB) write(op string, size int64, fn func(tx *bolt.Tx) error) error {
	req := &request{op: op, fn: fn, size: 2 * size, res: make(chan result, 1)}
	if err := db.enqueue(context.Background(), req); err != nil {
		return fmt.Errorf("store: %s: %w", op, err)
	}
	return (<-req.res).err
}

// writeAsync queues fn like write but returns without waiting for the
// commit. done (never nil here) is called exactly once: before writeAsync
// returns when the write is refused up front (ErrClosed), otherwise from the
// committer goroutine once the transaction is durable or has failed. It
// blocks only while the queue is full.
func (db *DB) writeAsync(op string, size int64, fn func(tx *bolt.Tx) error, done func(error)) {
	req := &request{op: op, fn: fn, size: 2 * size, done: func(_ uint64, err error) { done(err) }}
	if err := db.enqueue(context.Background(), req); err != nil {
		done(fmt.Errorf("store: %s: %w", op, err))
	}
}

// orNop returns done, or a callback that does nothing when done is nil.
func orNop(done func(error)) func(error) {
	if done == nil {
		return func(error) {}
	}
	return done
}

// view runs fn in a read transaction.
func (db *DB) view(op string, fn func(tx *bolt.Tx) error) error {
	if db.isClosed.Load() {
		return fmt.Errorf("store: %s: %w", op, ErrClosed)
	}
	if err := db.bolt.View(fn); err != nil {
		if errors.Is(err, berrors.ErrDatabaseNotOpen) {
			err = ErrClosed
		}
		return fmt.Errorf("store: %s: %w", op, err)
	}
	return nil
}

// run is the committer: it owns every write transaction after Open. It
// returns when Close has closed reqs and everything queued is committed.
func (db *DB) run() {
	defer close(db.committerDone)
	var tick <-chan time.Time
	if db.opts.PruneInterval > 0 {
		t := time.NewTicker(db.opts.PruneInterval)
		defer t.Stop()
		tick = t.C
	}
	batch := make([]*request, 0, db.opts.MaxBatch)
	var began time.Time // when the previous commit began
	var last int        // the writes in it
	for {
		select {
		case req, ok := <-db.reqs:
			if !ok {
				return
			}
			if db.opts.beforeCommit != nil {
				db.opts.beforeCommit()
			}
			var open bool
			batch, open = db.fill(append(batch[:0], req), began, last)
			began, last = time.Now(), len(batch)
			db.commit(batch)
			clear(batch) // drop references for the GC
			if !open {
				return
			}
		case <-tick:
			if _, err := db.prune(context.Background(), "periodic"); err != nil && !errors.Is(err, ErrClosed) {
				db.log.Error("store: periodic retention pass failed", slog.Any("err", err))
			}
		}
	}
}

// fill adds queued requests to batch up to MaxBatch, then, when MaxDelay
// is set or pacing applies (Options.PaceBatch; began is when the previous
// commit began, last how many writes it had), waits for more: paced, until
// a request arrives with PaceBatch in hand. It reports false when reqs was
// closed.
func (db *DB) fill(batch []*request, began time.Time, last int) ([]*request, bool) {
	limit := db.opts.MaxBatch
drain:
	for len(batch) < limit {
		select {
		case req, ok := <-db.reqs:
			if !ok {
				return batch, false
			}
			batch = append(batch, req)
		default:
			break drain
		}
	}
	if len(batch) >= limit {
		return batch, true
	}
	wait, enough := db.opts.MaxDelay, limit
	if db.opts.PaceBatch > 0 && (len(batch) >= db.opts.PaceBatch || last >= db.opts.PaceBatch) {
		if paced := db.opts.PaceInterval - time.Since(began); paced > wait {
			wait, enough = paced, db.opts.PaceBatch
		}
	}
	if wait <= 0 {
		return batch, true
	}
	timer := time.NewTimer(wait)
	defer timer.Stop()
	for len(batch) < limit {
		select {
		case req, ok := <-db.reqs:
			if !ok {
				return batch, false
			}
			batch = append(batch, req)
			if len(batch) >= enough {
				return batch, true
			}
		case <-timer.C:
			return batch, true
		}
	}
	return batch, true
}

// journalFill is the journal bucket's FillPercent: keys only ever grow, so
// pages are filled almost completely instead of split in half.
const journalFill = 0.95

// commit writes batch in one transaction (one fsync) and completes every
// request in it.
func (db *DB) commit(batch []*request) {
	var incoming int64
	for _, r := range batch {
		incoming += r.size
	}
	room, err := db.makeRoom(incoming)
	if err != nil {
		for _, r := range batch {
			r.seq, r.err = 0, fmt.Errorf("store: %s: %w", r.op, err)
			r.finish()
		}
		return
	}
	if incoming > room {
		// Admit, in queue order, the writes that fit; refuse the others
		// with ErrFull. Deletions (size 0) always fit, so a full database
		// can always be made to shrink.
		keep := batch[:0]
		for _, r := range batch {
			if r.size > room {
				r.seq, r.err = 0, fmt.Errorf("store: %s: %w", r.op, db.fullError(r.size, room))
				r.finish()
				continue
			}
			room -= r.size
			keep = append(keep, r)
		}
		if batch = keep; len(batch) == 0 {
			return
		}
	}
	start := time.Now()
	var records uint64
	err = db.bolt.Update(func(tx *bolt.Tx) error {
		records = 0
		j := tx.Bucket(bucketJournal)
		j.FillPercent = journalFill
		for _, r := range batch {
			r.seq, r.err = 0, nil
			if r.fn == nil {
				seq, err := j.NextSequence()
				if err != nil {
					return err
				}
				if err := j.Put(seqKey(seq), r.rec); err != nil {
					return err
				}
				r.seq = seq
				records++
				continue
			}
			if err := r.fn(tx); err != nil {
				var rj *rejectError
				if errors.As(err, &rj) {
					r.err = fmt.Errorf("store: %s: %w", r.op, rj.err)
					continue
				}
				return err
			}
		}
		return nil
	})
	elapsed := time.Since(start)
	if err != nil {
		if errors.Is(err, berrors.ErrDatabaseNotOpen) {
			err = ErrClosed
		}
		db.log.Error("store: group commit failed", slog.Int("writes", len(batch)), slog.Any("err", err))
		for _, r := range batch {
			r.seq, r.err = 0, fmt.Errorf("store: %s: commit: %w", r.op, err)
		}
	} else {
		db.stats.commits.Add(1)
		db.stats.fsyncs.Add(1)
		db.stats.appends.Add(records)
	}
	for _, r := range batch {
		r.finish()
	}
	if err == nil && db.opts.OnCommit != nil {
		db.opts.OnCommit(len(batch), elapsed)
	}
}
