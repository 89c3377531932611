package steward

import (
	"context"
	"testing"
	"time"

	"github.com/edgegate/edgegate/gateway/certs"
	"github.com/edgegate/edgegate/gateway/mdns"
	"github.com/edgegate/edgegate/gateway/mdns/mdnstest"
)

// browse returns the steward's _wss._tcp and _https._tcp entries whose
// TXT uuid is uuid.
func browse(t *testing.T, uuid string) map[string]mdns.Entry {
	t.Helper()
	out := map[string]mdns.Entry{}
	for _, typ := range []string{"_wss._tcp", "_https._tcp"} {
		ctx, cancel := context.WithTimeout(context.Background(), 700*time.Millisecond)
		list, err := mdns.Browse(ctx, typ, []string{"lo"})
		cancel()
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range list {
			if u, _ := e.TXT("uuid"); u == uuid && e.Instance == "steward" {
				out[typ] = e
			}
		}
	}
	return out
}

func TestAdvertisedUntilRunReturns(t *testing.T) {
	mdnstest.LockInstance(t, "steward")
	adv, err := mdns.New(mdns.Options{Interfaces: []string{"lo"}})
	if err != nil {
		t.Skipf("no mDNS on loopback: %v", err)
	}
	defer adv.Close()
	r := newRig(t, func(o *Options) { o.Advertiser, o.UUID = adv, "2f402f80-da50-11e1-9b23-00000000beef" })
	fp := certs.SHA256(r.cert.Certificate[0])
	var got map[string]mdns.Entry
	eventually(t, "both services advertised", func() bool { got = browse(t, r.st.opts.UUID); return len(got) == 2 })
	for typ, e := range got {
		name, _ := e.TXT("name")
		sha, _ := e.TXT("sha256")
		if name != "zephyr" || sha != fp || e.Port == 0 {
			t.Errorf("%s: %+v", typ, e)
		}
	}
	r.stop()
	if len(browse(t, r.st.opts.UUID)) != 0 {
		t.Error("still advertised after Run returned")
	}
}
