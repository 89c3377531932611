package scripts

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/edgegate/edgegate/gateway"
)

// imageTools skips the test unless this machine can loop-mount an ext4
// partition and has the tools image.sh and the test use.
func imageTools(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("image.sh needs root (losetup, mount)")
	}
	for _, tool := range []string{"losetup", "sfdisk", "mkfs.ext4", "mkfs.vfat", "mcopy", "mtype", "debugfs", "dpkg", "dd"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("no %s here (apt-get install fdisk dosfstools mtools e2fsprogs)", tool)
		}
	}
	if out, err := exec.Command("losetup", "--find").CombinedOutput(); err != nil {
		t.Skipf("no loop device available: %v %s", err, out)
	}
}

// syntheticImage builds a two-partition disk image shaped like Raspberry
// Pi OS's: a FAT boot partition and an ext4 root with an empty dpkg
// database of the given architecture.
func syntheticImage(t *testing.T, dir, arch string) string {
	t.Helper()
	root := filepath.Join(dir, "rootfs")
	for _, d := range []string{"etc/systemd/system", "var/lib/dpkg/info", "var/lib/dpkg/updates", "var/lib/dpkg/triggers", "boot/firmware", "usr/bin"} {
		os.MkdirAll(filepath.Join(root, d), 0o755)
	}
	for name, body := range map[string]string{
		"var/lib/dpkg/status":    "Package: dpkg\nStatus: install ok installed\nArchitecture: " + arch + "\nVersion: 1.21.22\nDescription: stand-in\n\n",
		"var/lib/dpkg/available": "",
		"etc/passwd":             "root:x:0:0:root:/root:/bin/bash\npi:x:1000:1000::/home/pi:/bin/bash\n",
		"etc/group":              "root:x:0:\ndialout:x:20:pi\nspi:x:999:pi\ngpio:x:997:pi\npi:x:1000:\n",
		"etc/shadow":             "root:*:19000:0:99999:7:::\npi:*:19000:0:99999:7:::\n",
		"etc/gshadow":            "root:*::\ndialout:*::pi\nspi:!::pi\ngpio:!::pi\npi:!::\n",
	} {
		os.WriteFile(filepath.Join(root, name), []byte(body), 0o644)
	}
	if b, err := os.ReadFile("/etc/login.defs"); err == nil {
		os.WriteFile(filepath.Join(root, "etc/login.defs"), b, 0o644)
	}
	const bootSectors, rootSectors = 32768, 131072 // 16 MiB, 64 MiB
	img := filepath.Join(dir, "raspios.img")
	bootFS, rootFS := filepath.Join(dir, "boot.fat"), filepath.Join(dir, "root.ext4")
	run(t, dir, "truncate", "-s", fmt.Sprint((2048+bootSectors+rootSectors)*512), img)
	cmd := exec.Command("sfdisk", "-q", img)
	cmd.Stdin = strings.NewReader(fmt.Sprintf("label: dos\nstart=2048, size=%d, type=c\nstart=%d, size=%d, type=83\n",
		bootSectors, 2048+bootSectors, rootSectors))
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("sfdisk: %v\n%s", err, out)
	}
	run(t, dir, "mkfs.vfat", "-n", "BOOTFS", "-C", bootFS, fmt.Sprint(bootSectors/2))
	run(t, dir, "mkfs.ext4", "-q", "-L", "rootfs", "-d", root, rootFS, fmt.Sprint(rootSectors/2)+"k")
	run(t, dir, "dd", "if="+bootFS, "of="+img, "bs=512", "seek=2048", "conv=notrunc,sparse", "status=none")
	run(t, dir, "dd", "if="+rootFS, "of="+img, "bs=512", fmt.Sprintf("seek=%d", 2048+bootSectors), "conv=notrunc,sparse", "status=none")
	return img
}

// TestImageScript customises a synthetic Raspberry Pi OS image: the
// package lands in its root file system (user, unit enabled, dpkg
// database) and edgegate.toml on its boot partition, in a form the gateway
// imports.
func TestImageScript(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a package and a disk image")
	}
	imageTools(t)
	root, _ := filepath.Abs("..")
	dir := t.TempDir()
	deb := filepath.Join(debs(t, root), "edgegate_"+testVersion+"_amd64.deb")
	img := syntheticImage(t, dir, "amd64")
	out := filepath.Join(dir, "gateway.img")
	b, err := exec.Command(filepath.Join(root, "scripts/image.sh"), "-i", img, "-p", deb, "-o", out,
		"--name", "barn-7", "--ocs-url", "https://ocs.example.com/", "--ocs-pin", "abababababababababababababababababababababababababababababababab", "--lora-region", "eu868",
		"--status-page", "0.0.0.0:80", "--password", `say "hi" to the goats`).CombinedOutput()
	if err != nil {
		t.Fatalf("image.sh: %v\n%s", err, b)
	}
	if !strings.Contains(string(b), "ready to flash") {
		t.Errorf("image.sh said:\n%s", b)
	}
	if l, _ := exec.Command("losetup", "-j", out).Output(); len(l) > 0 {
		t.Errorf("loop device left behind: %s", l)
	}

	// The boot partition holds the first-boot file, and it parses.
	fb := run(t, dir, "mtype", "-i", out+"@@1048576", "::edgegate.toml")
	f, err := gateway.ParseFirstBoot([]byte(fb))
	if err != nil {
		t.Fatalf("the first-boot file does not parse: %v\n%s", err, fb)
	}
	if f.Name != "barn-7" || f.OCSURL != "https://ocs.example.com/" || f.StatusPage != "0.0.0.0:80" || f.Password != `say "hi" to the goats` {
		t.Errorf("first-boot file %+v", f)
	}

	// The root partition has the package installed.
	part := filepath.Join(dir, "root.part")
	run(t, dir, "dd", "if="+out, "of="+part, "bs=512", fmt.Sprintf("skip=%d", 2048+32768), "status=none")
	debugfs := func(req string) string { return run(t, dir, "debugfs", "-R", req, part) }
	for _, p := range []string{"/usr/bin/gatewayd", "/usr/bin/gatewayctl", "/etc/edgegate/gatewayd.toml", "/usr/lib/edgegate/firstboot-stage"} {
		if s := debugfs("stat " + p); !strings.Contains(s, "Inode:") {
			t.Errorf("%s not in the image:\n%s", p, s)
		}
	}
	if s := debugfs("cat /etc/passwd"); !strings.Contains(s, "edgegate:x:") || !strings.Contains(s, "pi:x:1000") {
		t.Errorf("/etc/passwd:\n%s", s)
	}
	if s := debugfs("cat /etc/group"); !strings.Contains(s, "spi:x:999:pi,edgegate") {
		t.Errorf("/etc/group:\n%s", s)
	}
	if s := debugfs("stat /etc/systemd/system/multi-user.target.wants/gatewayd.service"); !strings.Contains(s, "Type: symlink") {
		t.Errorf("unit not enabled:\n%s", s)
	}
	if s := debugfs("cat /var/lib/dpkg/status"); !strings.Contains(s, "Package: edgegate\nStatus: install ok installed") {
		t.Errorf("dpkg database:\n%s", s)
	}

	// A package for another architecture is refused.
	other := syntheticImage(t, t.TempDir(), "arm64")
	b, err = exec.Command(filepath.Join(root, "scripts/image.sh"), "-i", other, "-p", deb).CombinedOutput()
	if err == nil || !strings.Contains(string(b), "is for amd64 but the image is arm64") {
		t.Errorf("mismatched architecture: %v\n%s", err, b)
	}
}
