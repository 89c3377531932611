package osp

import (
	"bytes"
	"encoding/hex"
	"strings"
	"testing"

	"github.com/ProtonMail/go-crypto/eax"

	"crypto/aes"
)

// The published EAX vectors (Bellare, Rogaway, Wagner, FSE 2004), AES-128,
// 16-byte nonce, 8-byte header: MSG, KEY, NONCE, HEADER, CIPHER (ct||tag16),
// and the same with the tag truncated to 8 bytes.
var eaxVectors = []struct{ msg, key, nonce, header, cipher, cipher8 string }{
	{"", "233952DEE4D5ED5F9B9C6D6FF80FF478", "62EC67F9C3A4A407FCB2A8C49031A8B3", "6BFB914FD07EAE6B", "E037830E8389F27B025A2D6527E79D01", "E037830E8389F27B"},
	{"F7FB", "91945D3F4DCBEE0BF45EF52255F095A4", "BECAF043B0A23D843194BA972C66DEBD", "FA3BFD4806EB53FA", "19DD5C4C9331049D0BDAB0277408F67967E5", "19DD5C4C9331049D0BDA"},
	{"1A47CB4933", "01F74AD64077F2E704C0F60ADA3DD523", "70C3DB4F0D26368400A10ED05D2BFF5E", "234A3463C1264AC6", "D851D5BAE03A59F238A23E39199DC9266626C40F80", "D851D5BAE03A59F238A23E3919"},
	{"481C9E39B1", "D07CF6CBB7F313BDDE66B727AFD3C5E8", "8408DFFF3C1A2B1292DC199E46B7D617", "33CCE2EABFF5A79D", "632A9D131AD4C168A4225D8E1FF755939974A7BEDE", "632A9D131AD4C168A4225D8E1F"},
	{"40D0C07DA5E4", "35B6D0580005BBC12B0587124557D2C2", "FDB6B06676EEDC5C61D74276E1F8E816", "AEB96EAEBE2970E9", "071DFE16C675CB0677E536F73AFE6A14B74EE49844DD", "071DFE16C675CB0677E536F73AFE"},
	{"4DE3B35C3FC039245BD1FB7D", "BD8E6E11475E60B268784C38C62FEB22", "6EAC5C93072D8E8513F750935E46DA1B", "D4482D1CA78DCE0F", "835BB4F15D743E350E728414ABB8644FD6CCB86947C5E10590210A4F", "835BB4F15D743E350E728414ABB8644FD6CCB869"},
	{"8B0A79306C9CE7ED99DAE4F87F8DD61636", "7C77D6E813BED5AC98BAA417477A2E7D", "1A8C98DCD73D38393B2BF1569DEEFC19", "65D2017990D62528", "02083E3979DA014812F59F11D52630DA30137327D10649B0AA6E1C181DB617D7F2", "02083E3979DA014812F59F11D52630DA30137327D10649B0AA"},
	{"1BDA122BCE8A8DBAF1877D962B8592DD2D56", "5FFF20CAFAB119CA2FC73549E20F5B0D", "DDE59B97D722156D4D9AFF2BC7559826", "54B9F04E6A09189A", "2EC47B2C4954A489AFC7BA4897EDCDAE8CC33B60450599BD02C96382902AEF7F832A", "2EC47B2C4954A489AFC7BA4897EDCDAE8CC33B60450599BD02C9"},
	{"6CF36720872B8513F6EAB1A8A44438D5EF11", "A4A4782BCFFD3EC5E7EF6D8C34A56123", "B781FCF2F75FA5A8DE97A9CA48E522EC", "899A175897561D7E", "0DE18FD0FDD91E7AF19F1D8EE8733938B1E8E7F6D2231618102FDB7FE55FF1991700", "0DE18FD0FDD91E7AF19F1D8EE8733938B1E8E7F6D2231618102F"},
	{"CA40D7446E545FFAED3BD12A740A659FFBBB3CEAB7", "8395FCF1E95BEBD697BD010BC766AAC3", "22E7ADD93CFC6393C57EC0B3C17D6B44", "126735FCC320D25A", "CB8920F87A6C75CFF39627B56E3ED197C552D295A7CFC46AFC253B4652B1AF3795B124AB6E", "CB8920F87A6C75CFF39627B56E3ED197C552D295A7CFC46AFC253B4652"},
}

func TestEAXVectors(t *testing.T) {
	for i, v := range eaxVectors {
		for _, tc := range []struct {
			tag  int
			want string
		}{{16, v.cipher}, {8, v.cipher8}} {
			c, err := NewCipher(unhex(t, v.key), tc.tag)
			if err != nil {
				t.Fatal(err)
			}
			msg, nonce, hdr := unhex(t, v.msg), unhex(t, v.nonce), unhex(t, v.header)
			got := c.aead().Seal(nil, nonce, msg, hdr)
			if !strings.EqualFold(hex.EncodeToString(got), tc.want) {
				t.Errorf("vector %d tag %d: Seal = %x, want %s", i+1, tc.tag, got, tc.want)
			}
			pt, err := c.aead().Open(nil, nonce, got, hdr)
			if err != nil || !bytes.Equal(pt, msg) {
				t.Errorf("vector %d tag %d: Open = %x, %v", i+1, tc.tag, pt, err)
			}
			got[len(got)-1] ^= 1
			if _, err := c.aead().Open(nil, nonce, got, hdr); err == nil {
				t.Errorf("vector %d tag %d: corrupted tag accepted", i+1, tc.tag)
			}
		}
	}
	// The library agrees with itself at every tag length we accept.
	block, _ := aes.NewCipher(testKey)
	for tl := 4; tl <= 16; tl++ {
		a, _ := eax.NewEAXWithNonceAndTagSize(block, 16, tl)
		c, _ := NewCipher(testKey, tl)
		n := make([]byte, 16)
		if !bytes.Equal(a.Seal(nil, n, []byte("x"), nil), c.aead().Seal(nil, n, []byte("x"), nil)) {
			t.Errorf("tag %d differs", tl)
		}
	}
}

// The OSP vectors of shared/vectors/osp/osp-vectors.md, computed by an
// implementation independent of this one.
const (
	vSecStep1 = "000000011015010001000010921111111111111111"
	vSecStep2 = "beef0001101b02650000003c5808e5efad011856598464c71e7358"
	vSecStep3 = "beef0002101703d0c993eee7bf16ade1579a9d7d3920fc"
	vSecStep4 = "beef0002110f659aa14f26a756a24f"
	vSecData  = "beef00038331dc973775217fdc0f5a4928f211fb77606cb5b02c01e9e72c16921977422e1e6ace06bd3fd8fc36bb94ff0a"
	vSecAck   = "beef0003310fc9f8428075f8a8e4f3"
	vSecPing  = "beef0004410ef4f09e5bf244da26"
	vSecCmd   = "beef00042115207f06ec35b2533536fa57ad0cb164"
	vSecResp  = "beef0005211260c1a14d504c78266acfed68"
	vSecFw    = "beef000661246f6a99c637072a3b9903bd8bc2e0a24bca8f8708975970a547c1cc33e386"
	vSecTerm  = "beef0007110f55f7a0f7417e898103"

	vPlainStep1 = "00000001100d01000100001092"
	vPlainStep2 = "beef0001100b0465000000"
	vPlainData  = "beef0002820b05000b6869"
	vPlainRes   = "beef0002700704"
)

func payload32() []byte {
	p := make([]byte, 32)
	for i := range p {
		p[i] = byte(i)
	}
	return p
}

// TestOSPVectorsCodec seals and opens every secure-session vector with the
// codec alone.
func TestOSPVectorsCodec(t *testing.T) {
	c, err := NewCipher(testKey, 8)
	if err != nil {
		t.Fatal(err)
	}
	civ, siv := iv(0x11), iv(0x22)
	up, down := MakeNonceBase(civ, siv), MakeNonceBase(siv, civ)
	fw, _ := MakeFirmwareName("fw-1.2.0")
	cases := []struct {
		name  string
		base  NonceBase
		seq   uint16
		t     MsgType
		flags Flags
		body  []byte
		want  string
	}{
		{"step 4", down, 2, TypeConnect, 0, []byte{4}, vSecStep4},
		{"data", up, 3, TypeData, FlagAckReq, (&Data{MessageID: 0, DataType: 10, Payload: payload32()}).AppendBody(nil), vSecData},
		{"ack", down, 3, TypeAck, 0, []byte{0}, vSecAck},
		{"pingreq", up, 4, TypePingReq, 0, nil, vSecPing},
		{"command", down, 4, TypeCommand, 0, (&CommandRequest{ID: 7, Script: []byte("reboot")}).AppendBody(nil), vSecCmd},
		{"command response", up, 5, TypeCommand, 0, (&CommandResponse{ID: 7, ExitCode: 1, Response: []byte("ok")}).AppendBody(nil), vSecResp},
		{"firmware request", up, 6, TypeFirmware, 0, (&FirmwareRequest{ChunkID: 3, Name: fw}).AppendBody(nil), vSecFw},
		{"termination", up, 7, TypeConnect, 0, []byte{0}, vSecTerm},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var n Nonce
			tc.base.Put(&n, tc.seq)
			got, err := c.SealPacket(nil, &n, 0xbeef, tc.seq, tc.t, tc.flags, tc.body)
			if err != nil || hex.EncodeToString(got) != tc.want {
				t.Fatalf("SealPacket = %x, %v\nwant          %s", got, err, tc.want)
			}
			p, err := Decode(unhex(t, tc.want))
			if err != nil {
				t.Fatal(err)
			}
			if p.SID != 0xbeef || p.SeqNum != tc.seq || p.Type != tc.t || p.Flags != tc.flags|FlagEAX {
				t.Fatalf("header %+v", p.Header)
			}
			body, err := c.OpenPacket(&p, &n)
			if err != nil || !bytes.Equal(body, tc.body) {
				t.Fatalf("OpenPacket = %x, %v", body, err)
			}
		})
	}
	// Plain vectors.
	for _, tc := range []struct {
		seq   uint16
		t     MsgType
		flags Flags
		sid   uint16
		body  []byte
		want  string
	}{
		{1, TypeConnect, 0, 0, (&Connect{State: ConnInit, DeviceType: 1, ModuleID: 4242}).appendMust(), vPlainStep1},
		{1, TypeConnect, 0, 0xbeef, (&Connect{State: ConnGranted, Timestamp: 0x65000000}).appendMust(), vPlainStep2},
		{2, TypeData, FlagAckReq, 0xbeef, (&Data{MessageID: 5, DataType: 11, Payload: []byte("hi")}).AppendBody(nil), vPlainData},
		{2, TypeResend, 0, 0xbeef, []byte{4}, vPlainRes},
		{1, TypeConnect, 0, 0, (&Connect{State: ConnInit, Secure: true, DeviceType: 1, ModuleID: 4242, ClientIV: civ}).appendMust(), vSecStep1},
	} {
		got, err := AppendPlain(nil, tc.sid, tc.seq, tc.t, tc.flags, tc.body)
		if err != nil || hex.EncodeToString(got) != tc.want {
			t.Errorf("AppendPlain = %x, %v; want %s", got, err, tc.want)
		}
	}
	// Handshake blocks: steps 2 and 3 are one ECB block each.
	var blk [16]byte
	c.encryptIVs(&blk, siv, civ)
	if got := "beef0001101b0265000000" + hex.EncodeToString(blk[:]); got != vSecStep2 {
		t.Errorf("step 2 = %s, want %s", got, vSecStep2)
	}
	c.encryptIVs(&blk, civ, siv)
	if got := "beef00021017" + "03" + hex.EncodeToString(blk[:]); got != vSecStep3 {
		t.Errorf("step 3 = %s, want %s", got, vSecStep3)
	}
	// Tampering with the associated data (the fixed header) fails the MAC.
	p, _ := Decode(unhex(t, vSecAck))
	p.Raw[3] ^= 1 // SeqNum
	var n Nonce
	down.Put(&n, 3)
	if _, err := c.OpenPacket(&p, &n); err != ErrAuth {
		t.Errorf("tampered header: %v", err)
	}
}

func (c *Connect) appendMust() []byte {
	b, err := c.AppendBody(nil)
	if err != nil {
		panic(err)
	}
	return b
}

// TestOSPVectorsEngine runs the real client and server roles with the
// vectors' random values and clock and checks every byte they exchange.
func TestOSPVectorsEngine(t *testing.T) {
	t.Run("secure", func(t *testing.T) {
		r := newRig(t, nil)
		c := r.secureClient(nil)
		r.connect(c)
		if got := hexAll(c.toServer.sent()); got[0] != vSecStep1 || got[1] != vSecStep3 {
			t.Errorf("client handshake = %v", got)
		}
		if got := hexAll(c.toClient.sent()); got[0] != vSecStep2 || got[1] != vSecStep4 {
			t.Errorf("server handshake = %v", got)
		}
		if _, err := c.SendData(10, payload32(), FlagAckReq); err != nil {
			t.Fatal(err)
		}
		r.pump(c)
		rds := r.rec.takeReadings()
		if len(rds) != 1 || !bytes.Equal(rds[0].Payload, payload32()) || !rds[0].Authenticated || rds[0].DataType != 10 {
			t.Fatalf("readings = %+v", rds)
		}
		if err := r.srv.Ack(rds[0].AckRef()); err != nil {
			t.Fatal(err)
		}
		if err := c.Ping(); err != nil {
			t.Fatal(err)
		}
		r.pump(c)
		up, down := hexAll(c.toServer.sent()), hexAll(c.toClient.sent())
		if up[2] != vSecData || up[3] != vSecPing {
			t.Errorf("client sent %v", up[2:])
		}
		if down[2] != vSecAck {
			t.Errorf("server ACK = %s, want %s", down[2], vSecAck)
		}
		if len(c.eventsOf(ClientAcked)) != 1 || len(c.eventsOf(ClientPong)) != 1 {
			t.Errorf("client events %+v", c.events)
		}
	})
	t.Run("plain", func(t *testing.T) {
		r := newRig(t, nil)
		r.rec.devices[secDev] = Security{} // the vectors use 1:4242 for the plain device too
		c := r.client(secDev, Security{}, nil)
		r.connect(c)
		if got := hexAll(c.toServer.sent()); got[0] != vPlainStep1 {
			t.Errorf("client step 1 = %s", got[0])
		}
		if got := hexAll(c.toClient.sent()); got[0] != vPlainStep2 {
			t.Errorf("server step 2 = %s", got[0])
		}
		// A client whose MessageIDs reached 5 after losing 4: the server asks
		// for 4 with the vector's RESEND.
		c.nextMsg = 3
		if _, err := c.SendData(11, []byte("x"), 0); err != nil { // MessageID 3
			t.Fatal(err)
		}
		r.pump(c)
		c.toServer.dropNext(1)
		c.SendData(11, []byte("y"), 0) // MessageID 4, lost
		c.toClient.dropNext(1)         // keep the client from answering the RESEND
		c.SendData(11, []byte("hi"), FlagAckReq)
		r.pump(c)
		up := hexAll(c.toServer.sent())
		if up[3] != "beef0004820b05000b6869" { // the vector's DATA, two SeqNums later
			t.Errorf("DATA = %s", up[3])
		}
		down := hexAll(c.toClient.sent())
		if down[1] != vPlainRes {
			t.Errorf("RESEND = %s, want %s", down[1], vPlainRes)
		}
	})
}

func hexAll(pkts [][]byte) []string {
	out := make([]string, len(pkts))
	for i, p := range pkts {
		out[i] = hex.EncodeToString(p)
	}
	return append(out, "", "", "", "", "", "") // room for indexing in failing tests
}
