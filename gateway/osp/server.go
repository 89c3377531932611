package osp

import (
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"time"
)

// DeviceID identifies a client device by DeviceType and ModuleID (clause 4.3).
type DeviceID struct {
	Type   uint16
	Module uint32
}

// String renders the ID as "DeviceType:ModuleID", e.g. "1:4242".
func (d DeviceID) String() string { return fmt.Sprintf("%d:%d", d.Type, d.Module) }

// Security is what the server must know about a device before it connects
// (clause 4.3): whether it is secure, and then its AES-128 key and MAC size.
type Security struct {
	Secure bool
	// Key is the 16-byte AES-128 key of a secure device.
	Key []byte
	// TagLen is the MAC length, 4..16; 0 means DefaultTagLen (8).
	TagLen int
	// MaxMessageID is the largest MessageID the device uses before folding
	// back to 0 (clause 9.1); 0 means 255.
	MaxMessageID uint8
}

// DeviceLookup finds a device's security parameters. It returns an error
// wrapping ErrUnknownDevice for a device it does not know.
type DeviceLookup interface {
	LookupDevice(id DeviceID) (Security, error)
}

// FirmwareSource serves firmware chunks to FIRMWARE requests. A missing
// firmware or chunk is (nil, nil) or an error; either way the client gets
// an empty ChunkData. The chunk must not exceed max bytes.
type FirmwareSource interface {
	FirmwareChunk(dev DeviceID, name string, chunk uint16, max int) ([]byte, error)
}

// Peer is the return path to a client: one address on one link. Send
// transmits one whole packet and must not retain pkt after it returns.
type Peer interface {
	Send(pkt []byte) error
}

// MTUPeer is a Peer that limits the packet size (a LoRa radio, a UDP path).
type MTUPeer interface {
	Peer
	MTU() int
}

// Handler receives what the server's sessions produce. Its methods are called
// without any engine lock held, possibly from several goroutines at once.
type Handler interface {
	// HandleData receives every DATA packet except resend stubs. r.Payload
	// aliases the packet buffer given to Handle and is valid only until
	// HandleData returns. When r.Flags has FlagAckReq and AutoAck is off,
	// the handler calls Server.Ack(r.AckRef()) once the reading is durable.
	HandleData(r Reading)
	// HandleEvent receives session life-cycle and resend events.
	HandleEvent(e Event)
}

// Reading is one DATA packet as received.
type Reading struct {
	Device    DeviceID
	SID       uint16
	Gen       uint64
	SeqNum    uint16
	MessageID uint8
	DataType  uint16
	Flags     Flags
	Payload   []byte
	// Authenticated is true when the packet arrived under EAX.
	Authenticated bool
	// Duplicate is true when this MessageID was already received in this
	// session (a retransmission whose ACKNOWLEDGE was lost); it still needs
	// its ACKNOWLEDGE.
	Duplicate bool
	Peer      Peer
	Received  time.Time
}

// AckRef returns what Server.Ack needs to acknowledge r.
func (r *Reading) AckRef() AckRef { return AckRef{SID: r.SID, Gen: r.Gen, MessageID: r.MessageID} }

// AckRef names one DATA packet to acknowledge in one session.
type AckRef struct {
	SID       uint16
	Gen       uint64
	MessageID uint8
}

// EventKind says what an Event reports.
type EventKind uint8

// The events a Server reports.
const (
	EventSessionOpened EventKind = iota + 1
	EventSessionClosed
	EventSessionPaused
	EventSessionResumed
	EventHandshakeFailed
	// EventResendFailed: a missing MessageID was not recovered by RESEND.
	EventResendFailed
	// EventResendUnavailable: the client answered a RESEND with a stub.
	EventResendUnavailable
	// EventAuthFailed: a packet of a live session failed authentication
	// (its EAX tag did not verify) and was dropped; the session goes on.
	EventAuthFailed
)

var eventNames = [...]string{"", "session-opened", "session-closed", "session-paused", "session-resumed", "handshake-failed", "resend-failed", "resend-unavailable", "auth-failed"}

// String names the kind.
func (k EventKind) String() string {
	if int(k) < len(eventNames) && k != 0 {
		return eventNames[k]
	}
	return fmt.Sprintf("event(%d)", uint8(k))
}

// Event reports a change in a session.
type Event struct {
	Kind   EventKind
	Device DeviceID
	SID    uint16
	Gen    uint64
	Secure bool
	// MessageID names the DATA packet of resend events.
	MessageID uint8
	// Err is the reason of closing and failure events.
	Err  error
	Peer Peer
}

// CommandResult is the outcome of SendCommand.
type CommandResult struct {
	Device   DeviceID
	ID       uint8
	ExitCode uint8
	Response []byte
	// Err is nil on a response, ErrCommandBusy on a BUSY response, or why no
	// response came (ErrCommandTimeout, ErrSessionClosed).
	Err error
}

// ServerConfig configures a Server. Devices and Handler are required.
type ServerConfig struct {
	Devices  DeviceLookup
	Handler  Handler
	Firmware FirmwareSource
	// Clock defaults to SystemClock.
	Clock Clock
	// Rand supplies SIDs and init vectors; it defaults to crypto/rand.
	Rand io.Reader
	// HandshakeTimeout is the fallback timer of a pending secure handshake
	// (default 10 s).
	HandshakeTimeout time.Duration
	// CommandTimeout bounds the wait for a COMMAND response (default 30 s).
	CommandTimeout time.Duration
	// ResendTimeout is the wait for the answer to a RESEND (default 5 s);
	// ResendRetries the number of further RESENDs (default 2).
	ResendTimeout time.Duration
	ResendRetries int
	// MaxResendPending bounds the MessageIDs awaited by RESEND per session
	// (default 32).
	MaxResendPending int
	// PingInterval, when positive, makes the server send PINGREQ after that
	// long without a packet, and close the session silently after
	// PingMisses (default 3) unanswered ones.
	PingInterval time.Duration
	PingMisses   int
	// IdleTimeout, when positive, closes sessions silent that long.
	IdleTimeout time.Duration
	// MaxSessions bounds live and pending sessions (default 65535).
	MaxSessions int
	// MaxPacketSize bounds the packets the server sends (default
	// MaxPacketSize); an MTUPeer may lower it further.
	MaxPacketSize int
	// AutoAck acknowledges DATA as soon as it is handed to the Handler,
	// instead of waiting for Ack (for consumers without durability).
	AutoAck bool
	// RequireEAX drops, instead of processing, packets without EAX in a
	// secure session. The specification allows plaintext DATA, PING,
	// ACKNOWLEDGE and RESEND there; readings received so are marked
	// Authenticated=false.
	RequireEAX bool
}

func (c *ServerConfig) setDefaults() {
	if c.Clock == nil {
		c.Clock = SystemClock{}
	}
	if c.Rand == nil {
		c.Rand = rand.Reader
	}
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&c.HandshakeTimeout, 10*time.Second)
	def(&c.CommandTimeout, 30*time.Second)
	def(&c.ResendTimeout, 5*time.Second)
	if c.ResendRetries < 0 {
		c.ResendRetries = 0
	} else if c.ResendRetries == 0 {
		c.ResendRetries = 2
	}
	if c.MaxResendPending <= 0 {
		c.MaxResendPending = 32
	}
	if c.PingMisses <= 0 {
		c.PingMisses = 3
	}
	if c.MaxSessions <= 0 || c.MaxSessions > 65535 {
		c.MaxSessions = 65535
	}
	if c.MaxPacketSize <= 0 || c.MaxPacketSize > MaxPacketSize {
		c.MaxPacketSize = MaxPacketSize
	}
}

// Server terminates OSP sessions as the Server role. It holds the session
// table and is safe for concurrent use: links call Handle from their read
// loops, the owner calls Tick periodically (every 100–500 ms), and the
// application calls Ack, SendCommand and Terminate. It performs no I/O of
// its own: packets leave through the Peer each one arrived from.
type Server struct {
	cfg ServerConfig

	mu       sync.RWMutex
	sessions map[uint16]*session   // live, paused and pending, by SID
	live     map[DeviceID]*session // open or paused session of each device
	pending  map[DeviceID]*session // secure handshake in progress
	closed   bool

	randMu   sync.Mutex
	gen      atomic.Uint64
	counters [numCounters]atomic.Uint64
	bufs     sync.Pool

	tickMu   sync.Mutex
	tickList []*session
}

// NewServer returns a Server for cfg.
func NewServer(cfg ServerConfig) (*Server, error) {
	if cfg.Devices == nil || cfg.Handler == nil {
		return nil, errors.New("osp: ServerConfig needs Devices and Handler")
	}
	cfg.setDefaults()
	s := &Server{
		cfg:      cfg,
		sessions: make(map[uint16]*session),
		live:     make(map[DeviceID]*session),
		pending:  make(map[DeviceID]*session),
	}
	s.bufs.New = func() any { b := make([]byte, 0, 512); return &b }
	return s, nil
}

func (s *Server) count(c Counter) { s.counters[c].Add(1) }

func (s *Server) random(b []byte) error {
	s.randMu.Lock()
	defer s.randMu.Unlock()
	_, err := io.ReadFull(s.cfg.Rand, b)
	return err
}

// Handle processes one whole packet received from a client over from. It may
// decrypt pkt in place. The returned error says why a packet was dropped or a
// session ended (nil when it was processed); the engine has already acted on
// it and counted it, so links only log it.
func (s *Server) Handle(pkt []byte, from Peer) error {
	s.count(CountRx)
	p, err := decode(pkt, false)
	if err != nil {
		s.count(CountMalformed)
		return err
	}
	if p.SID == 0 {
		if p.Type == TypeConnect {
			return s.handleInit(&p, from)
		}
		s.count(CountUnknownSID)
		return ErrUnknownSID
	}
	s.mu.RLock()
	ss := s.sessions[p.SID]
	s.mu.RUnlock()
	if ss == nil {
		s.count(CountUnknownSID)
		return ErrUnknownSID
	}
	var fx effects
	ss.mu.Lock()
	err = ss.handle(&p, from, &fx)
	ss.mu.Unlock()
	s.flush(&fx)
	return err
}

// handleInit answers step 1 of either handshake (clauses 6.1.1.1, 6.1.2.1).
func (s *Server) handleInit(p *Packet, from Peer) error {
	if p.SeqNum != 1 || p.Flags != 0 {
		s.count(CountMalformed)
		return ErrBadInit
	}
	var c Connect
	if err := c.Unmarshal(p.Body()); err != nil {
		s.count(CountMalformed)
		return err
	}
	if c.State != ConnInit {
		s.count(CountIgnored)
		return fmt.Errorf("%w: %s with SID 0", ErrConnState, c.State)
	}
	dev := DeviceID{Type: c.DeviceType, Module: c.ModuleID}
	sec, err := s.cfg.Devices.LookupDevice(dev)
	if err == nil && sec.Secure != c.Secure {
		err = fmt.Errorf("%w: device %s", ErrSecurityMismatch, dev)
	}
	var ciph *Cipher
	if err == nil && sec.Secure {
		ciph, err = NewCipher(sec.Key, sec.TagLen)
	}
	if err != nil {
		return s.refuse(dev, from, err)
	}

	now := s.cfg.Clock.Now()
	ns := &session{srv: s, dev: dev, peer: from, gen: s.gen.Add(1), opened: now, lastRecv: now, nextMsg: -1}
	ns.modulus = int(sec.MaxMessageID) + 1
	if sec.MaxMessageID == 0 {
		ns.modulus = 256
	}
	var fx effects
	ns.mu.Lock()
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		ns.mu.Unlock()
		return ErrClosed
	}
	var sid uint16
	if old := s.pending[dev]; old != nil {
		// A new request while one is pending restarts it with the same SID
		// (clause 6.1.1.5).
		sid = old.sid
		fx.closeOld(old, ErrReplaced)
	} else if sid, err = s.allocSID(); err != nil {
		s.mu.Unlock()
		ns.mu.Unlock()
		return s.refuse(dev, from, err)
	}
	s.sessions[sid] = ns
	if ciph != nil {
		s.pending[dev] = ns
	} else {
		if old := s.live[dev]; old != nil {
			fx.closeOld(old, ErrReplaced)
		}
		s.live[dev] = ns
	}
	s.mu.Unlock()

	ns.w.reset(sid, ciph)
	ns.sid = sid
	ns.w.win.Accept(1)
	reply := Connect{State: ConnGranted, Timestamp: uint32(now.Unix())}
	if ciph != nil {
		ns.state = statePending
		ns.civ = c.ClientIV
		if err = s.random(ns.siv[:]); err == nil {
			ns.w.setIVs(ns.siv, ns.civ)
			ns.hsDeadline = now.Add(s.cfg.HandshakeTimeout)
			reply.State = ConnServerAuth
			ciph.encryptIVs(&reply.Block, ns.siv, ns.civ)
		}
	} else {
		ns.state = stateOpen
		fx.event(ns.event(EventSessionOpened, nil))
		s.count(CountHandshakes)
	}
	if err == nil {
		body, _ := reply.AppendBody(ns.tmp[:0])
		err = ns.sendPlain(TypeConnect, body)
	}
	if err != nil {
		ns.close(&fx, err)
	}
	ns.mu.Unlock()
	s.flush(&fx)
	return err
}

// refuse ends a connection attempt: "If the Server does not have any
// information regarding the Client device, the session MUST be terminated by
// the Server" (clause 6.1.1.2). No SID exists yet, so the terminating
// CONNECT carries SID 0 and SeqNum 1.
func (s *Server) refuse(dev DeviceID, to Peer, reason error) error {
	if errors.Is(reason, ErrUnknownDevice) {
		s.count(CountUnknownDevice)
	}
	s.count(CountHandshakeFailures)
	var b [MinHeaderLen + 1]byte
	pkt, err := AppendPlain(b[:0], 0, 1, TypeConnect, 0, []byte{byte(ConnTerminated)})
	if err == nil && to.Send(pkt) == nil {
		s.count(CountTx)
	}
	s.cfg.Handler.HandleEvent(Event{Kind: EventHandshakeFailed, Device: dev, Err: reason, Peer: to})
	return reason
}

// allocSID picks a random SID, never 0, unique among live and pending
// sessions (clause 5.1). s.mu is held.
func (s *Server) allocSID() (uint16, error) {
	if len(s.sessions) >= s.cfg.MaxSessions {
		return 0, ErrTooManySessions
	}
	var b [2]byte
	for range 64 {
		if err := s.random(b[:]); err != nil {
			return 0, fmt.Errorf("osp: random SID: %w", err)
		}
		if sid := binary.BigEndian.Uint16(b[:]); sid != 0 && s.sessions[sid] == nil {
			return sid, nil
		}
	}
	start := binary.BigEndian.Uint16(b[:])
	for i := range 65536 {
		if sid := start + uint16(i); sid != 0 && s.sessions[sid] == nil {
			return sid, nil
		}
	}
	return 0, ErrTooManySessions
}

// Ack sends the ACKNOWLEDGE for a reading handed to HandleData, normally
// once it is durable. While the session is paused the ACKNOWLEDGE waits for
// its re-activation. It returns ErrSessionClosed when the session is gone.
func (s *Server) Ack(ref AckRef) error { return s.AckQueued(ref, nil) }

// SendQueue holds packets for sending later, together: a link's batch
// writer. Queue takes a copy of pkt for to and reports whether it did; a
// packet it refuses (a peer of another link, a full queue) is sent at once.
type SendQueue interface {
	Queue(to Peer, pkt []byte) bool
}

// AckQueued is Ack with the ACKNOWLEDGE handed to q (when q takes it)
// instead of sent. The caller sends what q holds soon after, and lets fewer
// than WindowSize packets wait: a packet the session sends directly in the
// meantime overtakes them, and the client's receive window (clause 5.2)
// still accepts them after it.
func (s *Server) AckQueued(ref AckRef, q SendQueue) error {
	ss := s.bySID(ref.SID)
	if ss == nil {
		return ErrSessionClosed
	}
	var fx effects
	ss.mu.Lock()
	err := ErrSessionClosed
	if ss.gen == ref.Gen && (ss.state == stateOpen || ss.state == statePaused) {
		ss.queue = q
		err = ss.ack(&fx, ref.MessageID)
		ss.queue = nil
	}
	ss.mu.Unlock()
	s.flush(&fx)
	return err
}

// SendCommand sends a COMMAND request to dev's session. done is called
// exactly once, without locks held, with the response or the reason there is
// none. Only one command may be outstanding per session; a command for a
// paused session goes out when it is re-activated.
func (s *Server) SendCommand(dev DeviceID, script []byte, done func(CommandResult)) (uint8, error) {
	s.mu.RLock()
	ss := s.live[dev]
	s.mu.RUnlock()
	if ss == nil {
		return 0, fmt.Errorf("%w: device %s", ErrNoSession, dev)
	}
	var fx effects
	ss.mu.Lock()
	id, err := ss.queueCommand(&fx, script, done)
	ss.mu.Unlock()
	s.flush(&fx)
	return id, err
}

// Terminate closes dev's session with a terminating CONNECT.
func (s *Server) Terminate(dev DeviceID, reason error) error {
	s.mu.RLock()
	ss := s.live[dev]
	if ss == nil {
		ss = s.pending[dev]
	}
	s.mu.RUnlock()
	if ss == nil {
		return fmt.Errorf("%w: device %s", ErrNoSession, dev)
	}
	var fx effects
	ss.mu.Lock()
	ss.terminate(&fx, reason)
	ss.mu.Unlock()
	s.flush(&fx)
	return nil
}

// Close terminates every session, sending the terminating CONNECT to open
// ones, and refuses further connections.
func (s *Server) Close() {
	s.mu.Lock()
	s.closed = true
	list := make([]*session, 0, len(s.sessions))
	for _, ss := range s.sessions {
		list = append(list, ss)
	}
	s.mu.Unlock()
	for _, ss := range list {
		var fx effects
		ss.mu.Lock()
		ss.terminate(&fx, ErrClosed)
		ss.mu.Unlock()
		s.flush(&fx)
	}
}

// Tick runs every timer that has expired: handshake fallback, command and
// resend timeouts, pings and idle limits. Call it periodically; tests call it
// after advancing their clock.
func (s *Server) Tick() {
	now := s.cfg.Clock.Now()
	s.tickMu.Lock()
	defer s.tickMu.Unlock()
	s.mu.RLock()
	list := s.tickList[:0]
	for _, ss := range s.sessions {
		list = append(list, ss)
	}
	s.mu.RUnlock()
	for _, ss := range list {
		var fx effects
		ss.mu.Lock()
		ss.tick(now, &fx)
		ss.mu.Unlock()
		s.flush(&fx)
	}
	clear(list)
	s.tickList = list[:0]
}

// SessionDevice returns the device of the session with sid, pending or
// open, so that a link that authenticates its peers itself (DTLS with a
// device identity) can refuse packets for another device's session.
func (s *Server) SessionDevice(sid uint16) (DeviceID, bool) {
	ss := s.bySID(sid)
	if ss == nil {
		return DeviceID{}, false
	}
	return ss.dev, true
}

func (s *Server) bySID(sid uint16) *session {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.sessions[sid]
}

// SessionInfo describes one session for status pages and the admin API.
type SessionInfo struct {
	SID       uint16
	Device    DeviceID
	State     string
	Secure    bool
	Opened    time.Time
	LastRecv  time.Time
	RxSeq     uint16
	TxSeq     uint16
	Peer      Peer
	Commanded bool
}

// Sessions lists the live, paused and pending sessions.
func (s *Server) Sessions() []SessionInfo {
	s.mu.RLock()
	list := make([]*session, 0, len(s.sessions))
	for _, ss := range s.sessions {
		list = append(list, ss)
	}
	s.mu.RUnlock()
	out := make([]SessionInfo, 0, len(list))
	for _, ss := range list {
		ss.mu.Lock()
		if ss.state != stateClosed {
			out = append(out, SessionInfo{
				SID: ss.sid, Device: ss.dev, State: ss.state.String(), Secure: ss.w.secure(),
				Opened: ss.opened, LastRecv: ss.lastRecv, RxSeq: ss.w.win.Last(), TxSeq: ss.w.nextSend - 1,
				Peer: ss.peer, Commanded: ss.cmd != nil,
			})
		}
		ss.mu.Unlock()
	}
	return out
}

// Counters returns a snapshot of the server's counters, indexed by Counter.
func (s *Server) Counters() [NumCounters]uint64 {
	var out [NumCounters]uint64
	for i := range out {
		out[i] = s.counters[i].Load()
	}
	return out
}

// Counter names one of the server's counters.
type Counter int

// The server's counters.
const (
	CountRx                Counter = iota // packets given to Handle
	CountTx                               // packets sent
	CountMalformed                        // dropped: undecodable header or body
	CountUnknownSID                       // dropped: no such session
	CountReplay                           // dropped: SeqNum outside the window or repeated
	CountAuthFailed                       // dropped: EAX tag did not verify
	CountPlaintext                        // dropped: plaintext in a secure session under RequireEAX
	CountIgnored                          // well formed but to be ignored (ACK at the server, late responses)
	CountViolations                       // sessions ended for protocol violations
	CountUnknownDevice                    // connection attempts from unknown devices
	CountHandshakes                       // sessions opened
	CountHandshakeFailures                // connection attempts that failed
	CountSessionsClosed                   // sessions ended, any reason
	CountData                             // DATA packets handed up
	CountDataDuplicate                    // of which duplicates
	CountAcks                             // ACKNOWLEDGE packets sent
	CountResends                          // RESEND packets sent
	CountResendFailed                     // MessageIDs not recovered
	CountCommands                         // COMMAND requests sent
	CountCommandTimeouts                  // COMMAND requests unanswered
	CountFirmware                         // FIRMWARE requests answered
	CountSendErrors                       // Peer.Send failures
	numCounters
)

// NumCounters is the number of counters.
const NumCounters = int(numCounters)

var counterNames = [...]string{"rx", "tx", "malformed", "unknown_sid", "replay", "auth_failed", "plaintext_dropped",
	"ignored", "violations", "unknown_device", "handshakes", "handshake_failures", "sessions_closed", "data",
	"data_duplicate", "acks", "resends", "resend_failed", "commands", "command_timeouts", "firmware", "send_errors"}

// String returns the counter's metric name.
func (c Counter) String() string {
	if c >= 0 && int(c) < len(counterNames) {
		return counterNames[c]
	}
	return fmt.Sprintf("counter(%d)", int(c))
}

// effects collects what a locked section decided, to be carried out once the
// session lock is released: handler calls, command callbacks, table changes.
// It lives on the caller's stack; its arrays keep the hot path allocation
// free.
type effects struct {
	reading    Reading
	hasReading bool
	nev        int
	evbuf      [4]Event
	moreEv     []Event
	cmds       []cmdCallback
	removes    []*session
	olds       []oldSession
	promote    *session
}

type cmdCallback struct {
	done func(CommandResult)
	res  CommandResult
}

type oldSession struct {
	ss     *session
	reason error
}

func (fx *effects) event(e Event) {
	if fx.nev < len(fx.evbuf) {
		fx.evbuf[fx.nev] = e
		fx.nev++
		return
	}
	fx.moreEv = append(fx.moreEv, e)
}

func (fx *effects) closeOld(ss *session, reason error) {
	fx.olds = append(fx.olds, oldSession{ss, reason})
}

// flush carries out fx. No session lock may be held.
func (s *Server) flush(fx *effects) {
	if p := fx.promote; p != nil {
		s.mu.Lock()
		if s.pending[p.dev] == p {
			delete(s.pending, p.dev)
		}
		if old := s.live[p.dev]; old != nil && old != p {
			fx.closeOld(old, ErrReplaced)
		}
		s.live[p.dev] = p
		s.mu.Unlock()
	}
	for i := 0; i < len(fx.olds); i++ {
		o := fx.olds[i]
		o.ss.mu.Lock()
		if o.ss.state != stateClosed {
			o.ss.close(fx, o.reason)
		}
		o.ss.mu.Unlock()
	}
	if len(fx.removes) > 0 {
		s.mu.Lock()
		for _, ss := range fx.removes {
			if s.sessions[ss.sid] == ss {
				delete(s.sessions, ss.sid)
			}
			if s.live[ss.dev] == ss {
				delete(s.live, ss.dev)
			}
			if s.pending[ss.dev] == ss {
				delete(s.pending, ss.dev)
			}
		}
		s.mu.Unlock()
	}
	h := s.cfg.Handler
	for i := 0; i < fx.nev; i++ {
		h.HandleEvent(fx.evbuf[i])
	}
	for _, e := range fx.moreEv {
		h.HandleEvent(e)
	}
	if fx.hasReading {
		h.HandleData(fx.reading)
	}
	for _, c := range fx.cmds {
		c.done(c.res)
	}
}
