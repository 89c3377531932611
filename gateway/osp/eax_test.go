package osp

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"testing"

	"github.com/ProtonMail/go-crypto/eax"
)

// aead returns c's EAX as a cipher.AEAD.
func (c *Cipher) aead() cipher.AEAD { return eaxAEAD{c.eax} }

// FuzzEAXAgainstLibrary checks this package's EAX against
// github.com/ProtonMail/go-crypto/eax byte for byte: for any key, nonce,
// header, message and tag length, Seal gives the library's output, Open
// recovers the message from it (in place, as OpenPacket does), and a
// flipped bit anywhere is refused by both.
func FuzzEAXAgainstLibrary(f *testing.F) {
	f.Add(testKey, make([]byte, 16), []byte{0xbe, 0xef, 0, 3, 0x83, 0x31}, make([]byte, 35), uint8(8), uint16(0))
	f.Add(testKey, bytes.Repeat([]byte{0xff}, 16), []byte{}, []byte{}, uint8(16), uint16(7))
	f.Add(testKey, make([]byte, 16), make([]byte, 16), make([]byte, 16), uint8(4), uint16(200))
	f.Add(testKey, make([]byte, 16), make([]byte, 33), make([]byte, 300), uint8(12), uint16(1000))
	f.Fuzz(func(t *testing.T, key, nonce, hdr, msg []byte, tagLen uint8, flip uint16) {
		if len(key) != KeyLen || len(nonce) != 16 {
			return
		}
		tl := 4 + int(tagLen)%13
		block, _ := aes.NewCipher(key)
		lib, err := eax.NewEAXWithNonceAndTagSize(block, 16, tl)
		if err != nil {
			t.Fatal(err)
		}
		k := newEAX(block, tl)
		var w eaxWork
		want := lib.Seal(nil, nonce, msg, hdr)
		got := k.seal(nil, nonce, msg, hdr, &w)
		if !bytes.Equal(got, want) {
			t.Fatalf("seal %x, library %x", got, want)
		}
		// Sealing into dst whose free space is the message itself.
		inPlace := append(append([]byte(nil), msg...), make([]byte, tl)...)
		if sealed := k.seal(inPlace[:0], nonce, inPlace[:len(msg)], hdr, &w); !bytes.Equal(sealed, want) {
			t.Fatalf("in-place seal %x, want %x", sealed, want)
		}
		buf := append([]byte(nil), got...)
		pt, err := k.open(buf[:0], nonce, buf, hdr, &w)
		if err != nil || !bytes.Equal(pt, msg) {
			t.Fatalf("open = %x, %v; want %x", pt, err, msg)
		}
		// A flipped bit in the header or the sealed bytes fails both.
		all := len(hdr) + len(got)
		bit := int(flip) % (8 * all)
		h2, c2 := append([]byte(nil), hdr...), append([]byte(nil), got...)
		if i := bit / 8; i < len(hdr) {
			h2[i] ^= 1 << (bit % 8)
		} else {
			c2[i-len(hdr)] ^= 1 << (bit % 8)
		}
		keep := append([]byte(nil), c2...)
		if _, err := k.open(c2[:0], nonce, c2, h2, &w); err == nil {
			t.Fatalf("bit %d flipped: accepted", bit)
		}
		if !bytes.Equal(c2, keep) {
			t.Fatal("a refused open wrote to its buffer")
		}
		if _, err := lib.Open(nil, nonce, keep, h2); err == nil {
			t.Fatalf("bit %d flipped: the library accepts it", bit)
		}
	})
}

// TestEAXTruncated: a ciphertext shorter than the tag is refused, not
// sliced out of range.
func TestEAXTruncated(t *testing.T) {
	c, _ := NewCipher(testKey, 8)
	for n := range 8 {
		if _, err := c.aead().Open(nil, make([]byte, 16), make([]byte, n), nil); err == nil {
			t.Errorf("%d bytes accepted", n)
		}
	}
}
