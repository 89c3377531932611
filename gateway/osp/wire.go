package osp

import "time"

// Window is the receive window of clause 5.2: after accepting SeqNum N, a
// packet M is accepted when M > N (N becomes M), or when N-W < M < N and M
// was not accepted before. SeqNum 0 is never valid (numbering starts at 1).
type Window struct {
	last uint16
	seen uint32 // bit i set: SeqNum last-i was accepted
}

// WindowSize is W, the recommended window of 32.
const WindowSize = 32

// Check reports whether seq would be accepted, without accepting it.
func (w *Window) Check(seq uint16) bool {
	if seq == 0 {
		return false
	}
	if seq > w.last {
		return true
	}
	d := w.last - seq
	return d < WindowSize && w.seen&(1<<d) == 0
}

// Accept records seq as accepted. Call it only after Check returned true and
// the packet authenticated.
func (w *Window) Accept(seq uint16) {
	if seq > w.last {
		shift := seq - w.last
		if shift >= WindowSize {
			w.seen = 1
		} else {
			w.seen = w.seen<<shift | 1
		}
		w.last = seq
		return
	}
	w.seen |= 1 << (w.last - seq)
}

// Last returns the highest SeqNum accepted (0 before any).
func (w *Window) Last() uint16 { return w.last }

// wire is one side's view of a session's packet layer: the SID, sequence
// numbers in both directions, and the keys. It is not safe for concurrent
// use; its owner serialises access.
type wire struct {
	sid      uint16
	ciph     *Cipher // nil in a non-secure session
	sendBase NonceBase
	recvBase NonceBase
	nextSend uint16 // SeqNum of the next packet sent; 0 once exhausted
	win      Window
	nonce    Nonce
}

func (w *wire) secure() bool { return w.ciph != nil }

// reset prepares w for a new session: SeqNums start at 1 both ways.
func (w *wire) reset(sid uint16, ciph *Cipher) {
	*w = wire{sid: sid, ciph: ciph, nextSend: 1}
}

// setIVs derives the nonce bases once both init vectors are known; local is
// this side's vector.
func (w *wire) setIVs(local, remote [IVLen]byte) {
	w.sendBase = MakeNonceBase(local, remote)
	w.recvBase = MakeNonceBase(remote, local)
}

// lastSeq reports whether the next packet is the last one SeqNum allows; it
// must be the termination.
func (w *wire) lastSeq() bool { return w.nextSend == 0xFFFF }

// append encodes a packet with the next SeqNum, under EAX when eax is set.
func (w *wire) append(dst []byte, t MsgType, flags Flags, eax bool, body []byte) ([]byte, error) {
	if w.nextSend == 0 {
		return dst, ErrSeqExhausted
	}
	seq := w.nextSend
	var err error
	if eax {
		w.sendBase.Put(&w.nonce, seq)
		dst, err = w.ciph.SealPacket(dst, &w.nonce, w.sid, seq, t, flags, body)
	} else {
		dst, err = AppendPlain(dst, w.sid, seq, t, flags, body)
	}
	if err != nil {
		return dst, err
	}
	w.nextSend++
	return dst, nil
}

// open checks the SeqNum window, verifies and decrypts an EAX packet in
// place, and only then accepts its SeqNum. It returns the plaintext body.
func (w *wire) open(p *Packet) ([]byte, error) {
	eax := p.Flags&FlagEAX != 0
	if eax && w.ciph == nil {
		return nil, &FlagError{Type: p.Type, Flags: p.Flags, Reason: "E set in a non-secure session"}
	}
	if !w.win.Check(p.SeqNum) {
		return nil, ErrReplay
	}
	body := p.Body()
	if eax {
		w.recvBase.Put(&w.nonce, p.SeqNum)
		var err error
		if body, err = w.ciph.OpenPacket(p, &w.nonce); err != nil {
			return nil, err
		}
	}
	w.win.Accept(p.SeqNum)
	return body, nil
}

// eaxRequired reports whether the specification requires EAX for t in a
// secure session: CONNECT, COMMAND and FIRMWARE "MUST have EAX enabled";
// for the others it is RECOMMENDED.
func eaxRequired(t MsgType) bool {
	return t == TypeConnect || t == TypeCommand || t == TypeFirmware
}

// Clock tells the engine the time. Timers never sleep: the owner calls Tick
// and the engine compares deadlines with Now, so tests drive time exactly.
type Clock interface {
	Now() time.Time
}

// SystemClock is the Clock of the running system.
type SystemClock struct{}

// Now returns time.Now().
func (SystemClock) Now() time.Time { return time.Now() }
