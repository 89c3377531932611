package store_test

import (
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/edgegate/edgegate/store"
	"github.com/edgegate/edgegate/store/storetest"
)

// doneChan returns a done callback that sends its error on a buffered
// channel, the way a caller hands results off the committer goroutine.
func doneChan() (func(error), <-chan error) {
	ch := make(chan error, 1)
	return func(err error) { ch <- err }, ch
}

// TestAsyncWritesLand checks that each asynchronous write is readable once
// its done has fired, and durable across a reopen, with the synchronous
// twin's layout and semantics (zero times from Options.Now, values copied).
func TestAsyncWritesLand(t *testing.T) {
	clk := newClock()
	db := storetest.MustOpen(t, store.Options{Now: clk.Now, HistoryPerThing: 2})
	if _, err := db.Append(t.Context(), reading(1)); err != nil {
		t.Fatal(err)
	}

	val := []byte("on")
	done, ch := doneChan()
	db.PutStateAsync("lamp", val, time.Time{}, done)
	val[0] = 'X' // copied before PutStateAsync returned
	if err := <-ch; err != nil {
		t.Fatal(err)
	}
	if e, err := db.State("lamp"); err != nil || string(e.Value) != "on" || !e.At.Equal(clk.Now()) {
		t.Fatalf("state = %+v, %v", e, err)
	}

	at := clk.Now()
	for m := range 3 {
		done, ch := doneChan()
		db.AppendHistoryAsync("temp", at.Add(time.Duration(m)*time.Minute), []byte{byte(m)}, done)
		if err := <-ch; err != nil {
			t.Fatal(err)
		}
	}
	if h, err := db.History("temp", time.Time{}, time.Time{}, 10); err != nil || len(h) != 2 || h[0].Value[0] != 1 || h[1].Value[0] != 2 {
		t.Fatalf("history = %v, %v; want minutes 1 and 2", h, err)
	}
	if st := db.Stats(); st.HistoryTrimmed != 1 {
		t.Fatalf("HistoryTrimmed = %d, want 1", st.HistoryTrimmed)
	}

	done, ch = doneChan()
	db.SetCursorAsync("ocs", 1, done)
	if err := <-ch; err != nil {
		t.Fatal(err)
	}
	if c, err := db.Cursor("ocs"); err != nil || c != 1 {
		t.Fatalf("cursor = %d, %v", c, err)
	}

	// A cursor past the journal is judged in the transaction: done gets
	// ErrInvalid from the committer and nothing is written.
	done, ch = doneChan()
	db.SetCursorAsync("ocs", 2, done)
	if err := <-ch; !errors.Is(err, store.ErrInvalid) || !strings.HasPrefix(err.Error(), "store: set cursor: ") {
		t.Fatalf("cursor past the journal: %v, want ErrInvalid", err)
	}

	// nil done is allowed; the writes still land (Close commits them).
	db.PutStateAsync("fan", []byte("off"), time.Time{}, nil)
	db.AppendHistoryAsync("fan", time.Time{}, []byte("off"), nil)
	db.SetCursorAsync("josp", 0, nil)
	db.MustReopen()
	if e, err := db.State("fan"); err != nil || string(e.Value) != "off" {
		t.Fatalf("state with nil done = %+v, %v", e, err)
	}
	if h, err := db.History("fan", time.Time{}, time.Time{}, 10); err != nil || len(h) != 1 {
		t.Fatalf("history with nil done = %v, %v", h, err)
	}
	if c, err := db.Cursor("ocs"); err != nil || c != 1 {
		t.Fatalf("cursor after reopen = %d, %v", c, err)
	}
	if cs, err := db.Consumers(); err != nil || strings.Join(cs, ",") != "josp,ocs" {
		t.Fatalf("consumers = %v, %v", cs, err)
	}
	if e, err := db.State("lamp"); err != nil || string(e.Value) != "on" {
		t.Fatalf("state after reopen = %+v, %v", e, err)
	}
}

// TestAsyncWritesShareCommits holds the committer on its first write until
// every asynchronous write from several goroutines is queued: all of them
// must then share one commit, each done must fire exactly once, and the
// history trim counter must count what the batch trimmed.
func TestAsyncWritesShareCommits(t *testing.T) {
	const (
		writers = 4
		each    = 30 // of each kind, per writer
		total   = writers * each * 3
	)
	release := make(chan struct{})
	var once sync.Once
	opts := store.Options{HistoryPerThing: 10, MaxBatch: total}
	store.SetBeforeCommit(&opts, func() { once.Do(func() { <-release }) })
	db := storetest.MustOpen(t, opts)
	before := db.Stats()

	var calls [total]atomic.Int32
	var wg sync.WaitGroup
	wg.Add(total)
	done := func(id int) func(error) {
		return func(err error) {
			defer wg.Done()
			if calls[id].Add(1) != 1 {
				t.Errorf("done of write %d called again", id)
			}
			if err != nil {
				t.Errorf("write %d: %v", id, err)
			}
		}
	}
	var queued sync.WaitGroup
	for w := range writers {
		queued.Add(1)
		go func() {
			defer queued.Done()
			thing := fmt.Sprintf("thing/%d", w)
			for i := range each {
				id := (w*each + i) * 3
				v := binary.BigEndian.AppendUint32(nil, uint32(i))
				db.PutStateAsync(thing, v, time.Time{}, done(id))
				db.AppendHistoryAsync(thing, time.Unix(int64(i), 0), v, done(id+1))
				db.SetCursorAsync(fmt.Sprintf("consumer/%d", w), 0, done(id+2))
			}
		}()
	}
	queued.Wait() // the async calls returned without waiting for any commit
	waitFor(t, "every write but the held one queued", func() bool { return db.Stats().Queued == total-1 })
	close(release)
	wg.Wait()

	st := db.Stats()
	commits := st.Commits - before.Commits
	t.Logf("%d async writes from %d goroutines: %d commits", total, writers, commits)
	if commits != 1 {
		t.Fatalf("%d commits for %d writes, want them all in 1", commits, total)
	}
	if want := uint64(writers * (each - 10)); st.HistoryTrimmed != want {
		t.Fatalf("HistoryTrimmed = %d, want %d", st.HistoryTrimmed, want)
	}
	for w := range writers {
		thing := fmt.Sprintf("thing/%d", w)
		if e, err := db.State(thing); err != nil || binary.BigEndian.Uint32(e.Value) != each-1 {
			t.Fatalf("state of %s = %v, %v; want the last write", thing, e, err)
		}
		h, err := db.History(thing, time.Time{}, time.Time{}, 100)
		if err != nil || len(h) != 10 || binary.BigEndian.Uint32(h[0].Value) != each-10 {
			t.Fatalf("history of %s = %d entries, %v", thing, len(h), err)
		}
	}
	if cs, err := db.Consumers(); err != nil || len(cs) != writers {
		t.Fatalf("consumers = %v, %v", cs, err)
	}
}

// TestAsyncBatchesWithMaxDelay checks batching without a hook: with a
// linger, a serial stream of async writes fills MaxBatch-sized commits.
func TestAsyncBatchesWithMaxDelay(t *testing.T) {
	const n = 100
	db := storetest.MustOpen(t, store.Options{MaxBatch: 25, MaxDelay: time.Minute})
	before := db.Stats()
	var wg sync.WaitGroup
	wg.Add(n)
	for i := range n {
		db.PutStateAsync(fmt.Sprint("t", i%10), []byte{byte(i)}, time.Time{}, func(err error) {
			defer wg.Done()
			if err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait() // would take minutes if MaxBatch did not cut the linger short
	if c := db.Stats().Commits - before.Commits; c != n/25 {
		t.Fatalf("%d commits, want %d full batches", c, n/25)
	}
}

// TestAsyncRejectsSynchronously checks that invalid input calls done before
// the method returns, with ErrInvalid, and writes nothing.
func TestAsyncRejectsSynchronously(t *testing.T) {
	db := storetest.MustOpen(t, store.Options{})
	tooLate := time.Date(2300, 1, 1, 0, 0, 0, 0, time.UTC)
	long := strings.Repeat("x", store.MaxNameLen+1)
	for _, c := range []struct {
		op   string
		call func(done func(error))
	}{
		{"put state", func(d func(error)) { db.PutStateAsync("", []byte("v"), time.Time{}, d) }},
		{"put state", func(d func(error)) { db.PutStateAsync(long, nil, time.Time{}, d) }},
		{"put state", func(d func(error)) { db.PutStateAsync("t", nil, tooLate, d) }},
		{"append history", func(d func(error)) { db.AppendHistoryAsync("", time.Time{}, nil, d) }},
		{"append history", func(d func(error)) { db.AppendHistoryAsync("t", tooLate, nil, d) }},
		{"set cursor", func(d func(error)) { db.SetCursorAsync("", 0, d) }},
		{"set cursor", func(d func(error)) { db.SetCursorAsync(long, 0, d) }},
	} {
		calls := 0
		var got error
		c.call(func(err error) { calls++; got = err })
		if calls != 1 {
			t.Fatalf("%s: done called %d times before returning, want once", c.op, calls)
		}
		if !errors.Is(got, store.ErrInvalid) || !strings.HasPrefix(got.Error(), "store: "+c.op+": ") {
			t.Fatalf("%s: %v, want ErrInvalid", c.op, got)
		}
		c.call(nil) // a nil done is fine for rejections too
	}
	if st := db.Stats(); st.Commits != 0 {
		t.Fatalf("%d commits for rejected writes", st.Commits)
	}
	if all, err := db.States(); err != nil || len(all) != 0 {
		t.Fatalf("states = %v, %v", all, err)
	}
	if cs, err := db.Consumers(); err != nil || len(cs) != 0 {
		t.Fatalf("consumers = %v, %v", cs, err)
	}
}

// TestAsyncAfterClose checks that writes submitted after Close get
// ErrClosed, synchronously, and writes queued before it are committed.
func TestAsyncAfterClose(t *testing.T) {
	const n = 20
	release := make(chan struct{})
	var once sync.Once
	var opts store.Options
	store.SetBeforeCommit(&opts, func() { once.Do(func() { <-release }) })
	db := storetest.MustOpen(t, opts)
	errs := make(chan error, n)
	for i := range n {
		db.PutStateAsync(fmt.Sprint("t", i), []byte{byte(i)}, time.Time{}, func(err error) { errs <- err })
	}
	closed := make(chan error, 1)
	go func() { closed <- db.Close() }()
	waitFor(t, "Close to begin", func() bool { return store.Closing(db.DB) })
	close(release)
	if err := <-closed; err != nil {
		t.Fatal(err)
	}
	for range n {
		if err := <-errs; err != nil {
			t.Fatalf("write accepted before Close: %v", err)
		}
	}
	for _, c := range []struct {
		op   string
		call func(done func(error))
	}{
		{"put state", func(d func(error)) { db.PutStateAsync("t", nil, time.Time{}, d) }},
		{"append history", func(d func(error)) { db.AppendHistoryAsync("t", time.Time{}, nil, d) }},
		{"set cursor", func(d func(error)) { db.SetCursorAsync("c", 0, d) }},
	} {
		calls := 0
		var got error
		c.call(func(err error) { calls++; got = err })
		if calls != 1 || !errors.Is(got, store.ErrClosed) || !strings.HasPrefix(got.Error(), "store: "+c.op+": ") {
			t.Fatalf("%s after Close: %d calls, %v; want ErrClosed once, before returning", c.op, calls, got)
		}
		c.call(nil)
	}
	db.MustReopen()
	if all, err := db.States(); err != nil || len(all) != n {
		t.Fatalf("%d states after reopen, %v; want %d", len(all), err, n)
	}
}

// TestAsyncOrdering queues state, history and cursor writes in turn from
// one goroutine, in commits of at most 4 writes: the callbacks must come in
// queue order, and when a cursor's done fires the state and history queued
// before it must be visible.
func TestAsyncOrdering(t *testing.T) {
	const n = 60
	clk := newClock()
	db := storetest.MustOpen(t, store.Options{Now: clk.Now, MaxBatch: 4})
	var mu sync.Mutex
	var order []string
	note := func(s string, next func(error)) func(error) {
		return func(err error) {
			if err != nil {
				t.Errorf("%s: %v", s, err)
			}
			mu.Lock()
			order = append(order, s)
			mu.Unlock()
			if next != nil {
				next(err)
			}
		}
	}
	cursorDone := make(chan int, n)
	t0 := clk.Now()
	var want []string
	for i := range n {
		v := binary.BigEndian.AppendUint32(nil, uint32(i))
		db.PutStateAsync("lamp", v, t0, note(fmt.Sprint("state ", i), nil))
		db.AppendHistoryAsync("lamp", t0.Add(time.Duration(i)*time.Second), v, note(fmt.Sprint("history ", i), nil))
		db.SetCursorAsync("ocs", 0, note(fmt.Sprint("cursor ", i), func(error) { cursorDone <- i }))
		want = append(want, fmt.Sprint("state ", i), fmt.Sprint("history ", i), fmt.Sprint("cursor ", i))
	}
	for range n {
		i := <-cursorDone
		e, err := db.State("lamp")
		if err != nil || binary.BigEndian.Uint32(e.Value) < uint32(i) {
			t.Fatalf("after cursor %d: state %v, %v; want write %d or later", i, e.Value, err, i)
		}
		h, err := db.History("lamp", time.Time{}, time.Time{}, n)
		if err != nil || len(h) < i+1 {
			t.Fatalf("after cursor %d: %d history entries, %v; want at least %d", i, len(h), err, i+1)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if got := strings.Join(order, ", "); got != strings.Join(want, ", ") {
		t.Fatalf("callbacks in order:\n%s\nwant queue order:\n%s", got, strings.Join(want, ", "))
	}
	if c := db.Stats().Commits; c < n*3/4 {
		t.Fatalf("%d commits for %d writes in batches of at most 4", c, n*3)
	}
}

// pacedDB is a store whose commits are paced (PaceBatch 10, MaxBatch 50).
// Once armed, its committer blocks with the first write of its next batch
// in hand until hold is closed; sizes are the writes of every commit since
// openPaced primed it.
type pacedDB struct {
	db    *storetest.DB
	armed atomic.Bool
	hold  chan struct{}
	mu    sync.Mutex
	sizes []int
}

func openPaced(t *testing.T, interval time.Duration) *pacedDB {
	p := &pacedDB{hold: make(chan struct{})}
	opts := store.Options{MaxBatch: 50, PaceBatch: 10, PaceInterval: interval,
		OnCommit: func(n int, _ time.Duration) {
			p.mu.Lock()
			p.sizes = append(p.sizes, n)
			p.mu.Unlock()
		}}
	store.SetBeforeCommit(&opts, func() {
		if p.armed.CompareAndSwap(true, false) {
			<-p.hold
		}
	})
	p.db = storetest.MustOpen(t, opts)
	// A commit of one write: the committer knows when a commit began.
	if err := p.db.PutState("prime", []byte{0}, time.Time{}); err != nil {
		t.Fatal(err)
	}
	p.waitCommits(t, 1)
	p.mu.Lock()
	p.sizes = nil
	p.mu.Unlock()
	return p
}

// queue writes n states asynchronously; wg is done once per durable write.
func (p *pacedDB) queue(t *testing.T, n int, wg *sync.WaitGroup) {
	wg.Add(n)
	for i := range n {
		p.db.PutStateAsync(fmt.Sprint("t", i%10), []byte{byte(i)}, time.Time{}, func(err error) {
			defer wg.Done()
			if err != nil {
				t.Error(err)
			}
		})
	}
}

// heldBatch arms the hold, queues n writes (the committer blocks with the
// first in hand), waits until the others are queued and releases it.
func (p *pacedDB) heldBatch(t *testing.T, n int, wg *sync.WaitGroup) {
	p.armed.Store(true)
	p.queue(t, n, wg)
	waitFor(t, "the held batch queued", func() bool { return p.db.Stats().Queued == n-1 })
	close(p.hold)
}

// waitCommits waits until OnCommit (called after the writes' callbacks)
// has reported n writes.
func (p *pacedDB) waitCommits(t *testing.T, n int) {
	t.Helper()
	waitFor(t, fmt.Sprintf("commits of %d writes reported", n), func() bool {
		s := 0
		for _, c := range p.commits() {
			s += c
		}
		return s >= n
	})
}

func (p *pacedDB) commits() []int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.Clone(p.sizes)
}

// waitWG waits for wg, failing the test after limit.
func waitWG(t *testing.T, wg *sync.WaitGroup, limit time.Duration, what string) time.Duration {
	t.Helper()
	start := time.Now()
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
		return time.Since(start)
	case <-time.After(limit):
		t.Fatalf("writes not durable after %v: %s", limit, what)
		return 0
	}
}

// TestPaceUnderLoad checks commit pacing: a commit that finds PaceBatch
// writes queued, or that follows one of PaceBatch writes or more, waits for
// the stream's next write and commits once one arrives with PaceBatch in
// hand (the interval here is a minute, so only that ends the wait); others
// go at once.
func TestPaceUnderLoad(t *testing.T) {
	p := openPaced(t, time.Minute)
	var wg sync.WaitGroup

	// Fewer than PaceBatch after a small commit: committed at once.
	p.queue(t, 5, &wg)
	waitWG(t, &wg, 30*time.Second, "a batch below PaceBatch waited")
	p.waitCommits(t, 5)
	if c := p.commits(); slices.Max(c) > 5 {
		t.Fatalf("commits %v, want the 5 small writes", c)
	}
	p.mu.Lock()
	p.sizes = nil
	p.mu.Unlock()

	// PaceBatch or more queued: the commit waits for the next write.
	p.heldBatch(t, 20, &wg)
	waitFor(t, "the paced batch to take the queue", func() bool { return p.db.Stats().Queued == 0 })
	time.Sleep(100 * time.Millisecond)
	if c := p.commits(); len(c) != 0 {
		t.Fatalf("commits %v before a write arrived; want the committer to wait", c)
	}
	p.queue(t, 1, &wg)
	waitWG(t, &wg, 30*time.Second, "pacing waited out its interval after the next write arrived")
	p.waitCommits(t, 21)
	if c := p.commits(); !slices.Equal(c, []int{21}) {
		t.Fatalf("commits of %v writes, want one of the 20 and the next", c)
	}

	// After that commit of 21, fewer than PaceBatch wait too (the stream
	// is still running, its next writes only not queued yet), until the
	// write that makes PaceBatch arrives; no more than that.
	p.queue(t, 5, &wg)
	time.Sleep(100 * time.Millisecond)
	if c := p.commits(); len(c) != 1 {
		t.Fatalf("commits %v: the writes after a paced commit went at once; want them to wait", c)
	}
	p.queue(t, 5, &wg)
	waitWG(t, &wg, 30*time.Second, "the batch after a paced commit waited out its interval")
	p.waitCommits(t, 31)
	if c := p.commits(); !slices.Equal(c, []int{21, 10}) {
		t.Fatalf("commits of %v writes, want 21, then PaceBatch (10)", c)
	}
}

// TestPaceAfterSlowCommit checks that pacing counts from the previous
// commit's start: once the interval has passed, a commit that finds
// PaceBatch writes goes at once instead of waiting a further interval.
func TestPaceAfterSlowCommit(t *testing.T) {
	const interval = 1500 * time.Millisecond
	p := openPaced(t, interval)
	time.Sleep(interval + 100*time.Millisecond) // the priming commit began longer ago
	var wg sync.WaitGroup
	p.heldBatch(t, 20, &wg)
	if d := waitWG(t, &wg, 30*time.Second, "held batch"); d > interval*2/3 {
		t.Fatalf("a batch of 20 took %v after its interval had passed; want it committed at once", d)
	}
	p.waitCommits(t, 20)
	if c := p.commits(); !slices.Equal(c, []int{20}) {
		t.Fatalf("commits of %v writes, want one of 20", c)
	}
}
