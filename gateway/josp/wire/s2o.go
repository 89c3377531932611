package wire

import (
	"fmt"
	"strings"
	"time"
)

// ServiceMessage is a message from a service: it names the service's
// identity and the target object.
type ServiceMessage interface {
	Message
	// Service returns the fullSrvId line.
	Service() string
	// Object returns the objId line.
	Object() string
}

// Command is CMD_MSG: a request to run an action pillar.
type Command struct {
	Time      time.Time
	FullSrvID string
	ObjID     string
	CompPath  string
	CmdType   string // JOSPBoolean or JOSPRange
	Payload   string // new=..,old=..
	// BareObjID writes the objId line without its key, as the older
	// helper does; parsers accept both.
	BareObjID bool
}

// Type returns TypeCommand.
func (Command) Type() Type { return TypeCommand }

// Service returns the fullSrvId.
func (m Command) Service() string { return m.FullSrvID }

// Object returns the objId.
func (m Command) Object() string { return m.ObjID }

// Append appends the message.
func (m Command) Append(b []byte) []byte {
	b = appendHeader(b, TypeCommand, m.Time)
	b = appendLine(b, "fullSrvId", m.FullSrvID)
	if m.BareObjID {
		b = append(b, '\n')
		b = append(b, m.ObjID...)
	} else {
		b = appendLine(b, "objId", m.ObjID)
	}
	b = appendLine(b, "compPath", m.CompPath)
	b = appendLine(b, "cmdType", m.CmdType)
	b = append(b, '\n')
	return append(b, m.Payload...)
}

// ParseCommand parses CMD_MSG, with or without the objId key.
func ParseCommand(frame []byte) (Command, error) {
	l, ts, err := parse(frame, TypeCommand, 6)
	if err != nil {
		return Command{}, err
	}
	m := Command{Time: ts, FullSrvID: l.field(1), ObjID: l.field(2), CompPath: l.field(3), CmdType: l.field(4),
		Payload: l.payload(5), BareObjID: !strings.Contains(l[2], ":")}
	return m, checkService(m.FullSrvID, m.ObjID)
}

func checkService(fullSrvID, objID string) error {
	if err := checkFullSrvID(fullSrvID); err != nil {
		return err
	}
	return checkObjID(objID)
}

// SetName is OBJ_SETNAME_MSG.
type SetName struct {
	Time      time.Time
	FullSrvID string
	ObjID     string
	Name      string
}

// Type returns TypeSetName.
func (SetName) Type() Type { return TypeSetName }

// Service returns the fullSrvId.
func (m SetName) Service() string { return m.FullSrvID }

// Object returns the objId.
func (m SetName) Object() string { return m.ObjID }

// Append appends the message.
func (m SetName) Append(b []byte) []byte {
	b = appendHeader(b, TypeSetName, m.Time)
	b = appendLine(b, "fullSrvId", m.FullSrvID)
	b = appendLine(b, "objId", m.ObjID)
	return appendLine(b, "objName", m.Name)
}

// ParseSetName parses OBJ_SETNAME_MSG.
func ParseSetName(frame []byte) (SetName, error) {
	l, ts, err := parse(frame, TypeSetName, 4)
	if err != nil {
		return SetName{}, err
	}
	m := SetName{Time: ts, FullSrvID: l.field(1), ObjID: l.field(2), Name: l.field(3)}
	return m, checkService(m.FullSrvID, m.ObjID)
}

// SetOwner is OBJ_SETOWNERID_MSG.
type SetOwner struct {
	Time      time.Time
	FullSrvID string
	ObjID     string
	OwnerID   string
}

// Type returns TypeSetOwner.
func (SetOwner) Type() Type { return TypeSetOwner }

// Service returns the fullSrvId.
func (m SetOwner) Service() string { return m.FullSrvID }

// Object returns the objId.
func (m SetOwner) Object() string { return m.ObjID }

// Append appends the message.
func (m SetOwner) Append(b []byte) []byte {
	b = appendHeader(b, TypeSetOwner, m.Time)
	b = appendLine(b, "fullSrvId", m.FullSrvID)
	b = appendLine(b, "objId", m.ObjID)
	return appendLine(b, "ownerId", m.OwnerID)
}

// ParseSetOwner parses OBJ_SETOWNERID_MSG; the owner id must be a user id
// (letters, digits, '-', '_').
func ParseSetOwner(frame []byte) (SetOwner, error) {
	l, ts, err := parse(frame, TypeSetOwner, 4)
	if err != nil {
		return SetOwner{}, err
	}
	m := SetOwner{Time: ts, FullSrvID: l.field(1), ObjID: l.field(2), OwnerID: l.field(3)}
	if !IsIDPart(m.OwnerID) {
		return SetOwner{}, fmt.Errorf("%w: ownerId %q", ErrMalformed, m.OwnerID)
	}
	return m, checkService(m.FullSrvID, m.ObjID)
}

// AddPerm is OBJ_ADDPERM_MSG.
type AddPerm struct {
	Time      time.Time
	FullSrvID string
	ObjID     string
	SrvID     string
	UsrID     string
	Perm      PermType
	Conn      ConnType
}

// Type returns TypeAddPerm.
func (AddPerm) Type() Type { return TypeAddPerm }

// Service returns the fullSrvId.
func (m AddPerm) Service() string { return m.FullSrvID }

// Object returns the objId.
func (m AddPerm) Object() string { return m.ObjID }

// Append appends the message.
func (m AddPerm) Append(b []byte) []byte {
	b = appendHeader(b, TypeAddPerm, m.Time)
	b = appendLine(b, "fullSrvId", m.FullSrvID)
	b = appendLine(b, "objId", m.ObjID)
	b = appendLine(b, "srvId", m.SrvID)
	b = appendLine(b, "usrId", m.UsrID)
	b = appendLine(b, "permType", m.Perm.String())
	return appendLine(b, "connType", m.Conn.String())
}

// ParseAddPerm parses OBJ_ADDPERM_MSG.
func ParseAddPerm(frame []byte) (AddPerm, error) {
	l, ts, err := parse(frame, TypeAddPerm, 7)
	if err != nil {
		return AddPerm{}, err
	}
	m := AddPerm{Time: ts, FullSrvID: l.field(1), ObjID: l.field(2), SrvID: l.field(3), UsrID: l.field(4)}
	if m.Perm, err = ParsePermType(l.field(5)); err != nil {
		return AddPerm{}, err
	}
	if m.Conn, err = ParseConnType(l.field(6)); err != nil {
		return AddPerm{}, err
	}
	if err := CheckPrincipal(m.SrvID, m.UsrID); err != nil {
		return AddPerm{}, err
	}
	return m, checkService(m.FullSrvID, m.ObjID)
}

// UpdPerm is OBJ_UPDPERM_MSG.
type UpdPerm struct {
	Time      time.Time
	FullSrvID string
	ObjID     string
	PermID    string
	SrvID     string
	UsrID     string
	Perm      PermType
	Conn      ConnType
}

// Type returns TypeUpdPerm.
func (UpdPerm) Type() Type { return TypeUpdPerm }

// Service returns the fullSrvId.
func (m UpdPerm) Service() string { return m.FullSrvID }

// Object returns the objId.
func (m UpdPerm) Object() string { return m.ObjID }

// Append appends the message.
func (m UpdPerm) Append(b []byte) []byte {
	b = appendHeader(b, TypeUpdPerm, m.Time)
	b = appendLine(b, "fullSrvId", m.FullSrvID)
	b = appendLine(b, "objId", m.ObjID)
	b = appendLine(b, "permId", m.PermID)
	b = appendLine(b, "srvId", m.SrvID)
	b = appendLine(b, "usrId", m.UsrID)
	b = appendLine(b, "permType", m.Perm.String())
	return appendLine(b, "connType", m.Conn.String())
}

// ParseUpdPerm parses OBJ_UPDPERM_MSG.
func ParseUpdPerm(frame []byte) (UpdPerm, error) {
	l, ts, err := parse(frame, TypeUpdPerm, 8)
	if err != nil {
		return UpdPerm{}, err
	}
	m := UpdPerm{Time: ts, FullSrvID: l.field(1), ObjID: l.field(2), PermID: l.field(3), SrvID: l.field(4), UsrID: l.field(5)}
	if m.Perm, err = ParsePermType(l.field(6)); err != nil {
		return UpdPerm{}, err
	}
	if m.Conn, err = ParseConnType(l.field(7)); err != nil {
		return UpdPerm{}, err
	}
	if err := CheckPrincipal(m.SrvID, m.UsrID); err != nil {
		return UpdPerm{}, err
	}
	if !IsIDPart(m.PermID) {
		return UpdPerm{}, fmt.Errorf("%w: permId %q", ErrMalformed, m.PermID)
	}
	return m, checkService(m.FullSrvID, m.ObjID)
}

// RemPerm is OBJ_REMPERM_MSG.
type RemPerm struct {
	Time      time.Time
	FullSrvID string
	ObjID     string
	PermID    string
}

// Type returns TypeRemPerm.
func (RemPerm) Type() Type { return TypeRemPerm }

// Service returns the fullSrvId.
func (m RemPerm) Service() string { return m.FullSrvID }

// Object returns the objId.
func (m RemPerm) Object() string { return m.ObjID }

// Append appends the message.
func (m RemPerm) Append(b []byte) []byte {
	b = appendHeader(b, TypeRemPerm, m.Time)
	b = appendLine(b, "fullSrvId", m.FullSrvID)
	b = appendLine(b, "objId", m.ObjID)
	return appendLine(b, "permId", m.PermID)
}

// ParseRemPerm parses OBJ_REMPERM_MSG.
func ParseRemPerm(frame []byte) (RemPerm, error) {
	l, ts, err := parse(frame, TypeRemPerm, 4)
	if err != nil {
		return RemPerm{}, err
	}
	m := RemPerm{Time: ts, FullSrvID: l.field(1), ObjID: l.field(2), PermID: l.field(3)}
	if !IsIDPart(m.PermID) {
		return RemPerm{}, fmt.Errorf("%w: permId %q", ErrMalformed, m.PermID)
	}
	return m, checkService(m.FullSrvID, m.ObjID)
}

// HistoryRequest is the state history request: H_HISTORY_MSG (2.2.4), or
// H_STATUS_MSG with a fullSrvId line (until 2.2.3).
type HistoryRequest struct {
	Time      time.Time
	FullSrvID string
	ObjID     string
	CompPath  string
	ReqID     string
	Limits    Limits
	// Legacy writes the header as H_STATUS_MSG.
	Legacy bool
}

// Type returns TypeHistory, or TypeStatusHistory for a legacy request.
func (m HistoryRequest) Type() Type {
	if m.Legacy {
		return TypeStatusHistory
	}
	return TypeHistory
}

// Service returns the fullSrvId.
func (m HistoryRequest) Service() string { return m.FullSrvID }

// Object returns the objId.
func (m HistoryRequest) Object() string { return m.ObjID }

// Append appends the message.
func (m HistoryRequest) Append(b []byte) []byte {
	b = appendHeader(b, m.Type(), m.Time)
	b = appendLine(b, "fullSrvId", m.FullSrvID)
	b = appendLine(b, "objId", m.ObjID)
	b = appendLine(b, "compPath", m.CompPath)
	b = appendLine(b, "reqId", m.ReqID)
	return appendLine(b, "limits", m.Limits.String())
}

// ParseHistoryRequest parses H_HISTORY_MSG, or the H_STATUS_MSG request
// form.
func ParseHistoryRequest(frame []byte) (HistoryRequest, error) {
	t, _, err := header(frame)
	if err != nil {
		return HistoryRequest{}, err
	}
	if t != TypeHistory && t != TypeStatusHistory {
		return HistoryRequest{}, fmt.Errorf("%w: %s, want %s", ErrUnknownType, t, TypeHistory)
	}
	l, ts, err := parse(frame, t, 6)
	if err != nil {
		return HistoryRequest{}, err
	}
	m := HistoryRequest{Time: ts, FullSrvID: l.field(1), ObjID: l.field(2), CompPath: l.field(3), ReqID: l.field(4),
		Legacy: t == TypeStatusHistory}
	if m.Limits, err = ParseLimits(l.field(5)); err != nil {
		return HistoryRequest{}, err
	}
	return m, checkService(m.FullSrvID, m.ObjID)
}

// EventsRequest is the H_EVENTS_MSG request (line 1 fullSrvId).
type EventsRequest struct {
	Time      time.Time
	FullSrvID string
	ObjID     string
	ReqID     string
	Limits    Limits
	// EvType filters on an event type; "" is every type.
	EvType string
}

// Type returns TypeEvents.
func (EventsRequest) Type() Type { return TypeEvents }

// Service returns the fullSrvId.
func (m EventsRequest) Service() string { return m.FullSrvID }

// Object returns the objId.
func (m EventsRequest) Object() string { return m.ObjID }

// Append appends the message.
func (m EventsRequest) Append(b []byte) []byte {
	b = appendHeader(b, TypeEvents, m.Time)
	b = appendLine(b, "fullSrvId", m.FullSrvID)
	b = appendLine(b, "objId", m.ObjID)
	b = appendLine(b, "reqId", m.ReqID)
	b = appendLine(b, "limits", m.Limits.String())
	return appendLine(b, "evType", m.EvType)
}

// ParseEventsRequest parses the H_EVENTS_MSG request; a missing evType line
// means every type.
func ParseEventsRequest(frame []byte) (EventsRequest, error) {
	l, ts, err := parse(frame, TypeEvents, 5)
	if err != nil {
		return EventsRequest{}, err
	}
	if !strings.EqualFold(l.key(1), "fullSrvId") {
		return EventsRequest{}, fmt.Errorf("%w: H_EVENTS_MSG without fullSrvId is a response", ErrMalformed)
	}
	m := EventsRequest{Time: ts, FullSrvID: l.field(1), ObjID: l.field(2), ReqID: l.field(3)}
	if m.Limits, err = ParseLimits(l.field(4)); err != nil {
		return EventsRequest{}, err
	}
	if len(l) > 5 {
		m.EvType = l.field(5)
	}
	if m.EvType != "" && !IsEventType(m.EvType) {
		return EventsRequest{}, fmt.Errorf("%w: evType %q", ErrMalformed, m.EvType)
	}
	return m, checkService(m.FullSrvID, m.ObjID)
}
