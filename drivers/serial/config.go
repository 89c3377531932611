package serial

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"go.bug.st/serial"

	"github.com/edgegate/edgegate/gateway/osp"
)

// Defaults of Config.
const (
	// DefaultBaud is the line speed when Config.Baud is zero.
	DefaultBaud = 115200
	// DefaultIdleTimeout is the inter-byte timeout when Config.IdleTimeout
	// is zero: far above the gaps of a wired line or a USB adapter (16 ms
	// latency timers), and long enough for most transparent LoRa UART
	// modules, which pause between the radio subpackets of a long packet.
	// Slow air rates may need more.
	DefaultIdleTimeout = 250 * time.Millisecond
	// DefaultMTU bounds the packets the gateway sends when Config.MTU is
	// zero (a 1 KiB firmware chunk takes about 90 ms at 115200 baud).
	DefaultMTU = 1024
	// DefaultMaxPacketSize bounds received packets when
	// Config.MaxPacketSize is zero: more than sensors send over a serial
	// line, and small enough that a false header found in noise holds the
	// stream for at most about 180 ms at 115200 baud.
	DefaultMaxPacketSize = 2048
)

// Config selects and sets up the port. The zero value of every field but the
// port itself (Path or USB) means its default.
type Config struct {
	// Path is the device, e.g. "/dev/ttyUSB0" or "/dev/serial0". Exactly
	// one of Path and USB is set.
	Path string
	// USB selects a USB serial adapter by its identity instead of a path,
	// which changes with the order of plugging. It is resolved again at
	// every (re)open.
	USB *USBMatch
	// Baud is the line speed (default 115200).
	Baud int
	// DataBits is 5, 6, 7 or 8 (default 8).
	DataBits int
	// Parity is "none" (default), "even" or "odd".
	Parity string
	// StopBits is 1 (default) or 2.
	StopBits int
	// IdleTimeout is the inter-byte timeout: the bytes of a packet cut
	// short are discarded once none came for this long (default 250 ms; at
	// least 1 ms and three character times).
	IdleTimeout time.Duration
	// MTU bounds the packets sent on the line (default 1024, 16–16383).
	MTU int
	// MaxPacketSize bounds the packets accepted from the line (default
	// 2048, at most 16383 (osp.MaxPacketSize)); a header announcing more is
	// garbage.
	MaxPacketSize int
}

// Validate reports the first invalid field, naming it and its value, in an
// error wrapping ErrConfig.
func (c Config) Validate() error {
	bad := func(field string, v any, why string) error {
		return fmt.Errorf("%w: %s %v: %s", ErrConfig, field, v, why)
	}
	switch {
	case c.Path == "" && c.USB == nil:
		return bad("Path", `""`, "set Path or USB")
	case c.Path != "" && c.USB != nil:
		return bad("Path", strconv.Quote(c.Path), "USB "+c.USB.String()+" is set too: set only one")
	case c.USB != nil && c.USB.VID == 0:
		return bad("USB.VID", "0x0000", "must not be zero")
	case c.USB != nil && c.USB.PID == 0:
		return bad("USB.PID", "0x0000", "must not be zero")
	case c.Baud < 0:
		return bad("Baud", c.Baud, "must be positive")
	case c.DataBits != 0 && (c.DataBits < 5 || c.DataBits > 8):
		return bad("DataBits", c.DataBits, "must be 5, 6, 7 or 8")
	case c.StopBits != 0 && c.StopBits != 1 && c.StopBits != 2:
		return bad("StopBits", c.StopBits, "must be 1 or 2")
	case c.IdleTimeout < 0:
		return bad("IdleTimeout", c.IdleTimeout, "must not be negative")
	case c.MTU != 0 && (c.MTU < 16 || c.MTU > osp.MaxPacketSize):
		return bad("MTU", c.MTU, fmt.Sprintf("must be 16..%d", osp.MaxPacketSize))
	case c.MaxPacketSize != 0 && (c.MaxPacketSize < osp.MaxHeaderLen || c.MaxPacketSize > osp.MaxPacketSize):
		return bad("MaxPacketSize", c.MaxPacketSize, fmt.Sprintf("must be %d..%d", osp.MaxHeaderLen, osp.MaxPacketSize))
	}
	if _, err := parseParity(c.Parity); err != nil {
		return err
	}
	if c.IdleTimeout != 0 {
		d := c.withDefaults()
		// A character is start + data + parity + stop bits.
		bits := 1 + d.DataBits + d.StopBits
		if d.Parity != "none" {
			bits++
		}
		least := max(3*time.Duration(bits)*time.Second/time.Duration(d.Baud), time.Millisecond)
		if c.IdleTimeout < least {
			return bad("IdleTimeout", c.IdleTimeout, fmt.Sprintf("must be at least %v (1 ms and three characters at %d baud)", least, d.Baud))
		}
	}
	return nil
}

// withDefaults returns c with its zero fields set to their defaults.
func (c Config) withDefaults() Config {
	if c.Baud == 0 {
		c.Baud = DefaultBaud
	}
	if c.DataBits == 0 {
		c.DataBits = 8
	}
	if c.Parity == "" {
		c.Parity = "none"
	}
	c.Parity = strings.ToLower(c.Parity)
	if c.StopBits == 0 {
		c.StopBits = 1
	}
	if c.IdleTimeout == 0 {
		c.IdleTimeout = DefaultIdleTimeout
	}
	if c.MTU == 0 {
		c.MTU = DefaultMTU
	}
	if c.MaxPacketSize == 0 {
		c.MaxPacketSize = DefaultMaxPacketSize
	}
	return c
}

// mode returns the go.bug.st/serial mode of a Config with defaults applied.
func (c Config) mode() *serial.Mode {
	p, _ := parseParity(c.Parity)
	m := &serial.Mode{BaudRate: c.Baud, DataBits: c.DataBits, Parity: p, StopBits: serial.OneStopBit}
	if c.StopBits == 2 {
		m.StopBits = serial.TwoStopBits
	}
	return m
}

func parseParity(s string) (serial.Parity, error) {
	switch strings.ToLower(s) {
	case "", "none":
		return serial.NoParity, nil
	case "even":
		return serial.EvenParity, nil
	case "odd":
		return serial.OddParity, nil
	}
	return 0, fmt.Errorf("%w: Parity %q: must be none, even or odd", ErrConfig, s)
}

// USBMatch selects a USB serial adapter by vendor and product ID and,
// optionally, its serial number. Its text form is "VID:PID[:SERIAL]" in hex,
// e.g. "10c4:ea60" (a CP210x) or "0403:6001:A50285BI" (an FTDI with a serial
// number).
type USBMatch struct {
	VID, PID uint16
	// Serial, when not empty, must equal the adapter's serial number.
	Serial string
}

// ParseUSBMatch parses "VID:PID[:SERIAL]": VID and PID in hex (one to four
// digits, an optional 0x prefix), SERIAL the rest of the string, colons
// included.
func ParseUSBMatch(s string) (USBMatch, error) {
	parts := strings.SplitN(s, ":", 3)
	if len(parts) < 2 {
		return USBMatch{}, fmt.Errorf("%w: USB %q: want VID:PID[:SERIAL] in hex, e.g. 10c4:ea60", ErrConfig, s)
	}
	vid, err := parseID(parts[0])
	if err != nil {
		return USBMatch{}, fmt.Errorf("%w: USB %q: VID %q: %w", ErrConfig, s, parts[0], err)
	}
	pid, err := parseID(parts[1])
	if err != nil {
		return USBMatch{}, fmt.Errorf("%w: USB %q: PID %q: %w", ErrConfig, s, parts[1], err)
	}
	m := USBMatch{VID: vid, PID: pid}
	if len(parts) == 3 {
		if parts[2] == "" {
			return USBMatch{}, fmt.Errorf("%w: USB %q: empty SERIAL after the second colon", ErrConfig, s)
		}
		m.Serial = parts[2]
	}
	return m, nil
}

// parseID parses a 16-bit hex USB ID.
func parseID(s string) (uint16, error) {
	h := strings.TrimPrefix(strings.TrimPrefix(s, "0x"), "0X")
	if h == "" || len(h) > 4 {
		return 0, errors.New("want 1 to 4 hex digits")
	}
	v, err := strconv.ParseUint(h, 16, 16)
	if err != nil {
		return 0, fmt.Errorf("want hex digits: %w", err)
	}
	return uint16(v), nil
}

// String returns the "vid:pid[:serial]" form, in lowercase hex.
func (m USBMatch) String() string {
	s := fmt.Sprintf("%04x:%04x", m.VID, m.PID)
	if m.Serial != "" {
		s += ":" + m.Serial
	}
	return s
}

// MarshalText implements encoding.TextMarshaler with the String form.
func (m USBMatch) MarshalText() ([]byte, error) { return []byte(m.String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler with ParseUSBMatch, so a
// configuration file can hold usb = "10c4:ea60".
func (m *USBMatch) UnmarshalText(b []byte) error {
	v, err := ParseUSBMatch(string(b))
	if err != nil {
		return err
	}
	*m = v
	return nil
}

// Matches reports whether the port is the USB adapter m selects.
func (m USBMatch) Matches(p PortInfo) bool {
	return p.IsUSB && p.VID == m.VID && p.PID == m.PID && (m.Serial == "" || p.SerialNumber == m.Serial)
}

// Resolve returns the path of the one port in ports that m matches. It fails
// with ErrNoPort when none does (the adapter is unplugged) and ErrAmbiguous
// when several do (give a serial number).
func (m USBMatch) Resolve(ports []PortInfo) (string, error) {
	var found []string
	for _, p := range ports {
		if m.Matches(p) {
			found = append(found, p.Name)
		}
	}
	switch len(found) {
	case 0:
		return "", fmt.Errorf("%w: USB %s is not present", ErrNoPort, m)
	case 1:
		return found[0], nil
	}
	return "", fmt.Errorf("%w: USB %s matches %s: add the serial number", ErrAmbiguous, m, strings.Join(found, ", "))
}
