package gateway

import (
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"time"

	"github.com/BurntSushi/toml"

	"github.com/edgegate/edgegate/board"
)

// Config is gatewayd's configuration file (TOML).
type Config struct {
	Gateway GatewayConfig  `toml:"gateway"`
	MDNS    MDNSConfig     `toml:"mdns"`
	JOSP    JOSPConfig     `toml:"josp"`
	OSP     OSPConfig      `toml:"osp"`
	Store   StoreConfig    `toml:"store"`
	Things  ThingsConfig   `toml:"things"`
	Admin   AdminConfig    `toml:"admin"`
	Steward StewardConfig  `toml:"steward"`
	OCO     OCOConfig      `toml:"oco"`
	Board   board.Config   `toml:"board"`
	Log     LogConfig      `toml:"log"`
	Runtime RuntimeConfig  `toml:"runtime"`
	Devices []DeviceConfig `toml:"device"`
	// Upstream is the OCS the readings go to ([upstream], gateway/ocs.go).
	Upstream UpstreamConfig `toml:"upstream"`

	// Version is the running build's version, reported by the admin API;
	// set by the program, not read from the file.
	Version string `toml:"-"`
}

// ThingsConfig configures the hub.
type ThingsConfig struct {
	// ProfileDir holds device profiles (*.toml) besides the built-in ones;
	// empty: the built-in profiles only. A relative path is resolved
	// against the working directory.
	ProfileDir string `toml:"profile_dir"`
}

// AdminConfig configures the local admin API (gatewayctl).
type AdminConfig struct {
	// Socket is the unix socket path, created mode 0600; a relative path is
	// inside the data directory. Default "gatewayd.sock"; "" turns the API
	// off.
	Socket string `toml:"socket"`
	// HTTP is host:port of the status page, /metrics, /healthz and
	// /readyz; "" (the default) turns it off. The shipped configurations
	// say "127.0.0.1:8080". On a non-loopback address the page asks for
	// the password set with `gatewayctl web password`.
	HTTP string `toml:"http"`
}

// OSPConfig configures the OSP server and its links.
type OSPConfig struct {
	UDP    UDPConfig      `toml:"udp"`
	Serial []SerialConfig `toml:"serial"`
	DTLS   DTLSConfig     `toml:"dtls"`
	LoRa   LoRaConfig     `toml:"lora"`
	// HandshakeTimeout is the fallback timer of a pending secure handshake
	// step (0: the OSP server's default, 10s).
	HandshakeTimeout Duration `toml:"handshake_timeout"`
	// CommandTimeout bounds the wait for a COMMAND response (0: 30s).
	CommandTimeout Duration `toml:"command_timeout"`
	// ResendTimeout is the wait for the answer to a RESEND (0: 5s).
	ResendTimeout Duration `toml:"resend_timeout"`
	// PingInterval enables server PINGREQs after that much silence.
	PingInterval Duration `toml:"ping_interval"`
	// IdleTimeout closes sessions silent that long (0: never).
	IdleTimeout Duration `toml:"idle_timeout"`
	// RequireEAX drops plaintext packets in secure sessions.
	RequireEAX bool `toml:"require_eax"`
	// FirmwareChunkSize is the chunk size of firmware images added without
	// one (default 128 bytes: fits every link, LoRa included).
	FirmwareChunkSize int `toml:"firmware_chunk_size"`
}

// UDPConfig configures the OSP UDP listener.
type UDPConfig struct {
	// Listen is host:port; empty disables UDP. Default 127.0.0.1:4700.
	Listen string `toml:"listen"`
	// MTU bounds packets sent over UDP (default 1472).
	MTU int `toml:"mtu"`
}

// StoreConfig configures the bbolt database.
type StoreConfig struct {
	// MaxAge keeps journal records that long after every consumer passed
	// them (default 720h).
	MaxAge Duration `toml:"max_age"`
	// MaxSizeMB caps the database file (0: no cap).
	MaxSizeMB int64 `toml:"max_size_mb"`
}

// LogConfig configures logging.
type LogConfig struct {
	// Level is debug, info, warn or error (default info).
	Level string `toml:"level"`
	// Format is text or json (default text).
	Format string `toml:"format"`
}

// RuntimeConfig tunes the Go runtime's garbage collector, which cmd/gatewayd
// sets at start. The environment variables GOGC and GOMEMLIMIT, when set,
// take precedence over these keys.
type RuntimeConfig struct {
	// GCPercent is the heap growth, in percent of the live heap, that
	// starts a collection (Go's GOGC; default 400, 50..10000). Every
	// reading allocates a little in the store and the hub, so at thousands
	// of readings a second the collector's cost falls with the growth it
	// is allowed: 400 collects a quarter as often as Go's default of 100.
	GCPercent int `toml:"gc_percent"`
	// MemoryLimitMB is the soft limit of the Go runtime's memory in MiB
	// (Go's GOMEMLIMIT; default 48; 0: none). Near it the collector runs
	// as often as it must, whatever gc_percent says, so that gc_percent
	// buys speed with memory only while memory is plentiful. Once the live
	// heap is above a fifth of the limit, the heap grows to the limit
	// before each collection, so gatewayd's anonymous memory settles a
	// little under it (40 MiB of 48 holding 10,000 idle secure sessions,
	// whose live heap is about 20 MiB); the pages it maps of its binary and
	// database add about 20 MiB of resident memory.
	MemoryLimitMB int64 `toml:"memory_limit_mb"`
}

// DeviceConfig provisions an OSP device at start (upserted into the store).
type DeviceConfig struct {
	// Type is the OSP DeviceType (1..65535) and Module its ModuleID.
	Type   uint16 `toml:"type"`
	Module uint32 `toml:"module"`
	// Name labels the device on the status page and in gatewayctl.
	Name string `toml:"name"`
	// Secure: sessions under AES-128 EAX with Key.
	Secure bool `toml:"secure"`
	// Key is the AES-128 key as 32 hex digits (secure devices only).
	Key string `toml:"key"`
	// TagLen is the EAX tag length, 4..16 (0: 8).
	TagLen int `toml:"tag_len"`
	// MaxMessageID is the largest MessageID before it wraps (0: 255).
	MaxMessageID uint8 `toml:"max_message_id"`
	// Profile names the device profile decoding its payloads ("": raw).
	Profile string `toml:"profile"`
}

// Duration is a time.Duration written as "10s" in the file.
type Duration struct{ time.Duration }

// UnmarshalText parses a Go duration string.
func (d *Duration) UnmarshalText(b []byte) error {
	v, err := time.ParseDuration(string(b))
	if err != nil {
		return err
	}
	if v < 0 {
		return errors.New("negative duration")
	}
	d.Duration = v
	return nil
}

// MarshalText renders the duration.
func (d Duration) MarshalText() ([]byte, error) { return []byte(d.String()), nil }

// ErrConfig is returned (wrapped) for every invalid configuration.
var ErrConfig = errors.New("gateway: invalid configuration")

// ParseConfig reads and validates a configuration; errors name the bad key
// and value.
func ParseConfig(r io.Reader) (Config, error) {
	var c Config
	md, err := toml.NewDecoder(r).Decode(&c)
	if err != nil {
		return c, fmt.Errorf("%w: %w", ErrConfig, err)
	}
	if und := md.Undecoded(); len(und) > 0 {
		keys := make([]string, len(und))
		for i, k := range und {
			keys[i] = k.String()
		}
		return c, fmt.Errorf("%w: unknown key %s", ErrConfig, strings.Join(keys, ", "))
	}
	if !md.IsDefined("osp", "udp", "listen") {
		c.OSP.UDP.Listen = "127.0.0.1:4700"
	}
	if !md.IsDefined("admin", "socket") {
		c.Admin.Socket = "gatewayd.sock"
	}
	if c.OSP.FirmwareChunkSize == 0 {
		c.OSP.FirmwareChunkSize = 128
	}
	if c.Store.MaxAge.Duration == 0 {
		c.Store.MaxAge.Duration = 720 * time.Hour
	}
	if c.Runtime.GCPercent == 0 {
		c.Runtime.GCPercent = 400
	}
	if !md.IsDefined("runtime", "memory_limit_mb") {
		c.Runtime.MemoryLimitMB = 48
	}
	return c, c.Validate()
}

// Validate checks every value.
func (c *Config) Validate() error {
	bad := func(key string, val any, why string) error {
		return fmt.Errorf("%w: %s = %v: %s", ErrConfig, key, val, why)
	}
	if h := c.Admin.HTTP; h != "" {
		if _, _, err := net.SplitHostPort(h); err != nil {
			return bad("admin.http", fmt.Sprintf("%q", h), err.Error())
		}
	}
	if n := c.Gateway.Name; !validGatewayName(n) {
		return bad("gateway.name", fmt.Sprintf("%q", n), "must be at most 63 bytes on one line")
	}
	if l := c.OSP.UDP.Listen; l != "" {
		if _, _, err := net.SplitHostPort(l); err != nil {
			return bad("osp.udp.listen", fmt.Sprintf("%q", l), err.Error())
		}
	}
	for i, sc := range c.OSP.Serial {
		if _, err := sc.driver(); err != nil {
			return fmt.Errorf("%w: osp.serial[%d]: %w", ErrConfig, i, err)
		}
	}
	if d := c.OSP.DTLS; d.Listen != "" {
		if _, _, err := net.SplitHostPort(d.Listen); err != nil {
			return bad("osp.dtls.listen", fmt.Sprintf("%q", d.Listen), err.Error())
		}
		if !d.PSK && !d.Certificate {
			return bad("osp.dtls.listen", fmt.Sprintf("%q", d.Listen), "set psk = true or certificate = true (or both)")
		}
	}
	if c.OSP.LoRa.Enabled {
		if _, err := c.OSP.LoRa.driver(); err != nil {
			return fmt.Errorf("%w: osp.lora: %w", ErrConfig, err)
		}
	}
	if err := c.Steward.Validate(); err != nil {
		return err
	}
	if err := c.OCO.validate(); err != nil {
		return err
	}
	if err := c.JOSP.validate(); err != nil {
		return err
	}
	if err := c.Upstream.validate(); err != nil {
		return err
	}
	if err := c.Board.Validate(); err != nil {
		return fmt.Errorf("%w: %w", ErrConfig, err)
	}
	if m := c.OSP.UDP.MTU; m != 0 && (m < 64 || m > 16383) {
		return bad("osp.udp.mtu", m, "must be 64..16383")
	}
	if n := c.OSP.FirmwareChunkSize; n < 0 || n > 16000 {
		return bad("osp.firmware_chunk_size", n, "must be 1..16000")
	}
	if p := c.Runtime.GCPercent; p < 50 || p > 10000 {
		return bad("runtime.gc_percent", p, "must be 50..10000")
	}
	if m := c.Runtime.MemoryLimitMB; m < 0 || m > 1<<20 {
		return bad("runtime.memory_limit_mb", m, "must be 0..1048576")
	}
	if c.Store.MaxSizeMB < 0 {
		return bad("store.max_size_mb", c.Store.MaxSizeMB, "must not be negative")
	}
	switch c.Log.Level {
	case "", "debug", "info", "warn", "error":
	default:
		return bad("log.level", fmt.Sprintf("%q", c.Log.Level), "must be debug, info, warn or error")
	}
	switch c.Log.Format {
	case "", "text", "json":
	default:
		return bad("log.format", fmt.Sprintf("%q", c.Log.Format), "must be text or json")
	}
	seen := map[[2]uint32]bool{}
	for i, d := range c.Devices {
		key := func(k string) string { return fmt.Sprintf("device[%d].%s", i, k) }
		if d.Type == 0 {
			return bad(key("type"), d.Type, "DeviceType 0 is invalid")
		}
		id := [2]uint32{uint32(d.Type), d.Module}
		if seen[id] {
			return bad(key("module"), d.Module, fmt.Sprintf("device %d:%d listed twice", d.Type, d.Module))
		}
		seen[id] = true
		if d.Secure {
			if k, err := hex.DecodeString(d.Key); err != nil || len(k) != 16 {
				return bad(key("key"), "(hidden)", "must be 32 hex digits (AES-128)")
			}
		} else if d.Key != "" {
			return bad(key("key"), "(hidden)", "only secure devices have a key")
		}
		if d.TagLen != 0 && (d.TagLen < 4 || d.TagLen > 16) {
			return bad(key("tag_len"), d.TagLen, "must be 4..16")
		}
	}
	return nil
}
