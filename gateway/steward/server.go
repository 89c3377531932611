package steward

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/edgegate/edgegate/gateway/certs"
	"github.com/edgegate/edgegate/gateway/httpserve"
	"github.com/edgegate/edgegate/gateway/mdns"
)

// Handler returns the steward's HTTP handler: the WebSocket endpoints
// /native (the Native Thing draft) and /manage (the Simple Thing Protocol),
// and the certificate with its fingerprints at /server.crt, /server.sha1
// and /server.sha256 for clients that pin it.
func (s *Steward) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /native", func(w http.ResponseWriter, r *http.Request) { s.serveWS(w, r, Native) })
	mux.HandleFunc("GET /manage", func(w http.ResponseWriter, r *http.Request) { s.serveWS(w, r, Simple) })
	mux.HandleFunc("GET /server.crt", static("application/x-pem-file", string(s.certPEM)))
	mux.HandleFunc("GET /server.sha1", static("text/plain; charset=utf-8", fingerprintLine("SHA1", s.sha1)))
	mux.HandleFunc("GET /server.sha256", static("text/plain; charset=utf-8", fingerprintLine("SHA256", s.sha256FP)))
	return mux
}

// static serves body, or 404 when it is empty (no certificate).
func static(ctype, body string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if body == "" {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", ctype)
		_, _ = io.WriteString(w, body)
	}
}

// fingerprintLine is a fingerprint as the original's server.sha1 wrote
// it: "SHA1 Fingerprint=AB:CD:...". It is empty for an empty fingerprint.
func fingerprintLine(alg, hexFP string) string {
	if hexFP == "" {
		return ""
	}
	return alg + " Fingerprint=" + certs.Colons(hexFP) + "\n"
}

// Fingerprints returns the certificate's SHA-1 and SHA-256 fingerprints
// (lower-case hex).
func (s *Steward) Fingerprints() (sha1, sha256 string) { return s.sha1, s.sha256FP }

// Run serves until ctx ends: TLS (wss, https) on secure, and plain ws on
// plain when it is not nil. It advertises the steward by mDNS on the secure
// port, marks silent things absent, and on return has closed every
// connection (their things absent) and withdrawn the advertisements. Run
// closes the listeners.
func (s *Steward) Run(ctx context.Context, secure, plain net.Listener) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var lns []net.Listener
	if secure != nil {
		if len(s.opts.Certificate.Certificate) == 0 {
			return fmt.Errorf("%w: a secure listener needs a Certificate", ErrConfig)
		}
		cfg := &tls.Config{Certificates: []tls.Certificate{s.opts.Certificate}, MinVersion: tls.VersionTLS12}
		lns = append(lns, tls.NewListener(secure, cfg))
	}
	if plain != nil {
		lns = append(lns, plain)
	}
	if len(lns) == 0 {
		return fmt.Errorf("%w: no listener", ErrConfig)
	}
	var regs []*mdns.Registration
	if secure != nil {
		var err error
		if regs, err = s.advertise(secure.Addr().(*net.TCPAddr).Port); err != nil {
			for _, l := range lns {
				l.Close()
			}
			return err
		}
	}
	errc := make(chan error, len(lns))
	var wg sync.WaitGroup
	h := s.Handler()
	for _, ln := range lns {
		srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second,
			BaseContext: func(net.Listener) context.Context { return ctx },
			ConnContext: func(ctx context.Context, c net.Conn) context.Context { return context.WithValue(ctx, rawConnKey{}, c) }}
		wg.Add(1)
		go func() {
			defer wg.Done()
			// Shutdown leaves the hijacked WebSockets to closeAll.
			if err := httpserve.Serve(ctx, srv, ln); err != nil {
				errc <- err
				cancel()
			}
		}()
		s.log.Info("steward listening", "addr", ln.Addr().String(), "tls", ln != plain)
	}
	wg.Add(1)
	go func() { defer wg.Done(); s.sweep(ctx) }()
	<-ctx.Done()
	s.closeAll()
	wg.Wait()
	for _, r := range regs {
		r.Close()
	}
	close(errc)
	var err error
	for e := range errc {
		err = errors.Join(err, e)
	}
	if err != nil {
		return fmt.Errorf("steward: %w", err)
	}
	return nil
}

// rawConnKey keys a request's network connection in its context, so a
// WebSocket can be dropped without waiting for its close handshake.
type rawConnKey struct{}

// closeAll closes every connection and waits for their goroutines.
func (s *Steward) closeAll() {
	s.mu.Lock()
	s.closed = true
	list := make([]*session, 0, len(s.sessions))
	for se := range s.sessions {
		list = append(list, se)
	}
	s.mu.Unlock()
	for _, se := range list {
		se.closeWith(closeGoingAway, "steward stopping")
	}
	// Peers get a second to answer the close frame; then the sockets are
	// dropped.
	done := make(chan struct{})
	go func() { s.wg.Wait(); close(done) }()
	select {
	case <-done:
		return
	case <-time.After(time.Second):
	}
	for _, se := range list {
		se.t.abort()
	}
	<-done
}

// stats are the steward's counters.
type stats struct {
	accepted, refused, messages, sent                                 atomic.Uint64
	closedBinary, closedInvalidJSON, closedNoRequestID, closedNoPath  atomic.Uint64
	closedTooBig, closedPermanent, timedOut, pingTimeouts, slowClosed atomic.Uint64
	rateLimited, limited                                              atomic.Uint64
	paired, pairsRefused, helloOK, helloFailed, revoked               atomic.Uint64
	prototypes, registered, reattached, updates, absent               atomic.Uint64
	observes, occurrences, performs                                   atomic.Uint64
}

// Stats are the steward's counters since start.
type Stats struct {
	Connections int    `json:"connections"`
	Clients     int    `json:"clients"`
	Prototypes  int    `json:"prototypes"`
	Things      int    `json:"things"`
	Attached    int    `json:"attached"`
	Events      int    `json:"events"`
	Accepted    uint64 `json:"accepted"`
	Refused     uint64 `json:"refused"`
	Messages    uint64 `json:"messages"`
	Sent        uint64 `json:"sent"`
	// Connections closed for a binary frame, invalid JSON, a missing
	// requestID, a message without a path that answers nothing, a frame
	// over the size limit, a permanent error, a read timeout, an
	// unanswered ping, or a full write queue.
	ClosedBinary      uint64 `json:"closedBinary"`
	ClosedInvalidJSON uint64 `json:"closedInvalidJSON"`
	ClosedNoRequestID uint64 `json:"closedNoRequestID"`
	ClosedNoPath      uint64 `json:"closedNoPath"`
	ClosedTooBig      uint64 `json:"closedTooBig"`
	ClosedPermanent   uint64 `json:"closedPermanent"`
	TimedOut          uint64 `json:"timedOut"`
	PingTimeouts      uint64 `json:"pingTimeouts"`
	SlowClosed        uint64 `json:"slowClosed"`
	// RateLimited counts messages refused over the rate; Limited, entries
	// refused over a client's prototype or thing limit.
	RateLimited  uint64 `json:"rateLimited"`
	Limited      uint64 `json:"limited"`
	Paired       uint64 `json:"paired"`
	PairsRefused uint64 `json:"pairsRefused"`
	HelloOK      uint64 `json:"helloOK"`
	HelloFailed  uint64 `json:"helloFailed"`
	Revoked      uint64 `json:"revoked"`
	Defined      uint64 `json:"defined"`
	Registered   uint64 `json:"registered"`
	Reattached   uint64 `json:"reattached"`
	Updates      uint64 `json:"updates"`
	Absent       uint64 `json:"absent"`
	Observes     uint64 `json:"observes"`
	Occurrences  uint64 `json:"occurrences"`
	Performs     uint64 `json:"performs"`
}

// Stats returns the counters.
func (s *Steward) Stats() Stats {
	st := &s.st
	out := Stats{
		Accepted: st.accepted.Load(), Refused: st.refused.Load(), Messages: st.messages.Load(), Sent: st.sent.Load(),
		ClosedBinary: st.closedBinary.Load(), ClosedInvalidJSON: st.closedInvalidJSON.Load(),
		ClosedNoRequestID: st.closedNoRequestID.Load(), ClosedNoPath: st.closedNoPath.Load(),
		ClosedTooBig: st.closedTooBig.Load(), ClosedPermanent: st.closedPermanent.Load(), TimedOut: st.timedOut.Load(),
		PingTimeouts: st.pingTimeouts.Load(), SlowClosed: st.slowClosed.Load(),
		RateLimited: st.rateLimited.Load(), Limited: st.limited.Load(),
		Paired: st.paired.Load(), PairsRefused: st.pairsRefused.Load(), HelloOK: st.helloOK.Load(),
		HelloFailed: st.helloFailed.Load(), Revoked: st.revoked.Load(),
		Defined: st.prototypes.Load(), Registered: st.registered.Load(), Reattached: st.reattached.Load(),
		Updates: st.updates.Load(), Absent: st.absent.Load(),
		Observes: st.observes.Load(), Occurrences: st.occurrences.Load(), Performs: st.performs.Load(),
	}
	s.mu.Lock()
	out.Connections, out.Clients, out.Prototypes, out.Things, out.Events = len(s.sessions), len(s.clients), len(s.protos), len(s.things), len(s.events)
	for _, nt := range s.things {
		if nt.sess != nil {
			out.Attached++
		}
	}
	s.mu.Unlock()
	return out
}
