package oco

import (
	"bufio"
	"bytes"
	"context"
	"io/fs"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Inventory is the gateway's own inventory, oco.agent.update's data. A
// field the machine cannot provide is left empty, never guessed.
type Inventory struct {
	OS            string `json:"os"`
	OSVersion     string `json:"os_version"`
	OSLanguage    string `json:"os_language,omitempty"`
	KernelVersion string `json:"kernel_version"`
	Architecture  string `json:"architecture"`
	CPU           string `json:"cpu"`
	GPU           string `json:"gpu"`
	// RAM is in bytes, as a decimal string.
	RAM          string `json:"ram"`
	AgentVersion string `json:"agent_version"`
	Serial       string `json:"serial"`
	Manufacturer string `json:"manufacturer"`
	Model        string `json:"model"`
	BIOSVersion  string `json:"bios_version"`
	// Uptime is in seconds.
	Uptime int64 `json:"uptime"`
	// BootType is "UEFI" or "Legacy".
	BootType string `json:"boot_type"`
	// SecureBoot is 0 or 1 when the UEFI variable says, "" otherwise.
	SecureBoot any         `json:"secure_boot"`
	Domain     string      `json:"domain"`
	Networks   []Network   `json:"networks"`
	Partitions []Partition `json:"partitions"`
	Software   []Software  `json:"software"`
}

// Network is one address of a network interface.
type Network struct {
	Addr      string `json:"addr"`
	Netmask   string `json:"netmask"`
	Broadcast string `json:"broadcast"`
	MAC       string `json:"mac"`
	Interface string `json:"interface"`
}

// Partition is a mounted file system on a block device.
type Partition struct {
	Device     string `json:"device"`
	MountPoint string `json:"mountpoint"`
	FileSystem string `json:"filesystem"`
	Size       uint64 `json:"size"`
	Free       uint64 `json:"free"`
	// Name is the file system's label, Serial its UUID (from
	// /dev/disk/by-label and /dev/disk/by-uuid).
	Name   string `json:"name"`
	Serial string `json:"serial"`
}

// Software is an installed package (dpkg).
type Software struct {
	Name        string `json:"name"`
	Version     string `json:"version"`
	Description string `json:"description"`
}

// Sources is where the inventory comes from. The zero value reads the
// machine the gateway runs on; tests point Root at a fixture tree and
// replace the functions.
type Sources struct {
	// Root is prefixed to every file read (/etc/os-release, /proc, /sys,
	// /dev/disk, /var/lib/dpkg/status); "" is "/".
	Root string
	// Run runs a command and returns its standard output
	// (dpkg --print-architecture, lscpu); nil runs it for real.
	Run func(ctx context.Context, name string, args ...string) ([]byte, error)
	// Interfaces lists the network addresses; nil asks the kernel.
	Interfaces func() ([]Network, error)
	// Statfs returns a mounted file system's size and the bytes free to
	// unprivileged users; nil asks the kernel (at Root+path).
	Statfs func(path string) (size, free uint64, err error)
}

func (s Sources) path(p string) string {
	if s.Root == "" {
		return p
	}
	return filepath.Join(s.Root, p)
}

func (s Sources) read(p string) string {
	b, err := os.ReadFile(s.path(p))
	if err != nil {
		return ""
	}
	return string(b)
}

// readDT reads a device-tree property (NUL-terminated strings).
func (s Sources) readDT(name string) string {
	for _, dir := range []string{"/proc/device-tree/", "/sys/firmware/devicetree/base/"} {
		if v := s.read(dir + name); v != "" {
			return strings.TrimSpace(strings.TrimRight(v, "\x00"))
		}
	}
	return ""
}

func (s Sources) run(ctx context.Context, name string, args ...string) string {
	run := s.Run
	if run == nil {
		run = runCommand
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	out, err := run(ctx, name, args...)
	if err != nil {
		return ""
	}
	return string(out)
}

func runCommand(ctx context.Context, name string, args ...string) ([]byte, error) {
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Env = []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "LC_ALL=C"}
	return cmd.Output()
}

// Collect gathers the inventory; agentVersion is reported as is.
func (s Sources) Collect(ctx context.Context, agentVersion string) Inventory {
	inv := Inventory{AgentVersion: agentVersion, SecureBoot: ""}
	osr := parseKeyValues(s.read("/etc/os-release"))
	if len(osr) == 0 {
		osr = parseKeyValues(s.read("/usr/lib/os-release"))
	}
	inv.OS = osr["NAME"]
	inv.OSVersion = osr["VERSION"]
	if inv.OSVersion == "" {
		inv.OSVersion = osr["VERSION_ID"]
	}
	inv.OSLanguage = parseKeyValues(s.read("/etc/default/locale"))["LANG"]
	if inv.OSLanguage == "" {
		inv.OSLanguage = parseKeyValues(s.read("/etc/locale.conf"))["LANG"]
	}
	inv.KernelVersion = strings.TrimSpace(s.read("/proc/sys/kernel/osrelease"))
	inv.Architecture = firstLine(s.run(ctx, "dpkg", "--print-architecture"))
	cpuinfo := s.read("/proc/cpuinfo")
	inv.CPU = s.cpuModel(ctx, cpuinfo)
	if kb := meminfoKB(s.read("/proc/meminfo"), "MemTotal"); kb > 0 {
		inv.RAM = strconv.FormatUint(kb*1024, 10)
	}
	inv.Model = s.readDT("model")
	inv.Serial = s.readDT("serial-number")
	if inv.Serial == "" {
		inv.Serial = field(cpuinfo, "Serial")
	}
	dmi := func(name string) string {
		v := strings.TrimSpace(s.read("/sys/class/dmi/id/" + name))
		if isPlaceholder(v) {
			return ""
		}
		return v
	}
	if inv.Model == "" {
		inv.Model = dmi("product_name")
	}
	if inv.Serial == "" {
		inv.Serial = dmi("product_serial")
	}
	inv.Manufacturer = dmi("sys_vendor")
	if inv.Manufacturer == "" {
		inv.Manufacturer = dtVendor(s.readDT("compatible"))
	}
	inv.BIOSVersion = dmi("bios_version")
	if up, ok := s.Uptime(); ok {
		inv.Uptime = up
	}
	inv.BootType, inv.SecureBoot = s.boot()
	inv.Domain = s.domain()
	inv.Networks = s.Networks()
	inv.Partitions = s.partitions()
	inv.Software = parseDpkgStatus([]byte(s.read("/var/lib/dpkg/status")))
	return inv
}

// isPlaceholder reports DMI strings firmware vendors leave unfilled.
func isPlaceholder(v string) bool {
	switch strings.ToLower(v) {
	case "", "to be filled by o.e.m.", "default string", "not specified", "system serial number", "none", "0":
		return true
	}
	return false
}

// dtVendor returns the vendor prefix of a device tree's first compatible
// string ("raspberrypi,4-model-b" -> "raspberrypi").
func dtVendor(compatible string) string {
	first, _, _ := strings.Cut(compatible, "\x00")
	v, _, ok := strings.Cut(first, ",")
	if !ok {
		return ""
	}
	return v
}

func (s Sources) cpuModel(ctx context.Context, ci string) string {
	if v := field(ci, "model name"); v != "" {
		return v
	}
	for _, line := range strings.Split(s.run(ctx, "lscpu"), "\n") {
		if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "Model name" {
			if v = strings.TrimSpace(v); v != "" && v != "-" {
				return v
			}
		}
	}
	for _, k := range []string{"Processor", "Hardware", "cpu model"} {
		if v := field(ci, k); v != "" {
			return v
		}
	}
	return ""
}

// Uptime returns the seconds since boot (/proc/uptime).
func (s Sources) Uptime() (int64, bool) {
	f := strings.Fields(s.read("/proc/uptime"))
	if len(f) == 0 {
		return 0, false
	}
	v, err := strconv.ParseFloat(f[0], 64)
	if err != nil || v < 0 {
		return 0, false
	}
	return int64(v), true
}

func (s Sources) boot() (string, any) {
	if fi, err := os.Stat(s.path("/sys/firmware/efi")); err == nil && fi.IsDir() {
		b, err := os.ReadFile(s.path("/sys/firmware/efi/efivars/SecureBoot-8be4df61-93ca-11d2-aa0d-00e098032b8c"))
		if err == nil && len(b) == 5 && b[4] <= 1 {
			return "UEFI", int(b[4])
		}
		return "UEFI", ""
	}
	if _, err := os.Stat(s.path("/sys/firmware")); err == nil {
		return "Legacy", ""
	}
	return "", ""
}

func (s Sources) domain() string {
	h := strings.TrimSpace(s.read("/proc/sys/kernel/hostname"))
	if h == "" && (s.Root == "" || s.Root == "/") {
		h, _ = os.Hostname()
	}
	if _, d, ok := strings.Cut(h, "."); ok && d != "" {
		return d
	}
	var search string
	for _, line := range strings.Split(s.read("/etc/resolv.conf"), "\n") {
		f := strings.Fields(line)
		if len(f) < 2 {
			continue
		}
		switch f[0] {
		case "domain":
			return f[1]
		case "search":
			if search == "" {
				search = f[1]
			}
		}
	}
	return search
}

// Networks returns the machine's network addresses (loopback and IPv6
// link-local addresses left out).
func (s Sources) Networks() []Network {
	list := s.Interfaces
	if list == nil {
		list = kernelInterfaces
	}
	nets, err := list()
	if err != nil || nets == nil {
		return []Network{}
	}
	return nets
}

func kernelInterfaces() ([]Network, error) {
	ifs, err := net.Interfaces()
	if err != nil {
		return nil, err
	}
	out := []Network{}
	for _, ifc := range ifs {
		if ifc.Flags&net.FlagLoopback != 0 {
			continue
		}
		addrs, err := ifc.Addrs()
		if err != nil {
			continue
		}
		for _, a := range addrs {
			ipn, ok := a.(*net.IPNet)
			if !ok || ipn.IP.IsLinkLocalUnicast() || ipn.IP.IsLoopback() {
				continue
			}
			out = append(out, networkOf(ifc.Name, ifc.HardwareAddr, ipn))
		}
	}
	return out, nil
}

// networkOf describes one address: IPv4 with its dotted netmask and
// broadcast address, IPv6 with its mask in address form.
func networkOf(name string, mac net.HardwareAddr, ipn *net.IPNet) Network {
	n := Network{Interface: name, MAC: mac.String(), Addr: ipn.IP.String()}
	if ip4 := ipn.IP.To4(); ip4 != nil {
		mask := net.IP(ipn.Mask)
		if len(ipn.Mask) == net.IPv6len {
			mask = mask[12:]
		}
		n.Netmask = mask.String()
		if ones, bits := ipn.Mask.Size(); bits-ones >= 2 {
			bc := make(net.IP, 4)
			for i := range bc {
				bc[i] = ip4[i] | ^mask[i]
			}
			n.Broadcast = bc.String()
		}
	} else {
		n.Netmask = net.IP(ipn.Mask).String()
	}
	return n
}

func (s Sources) statfs(mp string) (uint64, uint64, error) {
	if s.Statfs != nil {
		return s.Statfs(mp)
	}
	var st syscall.Statfs_t
	if err := syscall.Statfs(s.path(mp), &st); err != nil {
		return 0, 0, err
	}
	bs := uint64(st.Frsize)
	if bs == 0 {
		bs = uint64(st.Bsize)
	}
	return st.Blocks * bs, st.Bavail * bs, nil
}

// partitions lists the mounted block devices (/proc/mounts) with their
// size, free space, label and UUID.
func (s Sources) partitions() []Partition {
	mounts := s.read("/proc/self/mounts")
	if mounts == "" {
		mounts = s.read("/proc/mounts")
	}
	labels := s.diskLinks("/dev/disk/by-label")
	uuids := s.diskLinks("/dev/disk/by-uuid")
	out := []Partition{}
	seen := map[string]bool{}
	for _, m := range parseMounts(mounts) {
		if !strings.HasPrefix(m.Device, "/dev/") || seen[m.MountPoint] {
			continue
		}
		seen[m.MountPoint] = true
		p := Partition{Device: m.Device, MountPoint: m.MountPoint, FileSystem: m.FileSystem,
			Name: labels[filepath.Base(m.Device)], Serial: uuids[filepath.Base(m.Device)]}
		if size, free, err := s.statfs(m.MountPoint); err == nil {
			p.Size, p.Free = size, free
		}
		out = append(out, p)
	}
	return out
}

// diskLinks maps device names ("sda1") to the names of the links pointing
// at them in dir (udev's by-label, by-uuid).
func (s Sources) diskLinks(dir string) map[string]string {
	out := map[string]string{}
	entries, err := os.ReadDir(s.path(dir))
	if err != nil {
		return out
	}
	for _, e := range entries {
		if e.Type()&fs.ModeSymlink == 0 {
			continue
		}
		target, err := os.Readlink(filepath.Join(s.path(dir), e.Name()))
		if err != nil {
			continue
		}
		out[filepath.Base(target)] = unescapeUdev(e.Name())
	}
	return out
}

// unescapeUdev decodes udev's \xNN escapes in link names.
func unescapeUdev(s string) string { return unescapeBytes(s, `\x`, 2, 16) }

// unescapeBytes decodes the bytes written as lead and n digits in base
// (udev's \xNN, /proc/mounts' \NNN); anything else is kept as it is.
func unescapeBytes(s, lead string, n, base int) string {
	if !strings.Contains(s, lead) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if d := i + len(lead); strings.HasPrefix(s[i:], lead) && d+n <= len(s) {
			if v, err := strconv.ParseUint(s[d:d+n], base, 8); err == nil {
				b.WriteByte(byte(v))
				i = d + n - 1
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

type mount struct{ Device, MountPoint, FileSystem string }

// parseMounts reads /proc/mounts lines, decoding the octal escapes of
// spaces and tabs.
func parseMounts(s string) []mount {
	var out []mount
	for _, line := range strings.Split(s, "\n") {
		f := strings.Fields(line)
		if len(f) < 3 {
			continue
		}
		out = append(out, mount{unescapeOctal(f[0]), unescapeOctal(f[1]), f[2]})
	}
	return out
}

func unescapeOctal(s string) string { return unescapeBytes(s, `\`, 3, 8) }

// parseKeyValues reads os-release style KEY=value lines (values optionally
// quoted).
func parseKeyValues(s string) map[string]string {
	out := map[string]string{}
	for _, line := range strings.Split(s, "\n") {
		line = strings.TrimSpace(line)
		if line == "" || line[0] == '#' {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			continue
		}
		v = strings.TrimSpace(v)
		if len(v) >= 2 && (v[0] == '"' || v[0] == '\'') && v[len(v)-1] == v[0] {
			v = v[1 : len(v)-1]
			v = strings.NewReplacer(`\"`, `"`, `\$`, `$`, "\\`", "`", `\\`, `\`).Replace(v)
		}
		out[strings.TrimSpace(k)] = v
	}
	return out
}

// field returns the first non-empty value of a "name: value" line
// (/proc/cpuinfo, /proc/meminfo).
func field(text, name string) string {
	for _, line := range strings.Split(text, "\n") {
		k, v, ok := strings.Cut(line, ":")
		if ok && strings.TrimSpace(k) == name {
			if v = strings.TrimSpace(v); v != "" {
				return v
			}
		}
	}
	return ""
}

// meminfoKB reads a /proc/meminfo value ("MemTotal: 3884816 kB").
func meminfoKB(mi, name string) uint64 {
	f := strings.Fields(field(mi, name))
	if len(f) == 0 {
		return 0
	}
	n, err := strconv.ParseUint(f[0], 10, 64)
	if err != nil {
		return 0
	}
	return n
}

func firstLine(s string) string {
	l, _, _ := strings.Cut(s, "\n")
	return strings.TrimSpace(l)
}

// parseDpkgStatus lists the installed packages of a dpkg status file:
// name, version and the first line of the description, sorted by name.
func parseDpkgStatus(b []byte) []Software {
	out := []Software{}
	var cur Software
	var status string
	flush := func() {
		if cur.Name != "" && strings.HasSuffix(status, " installed") {
			out = append(out, cur)
		}
		cur, status = Software{}, ""
	}
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if strings.TrimSpace(line) == "" {
			flush()
			continue
		}
		if line[0] == ' ' || line[0] == '\t' {
			continue // continuation (the long description, conffiles)
		}
		k, v, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		v = strings.TrimSpace(v)
		switch k {
		case "Package":
			cur.Name = v
		case "Status":
			status = v
		case "Version":
			cur.Version = v
		case "Description":
			cur.Description = v
		}
	}
	flush() // a line over 1 MiB ends the scan: what was read is kept
	sort.SliceStable(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}
