package store_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/edgegate/edgegate/store"
	"github.com/edgegate/edgegate/store/storetest"
)

// appendBurst appends readings first..first+n-1 with AppendAsync (so they
// group-commit) and waits for all of them.
func appendBurst(t *testing.T, db *storetest.DB, first, n int, payload int) {
	t.Helper()
	var wg sync.WaitGroup
	for i := first; i < first+n; i++ {
		r := reading(i)
		if payload > len(r.Payload) {
			r.Payload = append(r.Payload, make([]byte, payload-len(r.Payload))...)
		}
		wg.Add(1)
		db.AppendAsync(r, func(_ uint64, err error) {
			defer wg.Done()
			if err != nil {
				t.Errorf("append %d: %v", i, err)
			}
		})
	}
	wg.Wait()
}

func TestRetentionByAgeWaitsForConsumers(t *testing.T) {
	clk := newClock()
	var logs lockedBuffer
	db := storetest.MustOpen(t, store.Options{MaxAge: time.Hour, Now: clk.Now, Logger: newTextLogger(&logs)})
	appendBurst(t, db, 1, 10, 0) // seqs 1..10 at t0

	// Nothing is old enough yet.
	if p, err := db.Prune(t.Context()); err != nil || p.Total() != 0 {
		t.Fatalf("prune of fresh records: %+v, %v", p, err)
	}
	if err := db.SetCursor("ocs", 10); err != nil {
		t.Fatal(err)
	}
	if err := db.SetCursor("josp", 4); err != nil {
		t.Fatal(err)
	}
	if err := db.SetCursor("ocs", 11); !errors.Is(err, store.ErrInvalid) {
		t.Fatalf("cursor past the journal: %v, want ErrInvalid", err)
	}

	clk.Advance(2 * time.Hour)
	appendBurst(t, db, 11, 5, 0) // seqs 11..15 at t0+2h: young

	p, err := db.Prune(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	// josp has passed only 1..4: 5..10 are old but must stay.
	if p.ByAge != 4 || p.BySize != 0 || p.FirstSeq != 1 || p.LastSeq != 4 {
		t.Fatalf("prune = %+v, want 1..4 by age", p)
	}
	count, first, last, _, _ := db.JournalStats()
	if count != 11 || first != 5 || last != 15 {
		t.Fatalf("journal %d records %d..%d, want 11 records 5..15", count, first, last)
	}
	if !strings.Contains(logs.String(), "by_age=4") || !strings.Contains(logs.String(), "first_seq=1 last_seq=4") {
		t.Fatalf("pruning pass not logged with counts and range:\n%s", logs.String())
	}

	// A new consumer that has passed nothing holds everything.
	if err := db.SetCursor("admin", 0); err != nil {
		t.Fatal(err)
	}
	for _, c := range []string{"josp", "ocs"} {
		if err := db.SetCursor(c, 15); err != nil {
			t.Fatal(err)
		}
	}
	if p, _ := db.Prune(t.Context()); p.Total() != 0 {
		t.Fatalf("prune with a consumer at 0 deleted %+v", p)
	}
	// Once it is gone, the old records go; the young ones stay though passed.
	if err := db.DeleteCursor("admin"); err != nil {
		t.Fatal(err)
	}
	if p, _ := db.Prune(t.Context()); p.ByAge != 6 || p.FirstSeq != 5 || p.LastSeq != 10 {
		t.Fatalf("prune = %+v, want 5..10", p)
	}
	clk.Advance(time.Hour + time.Nanosecond)
	if p, _ := db.Prune(t.Context()); p.ByAge != 5 || p.LastSeq != 15 {
		t.Fatalf("prune = %+v, want 11..15", p)
	}
	if st := db.Stats(); st.EvictedByAge != 15 || st.EvictedBySize != 0 {
		t.Fatalf("stats %+v", st)
	}
	count, first, last, _, _ = db.JournalStats()
	if count != 0 || first != 0 || last != 15 {
		t.Fatalf("empty journal stats %d %d..%d", count, first, last)
	}
	// Pruned records stay pruned and sequences are not reused.
	db.MustReopen()
	if rs, err := db.Readings(0, 100); err != nil || len(rs) != 0 {
		t.Fatalf("pruned records came back: %v %v", rs, err)
	}
	if seq, err := db.Append(t.Context(), reading(16)); err != nil || seq != 16 {
		t.Fatalf("seq after full prune = %d, %v", seq, err)
	}
}

func TestRetentionByAgeWithoutConsumers(t *testing.T) {
	clk := newClock()
	db := storetest.MustOpen(t, store.Options{MaxAge: time.Minute, Now: clk.Now})
	appendBurst(t, db, 1, 5, 0)
	clk.Advance(time.Minute + 1)
	if p, err := db.Prune(t.Context()); err != nil || p.ByAge != 5 {
		t.Fatalf("prune = %+v, %v", p, err)
	}
}

// TestRetentionBySize fills a database capped at 256 KiB well past the cap:
// the oldest records must be evicted (even though a consumer has not passed
// them), the file must stay under the cap, and every eviction must be counted
// and logged, without any device key in the log.
func TestRetentionBySize(t *testing.T) {
	const maxSize = 256 << 10
	var logs lockedBuffer
	db := storetest.MustOpen(t, store.Options{MaxSize: maxSize, Logger: newTextLogger(&logs)})
	if err := db.PutDevice(secureDevice()); err != nil {
		t.Fatal(err)
	}
	if err := db.SetCursor("ocs", 0); err != nil { // has passed nothing
		t.Fatal(err)
	}
	hard, high, low := store.Limits(db.DB)
	t.Logf("limits: hard %d, high %d, low %d", hard, high, low)

	const bursts, per, payload = 12, 250, 128
	for b := range bursts {
		appendBurst(t, db, b*per+1, per, payload)
		fi, err := os.Stat(db.Path())
		if err != nil {
			t.Fatal(err)
		}
		if fi.Size() > maxSize {
			t.Fatalf("after burst %d the file is %d bytes, cap %d", b, fi.Size(), maxSize)
		}
	}
	st := db.Stats()
	count, first, last, _, err := db.JournalStats()
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("stats %+v; journal %d records %d..%d", st, count, first, last)
	if st.EvictedBySize == 0 || first <= 1 || last != bursts*per || count+st.EvictedBySize != bursts*per {
		t.Fatalf("evicted %d, journal %d records %d..%d: want oldest evicted and count+evicted = %d",
			st.EvictedBySize, count, first, last, bursts*per)
	}
	if st.EvictedByAge != 0 {
		t.Fatalf("evicted by age %d with no MaxAge", st.EvictedByAge)
	}
	// The survivors are the newest, intact.
	rs, err := db.Readings(first, 1)
	if err != nil || len(rs) != 1 || payloadIndex(rs[0]) != int(first) || len(rs[0].Payload) != payload {
		t.Fatalf("first surviving reading %+v, %v", rs, err)
	}

	out := logs.String()
	var lines []string
	for _, l := range strings.Split(out, "\n") {
		if strings.Contains(l, "deleted by retention") {
			lines = append(lines, l)
		}
	}
	if len(lines) == 0 {
		t.Fatalf("no retention line logged:\n%s", out)
	}
	for _, l := range lines {
		for _, want := range []string{"level=WARN", "by_size=", "unconsumed=", "first_seq=", "last_seq=", "max_size=262144"} {
			if !strings.Contains(l, want) {
				t.Fatalf("retention line lacks %q: %s", want, l)
			}
		}
	}
	if !strings.Contains(lines[0], "first_seq=1 ") {
		t.Fatalf("first eviction should start at seq 1: %s", lines[0])
	}
	assertNoKey(t, "store log", out, secretKey)

	// A Prune pass after the fact finds the journal within budget.
	if p, err := db.Prune(context.Background()); err != nil || p.BySize != 0 {
		t.Fatalf("prune = %+v, %v", p, err)
	}
	db.MustReopen()
	if c2, f2, l2, _, _ := db.JournalStats(); c2 != count || f2 != first || l2 != last {
		t.Fatalf("after reopen journal %d %d..%d, want %d %d..%d", c2, f2, l2, count, first, last)
	}
}

// TestSizeCapFull fills the cap with settings (which are never evicted):
// the journal is emptied first, then writes fail with ErrFull, the file stays
// under the cap, and the database stays usable. (Values are kept under a
// quarter page: see Options.MaxSize on values that need overflow pages.)
func TestSizeCapFull(t *testing.T) {
	opts := store.Options{MaxSize: store.MinMaxSize}
	var hold atomic.Pointer[chan struct{}] // when set, the committer waits on it once
	store.SetBeforeCommit(&opts, func() {
		if ch := hold.Swap(nil); ch != nil {
			<-*ch
		}
	})
	db := storetest.MustOpen(t, opts)
	appendBurst(t, db, 1, 50, 0)
	big := make([]byte, 1000)
	var full error
	n := 0 // settings written; 16 at a time so they share commits
	for full == nil && n < 1000 {
		var wg sync.WaitGroup
		errs := make([]error, 16)
		for i := range errs {
			wg.Add(1)
			go func() {
				defer wg.Done()
				errs[i] = db.PutSetting(fmt.Sprintf("blob%04d", n+i), big)
			}()
		}
		wg.Wait()
		for _, err := range errs {
			if err != nil {
				full = err
				break
			}
		}
		n += len(errs)
	}
	if !errors.Is(full, store.ErrFull) {
		t.Fatalf("after %d settings: %v, want ErrFull", n, full)
	}
	if !strings.HasPrefix(full.Error(), "store: put setting: ") {
		t.Fatalf("error %q lacks the operation", full)
	}
	if st := db.Stats(); st.EvictedBySize != 50 {
		t.Fatalf("the journal should have been emptied first: %+v", st)
	}
	if fi, _ := os.Stat(db.Path()); fi.Size() > store.MinMaxSize {
		t.Fatalf("file %d bytes, cap %d", fi.Size(), store.MinMaxSize)
	}
	// Still usable: reads work, and a deletion queued in the same batch as
	// a write that no longer fits goes through while the write fails.
	if _, err := db.Setting("blob0000"); err != nil {
		t.Fatal(err)
	}
	for i := 1; i <= 10; i++ { // make a little room
		if err := db.DeleteSetting(fmt.Sprintf("blob%04d", i)); err != nil {
			t.Fatal(err)
		}
	}
	gate := make(chan struct{})
	hold.Store(&gate)
	errs := make(chan error, 3)
	go func() { errs <- db.PutSetting("zz-first", nil) }() // the write the committer holds
	waitFor(t, "committer held", func() bool { return hold.Load() == nil })
	go func() { errs <- db.PutSetting("zz-big", make([]byte, 64<<10)) }()
	go func() { errs <- db.DeleteSetting("blob0000") }()
	waitFor(t, "two more queued", func() bool { return db.Stats().Queued == 2 })
	close(gate)
	var fullErrs, oks int
	for range 3 {
		switch err := <-errs; {
		case err == nil:
			oks++
		case errors.Is(err, store.ErrFull):
			fullErrs++
		default:
			t.Fatal(err)
		}
	}
	if fullErrs != 1 || oks != 2 {
		t.Fatalf("%d ErrFull, %d ok: want only the big put refused", fullErrs, oks)
	}
	if _, err := db.Setting("zz-first"); err != nil {
		t.Fatalf("small write in a batch with a refused one: %v", err)
	}
	if _, err := db.Setting("blob0000"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("delete in a full batch was not applied: %v", err)
	}
	for i := range n {
		if err := db.DeleteSetting(fmt.Sprintf("blob%04d", i)); err != nil && !errors.Is(err, store.ErrNotFound) {
			t.Fatal(err)
		}
	}
	if _, err := db.Append(t.Context(), reading(1)); err != nil {
		t.Fatalf("append after freeing room: %v", err)
	}
}

// TestPeriodicPrune lets the committer's own retention pass do the work.
func TestPeriodicPrune(t *testing.T) {
	clk := newClock()
	var logs lockedBuffer
	db := storetest.MustOpen(t, store.Options{MaxAge: time.Hour, Now: clk.Now, PruneInterval: 5 * time.Millisecond, Logger: newTextLogger(&logs)})
	appendBurst(t, db, 1, 5, 0)
	clk.Advance(2 * time.Hour)
	waitFor(t, "the periodic pass", func() bool { return db.Stats().EvictedByAge == 5 })
	// The pass counts its deletions, then logs them: wait for the line.
	waitFor(t, "the periodic pass's log line", func() bool { return strings.Contains(logs.String(), "trigger=periodic") })
}
