package osp

import (
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"
)

// ClientConfig configures a Client.
type ClientConfig struct {
	Device   DeviceID
	Security Security
	// Peer carries the client's packets to the server.
	Peer Peer
	// Clock defaults to SystemClock; Rand (init vectors) to crypto/rand.
	Clock Clock
	Rand  io.Reader
	// HandshakeTimeout is the fallback timer of each handshake step
	// (default 10 s).
	HandshakeTimeout time.Duration
	// AckTimeout is how long an AckReq DATA packet waits for its
	// ACKNOWLEDGE before it is sent again with the Cached bit (default 2 s).
	AckTimeout time.Duration
	// FirmwareTimeout bounds a FIRMWARE request (default 10 s).
	FirmwareTimeout time.Duration
	// PingInterval, when positive, sends PINGREQ after that long without a
	// packet from the server; PingMisses (default 3) unanswered ones close
	// the session.
	PingInterval time.Duration
	PingMisses   int
	// OnEvent receives the client's events, without the client's lock held:
	// it may call back into the Client.
	OnEvent func(ClientEvent)
}

// ClientEventKind says what a ClientEvent reports.
type ClientEventKind uint8

// The events of a Client.
const (
	ClientOpened ClientEventKind = iota + 1
	ClientClosed
	ClientAcked
	ClientCommand
	ClientFirmware
	ClientFirmwareFailed
	ClientPong
	ClientRetransmit
	ClientResendRequested
)

// ClientEvent reports something that happened in the client's session.
type ClientEvent struct {
	Kind ClientEventKind
	// Err is the reason of ClientClosed and ClientFirmwareFailed.
	Err error
	// Timestamp is the server's UNIX time from the handshake (ClientOpened).
	Timestamp uint32
	// MessageID names the DATA packet of ClientAcked, ClientRetransmit and
	// ClientResendRequested.
	MessageID uint8
	// DataType and Payload are the acknowledged packet's (ClientAcked).
	DataType uint16
	Payload  []byte
	// Command is the request of ClientCommand; answer with RespondCommand.
	Command CommandRequest
	// Firmware is the response of ClientFirmware.
	Firmware FirmwareResponse
}

type clientState uint8

const (
	clientIdle clientState = iota
	clientConnecting
	clientAuthenticating
	clientOpen
	clientPaused
)

// Client is the Client role of one device: it opens a session, sends DATA
// with a cache that retransmits unacknowledged packets and answers RESEND,
// answers COMMANDs and requests firmware. It is safe for concurrent use.
type Client struct {
	cfg ClientConfig
	mu  sync.Mutex

	state    clientState
	w        wire
	ciph     *Cipher
	civ, siv [IVLen]byte
	deadline time.Time // handshake step fallback
	lastRecv time.Time
	pingOut  bool
	pingSent time.Time
	misses   int

	modulus  int
	nextMsg  int
	cache    []cacheEntry
	cmdBusy  bool
	cmdID    uint8
	fw       *FirmwareRequest
	fwExpire time.Time

	serverTime uint32 // TimeStamp of the handshake, reported with ClientOpened
	out        []byte
	events     []ClientEvent
}

type cacheEntry struct {
	used     bool
	acked    bool
	dataType uint16
	flags    Flags
	payload  []byte
	sentAt   time.Time
}

// NewClient prepares a client; call Connect to open a session.
func NewClient(cfg ClientConfig) (*Client, error) {
	if cfg.Peer == nil {
		return nil, errors.New("osp: ClientConfig needs a Peer")
	}
	if cfg.Clock == nil {
		cfg.Clock = SystemClock{}
	}
	if cfg.Rand == nil {
		cfg.Rand = rand.Reader
	}
	if cfg.HandshakeTimeout <= 0 {
		cfg.HandshakeTimeout = 10 * time.Second
	}
	if cfg.AckTimeout <= 0 {
		cfg.AckTimeout = 2 * time.Second
	}
	if cfg.FirmwareTimeout <= 0 {
		cfg.FirmwareTimeout = 10 * time.Second
	}
	if cfg.PingMisses <= 0 {
		cfg.PingMisses = 3
	}
	c := &Client{cfg: cfg, modulus: int(cfg.Security.MaxMessageID) + 1}
	if cfg.Security.MaxMessageID == 0 {
		c.modulus = 256
	}
	c.cache = make([]cacheEntry, c.modulus)
	if cfg.Security.Secure {
		ciph, err := NewCipher(cfg.Security.Key, cfg.Security.TagLen)
		if err != nil {
			return nil, err
		}
		c.ciph = ciph
	}
	return c, nil
}

// SID returns the session's SID (0 before the server assigned one).
func (c *Client) SID() uint16 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.w.sid
}

// Open reports whether the session is open (or paused).
func (c *Client) Open() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.state == clientOpen || c.state == clientPaused
}

// Connect starts a new session with step 1 of the handshake, abandoning any
// current one silently. Unacknowledged DATA stays cached and is sent again,
// with the Cached bit, once the new session opens.
func (c *Client) Connect() error {
	c.mu.Lock()
	err := c.connect()
	c.mu.Unlock()
	c.dispatch()
	return err
}

func (c *Client) connect() error {
	c.w.reset(0, nil)
	c.state = clientConnecting
	c.cmdBusy, c.fw, c.pingOut, c.misses = false, nil, false, 0
	body := Connect{State: ConnInit, DeviceType: c.cfg.Device.Type, ModuleID: c.cfg.Device.Module, Secure: c.ciph != nil}
	if c.ciph != nil {
		if _, err := io.ReadFull(c.cfg.Rand, c.civ[:]); err != nil {
			return fmt.Errorf("osp: client init vector: %w", err)
		}
		body.ClientIV = c.civ
	}
	c.deadline = c.cfg.Clock.Now().Add(c.cfg.HandshakeTimeout)
	b, _ := body.AppendBody(nil)
	return c.transmit(TypeConnect, 0, false, b)
}

// Handle processes one whole packet from the server. It may decrypt pkt in
// place. The error says why a packet was dropped or the session ended.
func (c *Client) Handle(pkt []byte) error {
	c.mu.Lock()
	err := c.handle(pkt)
	c.mu.Unlock()
	c.dispatch()
	return err
}

func (c *Client) handle(pkt []byte) error {
	p, err := decode(pkt, false)
	if err != nil {
		return err
	}
	switch c.state {
	case clientIdle:
		return ErrUnknownSID
	case clientConnecting:
		return c.handleStep2(&p)
	}
	if p.SID != c.w.sid {
		return ErrUnknownSID
	}
	eax := p.Flags&FlagEAX != 0
	body, err := c.w.open(&p)
	if err != nil {
		var fe *FlagError
		if errors.As(err, &fe) {
			c.terminate(err)
		}
		return err
	}
	if c.state == clientAuthenticating {
		var cn Connect
		if p.Type != TypeConnect || !eax || cn.Unmarshal(body) != nil || cn.State != ConnGranted || !cn.Secure {
			if cn.State == ConnTerminated && p.Type == TypeConnect {
				c.closed(ErrRefused)
				return ErrRefused
			}
			return fmt.Errorf("%w: %s during the handshake", ErrUnexpected, p.Type)
		}
		c.opened()
		return nil
	}
	c.lastRecv = c.cfg.Clock.Now()
	c.pingOut, c.misses = false, 0
	if err := CheckFlags(p.Type, p.Flags); err != nil {
		c.terminate(err)
		return err
	}
	if c.ciph != nil && !eax && eaxRequired(p.Type) {
		err := &FlagError{Type: p.Type, Flags: p.Flags, Reason: "must have EAX enabled in a secure session"}
		c.terminate(err)
		return err
	}
	switch p.Type {
	case TypeAck:
		id, err := UnmarshalMessageID(body)
		if err != nil {
			return err
		}
		if e := &c.cache[int(id)%c.modulus]; e.used && e.flags&FlagAckReq != 0 && !e.acked {
			e.acked = true
			c.events = append(c.events, ClientEvent{Kind: ClientAcked, MessageID: id, DataType: e.dataType,
				Payload: append([]byte(nil), e.payload...)})
		}
		return nil
	case TypeResend:
		id, err := UnmarshalMessageID(body)
		if err != nil {
			return err
		}
		c.events = append(c.events, ClientEvent{Kind: ClientResendRequested, MessageID: id})
		return c.resend(id)
	case TypeCommand:
		var req CommandRequest
		if err := req.Unmarshal(body); err != nil {
			return err
		}
		if c.cmdBusy {
			r := CommandResponse{ID: req.ID, ExitCode: ExitBusy}
			return c.send(TypeCommand, 0, r.AppendBody(nil))
		}
		c.cmdBusy, c.cmdID = true, req.ID
		req.Script = append([]byte(nil), req.Script...)
		c.events = append(c.events, ClientEvent{Kind: ClientCommand, Command: req})
		return nil
	case TypeFirmware:
		var r FirmwareResponse
		if err := r.Unmarshal(body); err != nil {
			return err
		}
		if c.fw == nil || c.fw.ChunkID != r.ChunkID || c.fw.Name != r.Name {
			return fmt.Errorf("%w: FIRMWARE response not requested", ErrUnexpected)
		}
		c.fw = nil
		r.Data = append([]byte(nil), r.Data...)
		c.events = append(c.events, ClientEvent{Kind: ClientFirmware, Firmware: r})
		return nil
	case TypePingReq:
		return c.send(TypePingResp, 0, nil)
	case TypePingResp:
		c.events = append(c.events, ClientEvent{Kind: ClientPong})
		return nil
	case TypeConnect:
		var cn Connect
		if err := cn.Unmarshal(body); err != nil {
			return err
		}
		if cn.State == ConnTerminated {
			c.closed(ErrTerminated)
			return nil
		}
		err := fmt.Errorf("%w: %s from the server in an open session", ErrConnState, cn.State)
		c.terminate(err)
		return err
	default: // DATA: "If a Client receives a DATA packet, the packet MUST be ignored."
		return fmt.Errorf("%w: %s at the client", ErrUnexpected, p.Type)
	}
}

// handleStep2 processes the server's answer to step 1: the server
// authentication message (secure) or the granted/terminated CONNECT.
func (c *Client) handleStep2(p *Packet) error {
	if p.Type != TypeConnect || p.SeqNum != 1 || p.Flags != 0 {
		return fmt.Errorf("%w: %s while connecting", ErrUnexpected, p.Type)
	}
	var cn Connect
	if err := cn.Unmarshal(p.Body()); err != nil {
		return err
	}
	switch {
	case cn.State == ConnTerminated:
		c.closed(ErrRefused)
		return ErrRefused
	case p.SID == 0:
		return fmt.Errorf("%w: SID 0 in the server's answer", ErrUnexpected)
	case c.ciph == nil && cn.State == ConnGranted && !cn.Secure:
		c.w.reset(p.SID, nil)
		c.w.nextSend = 2
		c.w.win.Accept(1)
		c.serverTime = cn.Timestamp
		c.opened()
		return nil
	case c.ciph != nil && cn.State == ConnServerAuth:
		siv, civ := c.ciph.decryptIVs(cn.Block)
		if !constantTimeEqualIV(civ, c.civ) {
			// Server authentication failed: terminated silently.
			c.closed(ErrHandshake)
			return ErrHandshake
		}
		c.siv = siv
		c.w.reset(p.SID, c.ciph)
		c.w.nextSend = 2
		c.w.win.Accept(1)
		c.w.setIVs(c.civ, c.siv)
		c.state = clientAuthenticating
		c.deadline = c.cfg.Clock.Now().Add(c.cfg.HandshakeTimeout)
		reply := Connect{State: ConnClientAuth}
		c.ciph.encryptIVs(&reply.Block, c.civ, c.siv)
		b, _ := reply.AppendBody(nil)
		c.serverTime = cn.Timestamp
		return c.transmit(TypeConnect, 0, false, b)
	default:
		return fmt.Errorf("%w: %s while connecting", ErrConnState, cn.State)
	}
}

func (c *Client) opened() {
	c.state = clientOpen
	c.lastRecv = c.cfg.Clock.Now()
	c.events = append(c.events, ClientEvent{Kind: ClientOpened, Timestamp: c.serverTime})
	// Unacknowledged DATA from an earlier session goes out again.
	for i := range c.cache {
		if e := &c.cache[i]; e.used && e.flags&FlagAckReq != 0 && !e.acked {
			if c.retransmit(uint8(i)) != nil {
				return
			}
		}
	}
}

func (c *Client) closed(reason error) {
	if c.state == clientIdle {
		return
	}
	c.state = clientIdle
	c.fw = nil
	c.events = append(c.events, ClientEvent{Kind: ClientClosed, Err: reason})
}

// terminate sends the terminating CONNECT and closes (clause 6.2).
func (c *Client) terminate(reason error) {
	if c.state == clientOpen || c.state == clientPaused {
		_ = c.send(TypeConnect, 0, []byte{byte(ConnTerminated)})
	}
	c.closed(reason)
}

// SendData sends a DATA packet with the next MessageID and caches it.
// flags may hold FlagAckReq and FlagSaved. Sending re-activates a paused
// session.
func (c *Client) SendData(dataType uint16, payload []byte, flags Flags) (uint8, error) {
	c.mu.Lock()
	id, err := c.sendData(dataType, payload, flags)
	c.mu.Unlock()
	c.dispatch()
	return id, err
}

func (c *Client) sendData(dataType uint16, payload []byte, flags Flags) (uint8, error) {
	if c.state != clientOpen && c.state != clientPaused {
		return 0, ErrNotOpen
	}
	if flags&^(FlagAckReq|FlagSaved) != 0 {
		return 0, &FlagError{Type: TypeData, Flags: flags, Reason: "only A and S may be chosen"}
	}
	id := uint8(c.nextMsg)
	e := &c.cache[c.nextMsg]
	if e.used && e.flags&FlagAckReq != 0 && !e.acked {
		return 0, ErrCacheFull
	}
	e.used, e.acked, e.dataType, e.flags = true, false, dataType, flags
	e.payload = append(e.payload[:0], payload...)
	e.sentAt = c.cfg.Clock.Now()
	c.nextMsg = (c.nextMsg + 1) % c.modulus
	d := Data{MessageID: id, DataType: dataType, Payload: payload}
	if err := c.send(TypeData, flags, d.AppendBody(nil)); err != nil {
		return id, err
	}
	return id, nil
}

// resend answers a RESEND from the cache, or with a stub when the packet is
// gone (clause 9.2).
func (c *Client) resend(id uint8) error {
	if int(id) < c.modulus && c.cache[id].used {
		return c.retransmit(id)
	}
	d := Data{MessageID: id, DataType: DataTypeStub}
	return c.send(TypeData, 0, d.AppendBody(nil))
}

func (c *Client) retransmit(id uint8) error {
	e := &c.cache[id]
	e.sentAt = c.cfg.Clock.Now()
	d := Data{MessageID: id, DataType: e.dataType, Payload: e.payload}
	c.events = append(c.events, ClientEvent{Kind: ClientRetransmit, MessageID: id})
	return c.send(TypeData, e.flags|FlagCached, d.AppendBody(nil))
}

// Unacked returns the MessageIDs of cached AckReq packets not yet
// acknowledged.
func (c *Client) Unacked() []uint8 {
	c.mu.Lock()
	defer c.mu.Unlock()
	var ids []uint8
	for i, e := range c.cache {
		if e.used && e.flags&FlagAckReq != 0 && !e.acked {
			ids = append(ids, uint8(i))
		}
	}
	return ids
}

// RespondCommand answers the outstanding COMMAND request.
func (c *Client) RespondCommand(id, exitCode uint8, response []byte) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.cmdBusy || c.cmdID != id {
		return fmt.Errorf("%w: no command %d outstanding", ErrUnexpected, id)
	}
	c.cmdBusy = false
	r := CommandResponse{ID: id, ExitCode: exitCode, Response: response}
	return c.send(TypeCommand, 0, r.AppendBody(nil))
}

// RequestFirmware asks for one chunk of the named firmware. Only one request
// may be outstanding (clause 8).
func (c *Client) RequestFirmware(name string, chunk uint16) error {
	n, err := MakeFirmwareName(name)
	if err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.fw != nil {
		return ErrFirmwarePending
	}
	req := &FirmwareRequest{ChunkID: chunk, Name: n}
	if err := c.send(TypeFirmware, 0, req.AppendBody(nil)); err != nil {
		return err
	}
	c.fw, c.fwExpire = req, c.cfg.Clock.Now().Add(c.cfg.FirmwareTimeout)
	return nil
}

// Ping sends a PINGREQ; a PINGRESP is reported as ClientPong. On a paused
// session it is the recommended re-activation.
func (c *Client) Ping() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.ping()
}

func (c *Client) ping() error {
	if err := c.send(TypePingReq, 0, nil); err != nil {
		return err
	}
	c.pingOut, c.pingSent = true, c.cfg.Clock.Now()
	return nil
}

// Pause sends the session into dormant state (clause 6.3).
func (c *Client) Pause() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.state != clientOpen {
		return ErrNotOpen
	}
	if err := c.send(TypeConnect, 0, []byte{byte(ConnPaused)}); err != nil {
		return err
	}
	c.state = clientPaused
	return nil
}

// Close terminates the session with ConnState 0x00.
func (c *Client) Close() error {
	c.mu.Lock()
	if c.state == clientIdle {
		c.mu.Unlock()
		return nil
	}
	c.terminate(nil)
	c.mu.Unlock()
	c.dispatch()
	return nil
}

// Tick runs expired timers: handshake fallback, retransmission of
// unacknowledged DATA, firmware timeout and pings.
func (c *Client) Tick() {
	c.mu.Lock()
	c.tick(c.cfg.Clock.Now())
	c.mu.Unlock()
	c.dispatch()
}

func (c *Client) tick(now time.Time) {
	switch c.state {
	case clientConnecting, clientAuthenticating:
		if !now.Before(c.deadline) {
			c.closed(ErrHandshakeTimeout)
		}
		return
	case clientOpen:
	default:
		return
	}
	for i := range c.cache {
		e := &c.cache[i]
		if e.used && e.flags&FlagAckReq != 0 && !e.acked && now.Sub(e.sentAt) >= c.cfg.AckTimeout {
			if c.retransmit(uint8(i)) != nil {
				return
			}
		}
	}
	if c.fw != nil && !now.Before(c.fwExpire) {
		c.fw = nil
		c.events = append(c.events, ClientEvent{Kind: ClientFirmwareFailed, Err: ErrFirmwareTimeout})
	}
	if c.cfg.PingInterval > 0 {
		switch {
		case c.pingOut && now.Sub(c.pingSent) >= c.cfg.PingInterval:
			if c.misses++; c.misses >= c.cfg.PingMisses {
				c.closed(ErrPingTimeout)
				return
			}
			_ = c.ping()
		case !c.pingOut && now.Sub(c.lastRecv) >= c.cfg.PingInterval:
			_ = c.ping()
		}
	}
}

// send transmits a packet in the open session: under EAX when secure. Any
// packet re-activates a paused session (clause 6.3); before SeqNum would
// overflow the session is terminated instead.
func (c *Client) send(t MsgType, flags Flags, body []byte) error {
	if c.state != clientOpen && c.state != clientPaused {
		return ErrNotOpen
	}
	isTerm := t == TypeConnect && len(body) == 1 && body[0] == byte(ConnTerminated)
	if c.w.lastSeq() && !isTerm {
		c.terminate(ErrSeqExhausted)
		return ErrSeqExhausted
	}
	if c.state == clientPaused && !isPause(t, body) {
		c.state = clientOpen
	}
	return c.transmit(t, flags, c.ciph != nil, body)
}

func (c *Client) transmit(t MsgType, flags Flags, eax bool, body []byte) error {
	pkt, err := c.w.append(c.out[:0], t, flags, eax, body)
	if err != nil {
		return err
	}
	c.out = pkt[:0]
	return c.cfg.Peer.Send(pkt)
}

func (c *Client) dispatch() {
	c.mu.Lock()
	evs := c.events
	c.events = nil
	c.mu.Unlock()
	if c.cfg.OnEvent == nil {
		return
	}
	for _, e := range evs {
		c.cfg.OnEvent(e)
	}
}
