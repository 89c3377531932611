package gateway

import (
	"cmp"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"

	"github.com/edgegate/edgegate/drivers/serial"
	"github.com/edgegate/edgegate/gateway/admin"
	"github.com/edgegate/edgegate/gateway/osp"
	"github.com/edgegate/edgegate/gateway/things"
	"github.com/edgegate/edgegate/store"
)

// backend serves the admin API from the gateway.
type backend struct{ g *Gateway }

var _ admin.Backend = backend{}

// apiError maps the errors of the store, the hub and the OSP server to the
// admin API's classes.
func apiError(err error) error {
	if err == nil {
		return nil
	}
	for _, m := range []struct{ from, to error }{
		{store.ErrNotFound, admin.ErrNotFound},
		{store.ErrInvalid, admin.ErrInvalid},
		{store.ErrFull, admin.ErrUnavailable},
		{store.ErrClosed, admin.ErrUnavailable},
		{things.ErrUnknownThing, admin.ErrNotFound},
		{osp.ErrNoSession, admin.ErrUnavailable},
		{osp.ErrSessionClosed, admin.ErrUnavailable},
		{osp.ErrPaused, admin.ErrUnavailable},
		{osp.ErrCommandPending, admin.ErrConflict},
		{osp.ErrCommandTimeout, admin.ErrTimeout},
		{context.DeadlineExceeded, admin.ErrTimeout},
	} {
		if errors.Is(err, m.from) {
			return fmt.Errorf("%w: %w", m.to, err)
		}
	}
	return err
}

func storeID(id admin.DeviceID) store.DeviceID {
	return store.DeviceID{Type: id.Type, Module: id.Module}
}

func (b backend) apiDevice(d store.Device, live map[store.DeviceID]bool) admin.Device {
	return admin.Device{
		ID: admin.DeviceID{Type: d.Type, Module: d.Module}, Name: d.Name, Secure: d.Secure,
		TagLen: d.TagLen, MaxMessageID: d.MaxMessageID, Profile: d.Profile, OCSDeviceID: d.OCSDeviceID,
		Added: d.Added, Connected: live[d.ID()],
	}
}

func (b backend) live() map[store.DeviceID]bool {
	out := make(map[store.DeviceID]bool)
	for _, s := range b.g.srv.Sessions() {
		if s.State == "open" || s.State == "paused" {
			out[store.DeviceID{Type: s.Device.Type, Module: s.Device.Module}] = true
		}
	}
	return out
}

func (b backend) Status(ctx context.Context) (admin.Status, error) {
	g := b.g
	count, first, last, oldest, err := g.db.JournalStats()
	if err != nil {
		return admin.Status{}, apiError(err)
	}
	devs, err := g.db.ListDevices()
	if err != nil {
		return admin.Status{}, apiError(err)
	}
	st := g.db.Stats()
	s := admin.Status{
		Name: g.id.Name, UUID: g.id.UUID, Version: g.cfg.Version, Started: g.started, Devices: len(devs), Sessions: len(g.srv.Sessions()),
		Journal: admin.JournalStatus{Count: count, FirstSeq: first, LastSeq: last, Oldest: oldest},
		Store: admin.StoreStatus{Appends: st.Appends, Commits: st.Commits, Fsyncs: st.Fsyncs,
			EvictedByAge: st.EvictedByAge, EvictedBySize: st.EvictedBySize, HistoryTrimmed: st.HistoryTrimmed, Queued: st.Queued},
		OSP: map[string]uint64{},
		Things: admin.ThingsStatus{Count: g.hub.Len(), Projected: g.proj.projected.Load(),
			Undecoded: g.proj.undecoded.Load()},
	}
	for i, v := range g.srv.Counters() {
		s.OSP[osp.Counter(i).String()] = v
	}
	s.Links = map[string]any{}
	for _, l := range g.serial {
		s.Links[l.Name()] = l.Stats()
	}
	if g.dtls != nil {
		s.Links["dtls"] = g.dtls.Stats()
	}
	if g.lora != nil {
		s.Links[g.lora.String()] = g.lora.Stats()
	}
	s.Board, s.Pairing = g.board.info.String(), g.PairingOpen()
	if g.steward != nil {
		s.Steward = g.steward.Stats()
	}
	if g.oco != nil {
		s.OCO = g.oco.Stats()
	}
	if g.josp != nil {
		s.JOSP = g.josp.Stats()
	}
	s.Upstream = g.upstreamStats()
	if g.udp != nil {
		us := g.udp.Stats()
		s.UDP = map[string]uint64{"received": us.Received, "sent": us.Sent, "rateLimited": us.RateLimited,
			"sendErrors": us.SendErrors, "peers": uint64(us.Peers)}
	}
	return s, nil
}

func (b backend) Devices(ctx context.Context) ([]admin.Device, error) {
	list, err := b.g.db.ListDevices()
	if err != nil {
		return nil, apiError(err)
	}
	live := b.live()
	out := make([]admin.Device, len(list))
	for i, d := range list {
		out[i] = b.apiDevice(d, live)
	}
	return out, nil
}

func (b backend) Device(ctx context.Context, id admin.DeviceID) (admin.Device, error) {
	d, err := b.g.db.GetDevice(id.Type, id.Module)
	if err != nil {
		return admin.Device{}, apiError(err)
	}
	return b.apiDevice(d, b.live()), nil
}

func (b backend) AddDevice(ctx context.Context, spec admin.DeviceSpec) (admin.Device, error) {
	g := b.g
	if spec.ID.Type == 0 {
		return admin.Device{}, fmt.Errorf("%w: DeviceType 0 is invalid", admin.ErrInvalid)
	}
	prof, err := g.devices.lookupProfile(spec.Profile)
	if err != nil {
		return admin.Device{}, fmt.Errorf("%w: %w", admin.ErrInvalid, err)
	}
	d := store.Device{Type: spec.ID.Type, Module: spec.ID.Module, Name: spec.Name, Secure: spec.Secure,
		TagLen: spec.TagLen, MaxMessageID: spec.MaxMessageID, Profile: spec.Profile, OCSDeviceID: spec.OCSDeviceID}
	generated := false
	switch {
	case spec.Key != "" && !spec.Secure:
		return admin.Device{}, fmt.Errorf("%w: only a secure device has a key", admin.ErrInvalid)
	case spec.Key != "":
		if d.Key, err = hex.DecodeString(spec.Key); err != nil || len(d.Key) != store.DeviceKeyLen {
			return admin.Device{}, fmt.Errorf("%w: key must be 32 hex digits (AES-128)", admin.ErrInvalid)
		}
	case spec.Secure:
		d.Key = make([]byte, store.DeviceKeyLen)
		_, _ = rand.Read(d.Key)
		generated = true
	}
	old, err := g.db.GetDevice(d.Type, d.Module)
	switch {
	case err == nil && !spec.Replace:
		return admin.Device{}, fmt.Errorf("%w: device %s exists (replace it with --replace)", admin.ErrConflict, d.ID())
	case err == nil:
		d.Added = old.Added
		if d.OCSDeviceID == "" {
			d.OCSDeviceID = old.OCSDeviceID
		}
	case !errors.Is(err, store.ErrNotFound):
		return admin.Device{}, apiError(err)
	}
	if d.OCSDeviceID == "" {
		d.OCSDeviceID = DefaultOCSDeviceID(d.ID())
	}
	if err := g.db.PutDevice(d); err != nil {
		return admin.Device{}, apiError(err)
	}
	if err := g.addThing(d, prof); err != nil {
		return admin.Device{}, err
	}
	if old.Secure != d.Secure || !slices.Equal(old.Key, d.Key) || old.TagLen != d.TagLen {
		// New security parameters: a live session keeps the old ones
		// until the sensor reconnects, so end it now.
		_ = g.srv.Terminate(ospDevice(d.ID()), osp.ErrClosed)
	}
	stored, err := g.db.GetDevice(d.Type, d.Module)
	if err != nil {
		return admin.Device{}, apiError(err)
	}
	out := b.apiDevice(stored, b.live())
	if generated {
		out.Key = hex.EncodeToString(d.Key)
	}
	return out, nil
}

func (b backend) RemoveDevice(ctx context.Context, id admin.DeviceID) error {
	g := b.g
	if err := g.db.DeleteDevice(id.Type, id.Module); err != nil {
		return apiError(err)
	}
	_ = g.srv.Terminate(ospDevice(storeID(id)), osp.ErrClosed)
	g.removeThing(storeID(id))
	return nil
}

func (b backend) Sessions(ctx context.Context) ([]admin.Session, error) {
	list := b.g.srv.Sessions()
	out := make([]admin.Session, 0, len(list))
	for _, s := range list {
		as := admin.Session{SID: s.SID, Device: admin.DeviceID{Type: s.Device.Type, Module: s.Device.Module},
			State: s.State, Secure: s.Secure, Opened: s.Opened, LastRecv: s.LastRecv, Commanded: s.Commanded}
		if p, ok := s.Peer.(fmt.Stringer); ok {
			as.Link = p.String()
		}
		out = append(out, as)
	}
	slices.SortFunc(out, func(a, b admin.Session) int {
		if a.Device.Type != b.Device.Type {
			return int(a.Device.Type) - int(b.Device.Type)
		}
		if a.Device.Module != b.Device.Module {
			if a.Device.Module < b.Device.Module {
				return -1
			}
			return 1
		}
		return int(a.SID) - int(b.SID)
	})
	return out, nil
}

func (b backend) Readings(ctx context.Context, q admin.ReadingQuery) ([]admin.Reading, error) {
	var rs []store.Reading
	var err error
	if q.Device != nil {
		rs, err = b.g.db.LastReadings(storeID(*q.Device), q.Last)
		if err == nil && len(rs) == 0 {
			// A removed device's readings stay in the journal; an unknown
			// device without readings is an error, not an empty list.
			if _, gerr := b.g.db.GetDevice(q.Device.Type, q.Device.Module); errors.Is(gerr, store.ErrNotFound) {
				return nil, fmt.Errorf("%w: device %s", admin.ErrNotFound, q.Device)
			}
		}
	} else {
		rs, err = b.g.db.Readings(q.From, q.Limit)
	}
	if err != nil {
		return nil, apiError(err)
	}
	out := make([]admin.Reading, len(rs))
	for i, r := range rs {
		out[i] = admin.Reading{
			Seq: r.Seq, Time: r.Time, Device: admin.DeviceID{Type: r.Device.Type, Module: r.Device.Module},
			SID: r.SID, MessageID: r.MessageID, DataType: r.DataType,
			AckReq: osp.Flags(r.Flags)&osp.FlagAckReq != 0, Cached: osp.Flags(r.Flags)&osp.FlagCached != 0,
			Authenticated: r.Authenticated, Link: r.Link, RSSI: r.RSSI, SNR: r.SNR, Payload: r.Payload,
		}
		if p, _ := b.g.devices.get(r.Device); p != nil {
			if vals, err := p.Decode(r.DataType, r.Payload); err == nil {
				out[i].Values = vals
			}
		}
	}
	return out, nil
}

func (b backend) Command(ctx context.Context, id admin.DeviceID, script []byte) (admin.CommandResult, error) {
	if _, err := b.g.db.GetDevice(id.Type, id.Module); err != nil {
		return admin.CommandResult{}, apiError(err)
	}
	r, err := b.g.command(ctx, storeID(id), script)
	res := admin.CommandResult{Device: id, ID: r.ID, ExitCode: r.ExitCode, Response: r.Response}
	if errors.Is(err, osp.ErrCommandBusy) {
		res.Busy = true
		return res, nil
	}
	if err != nil {
		return res, apiError(err)
	}
	return res, nil
}

func apiFirmware(f store.Firmware) admin.Firmware {
	return admin.Firmware{Name: f.Name, Size: f.Size, ChunkSize: f.ChunkSize, Chunks: f.Chunks, SHA256: f.SHA256, Added: f.Added}
}

func (b backend) Firmware(ctx context.Context) ([]admin.Firmware, error) {
	list, err := b.g.db.ListFirmware()
	if err != nil {
		return nil, apiError(err)
	}
	out := make([]admin.Firmware, len(list))
	for i, f := range list {
		out[i] = apiFirmware(f)
	}
	return out, nil
}

func (b backend) PutFirmware(ctx context.Context, name string, chunkSize int, data []byte) (admin.Firmware, error) {
	if chunkSize == 0 {
		chunkSize = cmp.Or(b.g.cfg.OSP.FirmwareChunkSize, 128)
	}
	f, err := b.g.db.PutFirmware(name, chunkSize, data)
	if err != nil {
		return admin.Firmware{}, apiError(err)
	}
	return apiFirmware(f), nil
}

func (b backend) DeleteFirmware(ctx context.Context, name string) error {
	return apiError(b.g.db.DeleteFirmware(name))
}

func (b backend) Things(ctx context.Context) ([]things.Thing, error) {
	return b.g.hub.List(), nil
}

func (b backend) Thing(ctx context.Context, id string) (things.Thing, error) {
	t, ok := b.g.hub.Get(id)
	if !ok {
		return things.Thing{}, fmt.Errorf("%w: thing %q", admin.ErrNotFound, id)
	}
	return t, nil
}

func (b backend) Ports(ctx context.Context) ([]admin.Port, error) {
	list, err := serial.List()
	if err != nil {
		return nil, err
	}
	used := make(map[string]string)
	for _, l := range b.g.serial {
		if st := l.Stats(); st.Path != "" {
			used[st.Path] = l.Name()
		}
	}
	out := make([]admin.Port, len(list))
	for i, p := range list {
		out[i] = admin.Port{Name: p.Name, USB: p.IsUSB, SerialNumber: p.SerialNumber,
			Manufacturer: p.Manufacturer, Product: p.Product, Link: used[p.Name]}
		if p.IsUSB {
			out[i].VID, out[i].PID = fmt.Sprintf("%04x", p.VID), fmt.Sprintf("%04x", p.PID)
		}
	}
	return out, nil
}
