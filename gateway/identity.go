package gateway

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"regexp"

	"github.com/edgegate/edgegate/store"
)

// GatewayConfig names the gateway ([gateway]).
type GatewayConfig struct {
	// Name is shown on the status page, advertised by the steward and the
	// JOSP endpoint, and reported upstream. Default: the host name.
	Name string `toml:"name"`
}

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
		u, err := NewUUID()
		if err != nil {
			return Identity{}, err
		}
		if err := db.PutSetting(settingUUID, []byte(u)); err != nil {
			return Identity{}, fmt.Errorf("gateway: store the gateway's UUID: %w", err)
		}
		return Identity{Name: name, UUID: u}, nil
	default:
		return Identity{}, fmt.Errorf("gateway: read the gateway's UUID: %w", err)
	}
}

// NewUUID returns a random (version 4) UUID in its canonical form.
func NewUUID() (string, error) {
	var u [16]byte
	if _, err := rand.Read(u[:]); err != nil {
		return "", fmt.Errorf("gateway: uuid: %w", err)
	}
	u[6] = u[6]&0x0f | 0x40
	u[8] = u[8]&0x3f | 0x80
	return formatUUID(u), nil
}

func formatUUID(u [16]byte) string {
	x := hex.EncodeToString(u[:])
	return x[0:8] + "-" + x[8:12] + "-" + x[12:16] + "-" + x[16:20] + "-" + x[20:]
}

// Identity returns the gateway's name and UUID.
func (g *Gateway) Identity() Identity { return g.id }
