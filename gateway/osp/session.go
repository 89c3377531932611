package osp

import (
	"errors"
	"fmt"
	"sync"
	"time"
)

// Server-side session states:
//
//	            step 1 (secure)            step 3 verified
//	(none) ─────────────────────▶ pending ─────────────────▶ open ◀──┐
//	   │                             │ timeout, bad step 3,   │  │   │ any valid packet with
//	   │ step 1 (non-secure)         │ superseded             │  │   │ SeqNum > pause SeqNum
//	   └─────────────────────────────┼────────────────────────┘  │   │
//	                                 ▼                     pause │   │
//	                              closed ◀───────────────────── paused
//	                                 ▲   termination, violation,
//	                                 └── replacement, ping/idle timeout, SeqNum exhaustion
type sessState uint8

const (
	stateClosed sessState = iota
	statePending
	stateOpen
	statePaused
)

func (s sessState) String() string {
	switch s {
	case statePending:
		return "pending"
	case stateOpen:
		return "open"
	case statePaused:
		return "paused"
	default:
		return "closed"
	}
}

// session is the server's state for one SID. Its fields are guarded by mu;
// srv's tables by srv.mu, which is never acquired before mu is released or
// while waiting on mu (lock order: session, then server).
type session struct {
	mu  sync.Mutex
	srv *Server

	state    sessState
	sid      uint16
	dev      DeviceID
	gen      uint64
	w        wire
	peer     Peer
	queue    SendQueue // while AckQueued runs: where transmit puts packets
	civ, siv [IVLen]byte

	opened     time.Time
	lastRecv   time.Time
	hsDeadline time.Time
	pauseSeq   uint16

	pingOut    bool
	pingSent   time.Time
	pingMisses int

	cmd       *pendingCommand
	nextCmdID uint8

	// DATA tracking (clause 9): next expected MessageID (-1 before the
	// first), the MessageID space, which IDs of the current lap arrived, and
	// the IDs awaited by RESEND.
	nextMsg int
	modulus int
	recvd   [4]uint64
	missing []resendEntry

	pausedAcks []uint8
	tmp        [32]byte // small bodies; heap-resident so sealing does not allocate
}

type pendingCommand struct {
	id       uint8
	script   []byte
	done     func(CommandResult)
	sent     bool
	deadline time.Time
}

type resendEntry struct {
	id       uint8
	tries    int
	deadline time.Time
}

// maxPausedAcks bounds the ACKNOWLEDGEs held for a paused session.
const maxPausedAcks = 64

func (ss *session) event(k EventKind, err error) Event {
	return Event{Kind: k, Device: ss.dev, SID: ss.sid, Gen: ss.gen, Secure: ss.w.secure(), Err: err, Peer: ss.peer}
}

func (ss *session) handle(p *Packet, from Peer, fx *effects) error {
	srv := ss.srv
	switch ss.state {
	case stateClosed:
		srv.count(CountUnknownSID)
		return ErrUnknownSID
	case statePending:
		return ss.handleClientAuth(p, from, fx)
	}
	eax := p.Flags&FlagEAX != 0
	if ss.w.secure() && !eax && srv.cfg.RequireEAX {
		srv.count(CountPlaintext)
		return ErrPlaintext
	}
	body, err := ss.w.open(p)
	if err != nil {
		var fe *FlagError
		switch {
		case errors.As(err, &fe):
			ss.violation(fx, err)
		case errors.Is(err, ErrReplay):
			srv.count(CountReplay)
		default:
			srv.count(CountAuthFailed)
			fx.event(ss.event(EventAuthFailed, err))
		}
		return err
	}
	now := srv.cfg.Clock.Now()
	ss.lastRecv = now
	ss.pingOut, ss.pingMisses = false, 0
	authentic := eax || !ss.w.secure()
	if authentic {
		ss.peer = from // the return path follows authenticated packets only
	}
	// Flag rules, checked once the packet authenticated (clause 5.9).
	if err := CheckFlags(p.Type, p.Flags); err != nil {
		ss.violation(fx, err)
		return err
	}
	if ss.w.secure() && !eax && eaxRequired(p.Type) {
		err := &FlagError{Type: p.Type, Flags: p.Flags, Reason: "must have EAX enabled in a secure session"}
		ss.violation(fx, err)
		return err
	}
	if ss.state == statePaused && authentic && p.SeqNum > ss.pauseSeq && !isPause(p.Type, body) {
		ss.resume(fx, now)
	}

	switch p.Type {
	case TypeData:
		return ss.handleData(p, body, eax, now, fx)
	case TypeConnect:
		return ss.handleConnect(body, p.SeqNum, fx)
	case TypePingReq:
		if err := checkEmpty(p.Type, body); err != nil {
			srv.count(CountMalformed)
			return err
		}
		if ss.state == statePaused {
			return nil // a stale PINGREQ from before the pause: nothing may be sent
		}
		return ss.send(fx, TypePingResp, 0, nil)
	case TypePingResp:
		if err := checkEmpty(p.Type, body); err != nil {
			srv.count(CountMalformed)
			return err
		}
		return nil // liveness was noted above; unexpected ones are ignored
	case TypeCommand:
		return ss.handleCommandResponse(body, fx)
	case TypeFirmware:
		return ss.handleFirmware(body, fx)
	default: // ACKNOWLEDGE and RESEND are Server » Client only: ignore
		srv.count(CountIgnored)
		return fmt.Errorf("%w: %s from a client", ErrUnexpected, p.Type)
	}
}

func isPause(t MsgType, body []byte) bool {
	return t == TypeConnect && len(body) == 1 && ConnState(body[0]) == ConnPaused
}

// handleClientAuth verifies step 3 of the secure handshake (clause 6.1.1.4).
func (ss *session) handleClientAuth(p *Packet, from Peer, fx *effects) error {
	srv := ss.srv
	if p.Type != TypeConnect || p.SeqNum != 2 || p.Flags != 0 {
		srv.count(CountIgnored)
		return fmt.Errorf("%w: %s SeqNum %d during the handshake", ErrUnexpected, p.Type, p.SeqNum)
	}
	var c Connect
	if err := c.Unmarshal(p.Body()); err != nil {
		srv.count(CountMalformed)
		return err
	}
	if c.State != ConnClientAuth {
		srv.count(CountIgnored)
		return fmt.Errorf("%w: %s during the handshake", ErrConnState, c.State)
	}
	civ, siv := ss.w.ciph.decryptIVs(c.Block)
	if ok := constantTimeEqualIV(civ, ss.civ); !constantTimeEqualIV(siv, ss.siv) || !ok {
		// Client authentication failed: terminated silently.
		ss.close(fx, ErrHandshake)
		return ErrHandshake
	}
	ss.w.win.Accept(2)
	ss.peer = from
	ss.state = stateOpen
	ss.lastRecv = srv.cfg.Clock.Now()
	ss.opened = ss.lastRecv
	ss.tmp[0] = byte(ConnGranted)
	if err := ss.send(fx, TypeConnect, 0, ss.tmp[:1]); err != nil {
		ss.close(fx, err)
		return err
	}
	srv.count(CountHandshakes)
	fx.promote = ss
	fx.event(ss.event(EventSessionOpened, nil))
	return nil
}

func (ss *session) handleConnect(body []byte, seq uint16, fx *effects) error {
	var c Connect
	if err := c.Unmarshal(body); err != nil {
		if errors.Is(err, ErrConnState) {
			ss.violation(fx, err)
		} else {
			ss.srv.count(CountMalformed)
		}
		return err
	}
	switch c.State {
	case ConnTerminated:
		ss.close(fx, ErrTerminated)
		return nil
	case ConnPaused:
		if ss.state == stateOpen {
			ss.state = statePaused
			ss.pauseSeq = seq
			fx.event(ss.event(EventSessionPaused, nil))
		}
		return nil
	default:
		// Only the server sends 2 and 4; 1 and 3 belong to the handshake.
		err := fmt.Errorf("%w: %s in an open session", ErrConnState, c.State)
		ss.violation(fx, err)
		return err
	}
}

func (ss *session) resume(fx *effects, now time.Time) {
	ss.state = stateOpen
	fx.event(ss.event(EventSessionResumed, nil))
	for _, id := range ss.pausedAcks {
		if ss.sendAck(fx, id) != nil {
			break
		}
	}
	ss.pausedAcks = ss.pausedAcks[:0]
	for i := range ss.missing {
		ss.missing[i].deadline = now // re-request what is still missing
	}
	if ss.cmd != nil && !ss.cmd.sent {
		ss.sendCommand(fx, now)
	}
}

// handleData implements clause 9: gap detection with RESEND, stubs,
// duplicates, and ACKNOWLEDGE after the reading is handed up.
func (ss *session) handleData(p *Packet, body []byte, eax bool, now time.Time, fx *effects) error {
	srv := ss.srv
	var d Data
	if err := d.Unmarshal(body); err != nil {
		srv.count(CountMalformed)
		return err
	}
	ackReq := p.Flags&FlagAckReq != 0
	if d.DataType == DataTypeStub {
		if ss.takeMissing(d.MessageID) {
			ss.setRecvd(d.MessageID)
			srv.count(CountResendFailed)
			e := ss.event(EventResendUnavailable, nil)
			e.MessageID = d.MessageID
			fx.event(e)
		} else {
			srv.count(CountIgnored)
		}
		if ackReq {
			return ss.ack(fx, d.MessageID)
		}
		return nil
	}
	dup := ss.trackMessageID(d.MessageID, p.Flags&FlagCached != 0, now, fx)
	srv.count(CountData)
	if dup {
		srv.count(CountDataDuplicate)
	}
	fx.hasReading = true
	fx.reading = Reading{
		Device: ss.dev, SID: ss.sid, Gen: ss.gen, SeqNum: p.SeqNum,
		MessageID: d.MessageID, DataType: d.DataType, Flags: p.Flags, Payload: d.Payload,
		Authenticated: eax, Duplicate: dup, Peer: ss.peer, Received: now,
	}
	if ackReq && srv.cfg.AutoAck {
		return ss.ack(fx, d.MessageID)
	}
	return nil
}

func (ss *session) hasRecvd(id uint8) bool { return ss.recvd[id>>6]&(1<<(id&63)) != 0 }
func (ss *session) setRecvd(id uint8)      { ss.recvd[id>>6] |= 1 << (id & 63) }
func (ss *session) clearRecvd(id uint8)    { ss.recvd[id>>6] &^= 1 << (id & 63) }

// trackMessageID follows the continuous MessageID sequence of clause 9.1 and
// requests every skipped ID with RESEND. A packet with the Cached bit "was
// attempted to be sent at least once" (clause 5.4): it fills a gap or is a
// duplicate, and never moves the sequence on, however far ahead its
// MessageID looks after a wrap. It reports whether id is a duplicate of one
// already received in this session.
func (ss *session) trackMessageID(id uint8, cached bool, now time.Time, fx *effects) (dup bool) {
	n := ss.modulus
	if int(id) >= n {
		return false // outside the device's declared range: no gap tracking
	}
	if !cached {
		if ss.nextMsg < 0 {
			ss.setRecvd(id)
			ss.nextMsg = (int(id) + 1) % n
			return false
		}
		if d := (int(id) - ss.nextMsg + n) % n; d < (n+1)/2 { // at or ahead of the expected ID: new
			for k := range d {
				m := uint8((ss.nextMsg + k) % n)
				ss.clearRecvd(m)
				if d-k <= ss.srv.cfg.MaxResendPending {
					ss.requestResend(m, now, fx)
				} else {
					ss.resendFailed(fx, m)
				}
			}
			ss.takeMissing(id)
			ss.setRecvd(id)
			ss.nextMsg = (int(id) + 1) % n
			return false
		}
	}
	if ss.takeMissing(id) || !ss.hasRecvd(id) {
		ss.setRecvd(id)
		return false // the answer to a RESEND, a retransmission, or a late arrival
	}
	return true
}

func (ss *session) requestResend(id uint8, now time.Time, fx *effects) {
	if ss.takeMissing(id) {
		// Asked before in an earlier lap and never answered.
		ss.resendFailed(fx, id)
	}
	if len(ss.missing) >= ss.srv.cfg.MaxResendPending {
		oldest := ss.missing[0]
		copy(ss.missing, ss.missing[1:])
		ss.missing = ss.missing[:len(ss.missing)-1]
		ss.resendFailed(fx, oldest.id)
	}
	ss.missing = append(ss.missing, resendEntry{id: id, deadline: now.Add(ss.srv.cfg.ResendTimeout)})
	if ss.state == stateOpen {
		ss.sendResend(fx, id)
	}
}

func (ss *session) sendResend(fx *effects, id uint8) {
	ss.tmp[0] = id
	if ss.send(fx, TypeResend, 0, ss.tmp[:1]) == nil {
		ss.srv.count(CountResends)
	}
}

func (ss *session) takeMissing(id uint8) bool {
	for i, m := range ss.missing {
		if m.id == id {
			ss.missing = append(ss.missing[:i], ss.missing[i+1:]...)
			return true
		}
	}
	return false
}

func (ss *session) resendFailed(fx *effects, id uint8) {
	ss.srv.count(CountResendFailed)
	e := ss.event(EventResendFailed, nil)
	e.MessageID = id
	fx.event(e)
}

func (ss *session) ack(fx *effects, id uint8) error {
	if ss.state == statePaused {
		if len(ss.pausedAcks) >= maxPausedAcks {
			copy(ss.pausedAcks, ss.pausedAcks[1:])
			ss.pausedAcks = ss.pausedAcks[:maxPausedAcks-1]
		}
		ss.pausedAcks = append(ss.pausedAcks, id)
		return nil
	}
	return ss.sendAck(fx, id)
}

func (ss *session) sendAck(fx *effects, id uint8) error {
	ss.tmp[0] = id
	err := ss.send(fx, TypeAck, 0, ss.tmp[:1])
	if err == nil {
		ss.srv.count(CountAcks)
	}
	return err
}

func (ss *session) queueCommand(fx *effects, script []byte, done func(CommandResult)) (uint8, error) {
	switch {
	case ss.state != stateOpen && ss.state != statePaused:
		return 0, fmt.Errorf("%w: device %s", ErrNoSession, ss.dev)
	case ss.cmd != nil:
		return 0, ErrCommandPending
	case PacketSizeFor(1+len(script)+ss.tagLen()) > ss.maxPacket():
		return 0, fmt.Errorf("%w: command script of %d bytes", ErrTooLarge, len(script))
	}
	ss.nextCmdID++
	if ss.nextCmdID == 0 { // identifiers are never 0 (clause 4.2.2)
		ss.nextCmdID = 1
	}
	ss.cmd = &pendingCommand{id: ss.nextCmdID, script: append([]byte(nil), script...), done: done}
	if ss.state == stateOpen {
		if err := ss.sendCommand(fx, ss.srv.cfg.Clock.Now()); err != nil {
			ss.cmd = nil
			return 0, err
		}
	}
	return ss.nextCmdID, nil
}

func (ss *session) sendCommand(fx *effects, now time.Time) error {
	c := ss.cmd
	req := CommandRequest{ID: c.id, Script: c.script}
	bp := ss.srv.getBuf()
	body := req.AppendBody((*bp)[:0])
	err := ss.send(fx, TypeCommand, 0, body)
	*bp = body
	ss.srv.putBuf(bp)
	if err != nil {
		return err
	}
	c.sent, c.deadline = true, now.Add(ss.srv.cfg.CommandTimeout)
	ss.srv.count(CountCommands)
	return nil
}

func (ss *session) handleCommandResponse(body []byte, fx *effects) error {
	var r CommandResponse
	if err := r.Unmarshal(body); err != nil {
		ss.srv.count(CountMalformed)
		return err
	}
	c := ss.cmd
	if c == nil || !c.sent || c.id != r.ID {
		// "If the Server receives a COMMAND packet with an invalid ID, the
		// packet MUST be ignored" (clause 7.2).
		ss.srv.count(CountIgnored)
		return fmt.Errorf("%w: COMMAND response with CommandID %d", ErrUnexpected, r.ID)
	}
	ss.cmd = nil
	res := CommandResult{Device: ss.dev, ID: r.ID, ExitCode: r.ExitCode, Response: append([]byte(nil), r.Response...)}
	if r.ExitCode == ExitBusy {
		res.Err = ErrCommandBusy
	}
	fx.cmds = append(fx.cmds, cmdCallback{c.done, res})
	return nil
}

func (ss *session) handleFirmware(body []byte, fx *effects) error {
	srv := ss.srv
	var req FirmwareRequest
	if err := req.Unmarshal(body); err != nil {
		srv.count(CountMalformed)
		return err
	}
	max := ss.maxPacket() - MaxHeaderLen - 2 - FirmwareNameLen - ss.tagLen()
	var data []byte
	if srv.cfg.Firmware != nil {
		d, err := srv.cfg.Firmware.FirmwareChunk(ss.dev, req.Name.String(), req.ChunkID, max)
		if err == nil && len(d) <= max {
			data = d
		}
	}
	resp := FirmwareResponse{ChunkID: req.ChunkID, Name: req.Name, Data: data}
	bp := srv.getBuf()
	out := resp.AppendBody((*bp)[:0])
	err := ss.send(fx, TypeFirmware, 0, out)
	*bp = out
	srv.putBuf(bp)
	if err == nil {
		srv.count(CountFirmware)
	}
	return err
}

func (ss *session) tagLen() int {
	if ss.w.ciph != nil {
		return ss.w.ciph.tagLen
	}
	return 0
}

func (ss *session) maxPacket() int {
	max := ss.srv.cfg.MaxPacketSize
	if m, ok := ss.peer.(MTUPeer); ok && m.MTU() > 0 && m.MTU() < max {
		max = m.MTU()
	}
	return max
}

// tick runs the session's expired timers.
func (ss *session) tick(now time.Time, fx *effects) {
	cfg := &ss.srv.cfg
	switch ss.state {
	case statePending:
		if !now.Before(ss.hsDeadline) {
			ss.close(fx, ErrHandshakeTimeout)
		}
		return
	case statePaused:
		if cfg.IdleTimeout > 0 && now.Sub(ss.lastRecv) >= cfg.IdleTimeout {
			ss.close(fx, ErrIdle) // nothing may be sent to a paused client
		}
		return
	case stateClosed:
		return
	}
	if c := ss.cmd; c != nil && c.sent && !now.Before(c.deadline) {
		ss.cmd = nil
		ss.srv.count(CountCommandTimeouts)
		fx.cmds = append(fx.cmds, cmdCallback{c.done, CommandResult{Device: ss.dev, ID: c.id, Err: ErrCommandTimeout}})
	}
	for i := 0; i < len(ss.missing); {
		m := &ss.missing[i]
		if now.Before(m.deadline) {
			i++
			continue
		}
		if m.tries < cfg.ResendRetries {
			m.tries++
			m.deadline = now.Add(cfg.ResendTimeout)
			ss.sendResend(fx, m.id)
			i++
			continue
		}
		id := m.id
		ss.missing = append(ss.missing[:i], ss.missing[i+1:]...)
		ss.resendFailed(fx, id)
	}
	if ss.state != stateOpen {
		return // a send above may have closed the session
	}
	if cfg.IdleTimeout > 0 && now.Sub(ss.lastRecv) >= cfg.IdleTimeout {
		ss.terminate(fx, ErrIdle)
		return
	}
	if cfg.PingInterval > 0 {
		switch {
		case ss.pingOut && now.Sub(ss.pingSent) >= cfg.PingInterval:
			ss.pingMisses++
			if ss.pingMisses >= cfg.PingMisses {
				ss.close(fx, ErrPingTimeout) // the client is unreachable: silently
				return
			}
			ss.sendPing(fx, now)
		case !ss.pingOut && now.Sub(ss.lastRecv) >= cfg.PingInterval:
			ss.sendPing(fx, now)
		}
	}
}

func (ss *session) sendPing(fx *effects, now time.Time) {
	if ss.send(fx, TypePingReq, 0, nil) == nil {
		ss.pingOut, ss.pingSent = true, now
	}
}

// send seals and transmits one packet with the session's next SeqNum: under
// EAX in a secure session, plain otherwise. Before the SeqNum would
// overflow, the session is terminated instead (clause 5.2).
func (ss *session) send(fx *effects, t MsgType, flags Flags, body []byte) error {
	if ss.state == statePaused {
		return ErrPaused
	}
	if ss.w.lastSeq() && !(t == TypeConnect && len(body) == 1 && body[0] == byte(ConnTerminated)) {
		ss.terminate(fx, ErrSeqExhausted)
		return ErrSeqExhausted
	}
	return ss.transmit(t, flags, ss.w.secure(), body)
}

// sendPlain sends without EAX (handshake steps 2 and non-secure step 2).
func (ss *session) sendPlain(t MsgType, body []byte) error {
	return ss.transmit(t, 0, false, body)
}

func (ss *session) transmit(t MsgType, flags Flags, eax bool, body []byte) error {
	srv := ss.srv
	bp := srv.getBuf()
	pkt, err := ss.w.append((*bp)[:0], t, flags, eax, body)
	if err == nil {
		if ss.queue == nil || !ss.queue.Queue(ss.peer, pkt) {
			err = ss.peer.Send(pkt)
		}
		if err != nil {
			srv.count(CountSendErrors)
		} else {
			srv.count(CountTx)
		}
	}
	*bp = pkt[:0]
	srv.putBuf(bp)
	return err
}

// violation ends the session for a protocol violation (clause 5.9).
func (ss *session) violation(fx *effects, reason error) {
	ss.srv.count(CountViolations)
	ss.terminate(fx, reason)
}

// terminate sends the terminating CONNECT (clause 6.2), unless the client is
// paused, and closes the session.
func (ss *session) terminate(fx *effects, reason error) {
	if ss.state == stateOpen {
		ss.tmp[0] = byte(ConnTerminated)
		_ = ss.transmit(TypeConnect, 0, ss.w.secure(), ss.tmp[:1])
	}
	ss.close(fx, reason)
}

// close ends the session without a packet and reports it.
func (ss *session) close(fx *effects, reason error) {
	if ss.state == stateClosed {
		return
	}
	prev := ss.state
	ss.state = stateClosed
	fx.removes = append(fx.removes, ss)
	if prev == statePending {
		ss.srv.count(CountHandshakeFailures)
		fx.event(ss.event(EventHandshakeFailed, reason))
		return
	}
	ss.srv.count(CountSessionsClosed)
	for _, m := range ss.missing {
		ss.resendFailed(fx, m.id) // no RESEND across sessions (clause 9.1)
	}
	ss.missing = nil
	if c := ss.cmd; c != nil {
		ss.cmd = nil
		fx.cmds = append(fx.cmds, cmdCallback{c.done, CommandResult{Device: ss.dev, ID: c.id,
			Err: fmt.Errorf("%w: %w", ErrSessionClosed, reason)}})
	}
	fx.event(ss.event(EventSessionClosed, reason))
}

func (s *Server) getBuf() *[]byte  { return s.bufs.Get().(*[]byte) }
func (s *Server) putBuf(b *[]byte) { s.bufs.Put(b) }
