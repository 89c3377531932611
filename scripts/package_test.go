// Package scripts holds the tests of the build, packaging and image
// scripts; the scripts themselves are shell.
package scripts

import (
	"debug/buildinfo"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
)

const nfpmVersion = "v2.43.0"

// nfpm returns bin/tools/nfpm, installing it there when missing (as `make
// package` does).
func nfpm(t *testing.T, root string) string {
	t.Helper()
	bin := filepath.Join(root, "bin", "tools", "nfpm")
	if _, err := os.Stat(bin); err == nil {
		return bin
	}
	cmd := exec.Command("go", "install", "github.com/goreleaser/nfpm/v2/cmd/nfpm@"+nfpmVersion)
	cmd.Env = append(os.Environ(), "GOBIN="+filepath.Dir(bin), "GOFLAGS=")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Skipf("nfpm %s cannot be installed here: %v\n%s", nfpmVersion, err, out)
	}
	return bin
}

// testVersion is the version of the packages the tests build.
const testVersion = "1.2.3~test"

var (
	debsDir  string // made and removed by TestMain
	debsOnce sync.Once
	debsErr  error
)

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "edgegate-debs")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	debsDir = dir
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// packageArchs are the architectures the tests package: amd64 (installed)
// and armhf (the ARMv6 build); arm64, the same path, with
// EDGEGATE_PACKAGE_ALL=1 (make package builds it).
func packageArchs() []string {
	archs := []string{"amd64", "armhf"}
	if os.Getenv("EDGEGATE_PACKAGE_ALL") != "" {
		archs = append(archs, "arm64")
	}
	return archs
}

// debs builds the packages of packageArchs with scripts/package.sh, once
// for every test, and returns their directory: edgegate_testVersion_ARCH.deb.
func debs(t *testing.T, root string) string {
	t.Helper()
	bin := nfpm(t, root)
	debsOnce.Do(func() {
		cmd := exec.Command("sh", append([]string{"scripts/package.sh", "-o", debsDir}, packageArchs()...)...)
		cmd.Dir = root
		cmd.Env = append(os.Environ(), "NFPM="+bin, "VERSION="+testVersion)
		if b, err := cmd.CombinedOutput(); err != nil {
			debsErr = fmt.Errorf("package.sh: %v\n%s", err, b)
		}
	})
	if debsErr != nil {
		t.Fatal(debsErr)
	}
	return debsDir
}

func run(t *testing.T, dir, name string, args ...string) string {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

// TestDebianPackages builds the packages (amd64 and armhf; all three with
// EDGEGATE_PACKAGE_ALL=1), inspects them with dpkg-deb, and installs the amd64 one into a scratch root with dpkg
// (maintainer scripts run chrootless, on DPKG_ROOT): the user, its groups,
// the data directory and the enabled unit appear, an edited configuration
// survives a reinstall, and remove and purge behave.
func TestDebianPackages(t *testing.T) {
	if testing.Short() {
		t.Skip("builds three architectures")
	}
	for _, tool := range []string{"dpkg", "dpkg-deb"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("no %s on this machine", tool)
		}
	}
	root, _ := filepath.Abs("..")
	debDir := debs(t, root)
	out := t.TempDir()
	ocsd := false
	if _, err := os.Stat(filepath.Join(root, "cmd", "ocsd")); err == nil {
		ocsd = true
	}
	for _, arch := range packageArchs() {
		deb := filepath.Join(debDir, "edgegate_"+testVersion+"_"+arch+".deb")
		if got := strings.TrimSpace(run(t, out, "dpkg-deb", "-f", deb, "Architecture")); got != arch {
			t.Errorf("%s: Architecture %q", arch, got)
		}
		if got := strings.TrimSpace(run(t, out, "dpkg-deb", "-f", deb, "Version")); got != testVersion {
			t.Errorf("%s: Version %q", arch, got)
		}
		files := run(t, out, "dpkg-deb", "-c", deb)
		want := []string{"./usr/bin/gatewayd", "./usr/bin/gatewayctl", "./usr/bin/ospsim",
			"./usr/lib/systemd/system/gatewayd.service", "./usr/lib/edgegate/firstboot-stage", "./etc/edgegate/gatewayd.toml",
			"./etc/edgegate/profiles/thermo.toml", "./usr/share/doc/edgegate/edgegate.toml.example",
			"./usr/share/bash-completion/completions/gatewayctl", "./usr/share/doc/edgegate/configuration.md"}
		if ocsd {
			want = append(want, "./usr/bin/ocsd")
		}
		for _, f := range want {
			if !strings.Contains(files, " "+f+"\n") {
				t.Errorf("%s: no %s in\n%s", arch, f, files)
			}
		}
		ctl := filepath.Join(out, "control-"+arch)
		run(t, out, "dpkg-deb", "-e", deb, ctl)
		conffiles, _ := os.ReadFile(filepath.Join(ctl, "conffiles"))
		for _, c := range []string{"/etc/edgegate/gatewayd.toml", "/etc/edgegate/profiles/thermo.toml"} {
			if !slices.Contains(strings.Fields(string(conffiles)), c) {
				t.Errorf("%s: %s is not a conffile: %q", arch, c, conffiles)
			}
		}
		for _, s := range []string{"postinst", "prerm", "postrm"} {
			fi, err := os.Stat(filepath.Join(ctl, s))
			if err != nil || fi.Mode().Perm()&0o111 == 0 {
				t.Errorf("%s: maintainer script %s: %v", arch, s, err)
			}
		}
		// The binaries are for the package's architecture; armhf is ARMv6.
		bin := filepath.Join(out, "x-"+arch)
		run(t, out, "dpkg-deb", "-x", deb, bin)
		bi, err := buildinfo.ReadFile(filepath.Join(bin, "usr/bin/gatewayd"))
		if err != nil {
			t.Fatal(err)
		}
		settings := map[string]string{}
		for _, s := range bi.Settings {
			settings[s.Key] = s.Value
		}
		wantArch := map[string]string{"amd64": "amd64", "armhf": "arm", "arm64": "arm64"}[arch]
		if settings["GOARCH"] != wantArch || settings["CGO_ENABLED"] != "0" || (arch == "armhf" && settings["GOARM"] != "6") {
			t.Errorf("%s: gatewayd built with %v", arch, settings)
		}
	}

	// Install the amd64 package into a scratch root.
	r := t.TempDir()
	for _, d := range []string{"etc/systemd/system", "var/lib/dpkg/info", "var/lib/dpkg/updates", "var/lib/dpkg/triggers"} {
		os.MkdirAll(filepath.Join(r, d), 0o755)
	}
	for name, body := range map[string]string{
		"var/lib/dpkg/status": "", "var/lib/dpkg/available": "",
		"etc/passwd": "root:x:0:0:root:/root:/bin/sh\n", "etc/group": "root:x:0:\ndialout:x:20:\n",
		"etc/shadow": "root:*:19000:0:99999:7:::\n", "etc/gshadow": "root:*::\ndialout:*::\n",
	} {
		os.WriteFile(filepath.Join(r, name), []byte(body), 0o644)
	}
	if b, err := os.ReadFile("/etc/login.defs"); err == nil {
		os.WriteFile(filepath.Join(r, "etc/login.defs"), b, 0o644)
	}
	deb := filepath.Join(debDir, "edgegate_"+testVersion+"_amd64.deb")
	dpkg := func(args ...string) string {
		t.Helper()
		return run(t, out, "dpkg", append([]string{"--root=" + r, "--force-script-chrootless", "--log=/dev/null", "--force-confold"}, args...)...)
	}
	dpkg("-i", deb)
	passwd, _ := os.ReadFile(filepath.Join(r, "etc/passwd"))
	group, _ := os.ReadFile(filepath.Join(r, "etc/group"))
	if !strings.Contains(string(passwd), "edgegate:x:") || !strings.Contains(string(passwd), ":/var/lib/edgegate:/usr/sbin/nologin") {
		t.Errorf("no edgegate system user:\n%s", passwd)
	}
	for _, g := range []string{"dialout:x:20:edgegate", "spi:x:", "gpio:x:", "edgegate:x:"} {
		if !strings.Contains(string(group), g) {
			t.Errorf("no %q in /etc/group:\n%s", g, group)
		}
	}
	var uid int
	for _, line := range strings.Split(string(passwd), "\n") {
		if strings.HasPrefix(line, "edgegate:") {
			fmt.Sscanf(strings.Split(line, ":")[2], "%d", &uid)
		}
	}
	fi, err := os.Stat(filepath.Join(r, "var/lib/edgegate"))
	if err != nil || !fi.IsDir() || fi.Mode().Perm() != 0o750 || statUID(fi) != uid {
		t.Errorf("data directory: %v %v uid %d (edgegate is %d)", err, fi.Mode(), statUID(fi), uid)
	}
	if l, err := os.Readlink(filepath.Join(r, "etc/systemd/system/multi-user.target.wants/gatewayd.service")); err != nil || l != "/usr/lib/systemd/system/gatewayd.service" {
		t.Errorf("unit not enabled: %q %v", l, err)
	}
	status, _ := os.ReadFile(filepath.Join(r, "var/lib/dpkg/status"))
	if !strings.Contains(string(status), "Status: install ok installed") || !strings.Contains(string(status), "/etc/edgegate/gatewayd.toml") {
		t.Errorf("dpkg status:\n%s", status)
	}
	// The installed configuration is valid for the installed gatewayd.
	conf := filepath.Join(r, "etc/edgegate/gatewayd.toml")
	check := filepath.Join(out, "check.toml")
	b, _ := os.ReadFile(conf)
	os.WriteFile(check, []byte(strings.Replace(string(b), `"/etc/edgegate/profiles"`, `"`+filepath.Join(r, "etc/edgegate/profiles")+`"`, 1)), 0o644)
	run(t, out, filepath.Join(r, "usr/bin/gatewayd"), "-check-config", check)

	// systemd accepts the unit: every directive known, the commands there.
	if sa, err := exec.LookPath("systemd-analyze"); err == nil {
		unit, _ := os.ReadFile(filepath.Join(r, "usr/lib/systemd/system/gatewayd.service"))
		u := strings.NewReplacer("/usr/bin/gatewayd", filepath.Join(r, "usr/bin/gatewayd"),
			"/usr/lib/edgegate/firstboot-stage", filepath.Join(r, "usr/lib/edgegate/firstboot-stage")).Replace(string(unit))
		udir := t.TempDir()
		os.WriteFile(filepath.Join(udir, "gatewayd.service"), []byte(u), 0o644)
		if out, err := exec.Command(sa, "verify", filepath.Join(udir, "gatewayd.service")).CombinedOutput(); err != nil || len(out) > 0 {
			t.Errorf("systemd-analyze verify: %v\n%s", err, out)
		}
		for _, d := range []string{"Type=notify", "WatchdogSec=", "Restart=on-failure", "User=edgegate", "SupplementaryGroups=dialout spi gpio",
			"ProtectSystem=strict", "ReadWritePaths=/var/lib/edgegate", "NoNewPrivileges=yes", "PrivateTmp=yes", "CapabilityBoundingSet="} {
			if !strings.Contains(u, "\n"+d) {
				t.Errorf("the unit lacks %s", d)
			}
		}
	}

	// An edited configuration survives a reinstall (an upgrade).
	edited := append(b, []byte("\n# edited by the installer\n")...)
	os.WriteFile(conf, edited, 0o644)
	dpkg("-i", deb)
	if got, _ := os.ReadFile(conf); string(got) != string(edited) {
		t.Error("reinstalling overwrote the edited configuration")
	}
	// Remove keeps the configuration and the data; purge drops the
	// configuration only.
	os.WriteFile(filepath.Join(r, "var/lib/edgegate/edgegate.db"), []byte("data"), 0o600)
	dpkg("-r", "edgegate")
	if _, err := os.Stat(filepath.Join(r, "usr/bin/gatewayd")); !os.IsNotExist(err) {
		t.Errorf("gatewayd still installed after remove: %v", err)
	}
	if _, err := os.Stat(conf); err != nil {
		t.Errorf("remove deleted the configuration: %v", err)
	}
	dpkg("--purge", "edgegate")
	if _, err := os.Stat(conf); !os.IsNotExist(err) {
		t.Errorf("purge kept the configuration: %v", err)
	}
	if _, err := os.Stat(filepath.Join(r, "var/lib/edgegate/edgegate.db")); err != nil {
		t.Errorf("purge deleted the gateway's database: %v", err)
	}
	if _, err := os.Lstat(filepath.Join(r, "etc/systemd/system/multi-user.target.wants/gatewayd.service")); !os.IsNotExist(err) {
		t.Errorf("the unit is still enabled after purge: %v", err)
	}
}

// TestFirstBootStage runs the unit's ExecStartPre script on a stand-in boot
// partition: the file moves into the data directory, mode 0600, and the
// copy left behind has no password.
func TestFirstBootStage(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("install -o needs root")
	}
	dir := t.TempDir()
	boot := filepath.Join(dir, "edgegate.toml")
	os.WriteFile(boot, []byte("name = \"barn-7\"\n  password = \"installer secret 42\"\n"), 0o644)
	data := filepath.Join(dir, "data")
	cmd := exec.Command("sh", "package/firstboot-stage")
	cmd.Env = append(os.Environ(), "EDGEGATE_FIRSTBOOT="+boot+" "+filepath.Join(dir, "other.toml"), "EDGEGATE_DATA="+data, "EDGEGATE_USER=root")
	if out, err := cmd.CombinedOutput(); err != nil || !strings.Contains(string(out), "staged for import") {
		t.Fatalf("firstboot-stage: %v\n%s", err, out)
	}
	if _, err := os.Stat(boot); !os.IsNotExist(err) {
		t.Errorf("the file is still on the boot partition: %v", err)
	}
	staged := filepath.Join(data, "edgegate.toml.firstboot")
	fi, err := os.Stat(staged)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("staged file: %v %v", err, fi)
	}
	if b, _ := os.ReadFile(staged); !strings.Contains(string(b), "installer secret 42") {
		t.Errorf("staged file lost the password: %s", b)
	}
	left, _ := os.ReadFile(boot + ".imported")
	if strings.Contains(string(left), "secret") || !strings.Contains(string(left), "barn-7") {
		t.Errorf("left on the boot partition:\n%s", left)
	}
	// Nothing to stage: a quiet success.
	again := exec.Command("sh", "package/firstboot-stage")
	again.Env = cmd.Env
	if out, err := again.CombinedOutput(); err != nil || len(out) != 0 {
		t.Errorf("second run: %v %s", err, out)
	}
}
