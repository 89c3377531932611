package wire

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
)

// appendRows appends each row followed by a line end: the body of the
// messages that carry rows (OBJ_PERMS_MSG, H_STATUS_MSG, H_EVENTS_MSG).
func appendRows[R interface{ AppendText([]byte) []byte }](b []byte, rows []R) []byte {
	for _, r := range rows {
		b = r.AppendText(b)
		b = append(b, '\n')
	}
	return b
}

// parseRows parses a message's row lines with parseRow; blank lines are
// skipped, a malformed row fails the message.
func parseRows[R any](lines []string, parseRow func(string) (R, error)) ([]R, error) {
	var out []R
	for _, line := range lines {
		if strings.TrimSpace(line) == "" {
			continue
		}
		r, err := parseRow(line)
		if err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, nil
}

// HistoryItem is one state history row: a pillar's update.
type HistoryItem struct {
	ID        int64
	CompPath  string
	CompType  string // the pillar's type, e.g. "RangeState"
	UpdatedAt time.Time
	Payload   string // as in UPD_MSG: new=..,old=..
}

// AppendText appends the row as
// id:..;compPath:..;compType:..;updatedAt:..;payload:..
func (h HistoryItem) AppendText(b []byte) []byte {
	b = append(b, "id:"...)
	b = strconv.AppendInt(b, h.ID, 10)
	b = append(b, ";compPath:"...)
	b = append(b, h.CompPath...)
	b = append(b, ";compType:"...)
	b = append(b, h.CompType...)
	b = append(b, ";updatedAt:"...)
	b = AppendTime(b, h.UpdatedAt)
	b = append(b, ";payload:"...)
	return append(b, h.Payload...)
}

// ParseHistoryItem reads a row written by AppendText (five fields split on
// ';').
func ParseHistoryItem(s string) (HistoryItem, error) {
	f := strings.Split(strings.TrimSpace(s), ";")
	if len(f) != 5 {
		return HistoryItem{}, fmt.Errorf("%w: history row has %d fields, want 5", ErrMalformed, len(f))
	}
	for i := range f {
		f[i] = value(f[i])
	}
	id, err := strconv.ParseInt(strings.TrimSpace(f[0]), 10, 64)
	if err != nil {
		return HistoryItem{}, fmt.Errorf("%w: history row id %q", ErrMalformed, f[0])
	}
	at, err := ParseTime(f[3])
	if err != nil {
		return HistoryItem{}, err
	}
	return HistoryItem{ID: id, CompPath: strings.TrimSpace(f[1]), CompType: strings.TrimSpace(f[2]), UpdatedAt: at, Payload: strings.TrimSpace(f[4])}, nil
}

// The event types of the reference's objects.
const (
	EventStart         = "JOD_START"
	EventStop          = "JOD_STOP"
	EventLocalStart    = "JOD_COMM_LOC_START"
	EventLocalStop     = "JOD_COMM_LOC_STOP"
	EventLocalConnect  = "JOD_COMM_LOC_CONN"
	EventLocalDisconn  = "JOD_COMM_LOC_DISC"
	EventPermsLoad     = "JOD_PERMS_LOAD"
	EventPermsAdd      = "JOD_PERMS_ADD"
	EventPermsUpdate   = "JOD_PERMS_UPD"
	EventPermsRemove   = "JOD_PERMS_REM"
	EventStructLoad    = "JOD_STRUCT_LOAD"
	EventStructUpdate  = "JOD_STRUCT_UPD"
	EventInfoUpdate    = "JOD_INFO_UPD"
	EventStatusUpdate  = "JOD_STATUS_UPD"
	EventActionRequest = "JOD_ACTION_REQ"
	EventActionExec    = "JOD_ACTION_EXEC"
)

// EventTypes lists every event type of the reference, in its order.
var EventTypes = []string{"JOD_START", "JOD_STOP", "JOD_COMM_JCP_CONN", "JOD_COMM_JCP_DISC", "JOD_COMM_JCP_OFFLINE",
	"JOD_COMM_CLOUD_CONN", "JOD_COMM_CLOUD_DISC", "JOD_COMM_LOC_START", "JOD_COMM_LOC_STOP", "JOD_COMM_LOC_CONN",
	"JOD_COMM_LOC_DISC", "JOD_PERMS_LOAD", "JOD_PERMS_MISSING", "JOD_PERMS_ADD", "JOD_PERMS_UPD", "JOD_PERMS_REM",
	"JOD_STRUCT_LOAD", "JOD_STRUCT_UPD", "JOD_INFO_UPD", "JOD_STATUS_UPD", "JOD_ACTION_REQ", "JOD_ACTION_EXEC"}

// IsEventType reports whether s is one of EventTypes.
func IsEventType(s string) bool { return slices.Contains(EventTypes, s) }

// AgentObj is the source type of the events an object emits.
const AgentObj = "Obj"

// Event is one events history row.
type Event struct {
	ID           int64
	Type         string // one of EventTypes
	SrcID        string
	SrcType      string // Obj, Srv, APIs, Gateways, FrontEnd, JSLWebBridge
	EmittedAt    time.Time
	Phase        string
	Payload      string
	ErrorPayload string // "null" when there is none
}

// AppendText appends the row as
// id:..;type:..;srcId:..;srcType:..;emittedAt:..;phase:..;payload:..;errorPayload:..
func (e Event) AppendText(b []byte) []byte {
	b = append(b, "id:"...)
	b = strconv.AppendInt(b, e.ID, 10)
	b = append(b, ";type:"...)
	b = append(b, e.Type...)
	b = append(b, ";srcId:"...)
	b = append(b, e.SrcID...)
	b = append(b, ";srcType:"...)
	b = append(b, e.SrcType...)
	b = append(b, ";emittedAt:"...)
	b = AppendTime(b, e.EmittedAt)
	b = append(b, ";phase:"...)
	b = append(b, e.Phase...)
	b = append(b, ";payload:"...)
	b = append(b, e.Payload...)
	b = append(b, ";errorPayload:"...)
	return append(b, e.ErrorPayload...)
}

// ParseEvent reads a row written by AppendText (eight fields split on ';').
func ParseEvent(s string) (Event, error) {
	f := strings.Split(strings.TrimSpace(s), ";")
	if len(f) != 8 {
		return Event{}, fmt.Errorf("%w: event row has %d fields, want 8", ErrMalformed, len(f))
	}
	for i := range f {
		f[i] = value(f[i])
	}
	id, err := strconv.ParseInt(strings.TrimSpace(f[0]), 10, 64)
	if err != nil {
		return Event{}, fmt.Errorf("%w: event row id %q", ErrMalformed, f[0])
	}
	at, err := ParseTime(f[4])
	if err != nil {
		return Event{}, err
	}
	return Event{ID: id, Type: strings.TrimSpace(f[1]), SrcID: strings.TrimSpace(f[2]), SrcType: strings.TrimSpace(f[3]),
		EmittedAt: at, Phase: f[5], Payload: f[6], ErrorPayload: f[7]}, nil
}

// The cmdType values of UPD_MSG and CMD_MSG.
const (
	CmdBoolean = "JOSPBoolean"
	CmdRange   = "JOSPRange"
)

// AppendBoolPayload appends "new=<v>,old=<old>".
func AppendBoolPayload(b []byte, v, old bool) []byte {
	b = append(b, "new="...)
	b = strconv.AppendBool(b, v)
	b = append(b, ",old="...)
	return strconv.AppendBool(b, old)
}

// AppendRangePayload appends "new=<v>,old=<old>" with six decimals.
func AppendRangePayload(b []byte, v, old float64) []byte {
	b = append(b, "new="...)
	b = AppendJavaFixed(b, v)
	b = append(b, ",old="...)
	return AppendJavaFixed(b, old)
}

// payloadItems splits "k=v,k=v" into a map; white space around keys and
// values is dropped (the reference appends a line end to the payload).
func payloadItems(s string) map[string]string {
	out := map[string]string{}
	for _, it := range strings.Split(strings.TrimSpace(s), ",") {
		k, v, ok := strings.Cut(it, "=")
		if !ok {
			continue
		}
		out[strings.TrimSpace(k)] = strings.TrimSpace(v)
	}
	return out
}

// ParseBoolPayload reads "new=<bool>,old=<bool>". new is required and must
// be true or false (case-insensitive); a missing or unreadable old is
// false, as it is informational.
func ParseBoolPayload(s string) (v, old bool, err error) {
	it := payloadItems(s)
	nv, ok := it["new"]
	if !ok {
		return false, false, fmt.Errorf("%w: boolean payload %q has no new=", ErrMalformed, s)
	}
	switch {
	case strings.EqualFold(nv, "true"):
		v = true
	case strings.EqualFold(nv, "false"):
	default:
		return false, false, fmt.Errorf("%w: boolean payload %q: new=%q", ErrMalformed, s, nv)
	}
	return v, strings.EqualFold(it["old"], "true"), nil
}

// ParseRangePayload reads "new=<number>,old=<number>". new is required; a
// missing or unreadable old is 0.
func ParseRangePayload(s string) (v, old float64, err error) {
	it := payloadItems(s)
	nv, ok := it["new"]
	if !ok {
		return 0, 0, fmt.Errorf("%w: range payload %q has no new=", ErrMalformed, s)
	}
	if v, ok = ParseJavaDouble(nv); !ok {
		return 0, 0, fmt.Errorf("%w: range payload %q: new=%q is not a number", ErrMalformed, s, nv)
	}
	old, _ = ParseJavaDouble(it["old"])
	return v, old, nil
}
