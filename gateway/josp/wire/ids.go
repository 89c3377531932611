package wire

import (
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/edgegate/edgegate/gateway/randtext"
)

// Identifiers of the protocol.
const (
	// AnonymousID is the user id of nobody: the owner of an object that has
	// none, and the user of a service nobody is logged in to.
	AnonymousID = "00000-00000-00000"
	// ServiceType is the DNS-SD service type JOSP objects are advertised
	// under.
	ServiceType = "_josp2._tcp"
	// ProtoVersion starts every JOSP message.
	ProtoVersion = "JOSP/2.0"
)

var (
	objIDRE     = regexp.MustCompile(`^[a-zA-Z0-9]{5}-[a-zA-Z0-9]{5}-[a-zA-Z0-9]{5}$`)
	fullSrvIDRE = regexp.MustCompile(`^[a-zA-Z0-9_-]+/[a-zA-Z0-9_-]+/[a-zA-Z0-9]+$`)
	idPartRE    = regexp.MustCompile(`^[a-zA-Z0-9_-]+$`)
)

// IsObjID reports whether s has the objId format XXXXX-XXXXX-XXXXX
// (letters and digits).
func IsObjID(s string) bool { return objIDRE.MatchString(s) }

// IsFullSrvID reports whether s has the fullSrvId format
// srvId/usrId/instId.
func IsFullSrvID(s string) bool { return fullSrvIDRE.MatchString(s) }

// IsIDPart reports whether s may be a service or user id: letters, digits,
// '-' and '_'.
func IsIDPart(s string) bool { return idPartRE.MatchString(s) }

// FullSrvID is a service instance's identity: service id, user id and
// instance id.
type FullSrvID struct {
	SrvID, UsrID, InstID string
}

// ParseFullSrvID splits "srvId/usrId/instId".
func ParseFullSrvID(s string) (FullSrvID, error) {
	if !IsFullSrvID(s) {
		return FullSrvID{}, fmt.Errorf("%w: fullSrvId %q is not srvId/usrId/instId", ErrMalformed, s)
	}
	p := strings.Split(s, "/")
	return FullSrvID{SrvID: p[0], UsrID: p[1], InstID: p[2]}, nil
}

// String returns "srvId/usrId/instId".
func (f FullSrvID) String() string { return f.SrvID + "/" + f.UsrID + "/" + f.InstID }

const (
	upper       = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
	upperDigits = upper + "0123456789"
)

// NewObjIDHw returns a random hardware id: five upper-case letters, the
// first group of an objId.
func NewObjIDHw() string { return randtext.String(upper, 5) }

// NewObjID returns a random objId whose first group is hw (five letters,
// see NewObjIDHw): hw-XXXXX-XXXXX with upper-case letters and digits.
func NewObjID(hw string) string {
	return hw + "-" + randtext.String(upperDigits, 5) + "-" + randtext.String(upperDigits, 5)
}

// NewPermID returns a random permission id: 20 upper-case letters.
func NewPermID() string { return randtext.String(upper, 20) }

// timeLayout is yyyyMMdd-HHmmss; milliseconds follow without a separator.
const timeLayout = "20060102-150405"

// AppendTime appends t in local time as yyyyMMdd-HHmmssSSS, the format of
// message headers, permission rows, history and event rows.
func AppendTime(b []byte, t time.Time) []byte {
	t = t.Local()
	b = t.AppendFormat(b, timeLayout)
	ms := t.Nanosecond() / 1e6
	return append(b, byte('0'+ms/100), byte('0'+ms/10%10), byte('0'+ms%10))
}

// ParseTime reads yyyyMMdd-HHmmssSSS as local time.
func ParseTime(s string) (time.Time, error) {
	s = strings.TrimSpace(s)
	if len(s) != len(timeLayout)+3 {
		return time.Time{}, fmt.Errorf("%w: time %q is not yyyyMMdd-HHmmssSSS", ErrMalformed, s)
	}
	t, err := time.ParseInLocation(timeLayout, s[:len(timeLayout)], time.Local)
	if err != nil {
		return time.Time{}, fmt.Errorf("%w: time %q: %w", ErrMalformed, s, err)
	}
	ms := 0
	for _, c := range s[len(timeLayout):] {
		if c < '0' || c > '9' {
			return time.Time{}, fmt.Errorf("%w: time %q: milliseconds", ErrMalformed, s)
		}
		ms = ms*10 + int(c-'0')
	}
	return t.Add(time.Duration(ms) * time.Millisecond), nil
}

// Sanitize makes s safe as a name, a description or a one-line value in
// any message: the delimiter "##" becomes "#", '>' (the compPath
// separator) becomes '-', ';' (the row separator) becomes ',', line ends
// and other control characters become spaces, invalid UTF-8 is replaced,
// and surrounding spaces are trimmed (compPath lookups trim each name).
func Sanitize(s string) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	var b strings.Builder
	b.Grow(len(s))
	prevHash := false
	for _, r := range s {
		switch {
		case r == '#':
			if prevHash {
				continue
			}
			prevHash = true
			b.WriteRune(r)
			continue
		case r == '>':
			b.WriteByte('-')
		case r == ';':
			b.WriteByte(',')
		case r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) || r == '\u2028' || r == '\u2029':
			b.WriteByte(' ')
		default:
			b.WriteRune(r)
		}
		prevHash = false
	}
	return strings.TrimSpace(b.String())
}
