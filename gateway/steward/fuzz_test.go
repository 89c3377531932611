package steward

import (
	"encoding/json"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/edgegate/edgegate/gateway/pairing"
	"github.com/edgegate/edgegate/gateway/things"
	"github.com/edgegate/edgegate/store"
	"github.com/edgegate/edgegate/store/storetest"
)

// FuzzDecode: any frame decodes or fails with a package error, never
// panics, and a decoded requestID is non-empty and answers as valid JSON.
func FuzzDecode(f *testing.F) {
	for _, s := range []string{
		`{"path":"/api/v1/pair","requestID":1,"uuid":"01234567-89ab-cdef-0123-4567890abcde"}`,
		`{"path":"/api/v1/thing/pair/testing1","name":"testing1","requestID":1,"pairingCode":"123456"}`,
		`{"path":"/api/v1/thing/hello/1","response":"317728","requestID":2}`,
		`{"requestID":"6","events":{"58213570":{"status":"success"}}}`,
		`{"requestID":1e400}`, `{"requestID":-0}`, `[]`, `{`, `{"a":{"b":[1,{"c":null}]}}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := Decode(b)
		if err != nil {
			if err != ErrInvalidJSON && err != ErrNoRequestID {
				t.Fatalf("unexpected error %v", err)
			}
			return
		}
		if m.RequestID == "" {
			t.Fatal("empty requestID accepted")
		}
		out, err := json.Marshal(Reply{RequestID: m.RequestID, Result: success()})
		if err != nil || !json.Valid(out) {
			t.Fatalf("reply %s: %v", out, err)
		}
		for _, name := range []string{"things", "events", "tasks"} {
			list, _ := m.Entries(name)
			for _, e := range list {
				_, _ = e.String("status", "reason")
				_, _ = e.Object("device")
			}
		}
		if info, ok := m.Entries("info"); ok {
			obj := map[string]json.RawMessage{}
			for _, e := range info {
				obj[e.Key] = e.Raw
			}
			_, _ = values(nil, obj, "", 0, nil)
		}
	})
}

// fakeTransport collects what a session sends.
type fakeTransport struct {
	mu     sync.Mutex
	frames [][]byte
	closed bool
}

func (f *fakeTransport) send(b []byte) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed {
		return errClosing
	}
	f.frames = append(f.frames, b)
	return nil
}
func (f *fakeTransport) close(closeCode, string) { f.mu.Lock(); f.closed = true; f.mu.Unlock() }
func (f *fakeTransport) abort()                  {}
func (f *fakeTransport) remote() string          { return "fuzz" }

// FuzzDispatch feeds frames (one per line) to a session of each
// generation, one authenticated and one not: nothing panics, every reply
// is valid JSON carrying a string requestID, and the session's state is
// dropped at its end.
func FuzzDispatch(f *testing.F) {
	for _, s := range []string{
		nativeProto + "\n" + nativeRegister + "\n" + `{"path":"/api/v1/update","requestID":5,"things":{"x":{"info":{"noise":"1"}}}}`,
		simpleProto + "\n" + simpleRegister,
		`{"path":"/api/v1/thing/pair/a","name":"a","requestID":1}` + "\n" + `{"path":"/api/v1/thing/hello/1","response":"000000","requestID":2}`,
		`{"path":"/api/v1/pair","requestID":1,"uuid":"u"}` + "\n" + `{"path":"/api/v1/hello","requestID":2,"uuid":"u","passCode":"x"}`,
		`{"path":"/api/v1/thing/report","requestID":"6","events":{"1":{"reason":"observe"},"2":{"status":"proceed"},"3":{"error":{}}}}`,
		`{"path":"/api/v1/report","requestID":7,"tasks":{"1":{"status":"success"}}}`,
		`{"requestID":"1","events":{}}`,
	} {
		f.Add(s)
	}
	// One database for the target; each input gets a namespace of its own.
	db := storetest.MustOpen(f, store.Options{Logger: slog.New(slog.DiscardHandler)})
	var inputs atomic.Uint64
	f.Fuzz(func(t *testing.T, in string) {
		win := pairing.New(pairing.Options{})
		win.Open(time.Minute)
		hub := things.New(things.Options{})
		defer hub.Close()
		kv := db.KV("steward-" + strconv.FormatUint(inputs.Add(1), 10))
		st, err := New(Options{Store: kv, Hub: hub, Pairing: win, UUID: "u", ObserveDeclared: true})
		if err != nil {
			t.Fatal(err)
		}
		st.clients["1"] = &client{ID: "1", Name: "c", Generation: Simple, Key: "k"}
		for _, gen := range []Generation{Native, Simple} {
			for _, authed := range []bool{false, true} {
				ft := &fakeTransport{}
				se := st.newSession(ft, gen)
				if authed {
					se.client = "1"
				}
				st.sessions[se] = struct{}{}
				for _, frame := range strings.Split(in, "\n") {
					if !se.handle([]byte(frame)) {
						break
					}
				}
				se.end()
				for _, b := range ft.frames {
					var m map[string]any
					if err := json.Unmarshal(b, &m); err != nil {
						t.Fatalf("invalid reply %s", b)
					}
					if _, ok := m["requestID"].(string); !ok {
						t.Fatalf("requestID not a string: %s", b)
					}
				}
			}
		}
		st.mu.Lock()
		defer st.mu.Unlock()
		if len(st.sids) != 0 || len(st.events) != 0 || len(st.sessions) != 0 {
			t.Fatalf("state left after the sessions ended: %d thingIDs, %d events, %d sessions", len(st.sids), len(st.events), len(st.sessions))
		}
	})
}
