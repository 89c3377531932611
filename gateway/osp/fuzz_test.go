package osp

import (
	"bytes"
	"errors"
	"testing"
	"time"
)

func seedPackets(f *testing.F) {
	for _, h := range []string{
		vSecStep1, vSecStep2, vSecStep3, vSecStep4, vSecData, vSecAck, vSecPing, vSecCmd, vSecResp, vSecFw, vSecTerm,
		vPlainStep1, vPlainStep2, vPlainData, vPlainRes,
	} {
		f.Add(unhex(f, h))
	}
}

// FuzzDecode: decoding never panics, a decoded header re-encodes to the same
// bytes, and every body decoder either fails cleanly or round-trips.
func FuzzDecode(f *testing.F) {
	seedPackets(f)
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := Decode(b)
		if err != nil {
			if p.Raw != nil {
				t.Fatal("failed decode returned a packet")
			}
			return
		}
		hdr, err := AppendHeader(nil, p.Header)
		if err != nil || !bytes.Equal(hdr, b[:p.HeaderLen]) {
			t.Fatalf("header %+v re-encodes to %x (%v), was %x", p.Header, hdr, err, b[:p.HeaderLen])
		}
		if p.Flags&FlagEAX != 0 {
			return // ciphertext: body decoders do not apply
		}
		roundTrip(t, p.Type, p.Body())
	})
}

func roundTrip(t *testing.T, typ MsgType, body []byte) {
	switch typ {
	case TypeConnect:
		var c Connect
		if c.Unmarshal(body) == nil {
			out, err := c.AppendBody(nil)
			if err != nil || !bytes.Equal(out, body) {
				t.Fatalf("CONNECT %x -> %+v -> %x %v", body, c, out, err)
			}
		}
	case TypeCommand:
		var q CommandRequest
		if q.Unmarshal(body) == nil && !bytes.Equal(q.AppendBody(nil), body) {
			t.Fatalf("COMMAND request %x", body)
		}
		var r CommandResponse
		if r.Unmarshal(body) == nil && !bytes.Equal(r.AppendBody(nil), body) {
			t.Fatalf("COMMAND response %x", body)
		}
	case TypeFirmware:
		var q FirmwareRequest
		if q.Unmarshal(body) == nil && !bytes.Equal(q.AppendBody(nil), body) {
			t.Fatalf("FIRMWARE request %x", body)
		}
		var r FirmwareResponse
		if r.Unmarshal(body) == nil && !bytes.Equal(r.AppendBody(nil), body) {
			t.Fatalf("FIRMWARE response %x", body)
		}
	case TypeData:
		var d Data
		if d.Unmarshal(body) == nil && !bytes.Equal(d.AppendBody(nil), body) {
			t.Fatalf("DATA %x", body)
		}
	case TypeAck, TypeResend:
		if id, err := UnmarshalMessageID(body); err == nil && (len(body) != 1 || body[0] != id) {
			t.Fatalf("MessageID %x", body)
		}
	case TypePingReq, TypePingResp:
		if checkEmpty(typ, body) == nil && len(body) != 0 {
			t.Fatal("non-empty ping accepted")
		}
	}
}

// FuzzBodies feeds arbitrary bytes to every body decoder.
func FuzzBodies(f *testing.F) {
	f.Add(uint8(1), []byte{1, 0, 1, 0, 0, 0x10, 0x92})
	f.Add(uint8(6), make([]byte, 22))
	f.Add(uint8(8), []byte{5, 0, 11, 'h', 'i'})
	f.Fuzz(func(t *testing.T, typ uint8, body []byte) {
		roundTrip(t, MsgType(typ%9), body)
	})
}

// FuzzServer feeds arbitrary packets to a server holding a plain and a secure
// session (and to SID 0), interleaved with timer ticks: no panic, and no
// table or buffer grows without bound.
func FuzzServer(f *testing.F) {
	seedPackets(f)
	f.Add(plainRaw(0xbeef, 5, byte(TypeData)<<4|byte(FlagAckReq), []byte{9, 0, 10, 1, 2}))
	f.Add(plainRaw(0xbeef, 6, byte(TypeConnect)<<4, []byte{5}))
	f.Add(plainRaw(0xbeef, 7, byte(TypeFirmware)<<4, make([]byte, 22)))
	f.Add(plainRaw(0xbeef, 8, byte(TypeCommand)<<4, []byte{1, 1}))
	f.Add(plainRaw(0, 1, byte(TypeConnect)<<4, []byte{1, 0, 3, 0, 0, 0, 3}))
	f.Add(append(plainRaw(0xbeef, 9, byte(TypeData)<<4, []byte{200, 0, 10}), plainRaw(0xbeef, 10, byte(TypePingReq)<<4, nil)...))
	f.Fuzz(func(t *testing.T, in []byte) {
		r := newRig(t, func(c *ServerConfig) { c.MaxSessions = 8; c.AutoAck = true; c.PingInterval = time.Second })
		r.rec.devices[DeviceID{3, 3}] = Security{}
		plain := r.plainClient(nil)
		r.connect(plain) // SID 0xbeef
		sec := r.secureClient(nil)
		r.connect(sec)
		peer := &queuePeer{}
		// Split the input into packets: each starts with its PacketSize, or
		// is the rest of the input when that does not fit.
		for len(in) > 0 {
			n := len(in)
			if h, _, err := ParseHeader(in); err == nil && h.Size <= len(in) {
				n = h.Size
			}
			pkt := append([]byte(nil), in[:n]...)
			in = in[n:]
			_ = r.srv.Handle(pkt, peer)
			if len(pkt) > 0 && pkt[0]&1 == 1 {
				r.clock.Advance(time.Duration(pkt[0]) * 100 * time.Millisecond)
				r.srv.Tick()
			}
			peer.take()
		}
		if n := len(r.srv.Sessions()); n > 8 {
			t.Fatalf("%d sessions", n)
		}
		r.srv.mu.RLock()
		defer r.srv.mu.RUnlock()
		for _, ss := range r.srv.sessions {
			if len(ss.missing) > r.srv.cfg.MaxResendPending || len(ss.pausedAcks) > maxPausedAcks {
				t.Fatalf("session tables grew: %d missing, %d acks", len(ss.missing), len(ss.pausedAcks))
			}
		}
	})
}

// FuzzClient feeds arbitrary packets to an open client: no panic.
func FuzzClient(f *testing.F) {
	seedPackets(f)
	f.Add(plainRaw(0xbeef, 5, byte(TypeResend)<<4, []byte{3}))
	f.Add(plainRaw(0xbeef, 6, byte(TypeCommand)<<4, []byte{1, 'x'}))
	f.Fuzz(func(t *testing.T, in []byte) {
		r := newRig(t, nil)
		c := r.plainClient(nil)
		r.connect(c)
		c.SendData(10, []byte{1}, FlagAckReq)
		err := c.Handle(append([]byte(nil), in...))
		if err != nil && errors.Is(err, ErrSeqExhausted) {
			t.Fatal("exhausted after one packet")
		}
		c.toServer.take()
	})
}
