package steward

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/coder/websocket"
)

// writeQueue is how many frames may wait for a connection's writer; a
// thing that does not read them is disconnected.
const writeQueue = 256

// wsConn is a session's WebSocket: the handler goroutine reads, one writer
// goroutine writes, one keeper goroutine pings.
type wsConn struct {
	c      *websocket.Conn
	raw    net.Conn // the TCP (or TLS) connection, when known
	addr   string
	out    chan []byte
	stop   chan struct{} // closed by close
	once   sync.Once
	code   closeCode
	reason string
}

func (w *wsConn) remote() string { return w.addr }

func (w *wsConn) abort() {
	if w.raw != nil {
		_ = w.raw.Close() // ends a close handshake waiting for the peer
	}
	_ = w.c.CloseNow()
}

var (
	errClosing   = errors.New("steward: connection closing")
	errQueueFull = errors.New("steward: write queue full")
)

func (w *wsConn) send(frame []byte) error {
	select {
	case <-w.stop:
		return errClosing
	default:
	}
	select {
	case w.out <- frame:
		return nil
	default:
		return errQueueFull
	}
}

func (w *wsConn) close(code closeCode, reason string) {
	w.once.Do(func() {
		w.code, w.reason = code, reason
		close(w.stop)
	})
}

// serveWS upgrades a request on /native or /manage and runs the session.
func (s *Steward) serveWS(w http.ResponseWriter, r *http.Request, endpoint Generation) {
	s.mu.Lock()
	closed := s.closed
	n := len(s.sessions)
	s.mu.Unlock()
	if closed {
		http.Error(w, "steward stopping", http.StatusServiceUnavailable)
		return
	}
	if n >= s.opts.Limits.MaxConnections {
		s.st.refused.Add(1)
		http.Error(w, "too many connections", http.StatusServiceUnavailable)
		return
	}
	c, err := websocket.Accept(w, r, &websocket.AcceptOptions{CompressionMode: websocket.CompressionDisabled})
	if err != nil {
		s.log.Debug("steward: websocket upgrade", "remote", r.RemoteAddr, "err", err)
		return
	}
	limit := int64(s.opts.Limits.MaxMessageBytes)
	c.SetReadLimit(limit + 1) // the reader below stops at limit+1 and closes with 1009 itself
	wc := &wsConn{c: c, addr: r.RemoteAddr, out: make(chan []byte, writeQueue), stop: make(chan struct{})}
	wc.raw, _ = r.Context().Value(rawConnKey{}).(net.Conn)
	se := s.newSession(wc, endpoint)
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		c.Close(websocket.StatusGoingAway, "steward stopping")
		return
	}
	s.sessions[se] = struct{}{}
	s.wg.Add(1)
	s.mu.Unlock()
	defer s.wg.Done()
	s.st.accepted.Add(1)
	s.log.Debug("steward: connected", "remote", r.RemoteAddr, "endpoint", r.URL.Path)

	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); s.writer(ctx, wc) }()
	go func() { defer wg.Done(); s.keeper(ctx, wc, se) }()
	s.reader(ctx, wc, se, limit)
	wc.close(closeNormal, "")
	wg.Wait()
	cancel()
	se.end()
	s.log.Debug("steward: disconnected", "remote", r.RemoteAddr, "code", int(wc.code), "reason", wc.reason)
}

// reader reads frames until the connection ends or the session asks to
// close it.
func (s *Steward) reader(ctx context.Context, wc *wsConn, se *session, limit int64) {
	buf := make([]byte, 0, 1024)
	// The read deadline: a connection silent too long (or not saying hello
	// in time) is closed with 1008 by the writer.
	timer := time.AfterFunc(time.Hour, func() {
		s.st.timedOut.Add(1)
		se.closeWith(closePolicy, "read timeout")
	})
	defer timer.Stop()
	for {
		d := s.opts.Timeouts.Read
		if se.clientID() == "" {
			d = s.opts.Timeouts.Hello
		}
		timer.Reset(d)
		typ, rd, err := wc.c.Reader(ctx)
		if err == nil {
			buf, err = readLimited(buf[:0], rd, limit)
		}
		timer.Stop()
		select {
		case <-wc.stop:
			return
		default:
		}
		switch {
		case errors.Is(err, errTooBig):
			s.st.closedTooBig.Add(1)
			wc.close(closeTooBig, "message too big")
			return
		case err != nil:
			return
		case typ != websocket.MessageText:
			s.st.closedBinary.Add(1)
			se.closeWith(closeBinary, "binary frames are not accepted")
			return
		}
		if !se.handle(buf) {
			return
		}
	}
}

var errTooBig = errors.New("steward: message too big")

func readLimited(buf []byte, r io.Reader, limit int64) ([]byte, error) {
	for {
		if len(buf) == cap(buf) {
			buf = append(buf, 0)[:len(buf)]
		}
		n, err := r.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if int64(len(buf)) > limit {
			return buf, errTooBig
		}
		if err == io.EOF {
			return buf, nil
		}
		if err != nil {
			return buf, err
		}
	}
}

// writer writes queued frames; when the connection is to close it writes
// what is queued, then the close frame.
func (s *Steward) writer(ctx context.Context, wc *wsConn) {
	write := func(f []byte) bool {
		wctx, cancel := context.WithTimeout(ctx, s.opts.Timeouts.Write)
		defer cancel()
		if err := wc.c.Write(wctx, websocket.MessageText, f); err != nil {
			return false
		}
		s.st.sent.Add(1)
		return true
	}
	for {
		select {
		case f := <-wc.out:
			if !write(f) {
				wc.close(closeNormal, "write failed")
				wc.c.CloseNow()
				return
			}
		case <-wc.stop:
			for {
				select {
				case f := <-wc.out:
					if !write(f) {
						wc.c.CloseNow()
						return
					}
					continue
				default:
				}
				break
			}
			if wc.reason == "write failed" || wc.reason == "" && wc.code == closeNormal {
				wc.c.CloseNow()
				return
			}
			// Close waits (up to 5 s) for the peer's close frame.
			_ = wc.c.Close(websocket.StatusCode(wc.code), truncate(wc.reason, 120))
			return
		}
	}
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}

// keeper pings the peer; a ping not answered in time closes the socket.
func (s *Steward) keeper(ctx context.Context, wc *wsConn, se *session) {
	t := time.NewTicker(s.opts.Timeouts.Ping)
	defer t.Stop()
	for {
		select {
		case <-wc.stop:
			return
		case <-t.C:
		}
		pctx, cancel := context.WithTimeout(ctx, s.opts.Timeouts.Pong)
		err := wc.c.Ping(pctx) // returns early when the connection closes
		cancel()
		if err != nil {
			select {
			case <-wc.stop:
				return
			default:
			}
			s.st.pingTimeouts.Add(1)
			se.closeWith(closePolicy, "ping timeout")
			wc.c.CloseNow()
			return
		}
	}
}
