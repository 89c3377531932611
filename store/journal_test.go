package store_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/edgegate/edgegate/store"
	"github.com/edgegate/edgegate/store/storetest"
)

// reading returns a reading whose payload encodes i, so tests can match
// what they appended with what they read back.
func reading(i int) store.Reading {
	p := make([]byte, 32)
	binary.BigEndian.PutUint64(p, uint64(i))
	return store.Reading{
		Device: store.DeviceID{Type: 1, Module: uint32(i % 7)},
		SID:    uint16(i), MessageID: uint8(i), DataType: 3, Flags: 0x80,
		Payload: p, Link: "udp:127.0.0.1:5000", RSSI: -70.5, SNR: 9.25,
	}
}

func payloadIndex(r store.Reading) int { return int(binary.BigEndian.Uint64(r.Payload)) }

// waitFor polls cond (the store's own state, not a timer) until it holds.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

// TestGroupCommit holds the committer on its first batch until all 200
// concurrent Appends are queued: they must then share one transaction and
// one fsync, get distinct sequences, and survive a reopen.
func TestGroupCommit(t *testing.T) {
	const n = 200
	release := make(chan struct{})
	var once sync.Once
	var opts store.Options
	store.SetBeforeCommit(&opts, func() { once.Do(func() { <-release }) })
	var onCommitWrites atomic.Int64
	opts.OnCommit = func(records int, d time.Duration) {
		onCommitWrites.Add(int64(records))
		if d <= 0 {
			t.Errorf("OnCommit latency %v", d)
		}
	}
	db := storetest.MustOpen(t, opts)
	before := db.Stats()

	seqs := make([]uint64, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			seq, err := db.Append(t.Context(), reading(i))
			if err != nil {
				t.Errorf("append %d: %v", i, err)
			}
			seqs[i] = seq
		}()
	}
	waitFor(t, "199 queued appends", func() bool { return db.Stats().Queued == n-1 })
	close(release)
	wg.Wait()

	st := db.Stats()
	commits, fsyncs := st.Commits-before.Commits, st.Fsyncs-before.Fsyncs
	t.Logf("%d appends: %d commits, %d fsyncs", st.Appends, commits, fsyncs)
	if st.Appends != n || commits != 1 || fsyncs != 1 || onCommitWrites.Load() != n {
		t.Fatalf("stats %+v (commits %d, fsyncs %d, OnCommit saw %d): want %d appends in 1 commit",
			st, commits, fsyncs, onCommitWrites.Load(), n)
	}
	bySeq := make(map[uint64]int, n)
	for i, s := range seqs {
		if s < 1 || s > n {
			t.Fatalf("append %d got seq %d outside 1..%d", i, s, n)
		}
		if j, dup := bySeq[s]; dup {
			t.Fatalf("appends %d and %d share seq %d", i, j, s)
		}
		bySeq[s] = i
	}

	db.MustReopen()
	rs, err := db.Readings(0, 1000)
	if err != nil {
		t.Fatal(err)
	}
	if len(rs) != n {
		t.Fatalf("after reopen: %d readings, want %d", len(rs), n)
	}
	for _, r := range rs {
		i, ok := bySeq[r.Seq]
		if !ok || payloadIndex(r) != i || r.SID != uint16(i) || r.Link != "udp:127.0.0.1:5000" || r.RSSI != -70.5 {
			t.Fatalf("seq %d holds %+v, want append %d", r.Seq, r, i)
		}
	}
}

// TestGroupCommitBurst checks batching without any hook: a burst of
// AppendAsync calls queued faster than one fsync must commit in batches
// bounded by MaxBatch.
func TestGroupCommitBurst(t *testing.T) {
	const n = 200
	release := make(chan struct{})
	var once sync.Once
	opts := store.Options{MaxBatch: 64}
	store.SetBeforeCommit(&opts, func() { once.Do(func() { <-release }) })
	db := storetest.MustOpen(t, opts)
	before := db.Stats()
	var wg sync.WaitGroup
	var mu sync.Mutex
	var order []uint64
	for i := range n {
		wg.Add(1)
		db.AppendAsync(reading(i), func(seq uint64, err error) {
			defer wg.Done()
			if err != nil {
				t.Errorf("append %d: %v", i, err)
			}
			mu.Lock()
			order = append(order, seq)
			mu.Unlock()
		})
	}
	close(release)
	wg.Wait()
	st := db.Stats()
	commits := st.Commits - before.Commits
	// 200 queued writes in batches of at most 64: exactly 4 commits.
	if st.Appends != n || commits != 4 {
		t.Fatalf("%d appends in %d commits, want %d in 4", st.Appends, commits, n)
	}
	for i, s := range order {
		if s != uint64(i+1) {
			t.Fatalf("callback %d got seq %d: callbacks must come in queue order", i, s)
		}
	}
}

func TestAppendAsyncRejectsSynchronously(t *testing.T) {
	db := storetest.MustOpen(t, store.Options{})
	called := false
	r := reading(1)
	r.Payload = make([]byte, store.MaxPayload+1)
	db.AppendAsync(r, func(seq uint64, err error) {
		called = true
		if seq != 0 || !errors.Is(err, store.ErrInvalid) {
			t.Errorf("got %d, %v; want ErrInvalid", seq, err)
		}
	})
	if !called {
		t.Fatal("done not called before AppendAsync returned for an invalid reading")
	}
	db.AppendAsync(reading(2), nil) // nil done is allowed
	db.MustReopen()
	if count, _, _, _, err := db.JournalStats(); err != nil || count != 1 {
		t.Fatalf("journal count %d, %v; want 1", count, err)
	}
}

func TestAppendContext(t *testing.T) {
	db := storetest.MustOpen(t, store.Options{})
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if _, err := db.Append(ctx, reading(1)); !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
	if count, _, last, _, _ := db.JournalStats(); count != 0 || last != 0 {
		t.Fatalf("a reading with a cancelled context was written (count %d, last %d)", count, last)
	}
}

func TestAppendFillsTime(t *testing.T) {
	clk := newClock()
	db := storetest.MustOpen(t, store.Options{Now: clk.Now})
	seq, err := db.Append(t.Context(), reading(1))
	if err != nil {
		t.Fatal(err)
	}
	explicit := reading(2)
	explicit.Time = time.Date(2020, 5, 6, 7, 8, 9, 10, time.UTC)
	explicit.Seq = 999 // ignored
	seq2, err := db.Append(t.Context(), explicit)
	if err != nil {
		t.Fatal(err)
	}
	if seq != 1 || seq2 != 2 {
		t.Fatalf("seqs %d, %d", seq, seq2)
	}
	rs, err := db.Readings(1, 10)
	if err != nil || len(rs) != 2 {
		t.Fatalf("%v %v", rs, err)
	}
	if !rs[0].Time.Equal(clk.Now()) || !rs[1].Time.Equal(explicit.Time) {
		t.Fatalf("times %v %v", rs[0].Time, rs[1].Time)
	}
}

func TestReaders(t *testing.T) {
	clk := newClock()
	db := storetest.MustOpen(t, store.Options{Now: clk.Now})
	if count, first, last, oldest, err := db.JournalStats(); err != nil || count != 0 || first != 0 || last != 0 || !oldest.IsZero() {
		t.Fatalf("empty journal stats: %d %d %d %v %v", count, first, last, oldest, err)
	}
	start := clk.Now()
	for i := range 30 {
		if _, err := db.Append(t.Context(), reading(i)); err != nil {
			t.Fatal(err)
		}
		clk.Advance(time.Second)
	}
	count, first, last, oldest, err := db.JournalStats()
	if err != nil || count != 30 || first != 1 || last != 30 || !oldest.Equal(start) {
		t.Fatalf("stats: %d %d %d %v %v", count, first, last, oldest, err)
	}
	rs, err := db.Readings(11, 5)
	if err != nil || len(rs) != 5 || rs[0].Seq != 11 || rs[4].Seq != 15 || payloadIndex(rs[0]) != 10 {
		t.Fatalf("Readings(11, 5) = %v, %v", rs, err)
	}
	if rs, err := db.Readings(31, 5); err != nil || len(rs) != 0 {
		t.Fatalf("Readings past the end = %v, %v", rs, err)
	}
	if _, err := db.Readings(1, 0); !errors.Is(err, store.ErrInvalid) {
		t.Fatalf("limit 0: %v", err)
	}
	// Device 1:3 got i = 3, 10, 17, 24.
	dev := store.DeviceID{Type: 1, Module: 3}
	rs, err = db.LastReadings(dev, 3)
	if err != nil || len(rs) != 3 {
		t.Fatalf("LastReadings = %v, %v", rs, err)
	}
	for k, want := range []int{10, 17, 24} {
		if payloadIndex(rs[k]) != want || rs[k].Device != dev {
			t.Fatalf("LastReadings[%d] = %+v, want reading %d", k, rs[k], want)
		}
	}
	if rs, err := db.LastReadings(store.DeviceID{Type: 9, Module: 9}, 3); err != nil || len(rs) != 0 {
		t.Fatalf("unknown device: %v %v", rs, err)
	}
}

// TestCloseWithAppendsInFlight queues appends behind a held committer, starts
// Close, then lets the committer go: every accepted append must get its seq
// and be durable; appends after Close get ErrClosed.
func TestCloseWithAppendsInFlight(t *testing.T) {
	const n = 50
	release := make(chan struct{})
	var once sync.Once
	var opts store.Options
	store.SetBeforeCommit(&opts, func() { once.Do(func() { <-release }) })
	db := storetest.MustOpen(t, opts)

	seqs := make([]uint64, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			seqs[i], errs[i] = db.Append(context.Background(), reading(i))
		}()
	}
	waitFor(t, "queued appends", func() bool { return db.Stats().Queued == n-1 })
	closed := make(chan error, 1)
	go func() { closed <- db.Close() }()
	waitFor(t, "Close to begin", func() bool { return store.Closing(db.DB) })
	if _, err := db.Append(context.Background(), reading(999)); !errors.Is(err, store.ErrClosed) {
		t.Fatalf("append during Close: %v, want ErrClosed", err)
	}
	close(release)
	if err := <-closed; err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	for i := range n {
		if errs[i] != nil || seqs[i] == 0 {
			t.Fatalf("accepted append %d: seq %d, err %v", i, seqs[i], errs[i])
		}
	}
	if _, err := db.Append(context.Background(), reading(1000)); !errors.Is(err, store.ErrClosed) {
		t.Fatalf("append after Close: %v, want ErrClosed", err)
	}
	var asyncErr error
	db.AppendAsync(reading(1001), func(_ uint64, err error) { asyncErr = err })
	if !errors.Is(asyncErr, store.ErrClosed) {
		t.Fatalf("AppendAsync after Close: %v, want ErrClosed", asyncErr)
	}
	for _, f := range []func() error{
		func() error { _, err := db.Readings(0, 1); return err },
		func() error { return db.PutSetting("k", nil) },
		func() error { _, err := db.Prune(context.Background()); return err },
		func() error { _, err := db.GetDevice(1, 1); return err },
	} {
		if err := f(); !errors.Is(err, store.ErrClosed) {
			t.Fatalf("call after Close: %v, want ErrClosed", err)
		}
	}
	if err := db.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}

	db.MustReopen()
	rs, err := db.Readings(0, 1000)
	if err != nil || len(rs) != n {
		t.Fatalf("after reopen: %d readings, %v; want %d", len(rs), err, n)
	}
	for _, r := range rs {
		if seqs[payloadIndex(r)] != r.Seq {
			t.Fatalf("seq %d holds reading %d which was told seq %d", r.Seq, payloadIndex(r), seqs[payloadIndex(r)])
		}
	}
}

// TestCloseRacingAppends lets writers race Close with no hook: each append
// either gets a seq (and is durable) or ErrClosed, never anything else.
func TestCloseRacingAppends(t *testing.T) {
	db := storetest.MustOpen(t, store.Options{})
	const writers = 8
	var mu sync.Mutex
	got := map[int]uint64{} // reading index -> seq
	var next atomic.Int64
	var wg sync.WaitGroup
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1))
				var seq uint64
				var err error
				if w%2 == 0 {
					seq, err = db.Append(context.Background(), reading(i))
				} else {
					ch := make(chan error, 1)
					db.AppendAsync(reading(i), func(s uint64, e error) { seq = s; ch <- e })
					err = <-ch
				}
				if errors.Is(err, store.ErrClosed) {
					return
				}
				if err != nil || seq == 0 {
					t.Errorf("append %d: seq %d, %v", i, seq, err)
					return
				}
				mu.Lock()
				got[i] = seq
				mu.Unlock()
			}
		}()
	}
	waitFor(t, "some appends", func() bool { return db.Stats().Appends >= 40 })
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	db.MustReopen()
	rs, err := db.Readings(0, 100000)
	if err != nil {
		t.Fatal(err)
	}
	if len(rs) != len(got) {
		t.Fatalf("%d readings durable, %d acknowledged", len(rs), len(got))
	}
	for _, r := range rs {
		if got[payloadIndex(r)] != r.Seq {
			t.Fatalf("seq %d: reading %d was acknowledged with seq %d", r.Seq, payloadIndex(r), got[payloadIndex(r)])
		}
	}
	t.Logf("%d appends acknowledged before Close", len(got))
}

func TestMaxDelayBatches(t *testing.T) {
	// With a linger the committer waits for a full batch when writes keep coming.
	db := storetest.MustOpen(t, store.Options{MaxBatch: 10, MaxDelay: time.Minute})
	before := db.Stats()
	var wg sync.WaitGroup
	for i := range 20 {
		wg.Add(1)
		db.AppendAsync(reading(i), func(_ uint64, err error) {
			defer wg.Done()
			if err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait() // would take a minute if MaxBatch did not cut the linger short
	if c := db.Stats().Commits - before.Commits; c != 2 {
		t.Fatalf("%d commits, want 2 full batches of 10", c)
	}
}

func ExampleDB_AppendAsync() {
	dir, err := os.MkdirTemp("", "edgegate-example")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer os.RemoveAll(dir)
	db, err := store.Open(filepath.Join(dir, "edgegate.db"), store.Options{})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer db.Close()

	// The protocol engine hands readings to the store and acknowledges each
	// sensor from its own goroutine once the reading is durable; the
	// callback only passes the result on and never blocks.
	acks := make(chan uint64, 64)
	for i := range 3 {
		r := store.Reading{Device: store.DeviceID{Type: 1, Module: 4242}, SID: uint16(i), Payload: []byte{byte(i)}}
		db.AppendAsync(r, func(seq uint64, err error) {
			if err != nil {
				seq = 0 // no ACK: the sensor will retransmit
			}
			acks <- seq
		})
	}
	for range 3 {
		fmt.Println("ack seq", <-acks)
	}
	// Output:
	// ack seq 1
	// ack seq 2
	// ack seq 3
}

// TestReadingsOwnTheirBytes: the readings of one scan share payload blocks
// and link strings, and still behave as if each had its own: every payload
// and link reads back as appended, writing into one payload or appending to
// it leaves its neighbours as they were, and payloads larger than a block
// are copied whole.
func TestReadingsOwnTheirBytes(t *testing.T) {
	db := storetest.MustOpen(t, store.Options{})
	var want []store.Reading
	for i := range 300 {
		size := i % 40
		if i%97 == 5 {
			size = 9000 // bigger than a shared block's share
		}
		p := bytes.Repeat([]byte{byte(i)}, size)
		r := store.Reading{Device: store.DeviceID{Type: 1, Module: uint32(i % 3)}, DataType: 1, Payload: p,
			Link: fmt.Sprintf("10.0.0.%d:4700", i%3), Time: time.Unix(int64(i), 0).UTC()}
		if _, err := db.Append(t.Context(), r); err != nil {
			t.Fatal(err)
		}
		want = append(want, r)
	}
	got, err := db.Readings(1, 1000)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(want) {
		t.Fatalf("%d readings, want %d", len(got), len(want))
	}
	for i := range got {
		if len(got[i].Payload) > 0 {
			got[i].Payload[0] ^= 0xff
			got[i].Payload = append(got[i].Payload, 0xee, 0xee)
		}
	}
	for i, r := range got {
		p := want[i].Payload
		if len(p) > 0 {
			p = append([]byte{p[0] ^ 0xff}, p[1:]...)
			p = append(p, 0xee, 0xee)
		}
		if !bytes.Equal(r.Payload, p) {
			t.Fatalf("reading %d: payload %x, want %x", i, r.Payload, p)
		}
		if r.Link != want[i].Link || r.Device != want[i].Device || !r.Time.Equal(want[i].Time) {
			t.Fatalf("reading %d: %+v, want %+v", i, r, want[i])
		}
	}
}

// TestAppendReadings: readings are appended after what dst holds, up to
// limit of them, into dst's spare room when it has some; a bad limit
// returns dst as it was.
func TestAppendReadings(t *testing.T) {
	db := storetest.MustOpen(t, store.Options{})
	for i := range 10 {
		if _, err := db.Append(t.Context(), store.Reading{Device: store.DeviceID{Type: 1, Module: 1}, Payload: []byte{byte(i)}}); err != nil {
			t.Fatal(err)
		}
	}
	buf := make([]store.Reading, 1, 16)
	buf[0].Seq = 99 // what the caller already held
	got, err := db.AppendReadings(buf, 4, 5)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 6 || got[0].Seq != 99 || &got[0] != &buf[0] {
		t.Fatalf("got %d readings (first seq %d), want the held one and 5 more in buf's room", len(got), got[0].Seq)
	}
	for i, r := range got[1:] {
		if want := uint64(4 + i); r.Seq != want || r.Payload[0] != byte(want-1) {
			t.Fatalf("reading %d: seq %d payload %x, want seq %d", i, r.Seq, r.Payload, want)
		}
	}
	if got, err := db.AppendReadings(buf, 8, 100); err != nil || len(got) != 4 || got[3].Seq != 10 {
		t.Fatalf("to the end: %d readings, %v; want the held one and seqs 8–10", len(got), err)
	}
	if got, err := db.AppendReadings(buf, 11, 5); err != nil || len(got) != 1 {
		t.Fatalf("past the end: %d readings, %v; want dst unchanged", len(got), err)
	}
	if got, err := db.AppendReadings(buf, 1, 0); !errors.Is(err, store.ErrInvalid) || len(got) != 1 {
		t.Fatalf("limit 0: %d readings, %v; want dst unchanged and ErrInvalid", len(got), err)
	}
}
