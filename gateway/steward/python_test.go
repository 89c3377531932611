package steward

import (
	"bufio"
	"context"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/edgegate/edgegate/gateway/mdns"
	"github.com/edgegate/edgegate/gateway/mdns/mdnstest"
	"github.com/edgegate/edgegate/gateway/things"
)

// python3 returns Debian's interpreter (where python3-websockets and
// python3-zeroconf install), else the first python3 on PATH.
func python3() (string, bool) {
	if _, err := os.Stat("/usr/bin/python3"); err == nil {
		return "/usr/bin/python3", true
	}
	p, err := exec.LookPath("python3")
	return p, err == nil
}

// TestIndependentPythonClient runs testdata/native_client.py, a client
// written against the seed text with Debian's python3-websockets and
// python3-zeroconf: it discovers the steward over mDNS on loopback, pins
// the certificate by the TXT fingerprint and runs the draft flow.
func TestIndependentPythonClient(t *testing.T) {
	py, ok := python3()
	if !ok {
		t.Skip("python3 is not installed")
	}
	if out, err := exec.Command(py, "-c", "import websockets, zeroconf").CombinedOutput(); err != nil {
		t.Fatalf("python3-websockets and python3-zeroconf are needed (make steward-python-deps): %v\n%s", err, out)
	}
	mdnstest.LockInstance(t, "steward")
	adv, err := mdns.New(mdns.Options{Interfaces: []string{"lo"}})
	if err != nil {
		t.Skipf("no mDNS on loopback: %v", err)
	}
	defer adv.Close()
	r := newRig(t, func(o *Options) { o.Advertiser, o.ObserveDeclared = adv, true })
	r.win.Open(time.Minute)

	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, py, "testdata/native_client.py", r.st.opts.UUID)
	cmd.Stderr = &testWriter{t}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(out)
	var lines []string
	performed := make(chan error, 1)
	for sc.Scan() {
		line := sc.Text()
		t.Log("python:", line)
		lines = append(lines, line)
		if strings.HasPrefix(line, "REGISTERED ") {
			th := r.thing(ThingID("py-udn-1"))
			if !value(th, "noise").Equal(things.FloatValue(42)) || !value(th, "event.motion").Equal(things.IntValue(1)) {
				t.Errorf("hub thing after the python client's updates: %+v", th.Properties)
			}
			go func() {
				_, err := r.hub.Perform(ctx, ThingID("py-udn-1"), "speak", map[string]string{"parameter": "hello"})
				performed <- err
			}()
		}
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("python client: %v\n%s", err, strings.Join(lines, "\n"))
	}
	if err := <-performed; err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(lines, "\n"); !strings.Contains(got, "PINNED") || !strings.Contains(got, "PERFORMED hello") || !strings.Contains(got, "DONE") {
		t.Fatalf("python client output:\n%s", got)
	}
}

type testWriter struct{ t *testing.T }

func (w *testWriter) Write(b []byte) (int, error) {
	w.t.Log("python stderr:", strings.TrimSpace(string(b)))
	return len(b), nil
}
