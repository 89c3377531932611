package josp

import (
	"context"
	"crypto/tls"
	"errors"
	"net"
	"sync"
	"time"

	"github.com/edgegate/edgegate/gateway/josp/wire"
)

// Limits of a connection.
const (
	// maxFrame bounds a frame from a service.
	maxFrame = 256 << 10
	// maxIDLine bounds the service's identity line.
	maxIDLine = 256
	// writeTimeout bounds one write to a service.
	writeTimeout = 10 * time.Second
	// byeGrace is how long a connection told bye may take to receive it.
	byeGrace = 2 * time.Second
	// presentationDelay separates the objId line from the presentation
	// when the service sends no identity line (its TLS certificate names
	// it): the reference's services read the objId line through a
	// throw-away buffered reader that would swallow what follows it.
	presentationDelay = 100 * time.Millisecond
	// maxBatch bounds the bytes of frames written at once.
	maxBatch = 64 << 10
)

var (
	byeFrame  = []byte(wire.Bye + wire.Delimiter)
	hbRqFrame = []byte(wire.HeartbeatRequest + wire.Delimiter)
	hbRsFrame = []byte(wire.HeartbeatResponse + wire.Delimiter)
)

// conn is one service's connection to an object. Its reader runs serve's
// loop; its writer sends the queued frames; either ends both.
type conn struct {
	o      *object
	nc     net.Conn
	remote string
	tls    bool
	since  time.Time
	out    chan []byte // nil: close after what precedes
	quit   chan struct{}
	once   sync.Once

	// Set by the handshake, before the connection is attached.
	id   wire.FullSrvID
	full string
	// perm is the service's level, kept by the object under its lock:
	// set when it attaches and after every permission change (a new
	// owner disconnects every service).
	perm wire.PermType
}

// send queues a frame; a service whose queue is full is disconnected.
func (c *conn) send(frame []byte) {
	select {
	case <-c.quit:
		return
	default:
	}
	select {
	case c.out <- frame:
	default:
		c.o.e.c.slowClosed.Add(1)
		c.o.log.Warn("josp: service too slow, disconnected", "service", c.full, "queued", len(c.out))
		c.shutdown()
	}
}

// bye queues bye and the close, and closes anyway after byeGrace.
func (c *conn) bye() {
	c.send(byeFrame)
	c.send(nil)
	time.AfterFunc(byeGrace, c.shutdown)
}

// shutdown ends the connection now; it is idempotent.
func (c *conn) shutdown() {
	c.once.Do(func() {
		close(c.quit)
		c.nc.Close()
	})
}

// writeLoop writes the queued frames, several at once when they pile up.
func (c *conn) writeLoop() {
	buf := make([]byte, 0, 4096)
	for {
		var f []byte
		select {
		case f = <-c.out:
		case <-c.quit:
			return
		}
		if f == nil {
			c.shutdown()
			return
		}
		buf = append(buf[:0], f...)
		n, closing := 1, false
	drain:
		for len(buf) < maxBatch {
			select {
			case f = <-c.out:
				if f == nil {
					closing = true
					break drain
				}
				buf = append(buf, f...)
				n++
			default:
				break drain
			}
		}
		_ = c.nc.SetWriteDeadline(time.Now().Add(writeTimeout))
		if _, err := c.nc.Write(buf); err != nil {
			c.shutdown()
			return
		}
		c.o.e.c.framesOut.Add(uint64(n))
		if closing {
			c.shutdown()
			return
		}
		if cap(buf) > 4*maxBatch {
			buf = make([]byte, 0, 4096)
		}
	}
}

// serve runs one connection: TLS handshake (TLS mode), the objId line,
// the service's identity, the presentation, then the message loop with
// heartbeats.
func (o *object) serve(nc net.Conn) {
	e := o.e
	c := &conn{o: o, nc: nc, remote: nc.RemoteAddr().String(), since: e.opts.Now(), out: make(chan []byte, e.opts.SendQueue),
		quit: make(chan struct{})}
	defer c.shutdown()
	// The object's end ends the connection (an attached one is told bye
	// first).
	stop := context.AfterFunc(o.ctx, func() { time.AfterFunc(byeGrace, c.shutdown) })
	defer stop()
	hs := time.Now().Add(e.opts.HandshakeTimeout)
	_ = nc.SetDeadline(hs)
	cn := ""
	if e.tls != nil {
		tc := tls.Server(nc, e.tls)
		if err := tc.HandshakeContext(o.ctx); err != nil {
			e.c.tlsFailures.Add(1)
			o.log.Debug("josp: TLS handshake", "remote", c.remote, "err", err)
			return
		}
		c.nc, c.tls, cn = tc, true, peerCN(tc.ConnectionState())
	}
	o.mu.Lock()
	objID := o.rec.ObjID
	o.mu.Unlock()
	if _, err := c.nc.Write([]byte("\n" + objID + "\n" + wire.Delimiter)); err != nil {
		return
	}
	fr := wire.NewFrameReader(c.nc, maxFrame)
	idLine := !wire.IsFullSrvID(cn)
	full := cn
	if idLine {
		line, err := fr.ReadLine(maxIDLine)
		if err != nil || !wire.IsFullSrvID(string(line)) {
			e.c.rejected.Add(1)
			o.log.Debug("josp: connection without a fullSrvId", "remote", c.remote, "line", string(line), "err", err)
			return
		}
		full = string(line)
	}
	c.id, _ = wire.ParseFullSrvID(full)
	c.full = full
	_ = c.nc.SetDeadline(time.Time{})
	if !idLine {
		select {
		case <-time.After(presentationDelay):
		case <-o.ctx.Done():
			return
		}
	}
	if !o.attach(c) {
		e.c.duplicates.Add(1)
		_ = c.nc.SetWriteDeadline(time.Now().Add(writeTimeout))
		_, _ = c.nc.Write(byeFrame)
		return
	}
	e.c.accepted.Add(1)
	o.event(wire.EventLocalConnect, "Service connected", eventPayload("srvId", c.id.SrvID, "usrId", c.id.UsrID,
		"instId", c.id.InstID, "connType", wire.ConnOnlyLocal.String()))
	o.log.Info("josp: service connected", "service", full, "remote", c.remote, "tls", c.tls, "perm", c.perm.String())
	o.wg.Add(1)
	go func() { defer o.wg.Done(); c.writeLoop() }()
	o.readLoop(c, fr)
	o.detach(c)
	o.event(wire.EventLocalDisconn, "Service disconnected", eventPayload("srvId", c.id.SrvID, "usrId", c.id.UsrID,
		"instId", c.id.InstID))
	o.log.Info("josp: service disconnected", "service", full, "remote", c.remote)
}

// readLoop reads frames until the service says bye, the connection fails
// or the heartbeat times out.
func (o *object) readLoop(c *conn, fr *wire.FrameReader) {
	e := o.e
	hb := e.opts.Heartbeat
	wait := hb - hb/10
	awaiting := false
	for {
		d := hb
		if awaiting {
			d = wait
		}
		_ = c.nc.SetReadDeadline(time.Now().Add(d))
		f, err := fr.Next()
		if err != nil {
			var ne net.Error
			switch {
			case errors.Is(err, wire.ErrFrameTooLong):
				e.c.malformed.Add(1)
				continue
			case errors.As(err, &ne) && ne.Timeout():
				if awaiting {
					e.c.heartbeatsLost.Add(1)
					o.log.Info("josp: heartbeat timeout", "service", c.full)
					return
				}
				awaiting = true
				c.send(hbRqFrame)
				continue
			}
			return
		}
		awaiting = false
		e.c.framesIn.Add(1)
		switch string(f) {
		case wire.HeartbeatRequest:
			c.send(hbRsFrame)
		case wire.HeartbeatResponse:
		case wire.Bye:
			return
		default:
			o.handle(c, f)
		}
	}
}
