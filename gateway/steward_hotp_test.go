package gateway

import (
	"crypto/hmac"
	"crypto/sha1" //nolint:gosec // RFC 4226 HOTP, as the protocol's clients compute it
	"encoding/binary"
)

// hotpSHA1 is RFC 4226's HOTP value (before the modulo).
func hotpSHA1(key []byte, counter uint64) uint32 {
	var msg [8]byte
	binary.BigEndian.PutUint64(msg[:], counter)
	m := hmac.New(sha1.New, key)
	m.Write(msg[:])
	sum := m.Sum(nil)
	off := sum[len(sum)-1] & 0x0f
	return binary.BigEndian.Uint32(sum[off:]) & 0x7fffffff
}
