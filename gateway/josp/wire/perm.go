package wire

import (
	"fmt"
	"strings"
	"time"
)

// PermType is an access level. The levels are ordered: None < State <
// Actions < CoOwner.
type PermType uint8

// The access levels.
const (
	// PermNone grants nothing.
	PermNone PermType = iota
	// PermState grants the object's info, structure and state updates and
	// the state history.
	PermState
	// PermActions also grants commands (CMD_MSG).
	PermActions
	// PermCoOwner also grants the permissions, the name and the owner, and
	// the events history.
	PermCoOwner
)

var permTypeNames = [...]string{"None", "State", "Actions", "CoOwner"}

// String returns the wire name: "None", "State", "Actions" or "CoOwner".
func (p PermType) String() string {
	if int(p) < len(permTypeNames) {
		return permTypeNames[p]
	}
	return fmt.Sprintf("PermType(%d)", p)
}

// Valid reports whether p is one of the four levels.
func (p PermType) Valid() bool { return p <= PermCoOwner }

// ParsePermType reads a level's name, case-insensitively; "Status", the
// name of State until 2.2.3, is accepted as State.
func ParsePermType(s string) (PermType, error) {
	s = strings.TrimSpace(s)
	if strings.EqualFold(s, "Status") {
		return PermState, nil
	}
	for i, n := range permTypeNames {
		if strings.EqualFold(s, n) {
			return PermType(i), nil
		}
	}
	return PermNone, fmt.Errorf("%w: permission type %q (want None, State, Actions or CoOwner)", ErrMalformed, s)
}

// MarshalText writes the wire name.
func (p PermType) MarshalText() ([]byte, error) { return []byte(p.String()), nil }

// UnmarshalText reads what ParsePermType reads.
func (p *PermType) UnmarshalText(b []byte) error {
	v, err := ParsePermType(string(b))
	*p = v
	return err
}

// ConnType says over which connections a permission applies.
type ConnType uint8

// The connection types. Direct connections count as OnlyLocal; rows of
// either type apply to them.
const (
	// ConnOnlyLocal applies to direct (local) connections only.
	ConnOnlyLocal ConnType = iota
	// ConnLocalAndCloud applies to direct and cloud connections.
	ConnLocalAndCloud
)

// String returns "OnlyLocal" or "LocalAndCloud".
func (c ConnType) String() string {
	switch c {
	case ConnOnlyLocal:
		return "OnlyLocal"
	case ConnLocalAndCloud:
		return "LocalAndCloud"
	}
	return fmt.Sprintf("ConnType(%d)", c)
}

// ParseConnType reads "OnlyLocal" or "LocalAndCloud", case-insensitively.
func ParseConnType(s string) (ConnType, error) {
	s = strings.TrimSpace(s)
	switch {
	case strings.EqualFold(s, "OnlyLocal"):
		return ConnOnlyLocal, nil
	case strings.EqualFold(s, "LocalAndCloud"):
		return ConnLocalAndCloud, nil
	}
	return ConnOnlyLocal, fmt.Errorf("%w: connection type %q (want OnlyLocal or LocalAndCloud)", ErrMalformed, s)
}

// MarshalText writes the wire name.
func (c ConnType) MarshalText() ([]byte, error) { return []byte(c.String()), nil }

// UnmarshalText reads what ParseConnType reads.
func (c *ConnType) UnmarshalText(b []byte) error {
	v, err := ParseConnType(string(b))
	*c = v
	return err
}

// The wildcards of permission rows.
const (
	// WildcardAll as srvId or usrId matches every service or user.
	WildcardAll = "#All"
	// WildcardOwner as usrId matches the object's owner.
	WildcardOwner = "#Owner"
)

// Perm is one permission row of an object.
type Perm struct {
	ID      string    `json:"id"`
	ObjID   string    `json:"objId"`
	SrvID   string    `json:"srvId"`
	UsrID   string    `json:"usrId"`
	Type    PermType  `json:"type"`
	Conn    ConnType  `json:"conn"`
	Updated time.Time `json:"updated"`
}

// AppendText appends the row as
// id:..;objId:..;srvId:..;usrId:..;type:..;conn:..;upd:yyyyMMdd-HHmmssSSS.
func (p Perm) AppendText(b []byte) []byte {
	b = append(b, "id:"...)
	b = append(b, p.ID...)
	b = append(b, ";objId:"...)
	b = append(b, p.ObjID...)
	b = append(b, ";srvId:"...)
	b = append(b, p.SrvID...)
	b = append(b, ";usrId:"...)
	b = append(b, p.UsrID...)
	b = append(b, ";type:"...)
	b = append(b, p.Type.String()...)
	b = append(b, ";conn:"...)
	b = append(b, p.Conn.String()...)
	b = append(b, ";upd:"...)
	return AppendTime(b, p.Updated)
}

// ParsePerm reads a row written by AppendText: seven fields split on ';',
// each value after its first ':'.
func ParsePerm(s string) (Perm, error) {
	f := strings.Split(strings.TrimSpace(s), ";")
	if len(f) != 7 {
		return Perm{}, fmt.Errorf("%w: permission row has %d fields, want 7", ErrMalformed, len(f))
	}
	for i := range f {
		f[i] = strings.TrimSpace(value(f[i]))
	}
	p := Perm{ID: f[0], ObjID: f[1], SrvID: f[2], UsrID: f[3]}
	var err error
	if p.Type, err = ParsePermType(f[4]); err != nil {
		return Perm{}, err
	}
	if p.Conn, err = ParseConnType(f[5]); err != nil {
		return Perm{}, err
	}
	if p.Updated, err = ParseTime(f[6]); err != nil {
		return Perm{}, err
	}
	if err := p.check(); err != nil {
		return Perm{}, err
	}
	return p, nil
}

// CheckPrincipal validates a row's srvId and usrId: an id (letters,
// digits, '-', '_') or a wildcard (#All for both, #Owner for the user).
func CheckPrincipal(srvID, usrID string) error {
	if srvID != WildcardAll && !IsIDPart(srvID) {
		return fmt.Errorf("%w: srvId %q (want an id or %s)", ErrMalformed, srvID, WildcardAll)
	}
	if usrID != WildcardAll && usrID != WildcardOwner && !IsIDPart(usrID) {
		return fmt.Errorf("%w: usrId %q (want an id, %s or %s)", ErrMalformed, usrID, WildcardAll, WildcardOwner)
	}
	return nil
}

func (p Perm) check() error {
	if p.ID == "" || strings.ContainsAny(p.ID, ";\n") {
		return fmt.Errorf("%w: permission id %q", ErrMalformed, p.ID)
	}
	if strings.ContainsAny(p.ObjID, ";\n") {
		return fmt.Errorf("%w: permission objId %q", ErrMalformed, p.ObjID)
	}
	return CheckPrincipal(p.SrvID, p.UsrID)
}

// Matches reports whether the row applies to the service srvID of user
// usrID on an object owned by ownerID, over a connection of type conn.
// #Owner never matches while the object has no owner (ownerID is
// AnonymousID), so an anonymous service is not taken for the owner of an
// object nobody owns.
func (p Perm) Matches(srvID, usrID, ownerID string, conn ConnType) bool {
	if conn == ConnLocalAndCloud && p.Conn == ConnOnlyLocal {
		return false
	}
	if p.SrvID != WildcardAll && p.SrvID != srvID {
		return false
	}
	switch p.UsrID {
	case WildcardAll:
		return true
	case WildcardOwner:
		return ownerID != AnonymousID && usrID == ownerID
	}
	return p.UsrID == usrID
}

// Evaluate returns the highest level the rows grant the service srvID of
// user usrID on an object owned by ownerID over conn, and whether any row
// applies at all.
func Evaluate(perms []Perm, srvID, usrID, ownerID string, conn ConnType) (PermType, bool) {
	best, any := PermNone, false
	for _, p := range perms {
		if p.Matches(srvID, usrID, ownerID, conn) {
			any = true
			best = max(best, p.Type)
		}
	}
	return best, any
}
