package ocs

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jonboulle/clockwork"

	"github.com/edgegate/edgegate/gateway/admin"
	"github.com/edgegate/edgegate/store"
)

// Owner is the part of the contract the puller reads the owner's wishes
// with and answers through (*Client).
type Owner interface {
	ServiceInfo(ctx context.Context, id string) ([]SviMessage, error)
	PutServiceInfo(ctx context.Context, id string, list []SviMessage) error
	DeleteServiceInfo(ctx context.Context, id string) error
	PreServiceInfo(ctx context.Context, id string) ([]ModuleMessage, error)
	Value(ctx context.Context, id, valueID string, start, end int) ([]byte, error)
	PostDeviceServiceInfo(ctx context.Context, id string, list []ModuleMessage) error
}

// Devices lists the gateway's OSP devices (*store.DB).
type Devices interface {
	ListDevices() ([]store.Device, error)
}

// CommandResult is a sensor's answer to a COMMAND.
type CommandResult struct {
	ID       uint8
	ExitCode uint8
	Response []byte
}

// Commander sends a COMMAND script to a device's live session and waits for
// its answer. It returns an error wrapping ErrDeviceOffline when the device
// has no live session, ErrDeviceBusy when it cannot take a command now;
// both leave the command for the next poll.
type Commander interface {
	Command(ctx context.Context, dev store.DeviceID, script []byte) (CommandResult, error)
}

// FirmwareCache is where fetched images are kept for the sensors' FIRMWARE
// requests (*store.DB).
type FirmwareCache interface {
	GetFirmware(name string) (store.Firmware, error)
	PutFirmware(name string, chunkSize int, data []byte) (store.Firmware, error)
}

// DeviceSettings are the per-device settings the owner's pre-serviceinfo
// can carry (module osp): nil fields are not set.
type DeviceSettings struct {
	// Name is the device's display name (msg "name").
	Name *string
	// Profile names the device profile that decodes its payloads (msg
	// "profile"); it must be one the gateway knows.
	Profile *string
}

// SettingsApplier applies a device's settings and reports what changed.
type SettingsApplier interface {
	ApplySettings(dev store.DeviceID, s DeviceSettings) (changed []string, err error)
}

// PullerOptions configures a Puller.
type PullerOptions struct {
	Owner     Owner
	Devices   Devices
	Binding   Binding
	Commander Commander
	Firmware  FirmwareCache
	// Settings applies pre-serviceinfo; nil ignores it.
	Settings SettingsApplier
	// KV is the puller's namespace (shared with the forwarder): command
	// outcomes not yet confirmed, firmware status posted.
	KV      *store.KV
	Gateway string
	// Interval between two polls of every device (default 30 s).
	Interval time.Duration
	// Timeout bounds one request (default 30 s); CommandTimeout one
	// command (default 2 min; the gateway's own command timeout is
	// usually shorter).
	Timeout, CommandTimeout time.Duration
	// ChunkSize is the FIRMWARE chunk size of fetched images (default
	// 128); FetchSize the bytes asked for per ranged GET values (default
	// 64 KiB); MaxFirmware the largest image fetched (default 16 MiB);
	// MaxScript the longest command script (default 4096).
	ChunkSize, FetchSize, MaxFirmware, MaxScript int
	// Attempts is how often a command that failed (timed out, say) is
	// tried before its failure is reported (default 3). A Commander's
	// ErrDeviceOffline and ErrDeviceBusy are not failures.
	Attempts int
	Clock    clockwork.Clock
	Log      *slog.Logger
}

// Puller carries out the owner's wishes: it polls each device's owner
// serviceinfo (GET msgs) and pre-serviceinfo (GET psi). Entries of module
// osp with msg command hold a COMMAND script in their value: it is sent to
// the sensor when its session is live, the answer posted back as device
// serviceinfo (msg command-result), and the entry removed from the list.
// Entries with msg firmware name an image (the valueId) that is fetched in
// ranged GET values requests, checked against valueLen, and cached in the
// store for the sensors' FIRMWARE requests; its status is posted once.
type Puller struct {
	o   PullerOptions
	log *slog.Logger

	mu       sync.Mutex
	busy     map[store.DeviceID]bool
	attempts map[string]int
	wg       sync.WaitGroup

	polls, pollErrors, commands, commandsFailed, firmware, firmwareBytes, psiApplied atomic.Uint64
}

// KV key prefixes of the puller.
const (
	prefixCommand  = "cmd/"
	prefixFirmware = "fw/"
)

// NewPuller returns a puller; Run starts it.
func NewPuller(o PullerOptions) (*Puller, error) {
	if o.Owner == nil || o.Devices == nil || o.Binding == nil || o.Commander == nil || o.Firmware == nil || o.KV == nil {
		return nil, fmt.Errorf("ocs: puller: %w: Owner, Devices, Binding, Commander, Firmware and KV are required", ErrInvalid)
	}
	if o.Interval <= 0 {
		o.Interval = 30 * time.Second
	}
	if o.Timeout <= 0 {
		o.Timeout = 30 * time.Second
	}
	if o.CommandTimeout <= 0 {
		o.CommandTimeout = 2 * time.Minute
	}
	if o.ChunkSize <= 0 {
		o.ChunkSize = 128
	}
	if o.FetchSize <= 0 {
		o.FetchSize = 64 << 10
	}
	if o.MaxFirmware <= 0 {
		o.MaxFirmware = 16 << 20
	}
	if o.MaxScript <= 0 {
		o.MaxScript = 4096
	}
	if o.Attempts <= 0 {
		o.Attempts = 3
	}
	if o.Clock == nil {
		o.Clock = clockwork.NewRealClock()
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	return &Puller{o: o, log: o.Log, busy: map[store.DeviceID]bool{}, attempts: map[string]int{}}, nil
}

// Run polls every device each interval until ctx ends, then waits for the
// commands in flight; it returns nil.
func (p *Puller) Run(ctx context.Context) error {
	defer p.wg.Wait()
	for {
		p.Poll(ctx)
		t := p.o.Clock.NewTimer(p.o.Interval)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-t.Chan():
		}
	}
}

// Poll looks at every device once; commands it finds run on their own
// goroutine (one per device), which Run waits for.
func (p *Puller) Poll(ctx context.Context) {
	devs, err := p.o.Devices.ListDevices()
	if err != nil {
		p.log.Error("ocs: list devices", "err", err)
		return
	}
	for _, d := range devs {
		if ctx.Err() != nil {
			return
		}
		p.pollDevice(ctx, d)
	}
}

func (p *Puller) request(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, p.o.Timeout)
}

func (p *Puller) pollDevice(ctx context.Context, d store.Device) {
	p.polls.Add(1)
	id := p.o.Binding.DeviceID(d.ID())
	if p.o.Settings != nil {
		rctx, cancel := p.request(ctx)
		psi, err := p.o.Owner.PreServiceInfo(rctx, id)
		cancel()
		switch {
		case err == nil:
			p.applyPSI(d, psi)
		case !IsNotFound(err):
			p.pollFailed(d, "psi", err)
		}
	}
	rctx, cancel := p.request(ctx)
	list, err := p.o.Owner.ServiceInfo(rctx, id)
	cancel()
	if err != nil {
		if !IsNotFound(err) {
			p.pollFailed(d, "msgs", err)
		}
		return
	}
	var cmds []SviMessage
	for _, m := range list {
		if m.Module != ModuleOSP {
			continue
		}
		switch m.Msg {
		case MsgCommand:
			cmds = append(cmds, m)
		case MsgFirmware:
			p.fetchFirmware(ctx, id, d, m)
		}
	}
	if len(cmds) == 0 {
		return
	}
	p.mu.Lock()
	if p.busy[d.ID()] {
		p.mu.Unlock()
		return
	}
	p.busy[d.ID()] = true
	p.mu.Unlock()
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		defer func() {
			p.mu.Lock()
			delete(p.busy, d.ID())
			p.mu.Unlock()
		}()
		p.runCommands(ctx, id, d.ID(), cmds)
	}()
}

func (p *Puller) pollFailed(d store.Device, what string, err error) {
	if errors.Is(err, context.Canceled) {
		return
	}
	p.pollErrors.Add(1)
	p.log.Warn("ocs: poll failed", "device", d.ID().String(), "what", what, "err", err)
}

// applyPSI applies the osp entries of a device's pre-serviceinfo.
func (p *Puller) applyPSI(d store.Device, psi []ModuleMessage) {
	var s DeviceSettings
	for _, m := range psi {
		if m.Module != ModuleOSP {
			continue
		}
		v := m.Value
		switch m.Msg {
		case PSIName:
			s.Name = &v
		case PSIProfile:
			s.Profile = &v
		}
	}
	if s.Name == nil && s.Profile == nil {
		return
	}
	changed, err := p.o.Settings.ApplySettings(d.ID(), s)
	if err != nil {
		p.log.Warn("ocs: pre-serviceinfo not applied", "device", d.ID().String(), "err", err)
		return
	}
	if len(changed) > 0 {
		p.psiApplied.Add(1)
		p.log.Info("ocs: pre-serviceinfo applied", "device", d.ID().String(), "changed", changed)
	}
}

// value fetches a whole value of known length in ranged requests and
// checks its length.
func (p *Puller) value(ctx context.Context, id, valueID string, n int) ([]byte, error) {
	out := make([]byte, 0, n)
	for len(out) < n {
		end := min(len(out)+p.o.FetchSize, n)
		rctx, cancel := p.request(ctx)
		b, err := p.o.Owner.Value(rctx, id, valueID, len(out), end)
		cancel()
		if err != nil {
			return nil, err
		}
		if len(b) != end-len(out) {
			return nil, fmt.Errorf("ocs: value %s: %w: %d bytes at offset %d, want %d (valueLen %d)",
				valueID, errShortValue, len(b), len(out), end-len(out), n)
		}
		out = append(out, b...)
	}
	return out, nil
}

// errShortValue: a value is shorter than its valueLen said.
var errShortValue = errors.New("value shorter than its valueLen")

// commandRecord is a command's outcome, kept until it is posted and its
// entry removed, so a restart never runs it again.
type commandRecord struct {
	Doc CommandResultDoc `json:"doc"`
}

func (p *Puller) runCommands(ctx context.Context, id string, dev store.DeviceID, cmds []SviMessage) {
	for _, m := range cmds {
		key := prefixCommand + id + "/" + m.ValueID
		var rec commandRecord
		b, err := p.o.KV.Get(key)
		switch {
		case err == nil:
			if err := json.Unmarshal(b, &rec); err != nil {
				p.log.Error("ocs: unreadable command record", "key", key, "err", err)
				return
			}
		case errors.Is(err, store.ErrNotFound):
			doc, ok := p.execute(ctx, id, dev, m, key)
			if !ok {
				return // offline, busy or to be tried again: keep the order
			}
			rec.Doc = doc
			b, _ := json.Marshal(rec)
			if err := p.o.KV.Put(key, b); err != nil {
				p.log.Error("ocs: command outcome not kept", "device", dev.String(), "err", err)
				return
			}
		default:
			p.log.Error("ocs: command record", "key", key, "err", err)
			return
		}
		v, err := encodeDoc(rec.Doc)
		if err != nil {
			return
		}
		rctx, cancel := p.request(ctx)
		err = p.o.Owner.PostDeviceServiceInfo(rctx, id, []ModuleMessage{{Module: ModuleOSP, Msg: MsgCommandResult, Value: v}})
		cancel()
		if err == nil {
			err = p.removeEntry(ctx, id, m)
		}
		if err != nil {
			p.log.Warn("ocs: command outcome not delivered; again at the next poll", "device", dev.String(), "value_id", m.ValueID, "err", err)
			return
		}
		if err := p.o.KV.Delete(key); err != nil {
			p.log.Warn("ocs: command record", "key", key, "err", err)
		}
		p.log.Info("ocs: command done", "device", dev.String(), "value_id", m.ValueID, "status", rec.Doc.Status, "exit_code", rec.Doc.ExitCode)
	}
}

// execute fetches a command's script and runs it; ok is false when the
// command stays for a later poll.
func (p *Puller) execute(ctx context.Context, id string, dev store.DeviceID, m SviMessage, key string) (doc CommandResultDoc, ok bool) {
	doc = CommandResultDoc{Gateway: p.o.Gateway, ValueID: m.ValueID}
	fail := func(err error) (CommandResultDoc, bool) {
		p.commandsFailed.Add(1)
		doc.Status, doc.Error, doc.Time = "failed", err.Error(), FormatTimestamp(p.o.Clock.Now())
		return doc, true
	}
	if m.ValueLen <= 0 || m.ValueLen > p.o.MaxScript {
		return fail(fmt.Errorf("script of %d bytes: must be 1..%d", m.ValueLen, p.o.MaxScript))
	}
	script, err := p.value(ctx, id, m.ValueID, m.ValueLen)
	switch {
	case IsNotFound(err):
		return fail(fmt.Errorf("the script value %q does not exist", m.ValueID))
	case errors.Is(err, errShortValue):
		return fail(err)
	case err != nil:
		p.log.Warn("ocs: command script not fetched", "device", dev.String(), "value_id", m.ValueID, "err", err)
		return doc, false
	}
	cctx, cancel := context.WithTimeout(ctx, p.o.CommandTimeout)
	res, err := p.o.Commander.Command(cctx, dev, script)
	cancel()
	switch {
	case errors.Is(err, ErrDeviceOffline), errors.Is(err, ErrDeviceBusy):
		p.log.Debug("ocs: command waits", "device", dev.String(), "value_id", m.ValueID, "err", err)
		return doc, false
	case ctx.Err() != nil:
		return doc, false
	case err != nil:
		p.mu.Lock()
		p.attempts[key]++
		n := p.attempts[key]
		if n >= p.o.Attempts {
			delete(p.attempts, key)
		}
		p.mu.Unlock()
		if n < p.o.Attempts {
			p.log.Warn("ocs: command failed; trying again", "device", dev.String(), "value_id", m.ValueID, "attempt", n, "err", err)
			return doc, false
		}
		return fail(err)
	}
	p.mu.Lock()
	delete(p.attempts, key)
	p.mu.Unlock()
	p.commands.Add(1)
	doc.Status, doc.CommandID, doc.ExitCode, doc.Response = "done", res.ID, res.ExitCode, res.Response
	doc.Time = FormatTimestamp(p.o.Clock.Now())
	return doc, true
}

// removeEntry deletes one entry from the owner's serviceinfo list. The
// contract has no per-entry delete: the list is read, the entry dropped
// and the rest written back (DELETE msgs when nothing is left).
func (p *Puller) removeEntry(ctx context.Context, id string, m SviMessage) error {
	rctx, cancel := p.request(ctx)
	defer cancel()
	list, err := p.o.Owner.ServiceInfo(rctx, id)
	if IsNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	rest := list[:0]
	for _, e := range list {
		if e.Module == m.Module && e.Msg == m.Msg && e.ValueID == m.ValueID {
			continue
		}
		rest = append(rest, e)
	}
	if len(rest) == len(list) {
		return nil
	}
	if len(rest) == 0 {
		return p.o.Owner.DeleteServiceInfo(rctx, id)
	}
	return p.o.Owner.PutServiceInfo(rctx, id, rest)
}

// fetchFirmware makes sure the image an entry names is cached, and posts
// its status once per device and outcome.
func (p *Puller) fetchFirmware(ctx context.Context, id string, d store.Device, m SviMessage) {
	name := m.ValueID
	doc := FirmwareStatusDoc{Gateway: p.o.Gateway, ValueID: name, Size: int64(m.ValueLen)}
	fw, err := p.o.Firmware.GetFirmware(name)
	if err != nil || fw.Size != int64(m.ValueLen) {
		fw, err = p.fetchImage(ctx, id, name, m.ValueLen)
		if err != nil && !errors.Is(err, errShortValue) && !errors.Is(err, store.ErrInvalid) && !errors.Is(err, errFirmwareSize) {
			if !errors.Is(err, context.Canceled) {
				p.log.Warn("ocs: firmware not fetched; again at the next poll", "device", d.ID().String(), "firmware", name, "err", err)
			}
			return
		}
	}
	if err != nil {
		doc.Status, doc.Error = "failed", err.Error()
	} else {
		doc.Status, doc.SHA256, doc.Chunks = "cached", fw.SHA256, fw.Chunks
	}
	key := prefixFirmware + id + "/" + name
	mark := doc.Status + " " + doc.SHA256 + " " + fmt.Sprint(doc.Size)
	if old, err := p.o.KV.Get(key); err == nil && string(old) == mark {
		return // posted already
	}
	doc.Time = FormatTimestamp(p.o.Clock.Now())
	v, err := encodeDoc(doc)
	if err != nil {
		return
	}
	rctx, cancel := p.request(ctx)
	err = p.o.Owner.PostDeviceServiceInfo(rctx, id, []ModuleMessage{{Module: ModuleOSP, Msg: MsgFirmwareStatus, Value: v}})
	cancel()
	if err != nil {
		p.log.Warn("ocs: firmware status not posted", "device", d.ID().String(), "firmware", name, "err", err)
		return
	}
	if err := p.o.KV.Put(key, []byte(mark)); err != nil {
		p.log.Warn("ocs: firmware status record", "key", key, "err", err)
	}
}

// errFirmwareSize: an image's valueLen is out of bounds.
var errFirmwareSize = errors.New("firmware size out of bounds")

// fetchImage fetches an image of n bytes and caches it; it returns the
// cached image.
func (p *Puller) fetchImage(ctx context.Context, id, name string, n int) (store.Firmware, error) {
	if n <= 0 || n > p.o.MaxFirmware {
		return store.Firmware{}, fmt.Errorf("ocs: firmware %s: %w: valueLen %d, must be 1..%d", name, errFirmwareSize, n, p.o.MaxFirmware)
	}
	data, err := p.value(ctx, id, name, n)
	if err != nil {
		if IsNotFound(err) {
			return store.Firmware{}, fmt.Errorf("%w: the value does not exist", errShortValue)
		}
		return store.Firmware{}, err
	}
	fw, err := p.o.Firmware.PutFirmware(name, p.o.ChunkSize, data)
	if err != nil {
		return store.Firmware{}, fmt.Errorf("ocs: firmware %s: %w", name, err)
	}
	p.firmware.Add(1)
	p.firmwareBytes.Add(uint64(len(data)))
	p.log.Info("ocs: firmware cached", "firmware", name, "size", fw.Size, "chunks", fw.Chunks, "sha256", fw.SHA256)
	return fw, nil
}

// PullerStats are the puller's counters, as the admin API shows them.
type PullerStats = admin.UpstreamPullerStats

// Stats returns the puller's counters.
func (p *Puller) Stats() PullerStats {
	return PullerStats{Polls: p.polls.Load(), PollErrors: p.pollErrors.Load(), Commands: p.commands.Load(),
		CommandsFailed: p.commandsFailed.Load(), Firmware: p.firmware.Load(), FirmwareBytes: p.firmwareBytes.Load(),
		PSIApplied: p.psiApplied.Load()}
}
