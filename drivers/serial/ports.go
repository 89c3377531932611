package serial

import (
	"fmt"
	"sort"
	"strconv"

	"go.bug.st/serial/enumerator"
)

// PortInfo describes a serial port present on the system.
type PortInfo struct {
	// Name is the device path, e.g. "/dev/ttyUSB0".
	Name string
	// IsUSB reports whether the port is a USB serial adapter; the fields
	// below are set only for those.
	IsUSB bool
	// VID and PID are the USB vendor and product IDs.
	VID, PID uint16
	// SerialNumber, Manufacturer and Product are the adapter's USB strings,
	// when it has them.
	SerialNumber, Manufacturer, Product string
}

// String returns the name and, for a USB adapter, its identity, e.g.
// "/dev/ttyUSB0 (USB 10c4:ea60:0001 CP2102 USB to UART Bridge Controller)".
func (p PortInfo) String() string {
	if !p.IsUSB {
		return p.Name
	}
	id := USBMatch{VID: p.VID, PID: p.PID, Serial: p.SerialNumber}.String()
	if p.Product != "" {
		return fmt.Sprintf("%s (USB %s %s)", p.Name, id, p.Product)
	}
	return fmt.Sprintf("%s (USB %s)", p.Name, id)
}

// List returns the serial ports present, sorted by name, with the USB
// identity of USB adapters (through go.bug.st/serial/enumerator: sysfs on
// Linux, so no device is opened or probed). Entries the enumerator returns
// without a name are left out.
func List() ([]PortInfo, error) {
	ds, err := enumerator.GetDetailedPortsList()
	if err != nil {
		return nil, fmt.Errorf("serial: list ports: %w", err)
	}
	return portInfos(ds), nil
}

// portInfos converts the enumerator's details, whose IDs are hex strings.
func portInfos(ds []*enumerator.PortDetails) []PortInfo {
	out := make([]PortInfo, 0, len(ds))
	for _, d := range ds {
		if d == nil || d.Name == "" {
			continue
		}
		p := PortInfo{Name: d.Name, IsUSB: d.IsUSB}
		if d.IsUSB {
			p.VID = hexID(d.VID)
			p.PID = hexID(d.PID)
			p.SerialNumber, p.Manufacturer, p.Product = d.SerialNumber, d.Manufacturer, d.Product
		}
		out = append(out, p)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// hexID parses a USB ID the enumerator reported; an unreadable one is 0,
// which no USBMatch selects.
func hexID(s string) uint16 {
	v, err := strconv.ParseUint(s, 16, 16)
	if err != nil {
		return 0
	}
	return uint16(v)
}
