package udp

import (
	"encoding/binary"
	"unsafe"

	"golang.org/x/sys/unix"
)

// gsoSupported: Linux segments UDP datagrams (UDP_SEGMENT, since 4.18).
const gsoSupported = true

// appendSegment appends the control message that asks the kernel to cut a
// datagram into segments of size bytes (the last may be shorter).
func appendSegment(b []byte, size int) []byte {
	off := len(b)
	b = append(b, make([]byte, unix.CmsgSpace(2))...)
	h := (*unix.Cmsghdr)(unsafe.Pointer(&b[off]))
	h.Level, h.Type = unix.SOL_UDP, unix.UDP_SEGMENT
	h.SetLen(unix.CmsgLen(2))
	binary.NativeEndian.PutUint16(b[off+unix.CmsgLen(0):], uint16(size))
	return b
}
