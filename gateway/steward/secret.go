package steward

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha1" //nolint:gosec // RFC 6238 TOTP as the Simple Thing Protocol's clients compute it
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base32"
	"encoding/binary"
	"fmt"
	"log/slog"
	"time"

	"github.com/edgegate/edgegate/gateway/randtext"
)

// secret is a pairing's secret: a TOTP key or a passcode. Its String,
// Format and LogValue methods redact it; it is stored only in the store
// and sent only in the pair reply that hands it to the thing.
type secret string

// String returns a placeholder, never the secret.
func (secret) String() string { return "[redacted]" }

// Format prints the placeholder for every verb.
func (s secret) Format(f fmt.State, _ rune) { _, _ = f.Write([]byte(s.String())) }

// LogValue redacts the secret in structured logs.
func (s secret) LogValue() slog.Value { return slog.StringValue(s.String()) }

// TOTP parameters of the Simple Thing Protocol (what speakeasy, the
// original steward's library, generates).
const (
	totpStep   = 30 * time.Second
	totpKeyLen = 40 // ASCII characters; clients read it from "length"
	minDigits  = 6
	maxDigits  = 9
)

const alphanumeric = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"

// newTOTPKey returns a random key of totpKeyLen alphanumeric characters:
// the HMAC key is those ASCII bytes, and clients get it base32-encoded.
func newTOTPKey() secret { return secret(randtext.String(alphanumeric, totpKeyLen)) }

// newPasscode returns a random passcode for a Native pairing: 26 base32
// characters (130 bits).
func newPasscode() secret { return secret(rand.Text()) }

// base32Key is the key as the pair reply's params.base32 carries it.
func base32Key(key secret) string {
	return base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString([]byte(key))
}

// totp computes the RFC 6238 code of key (HMAC-SHA1) for the 30-second
// step containing at, with digits digits.
func totp(key secret, at time.Time, digits int) string {
	return hotp(key, uint64(at.Unix()/int64(totpStep/time.Second)), digits)
}

func hotp(key secret, counter uint64, digits int) string {
	var msg [8]byte
	binary.BigEndian.PutUint64(msg[:], counter)
	m := hmac.New(sha1.New, []byte(key))
	m.Write(msg[:])
	sum := m.Sum(nil)
	off := sum[len(sum)-1] & 0x0f
	code := binary.BigEndian.Uint32(sum[off:off+4]) & 0x7fffffff
	mod := uint32(1)
	for range digits {
		mod *= 10
	}
	return fmt.Sprintf("%0*d", digits, code%mod)
}

// checkTOTP reports whether response is key's code for the previous,
// current or next 30-second step around now, in constant time for each.
// Its number of digits is its length (6 to 9).
func checkTOTP(key secret, response string, now time.Time) bool {
	if len(response) < minDigits || len(response) > maxDigits {
		return false
	}
	match := 0
	for _, d := range []time.Duration{-totpStep, 0, totpStep} {
		want := totp(key, now.Add(d), len(response))
		match |= subtle.ConstantTimeCompare([]byte(want), []byte(response))
	}
	return match == 1
}

// passHash is what the store keeps of a Native passcode.
func passHash(p string) []byte {
	s := sha256.Sum256([]byte("edgegate steward passcode\x00" + p))
	return s[:]
}

// checkPasscode compares a passcode with a stored hash in constant time.
func checkPasscode(hash []byte, p string) bool {
	return len(hash) == sha256.Size && subtle.ConstantTimeCompare(hash, passHash(p)) == 1
}
