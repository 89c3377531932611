package serial

import (
	"errors"
	"strings"
	"testing"
	"time"

	"go.bug.st/serial"
	"go.bug.st/serial/enumerator"
)

func TestConfigValidate(t *testing.T) {
	usb := &USBMatch{VID: 0x10c4, PID: 0xea60}
	tests := []struct {
		name string
		cfg  Config
		want string // substrings of the error, "" for valid
	}{
		{"path only", Config{Path: "/dev/ttyUSB0"}, ""},
		{"usb only", Config{USB: usb}, ""},
		{"everything set", Config{Path: "/dev/ttyAMA0", Baud: 9600, DataBits: 7, Parity: "Even", StopBits: 2, IdleTimeout: 50 * time.Millisecond, MTU: 58, MaxPacketSize: 255}, ""},
		{"no port", Config{}, `Path "": set Path or USB`},
		{"both ports", Config{Path: "/dev/ttyS0", USB: usb}, `Path "/dev/ttyS0": USB 10c4:ea60 is set too`},
		{"zero VID", Config{USB: &USBMatch{PID: 1}}, "USB.VID 0x0000"},
		{"zero PID", Config{USB: &USBMatch{VID: 1}}, "USB.PID 0x0000"},
		{"negative baud", Config{Path: "x", Baud: -9600}, "Baud -9600"},
		{"data bits", Config{Path: "x", DataBits: 9}, "DataBits 9: must be 5, 6, 7 or 8"},
		{"stop bits", Config{Path: "x", StopBits: 3}, "StopBits 3: must be 1 or 2"},
		{"parity", Config{Path: "x", Parity: "mark"}, `Parity "mark": must be none, even or odd`},
		{"negative idle", Config{Path: "x", IdleTimeout: -time.Second}, "IdleTimeout -1s"},
		{"idle below a millisecond", Config{Path: "x", IdleTimeout: 500 * time.Microsecond}, "IdleTimeout 500µs: must be at least 1ms"},
		{"idle below three characters", Config{Path: "x", Baud: 1200, IdleTimeout: 10 * time.Millisecond}, "IdleTimeout 10ms: must be at least 25ms"},
		{"MTU small", Config{Path: "x", MTU: 8}, "MTU 8: must be 16..16383"},
		{"MTU large", Config{Path: "x", MTU: 20000}, "MTU 20000"},
		{"MaxPacketSize", Config{Path: "x", MaxPacketSize: 16384}, "MaxPacketSize 16384: must be 7..16383"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.cfg.Validate()
			if tc.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if !errors.Is(err, ErrConfig) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Validate() = %v, want ErrConfig with %q", err, tc.want)
			}
		})
	}
}

func TestConfigDefaultsAndMode(t *testing.T) {
	d := Config{Path: "x"}.withDefaults()
	if d.Baud != 115200 || d.DataBits != 8 || d.Parity != "none" || d.StopBits != 1 ||
		d.IdleTimeout != DefaultIdleTimeout || d.MTU != DefaultMTU || d.MaxPacketSize != DefaultMaxPacketSize {
		t.Fatalf("defaults %+v", d)
	}
	m := Config{Path: "x", Baud: 9600, DataBits: 7, Parity: "ODD", StopBits: 2}.withDefaults().mode()
	if *m != (serial.Mode{BaudRate: 9600, DataBits: 7, Parity: serial.OddParity, StopBits: serial.TwoStopBits}) {
		t.Fatalf("mode %+v", *m)
	}
	if m := d.mode(); *m != (serial.Mode{BaudRate: 115200, DataBits: 8, Parity: serial.NoParity, StopBits: serial.OneStopBit}) {
		t.Fatalf("default mode %+v", *m)
	}
}

func TestParseUSBMatch(t *testing.T) {
	tests := []struct {
		in   string
		want USBMatch
		err  string
	}{
		{in: "10c4:ea60", want: USBMatch{VID: 0x10c4, PID: 0xea60}},
		{in: "10C4:EA60", want: USBMatch{VID: 0x10c4, PID: 0xea60}},
		{in: "0x0403:0x6001", want: USBMatch{VID: 0x0403, PID: 0x6001}},
		{in: "403:6001:A50285BI", want: USBMatch{VID: 0x0403, PID: 0x6001, Serial: "A50285BI"}},
		{in: "1a86:7523:ab:cd", want: USBMatch{VID: 0x1a86, PID: 0x7523, Serial: "ab:cd"}},
		{in: "", err: "want VID:PID[:SERIAL]"},
		{in: "10c4", err: "want VID:PID[:SERIAL]"},
		{in: "10c4:", err: `PID ""`},
		{in: "xyz:ea60", err: `VID "xyz": want hex digits`},
		{in: "10c45:ea60", err: `VID "10c45": want 1 to 4 hex digits`},
		{in: "10c4:ea60:", err: "empty SERIAL"},
	}
	for _, tc := range tests {
		got, err := ParseUSBMatch(tc.in)
		if tc.err != "" {
			if !errors.Is(err, ErrConfig) || !strings.Contains(err.Error(), tc.err) || !strings.Contains(err.Error(), tc.in) {
				t.Errorf("ParseUSBMatch(%q) = %v, want ErrConfig naming the input with %q", tc.in, err, tc.err)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("ParseUSBMatch(%q) = %+v, %v; want %+v", tc.in, got, err, tc.want)
			continue
		}
		var back USBMatch
		if err := back.UnmarshalText([]byte(got.String())); err != nil || back != got {
			t.Errorf("%q: String %q does not parse back: %+v %v", tc.in, got.String(), back, err)
		}
	}
	if s := (USBMatch{VID: 0x403, PID: 0x6001, Serial: "X1"}).String(); s != "0403:6001:X1" {
		t.Errorf("String() = %q", s)
	}
}

func TestUSBResolve(t *testing.T) {
	ports := []PortInfo{
		{Name: "/dev/ttyAMA0"},
		{Name: "/dev/ttyUSB0", IsUSB: true, VID: 0x10c4, PID: 0xea60, SerialNumber: "0001"},
		{Name: "/dev/ttyUSB1", IsUSB: true, VID: 0x10c4, PID: 0xea60, SerialNumber: "0002"},
		{Name: "/dev/ttyUSB2", IsUSB: true, VID: 0x0403, PID: 0x6001, SerialNumber: "A50285BI"},
	}
	tests := []struct {
		m    USBMatch
		want string
		err  error
	}{
		{USBMatch{VID: 0x0403, PID: 0x6001}, "/dev/ttyUSB2", nil},
		{USBMatch{VID: 0x10c4, PID: 0xea60, Serial: "0002"}, "/dev/ttyUSB1", nil},
		{USBMatch{VID: 0x10c4, PID: 0xea60}, "", ErrAmbiguous},
		{USBMatch{VID: 0x10c4, PID: 0xea60, Serial: "0003"}, "", ErrNoPort},
		{USBMatch{VID: 0x1a86, PID: 0x7523}, "", ErrNoPort},
	}
	for _, tc := range tests {
		got, err := tc.m.Resolve(ports)
		if got != tc.want || !errors.Is(err, tc.err) || (tc.err == nil) != (err == nil) {
			t.Errorf("%s: Resolve = %q, %v; want %q, %v", tc.m, got, err, tc.want, tc.err)
		}
		if err != nil && !strings.Contains(err.Error(), tc.m.String()) {
			t.Errorf("%s: error %q does not name the match", tc.m, err)
		}
	}
	if _, err := (USBMatch{VID: 0x10c4, PID: 0xea60}).Resolve(ports); !strings.Contains(err.Error(), "/dev/ttyUSB0, /dev/ttyUSB1") {
		t.Errorf("ambiguity does not name the ports: %v", err)
	}
}

func TestPortInfos(t *testing.T) {
	got := portInfos([]*enumerator.PortDetails{
		{Name: "/dev/ttyUSB1", IsUSB: true, VID: "10C4", PID: "EA60", SerialNumber: "0001", Manufacturer: "Silicon Labs", Product: "CP2102 USB to UART Bridge Controller"},
		{}, // the Linux enumerator returns this for a tty without a sysfs device
		{Name: "/dev/ttyAMA0", VID: "ignored"},
		{Name: "/dev/ttyACM0", IsUSB: true, VID: "zz", PID: "0042"},
		nil,
	})
	want := []PortInfo{
		{Name: "/dev/ttyACM0", IsUSB: true, VID: 0, PID: 0x42},
		{Name: "/dev/ttyAMA0"},
		{Name: "/dev/ttyUSB1", IsUSB: true, VID: 0x10c4, PID: 0xea60, SerialNumber: "0001", Manufacturer: "Silicon Labs", Product: "CP2102 USB to UART Bridge Controller"},
	}
	if len(got) != len(want) {
		t.Fatalf("got %+v", got)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("port %d: %+v, want %+v", i, got[i], want[i])
		}
	}
	if s := got[2].String(); s != "/dev/ttyUSB1 (USB 10c4:ea60:0001 CP2102 USB to UART Bridge Controller)" {
		t.Errorf("String() = %q", s)
	}
	if s := got[1].String(); s != "/dev/ttyAMA0" {
		t.Errorf("String() = %q", s)
	}
}

// TestList runs the real enumerator: whatever this machine has, it must not
// fail or return unnamed ports.
func TestList(t *testing.T) {
	ports, err := List()
	if err != nil {
		t.Skipf("no port enumeration here: %v", err)
	}
	for _, p := range ports {
		if p.Name == "" {
			t.Errorf("unnamed port %+v", p)
		}
		t.Log(p)
	}
}
