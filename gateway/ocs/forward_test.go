package ocs

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"

	"github.com/edgegate/edgegate/gateway/things"
	"github.com/edgegate/edgegate/store"
	"github.com/edgegate/edgegate/store/storetest"
)

const testGW = "9b2f6c1e-8f0a-4c3e-9d61-5a7b2c4e8f10"

type testBinding struct{}

func (testBinding) DeviceID(dev store.DeviceID) string {
	return fmt.Sprintf("dev-%d-%d", dev.Type, dev.Module)
}
func (testBinding) ThingDeviceID(id string) string { return "thing-" + id }
func (testBinding) Decode(dev store.DeviceID, dt uint16, p []byte) []things.PropertyValue {
	return []things.PropertyValue{{Name: "len", Value: things.IntValue(int64(len(p)))}}
}

// fault decides the answer to a POST: 0 passes it to the OCS.
type fault func(path string, body []byte) int

// fwdRig is a gateway store with a forwarder's dependencies and an OCS
// server (on its own store) behind a handler that can inject failures.
type fwdRig struct {
	t      *testing.T
	db     *storetest.DB
	ocs    *Store
	hs     *httptest.Server
	fault  atomic.Pointer[fault]
	posts  atomic.Int64 // POSTs that reached the OCS and got 200
	active atomic.Int32 // requests the OCS is handling
	seq    uint64
}

func newFwdRig(t *testing.T) *fwdRig {
	t.Helper()
	r := &fwdRig{t: t, db: storetest.MustOpen(t, store.Options{})}
	var err error
	if r.ocs, err = OpenStore(filepath.Join(t.TempDir(), "ocsd.db")); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.ocs.Close() })
	srv := NewServer(r.ocs, ServerOptions{})
	r.hs = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		r.active.Add(1)
		defer r.active.Add(-1)
		body, _ := io.ReadAll(req.Body)
		if f := r.fault.Load(); f != nil && req.Method == "POST" {
			if code := (*f)(req.URL.Path, body); code != 0 {
				w.WriteHeader(code)
				_, _ = w.Write([]byte("refused: " + http.StatusText(code)))
				return
			}
		}
		req.Body = io.NopCloser(bytes.NewReader(body))
		rec := &statusRecorder{ResponseWriter: w}
		srv.ServeHTTP(rec, req)
		if req.Method == "POST" && rec.code == 200 {
			r.posts.Add(1)
		}
	}))
	t.Cleanup(r.hs.Close)
	return r
}

type statusRecorder struct {
	http.ResponseWriter
	code int
}

func (s *statusRecorder) WriteHeader(c int) { s.code = c; s.ResponseWriter.WriteHeader(c) }
func (s *statusRecorder) Write(b []byte) (int, error) {
	if s.code == 0 {
		s.code = 200
	}
	return s.ResponseWriter.Write(b)
}

func (r *fwdRig) setFault(f fault) {
	if f == nil {
		r.fault.Store(nil)
		return
	}
	r.fault.Store(&f)
}

// append journals n readings round-robin over devices 1:1..1:devs; the
// payload holds a per-rig counter.
func (r *fwdRig) append(n, devs int) {
	r.t.Helper()
	for i := range n {
		r.seq++
		p := binary.BigEndian.AppendUint64(nil, r.seq)
		_, err := r.db.Append(context.Background(), store.Reading{Device: store.DeviceID{Type: 1, Module: uint32(1 + i%devs)},
			SID: 7, MessageID: uint8(r.seq), DataType: 3, Flags: flagAckReq | flagCached, Payload: p, Link: "udp:127.0.0.1:1", RSSI: -80.5, SNR: 7.25,
			Authenticated: true})
		if err != nil {
			r.t.Fatal(err)
		}
	}
}

func testLog(t testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}

func (r *fwdRig) options() ForwarderOptions {
	return ForwarderOptions{Upstream: NewClient(r.hs.Client(), r.hs.URL), Journal: r.db, KV: r.db.KV("ocs"),
		Binding: testBinding{}, Gateway: testGW, Interval: 5 * time.Millisecond, BackoffMin: 2 * time.Millisecond,
		BackoffMax: 20 * time.Millisecond, Log: testLog(r.t)}
}

// quiesce waits, after a forwarder stopped, until the OCS has finished the
// requests it abandoned: their handlers would otherwise see the next
// phase's fault (or none).
func (r *fwdRig) quiesce() {
	r.t.Helper()
	r.hs.CloseClientConnections()
	eventually(r.t, "the OCS's handlers done", func() bool { return r.active.Load() == 0 })
}

// run starts a forwarder; the returned function stops it.
func (r *fwdRig) run(o ForwarderOptions) (*Forwarder, func()) {
	r.t.Helper()
	f, err := NewForwarder(o)
	if err != nil {
		r.t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		if err := f.Run(ctx); err != nil {
			r.t.Errorf("Run: %v", err)
		}
	}()
	stopped := false
	stop := func() {
		if !stopped {
			stopped = true
			cancel()
			wg.Wait()
		}
	}
	r.t.Cleanup(stop)
	return f, stop
}

func (r *fwdRig) cursor() uint64 {
	c, _ := r.db.Cursor("ocs")
	return c
}

func (r *fwdRig) waitCursor(want uint64) {
	r.t.Helper()
	eventually(r.t, fmt.Sprintf("cursor at %d", want), func() bool { return r.cursor() >= want })
}

func eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// docs returns the reading documents the OCS holds for a device, in the
// order received.
func (r *fwdRig) docs(id string) []ReadingDoc {
	r.t.Helper()
	var out []ReadingDoc
	err := r.ocs.ScanDeviceServiceInfo(id, func(m ModuleMessage) error {
		if m.Module != ModuleOSP || m.Msg != MsgReading {
			return fmt.Errorf("unexpected message %+v", m)
		}
		d, err := ParseReadingDoc(m.Value)
		if err != nil {
			return err
		}
		out = append(out, d)
		return nil
	})
	if err != nil && err != ErrNotFound {
		r.t.Fatal(err)
	}
	return out
}

// checkExactlyOnce checks that, after de-duplication on (gw, seq), the OCS
// holds every journaled reading of the devices once, in journal order per
// device; it returns the number of duplicates.
func (r *fwdRig) checkExactlyOnce(devs int) int {
	r.t.Helper()
	dups, total := 0, 0
	for d := 1; d <= devs; d++ {
		seen := map[uint64]bool{}
		var last uint64
		for _, doc := range r.docs(fmt.Sprintf("dev-1-%d", d)) {
			if doc.Gateway != testGW || doc.Device != fmt.Sprintf("1:%d", d) {
				r.t.Fatalf("document of another source: %+v", doc)
			}
			if seen[doc.Seq] {
				dups++
				continue
			}
			seen[doc.Seq] = true
			if doc.Seq <= last {
				r.t.Errorf("device %d: seq %d after %d", d, doc.Seq, last)
			}
			last = doc.Seq
			if got := binary.BigEndian.Uint64(doc.Payload); got != doc.Seq {
				r.t.Errorf("seq %d carries reading %d", doc.Seq, got)
			}
		}
		total += len(seen)
	}
	if total != int(r.seq) {
		r.t.Errorf("%d distinct readings at the OCS, %d journaled", total, r.seq)
	}
	return dups
}

func TestForwarderDeliversEveryReadingInOrder(t *testing.T) {
	r := newFwdRig(t)
	r.append(1000, 3)
	o := r.options()
	o.BatchSize = 256
	f, _ := r.run(o)
	r.waitCursor(1000)
	if dups := r.checkExactlyOnce(3); dups != 0 {
		t.Errorf("%d duplicates without a failure", dups)
	}
	// The batch size grew from its start (MinBatch*4) to the maximum.
	if s := f.Stats(); s.BatchSize != 256 || s.Forwarded != 1000 || s.QueueDepth != 0 || s.Errors != 0 {
		t.Errorf("stats %+v", s)
	}
	// A document in full.
	d := r.docs("dev-1-1")[0]
	if d.Seq != 1 || d.Boot != 0 || d.Mono != 0 || d.SID != 7 || d.DataType != 3 || !d.Cached || d.Saved || !d.AckReq || !d.Auth ||
		d.Link != "udp:127.0.0.1:1" || d.RSSI != -80.5 || d.SNR != 7.25 || len(d.Values) != 1 || d.Values[0].Name != "len" ||
		strings.ContainsAny(d.Time, "Z+") {
		t.Errorf("document %+v", d)
	}
	// New readings follow at the next look.
	r.append(10, 3)
	r.waitCursor(1010)
	r.checkExactlyOnce(3)
}

// TestForwarderRetriesOnlyWhatFailed: one device's POSTs fail with 503;
// the others are confirmed once, the failing one is retried with backoff
// until it is accepted, and the cursor waits for it.
func TestForwarderRetriesOnlyWhatFailed(t *testing.T) {
	r := newFwdRig(t)
	r.append(90, 3)
	var failing atomic.Bool
	failing.Store(true)
	var refused atomic.Int64
	r.setFault(func(path string, body []byte) int {
		if failing.Load() && strings.Contains(path, "dev-1-2") {
			refused.Add(1)
			return 503
		}
		return 0
	})
	o := r.options()
	o.BatchSize, o.MinBatch = 90, 90
	f, _ := r.run(o)
	eventually(t, "three refusals", func() bool { return refused.Load() >= 3 })
	if c := r.cursor(); c != 0 {
		t.Errorf("cursor moved to %d while a device's POST fails", c)
	}
	if n := r.posts.Load(); n != 2 {
		t.Errorf("%d POSTs confirmed, want the two healthy devices' once", n)
	}
	failing.Store(false)
	r.waitCursor(90)
	if dups := r.checkExactlyOnce(3); dups != 0 {
		t.Errorf("%d duplicates: confirmed POSTs were resent", dups)
	}
	if s := f.Stats(); s.Retries < 3 || s.Errors < 3 || s.LastFailureUnix == 0 || f.LastError() == "" {
		t.Errorf("stats %+v, last error %q", s, f.LastError())
	}
}

func TestForwarderParksClientErrors(t *testing.T) {
	r := newFwdRig(t)
	r.append(60, 3)
	var poison atomic.Bool
	poison.Store(true)
	r.setFault(func(path string, body []byte) int {
		if poison.Load() && strings.Contains(path, "dev-1-3") {
			return 422
		}
		return 0
	})
	o := r.options()
	o.BatchSize, o.MinBatch = 30, 30
	f, _ := r.run(o)
	r.waitCursor(60) // not blocked by the refused device
	if got := len(r.docs("dev-1-1")) + len(r.docs("dev-1-2")); got != 40 {
		t.Errorf("%d readings of the healthy devices, want 40", got)
	}
	dls, err := f.DeadLetters()
	if err != nil || len(dls) != 2 {
		t.Fatalf("dead letters %+v %v", dls, err)
	}
	if dl := dls[0]; dl.Status != 422 || dl.Response != "refused: Unprocessable Entity" || dl.DeviceID != "dev-1-3" ||
		dl.FirstSeq != 3 || dl.LastSeq != 30 || dl.Count != 10 || len(dl.Messages) != 10 || dl.What != "osp 1:3" {
		t.Errorf("dead letter %+v", dl)
	}
	if s := f.Stats(); s.DeadLetters != 2 || s.Parked != 20 {
		t.Errorf("stats %+v", s)
	}
	// The owner fixes the OCS; requeued dead letters are delivered.
	poison.Store(false)
	if n, err := f.Requeue(dls[0].ID); err != nil || n != 1 {
		t.Fatalf("requeue: %d %v", n, err)
	}
	eventually(t, "requeued readings", func() bool { return len(r.docs("dev-1-3")) == 10 })
	if n, err := f.Discard(""); err != nil || n != 1 {
		t.Errorf("discard all: %d %v", n, err)
	}
	if _, err := f.Discard("nope"); err == nil {
		t.Error("discarding an unknown dead letter")
	}
	if s := f.Stats(); s.DeadLetters != 0 {
		t.Errorf("dead letters after requeue and discard: %d", s.DeadLetters)
	}
}

// TestForwarderStopsParkingWhenEverythingIsRefused: an OCS that refuses
// every POST (a wrong URL) stops the queue instead of emptying it into the
// dead-letter list.
func TestForwarderStopsParkingWhenEverythingIsRefused(t *testing.T) {
	r := newFwdRig(t)
	r.append(200, 1)
	r.setFault(func(string, []byte) int { return 404 })
	o := r.options()
	o.BatchSize, o.MinBatch = 8, 8
	f, stop := r.run(o)
	eventually(t, "retries after the park limit", func() bool { return f.Stats().Retries >= 3 })
	stop()
	if s := f.Stats(); s.DeadLetters != parkLimit || r.cursor() != parkLimit*8 {
		t.Errorf("dead letters %d, cursor %d: want %d and %d", s.DeadLetters, r.cursor(), parkLimit, parkLimit*8)
	}
	if !strings.Contains(f.LastError(), "parking stopped") {
		t.Errorf("last error %q", f.LastError())
	}
}

func TestForwarderSplitsTooLargePosts(t *testing.T) {
	r := newFwdRig(t)
	r.append(100, 1)
	var big atomic.Int64
	r.setFault(func(path string, body []byte) int {
		if len(body) > 8000 {
			big.Add(1)
			return 413
		}
		return 0
	})
	o := r.options()
	o.BatchSize, o.MinBatch = 100, 4
	f, _ := r.run(o)
	r.waitCursor(100)
	if dups := r.checkExactlyOnce(1); dups != 0 || big.Load() == 0 {
		t.Errorf("%d duplicates, %d refusals", dups, big.Load())
	}
	if s := f.Stats(); s.BatchSize >= 100 || s.DeadLetters != 0 {
		t.Errorf("stats %+v", s)
	}
}

// TestForwarderResendsAfterRestart: what the OCS confirmed before a stop
// whose cursor write did not happen is sent again (at least once), and
// the cursor survives a reopen of the store.
func TestForwarderResendsAfterRestart(t *testing.T) {
	r := newFwdRig(t)
	r.append(40, 2)
	r.setFault(func(path string, body []byte) int {
		if strings.Contains(path, "dev-1-2") {
			return 500
		}
		return 0
	})
	o := r.options()
	o.BatchSize, o.MinBatch = 40, 40
	_, stop := r.run(o)
	eventually(t, "device 1 confirmed", func() bool { return len(r.docs("dev-1-1")) == 20 })
	stop()
	r.quiesce() // a refused POST abandoned by the stop is refused, not stored
	r.db.MustReopen()
	r.setFault(nil)
	o.Journal, o.KV = r.db, r.db.KV("ocs")
	_, stop = r.run(o)
	r.waitCursor(40)
	if dups := r.checkExactlyOnce(2); dups != 20 {
		t.Errorf("%d duplicates, want device 1's 20 resent", dups)
	}
	if d := r.docs("dev-1-2")[0]; d.Boot != 0 {
		t.Errorf("a reading journaled before the first start has boot %d", d.Boot)
	}
	r.append(2, 2)
	r.waitCursor(42)
	if d := r.docs("dev-1-2"); d[len(d)-1].Boot != 2 || d[len(d)-1].Mono <= 0 || d[len(d)-1].Mono > int64(time.Minute) {
		t.Errorf("a reading after the restart: boot %d, mono %d", d[len(d)-1].Boot, d[len(d)-1].Mono)
	}
	stop() // the forwarder reads r.db, which the reopen replaces
	r.db.MustReopen()
	if c, err := r.db.Cursor("ocs"); err != nil || c != 42 {
		t.Errorf("cursor after reopen %d %v", c, err)
	}
}

// gapJournal hides a range of sequences, as the size cap's eviction does.
type gapJournal struct {
	*storetest.DB
	from, to uint64
}

func (g gapJournal) Readings(from uint64, limit int) ([]store.Reading, error) {
	if from >= g.from && from <= g.to {
		from = g.to + 1
	}
	return g.DB.Readings(from, limit)
}

// lateJournal is a journal whose first read past seq comes back empty while
// readings are committed right after it: what a commit between the
// forwarder's read and its look at the journal's end looks like.
type lateJournal struct {
	*storetest.DB
	rig   *fwdRig
	after uint64
	once  *sync.Once
}

func (j lateJournal) Readings(from uint64, limit int) ([]store.Reading, error) {
	if from > j.after {
		empty := false
		j.once.Do(func() {
			j.rig.append(5, 1)
			empty = true
		})
		if empty {
			return nil, nil
		}
	}
	return j.DB.Readings(from, limit)
}

// TestForwarderLateCommitIsNotLost: readings committed between an empty
// read and the look at the journal's end are forwarded, not taken for
// evicted.
func TestForwarderLateCommitIsNotLost(t *testing.T) {
	r := newFwdRig(t)
	r.append(10, 1)
	o := r.options()
	o.Journal = lateJournal{DB: r.db, rig: r, after: 10, once: new(sync.Once)}
	f, _ := r.run(o)
	r.waitCursor(15)
	if s := f.Stats(); s.Lost != 0 || s.Forwarded != 15 {
		t.Errorf("stats %+v: readings committed late were counted lost", s)
	}
}

func TestForwarderCountsEvictedReadings(t *testing.T) {
	r := newFwdRig(t)
	r.append(30, 1)
	o := r.options()
	o.Journal = gapJournal{r.db, 1, 10}
	f, _ := r.run(o)
	r.waitCursor(30)
	if s := f.Stats(); s.Lost != 10 || s.Forwarded != 20 {
		t.Errorf("stats %+v", s)
	}
}

func TestBackoff(t *testing.T) {
	f := &Forwarder{o: ForwarderOptions{BackoffMin: time.Second, BackoffMax: 30 * time.Second}}
	for _, c := range []struct {
		jitter     float64
		attempt    int
		retryAfter time.Duration
		want       time.Duration
	}{
		{0, 1, 0, 500 * time.Millisecond},
		{0.999999, 1, 0, time.Second},
		{0, 2, 0, time.Second},
		{0, 3, 0, 2 * time.Second},
		{0.5, 4, 0, 6 * time.Second},
		{0, 10, 0, 15 * time.Second},
		{0.999999, 60, 0, 30 * time.Second},
		{0, 1, 7 * time.Second, 7 * time.Second},
		{0, 1, time.Hour, 30 * time.Second},
	} {
		f.o.Jitter = func() float64 { return c.jitter }
		if got := f.backoff(c.attempt, c.retryAfter); got.Round(time.Millisecond) != c.want {
			t.Errorf("backoff(%d, jitter %v, retry-after %v) = %v, want %v", c.attempt, c.jitter, c.retryAfter, got, c.want)
		}
	}
}

// TestForwarderBackoffOnItsClock: with a fake clock, a failing OCS is not
// asked again until the clock passes the backoff.
func TestForwarderBackoffOnItsClock(t *testing.T) {
	r := newFwdRig(t)
	r.append(5, 1)
	var tries atomic.Int64
	r.setFault(func(string, []byte) int { tries.Add(1); return 503 })
	clock := clockwork.NewFakeClock()
	o := r.options()
	o.Clock, o.BackoffMin, o.BackoffMax = clock, 10*time.Second, time.Minute
	o.Jitter = func() float64 { return 0.999999 } // the upper end: 10 s, 20 s, 40 s
	r.run(o)
	for i, wait := range []time.Duration{10 * time.Second, 20 * time.Second, 40 * time.Second} {
		eventually(t, "a try", func() bool { return tries.Load() == int64(i+1) })
		clock.BlockUntil(1)
		clock.Advance(wait - time.Second)
		time.Sleep(20 * time.Millisecond)
		if n := tries.Load(); n != int64(i+1) {
			t.Fatalf("try %d came before its backoff of %v", n, wait)
		}
		clock.Advance(time.Second)
	}
	eventually(t, "the fourth try", func() bool { return tries.Load() == 4 })
	r.setFault(nil)
	clock.BlockUntil(1)
	clock.Advance(time.Minute)
	r.waitCursor(5)
}

func TestNativeThingsForwarded(t *testing.T) {
	r := newFwdRig(t)
	hub := things.New(things.Options{})
	defer hub.Close()
	var down atomic.Bool
	down.Store(true)
	r.setFault(func(string, []byte) int {
		if down.Load() {
			return 503
		}
		return 0
	})
	o := r.options()
	f, err := NewForwarder(o)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	nativeDone := make(chan error, 1)
	go func() { nativeDone <- f.RunNative(ctx, hub) }()
	time.Sleep(20 * time.Millisecond) // let the subscription start
	lamp := things.Thing{ID: "native:lamp-1", Kind: things.KindNative, Name: "lamp",
		Properties: []things.Property{{Name: "on", Type: things.TypeBool}}}
	if _, err := hub.Upsert(lamp); err != nil {
		t.Fatal(err)
	}
	osp := things.OSPThing(1, 1, "sensor", nil)
	if _, err := hub.Upsert(osp); err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		if err := hub.Update(lamp.ID, []things.PropertyValue{{Name: "on", Value: things.BoolValue(i%2 == 0)}}, time.Now()); err != nil {
			t.Fatal(err)
		}
	}
	_ = hub.SetPresent(lamp.ID, true)
	eventually(t, "five outbox entries", func() bool { return f.Stats().Outbox == 5 })
	cancel()
	if err := <-nativeDone; err != nil {
		t.Fatal(err)
	}
	// The outbox is durable: a restart with the OCS back delivers it.
	r.db.MustReopen()
	down.Store(false)
	o.Journal, o.KV = r.db, r.db.KV("ocs")
	f2, _ := r.run(o)
	eventually(t, "native updates at the OCS", func() bool {
		l, _ := r.ocs.DeviceServiceInfo("thing-native:lamp-1")
		return len(l) == 5
	})
	l, _ := r.ocs.DeviceServiceInfo("thing-native:lamp-1")
	var events []string
	var lastSeq uint64
	for i, m := range l {
		var d NativeDoc
		if m.Module != ModuleNative || m.Msg != MsgUpdate || json.Unmarshal([]byte(m.Value), &d) != nil || d.Gateway != testGW || d.Thing != lamp.ID {
			t.Fatalf("message %d: %+v", i, m)
		}
		// The de-duplication key: set, and growing with the outbox.
		if d.Seq <= lastSeq {
			t.Errorf("message %d: seq %d after %d", i, d.Seq, lastSeq)
		}
		lastSeq = d.Seq
		events = append(events, d.Event)
	}
	if got := strings.Join(events, ","); got != "added,changed,changed,changed,presence" {
		t.Errorf("events %s", got)
	}
	if _, err := r.ocs.DeviceServiceInfo("thing-osp:1:1"); err == nil {
		t.Error("an OSP thing went up as a native thing")
	}
	eventually(t, "an empty outbox", func() bool { return f2.Stats().Outbox == 0 })
}

func TestFailureReports(t *testing.T) {
	r := newFwdRig(t)
	clock := clockwork.NewFakeClock()
	o := r.options()
	o.Clock = clock
	f, err := NewForwarder(o)
	if err != nil {
		t.Fatal(err)
	}
	dev := store.DeviceID{Type: 1, Module: 9}
	// Four bad MACs are below the threshold; the fifth is reported; more
	// within the minute are not.
	for range 4 {
		f.ReportFailure(dev, FailureBadMAC, nil)
	}
	f.drainFailures()
	if f.Stats().Outbox != 0 {
		t.Fatal("reported below the threshold")
	}
	for range 10 {
		f.ReportFailure(dev, FailureBadMAC, nil)
	}
	f.ReportFailure(dev, FailureAuth, fmt.Errorf("osp: authentication failed"))
	f.ReportFailure(dev, FailureAuth, fmt.Errorf("osp: authentication failed"))
	f.drainFailures()
	if n := f.Stats().Outbox; n != 2 {
		t.Fatalf("%d reports, want one per kind", n)
	}
	// Two handshake timeouts may be lost packets; the third is reported.
	other := store.DeviceID{Type: 1, Module: 10}
	for range 2 {
		f.ReportFailure(other, FailureHandshakeTimeout, nil)
	}
	f.drainFailures()
	if n := f.Stats().Outbox; n != 2 {
		t.Fatalf("%d reports after two handshake timeouts", n)
	}
	f.ReportFailure(other, FailureHandshakeTimeout, nil)
	f.drainFailures()
	clock.Advance(reportWindow)
	f.ReportFailure(dev, FailureAuth, fmt.Errorf("osp: authentication failed"))
	f.drainFailures()
	if n := f.Stats().Outbox; n != 4 {
		t.Fatalf("%d reports after a minute", n)
	}
	if _, err := f.step(context.Background()); err != nil {
		t.Fatal(err)
	}
	c := NewClient(r.hs.Client(), r.hs.URL)
	st, err := c.State(context.Background(), "dev-1-9")
	if err != nil || st.To2Error == nil || st.To2Error.EC != ECAuthFailed || !strings.Contains(*st.To2Error.EM, "2 since the last report") {
		t.Errorf("state %+v %v", st.To2Error, err)
	}
	if st, err := c.State(context.Background(), "dev-1-10"); err != nil || st.To2Error == nil || st.To2Error.EC != ECHandshakeIncomplete {
		t.Errorf("state %+v %v", st.To2Error, err)
	}
	if s := f.Stats(); s.FailuresReported != 4 || s.Outbox != 0 {
		t.Errorf("stats %+v", s)
	}
}
