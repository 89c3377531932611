package board

import (
	"bufio"
	"bytes"
	"io/fs"
	"strings"
)

// Info is what is known about the machine the gateway runs on.
type Info struct {
	// Model is the detected (or configured) board.
	Model Model
	// Raw is the model string as read, without its NUL terminator; empty
	// when no model file was readable.
	Raw string
	// Source is the file Raw was read from, relative to the detection root
	// ("proc/device-tree/model"); empty when none was readable.
	Source string
	// Forced reports that the model was set by the configuration rather
	// than detected (see [Config.Resolve]).
	Forced bool
}

// IsRaspberryPi reports whether the board is a Raspberry Pi.
func (i Info) IsRaspberryPi() bool { return i.Model.IsRaspberryPi() }

// String describes the board for logs and the status page.
func (i Info) String() string {
	s := i.Model.String()
	if i.Forced {
		s += " (configured)"
	}
	return s
}

// Model files, relative to the detection root, in the order they are tried.
// /proc/device-tree is a symlink to /sys/firmware/devicetree/base; the second
// path helps where /proc is private but /sys is not. The "Model" line of
// /proc/cpuinfo, written by Raspberry Pi kernels, is the last resort: a
// container runtime typically masks /sys/firmware, hiding the device tree.
const (
	dtModelPath    = "proc/device-tree/model"
	sysfsModelPath = "sys/firmware/devicetree/base/model"
	cpuinfoPath    = "proc/cpuinfo"
)

// Detect identifies the board from the filesystem rooted at root: on a
// running system os.DirFS("/"), in tests an [testing/fstest.MapFS]. It never
// fails: a machine without a readable model string is generic.
func Detect(root fs.FS) Info {
	for _, p := range []string{dtModelPath, sysfsModelPath} {
		b, err := fs.ReadFile(root, p)
		if err != nil {
			continue
		}
		// The property is a NUL-terminated string; a compatible-style list
		// would hold several, of which the first is the model.
		if i := bytes.IndexByte(b, 0); i >= 0 {
			b = b[:i]
		}
		raw := strings.TrimSpace(string(b))
		if raw == "" {
			continue
		}
		return Info{Model: ParseModel(raw), Raw: raw, Source: p}
	}
	if raw := cpuinfoModel(root); raw != "" {
		return Info{Model: ParseModel(raw), Raw: raw, Source: cpuinfoPath}
	}
	return Info{Model: GenericModel("")}
}

// cpuinfoModel returns the value of the "Model" line of /proc/cpuinfo, or "".
func cpuinfoModel(root fs.FS) string {
	b, err := fs.ReadFile(root, cpuinfoPath)
	if err != nil {
		return ""
	}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if ok && strings.TrimSpace(k) == "Model" {
			return strings.TrimSpace(v)
		}
	}
	return ""
}
