// Package randtext draws random strings from an alphabet with crypto/rand,
// without the bias of a plain modulo: identifiers and secrets that peers
// expect in a given character set (JOSP object ids, TOTP seeds).
package randtext

import "crypto/rand"

// String returns n characters drawn uniformly from alphabet (1 to 256
// bytes).
func String(alphabet string, n int) string {
	out := make([]byte, 0, n)
	limit := 256 - 256%len(alphabet) // bytes at or above it would bias the modulo
	buf := make([]byte, 2*n)
	for len(out) < n {
		_, _ = rand.Read(buf) // crypto/rand's Reader never fails
		for _, b := range buf {
			if int(b) < limit && len(out) < n {
				out = append(out, alphabet[int(b)%len(alphabet)])
			}
		}
	}
	return string(out)
}
