package gateway

import (
	"errors"
	"fmt"
	"os"
	"regexp"
	"strings"

	"github.com/edgegate/edgegate/store"
	"github.com/google/uuid"
)

// GatewayConfig names the gateway ([gateway]).
type GatewayConfig struct {
	// Name is shown on the status page, advertised by the steward and the
	// JOSP endpoint, and reported upstream. Default: the host name.
	Name string `toml:"name"`
}

// validGatewayName reports whether n can name the gateway: at most 63
// bytes (a DNS label's length, for the mDNS records), on one line.
func validGatewayName(n string) bool { return len(n) <= 63 && !strings.ContainsAny(n, "\x00\r\n") }

// Identity is who the gateway is: its name and a UUID generated at the first
// start and kept in the store, so it survives restarts and upgrades (and
// changes only with a new database).
type Identity struct {
	Name string `json:"name"`
	UUID string `json:"uuid"`
}

// settingUUID is the store setting holding the gateway's UUID.
const settingUUID = "gateway.uuid"

var uuidRE = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$`)

// loadIdentity reads the gateway's UUID from db, creating it on first use.
func loadIdentity(db *store.DB, name string) (Identity, error) {
	if name == "" {
		if h, err := os.Hostname(); err == nil && h != "" {
			name = h
		} else {
			name = "edgegate"
		}
	}
	v, err := db.Setting(settingUUID)
	switch {
	case err == nil:
		if !uuidRE.Match(v) {
			return Identity{}, fmt.Errorf("gateway: stored %s %q is not a UUID", settingUUID, v)
		}
		return Identity{Name: name, UUID: string(v)}, nil
	case errors.Is(err, store.ErrNotFound):
		u, err := uuid.NewRandom()
		if err != nil {
			return Identity{}, fmt.Errorf("gateway: uuid: %w", err)
		}
		if err := db.PutSetting(settingUUID, []byte(u.String())); err != nil {
			return Identity{}, fmt.Errorf("gateway: store the gateway's UUID: %w", err)
		}
		return Identity{Name: name, UUID: u.String()}, nil
	default:
		return Identity{}, fmt.Errorf("gateway: read the gateway's UUID: %w", err)
	}
}

// Identity returns the gateway's name and UUID.
func (g *Gateway) Identity() Identity { return g.id }
