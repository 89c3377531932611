//go:build !linux

package udp

// gsoSupported: segmentation offload is Linux's alone.
const gsoSupported = false

// appendSegment is never called where gsoSupported is false.
func appendSegment(b []byte, _ int) []byte { return b }
