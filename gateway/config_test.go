package gateway

import (
	"errors"
	"os"
	"strings"
	"testing"
	"time"
)

func TestParseConfigDefaults(t *testing.T) {
	c, err := ParseConfig(strings.NewReader(""))
	if err != nil {
		t.Fatal(err)
	}
	if c.OSP.UDP.Listen != "127.0.0.1:4700" || c.Store.MaxAge.Duration != 720*time.Hour {
		t.Errorf("defaults %+v", c)
	}
	c, err = ParseConfig(strings.NewReader("[osp.udp]\nlisten = \"\"\n[osp]\nping_interval = \"30s\"\n"))
	if err != nil || c.OSP.UDP.Listen != "" || c.OSP.PingInterval.Duration != 30*time.Second {
		t.Errorf("explicit values: %+v %v", c, err)
	}
}

func TestEmbeddedExampleConfigParses(t *testing.T) {
	f, err := os.Open("../cmd/gatewayd/gatewayd.toml")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := ParseConfig(f); err != nil {
		t.Fatal(err)
	}
}

func TestParseConfigErrorsNameKeyAndValue(t *testing.T) {
	const key = "000102030405060708090a0b0c0d0e0f"
	for _, tc := range []struct {
		name, toml string
		want       []string
	}{
		{"unknown key", "[osp]\nlisten = 1\n", []string{"osp.listen"}},
		{"bad listen", "[osp.udp]\nlisten = \"nope\"\n", []string{"osp.udp.listen", `"nope"`}},
		{"bad mtu", "[osp.udp]\nmtu = 20\n", []string{"osp.udp.mtu", "20"}},
		{"bad duration", "[osp]\ncommand_timeout = \"soon\"\n", []string{"command_timeout", "soon"}},
		{"bad level", "[log]\nlevel = \"loud\"\n", []string{"log.level", "loud"}},
		{"bad format", "[log]\nformat = \"xml\"\n", []string{"log.format", "xml"}},
		{"negative size", "[store]\nmax_size_mb = -1\n", []string{"store.max_size_mb", "-1"}},
		{"type 0", "[[device]]\ntype = 0\nmodule = 1\n", []string{"device[0].type", "0"}},
		{"duplicate", "[[device]]\ntype = 1\nmodule = 1\n[[device]]\ntype = 1\nmodule = 1\n", []string{"device[1].module", "1:1"}},
		{"short key", "[[device]]\ntype = 1\nmodule = 1\nsecure = true\nkey = \"0011\"\n", []string{"device[0].key", "hidden"}},
		{"key on plain device", "[[device]]\ntype = 1\nmodule = 1\nkey = \"" + key + "\"\n", []string{"device[0].key"}},
		{"tag length", "[[device]]\ntype = 1\nmodule = 1\nsecure = true\nkey = \"" + key + "\"\ntag_len = 3\n", []string{"device[0].tag_len", "3"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseConfig(strings.NewReader(tc.toml))
			if !errors.Is(err, ErrConfig) {
				t.Fatalf("err = %v", err)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("%q does not name %q", err, w)
				}
			}
			if strings.Contains(err.Error(), key) || strings.Contains(err.Error(), "0011") {
				t.Errorf("error shows the key: %v", err)
			}
		})
	}
}
