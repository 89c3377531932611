package wire

import (
	"bytes"
	"fmt"
	"slices"
	"strings"
	"time"
)

// Type is a JOSP message type, as its header names it.
type Type string

// The JOSP 2.0 message types of direct communication.
const (
	TypeObjectInfo       Type = "OBJ_INF_MSG"
	TypeObjectStructure  Type = "OBJ_STRUCT_MSG"
	TypeObjectPerms      Type = "OBJ_PERMS_MSG"
	TypeServicePerms     Type = "SRV_PERMS_MSG"
	TypeUpdate           Type = "UPD_MSG"
	TypeObjectDisconnect Type = "OBJ_DISCONNECT_MSG"
	TypeCommand          Type = "CMD_MSG"
	TypeSetName          Type = "OBJ_SETNAME_MSG"
	TypeSetOwner         Type = "OBJ_SETOWNERID_MSG"
	TypeAddPerm          Type = "OBJ_ADDPERM_MSG"
	TypeUpdPerm          Type = "OBJ_UPDPERM_MSG"
	TypeRemPerm          Type = "OBJ_REMPERM_MSG"
	// TypeHistory is the state history request (2.2.4).
	TypeHistory Type = "H_HISTORY_MSG"
	// TypeStatusHistory is the state history response, and the request's
	// header until 2.2.3.
	TypeStatusHistory Type = "H_STATUS_MSG"
	// TypeEvents is both the events request and its response.
	TypeEvents Type = "H_EVENTS_MSG"
)

var types = []Type{TypeObjectInfo, TypeObjectStructure, TypeObjectPerms, TypeServicePerms, TypeUpdate,
	TypeObjectDisconnect, TypeCommand, TypeSetName, TypeSetOwner, TypeAddPerm, TypeUpdPerm, TypeRemPerm,
	TypeHistory, TypeStatusHistory, TypeEvents}

// Message is any parsed JOSP message.
type Message interface {
	// Type returns the header's message type.
	Type() Type
	// Append appends the message (without the frame delimiter) to b.
	Append(b []byte) []byte
}

// lines is a message split as Java's String.split("\n") splits it:
// trailing empty lines are dropped.
type lines []string

func split(frame []byte) lines {
	l := strings.Split(string(frame), "\n")
	for len(l) > 0 && l[len(l)-1] == "" {
		l = l[:len(l)-1]
	}
	return l
}

// value returns what follows a line's first ':', or the whole line when it
// has none.
func value(line string) string {
	if i := strings.IndexByte(line, ':'); i >= 0 {
		return line[i+1:]
	}
	return line
}

// field returns line i's value with surrounding white space removed.
func (l lines) field(i int) string { return strings.TrimSpace(value(l[i])) }

// key returns line i's key (before the first ':'), "" when it has none.
func (l lines) key(i int) string {
	if k, _, ok := strings.Cut(l[i], ":"); ok {
		return strings.TrimSpace(k)
	}
	return ""
}

// payload returns lines from..end joined by '\n'.
func (l lines) payload(from int) string { return strings.Join(l[from:], "\n") }

// header parses line 0: "JOSP/2.0 TYPE TIMESTAMP".
func header(frame []byte) (Type, time.Time, error) {
	if !bytes.HasPrefix(frame, []byte(ProtoVersion+" ")) {
		return "", time.Time{}, ErrNotJOSP
	}
	line, _, _ := bytes.Cut(frame, []byte("\n"))
	f := strings.Fields(string(line[len(ProtoVersion):]))
	if len(f) == 0 {
		return "", time.Time{}, fmt.Errorf("%w: header without a type", ErrMalformed)
	}
	t := Type(f[0])
	if !slices.Contains(types, t) {
		return t, time.Time{}, fmt.Errorf("%w: %q", ErrUnknownType, f[0])
	}
	var ts time.Time
	if len(f) > 1 {
		ts, _ = ParseTime(f[1]) // nobody interprets it: a bad one is no error
	}
	return t, ts, nil
}

// parse checks the header's type and the line count and returns the
// lines and the header's time.
func parse(frame []byte, want Type, minLines int) (lines, time.Time, error) {
	t, ts, err := header(frame)
	if err != nil {
		return nil, ts, err
	}
	if t != want {
		return nil, ts, fmt.Errorf("%w: %s, want %s", ErrUnknownType, t, want)
	}
	l := split(frame)
	if len(l) < minLines {
		return nil, ts, fmt.Errorf("%w: %s has %d lines, want at least %d", ErrMalformed, t, len(l), minLines)
	}
	return l, ts, nil
}

// appendHeader appends "JOSP/2.0 TYPE TIMESTAMP".
func appendHeader(b []byte, t Type, ts time.Time) []byte {
	b = append(b, ProtoVersion...)
	b = append(b, ' ')
	b = append(b, t...)
	b = append(b, ' ')
	return AppendTime(b, ts)
}

// appendLine appends "\nkey:value".
func appendLine(b []byte, key, value string) []byte {
	b = append(b, '\n')
	b = append(b, key...)
	b = append(b, ':')
	return append(b, value...)
}

// Parse parses any JOSP message. H_EVENTS_MSG and H_STATUS_MSG are
// requests when line 1 is fullSrvId and responses otherwise.
func Parse(frame []byte) (Message, error) {
	t, _, err := header(frame)
	if err != nil {
		return nil, err
	}
	request := func() bool {
		l := split(frame)
		return len(l) > 1 && strings.EqualFold(l.key(1), "fullSrvId")
	}
	switch t {
	case TypeObjectInfo:
		return ParseObjectInfo(frame)
	case TypeObjectStructure:
		return ParseObjectStructure(frame)
	case TypeObjectPerms:
		return ParseObjectPerms(frame)
	case TypeServicePerms:
		return ParseServicePerms(frame)
	case TypeUpdate:
		return ParseUpdate(frame)
	case TypeObjectDisconnect:
		return ParseObjectDisconnect(frame)
	case TypeCommand:
		return ParseCommand(frame)
	case TypeSetName:
		return ParseSetName(frame)
	case TypeSetOwner:
		return ParseSetOwner(frame)
	case TypeAddPerm:
		return ParseAddPerm(frame)
	case TypeUpdPerm:
		return ParseUpdPerm(frame)
	case TypeRemPerm:
		return ParseRemPerm(frame)
	case TypeHistory:
		return ParseHistoryRequest(frame)
	case TypeStatusHistory:
		if request() {
			return ParseHistoryRequest(frame)
		}
		return ParseStatusHistory(frame)
	case TypeEvents:
		if request() {
			return ParseEventsRequest(frame)
		}
		return ParseEventsResponse(frame)
	}
	return nil, fmt.Errorf("%w: %q", ErrUnknownType, t)
}

// checkObjID validates an objId field.
func checkObjID(s string) error {
	if !IsObjID(s) {
		return fmt.Errorf("%w: objId %q", ErrMalformed, s)
	}
	return nil
}

// checkFullSrvID validates a fullSrvId field.
func checkFullSrvID(s string) error {
	if !IsFullSrvID(s) {
		return fmt.Errorf("%w: fullSrvId %q", ErrMalformed, s)
	}
	return nil
}
