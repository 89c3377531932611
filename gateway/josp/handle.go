package josp

import (
	"context"
	"encoding/base64"
	"math"
	"strconv"
	"time"

	"github.com/edgegate/edgegate/gateway/josp/wire"
	"github.com/edgegate/edgegate/gateway/things"
)

// The minimum level of each request, as the reference checks them.
var minLevel = map[wire.Type]wire.PermType{
	wire.TypeCommand:       wire.PermActions,
	wire.TypeSetName:       wire.PermCoOwner,
	wire.TypeSetOwner:      wire.PermCoOwner,
	wire.TypeAddPerm:       wire.PermCoOwner,
	wire.TypeUpdPerm:       wire.PermCoOwner,
	wire.TypeRemPerm:       wire.PermCoOwner,
	wire.TypeHistory:       wire.PermState,
	wire.TypeStatusHistory: wire.PermState,
	wire.TypeEvents:        wire.PermCoOwner,
}

// handle serves one message from a service. Nothing is ever answered with
// an error (the protocol has none): a malformed message, one for another
// object, one whose fullSrvId is not the connection's, or one the service
// lacks the level for is counted, logged and dropped.
func (o *object) handle(c *conn, frame []byte) {
	e := o.e
	m, err := wire.Parse(frame)
	if err != nil {
		e.c.malformed.Add(1)
		o.log.Debug("josp: malformed message", "service", c.full, "err", err,
			"base64", base64.StdEncoding.EncodeToString(frame[:min(len(frame), 512)]))
		return
	}
	sm, ok := m.(wire.ServiceMessage)
	if !ok {
		e.c.malformed.Add(1)
		o.log.Debug("josp: not a service message", "service", c.full, "type", string(m.Type()))
		return
	}
	if sm.Service() != c.full {
		e.c.identity.Add(1)
		o.log.Warn("josp: message claims another service; dropped", "service", c.full, "claimed", sm.Service(), "type", string(m.Type()))
		return
	}
	o.mu.Lock()
	objID, level := o.rec.ObjID, c.perm
	o.mu.Unlock()
	if sm.Object() != objID {
		e.c.wrongObject.Add(1)
		o.log.Debug("josp: message for another object", "service", c.full, "objId", sm.Object())
		return
	}
	if need := minLevel[m.Type()]; level < need {
		e.c.refused.Add(1)
		o.log.Info("josp: refused", "service", c.full, "type", string(m.Type()), "level", level.String(), "needs", need.String())
		return
	}
	switch m := m.(type) {
	case wire.Command:
		o.onCommand(c, m)
	case wire.SetName:
		o.onSetName(c, m)
	case wire.SetOwner:
		o.onSetOwner(c, m)
	case wire.AddPerm:
		if _, err := o.addPerm(c.full, m.SrvID, m.UsrID, m.Perm, m.Conn); err != nil {
			o.log.Warn("josp: permission not added", "err", err)
		}
	case wire.UpdPerm:
		if _, err := o.updPerm(c.full, m.PermID, m.SrvID, m.UsrID, m.Perm, m.Conn); err != nil {
			o.log.Info("josp: permission not updated", "service", c.full, "perm", m.PermID, "err", err)
		}
	case wire.RemPerm:
		if err := o.remPerm(c.full, m.PermID); err != nil {
			o.log.Info("josp: permission not removed", "service", c.full, "perm", m.PermID, "err", err)
		}
	case wire.HistoryRequest:
		e.c.historyReqs.Add(1)
		c.send(wire.AppendFrame(nil, o.history(m).Append(nil)))
	case wire.EventsRequest:
		e.c.eventsReqs.Add(1)
		c.send(wire.AppendFrame(nil, o.eventsResponse(m).Append(nil)))
	}
}

// onCommand checks a CMD_MSG against the pillar it names and queues it for
// the command worker.
func (o *object) onCommand(c *conn, m wire.Command) {
	o.mu.Lock()
	p := o.model.byPath[m.CompPath]
	o.mu.Unlock()
	if p == nil || !p.isAction() || p.cmdType() != m.CmdType {
		o.e.c.malformed.Add(1)
		o.log.Info("josp: command for no action pillar", "service", c.full, "compPath", m.CompPath, "cmdType", m.CmdType)
		return
	}
	var v float64
	if p.cmdType() == wire.CmdBoolean {
		b, _, err := wire.ParseBoolPayload(m.Payload)
		if err != nil {
			o.e.c.malformed.Add(1)
			return
		}
		if b {
			v = 1
		}
	} else {
		f, _, err := wire.ParseRangePayload(m.Payload)
		if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
			o.e.c.malformed.Add(1)
			return
		}
		v = f
	}
	o.event(wire.EventActionRequest, "Action requested", eventPayload("srvId", c.id.SrvID, "usrId", c.id.UsrID,
		"connType", wire.ConnOnlyLocal.String(), "component", m.CompPath, "command", m.CmdType))
	select {
	case o.cmds <- command{from: c.full, path: m.CompPath, value: v}:
	default:
		o.e.c.commandErrors.Add(1)
		o.log.Warn("josp: commands queue full; command dropped", "service", c.full, "compPath", m.CompPath)
	}
}

// commandTimeout bounds one action through the hub (an OSP COMMAND has the
// gateway's own, shorter, timeout).
const commandTimeout = 2 * time.Minute

// commandWorker performs the queued commands one at a time, in order.
func (o *object) commandWorker() {
	for {
		select {
		case <-o.ctx.Done():
			return
		case cmd := <-o.cmds:
			o.execute(cmd)
		}
	}
}

// execute performs a command through the hub: the thing's own protocol
// (an OSP COMMAND, a native thing's action). On success the pillar takes
// the commanded state and every service with State gets the UPD_MSG,
// which is the command's answer; a failure is only logged and recorded as
// an event.
func (o *object) execute(cmd command) {
	e := o.e
	e.c.commands.Add(1)
	o.mu.Lock()
	p := o.model.byPath[cmd.path]
	o.mu.Unlock()
	if p == nil {
		return
	}
	ctx, cancel := context.WithTimeout(o.ctx, commandTimeout)
	res, err := e.opts.Hub.Perform(ctx, o.thingID, p.action, p.actionArgs(cmd.value))
	cancel()
	o.mu.Lock()
	defer o.mu.Unlock()
	payload := eventPayload("srvId", cmd.from, "component", cmd.path, "action", p.action, "value", strconv.FormatFloat(cmd.value, 'f', -1, 64))
	if err != nil {
		e.c.commandErrors.Add(1)
		o.log.Info("josp: command failed", "service", cmd.from, "compPath", cmd.path, "err", err)
		ev := newEvent(wire.EventActionExec, o.rec.ObjID, "Action failed", payload, e.opts.Now())
		ev.ErrorPayload = eventPayload("error", err.Error())
		o.addEventLocked(ev)
		return
	}
	p = o.model.byPath[cmd.path]
	if p == nil || o.closed {
		return
	}
	oldB, oldV := p.bool, p.value
	p.value, p.bool = cmd.value, cmd.value != 0
	if o.rec.Actions == nil {
		o.rec.Actions = map[string]float64{}
	}
	o.rec.Actions[cmd.path] = cmd.value
	o.e.recs.saveAsync(o.thingID, &o.rec, func(err error) {
		if err != nil {
			o.log.Warn("josp: action state not saved", "err", err)
		}
	})
	o.broadcastLocked(o.updateFrameLocked(p, oldB, oldV, e.opts.Now()), wire.PermState)
	phase := "Action executed"
	if res.Status == things.StatusQueued {
		phase = "Action queued"
	}
	o.eventLocked(wire.EventActionExec, phase, payload)
}

// onSetName renames the object: OBJ_INF_MSG to every service, and the
// advertisement under the new instance name.
func (o *object) onSetName(c *conn, m wire.SetName) {
	name := wire.Sanitize(m.Name)
	if name == "" || len(name) > 128 {
		o.e.c.malformed.Add(1)
		return
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	o.rec.Name = name
	if o.saveLocked() != nil {
		return
	}
	o.broadcastLocked(o.infoFrameLocked(o.e.opts.Now()), wire.PermState)
	o.advertiseLocked()
	o.eventLocked(wire.EventInfoUpdate, "Name updated", eventPayload("srvId", c.full, "name", name))
}

// onSetOwner sets the owner as the reference does: a new objId (same
// first group), the permissions moved to it, every service disconnected
// (bye) and the object advertised again.
func (o *object) onSetOwner(c *conn, m wire.SetOwner) {
	o.mu.Lock()
	o.rec.OwnerID = m.OwnerID
	o.rec.ObjID = wire.NewObjID(o.rec.IDHw)
	for i := range o.rec.Perms {
		o.rec.Perms[i].ObjID = o.rec.ObjID
	}
	if o.saveLocked() != nil {
		o.mu.Unlock()
		return
	}
	o.eventLocked(wire.EventInfoUpdate, "Owner updated", eventPayload("srvId", c.full, "ownerId", m.OwnerID))
	conns := make([]*conn, 0, len(o.conns))
	for _, cc := range o.conns {
		conns = append(conns, cc)
	}
	if o.reg != nil {
		o.reg.Close()
		o.reg = nil
	}
	o.advertiseLocked()
	o.mu.Unlock()
	o.log.Info("josp: owner set; services disconnected", "owner", m.OwnerID, "objId", o.objID(), "by", c.full)
	for _, cc := range conns {
		cc.bye()
	}
}

// addPerm adds a permission row and re-syncs every service.
func (o *object) addPerm(by, srvID, usrID string, typ wire.PermType, conn wire.ConnType) (wire.Perm, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	p := wire.Perm{ID: wire.NewPermID(), ObjID: o.rec.ObjID, SrvID: srvID, UsrID: usrID, Type: typ, Conn: conn, Updated: o.e.opts.Now()}
	o.rec.Perms = append(o.rec.Perms, p)
	if err := o.saveLocked(); err != nil {
		o.rec.Perms = o.rec.Perms[:len(o.rec.Perms)-1]
		return wire.Perm{}, err
	}
	o.permChangedLocked(wire.EventPermsAdd, by, p)
	return p, nil
}

// updPerm replaces a permission row and re-syncs every service.
func (o *object) updPerm(by, permID, srvID, usrID string, typ wire.PermType, conn wire.ConnType) (wire.Perm, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	for i, p := range o.rec.Perms {
		if p.ID != permID {
			continue
		}
		old := p
		p.SrvID, p.UsrID, p.Type, p.Conn, p.Updated = srvID, usrID, typ, conn, o.e.opts.Now()
		o.rec.Perms[i] = p
		if err := o.saveLocked(); err != nil {
			o.rec.Perms[i] = old
			return wire.Perm{}, err
		}
		o.permChangedLocked(wire.EventPermsUpdate, by, p)
		return p, nil
	}
	return wire.Perm{}, ErrUnknownPerm
}

// remPerm removes a permission row and re-syncs every service.
func (o *object) remPerm(by, permID string) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	for i, p := range o.rec.Perms {
		if p.ID != permID {
			continue
		}
		perms := o.rec.Perms
		o.rec.Perms = append(append([]wire.Perm(nil), perms[:i]...), perms[i+1:]...)
		if err := o.saveLocked(); err != nil {
			o.rec.Perms = perms
			return err
		}
		o.permChangedLocked(wire.EventPermsRemove, by, p)
		return nil
	}
	return ErrUnknownPerm
}

func (o *object) permChangedLocked(typ, by string, p wire.Perm) {
	o.e.c.permChanges.Add(1)
	o.eventLocked(typ, "Permission "+map[string]string{wire.EventPermsAdd: "added", wire.EventPermsUpdate: "updated",
		wire.EventPermsRemove: "removed"}[typ], eventPayload("by", by, "id", p.ID, "srvId", p.SrvID, "usrId", p.UsrID,
		"type", p.Type.String(), "conn", p.Conn.String()))
	o.log.Info("josp: permission changed", "change", typ, "by", by, "perm", p.ID, "srvId", p.SrvID, "usrId", p.UsrID, "type", p.Type.String())
	o.syncLocked()
}
