// Package dtls is the optional OSP link over DTLS 1.2 (RFC 6347): a second
// UDP listener whose datagrams are DTLS records, built on
// github.com/pion/dtls/v3 (never v2: see DESIGN.md). OSP runs unchanged
// inside: the application data of one DTLS record is one OSP packet, in
// both directions. The package knows neither OSP sessions nor the device
// registry; it hands each packet to a Handler with the Peer it came from,
// exactly like drivers/udp.
//
// # Modes
//
// PSK (RFC 4279): the client's PSK identity is its OSP device id,
// "DeviceType:ModuleID" in canonical decimal (e.g. "1:4242", see
// ParseIdentity), and the key is whatever KeyLookup returns for it (the
// gateway answers with the device's AES-128 key). The suites offered are
// TLS_PSK_WITH_AES_128_GCM_SHA256 and TLS_PSK_WITH_AES_128_CCM_8, the
// latter being the one RFC 7925 (the TLS/DTLS IoT profile) makes mandatory
// for PSK. The identity a connection proved is exposed by Peer.Identity and
// Peer.Device, so the gateway can refuse an OSP session for any other device.
//
// Certificate: the gateway presents its own ECDSA key pair (see
// gateway/certs, which keeps a self-signed P-256 pair in the data
// directory). The suites offered are TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256
// and TLS_ECDHE_ECDSA_WITH_AES_128_CCM_8 (RFC 7925's mandatory certificate
// suite). The client is not authenticated by DTLS (Identity is ""); OSP's
// own security does that. Both modes may be enabled on one listener.
//
// # Connection life
//
//	ClientHello from an address without a connection (nothing else opens one)
//	  -> admission: MaxConns, MaxHandshakes, per-IP token bucket  (refused: counted, OnError)
//	  -> handshake, bounded by HandshakeTimeout                    (failed: counted, OnError)
//	  -> records: each one Handler.Handle(pkt, peer)               (handler error: OnError, go on)
//	  -> closed on: peer close_notify or fatal alert, IdleTimeout without a record,
//	     a new handshake completed from the same address, ctx end (close_notify sent)
//
// The link demultiplexes its UDP socket itself rather than through pion's
// listener, so that a client restarting from the same address and port gets
// a new handshake at once (RFC 6347 section 4.2.8) instead of being held off
// by its dead association until IdleTimeout; mux.go has the routing rules.
//
// With a wrong PSK the client's Finished does not decrypt, and DTLS discards
// records that do not decrypt (RFC 6347 section 4.1.2.7): the handshake fails
// by timeout on both sides, not by alert. An unknown or malformed identity
// fails at once with a fatal alert.
//
// Application records that reach pion before its server side has marked the
// handshake complete (a client writing the moment its own handshake ends)
// are kept one at a time and the others dropped silently, in pion, before
// this package sees them. The sensor sends an unanswered CONNECT and an
// unacknowledged AckReq DATA again; a DATA without AckReq can be lost there
// as on any UDP link.
//
// Timeouts run on the wall clock, through pion's deadlines; only the rate
// limiter takes an injected clock (Options.Now).
//
// Everything the link drops or refuses goes to Options.OnError; the package
// never logs (pion's own logger is silenced) and holds no mutable global state.
package dtls
