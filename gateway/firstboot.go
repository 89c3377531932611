package gateway

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/BurntSushi/toml"

	"github.com/edgegate/edgegate/gateway/atomicfile"
	"github.com/edgegate/edgegate/gateway/loopback"
	"github.com/edgegate/edgegate/gateway/ocs"
	"github.com/edgegate/edgegate/gateway/statuspage"
)

// An installer preparing an SD card writes edgegate.toml on its boot
// partition: the gateway's name, the upstream OCS, the OCO server, the
// LoRa region and HAT, and the status page's password. gatewayd imports it
// on its first start (-firstboot PATH):
//
//   - the settings go into firstboot.toml in the data directory, an
//     overlay applied at every start over the configuration file (the
//     packaged file is the same on every gateway, the installer's values
//     are this one's); edit or delete it to change them;
//   - the password is hashed (argon2id) into the store, never kept in clear;
//   - the file is replaced by PATH.imported, without the password, so it
//     is not imported again; when that fails (a read-only partition) the
//     overlay's record of the file's hash keeps it from being imported
//     twice.

// FirstBoot is the installer's first-boot file.
type FirstBoot struct {
	// Name is the gateway's name ([gateway] name).
	Name string `toml:"name"`
	// OCSURL is the upstream OCS's base URL ([upstream] url); OCSPin is
	// the SHA-256 fingerprint of its certificate ([upstream] server_pins),
	// needed with an https URL.
	OCSURL string `toml:"ocs_url"`
	OCSPin string `toml:"ocs_pin"`
	// OCOServer is the OCO management server's agent API URL
	// ([oco] url; it turns the agent on); OCOKey is the server's agent
	// registration key ([oco] registration_key), redacted in logs.
	OCOServer string `toml:"oco_server"`
	OCOKey    string `toml:"oco_registration_key"`
	// LoRaRegion turns the LoRa link on in that region ([osp.lora]
	// region); LoRaHAT names the radio's HAT ([board] lora_hat).
	LoRaRegion string `toml:"lora_region"`
	LoRaHAT    string `toml:"lora_hat"`
	// StatusPage is where the status page listens ([admin] http), e.g.
	// "0.0.0.0:80" to reach it from a phone on the LAN (needs Password).
	StatusPage string `toml:"status_page"`
	// Password is the status page's password, hashed on import.
	Password string `toml:"password"`
}

// String redacts the password.
func (f FirstBoot) String() string {
	pw := ""
	if f.Password != "" {
		pw = "[redacted]"
	}
	key := ""
	if f.OCOKey != "" {
		key = "[redacted]"
	}
	return fmt.Sprintf("{name:%q ocs_url:%q ocs_pin:%q oco_server:%q oco_registration_key:%s lora_region:%q lora_hat:%q status_page:%q password:%s}",
		f.Name, f.OCSURL, f.OCSPin, f.OCOServer, key, f.LoRaRegion, f.LoRaHAT, f.StatusPage, pw)
}

// LogValue redacts the password in logs.
func (f FirstBoot) LogValue() slog.Value { return slog.StringValue(f.String()) }

// firstBootKeys maps the first-boot file's keys to configuration keys.
// A service that adds its configuration section names its key here.
var firstBootKeys = []struct {
	field string
	key   []string
	value func(FirstBoot) any
}{
	{"name", []string{"gateway", "name"}, func(f FirstBoot) any { return f.Name }},
	{"ocs_url", []string{"upstream", "url"}, func(f FirstBoot) any { return f.OCSURL }},
	{"ocs_pin", []string{"upstream", "server_pins"}, func(f FirstBoot) any {
		if f.OCSPin == "" {
			return nil
		}
		return []string{f.OCSPin}
	}},
	{"oco_server", []string{"oco", "url"}, func(f FirstBoot) any { return f.OCOServer }},
	{"oco_server", []string{"oco", "enabled"}, func(f FirstBoot) any { return f.OCOServer != "" }},
	{"oco_registration_key", []string{"oco", "registration_key"}, func(f FirstBoot) any { return f.OCOKey }},
	{"lora_region", []string{"osp", "lora", "region"}, func(f FirstBoot) any { return f.LoRaRegion }},
	{"lora_region", []string{"osp", "lora", "enabled"}, func(f FirstBoot) any { return f.LoRaRegion != "" }},
	{"lora_hat", []string{"board", "lora_hat"}, func(f FirstBoot) any { return f.LoRaHAT }},
	{"status_page", []string{"admin", "http"}, func(f FirstBoot) any { return f.StatusPage }},
}

// Files of the first-boot import in the data directory.
const (
	FirstBootOverlay  = "firstboot.toml"
	firstBootPassword = "firstboot.password" // the hash, moved into the store by New
)

// ParseFirstBoot reads a first-boot file; errors name the bad key.
func ParseFirstBoot(b []byte) (FirstBoot, error) {
	var f FirstBoot
	md, err := toml.NewDecoder(bytes.NewReader(b)).Decode(&f)
	if err != nil {
		return f, fmt.Errorf("%w: first-boot file: %w", ErrConfig, err)
	}
	if und := md.Undecoded(); len(und) > 0 {
		keys := make([]string, len(und))
		for i, k := range und {
			keys[i] = k.String()
		}
		var known []string
		for _, fld := range reflect.VisibleFields(reflect.TypeFor[FirstBoot]()) {
			known = append(known, fld.Tag.Get("toml"))
		}
		return f, fmt.Errorf("%w: first-boot file: unknown key %s (known: %s)",
			ErrConfig, strings.Join(keys, ", "), strings.Join(known, ", "))
	}
	bad := func(key, why string) error { return fmt.Errorf("%w: first-boot file: %s: %s", ErrConfig, key, why) }
	if !validGatewayName(f.Name) {
		return f, bad("name", "at most 63 bytes on one line")
	}
	for _, u := range []struct{ key, val string }{{"ocs_url", f.OCSURL}, {"oco_server", f.OCOServer}} {
		if u.val == "" {
			continue
		}
		p, err := url.Parse(u.val)
		if err != nil || p.Host == "" || !slices.Contains([]string{"http", "https"}, p.Scheme) {
			return f, bad(u.key, fmt.Sprintf("%q is not an http(s) URL with a host", u.val))
		}
	}
	if strings.HasPrefix(f.OCSURL, "https:") && f.OCSPin == "" {
		return f, bad("ocs_url", "an https OCS needs ocs_pin, the SHA-256 fingerprint of its certificate")
	}
	if f.OCSPin != "" {
		if _, err := ocs.ParsePin(f.OCSPin); err != nil {
			return f, bad("ocs_pin", err.Error())
		}
	}
	if f.OCOKey != "" && f.OCOServer == "" {
		return f, bad("oco_registration_key", "given without oco_server")
	}
	if f.LoRaRegion != "" {
		if _, err := (LoRaConfig{Region: f.LoRaRegion}).driver(); err != nil {
			return f, bad("lora_region", err.Error())
		}
	}
	if f.StatusPage != "" {
		if _, _, err := net.SplitHostPort(f.StatusPage); err != nil {
			return f, bad("status_page", fmt.Sprintf("%q: want host:port, e.g. \"0.0.0.0:80\"", f.StatusPage))
		}
		if !loopback.Listen(f.StatusPage) && f.Password == "" {
			return f, bad("status_page", "a status page on the LAN needs a password (password = \"...\")")
		}
	}
	if f.Password != "" && len(f.Password) < statuspage.MinPasswordLen {
		return f, bad("password", fmt.Sprintf("at least %d characters", statuspage.MinPasswordLen))
	}
	return f, nil
}

var overlayHashRE = regexp.MustCompile(`(?m)^# sha256 ([0-9a-f]{64})$`)

// ImportFirstBoot imports the first-boot file at path into dataDir, once.
// It reports whether it imported anything now; a missing file is no
// error. A file that does not parse is left where it is and its error
// returned: the gateway starts without it.
func ImportFirstBoot(path, dataDir string, log *slog.Logger) (bool, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("gateway: first-boot file: %w", err)
	}
	sum := sha256.Sum256(b)
	hash := hex.EncodeToString(sum[:])
	overlay := filepath.Join(dataDir, FirstBootOverlay)
	if old, err := os.ReadFile(overlay); err == nil {
		if m := overlayHashRE.FindSubmatch(old); m != nil && string(m[1]) == hash {
			log.Warn("first-boot file already imported; delete it", "path", path)
			return false, nil
		}
	}
	f, err := ParseFirstBoot(b)
	if err != nil {
		return false, fmt.Errorf("%s: %w", path, err)
	}
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		return false, fmt.Errorf("gateway: data directory: %w", err)
	}
	if f.Password != "" {
		h, err := statuspage.HashPassword(f.Password)
		if err != nil {
			return false, fmt.Errorf("gateway: first-boot password: %w", err)
		}
		if err := atomicfile.WriteFile(filepath.Join(dataDir, firstBootPassword), []byte(h), 0o600); err != nil {
			return false, err
		}
	}
	tree := map[string]any{}
	for _, k := range firstBootKeys {
		v := k.value(f)
		if v == nil || v == "" || v == false {
			continue
		}
		m := tree
		for _, part := range k.key[:len(k.key)-1] {
			sub, ok := m[part].(map[string]any)
			if !ok {
				sub = map[string]any{}
				m[part] = sub
			}
			m = sub
		}
		m[k.key[len(k.key)-1]] = v
	}
	var buf bytes.Buffer
	fmt.Fprintf(&buf, "# Imported from the installer's first-boot file %s on %s.\n", path, time.Now().UTC().Format(time.RFC3339))
	fmt.Fprintf(&buf, "# The configuration file wins over these values; edit or delete this file to change them.\n")
	fmt.Fprintf(&buf, "# sha256 %s\n\n", hash)
	if err := toml.NewEncoder(&buf).Encode(tree); err != nil {
		return false, fmt.Errorf("gateway: first-boot overlay: %w", err)
	}
	if err := atomicfile.WriteFile(overlay, buf.Bytes(), 0o600); err != nil {
		return false, err
	}
	log.Info("first-boot file imported", "path", path, "settings", f)
	// Leave a copy without the password, so the installer sees it was read.
	var kept bytes.Buffer
	for line := range strings.Lines(string(b)) {
		if k, _, ok := strings.Cut(strings.TrimSpace(line), "="); ok && strings.TrimSpace(k) == "password" {
			kept.WriteString("# password = (imported; kept only as a hash in the gateway)\n")
			continue
		}
		kept.WriteString(line)
	}
	if err := os.WriteFile(path+".imported", kept.Bytes(), 0o600); err != nil {
		log.Warn("first-boot file imported but not marked (read-only?); it will not be imported again. "+
			"Delete it: it holds the password in clear", "path", path, "err", err)
		return true, nil
	}
	if err := os.Remove(path); err != nil {
		log.Warn("first-boot file imported but not removed; it will not be imported again. Delete it", "path", path, "err", err)
	}
	return true, nil
}

// WithFirstBoot returns the configuration text config with dataDir's
// first-boot overlay applied: the installer's values replace the
// configuration file's (the packaged file is the same on every gateway;
// the installer's values are this gateway's), each replacement logged.
// Overlay keys this build does not know (a service not built in) are left
// out with a warning. Without an overlay config comes back unchanged.
func WithFirstBoot(config []byte, dataDir string, log *slog.Logger) ([]byte, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	path := filepath.Join(dataDir, FirstBootOverlay)
	ob, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return config, nil
	}
	if err != nil {
		return nil, fmt.Errorf("gateway: first-boot overlay: %w", err)
	}
	var main, over map[string]any
	if _, err := toml.Decode(string(config), &main); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrConfig, err)
	}
	if _, err := toml.Decode(string(ob), &over); err != nil {
		return nil, fmt.Errorf("%w: %s: %w", ErrConfig, path, err)
	}
	if main == nil {
		main = map[string]any{}
	}
	applied := 0
	var walk func(keys []string, o, m map[string]any)
	walk = func(keys []string, o, m map[string]any) {
		for k, v := range o {
			p := append(slices.Clone(keys), k)
			name := strings.Join(p, ".")
			if sub, ok := v.(map[string]any); ok {
				msub, isTable := m[k].(map[string]any)
				if _, set := m[k]; set && !isTable {
					log.Warn("first-boot value not used: the configuration file has no table there", "key", name)
					continue
				}
				if !isTable {
					msub = map[string]any{}
				}
				walk(p, sub, msub)
				if len(msub) > 0 {
					m[k] = msub
				}
				continue
			}
			if !knownKey(p, v) {
				log.Warn("first-boot value not used: this build has no such configuration key", "key", name)
				continue
			}
			if old, set := m[k]; set && fmt.Sprint(old) != fmt.Sprint(v) {
				log.Info("configuration key set by the first-boot import", "key", name, "overlay", path)
			}
			m[k] = v
			applied++
		}
	}
	walk(nil, over, main)
	if applied == 0 {
		return config, nil
	}
	var buf bytes.Buffer
	if err := toml.NewEncoder(&buf).Encode(main); err != nil {
		return nil, fmt.Errorf("gateway: first-boot overlay: %w", err)
	}
	return buf.Bytes(), nil
}

// knownKey reports whether Config has the key path.
func knownKey(path []string, v any) bool {
	tree := map[string]any{path[len(path)-1]: v}
	for i := len(path) - 2; i >= 0; i-- {
		tree = map[string]any{path[i]: tree}
	}
	var buf bytes.Buffer
	if toml.NewEncoder(&buf).Encode(tree) != nil {
		return false
	}
	var c Config
	md, err := toml.Decode(buf.String(), &c)
	return err == nil && len(md.Undecoded()) == 0
}

// importFirstBootPassword moves a password hash left by ImportFirstBoot
// into the store. New calls it.
func (g *Gateway) importFirstBootPassword() error {
	p := filepath.Join(g.data, firstBootPassword)
	h, err := os.ReadFile(p)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("gateway: first-boot password: %w", err)
	}
	if !strings.HasPrefix(string(h), "$argon2id$") {
		return fmt.Errorf("gateway: %s is not an argon2id hash; delete it", p)
	}
	if err := g.db.KV(kvOps).Put(kvPassword, bytes.TrimSpace(h)); err != nil {
		return fmt.Errorf("gateway: first-boot password: %w", err)
	}
	g.log.Info("status page password set from the first-boot file")
	return os.Remove(p)
}

// CheckConfig checks what ParseConfig cannot see alone: the device
// profiles load and every configured device names a known one.
func CheckConfig(cfg Config) error {
	profiles, err := loadProfiles(cfg.Things.ProfileDir)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrConfig, err)
	}
	t := newDeviceTable(profiles)
	for i, d := range cfg.Devices {
		if _, err := t.lookupProfile(d.Profile); err != nil {
			return fmt.Errorf("%w: device[%d].profile: %w", ErrConfig, i, err)
		}
	}
	return nil
}
