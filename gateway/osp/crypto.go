package osp

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/subtle"
	"encoding/binary"
	"fmt"
)

// KeyLen is the AES-128 key length.
const KeyLen = 16

// DefaultTagLen is the MAC length used when a device names none.
const DefaultTagLen = 8

// Cipher holds a device key prepared for OSP: the raw block cipher for the
// handshake's one-block ECB and EAX with the device's tag length (eax.go).
// A Cipher is safe for concurrent use.
type Cipher struct {
	block  cipher.Block
	eax    *eaxKey
	tagLen int
}

// NewCipher prepares key (16 bytes) with a tag of tagLen bytes (4..16; 0
// means DefaultTagLen).
func NewCipher(key []byte, tagLen int) (*Cipher, error) {
	if tagLen == 0 {
		tagLen = DefaultTagLen
	}
	if tagLen < 4 || tagLen > 16 {
		return nil, fmt.Errorf("%w: %d", ErrTagLength, tagLen)
	}
	if len(key) != KeyLen {
		return nil, fmt.Errorf("%w: got %d", ErrKeyLength, len(key))
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("osp: aes: %w", err)
	}
	return &Cipher{block: block, eax: newEAX(block, tagLen), tagLen: tagLen}, nil
}

// TagLen returns the MAC length in bytes.
func (c *Cipher) TagLen() int { return c.tagLen }

// encryptIVs ECB-encrypts first||second as one AES block (handshake steps 2
// and 3).
func (c *Cipher) encryptIVs(dst *[2 * IVLen]byte, first, second [IVLen]byte) {
	var pt [2 * IVLen]byte
	copy(pt[:IVLen], first[:])
	copy(pt[IVLen:], second[:])
	c.block.Encrypt(dst[:], pt[:])
}

// decryptIVs reverses encryptIVs.
func (c *Cipher) decryptIVs(block [2 * IVLen]byte) (first, second [IVLen]byte) {
	var pt [2 * IVLen]byte
	c.block.Decrypt(pt[:], block[:])
	copy(first[:], pt[:IVLen])
	copy(second[:], pt[IVLen:])
	return first, second
}

// NonceBase is the 128-bit value IV_sender||IV_receiver from which the
// per-packet EAX nonces of one direction are derived.
type NonceBase struct{ hi, lo uint64 }

// MakeNonceBase returns the base for packets sent by the holder of sender to
// the holder of receiver: Client»Server uses (ClientIV, ServerIV),
// Server»Client uses (ServerIV, ClientIV).
func MakeNonceBase(sender, receiver [IVLen]byte) NonceBase {
	return NonceBase{hi: binary.BigEndian.Uint64(sender[:]), lo: binary.BigEndian.Uint64(receiver[:])}
}

// Put sets dst to the nonce of the packet with SeqNum seq: the base read as
// a big-endian 128-bit integer plus seq, modulo 2^128.
func (n NonceBase) Put(dst *Nonce, seq uint16) {
	lo := n.lo + uint64(seq)
	hi := n.hi
	if lo < n.lo {
		hi++
	}
	binary.BigEndian.PutUint64(dst.b[:8], hi)
	binary.BigEndian.PutUint64(dst.b[8:], lo)
}

// Nonce is one packet's EAX nonce together with the scratch space that
// SealPacket and OpenPacket work in, so that neither allocates: keep it in
// a structure that lives on the heap anyway (a session keeps one per
// session). NonceBase.Put sets it. A Nonce must not be used by two calls at
// once.
type Nonce struct {
	b    [16]byte
	work eaxWork
}

// Bytes returns the 16 nonce bytes.
func (n *Nonce) Bytes() []byte { return n.b[:] }

// constantTimeEqualIV compares two vectors without data-dependent timing.
func constantTimeEqualIV(a, b [IVLen]byte) bool {
	return subtle.ConstantTimeCompare(a[:], b[:]) == 1
}

// SealPacket appends a complete EAX-protected packet to dst: the fixed header
// (sent in clear and authenticated as associated data) followed by the
// encrypted body and the tag. nonce is the per-packet nonce (NonceBase.Put).
func (c *Cipher) SealPacket(dst []byte, nonce *Nonce, sid, seq uint16, t MsgType, flags Flags, body []byte) ([]byte, error) {
	size := PacketSizeFor(len(body) + c.tagLen)
	if size > MaxPacketSize {
		return dst, fmt.Errorf("%w: %d bytes", ErrTooLarge, size)
	}
	start := len(dst)
	dst, err := AppendHeader(dst, Header{SID: sid, SeqNum: seq, Type: t, Flags: flags | FlagEAX, Size: size})
	if err != nil {
		return dst, err
	}
	hdr := dst[start:]
	return c.eax.seal(dst, nonce.b[:], body, hdr, &nonce.work), nil
}

// OpenPacket verifies the tag of an EAX packet and then decrypts its body in
// place, returning the plaintext body (which aliases p.Raw). The MAC is
// checked before anything is decrypted; on failure p is left unchanged.
func (c *Cipher) OpenPacket(p *Packet, nonce *Nonce) ([]byte, error) {
	body := p.Body()
	if len(body) < c.tagLen {
		return nil, fmt.Errorf("%w: %d bytes cannot hold a %d-byte tag", ErrTruncated, len(body), c.tagLen)
	}
	pt, err := c.eax.open(body[:0], nonce.b[:], body, p.Raw[:p.HeaderLen], &nonce.work)
	if err != nil {
		return nil, ErrAuth
	}
	return pt, nil
}
