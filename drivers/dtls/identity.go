package dtls

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/edgegate/edgegate/gateway/osp"
)

// maxIdentityLen bounds the PSK identities looked at: "65535:4294967295" is
// 16 bytes; anything much longer is not a device id.
const maxIdentityLen = 32

// ParseIdentity parses a PSK identity: an OSP device id "DeviceType:ModuleID"
// in canonical decimal (no sign, no leading zeros, DeviceType ≤ 65535,
// ModuleID ≤ 4294967295), the form osp.DeviceID.String produces. Only the
// canonical form is accepted, so one device has exactly one identity string.
func ParseIdentity(s string) (osp.DeviceID, error) {
	if len(s) > maxIdentityLen {
		return osp.DeviceID{}, fmt.Errorf("%w: %d bytes", ErrIdentity, len(s))
	}
	ts, ms, ok := strings.Cut(s, ":")
	if !ok {
		return osp.DeviceID{}, fmt.Errorf("%w: %q: want DeviceType:ModuleID", ErrIdentity, s)
	}
	t, err1 := strconv.ParseUint(ts, 10, 16)
	m, err2 := strconv.ParseUint(ms, 10, 32)
	if err1 != nil || err2 != nil {
		return osp.DeviceID{}, fmt.Errorf("%w: %q: want decimal DeviceType (0..65535) and ModuleID (0..4294967295)", ErrIdentity, s)
	}
	id := osp.DeviceID{Type: uint16(t), Module: uint32(m)}
	if id.String() != s {
		return osp.DeviceID{}, fmt.Errorf("%w: %q: not canonical, want %q", ErrIdentity, s, id.String())
	}
	return id, nil
}
