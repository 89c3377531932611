package lora

import (
	"errors"
	"fmt"
)

// Sentinel errors. Every error the package returns is, or wraps, one of these
// (or an error of the SPI or GPIO layer), so callers branch with errors.Is.
var (
	// ErrConfig is returned by Config.Validate (and Open) for an invalid
	// field; the message names the field and its value.
	ErrConfig = errors.New("lora: invalid config")
	// ErrVersion is returned by Open when RegVersion does not read 0x12:
	// the chip is not an SX1276/77/78/79, or nothing answers on the bus
	// (0x00 or 0xFF usually mean wiring or power).
	ErrVersion = errors.New("lora: not an SX1276/77/78/79")
	// ErrMode is returned by Open when the radio does not enter LoRa mode.
	ErrMode = errors.New("lora: radio did not enter LoRa mode")
	// ErrCRC is returned by Receive for a packet whose payload CRC failed
	// (RegIrqFlags PayloadCrcError). The packet is dropped; the receiver
	// keeps running, so the error is not fatal.
	ErrCRC = errors.New("lora: payload CRC error")
	// ErrNoCRC is returned by Receive, with the CRC on, for a packet whose
	// header says it carries no payload CRC (RegHopChannel CrcOnPayload = 0,
	// §4.1.1.6): its integrity cannot be checked. It wraps ErrCRC.
	ErrNoCRC = fmt.Errorf("%w: packet sent without payload CRC", ErrCRC)
	// ErrPacketSize is returned by Transmit for an empty packet or one longer
	// than MaxPayload (255 bytes), and by Peer.Send likewise.
	ErrPacketSize = errors.New("lora: packet must be 1..255 bytes")
	// ErrTxTimeout is returned by Transmit when TxDone does not come within
	// twice the packet's time on air plus a second.
	ErrTxTimeout = errors.New("lora: transmission did not complete")
	// ErrDutyCycle is reported (OnError) for a reply dropped because sending
	// it within Options.MaxQueueDelay would exceed the duty cycle.
	ErrDutyCycle = errors.New("lora: reply dropped: duty cycle exhausted")
	// ErrQueueFull is returned by Peer.Send (and reported) when
	// Options.MaxQueue replies already wait.
	ErrQueueFull = errors.New("lora: reply dropped: transmit queue full")
	// ErrQueueTimeout is reported for a reply that waited longer than
	// Options.MaxQueueDelay, or is returned by Peer.Send (and reported) for
	// one that would, behind the replies already queued.
	ErrQueueTimeout = errors.New("lora: reply dropped: waited too long")
	// ErrClosed is returned by Peer.Send once the link's Run has returned.
	ErrClosed = errors.New("lora: link closed")
)
