package oco

import (
	"archive/zip"
	"bytes"
	"context"
	"crypto/rand"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"

	"github.com/edgegate/edgegate/store"
	"github.com/edgegate/edgegate/store/storetest"
)

// logBuffer collects an agent's log lines (JSON) for assertions.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

// rig is an agent against a test server, on a real bbolt file.
type rig struct {
	t     *testing.T
	srv   *ocoServer
	db    *storetest.DB
	work  string
	clock clockwork.FakeClock
	logs  *logBuffer
	opts  Options
	a     *Agent
}

const testHost = "greenhouse-gw"

// newRig starts a server of generation srvGen ("current", "legacy",
// "v013") and prepares an agent speaking agentGen against it.
func newRig(t *testing.T, srvGen string, agentGen Generation) *rig {
	t.Helper()
	r := &rig{t: t, srv: newOCOServer(t, srvGen), db: storetest.MustOpen(t, store.Options{}), work: t.TempDir(),
		clock: fakeClock(), logs: &logBuffer{}}
	r.opts = Options{
		URL: r.srv.url(), Generation: agentGen, Hostname: testHost, UID: "5b1e6a4e-0d4c-4c41-9d55-7f0e0f4e2a10",
		RegistrationKey: NewSecret(r.srv.regKey), Version: "0.9.0", Interval: time.Minute,
		KV: r.db.KV("oco"), WorkDir: r.work, Sources: fixtureSources(t), Clock: r.clock, Rand: func() float64 { return 0.5 },
		Jobs: JobOptions{ReportInterval: time.Hour, Timeout: 30 * time.Second},
	}
	if os.Geteuid() == 0 {
		r.opts.Jobs.RunAs = "nobody"
	}
	return r
}

func fakeClock() clockwork.FakeClock { return clockwork.NewFakeClockAt(time.Now()) }

// start creates the agent (again: a restart) on the rig's store.
func (r *rig) start() *Agent {
	r.t.Helper()
	r.opts.KV = r.db.KV("oco")
	r.opts.Logger = slog.New(slog.NewJSONHandler(r.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	a, err := New(r.opts)
	if err != nil {
		r.t.Fatal(err)
	}
	r.a = a
	return a
}

// poll runs one cycle; the fake clock moves a second first, as a real
// poll interval would.
func (r *rig) poll() error {
	r.t.Helper()
	r.clock.Advance(time.Second)
	return r.a.Poll(context.Background())
}

func (r *rig) mustPoll() {
	r.t.Helper()
	if err := r.poll(); err != nil {
		r.t.Fatalf("poll: %v\nlog:\n%s", err, r.logs.String())
	}
}

// noKeysInLogs fails if a key the server issued appears in the agent's
// log.
func (r *rig) noKeysInLogs() {
	r.t.Helper()
	logs := r.logs.String()
	secrets := []string{r.srv.regKey}
	r.srv.mu.Lock()
	for _, h := range r.srv.hosts {
		secrets = append(secrets, h.agentKey, h.serverKey)
	}
	r.srv.mu.Unlock()
	for _, s := range secrets {
		if s != "" && strings.Contains(logs, s) {
			r.t.Fatalf("a key appears in the log:\n%s", logs)
		}
	}
}

// fixtureSources reads a Raspberry Pi 4's files from testdata/machine
// (copied, with udev's /dev/disk links added) and answers its commands.
func fixtureSources(t testing.TB) Sources {
	t.Helper()
	root := filepath.Join(t.TempDir(), "machine")
	if err := os.CopyFS(root, os.DirFS("testdata/machine")); err != nil {
		t.Fatal(err)
	}
	for dir, links := range map[string]map[string]string{
		"dev/disk/by-label": {"bootfs": "mmcblk0p1", "rootfs": "mmcblk0p2", `USB\x20STICK`: "sda1"},
		"dev/disk/by-uuid":  {"4EF5-6F55": "mmcblk0p1", "ce208fd3-38a8-424a-87a2-cd44114eb820": "mmcblk0p2"},
	} {
		if err := os.MkdirAll(filepath.Join(root, dir), 0o755); err != nil {
			t.Fatal(err)
		}
		for name, target := range links {
			if err := os.Symlink("../../"+target, filepath.Join(root, dir, name)); err != nil {
				t.Fatal(err)
			}
		}
	}
	mac, _ := net.ParseMAC("dc:a6:32:01:02:03")
	_, n4, _ := net.ParseCIDR("192.168.1.0/24")
	n4.IP = net.ParseIP("192.168.1.50").To4()
	_, n6, _ := net.ParseCIDR("2001:db8:1::/64")
	n6.IP = net.ParseIP("2001:db8:1::50")
	return Sources{
		Root: root,
		Run: func(ctx context.Context, name string, args ...string) ([]byte, error) {
			switch strings.Join(append([]string{name}, args...), " ") {
			case "dpkg --print-architecture":
				return []byte("arm64\n"), nil
			case "lscpu":
				return []byte("Architecture:             aarch64\n  Model name:             Cortex-A72\n"), nil
			}
			return nil, fmt.Errorf("%s: not found", name)
		},
		Interfaces: func() ([]Network, error) {
			return []Network{networkOf("eth0", mac, n4), networkOf("eth0", mac, n6)}, nil
		},
		Statfs: func(mp string) (uint64, uint64, error) {
			switch mp {
			case "/":
				return 31_268_536_320, 24_011_685_888, nil
			case "/boot/firmware":
				return 535_805_952, 472_449_024, nil
			}
			return 0, 0, fs.ErrNotExist
		},
	}
}

// zipOf builds a ZIP archive; a name ending in "@" is a symbolic link to
// its content.
func zipOf(t testing.TB, files ...string) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for i := 0; i+1 < len(files); i += 2 {
		name, content := files[i], files[i+1]
		h := &zip.FileHeader{Name: name, Method: zip.Deflate}
		switch {
		case strings.HasSuffix(name, "@"):
			h.Name = strings.TrimSuffix(name, "@")
			h.SetMode(fs.ModeSymlink | 0o777)
		case strings.HasSuffix(name, "/"):
			h.SetMode(fs.ModeDir | 0o755)
		case strings.HasSuffix(name, ".sh"):
			h.SetMode(0o755)
		default:
			h.SetMode(0o644)
		}
		w, err := zw.CreateHeader(h)
		if err != nil {
			t.Fatal(err)
		}
		w.Write([]byte(content))
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func randBytes(n int) []byte {
	b := make([]byte, n)
	rand.Read(b)
	return b
}
