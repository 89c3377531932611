package ocs

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// to0Scheduler is a To0Scheduler's POST /v1/to0/devices with the
// reference's answers: 400 for null guids, 200 otherwise.
type to0Scheduler struct {
	mu   sync.Mutex
	reqs []To0Request
	hit  chan struct{}
}

func (s *to0Scheduler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != "POST" || r.URL.Path != "/v1/to0/devices" {
		w.WriteHeader(404)
		return
	}
	b, _ := io.ReadAll(r.Body)
	var req struct {
		GUIDs       *[]string `json:"guids"`
		WaitSeconds string    `json:"waitSeconds"`
	}
	if err := json.Unmarshal(b, &req); err != nil || req.GUIDs == nil {
		w.WriteHeader(400)
		return
	}
	s.mu.Lock()
	s.reqs = append(s.reqs, To0Request{GUIDs: *req.GUIDs, WaitSeconds: req.WaitSeconds})
	s.mu.Unlock()
	w.Header().Set("Content-Type", "application/json;charset=UTF-8")
	select {
	case s.hit <- struct{}{}:
	default:
	}
}

// voucherFor is the test voucher with oh.g and the number of en entries
// replaced.
func voucherFor(t *testing.T, g string, entries bool) []byte {
	v := string(readTestdata(t, "voucher.json"))
	v = strings.Replace(v, "H64U+97KQFqr3bJTkbnZMg==", g, 1)
	if !entries {
		v = v[:strings.Index(v, `,"en":`)] + `,"en":[]}`
	}
	return []byte(v)
}

func TestTo0Candidates(t *testing.T) {
	c, st, _ := newTestServer(t, ServerOptions{})
	ctx := context.Background()
	now := time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)
	ws := func(n int) *int { return &n }
	ts := func(t time.Time) *string { s := FormatTimestamp(t); return &s }
	bad := "2024-05-01T10:00:00Z"
	devices := []struct {
		g      string // base64 oh.g
		id     string
		en     bool
		state  *DeviceState
		due    bool
		broken bool
	}{
		{"AAAAAAAAAAAAAAAAAAAAAQ==", "00000000-0000-0000-0000-000000000001", true, nil, true, false},
		{"AAAAAAAAAAAAAAAAAAAAAg==", "00000000-0000-0000-0000-000000000002", false, nil, false, false},
		{"AAAAAAAAAAAAAAAAAAAAAw==", "00000000-0000-0000-0000-000000000003", true,
			&DeviceState{To0Timestamp: ts(now.Add(-time.Hour)), To0Ws: ws(7200)}, false, false},
		{"AAAAAAAAAAAAAAAAAAAABA==", "00000000-0000-0000-0000-000000000004", true,
			&DeviceState{To0Timestamp: ts(now.Add(-3 * time.Hour)), To0Ws: ws(7200)}, true, false},
		{"AAAAAAAAAAAAAAAAAAAABQ==", "00000000-0000-0000-0000-000000000005", true,
			&DeviceState{To2State: func() *string { s := "to2end"; return &s }()}, true, false},
		{"AAAAAAAAAAAAAAAAAAAABg==", "00000000-0000-0000-0000-000000000006", true,
			&DeviceState{To0Timestamp: &bad, To0Ws: ws(7200)}, false, true},
	}
	for _, d := range devices {
		if err := c.PostVoucher(ctx, voucherFor(t, d.g, d.en)); err != nil {
			t.Fatal(err)
		}
		if d.state != nil {
			if err := c.PostState(ctx, d.id, *d.state); err != nil {
				t.Fatal(err)
			}
		}
	}
	// A device directory whose voucher names another GUID is not a candidate.
	if err := st.PutVoucher("00000000-0000-0000-0000-000000000009", voucherFor(t, "AAAAAAAAAAAAAAAAAAAAAQ==", true)); err != nil {
		t.Fatal(err)
	}
	due, broken, err := st.To0Candidates(now)
	if err != nil {
		t.Fatal(err)
	}
	var want []string
	for _, d := range devices {
		if d.due {
			want = append(want, d.id)
		}
	}
	if !slices.Equal(due, want) {
		t.Errorf("due %v, want %v", due, want)
	}
	if len(broken) != 1 || !strings.Contains(broken[0].Error(), "000000000006") {
		t.Errorf("broken %v", broken)
	}

	// The loop sends the due devices to the To0Scheduler, with waitSeconds
	// as a string, every interval.
	sched := &to0Scheduler{hit: make(chan struct{}, 1)}
	hs := httptest.NewServer(sched)
	defer hs.Close()
	lctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() {
		done <- RunTo0(lctx, st, To0Options{Scheduler: NewClient(hs.Client(), hs.URL), Interval: 20 * time.Millisecond,
			FirstDelay: time.Millisecond, Now: func() time.Time { return now }})
	}()
	for range 2 {
		select {
		case <-sched.hit:
		case <-time.After(5 * time.Second):
			t.Fatal("no TO0 request")
		}
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	sched.mu.Lock()
	defer sched.mu.Unlock()
	if len(sched.reqs) < 2 || !slices.Equal(sched.reqs[0].GUIDs, want) || sched.reqs[0].WaitSeconds != "7200" {
		t.Errorf("requests %+v", sched.reqs)
	}
}
