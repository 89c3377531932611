package steward

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
)

func TestFramesThatCloseTheSocket(t *testing.T) {
	r := newRig(t, func(o *Options) { o.Limits.MaxMessageBytes = 2048 })
	for _, tc := range []struct {
		name  string
		frame func(p *peer)
		code  websocket.StatusCode
		stat  func(Stats) uint64
	}{
		{"binary", func(p *peer) {
			_ = p.c.Write(context.Background(), websocket.MessageBinary, []byte(`{"requestID":1}`))
		}, 1003, func(s Stats) uint64 { return s.ClosedBinary }},
		{"invalid JSON", func(p *peer) { p.send(`{"requestID":1,`) }, 1007, func(s Stats) uint64 { return s.ClosedInvalidJSON }},
		{"not an object", func(p *peer) { p.send(`[1]`) }, 1007, func(s Stats) uint64 { return s.ClosedInvalidJSON }},
		{"no requestID", func(p *peer) { p.send(`{"path":"/api/v1/pair","uuid":"x"}`) }, 1008, func(s Stats) uint64 { return s.ClosedNoRequestID }},
		{"empty requestID", func(p *peer) { p.send(`{"path":"/api/v1/pair","requestID":""}`) }, 1008, func(s Stats) uint64 { return s.ClosedNoRequestID }},
		{"no path", func(p *peer) { p.send(`{"requestID":"5"}`) }, 1008, func(s Stats) uint64 { return s.ClosedNoPath }},
		{"too big", func(p *peer) { p.send(`{"requestID":1,"x":"` + strings.Repeat("a", 4096) + `"}`) }, 1009, func(s Stats) uint64 { return s.ClosedTooBig }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := tc.stat(r.st.Stats())
			p := r.dial("/native")
			tc.frame(p)
			if code := p.closed(); code != tc.code {
				t.Errorf("close code %d, want %d", code, tc.code)
			}
			if got := tc.stat(r.st.Stats()); got != before+1 {
				t.Errorf("counter %d, want %d", got, before+1)
			}
		})
	}
	// Unknown paths and paths needing a hello keep the socket.
	p := r.dial("/manage")
	wantError(t, p.call(`{"path":"/api/v1/actor/list","requestID":1}`), false, "unknown api")
	wantError(t, p.call(`{"path":"/api/v1/thing/update","requestID":2,"things":{}}`), false, "unknown api")
	if m := p.call(`{"path":"/api/v1/thing/hello/7","response":"123456","requestID":3}`); m.str("requestID") != "3" {
		t.Errorf("numeric requestID answered as %v", m["requestID"])
	}
}

func TestRateLimit(t *testing.T) {
	r := newRig(t, func(o *Options) { o.Limits.MessageRate, o.Limits.MessageBurst = 1, 3 })
	p := r.dial("/native")
	limited := 0
	for i := range 6 {
		m := p.call(fmt.Sprintf(`{"path":"/api/v1/nothing","requestID":%d}`, i+1))
		if strings.HasPrefix(m.obj("error").str("diagnostic"), "rate limit exceeded") {
			limited++
		}
	}
	if limited < 2 || r.st.Stats().RateLimited == 0 {
		t.Fatalf("limited %d of 6, stats %+v", limited, r.st.Stats())
	}
	for i := range 20 { // keep flooding: closed
		p.send(fmt.Sprintf(`{"path":"/api/v1/nothing","requestID":%d}`, 100+i))
	}
	if code := p.closed(); code != 1008 {
		t.Errorf("flood closed with %d", code)
	}
}

func TestHelloTimeoutAndPing(t *testing.T) {
	r := newRig(t, func(o *Options) { o.Timeouts.Hello = 300 * time.Millisecond })
	p := r.dial("/native")
	if code := p.closed(); code != 1008 {
		t.Errorf("hello timeout closed with %d", code)
	}
	if r.st.Stats().TimedOut != 1 {
		t.Errorf("stats %+v", r.st.Stats())
	}
	r.stop()
	r.start(func(o *Options) { o.Timeouts.Ping, o.Timeouts.Pong = 100*time.Millisecond, 100*time.Millisecond })
	p = r.dial("/native") // never reads: pongs go unanswered
	eventually(t, "ping timeout", func() bool { return r.st.Stats().PingTimeouts > 0 })
	_ = p
}

func TestLimitsAbsenceAndRevoke(t *testing.T) {
	r := newRig(t, func(o *Options) {
		o.Limits.MaxPrototypes, o.Limits.MaxThings = 1, 1
		o.Timeouts.Absent = 300 * time.Millisecond
	})
	r.win.Open(time.Minute)
	pass := nativePair(t, r, "u")
	th := nativeHello(t, r, "u", pass)
	m := th.call(`{"path":"/api/v1/prototype","requestID":3,"things":{"/device/a/b":{"properties":{"v":"celsius"}},"/device/a/c":{"properties":{}}}}`)
	wantEntry(t, m, "things", "/device/a/b", false, "")
	wantEntry(t, m, "things", "/device/a/c", false, "too many prototypes for this client (at most 1)")
	m = th.call(`{"path":"/api/v1/register","requestID":4,"things":{"U1":{"prototype":"/device/a/b","name":"one","info":{"v":1}},"U2":{"prototype":"/device/a/b"},"U3":{"prototype":"/device/a/x"}}}`)
	sid := wantEntry(t, m, "things", "U1", false, "").str("thingID")
	wantEntry(t, m, "things", "U2", false, "too many things for this client (at most 1)")
	wantEntry(t, m, "things", "U3", true, "unknown devicetype in U3")
	eventually(t, "absent after silence", func() bool { return !r.thing(ThingID("U1")).Present })
	wantEntry(t, th.call(`{"path":"/api/v1/update","requestID":5,"things":{"`+sid+`":{"info":{"v":"x"}}}}`), "things", sid, false, "invalid value for v: \"x\" is not a number (celsius)")
	wantEntry(t, th.call(`{"path":"/api/v1/update","requestID":6,"things":{"`+sid+`":{"updated":1}}}`), "things", sid, false, "")
	if !r.thing(ThingID("U1")).Present {
		t.Error("not present after an update")
	}

	if _, err := r.st.Revoke("nobody"); err == nil {
		t.Error("revoked an unknown pairing")
	}
	if c, err := r.st.Revoke("u"); err != nil || c.Name != "u" {
		t.Fatalf("revoke: %+v %v", c, err)
	}
	if code := th.closed(); code != 4001 {
		t.Errorf("revoked socket closed with %d", code)
	}
	p := r.dial("/native")
	wantError(t, p.call(`{"path":"/api/v1/hello","requestID":2,"uuid":"u","passcode":"`+pass+`"}`), true, "authentication failed")
	if len(r.st.Clients()) != 0 {
		t.Errorf("clients %+v", r.st.Clients())
	}
}

// TestEntryLimit checks that a message with more entries than
// Limits.MaxEntries is refused with a temporary error, counting a report's
// events and tasks together, and that the socket stays usable.
func TestEntryLimit(t *testing.T) {
	r := newRig(t, func(o *Options) { o.Limits.MaxEntries = 2 })
	r.win.Open(time.Minute)
	th := nativeHello(t, r, "u", nativePair(t, r, "u"))
	wantError(t, th.call(`{"path":"/api/v1/prototype","requestID":3,"things":{"/device/a/1":{"properties":{}},"/device/a/2":{"properties":{}},"/device/a/3":{"properties":{}}}}`),
		false, "too many entries (at most 2)")
	wantError(t, th.call(`{"path":"/api/v1/update","requestID":4,"things":{"a":{},"b":{},"c":{}}}`), false, "too many entries (at most 2)")
	wantError(t, th.call(`{"path":"/api/v1/report","requestID":5,"events":{"1":{"reason":"observe"},"2":{"reason":"observe"}},"tasks":{"3":{"status":"success"}}}`),
		false, "too many entries (at most 2)")
	m := th.call(`{"path":"/api/v1/prototype","requestID":7,"things":{"/device/a/1":{"properties":{}},"/device/a/2":{"properties":{}}}}`)
	wantEntry(t, m, "things", "/device/a/1", false, "")
}
