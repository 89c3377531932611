package gateway

import (
	"embed"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"slices"
	"strings"
	"sync"

	"github.com/edgegate/edgegate/gateway/osp"
	"github.com/edgegate/edgegate/gateway/things"
	"github.com/edgegate/edgegate/store"
	"github.com/google/uuid"
)

//go:embed profiles/*.toml
var builtinProfiles embed.FS

// loadProfiles returns the built-in profiles and those of dir (when not
// empty); a profile in dir replaces a built-in one of the same name.
func loadProfiles(dir string) (map[string]*things.Profile, error) {
	out := make(map[string]*things.Profile)
	files, _ := fs.Glob(builtinProfiles, "profiles/*.toml")
	for _, name := range files {
		f, err := builtinProfiles.Open(name)
		if err != nil {
			return nil, err
		}
		p, err := things.LoadProfile(f)
		f.Close()
		if err != nil {
			return nil, fmt.Errorf("built-in profile %s: %w", name, err)
		}
		out[p.Name()] = p
	}
	if dir != "" {
		more, err := things.LoadProfileDir(dir)
		if err != nil {
			return nil, fmt.Errorf("things.profile_dir: %w", err)
		}
		maps.Copy(out, more)
	}
	return out, nil
}

// deviceTable is the in-memory view of the registry the data path needs:
// each device's profile. It is kept in step with the store by the gateway's
// provisioning paths.
type deviceTable struct {
	profiles map[string]*things.Profile // immutable after start

	mu      sync.RWMutex
	entries map[store.DeviceID]deviceEntry
}

// deviceEntry is what the table holds of one device.
type deviceEntry struct {
	profile *things.Profile // nil: raw payloads
	thing   string          // the device's thing ID (things.OSPThingID)
}

func newDeviceTable(profiles map[string]*things.Profile) *deviceTable {
	return &deviceTable{profiles: profiles, entries: make(map[store.DeviceID]deviceEntry)}
}

// lookupProfile returns the named profile; "" is no profile.
func (t *deviceTable) lookupProfile(name string) (*things.Profile, error) {
	if name == "" {
		return nil, nil
	}
	p, ok := t.profiles[name]
	if !ok {
		return nil, fmt.Errorf("unknown profile %q (known: %s)", name, strings.Join(slices.Sorted(maps.Keys(t.profiles)), ", "))
	}
	return p, nil
}

func (t *deviceTable) set(id store.DeviceID, p *things.Profile) {
	e := deviceEntry{profile: p, thing: things.OSPThingID(id.Type, id.Module)}
	t.mu.Lock()
	t.entries[id] = e
	t.mu.Unlock()
}

func (t *deviceTable) remove(id store.DeviceID) {
	t.mu.Lock()
	delete(t.entries, id)
	t.mu.Unlock()
}

// get returns the device's profile and whether the device is known.
func (t *deviceTable) get(id store.DeviceID) (*things.Profile, bool) {
	e, ok := t.lookup(id)
	return e.profile, ok
}

// lookup returns the device's entry and whether the device is known.
func (t *deviceTable) lookup(id store.DeviceID) (deviceEntry, bool) {
	t.mu.RLock()
	e, ok := t.entries[id]
	t.mu.RUnlock()
	return e, ok
}

// provision upserts the devices named in the configuration, then loads the
// whole registry into the device table and the hub.
func (g *Gateway) provision() error {
	for i, d := range g.cfg.Devices {
		key, _ := hex.DecodeString(d.Key)
		dev := store.Device{Type: d.Type, Module: d.Module, Name: d.Name, Secure: d.Secure, Key: key,
			TagLen: d.TagLen, MaxMessageID: d.MaxMessageID, Profile: d.Profile}
		if _, err := g.devices.lookupProfile(d.Profile); err != nil {
			return fmt.Errorf("%w: device[%d].profile: %w", ErrConfig, i, err)
		}
		if old, err := g.db.GetDevice(d.Type, d.Module); err == nil {
			dev.Added, dev.OCSDeviceID = old.Added, old.OCSDeviceID
		}
		if dev.OCSDeviceID == "" {
			dev.OCSDeviceID = DefaultOCSDeviceID(dev.ID())
		}
		if err := g.db.PutDevice(dev); err != nil {
			return fmt.Errorf("gateway: provision %s: %w", dev.ID(), err)
		}
	}
	list, err := g.db.ListDevices()
	if err != nil {
		return fmt.Errorf("gateway: %w", err)
	}
	states, err := g.db.States()
	if err != nil {
		return fmt.Errorf("gateway: %w", err)
	}
	for _, d := range list {
		p, err := g.devices.lookupProfile(d.Profile)
		if err != nil {
			g.log.Warn("device profile missing; payloads kept raw", "device", d.ID().String(), "err", err)
		}
		t := things.OSPThing(d.Type, d.Module, d.Name, p)
		if st, ok := states[t.ID]; ok {
			restoreState(&t, st.Value)
		}
		if _, err := g.hub.Upsert(t); err != nil {
			return fmt.Errorf("gateway: thing of %s: %w", d.ID(), err)
		}
		g.devices.set(d.ID(), p)
	}
	g.log.Info("devices loaded", "devices", len(list), "profiles", len(g.devices.profiles))
	return nil
}

// addThing registers (or re-describes) the thing of a provisioned device.
func (g *Gateway) addThing(d store.Device, p *things.Profile) error {
	if _, err := g.hub.Upsert(things.OSPThing(d.Type, d.Module, d.Name, p)); err != nil {
		return err
	}
	g.devices.set(d.ID(), p)
	return nil
}

// removeThing forgets a removed device's thing, its state and its history.
func (g *Gateway) removeThing(id store.DeviceID) {
	g.devices.remove(id)
	tid := things.OSPThingID(id.Type, id.Module)
	if err := g.hub.Remove(tid); err != nil && !errors.Is(err, things.ErrUnknownThing) {
		g.log.Warn("remove thing", "thing", tid, "err", err)
	}
	if err := g.proj.pers.deleteThing(tid); err != nil && !errors.Is(err, store.ErrNotFound) {
		g.log.Warn("delete thing state", "thing", tid, "err", err)
	}
}

// ocsNamespace is the UUID namespace of DefaultOCSDeviceID.
var ocsNamespace = uuid.UUID{0x6f, 0x3c, 0x2b, 0x1e, 0x8a, 0x41, 0x4d, 0x5b, 0x9e, 0x07, 0x52, 0xd1, 0xc4, 0x33, 0x0a, 0x9f}

// DefaultOCSDeviceID is a device's OCS deviceId when none was configured:
// the UUIDv5 (RFC 9562) of "osp:Type:Module" in edgegate's namespace, so
// every gateway derives the same id for the same device.
func DefaultOCSDeviceID(id store.DeviceID) string {
	return uuid.NewSHA1(ocsNamespace, []byte("osp:"+id.String())).String()
}

// ospDevice converts a store device id.
func ospDevice(id store.DeviceID) osp.DeviceID { return osp.DeviceID{Type: id.Type, Module: id.Module} }
