package oco

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"
)

func (s *ocoServer) hostSnapshot(name string) host {
	s.mu.Lock()
	defer s.mu.Unlock()
	h := s.hosts[name]
	if h == nil {
		return host{}
	}
	return *h
}

// storedKeys reads the pinned keys straight from the store.
func (r *rig) storedKeys() keyRecord {
	r.t.Helper()
	var k keyRecord
	b, err := r.db.KV("oco").Get(keyKeys)
	if err != nil {
		return k
	}
	if err := json.Unmarshal(b, &k); err != nil {
		r.t.Fatal(err)
	}
	return k
}

func TestRegisterCurrent(t *testing.T) {
	r := newRig(t, "current", Current)
	r.start()
	r.mustPoll()
	h := r.srv.hostSnapshot(testHost)
	if h.agentKey == "" || h.hellos != 1 {
		t.Fatalf("not registered: %+v", h)
	}
	k := r.storedKeys()
	if k.AgentKey != h.agentKey || k.ServerKey != h.serverKey {
		t.Fatal("the issued keys are not the pinned ones")
	}
	if h.agentVersion != "1.2.0-edgegate-0.9.0" || h.uid != r.opts.UID {
		t.Errorf("agent_version %q uid %q", h.agentVersion, h.uid)
	}
	// Registration asked for the inventory (update:1); it was sent.
	if h.inventory == nil || len(r.srv.callsOf("oco.agent.update")) != 1 {
		t.Fatalf("no inventory after update:1")
	}
	for _, c := range r.srv.calls {
		if !slices.Contains(c.headerNames, "x-oco-agent-signature") || !slices.Contains(c.headerNames, "content-type") {
			t.Errorf("%s: header names on the wire %v", c.method, c.headerNames)
		}
		if c.contentType != "application/json" || c.status != http.StatusOK {
			t.Errorf("%s: content type %q, status %d", c.method, c.contentType, c.status)
		}
		if strings.Contains(string(c.body), `"agent-key"`) {
			t.Errorf("%s: the current generation sent the agent key in the body", c.method)
		}
	}
	// The next hello is signed with the agent key, not the registration
	// key, and its answer (keys null) passes.
	r.mustPoll()
	if h := r.srv.hostSnapshot(testHost); h.hellos != 2 {
		t.Fatalf("hellos %d", h.hellos)
	}
	if st := r.a.Stats(); st.Hellos != 2 || st.Inventories != 1 || st.SecurityRejects != 0 {
		t.Errorf("stats %+v", st)
	}
	s, err := r.a.Status()
	if err != nil || !s.AgentKey || !s.ServerKey || !s.RegistrationKey || s.Generation != "current" || s.LastContact.IsZero() {
		t.Errorf("status %+v %v", s, err)
	}
	b, _ := json.Marshal(s)
	if strings.Contains(string(b), h.agentKey) || strings.Contains(string(b), h.serverKey) {
		t.Error("the status holds a key")
	}
	r.noKeysInLogs()
}

func TestRegisterLegacy(t *testing.T) {
	for _, gen := range []string{"legacy", "v013"} {
		t.Run(gen, func(t *testing.T) {
			r := newRig(t, gen, Legacy)
			r.start()
			r.mustPoll()
			h := r.srv.hostSnapshot(testHost)
			k := r.storedKeys()
			if h.agentKey == "" || k.AgentKey != h.agentKey || k.ServerKey != h.serverKey {
				t.Fatalf("keys not pinned: %+v", k)
			}
			hellos := r.srv.callsOf("oco.agent_hello")
			if len(hellos) != 1 || len(r.srv.callsOf("oco.agent_update")) != 1 {
				t.Fatalf("calls %+v", r.srv.calls)
			}
			var req struct {
				Params map[string]any `json:"params"`
			}
			json.Unmarshal(hellos[0].body, &req)
			if req.Params["agent-key"] != r.srv.regKey || req.Params["timestamp"] != nil {
				t.Errorf("legacy registration params %v", req.Params)
			}
			for _, c := range r.srv.calls {
				if slices.Contains(c.headerNames, "x-oco-agent-signature") {
					t.Errorf("%s: a legacy request is signed", c.method)
				}
			}
			r.mustPoll()
			if len(r.srv.callsOf("oco.agent_hello")) != 2 {
				t.Fatal("second hello")
			}
			r.noKeysInLogs()
		})
	}
}

func TestAutoDetect(t *testing.T) {
	for _, c := range []struct {
		srv    string
		want   Generation
		probes int // current hellos before the detected generation's
	}{{"current", Current, 0}, {"legacy", Legacy, 1}, {"v013", Legacy, 1}} {
		t.Run(c.srv, func(t *testing.T) {
			r := newRig(t, c.srv, Auto)
			r.start()
			r.mustPoll()
			if g := r.a.st.generation(); g != c.want {
				t.Fatalf("detected %v", g)
			}
			var stored string
			b, _ := r.db.KV("oco").Get(keyGeneration)
			json.Unmarshal(b, &stored)
			if stored != c.want.String() {
				t.Fatalf("stored generation %q", stored)
			}
			if c.want == Legacy {
				if n := len(r.srv.callsOf("oco.agent.hello")); n != c.probes {
					t.Fatalf("%d current hellos", n)
				}
				// After a restart the stored generation is used at once.
				r.db.MustReopen()
				r.start()
				r.mustPoll()
				if n := len(r.srv.callsOf("oco.agent.hello")); n != c.probes {
					t.Fatalf("probed again after the restart: %d current hellos", n)
				}
				if n := len(r.srv.callsOf("oco.agent_hello")); n != 2 {
					t.Fatalf("%d legacy hellos", n)
				}
			}
		})
	}
}

func TestKeysSurviveRestart(t *testing.T) {
	for _, gen := range []Generation{Current, Legacy} {
		t.Run(gen.String(), func(t *testing.T) {
			srvGen := "current"
			if gen == Legacy {
				srvGen = "legacy"
			}
			r := newRig(t, srvGen, gen)
			r.start()
			r.mustPoll()
			before := r.storedKeys()
			r.db.MustReopen()
			r.opts.RegistrationKey = NewSecret("not-the-registration-key") // not needed any more
			r.start()
			r.mustPoll()
			if h := r.srv.hostSnapshot(testHost); h.hellos != 2 {
				t.Fatalf("hellos %d", h.hellos)
			}
			if after := r.storedKeys(); after.AgentKey != before.AgentKey || after.ServerKey != before.ServerKey {
				t.Fatal("keys changed across the restart")
			}
			if gen == Current {
				// The agent's timestamps kept increasing across the
				// restart even though the clock went back.
				r.clock.Advance(-time.Hour)
				r.db.MustReopen()
				r.start()
				r.mustPoll()
			}
			r.noKeysInLogs()
		})
	}
}

func TestServerKeyChangeRefused(t *testing.T) {
	for _, c := range []struct {
		srv   string
		gen   Generation
		field string
	}{{"legacy", Legacy, "server-key"}, {"current", Current, "server-key"}, {"current", Current, "agent-key"}, {"legacy", Legacy, "agent-key"}} {
		t.Run(c.srv+"/"+c.field, func(t *testing.T) {
			r := newRig(t, c.srv, c.gen)
			r.start()
			r.mustPoll()
			pinned := r.storedKeys()
			j := r.srv.addJob(&srvJob{id: 41, host: testHost, container: 1, procedure: "echo should-not-run"})
			// A server (or someone in its place) that now offers another
			// key, and signs with it.
			forged := randKey()
			r.srv.setRespond(func(method string, body []byte, sig string) ([]byte, string) {
				var m map[string]any
				json.Unmarshal(body, &m)
				m["result"].(map[string]any)["params"].(map[string]any)[c.field] = forged
				b, _ := json.Marshal(m)
				if sig != "" && c.field == "server-key" {
					return b, sign(forged, b)
				}
				if sig != "" {
					h := r.srv.hostSnapshot(testHost)
					return b, sign(h.serverKey, b)
				}
				return b, ""
			})
			err := r.poll()
			if !errors.Is(err, ErrSecurity) {
				t.Fatalf("poll: %v", err)
			}
			if k := r.storedKeys(); k.AgentKey != pinned.AgentKey || k.ServerKey != pinned.ServerKey {
				t.Fatal("a pinned key was replaced")
			}
			if s := r.srv.jobSnapshot(j); len(s.reports) != 0 {
				t.Fatalf("a job of the rejected answer ran: %+v", s.reports)
			}
			logs := r.logs.String()
			if !strings.Contains(logs, "security event") || strings.Contains(logs, forged) {
				t.Fatalf("log:\n%s", logs)
			}
			if r.a.Stats().SecurityRejects != 1 {
				t.Error("not counted")
			}
			r.noKeysInLogs()
			// The server behaves again: the agent carries on.
			r.srv.setRespond(nil)
			r.mustPoll()
		})
	}
}

// A legacy job state answer repeating another server key is refused like a
// hello's: the final state is not taken as reported.
func TestLegacyJobReplyKeyChecked(t *testing.T) {
	r := newRig(t, "legacy", Legacy)
	r.start()
	r.mustPoll()
	j := r.srv.addJob(&srvJob{id: 42, host: testHost, container: 1, procedure: "true"})
	forged := randKey()
	r.srv.setRespond(func(method string, body []byte, sig string) ([]byte, string) {
		if method != "oco.update_deploy_status" {
			return body, sig
		}
		var m map[string]any
		json.Unmarshal(body, &m)
		m["result"].(map[string]any)["params"].(map[string]any)["server-key"] = forged
		b, _ := json.Marshal(m)
		return b, sig
	})
	r.mustPoll()
	if got := reportStates(r.srv.jobSnapshot(j)); got != "2 3=0" {
		t.Fatalf("reports %q", got)
	}
	// Both answers (state 2 and the final state) were refused.
	if st := r.a.Stats(); st.SecurityRejects != 2 || st.Reports != 0 {
		t.Errorf("stats %+v", st)
	}
	if rec, ok, _ := r.a.st.job(j.idRaw()); !ok || rec.Phase != phaseFinal || rec.Reported {
		t.Errorf("record %+v", rec)
	}
	if logs := r.logs.String(); !strings.Contains(logs, `"security":true`) || strings.Contains(logs, forged) {
		t.Fatalf("log:\n%s", logs)
	}
}

func TestBadSignatureRefused(t *testing.T) {
	for _, c := range []struct {
		name   string
		mangle func(body []byte, sig string) ([]byte, string)
	}{
		{"wrong signature", func(b []byte, sig string) ([]byte, string) { return b, sign("wrong", b) }},
		{"no signature", func(b []byte, sig string) ([]byte, string) { return b, "" }},
		{"body changed", func(b []byte, sig string) ([]byte, string) {
			return []byte(strings.Replace(string(b), `"update":0`, `"update":1`, 1)), sig
		}},
		{"signature in upper case hex but other body", func(b []byte, sig string) ([]byte, string) {
			return append(b, ' '), strings.ToUpper(sig)
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := newRig(t, "current", Current)
			r.start()
			r.mustPoll()
			j := r.srv.addJob(&srvJob{id: 7, host: testHost, container: 1, procedure: "echo no"})
			r.srv.setRespond(func(method string, body []byte, sig string) ([]byte, string) { return c.mangle(body, sig) })
			if err := r.poll(); !errors.Is(err, ErrSecurity) {
				t.Fatalf("poll: %v", err)
			}
			if s := r.srv.jobSnapshot(j); len(s.reports) != 0 {
				t.Fatal("the job of a forged answer ran")
			}
			if !strings.Contains(r.logs.String(), `"security":true`) {
				t.Fatalf("no security event:\n%s", r.logs.String())
			}
			r.noKeysInLogs()
		})
	}
}

func TestReplayedAnswerRefused(t *testing.T) {
	r := newRig(t, "current", Current)
	r.start()
	r.mustPoll()
	var saved []byte
	var savedSig string
	r.srv.setRespond(func(method string, body []byte, sig string) ([]byte, string) {
		if method == "oco.agent.hello" && saved == nil {
			saved, savedSig = body, sig
		}
		if method == "oco.agent.hello" {
			return saved, savedSig
		}
		return body, sig
	})
	r.mustPoll() // records a valid, signed answer
	err := r.poll()
	var se *SecurityError
	if !errors.As(err, &se) || !strings.Contains(se.Reason, "timestamp") {
		t.Fatalf("replay: %v", err)
	}
}

func TestServerErrors(t *testing.T) {
	t.Run("current self-registration disabled", func(t *testing.T) {
		r := newRig(t, "current", Current)
		r.srv.selfReg = false
		r.start()
		err := r.poll()
		var se *ServerError
		if !errors.As(err, &se) || se.Status != 401 || se.Message != "Client self-registration is disabled" || !errors.Is(err, ErrUnauthorized) {
			t.Fatalf("%v", err)
		}
		if !strings.Contains(r.logs.String(), "enable agent self-registration") {
			t.Errorf("no hint in the log:\n%s", r.logs.String())
		}
		if s, _ := r.a.Status(); s.AgentKey || !strings.Contains(s.LastError, "self-registration") {
			t.Errorf("status %+v", s)
		}
	})
	t.Run("current wrong registration key", func(t *testing.T) {
		r := newRig(t, "current", Current)
		r.opts.RegistrationKey = NewSecret("wrong")
		r.start()
		err := r.poll()
		var se *ServerError
		if !errors.As(err, &se) || se.Message != "Invalid agent signature" {
			t.Fatalf("%v", err)
		}
	})
	t.Run("legacy wrong registration key", func(t *testing.T) {
		r := newRig(t, "legacy", Legacy)
		r.opts.RegistrationKey = NewSecret("wrong")
		r.start()
		err := r.poll()
		var se *ServerError
		if !errors.As(err, &se) || se.Status != 401 || se.Message != "Client Not Authorized" {
			t.Fatalf("%v", err)
		}
	})
	t.Run("legacy server, explicit current generation", func(t *testing.T) {
		r := newRig(t, "v013", Current)
		r.start()
		if err := r.poll(); !errors.Is(err, ErrUnknownMethod) || !strings.Contains(err.Error(), "auto") {
			t.Fatalf("%v", err)
		}
	})
	t.Run("current server, explicit legacy generation", func(t *testing.T) {
		r := newRig(t, "current", Legacy)
		r.start()
		err := r.poll()
		var se *ServerError
		if !errors.As(err, &se) || se.Status != 400 || se.Message != "Unknown method" {
			t.Fatalf("%v", err)
		}
	})
	t.Run("server failure", func(t *testing.T) {
		r := newRig(t, "current", Current)
		r.start()
		r.srv.setOverride(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			w.WriteHeader(500)
			w.Write([]byte("<b>Fatal error</b>: Uncaught PDOException: SQLSTATE[23000]: Integrity constraint violation"))
		}))
		err := r.poll()
		if !errors.Is(err, ErrServerFailure) || !strings.Contains(err.Error(), "Integrity constraint") {
			t.Fatalf("%v", err)
		}
	})
	t.Run("redirect", func(t *testing.T) {
		r := newRig(t, "current", Current)
		r.start()
		r.srv.setOverride(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
			http.Redirect(w, req, "https://oco.example.com/api-agent.php", http.StatusMovedPermanently)
		}))
		err := r.poll()
		var se *ServerError
		if !errors.As(err, &se) || se.Status != 301 || !strings.Contains(se.Hint(), "url") {
			t.Fatalf("%v", err)
		}
	})
	t.Run("computer removed on the server", func(t *testing.T) {
		r := newRig(t, "current", Current)
		r.start()
		r.mustPoll()
		r.srv.mu.Lock()
		delete(r.srv.hosts, testHost)
		r.srv.selfReg = false
		r.srv.mu.Unlock()
		// Unknown to the server again: it takes the hello for a
		// registration and refuses it.
		if err := r.poll(); !errors.Is(err, ErrUnauthorized) {
			t.Fatalf("%v", err)
		}
	})
}

func TestForgetKeys(t *testing.T) {
	r := newRig(t, "current", Auto)
	r.start()
	r.mustPoll()
	r.srv.mu.Lock()
	r.srv.hosts[testHost].agentKey, r.srv.hosts[testHost].serverKey = "", "" // cleared by the admin
	r.srv.mu.Unlock()
	if err := r.a.ForgetKeys(); err != nil {
		t.Fatal(err)
	}
	if k := r.storedKeys(); k.AgentKey != "" || k.ServerKey != "" {
		t.Fatal("keys kept")
	}
	r.mustPoll()
	h := r.srv.hostSnapshot(testHost)
	if k := r.storedKeys(); k.AgentKey != h.agentKey || k.ServerKey != h.serverKey || h.agentKey == "" {
		t.Fatal("not registered again")
	}
}

func TestNoServerKeyFromServer(t *testing.T) {
	// A host pre-registered with a server key: the first hello gets only
	// the agent key, and the answer is signed with a key the agent does
	// not have.
	r := newRig(t, "current", Current)
	r.srv.hosts[testHost] = &host{name: testHost, serverKey: randKey(), agentVersion: "1.2.0"}
	r.start()
	err := r.poll()
	if !errors.Is(err, ErrNoServerKey) {
		t.Fatalf("%v", err)
	}
	if k := r.storedKeys(); k.AgentKey == "" || k.ServerKey != "" {
		t.Fatalf("the agent key sent once must be kept: %+v", k)
	}
	if err := r.poll(); !errors.Is(err, ErrNoServerKey) {
		t.Fatalf("second poll: %v", err)
	}
}

func TestInventoryOnUpdate(t *testing.T) {
	r := newRig(t, "current", Current)
	r.start()
	r.mustPoll()
	inv := r.srv.hostSnapshot(testHost).inventory
	want := map[string]any{
		"os": "Debian GNU/Linux", "os_version": "12 (bookworm)", "os_language": "en_GB.UTF-8",
		"kernel_version": "6.6.51+rpt-rpi-v8", "architecture": "arm64", "cpu": "Cortex-A72", "gpu": "",
		"ram": "3978252288", "agent_version": "1.2.0-edgegate-0.9.0", "serial": "10000000a1b2c3d4",
		"manufacturer": "raspberrypi", "model": "Raspberry Pi 4 Model B Rev 1.4", "bios_version": "",
		"uptime": float64(86523), "boot_type": "Legacy", "secure_boot": "", "domain": "lan.example.net",
	}
	for k, v := range want {
		if inv[k] != v {
			t.Errorf("%s = %#v, want %#v", k, inv[k], v)
		}
	}
	b, _ := json.Marshal(inv["networks"])
	if string(b) != `[{"addr":"192.168.1.50","broadcast":"192.168.1.255","interface":"eth0","mac":"dc:a6:32:01:02:03","netmask":"255.255.255.0"},`+
		`{"addr":"2001:db8:1::50","broadcast":"","interface":"eth0","mac":"dc:a6:32:01:02:03","netmask":"ffff:ffff:ffff:ffff::"}]` {
		t.Errorf("networks %s", b)
	}
	b, _ = json.Marshal(inv["partitions"])
	if string(b) != `[{"device":"/dev/mmcblk0p2","filesystem":"ext4","free":24011685888,"mountpoint":"/","name":"rootfs","serial":"ce208fd3-38a8-424a-87a2-cd44114eb820","size":31268536320},`+
		`{"device":"/dev/mmcblk0p1","filesystem":"vfat","free":472449024,"mountpoint":"/boot/firmware","name":"bootfs","serial":"4EF5-6F55","size":535805952},`+
		`{"device":"/dev/sda1","filesystem":"vfat","free":0,"mountpoint":"/media/usb stick","name":"USB STICK","serial":"","size":0}]` {
		t.Errorf("partitions %s", b)
	}
	b, _ = json.Marshal(inv["software"])
	if string(b) != `[{"description":"GNU Bourne Again SHell","name":"bash","version":"5.2.15-2+b7"},`+
		`{"description":"Raspberry Pi configuration tool","name":"raspi-config","version":"20240313"},`+
		`{"description":"compression library - runtime","name":"zlib1g","version":"1:1.2.13.dfsg-1"}]` {
		t.Errorf("software %s", b)
	}
	// The hello carries the networks and the uptime too.
	var hello struct {
		Params struct {
			Data map[string]any `json:"data"`
		} `json:"params"`
	}
	json.Unmarshal(r.srv.callsOf("oco.agent.hello")[0].body, &hello)
	if hello.Params.Data["uptime"] != float64(86523) || len(hello.Params.Data["networks"].([]any)) != 2 {
		t.Errorf("hello data %v", hello.Params.Data)
	}
	// No update asked: none sent.
	r.mustPoll()
	if n := len(r.srv.callsOf("oco.agent.update")); n != 1 {
		t.Errorf("%d updates", n)
	}
	// The admin forces one.
	r.srv.mu.Lock()
	r.srv.hosts[testHost].forceUpdate = true
	r.srv.hosts[testHost].lastUpdate = time.Now().Add(-time.Minute)
	r.srv.mu.Unlock()
	r.mustPoll()
	if n := len(r.srv.callsOf("oco.agent.update")); n != 2 {
		t.Errorf("%d updates after force_update", n)
	}
}

func TestInventoryOfThisMachine(t *testing.T) {
	inv := Sources{}.Collect(context.Background(), "x")
	if inv.KernelVersion == "" || inv.RAM == "" || inv.Uptime == 0 || inv.OS == "" {
		t.Errorf("the machine's inventory is missing basics: %+v", inv)
	}
	for _, p := range inv.Partitions {
		if !strings.HasPrefix(p.Device, "/dev/") {
			t.Errorf("partition %+v", p)
		}
	}
}

func TestDelay(t *testing.T) {
	a := &Agent{opts: Options{Interval: time.Minute, MaxBackoff: 15 * time.Minute, Jitter: 0.1}, rand: func() float64 { return 0.5 }}
	for failures, want := range []time.Duration{time.Minute, time.Minute, 2 * time.Minute, 4 * time.Minute, 8 * time.Minute, 15 * time.Minute, 15 * time.Minute} {
		if got := a.delay(failures); got != want {
			t.Errorf("%d failures: %v, want %v", failures, got, want)
		}
	}
	a.rand = func() float64 { return 0 }
	if got := a.delay(0); got != 54*time.Second {
		t.Errorf("low jitter %v", got)
	}
	a.rand = func() float64 { return 0.999999 }
	if got := a.delay(0); got < 65*time.Second || got > 66*time.Second {
		t.Errorf("high jitter %v", got)
	}
}

func TestRunPollsWithBackoff(t *testing.T) {
	r := newRig(t, "current", Current)
	r.start()
	r.srv.setOverride(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) { w.WriteHeader(503) }))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.a.Run(ctx) }()
	// Failures: waits of 1, 2 and 4 minutes (Rand 0.5: no jitter).
	for i, wait := range []time.Duration{time.Minute, 2 * time.Minute, 4 * time.Minute} {
		r.clock.BlockUntil(1)
		if s, _ := r.a.Status(); s.NextHello.Sub(r.clock.Now()) != wait {
			t.Fatalf("next hello in %v, want %v", s.NextHello.Sub(r.clock.Now()), wait)
		}
		if i == 2 {
			r.srv.setOverride(nil)
		}
		r.clock.Advance(wait)
	}
	r.clock.BlockUntil(1) // registered; back to the interval
	if s, _ := r.a.Status(); s.NextHello.Sub(r.clock.Now()) != time.Minute || !s.AgentKey {
		t.Fatalf("after recovery: %+v", s)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if st := r.a.Stats(); st.HelloFailures != 3 || st.Hellos != 1 {
		t.Errorf("stats %+v", st)
	}
}
