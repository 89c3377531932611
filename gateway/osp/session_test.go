package osp

import (
	"bytes"
	"encoding/binary"
	"errors"
	"testing"
	"time"
)

func TestHandshakes(t *testing.T) {
	for _, secure := range []bool{true, false} {
		r := newRig(t, nil)
		c := r.clientOf(secure)
		r.connect(c)
		opened := r.rec.eventsOf(EventSessionOpened)
		if len(opened) != 1 || opened[0].Secure != secure || opened[0].SID != c.SID() {
			t.Fatalf("secure=%v: opened events %+v", secure, opened)
		}
		if ev := c.eventsOf(ClientOpened); len(ev) != 1 || ev[0].Timestamp != 0x65000000 {
			t.Errorf("secure=%v: client opened %+v", secure, ev)
		}
		infos := r.srv.Sessions()
		if len(infos) != 1 || infos[0].State != "open" || infos[0].Secure != secure {
			t.Errorf("sessions %+v", infos)
		}
		if n := r.srv.Counters()[CountHandshakes]; n != 1 {
			t.Errorf("handshakes counter %d", n)
		}
	}
}

func TestUnknownDeviceRefused(t *testing.T) {
	r := newRig(t, nil)
	c := r.client(DeviceID{Type: 9, Module: 9}, Security{}, nil)
	c.Connect()
	errs := r.pump(c)
	if len(errs) != 2 || !errors.Is(errs[0], ErrUnknownDevice) || !errors.Is(errs[1], ErrRefused) {
		t.Fatalf("errors %v", errs)
	}
	if got := hexAll(c.toClient.sent())[0]; got != "000000011007"+"00" {
		t.Errorf("termination = %s", got)
	}
	if ev := c.eventsOf(ClientClosed); len(ev) != 1 || !errors.Is(ev[0].Err, ErrRefused) {
		t.Errorf("client events %+v", c.events)
	}
	if r.srv.Counters()[CountUnknownDevice] != 1 || len(r.srv.Sessions()) != 0 {
		t.Error("refusal not counted or a session remained")
	}
	if ev := r.rec.eventsOf(EventHandshakeFailed); len(ev) != 1 || ev[0].Device != (DeviceID{9, 9}) {
		t.Errorf("events %+v", ev)
	}
}

func TestSecurityMismatchRefused(t *testing.T) {
	r := newRig(t, nil)
	c := r.client(secDev, Security{}, nil) // a secure device connecting in plain
	c.Connect()
	errs := r.pump(c)
	if len(errs) == 0 || !errors.Is(errs[0], ErrSecurityMismatch) || c.Open() {
		t.Fatalf("errors %v", errs)
	}
}

func TestWrongKey(t *testing.T) {
	r := newRig(t, nil)
	bad := append([]byte(nil), testKey...)
	bad[0] ^= 1
	c := r.client(secDev, Security{Secure: true, Key: bad}, nil)
	c.Connect()
	errs := r.pump(c)
	// The client cannot verify the server: it terminates silently.
	if len(errs) != 1 || !errors.Is(errs[0], ErrHandshake) || c.Open() {
		t.Fatalf("errors %v", errs)
	}
	if len(c.toServer.sent()) != 1 {
		t.Errorf("client sent %d packets after failing to authenticate the server", len(c.toServer.sent()))
	}
	// The server's pending session falls back after HandshakeTimeout.
	r.clock.Advance(9 * time.Second)
	r.srv.Tick()
	if len(r.srv.Sessions()) != 1 {
		t.Fatal("pending session expired early")
	}
	r.clock.Advance(time.Second)
	r.srv.Tick()
	if len(r.srv.Sessions()) != 0 {
		t.Fatal("pending session did not expire")
	}
	if ev := r.rec.eventsOf(EventHandshakeFailed); len(ev) != 1 || !errors.Is(ev[0].Err, ErrHandshakeTimeout) {
		t.Errorf("events %+v", ev)
	}
}

func TestBadClientAuthenticationSilent(t *testing.T) {
	r := newRig(t, nil)
	c := r.secureClient(nil)
	c.Connect()
	step1 := c.toServer.take()[0]
	if err := r.srv.Handle(step1, c.toClient); err != nil {
		t.Fatal(err)
	}
	step2 := c.toClient.take()[0]
	sid := binary.BigEndian.Uint16(step2)
	// Step 3 with the vectors swapped back (not the client's order) fails.
	var blk [16]byte
	ciph, _ := NewCipher(testKey, 8)
	ciph.encryptIVs(&blk, iv(0x22), iv(0x11))
	pkt, _ := AppendPlain(nil, sid, 2, TypeConnect, 0, append([]byte{3}, blk[:]...))
	if err := r.srv.Handle(pkt, c.toClient); !errors.Is(err, ErrHandshake) {
		t.Fatalf("err = %v", err)
	}
	if len(c.toClient.take()) != 0 {
		t.Error("server answered a failed client authentication")
	}
	if len(r.srv.Sessions()) != 0 {
		t.Error("session kept")
	}
}

func TestRestartWhilePendingKeepsSID(t *testing.T) {
	r := newRig(t, func(c *ServerConfig) {
		c.Rand = &seqReader{data: []byte{0x12, 0x34, 1, 1, 1, 1, 1, 1, 1, 1, 0x56, 0x78, 2, 2, 2, 2, 2, 2, 2, 2}}
	})
	c := r.secureClient(nil)
	c.Connect()
	r.srv.Handle(c.toServer.take()[0], c.toClient)
	first := c.toClient.take()[0]
	c.Connect() // step 2 lost: the client starts over
	r.srv.Handle(c.toServer.take()[0], c.toClient)
	second := c.toClient.take()
	if len(second) != 1 || !bytes.Equal(first[:2], second[0][:2]) {
		t.Fatalf("SID changed: %x then %x", first[:2], second[0][:2])
	}
	if err := c.Handle(second[0]); err != nil {
		t.Fatal(err)
	}
	r.pump(c)
	if !c.Open() || c.SID() != 0x1234 {
		t.Fatalf("open=%v sid=%04x", c.Open(), c.SID())
	}
	if len(r.srv.Sessions()) != 1 {
		t.Errorf("sessions %+v", r.srv.Sessions())
	}
}

func TestNewHandshakeReplacesSession(t *testing.T) {
	for _, secure := range []bool{true, false} {
		r := newRig(t, func(c *ServerConfig) {
			c.Rand = &seqReader{data: []byte{0, 1, 9, 9, 9, 9, 9, 9, 9, 9, 0, 2, 8, 8, 8, 8, 8, 8, 8, 8}}
		})
		c := r.clientOf(secure)
		r.connect(c)
		oldSID := c.SID()
		var res []CommandResult
		if _, err := r.srv.SendCommand(c.cfg.Device, []byte("x"), func(cr CommandResult) { res = append(res, cr) }); err != nil {
			t.Fatal(err)
		}
		c.toClient.take() // the command is lost
		r.connect(c)
		if len(res) != 1 || !errors.Is(res[0].Err, ErrSessionClosed) || !errors.Is(res[0].Err, ErrReplaced) {
			t.Fatalf("outstanding command of the replaced session: %+v", res)
		}
		if c.SID() == oldSID {
			t.Fatal("same SID for a new session")
		}
		if infos := r.srv.Sessions(); len(infos) != 1 || infos[0].SID != c.SID() {
			t.Fatalf("secure=%v: sessions %+v", secure, infos)
		}
		closed := r.rec.eventsOf(EventSessionClosed)
		if len(closed) != 1 || closed[0].SID != oldSID || !errors.Is(closed[0].Err, ErrReplaced) {
			t.Fatalf("closed events %+v", closed)
		}
		// The old SID is gone.
		pkt, _ := AppendPlain(nil, oldSID, 50, TypePingReq, 0, nil)
		if err := r.srv.Handle(pkt, c.toClient); !errors.Is(err, ErrUnknownSID) {
			t.Errorf("old SID: %v", err)
		}
	}
}

func TestReplayRejected(t *testing.T) {
	for _, secure := range []bool{true, false} {
		r := newRig(t, nil)
		c := r.clientOf(secure)
		r.connect(c)
		c.SendData(10, []byte{1}, 0)
		pkts := c.toServer.take()
		orig := append([]byte(nil), pkts[0]...)
		if err := r.srv.Handle(pkts[0], c.toClient); err != nil {
			t.Fatal(err)
		}
		if err := r.srv.Handle(orig, c.toClient); !errors.Is(err, ErrReplay) {
			t.Errorf("secure=%v replay: %v", secure, err)
		}
		if len(r.rec.takeReadings()) != 1 || r.srv.Counters()[CountReplay] != 1 {
			t.Error("replay was handed up or not counted")
		}
	}
}

func TestReorderWithinWindow(t *testing.T) {
	r := newRig(t, nil)
	c := r.secureClient(nil)
	r.connect(c)
	var pkts [][]byte
	for i := range 40 {
		c.SendData(10, []byte{byte(i)}, 0)
		pkts = append(pkts, c.toServer.take()...)
	}
	// Deliver the newest first, then the older ones: those within W=32 of
	// the newest are accepted once, older ones are dropped.
	if err := r.srv.Handle(pkts[39], c.toClient); err != nil {
		t.Fatal(err)
	}
	accepted := 1
	for i := 38; i >= 0; i-- {
		if err := r.srv.Handle(pkts[i], c.toClient); err == nil {
			accepted++
		} else if !errors.Is(err, ErrReplay) {
			t.Fatalf("packet %d: %v", i, err)
		}
	}
	// SeqNums 3..42; newest 42: accepted are 42-31 .. 42.
	if accepted != 32 {
		t.Errorf("accepted %d packets, want 32", accepted)
	}
}

func TestForgedPacketsIgnored(t *testing.T) {
	r := newRig(t, nil)
	c := r.secureClient(nil)
	r.connect(c)
	c.SendData(10, []byte{1, 2, 3}, FlagAckReq)
	pkt := c.toServer.take()[0]
	pkt[len(pkt)-1] ^= 0x40 // corrupt the tag
	if err := r.srv.Handle(pkt, c.toClient); !errors.Is(err, ErrAuth) {
		t.Fatalf("err = %v", err)
	}
	if len(r.rec.takeReadings()) != 0 || !c.Open() || len(r.srv.Sessions()) != 1 {
		t.Fatal("forged packet had an effect")
	}
	// It is reported, with its device, for the owner to see.
	if ev := r.rec.eventsOf(EventAuthFailed); len(ev) != 1 || ev[0].Device != secDev || !errors.Is(ev[0].Err, ErrAuth) {
		t.Errorf("auth-failed events %+v", ev)
	}
	// A forged packet with a flag violation does not end the session either.
	bad := sealRaw(t, 0xbeef, 20, byte(TypePingReq)<<4|byte(FlagAckReq|FlagEAX), nil, []byte("wrong key wrong!"), iv(0x11), iv(0x22))
	if err := r.srv.Handle(bad, c.toClient); !errors.Is(err, ErrAuth) {
		t.Fatalf("forged violation: %v", err)
	}
	if len(r.srv.Sessions()) != 1 {
		t.Fatal("forged violation ended the session")
	}
	// The window was not advanced by the forgeries: the next genuine packet
	// passes.
	c.SendData(10, []byte{4}, 0)
	if errs := r.pump(c); len(errs) != 0 {
		t.Fatal(errs)
	}
}

// sealRaw builds an EAX packet with an arbitrary type/flags byte, bypassing
// the encoder's checks, so tests can send what a broken client would.
func sealRaw(t testing.TB, sid, seq uint16, typeFlags byte, body, key []byte, civ, siv [8]byte) []byte {
	t.Helper()
	c, err := NewCipher(key, 8)
	if err != nil {
		t.Fatal(err)
	}
	hdr := binary.BigEndian.AppendUint16(nil, sid)
	hdr = binary.BigEndian.AppendUint16(hdr, seq)
	hdr = append(hdr, typeFlags)
	hdr, _ = AppendPacketSize(hdr, PacketSizeFor(len(body)+8))
	var n Nonce
	MakeNonceBase(civ, siv).Put(&n, seq)
	return c.aead().Seal(hdr, n.Bytes(), body, hdr)
}

func plainRaw(sid, seq uint16, typeFlags byte, body []byte) []byte {
	hdr := binary.BigEndian.AppendUint16(nil, sid)
	hdr = binary.BigEndian.AppendUint16(hdr, seq)
	hdr = append(hdr, typeFlags)
	hdr, _ = AppendPacketSize(hdr, PacketSizeFor(len(body)))
	return append(hdr, body...)
}

func TestFlagViolationsTerminate(t *testing.T) {
	type mk func(c *rigClient, seq uint16) []byte
	secureCases := []struct {
		name string
		pkt  mk
	}{
		{"ackreq on pingreq", func(c *rigClient, seq uint16) []byte {
			return sealRaw(t, c.SID(), seq, byte(TypePingReq)<<4|byte(FlagAckReq|FlagEAX), nil, testKey, iv(0x11), iv(0x22))
		}},
		{"cached on command", func(c *rigClient, seq uint16) []byte {
			return sealRaw(t, c.SID(), seq, byte(TypeCommand)<<4|byte(FlagCached|FlagEAX), []byte{1, 1}, testKey, iv(0x11), iv(0x22))
		}},
		{"saved on firmware", func(c *rigClient, seq uint16) []byte {
			return sealRaw(t, c.SID(), seq, byte(TypeFirmware)<<4|byte(FlagSaved|FlagEAX), make([]byte, 22), testKey, iv(0x11), iv(0x22))
		}},
		{"plaintext termination", func(c *rigClient, seq uint16) []byte {
			return plainRaw(c.SID(), seq, byte(TypeConnect)<<4, []byte{0})
		}},
		{"plaintext command response", func(c *rigClient, seq uint16) []byte {
			return plainRaw(c.SID(), seq, byte(TypeCommand)<<4, []byte{1, 1})
		}},
		{"connstate 2 from client", func(c *rigClient, seq uint16) []byte {
			return sealRaw(t, c.SID(), seq, byte(TypeConnect)<<4|byte(FlagEAX), append([]byte{2}, make([]byte, 20)...), testKey, iv(0x11), iv(0x22))
		}},
		{"undefined connstate", func(c *rigClient, seq uint16) []byte {
			return sealRaw(t, c.SID(), seq, byte(TypeConnect)<<4|byte(FlagEAX), []byte{9}, testKey, iv(0x11), iv(0x22))
		}},
	}
	for _, tc := range secureCases {
		t.Run("secure "+tc.name, func(t *testing.T) {
			r := newRig(t, nil)
			c := r.secureClient(nil)
			r.connect(c)
			err := r.srv.Handle(tc.pkt(c, 10), c.toClient)
			if err == nil {
				t.Fatal("accepted")
			}
			assertTerminated(t, r, c, err)
		})
	}
	plainCases := []struct {
		name string
		tf   byte
		body []byte
	}{
		{"ackreq on pingreq", byte(TypePingReq)<<4 | byte(FlagAckReq), nil},
		{"cached on pingresp", byte(TypePingResp)<<4 | byte(FlagCached), nil},
		{"saved on connect", byte(TypeConnect)<<4 | byte(FlagSaved), []byte{5}},
		{"eax in a plain session", byte(TypeData)<<4 | byte(FlagEAX), make([]byte, 12)},
	}
	for _, tc := range plainCases {
		t.Run("plain "+tc.name, func(t *testing.T) {
			r := newRig(t, nil)
			c := r.plainClient(nil)
			r.connect(c)
			err := r.srv.Handle(plainRaw(c.SID(), 10, tc.tf, tc.body), c.toClient)
			if !errors.Is(err, ErrFlags) {
				t.Fatalf("err = %v", err)
			}
			assertTerminated(t, r, c, err)
		})
	}
}

func assertTerminated(t *testing.T, r *rig, c *rigClient, err error) {
	t.Helper()
	if len(r.srv.Sessions()) != 0 {
		t.Fatalf("session survives %v", err)
	}
	down := c.toClient.take()
	if len(down) != 1 {
		t.Fatalf("server sent %d packets, want the terminating CONNECT", len(down))
	}
	if err := c.Handle(down[0]); err != nil || c.Open() {
		t.Fatalf("client did not see termination: %v", err)
	}
	if ev := r.rec.eventsOf(EventSessionClosed); len(ev) != 1 || ev[0].Err == nil {
		t.Fatalf("closed events %+v", ev)
	}
	if r.srv.Counters()[CountViolations] != 1 {
		t.Error("violation not counted")
	}
}

func TestMalformedDropped(t *testing.T) {
	r := newRig(t, nil)
	c := r.plainClient(nil)
	r.connect(c)
	sid := c.SID()
	for _, tc := range []struct {
		name string
		pkt  []byte
		err  error
	}{
		{"reserved type", plainRaw(sid, 10, 0x90, nil), ErrReservedMsgType},
		{"short", []byte{1, 2, 3}, ErrTruncated},
		{"size mismatch", append(plainRaw(sid, 11, byte(TypePingReq)<<4, nil), 0), ErrSizeMismatch},
		{"ping with body", plainRaw(sid, 12, byte(TypePingReq)<<4, []byte{1}), ErrBodyLength},
		{"short data", plainRaw(sid, 13, byte(TypeData)<<4, []byte{1}), ErrTruncated},
		{"ack at server", plainRaw(sid, 14, byte(TypeAck)<<4, []byte{1}), ErrUnexpected},
		{"resend at server", plainRaw(sid, 15, byte(TypeResend)<<4, []byte{1}), ErrUnexpected},
		{"unknown sid", plainRaw(sid+1, 16, byte(TypePingReq)<<4, nil), ErrUnknownSID},
		{"sid 0 data", plainRaw(0, 1, byte(TypeData)<<4, []byte{1, 0, 10}), ErrUnknownSID},
		{"init with seq 2", plainRaw(0, 2, byte(TypeConnect)<<4, []byte{1, 0, 2, 0, 0, 0, 7}), ErrBadInit},
		{"init with E", plainRaw(0, 1, byte(TypeConnect)<<4|1, []byte{1, 0, 2, 0, 0, 0, 7}), ErrBadInit},
	} {
		if err := r.srv.Handle(tc.pkt, c.toClient); !errors.Is(err, tc.err) {
			t.Errorf("%s: err = %v, want %v", tc.name, err, tc.err)
		}
	}
	if !c.Open() || len(r.srv.Sessions()) != 1 {
		t.Fatal("malformed packets ended the session")
	}
	if len(c.toClient.take()) != 0 {
		t.Error("server answered malformed packets")
	}
}

func TestAckAfterCommit(t *testing.T) {
	r := newRig(t, nil)
	c := r.secureClient(nil)
	r.connect(c)
	id, _ := c.SendData(10, []byte("reading"), FlagAckReq)
	r.pump(c)
	if len(c.toClient.sent()) != 2 {
		t.Fatal("ACK sent before Ack was called")
	}
	rd := r.rec.takeReadings()
	if len(rd) != 1 || rd[0].MessageID != id || rd[0].Flags&FlagAckReq == 0 {
		t.Fatalf("readings %+v", rd)
	}
	if err := r.srv.Ack(rd[0].AckRef()); err != nil {
		t.Fatal(err)
	}
	r.pump(c)
	if len(c.eventsOf(ClientAcked)) != 1 || len(c.Unacked()) != 0 {
		t.Fatal("client not acknowledged")
	}
	// An Ack for a session that has since ended fails cleanly.
	stale := rd[0].AckRef()
	stale.Gen++
	if err := r.srv.Ack(stale); !errors.Is(err, ErrSessionClosed) {
		t.Errorf("stale ack: %v", err)
	}
}

// holdQueue is a SendQueue that holds what it takes until release, or
// refuses everything.
type holdQueue struct {
	refuse bool
	to     []Peer
	pkts   [][]byte
}

func (q *holdQueue) Queue(to Peer, pkt []byte) bool {
	if q.refuse {
		return false
	}
	q.to, q.pkts = append(q.to, to), append(q.pkts, append([]byte(nil), pkt...))
	return true
}

func (q *holdQueue) release(t *testing.T) {
	t.Helper()
	for i, p := range q.pkts {
		if err := q.to[i].Send(p); err != nil {
			t.Fatal(err)
		}
	}
	q.to, q.pkts = nil, nil
}

// AckQueued hands the ACKNOWLEDGE to the queue, which sends it later; a
// queue that refuses it leaves it to be sent at once.
func TestAckQueued(t *testing.T) {
	r := newRig(t, nil)
	c := r.secureClient(nil)
	r.connect(c)
	c.SendData(10, []byte("a"), FlagAckReq)
	c.SendData(10, []byte("b"), FlagAckReq)
	r.pump(c)
	rd := r.rec.takeReadings()
	if len(rd) != 2 {
		t.Fatalf("readings %+v", rd)
	}
	before := len(c.toClient.sent())
	var q holdQueue
	for _, x := range rd {
		if err := r.srv.AckQueued(x.AckRef(), &q); err != nil {
			t.Fatal(err)
		}
	}
	if len(q.pkts) != 2 || len(c.toClient.sent()) != before {
		t.Fatalf("queued %d, sent %d: want both ACKs queued and none sent", len(q.pkts), len(c.toClient.sent())-before)
	}
	q.release(t)
	r.pump(c)
	if len(c.eventsOf(ClientAcked)) != 2 || len(c.Unacked()) != 0 {
		t.Fatal("client not acknowledged by the queued ACKs")
	}

	c.SendData(10, []byte("c"), FlagAckReq)
	r.pump(c)
	rd = r.rec.takeReadings()
	refusing := holdQueue{refuse: true}
	if err := r.srv.AckQueued(rd[0].AckRef(), &refusing); err != nil {
		t.Fatal(err)
	}
	r.pump(c)
	if len(c.eventsOf(ClientAcked)) != 3 {
		t.Fatal("a refused ACK was not sent at once")
	}
}

func TestAutoAck(t *testing.T) {
	r := newRig(t, func(c *ServerConfig) { c.AutoAck = true })
	c := r.plainClient(nil)
	r.connect(c)
	c.SendData(10, []byte("x"), FlagAckReq)
	c.SendData(10, []byte("y"), 0)
	r.pump(c)
	if len(c.eventsOf(ClientAcked)) != 1 || len(r.rec.takeReadings()) != 2 {
		t.Fatal("auto ack")
	}
}

func TestResendOnGap(t *testing.T) {
	r := newRig(t, nil)
	c := r.secureClient(nil)
	r.connect(c)
	c.SendData(10, []byte{0}, 0)
	r.pump(c)
	c.toServer.dropNext(2)
	c.SendData(10, []byte{1}, 0)
	c.SendData(10, []byte{2}, 0)
	c.SendData(10, []byte{3}, 0)
	if errs := r.pump(c); len(errs) != 0 {
		t.Fatal(errs)
	}
	if got := c.eventsOf(ClientResendRequested); len(got) != 2 || got[0].MessageID != 1 || got[1].MessageID != 2 {
		t.Fatalf("resend requests %+v", got)
	}
	rds := r.rec.takeReadings()
	var ids []uint8
	for _, rd := range rds {
		ids = append(ids, rd.MessageID)
		if rd.Duplicate {
			t.Errorf("reading %d marked duplicate", rd.MessageID)
		}
		if rd.MessageID != 0 && rd.MessageID != 3 && rd.Flags&FlagCached == 0 {
			t.Errorf("resent reading %d lacks the Cached bit", rd.MessageID)
		}
	}
	if !bytes.Equal(ids, []byte{0, 3, 1, 2}) {
		t.Errorf("reading order %v", ids)
	}
	r.clock.Advance(time.Minute)
	r.srv.Tick()
	if len(c.toClient.take()) != 0 || len(r.rec.eventsOf(EventResendFailed)) != 0 {
		t.Error("answered RESENDs were repeated or failed")
	}
}

func TestResendStubAndFailure(t *testing.T) {
	r := newRig(t, func(c *ServerConfig) { c.ResendRetries = 1 })
	c := r.plainClient(nil)
	r.connect(c)
	c.SendData(10, []byte{0}, 0)
	r.pump(c)
	// MessageID 1 the client no longer has (forged gap): it answers a stub.
	c.nextMsg = 2
	c.cache[1] = cacheEntry{}
	c.SendData(10, []byte{2}, 0)
	r.pump(c)
	if ev := r.rec.eventsOf(EventResendUnavailable); len(ev) != 1 || ev[0].MessageID != 1 {
		t.Fatalf("unavailable events %+v", r.rec.events)
	}
	if rds := r.rec.takeReadings(); len(rds) != 2 {
		t.Fatalf("stub handed up as a reading: %+v", rds)
	}
	// MessageID 3 is lost and so are all answers: one retry, then failure.
	c.toServer.dropNext(1)
	c.SendData(10, []byte{3}, 0)
	c.SendData(10, []byte{4}, 0)
	c.toClient.dropNext(10)
	r.pump(c)
	r.clock.Advance(5 * time.Second)
	r.srv.Tick()
	r.clock.Advance(5 * time.Second)
	r.srv.Tick()
	r.srv.Tick()
	resends := 0
	for _, p := range c.toClient.sent() {
		if MsgType(p[4]>>4) == TypeResend {
			resends++
		}
	}
	if resends != 1+2 { // the stub's RESEND for 1, then 3 twice
		t.Errorf("%d RESENDs sent", resends)
	}
	if ev := r.rec.eventsOf(EventResendFailed); len(ev) != 1 || ev[0].MessageID != 3 {
		t.Errorf("failed events %+v", ev)
	}
}

func TestResendBounded(t *testing.T) {
	r := newRig(t, func(c *ServerConfig) { c.MaxResendPending = 4 })
	c := r.plainClient(nil)
	r.connect(c)
	c.SendData(10, nil, 0)
	r.pump(c)
	c.nextMsg = 11 // 1..10 skipped
	c.toClient.dropNext(100)
	c.SendData(10, nil, 0)
	r.pump(c)
	ss := r.session(c.SID())
	if len(ss.missing) != 4 {
		t.Errorf("%d MessageIDs awaited, want 4", len(ss.missing))
	}
	if ev := r.rec.eventsOf(EventResendFailed); len(ev) != 6 {
		t.Errorf("%d reported lost, want 6", len(ev))
	}
}

func TestWrapAroundMessageIDs(t *testing.T) {
	r := newRig(t, nil)
	r.rec.devices[plainDev] = Security{MaxMessageID: 15}
	c := r.client(plainDev, Security{MaxMessageID: 15}, nil)
	r.connect(c)
	for range 40 {
		if _, err := c.SendData(10, nil, 0); err != nil {
			t.Fatal(err)
		}
	}
	if errs := r.pump(c); len(errs) != 0 {
		t.Fatal(errs)
	}
	rds := r.rec.takeReadings()
	if len(rds) != 40 || rds[39].MessageID != 39%16 {
		t.Fatalf("%d readings", len(rds))
	}
	for _, rd := range rds {
		if rd.Duplicate {
			t.Fatal("wrapped MessageID marked duplicate")
		}
	}
	if len(c.toClient.sent()) != 1 {
		t.Error("RESEND across a wrap")
	}
}

func TestDuplicateAfterLostAck(t *testing.T) {
	r := newRig(t, func(c *ServerConfig) { c.AutoAck = true })
	c := r.secureClient(nil)
	r.connect(c)
	c.toClient.dropNext(1) // the ACK is lost
	c.SendData(10, []byte("once"), FlagAckReq)
	r.pump(c)
	r.clock.Advance(2 * time.Second)
	c.Tick() // retransmission with the Cached bit
	r.pump(c)
	rds := r.rec.takeReadings()
	if len(rds) != 2 || rds[0].Duplicate || !rds[1].Duplicate || rds[1].Flags&FlagCached == 0 {
		t.Fatalf("readings %+v", rds)
	}
	if len(c.eventsOf(ClientAcked)) != 1 || len(c.Unacked()) != 0 {
		t.Fatal("retransmission not acknowledged")
	}
}

func TestClientCacheFull(t *testing.T) {
	r := newRig(t, nil)
	r.rec.devices[plainDev] = Security{MaxMessageID: 3}
	c := r.client(plainDev, Security{MaxMessageID: 3}, nil)
	r.connect(c)
	for i := range 4 {
		if _, err := c.SendData(10, nil, FlagAckReq); err != nil {
			t.Fatalf("send %d: %v", i, err)
		}
	}
	if _, err := c.SendData(10, nil, FlagAckReq); !errors.Is(err, ErrCacheFull) {
		t.Fatalf("err = %v", err)
	}
}

func TestUnackedSurviveReconnect(t *testing.T) {
	r := newRig(t, nil)
	c := r.secureClient(nil)
	r.connect(c)
	c.toServer.dropNext(1)
	id, _ := c.SendData(10, []byte("keep"), FlagAckReq|FlagSaved)
	r.pump(c)
	r.connect(c)
	rds := r.rec.takeReadings()
	if len(rds) != 1 || rds[0].MessageID != id || rds[0].Flags != FlagAckReq|FlagSaved|FlagCached|FlagEAX {
		t.Fatalf("readings %+v", rds)
	}
}

func TestPauseAndResume(t *testing.T) {
	r := newRig(t, func(c *ServerConfig) { c.PingInterval = time.Second })
	c := r.secureClient(nil)
	r.connect(c)
	c.SendData(10, []byte("before"), FlagAckReq)
	r.pump(c)
	rd := r.rec.takeReadings()[0]
	if err := c.Pause(); err != nil {
		t.Fatal(err)
	}
	r.pump(c)
	if ev := r.rec.eventsOf(EventSessionPaused); len(ev) != 1 {
		t.Fatal("not paused")
	}
	sentBefore := len(c.toClient.sent())
	// The server sends nothing to a paused client: not the ACK, not the
	// command, not a ping.
	if err := r.srv.Ack(rd.AckRef()); err != nil {
		t.Fatal(err)
	}
	var res []CommandResult
	if _, err := r.srv.SendCommand(secDev, []byte("status"), func(cr CommandResult) { res = append(res, cr) }); err != nil {
		t.Fatal(err)
	}
	r.clock.Advance(time.Hour)
	r.srv.Tick()
	if len(c.toClient.sent()) != sentBefore {
		t.Fatal("server sent to a paused client")
	}
	if r.srv.Sessions()[0].State != "paused" {
		t.Fatal("paused session not listed as paused")
	}
	// Re-activation by PINGREQ, as recommended: PINGRESP, the held ACK and
	// the queued command follow.
	c.onCmd = func(c *rigClient, e ClientEvent) { c.RespondCommand(e.Command.ID, ExitSuccess, []byte("fine")) }
	if err := c.Ping(); err != nil {
		t.Fatal(err)
	}
	r.pump(c)
	if ev := r.rec.eventsOf(EventSessionResumed); len(ev) != 1 {
		t.Fatal("not resumed")
	}
	if len(c.eventsOf(ClientPong)) != 1 || len(c.eventsOf(ClientAcked)) != 1 {
		t.Fatalf("client events %+v", c.events)
	}
	if len(res) != 1 || res[0].Err != nil || string(res[0].Response) != "fine" {
		t.Fatalf("command %+v", res)
	}
}

func TestStalePacketDoesNotResume(t *testing.T) {
	r := newRig(t, nil)
	c := r.plainClient(nil)
	r.connect(c)
	c.SendData(10, nil, 0)
	held := c.toServer.take()[0] // delivered late, after the pause
	c.Pause()
	r.pump(c)
	if err := r.srv.Handle(held, c.toClient); err != nil {
		t.Fatal(err)
	}
	if r.srv.Sessions()[0].State != "paused" {
		t.Fatal("a packet older than the pause re-activated the session")
	}
}

func TestTermination(t *testing.T) {
	t.Run("by client", func(t *testing.T) {
		r := newRig(t, nil)
		c := r.secureClient(nil)
		r.connect(c)
		var res []CommandResult
		r.srv.SendCommand(secDev, []byte("x"), func(cr CommandResult) { res = append(res, cr) })
		c.toClient.take()
		c.Close()
		r.pump(c)
		if len(r.srv.Sessions()) != 0 {
			t.Fatal("session kept")
		}
		if ev := r.rec.eventsOf(EventSessionClosed); len(ev) != 1 || !errors.Is(ev[0].Err, ErrTerminated) {
			t.Fatalf("events %+v", ev)
		}
		if len(res) != 1 || !errors.Is(res[0].Err, ErrSessionClosed) {
			t.Fatalf("outstanding command: %+v", res)
		}
		if len(c.toClient.sent()) != 3 {
			t.Error("server answered a termination")
		}
	})
	t.Run("by server", func(t *testing.T) {
		r := newRig(t, nil)
		c := r.secureClient(nil)
		r.connect(c)
		if err := r.srv.Terminate(secDev, nil); err != nil {
			t.Fatal(err)
		}
		r.pump(c)
		if c.Open() || len(r.srv.Sessions()) != 0 {
			t.Fatal("not terminated")
		}
		if ev := c.eventsOf(ClientClosed); len(ev) != 1 || !errors.Is(ev[0].Err, ErrTerminated) {
			t.Fatalf("client events %+v", c.events)
		}
		// Afterwards the client's packets are dropped by SID.
		pkt, _ := AppendPlain(nil, c.SID(), 99, TypePingReq, 0, nil)
		if err := r.srv.Handle(pkt, c.toClient); !errors.Is(err, ErrUnknownSID) {
			t.Errorf("after termination: %v", err)
		}
	})
	t.Run("server close", func(t *testing.T) {
		r := newRig(t, nil)
		a, b := r.secureClient(nil), r.plainClient(nil)
		r.connect(a)
		r.connect(b)
		r.srv.Close()
		r.pump(a, b)
		if a.Open() || b.Open() {
			t.Fatal("clients still open")
		}
		a.Connect()
		if errs := r.pump(a); len(errs) == 0 || !errors.Is(errs[0], ErrClosed) {
			t.Fatalf("connect after close: %v", errs)
		}
	})
}

func TestSeqExhaustion(t *testing.T) {
	t.Run("server", func(t *testing.T) {
		r := newRig(t, nil)
		c := r.secureClient(nil)
		r.connect(c)
		ss := r.session(c.SID())
		ss.mu.Lock()
		ss.w.nextSend = 0xFFFF
		ss.mu.Unlock()
		if err := c.Ping(); err != nil {
			t.Fatal(err)
		}
		errs := r.pump(c)
		if len(errs) != 1 || !errors.Is(errs[0], ErrSeqExhausted) {
			t.Fatalf("errors %v", errs)
		}
		last := c.toClient.sent()[2]
		if binary.BigEndian.Uint16(last[2:]) != 0xFFFF || MsgType(last[4]>>4) != TypeConnect {
			t.Fatalf("last packet %x", last)
		}
		if c.Open() || len(r.srv.Sessions()) != 0 {
			t.Fatal("session survived SeqNum exhaustion")
		}
	})
	t.Run("client", func(t *testing.T) {
		r := newRig(t, nil)
		c := r.plainClient(nil)
		r.connect(c)
		c.mu.Lock()
		c.w.nextSend = 0xFFFF
		c.mu.Unlock()
		if _, err := c.SendData(10, nil, 0); !errors.Is(err, ErrSeqExhausted) {
			t.Fatalf("err = %v", err)
		}
		r.pump(c)
		if len(r.srv.Sessions()) != 0 {
			t.Fatal("server session survived")
		}
	})
}

func TestCommands(t *testing.T) {
	r := newRig(t, func(c *ServerConfig) { c.CommandTimeout = 3 * time.Second })
	c := r.secureClient(nil)
	r.connect(c)
	var res []CommandResult
	done := func(cr CommandResult) { res = append(res, cr) }
	id, err := r.srv.SendCommand(secDev, []byte("get temp"), done)
	if err != nil || id != 1 {
		t.Fatalf("id %d, %v", id, err)
	}
	if _, err := r.srv.SendCommand(secDev, []byte("again"), done); !errors.Is(err, ErrCommandPending) {
		t.Fatalf("second command: %v", err)
	}
	r.pump(c)
	cmds := c.eventsOf(ClientCommand)
	if len(cmds) != 1 || string(cmds[0].Command.Script) != "get temp" {
		t.Fatalf("client got %+v", cmds)
	}
	// A response with a wrong CommandID is ignored.
	cmdBusyID := cmds[0].Command.ID
	c.cmdID = 99
	c.RespondCommand(99, ExitSuccess, nil)
	if errs := r.pump(c); len(errs) != 1 || !errors.Is(errs[0], ErrUnexpected) || len(res) != 0 {
		t.Fatalf("wrong id: %v %+v", errs, res)
	}
	c.cmdBusy, c.cmdID = true, cmdBusyID
	c.RespondCommand(cmdBusyID, ExitSuccess, []byte("21.5"))
	r.pump(c)
	if len(res) != 1 || res[0].Err != nil || res[0].ExitCode != ExitSuccess || string(res[0].Response) != "21.5" {
		t.Fatalf("result %+v", res)
	}

	// Timeout, then the client is still busy with it: BUSY.
	id2, _ := r.srv.SendCommand(secDev, []byte("slow"), done)
	r.pump(c)
	r.clock.Advance(3 * time.Second)
	r.srv.Tick()
	if len(res) != 2 || !errors.Is(res[1].Err, ErrCommandTimeout) || res[1].ID != id2 {
		t.Fatalf("timeout result %+v", res)
	}
	if r.srv.Counters()[CountCommandTimeouts] != 1 {
		t.Error("timeout not counted")
	}
	r.srv.SendCommand(secDev, []byte("third"), done)
	r.pump(c)
	if len(res) != 3 || !errors.Is(res[2].Err, ErrCommandBusy) || res[2].ExitCode != ExitBusy {
		t.Fatalf("busy result %+v", res)
	}
	// The late answer to the timed-out command is ignored.
	c.RespondCommand(id2, ExitSuccess, nil)
	if errs := r.pump(c); len(errs) != 1 || len(res) != 3 {
		t.Fatalf("late answer: %v %+v", errs, res)
	}
	if _, err := r.srv.SendCommand(DeviceID{5, 5}, nil, done); !errors.Is(err, ErrNoSession) {
		t.Errorf("unknown device: %v", err)
	}
	if _, err := r.srv.SendCommand(secDev, make([]byte, MaxPacketSize), done); !errors.Is(err, ErrTooLarge) {
		t.Errorf("huge script: %v", err)
	}
}

func TestCommandIDsSkipZero(t *testing.T) {
	r := newRig(t, nil)
	c := r.plainClient(nil)
	r.connect(c)
	c.onCmd = func(c *rigClient, e ClientEvent) { c.RespondCommand(e.Command.ID, ExitSuccess, nil) }
	seen := map[uint8]bool{}
	for range 300 {
		id, err := r.srv.SendCommand(plainDev, []byte("x"), func(CommandResult) {})
		if err != nil {
			t.Fatal(err)
		}
		if id == 0 {
			t.Fatal("CommandID 0")
		}
		seen[id] = true
		r.pump(c)
	}
	if len(seen) != 255 {
		t.Errorf("%d distinct ids", len(seen))
	}
}

func TestFirmware(t *testing.T) {
	r := newRig(t, nil)
	fw := bytes.Repeat([]byte("0123456789abcdef"), 10) // 160 bytes: chunks of 64
	r.rec.firmware["fw-1.2.0"] = fw
	c := r.secureClient(nil)
	r.connect(c)
	var got []byte
	for chunk := uint16(0); ; chunk++ {
		if err := c.RequestFirmware("fw-1.2.0", chunk); err != nil {
			t.Fatal(err)
		}
		if err := c.RequestFirmware("fw-1.2.0", chunk); !errors.Is(err, ErrFirmwarePending) {
			t.Fatalf("second request: %v", err)
		}
		r.pump(c)
		ev := c.eventsOf(ClientFirmware)
		if len(ev) != int(chunk)+1 {
			t.Fatalf("chunk %d: %d responses", chunk, len(ev))
		}
		last := ev[len(ev)-1].Firmware
		if last.ChunkID != chunk || last.Name.String() != "fw-1.2.0" {
			t.Fatalf("response %+v", last)
		}
		if len(last.Data) == 0 {
			break
		}
		got = append(got, last.Data...)
	}
	if !bytes.Equal(got, fw) {
		t.Fatalf("firmware %q", got)
	}
	// Unknown firmware: exactly one response, with empty ChunkData.
	c.RequestFirmware("nope", 0)
	r.pump(c)
	ev := c.eventsOf(ClientFirmware)
	if last := ev[len(ev)-1].Firmware; last.Name.String() != "nope" || len(last.Data) != 0 {
		t.Fatalf("unknown firmware answered %+v", last)
	}
	if n := r.srv.Counters()[CountFirmware]; n != uint64(len(ev)) || int(n) != r.rec.fwCalls {
		t.Errorf("answered %d of %d requests", n, len(ev))
	}
	// A timeout on the client side.
	c.toServer.dropNext(1)
	c.RequestFirmware("fw-1.2.0", 0)
	r.clock.Advance(10 * time.Second)
	c.Tick()
	if ev := c.eventsOf(ClientFirmwareFailed); len(ev) != 1 || !errors.Is(ev[0].Err, ErrFirmwareTimeout) {
		t.Errorf("timeout events %+v", ev)
	}
}

func TestFirmwareMTU(t *testing.T) {
	r := newRig(t, nil)
	r.rec.firmware["big"] = make([]byte, 64)
	c := r.plainClient(nil)
	r.connect(c)
	small := mtuPeer{&queuePeer{mtu: 80}} // 80-7-22 = 51 < 64: the chunk cannot go
	c.RequestFirmware("big", 0)
	for _, p := range c.toServer.take() {
		if err := r.srv.Handle(p, small); err != nil {
			t.Fatal(err)
		}
	}
	out := small.take()
	if len(out) != 1 || len(out[0]) != 6+22 {
		t.Fatalf("response %x", out)
	}
}

func TestPings(t *testing.T) {
	t.Run("client pings server", func(t *testing.T) {
		r := newRig(t, nil)
		c := r.secureClient(nil)
		r.connect(c)
		c.Ping()
		r.pump(c)
		if len(c.eventsOf(ClientPong)) != 1 {
			t.Fatal("no PINGRESP")
		}
		// An unexpected PINGRESP is ignored.
		pkt := sealRaw(t, c.SID(), 9, byte(TypePingResp)<<4|1, nil, testKey, iv(0x11), iv(0x22))
		if err := r.srv.Handle(pkt, c.toClient); err != nil || len(c.toClient.take()) != 0 {
			t.Fatalf("unexpected PINGRESP: %v", err)
		}
	})
	t.Run("server pings client", func(t *testing.T) {
		r := newRig(t, func(c *ServerConfig) { c.PingInterval = 30 * time.Second; c.PingMisses = 2 })
		c := r.secureClient(nil)
		r.connect(c)
		r.clock.Advance(30 * time.Second)
		r.srv.Tick()
		r.pump(c)
		if len(r.srv.Sessions()) != 1 {
			t.Fatal("answered ping closed the session")
		}
		// The client goes silent.
		c.toServer.dropNext(100)
		for range 3 {
			r.clock.Advance(30 * time.Second)
			r.srv.Tick()
			r.pump(c)
		}
		if len(r.srv.Sessions()) != 0 {
			t.Fatal("silent client kept")
		}
		if ev := r.rec.eventsOf(EventSessionClosed); len(ev) != 1 || !errors.Is(ev[0].Err, ErrPingTimeout) {
			t.Fatalf("events %+v", ev)
		}
	})
	t.Run("client detects a dead server", func(t *testing.T) {
		r := newRig(t, nil)
		c := r.plainClient(func(cc *ClientConfig) { cc.PingInterval = time.Second; cc.PingMisses = 2 })
		r.connect(c)
		c.toServer.dropNext(100)
		for range 3 {
			r.clock.Advance(time.Second)
			c.Tick()
		}
		if c.Open() {
			t.Fatal("client kept a dead session")
		}
	})
}

func TestIdleTimeout(t *testing.T) {
	r := newRig(t, func(c *ServerConfig) { c.IdleTimeout = time.Minute })
	a, b := r.plainClient(nil), r.secureClient(nil)
	r.connect(a)
	r.connect(b)
	b.Pause()
	r.pump(b)
	r.clock.Advance(time.Minute)
	r.srv.Tick()
	r.pump(a, b)
	if len(r.srv.Sessions()) != 0 || a.Open() {
		t.Fatal("idle sessions kept")
	}
	if got := len(b.toClient.sent()); got != 2 {
		t.Errorf("paused client was sent %d packets", got-2)
	}
}

func TestSIDAllocation(t *testing.T) {
	r := newRig(t, func(c *ServerConfig) {
		// 0 is never used, and neither is a SID in use.
		c.Rand = &seqReader{data: []byte{0, 0, 0, 5, 0, 0, 0, 5, 0, 6}}
		c.MaxSessions = 2
	})
	r.rec.devices[DeviceID{3, 3}] = Security{}
	a := r.plainClient(nil)
	b := r.client(DeviceID{3, 3}, Security{}, nil)
	r.connect(a)
	r.connect(b)
	if a.SID() != 5 || b.SID() != 6 {
		t.Fatalf("SIDs %d %d", a.SID(), b.SID())
	}
	r.rec.devices[DeviceID{4, 4}] = Security{}
	c := r.client(DeviceID{4, 4}, Security{}, nil)
	c.Connect()
	if errs := r.pump(c); len(errs) == 0 || !errors.Is(errs[0], ErrTooManySessions) {
		t.Fatalf("full table: %v", errs)
	}
}

func TestPeerFollowsAuthenticatedPackets(t *testing.T) {
	r := newRig(t, nil)
	c := r.secureClient(nil)
	r.connect(c)
	other := &queuePeer{}
	// A genuine packet from a new address moves the return path.
	c.Ping()
	for _, p := range c.toServer.take() {
		r.srv.Handle(p, other)
	}
	if len(other.take()) != 1 {
		t.Fatal("PINGRESP not sent to the new address")
	}
	// A plaintext packet (allowed, unauthenticated) does not.
	spoof := &queuePeer{}
	pkt := plainRaw(c.SID(), 500, byte(TypePingReq)<<4, nil)
	if err := r.srv.Handle(pkt, spoof); err != nil {
		t.Fatal(err)
	}
	if len(spoof.take()) != 0 || len(other.take()) != 1 {
		t.Fatal("return path moved by an unauthenticated packet")
	}
}

func TestRequireEAX(t *testing.T) {
	r := newRig(t, func(c *ServerConfig) { c.RequireEAX = true })
	c := r.secureClient(nil)
	r.connect(c)
	pkt := plainRaw(c.SID(), 20, byte(TypeData)<<4, []byte{0, 0, 10, 1})
	if err := r.srv.Handle(pkt, c.toClient); !errors.Is(err, ErrPlaintext) {
		t.Fatalf("err = %v", err)
	}
	if len(r.rec.takeReadings()) != 0 || len(r.srv.Sessions()) != 1 {
		t.Fatal("plaintext accepted or session ended")
	}
	// Without RequireEAX it is accepted and marked unauthenticated.
	r2 := newRig(t, nil)
	c2 := r2.secureClient(nil)
	r2.connect(c2)
	if err := r2.srv.Handle(plainRaw(c2.SID(), 20, byte(TypeData)<<4, []byte{0, 0, 10, 1}), c2.toClient); err != nil {
		t.Fatal(err)
	}
	if rds := r2.rec.takeReadings(); len(rds) != 1 || rds[0].Authenticated {
		t.Fatalf("readings %+v", rds)
	}
}

// TestRetransmissionAfterWrapIsNoGap: a retransmission (Cached bit) of a
// MessageID sent long ago looks far "ahead" once the IDs have moved on; it
// must neither open a gap nor move the expected MessageID.
func TestRetransmissionAfterWrapIsNoGap(t *testing.T) {
	r := newRig(t, func(c *ServerConfig) { c.AutoAck = true })
	c := r.plainClient(func(cc *ClientConfig) { cc.AckTimeout = time.Hour })
	r.connect(c)
	c.toClient.dropNext(1) // the ACK of MessageID 0 is lost
	c.SendData(10, []byte{0}, FlagAckReq)
	r.pump(c)
	for i := 1; i < 200; i++ {
		c.SendData(10, []byte{byte(i)}, FlagAckReq)
	}
	r.pump(c)
	// MessageID 0 is now 200 behind, i.e. 56 "ahead" modulo 256.
	c.mu.Lock()
	c.retransmit(0)
	c.mu.Unlock()
	c.dispatch()
	c.SendData(10, []byte{200}, FlagAckReq)
	if errs := r.pump(c); len(errs) != 0 {
		t.Fatal(errs)
	}
	if ev := r.rec.eventsOf(EventResendFailed); len(ev) != 0 {
		t.Fatalf("%d phantom losses", len(ev))
	}
	for _, p := range c.toClient.sent() {
		if MsgType(p[4]>>4) == TypeResend {
			t.Fatal("RESEND for a phantom gap")
		}
	}
	rds := r.rec.takeReadings()
	if len(rds) != 202 || !rds[200].Duplicate || rds[201].Duplicate || rds[201].MessageID != 200 {
		t.Fatalf("%d readings; retransmission dup=%v, next dup=%v", len(rds), rds[200].Duplicate, rds[201].Duplicate)
	}
	if len(c.Unacked()) != 0 {
		t.Errorf("unacked %v", c.Unacked())
	}
}
