package dtls

import (
	"errors"
	"testing"

	"github.com/edgegate/edgegate/gateway/osp"
)

func TestParseIdentity(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want osp.DeviceID
		ok   bool
	}{
		{"1:4242", osp.DeviceID{Type: 1, Module: 4242}, true},
		{"0:0", osp.DeviceID{}, true},
		{"65535:4294967295", osp.DeviceID{Type: 65535, Module: 4294967295}, true},
		{"65536:1", osp.DeviceID{}, false},
		{"1:4294967296", osp.DeviceID{}, false},
		{"01:4242", osp.DeviceID{}, false},
		{"1:04242", osp.DeviceID{}, false},
		{"+1:4242", osp.DeviceID{}, false},
		{"-1:4242", osp.DeviceID{}, false},
		{"1:4242:1", osp.DeviceID{}, false},
		{"1 :4242", osp.DeviceID{}, false},
		{"0x1:4242", osp.DeviceID{}, false},
		{"1_0:4242", osp.DeviceID{}, false},
		{"14242", osp.DeviceID{}, false},
		{":", osp.DeviceID{}, false},
		{"", osp.DeviceID{}, false},
		{"1:" + string(make([]byte, 40)), osp.DeviceID{}, false},
	} {
		got, err := ParseIdentity(tc.in)
		if tc.ok != (err == nil) || got != tc.want {
			t.Errorf("ParseIdentity(%q) = %v, %v", tc.in, got, err)
		}
		if err != nil && !errors.Is(err, ErrIdentity) {
			t.Errorf("ParseIdentity(%q): %v is not ErrIdentity", tc.in, err)
		}
	}
}

// FuzzParseIdentity checks that an accepted identity is exactly the
// canonical form of the device it names.
func FuzzParseIdentity(f *testing.F) {
	for _, s := range []string{"1:4242", "0:0", "65535:4294967295", "01:1", "1:", "a:b"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		id, err := ParseIdentity(s)
		if err != nil {
			if !errors.Is(err, ErrIdentity) {
				t.Fatalf("%q: %v", s, err)
			}
			return
		}
		if id.String() != s {
			t.Fatalf("%q parsed as %v", s, id)
		}
	})
}
