// Package osp implements the Optin Sensor Protocol 2.0 (OSP), specified by
// Optin Kft.: www.en.optin.hu/products-services/optin-sensor-protocol/.
//
// It is pure protocol: the codec for every packet, AES-128 EAX and the
// four-way handshake, and the session state machine in both roles (Server
// for gatewayd, Client for the simulator and tests). It never opens a socket
// or a file, starts no goroutine and logs nothing: bytes come in through
// Server.Handle / Client.Handle, leave through the Peer interface, and time
// advances only through an injected Clock and explicit Tick calls.
//
// # Packet layout
//
//	byte 0-1  SID (big endian)
//	byte 2-3  SeqNum (big endian)
//	byte 4    MsgType<<4 | C<<3 | S<<2 | A<<1 | E
//	byte 5-6  PacketSize: 7 bits per byte, LSB group first, high bit chains;
//	          at most two bytes (16383), counting the whole packet
//	body      per MsgType; encrypted under EAX when E is set
//	MAC       EAX tag (4..16 bytes, 8 by default) when E is set
//
// # Decisions the specification leaves open
//
//   - EAX nonce: IV_sender||IV_receiver read as a 128-bit big-endian integer,
//     plus the packet's SeqNum, modulo 2^128; the associated data is the fixed
//     header as sent.
//   - Handshake steps 2 and 3 encrypt the two 8-byte vectors as one AES block
//     (ECB).
//   - FirmwareName is 20 bytes, right-padded with NUL; trailing NULs are
//     stripped on read.
//   - Fixed-size bodies (ACKNOWLEDGE, RESEND, PING, FIRMWARE request, the
//     CONNECT forms) must have exactly their size; a PacketSize that is not
//     minimally encoded is rejected.
//   - The flag rules are checked after a packet authenticated, so a forged
//     packet cannot end a secure session; an authenticated violation ends it
//     with a terminating CONNECT.
//   - A secure session accepts the packets the specification allows without
//     EAX (DATA, PING, ACKNOWLEDGE, RESEND) unless ServerConfig.RequireEAX is
//     set; readings received so are marked Authenticated=false.
//
// # Reliability
//
// The server tracks MessageIDs per session and asks for every skipped one
// with RESEND (bounded, retried, reported when lost), marks duplicates, and
// sends ACKNOWLEDGE only when the application calls Server.Ack, so a gateway
// acknowledges a reading only once it is durable. The client keeps a cache of
// its DATA packets, retransmits unacknowledged ones with the Cached bit and
// answers RESEND from it, or with a DataType 0 stub.
package osp
