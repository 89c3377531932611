package wire

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// ObjectInfo is OBJ_INF_MSG: the object's identity and description.
type ObjectInfo struct {
	Time           time.Time
	ObjID          string
	Name           string
	JODVersion     string
	OwnerID        string
	Model          string
	Brand          string
	Descr          string
	CloudConnected bool
}

// Type returns TypeObjectInfo.
func (ObjectInfo) Type() Type { return TypeObjectInfo }

// Append appends the message.
func (m ObjectInfo) Append(b []byte) []byte {
	b = appendHeader(b, TypeObjectInfo, m.Time)
	b = appendLine(b, "objId", m.ObjID)
	b = appendLine(b, "objName", m.Name)
	b = appendLine(b, "jodVersion", m.JODVersion)
	b = appendLine(b, "ownerId", m.OwnerID)
	b = appendLine(b, "model", m.Model)
	b = appendLine(b, "brand", m.Brand)
	b = appendLine(b, "descr", m.Descr)
	return appendLine(b, "isCloudConnected", strconv.FormatBool(m.CloudConnected))
}

// ParseObjectInfo parses OBJ_INF_MSG.
func ParseObjectInfo(frame []byte) (ObjectInfo, error) {
	l, ts, err := parse(frame, TypeObjectInfo, 9)
	if err != nil {
		return ObjectInfo{}, err
	}
	m := ObjectInfo{Time: ts, ObjID: l.field(1), Name: l.field(2), JODVersion: l.field(3), OwnerID: l.field(4),
		Model: l.field(5), Brand: l.field(6), Descr: l.field(7), CloudConnected: strings.EqualFold(l.field(8), "true")}
	return m, checkObjID(m.ObjID)
}

// ObjectStructure is OBJ_STRUCT_MSG: the object's structure as JSON.
type ObjectStructure struct {
	Time  time.Time
	ObjID string
	// JSON is the structure, one line (see Structure.AppendJSON).
	JSON []byte
}

// Type returns TypeObjectStructure.
func (ObjectStructure) Type() Type { return TypeObjectStructure }

// Append appends the message.
func (m ObjectStructure) Append(b []byte) []byte {
	b = appendHeader(b, TypeObjectStructure, m.Time)
	b = appendLine(b, "objId", m.ObjID)
	b = append(b, '\n')
	return append(b, m.JSON...)
}

// Structure parses the message's JSON.
func (m ObjectStructure) Structure() (Structure, error) { return ParseStructure(m.JSON) }

// ParseObjectStructure parses OBJ_STRUCT_MSG. The JSON is kept as it came;
// Structure parses it.
func ParseObjectStructure(frame []byte) (ObjectStructure, error) {
	l, ts, err := parse(frame, TypeObjectStructure, 3)
	if err != nil {
		return ObjectStructure{}, err
	}
	m := ObjectStructure{Time: ts, ObjID: l.field(1), JSON: []byte(l.payload(2))}
	return m, checkObjID(m.ObjID)
}

// ObjectPerms is OBJ_PERMS_MSG: the object's permission rows.
type ObjectPerms struct {
	Time  time.Time
	ObjID string
	Perms []Perm
}

// Type returns TypeObjectPerms.
func (ObjectPerms) Type() Type { return TypeObjectPerms }

// Append appends the message: each row followed by a line end.
func (m ObjectPerms) Append(b []byte) []byte {
	b = appendHeader(b, TypeObjectPerms, m.Time)
	b = appendLine(b, "objId", m.ObjID)
	b = append(b, '\n')
	return appendRows(b, m.Perms)
}

// ParseObjectPerms parses OBJ_PERMS_MSG; an empty list is accepted.
func ParseObjectPerms(frame []byte) (ObjectPerms, error) {
	l, ts, err := parse(frame, TypeObjectPerms, 2)
	if err != nil {
		return ObjectPerms{}, err
	}
	m := ObjectPerms{Time: ts, ObjID: l.field(1)}
	if m.Perms, err = parseRows(l[2:], ParsePerm); err != nil {
		return ObjectPerms{}, err
	}
	return m, checkObjID(m.ObjID)
}

// ServicePerms is SRV_PERMS_MSG: the receiving service's own level.
type ServicePerms struct {
	Time  time.Time
	ObjID string
	Perm  PermType
	Conn  ConnType
}

// Type returns TypeServicePerms.
func (ServicePerms) Type() Type { return TypeServicePerms }

// Append appends the message.
func (m ServicePerms) Append(b []byte) []byte {
	b = appendHeader(b, TypeServicePerms, m.Time)
	b = appendLine(b, "objId", m.ObjID)
	b = appendLine(b, "permType", m.Perm.String())
	return appendLine(b, "connType", m.Conn.String())
}

// ParseServicePerms parses SRV_PERMS_MSG.
func ParseServicePerms(frame []byte) (ServicePerms, error) {
	l, ts, err := parse(frame, TypeServicePerms, 4)
	if err != nil {
		return ServicePerms{}, err
	}
	m := ServicePerms{Time: ts, ObjID: l.field(1)}
	if m.Perm, err = ParsePermType(l.field(2)); err != nil {
		return ServicePerms{}, err
	}
	if m.Conn, err = ParseConnType(l.field(3)); err != nil {
		return ServicePerms{}, err
	}
	return m, checkObjID(m.ObjID)
}

// Update is UPD_MSG: a pillar's new state.
type Update struct {
	Time     time.Time
	ObjID    string
	CompPath string
	CmdType  string // JOSPBoolean or JOSPRange
	Payload  string // new=..,old=..
	// LegacyKey writes the fourth line's key as "updType" (the older
	// helper's form) instead of "cmdType"; parsers ignore the key.
	LegacyKey bool
}

// Type returns TypeUpdate.
func (Update) Type() Type { return TypeUpdate }

// Append appends the message.
func (m Update) Append(b []byte) []byte {
	b = appendHeader(b, TypeUpdate, m.Time)
	b = appendLine(b, "objId", m.ObjID)
	b = appendLine(b, "compPath", m.CompPath)
	key := "cmdType"
	if m.LegacyKey {
		key = "updType"
	}
	b = appendLine(b, key, m.CmdType)
	b = append(b, '\n')
	return append(b, m.Payload...)
}

// ParseUpdate parses UPD_MSG with a cmdType: or updType: line.
func ParseUpdate(frame []byte) (Update, error) {
	l, ts, err := parse(frame, TypeUpdate, 5)
	if err != nil {
		return Update{}, err
	}
	m := Update{Time: ts, ObjID: l.field(1), CompPath: l.field(2), CmdType: l.field(3), Payload: l.payload(4),
		LegacyKey: strings.EqualFold(l.key(3), "updType")}
	return m, checkObjID(m.ObjID)
}

// ObjectDisconnect is OBJ_DISCONNECT_MSG (sent by cloud gateways only).
type ObjectDisconnect struct {
	Time  time.Time
	ObjID string
}

// Type returns TypeObjectDisconnect.
func (ObjectDisconnect) Type() Type { return TypeObjectDisconnect }

// Append appends the message.
func (m ObjectDisconnect) Append(b []byte) []byte {
	b = appendHeader(b, TypeObjectDisconnect, m.Time)
	return appendLine(b, "objId", m.ObjID)
}

// ParseObjectDisconnect parses OBJ_DISCONNECT_MSG.
func ParseObjectDisconnect(frame []byte) (ObjectDisconnect, error) {
	l, ts, err := parse(frame, TypeObjectDisconnect, 2)
	if err != nil {
		return ObjectDisconnect{}, err
	}
	m := ObjectDisconnect{Time: ts, ObjID: l.field(1)}
	return m, checkObjID(m.ObjID)
}

// StatusHistory is the H_STATUS_MSG response to a history request: a
// pillar's history rows.
type StatusHistory struct {
	Time     time.Time
	ObjID    string
	CompPath string
	ReqID    string
	Items    []HistoryItem
}

// Type returns TypeStatusHistory.
func (StatusHistory) Type() Type { return TypeStatusHistory }

// Append appends the message: each row followed by a line end.
func (m StatusHistory) Append(b []byte) []byte {
	b = appendHeader(b, TypeStatusHistory, m.Time)
	b = appendLine(b, "objId", m.ObjID)
	b = appendLine(b, "compPath", m.CompPath)
	b = appendLine(b, "reqId", m.ReqID)
	b = append(b, '\n')
	return appendRows(b, m.Items)
}

// ParseStatusHistory parses the H_STATUS_MSG response.
func ParseStatusHistory(frame []byte) (StatusHistory, error) {
	l, ts, err := parse(frame, TypeStatusHistory, 4)
	if err != nil {
		return StatusHistory{}, err
	}
	m := StatusHistory{Time: ts, ObjID: l.field(1), CompPath: l.field(2), ReqID: l.field(3)}
	if m.Items, err = parseRows(l[4:], ParseHistoryItem); err != nil {
		return StatusHistory{}, err
	}
	return m, checkObjID(m.ObjID)
}

// EventsResponse is the H_EVENTS_MSG response: the object's event rows.
type EventsResponse struct {
	Time   time.Time
	ObjID  string
	ReqID  string
	Events []Event
}

// Type returns TypeEvents.
func (EventsResponse) Type() Type { return TypeEvents }

// Append appends the message: each row followed by a line end.
func (m EventsResponse) Append(b []byte) []byte {
	b = appendHeader(b, TypeEvents, m.Time)
	b = appendLine(b, "objId", m.ObjID)
	b = appendLine(b, "reqId", m.ReqID)
	b = append(b, '\n')
	return appendRows(b, m.Events)
}

// ParseEventsResponse parses the H_EVENTS_MSG response (line 1 objId).
func ParseEventsResponse(frame []byte) (EventsResponse, error) {
	l, ts, err := parse(frame, TypeEvents, 3)
	if err != nil {
		return EventsResponse{}, err
	}
	if strings.EqualFold(l.key(1), "fullSrvId") {
		return EventsResponse{}, fmt.Errorf("%w: H_EVENTS_MSG with fullSrvId is a request", ErrMalformed)
	}
	m := EventsResponse{Time: ts, ObjID: l.field(1), ReqID: l.field(2)}
	if m.Events, err = parseRows(l[3:], ParseEvent); err != nil {
		return EventsResponse{}, err
	}
	return m, checkObjID(m.ObjID)
}
