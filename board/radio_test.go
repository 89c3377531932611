package board

import (
	"errors"
	"strings"
	"testing"

	"periph.io/x/conn/v3"
	"periph.io/x/conn/v3/gpio"
	"periph.io/x/conn/v3/gpio/gpiotest"
	"periph.io/x/conn/v3/physic"
	"periph.io/x/conn/v3/spi"
	"periph.io/x/conn/v3/spi/spitest"
)

// fakeHost is a resolver over gpiotest pins and playback SPI ports, standing
// in for periph's registries after host.Init on a Pi.
type fakeHost struct {
	pins   map[string]*gpiotest.Pin
	ports  map[string]*spitest.Playback
	opened []string
}

func newFakeHost(pins ...string) *fakeHost {
	h := &fakeHost{pins: map[string]*gpiotest.Pin{}, ports: map[string]*spitest.Playback{}}
	for _, n := range pins {
		h.pins[n] = &gpiotest.Pin{N: n, EdgesChan: make(chan gpio.Level, 1)}
	}
	for _, n := range []string{"/dev/spidev0.0", "/dev/spidev0.1"} {
		h.ports[n] = &spitest.Playback{}
	}
	return h
}

func (h *fakeHost) resolver() resolver {
	return resolver{
		pin: func(name string) gpio.PinIO {
			if p, ok := h.pins[name]; ok {
				return p
			}
			return nil
		},
		spi: func(name string) (spi.PortCloser, error) {
			p, ok := h.ports[name]
			if !ok {
				return nil, ErrNotFound
			}
			h.opened = append(h.opened, name)
			return p, nil
		},
	}
}

// allPins are the GPIOs the built-in profiles use.
var allPins = []string{"GPIO4", "GPIO5", "GPIO6", "GPIO13", "GPIO16", "GPIO17", "GPIO22", "GPIO25"}

func TestOpenRadioProfiles(t *testing.T) {
	for _, p := range Profiles() {
		t.Run(p.Name, func(t *testing.T) {
			h := newFakeHost(allPins...)
			r, err := h.resolver().openRadio(p.Name, p.Pins)
			if err != nil {
				t.Fatal(err)
			}
			if r.Name != p.Name || r.Port == nil || r.DIO0 == nil || r.DIO0.Name() != p.Pins.DIO0 {
				t.Fatalf("radio %+v", r)
			}
			_, softCS := r.Port.(*csPort)
			if (r.Reset == nil) != (p.Pins.Reset == "") || softCS != (p.Pins.CS != "") {
				t.Fatalf("reset/cs presence wrong: %+v for %+v", r, p.Pins)
			}
			if softCS && h.pins[p.Pins.CS].Read() != gpio.High {
				t.Fatal("software chip select not idle high")
			}
			if len(h.opened) != 1 || h.opened[0] != p.Pins.SPI {
				t.Fatalf("opened %v, want %s", h.opened, p.Pins.SPI)
			}
			if !strings.Contains(r.String(), p.Name) {
				t.Fatalf("String() %q", r.String())
			}
			if err := r.Close(); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestOpenRadioNamesTheMissingLine(t *testing.T) {
	dragino, _ := LookupProfile("dragino-lora-gps-hat")
	for _, tc := range []struct {
		pins   []string
		m      PinMap
		device string
	}{
		{[]string{"GPIO17", "GPIO25"}, dragino.Pins, "lora dio0 GPIO4"},
		{[]string{"GPIO4", "GPIO25"}, dragino.Pins, "lora reset GPIO17"},
		{[]string{"GPIO4", "GPIO17"}, dragino.Pins, "lora cs GPIO25"},
		{allPins, PinMap{SPI: "/dev/spidev1.0", DIO0: "GPIO4"}, "lora spi /dev/spidev1.0"},
	} {
		h := newFakeHost(tc.pins...)
		_, err := h.resolver().openRadio("test", tc.m)
		var de *DeviceError
		if !errors.As(err, &de) || de.Device != tc.device || !errors.Is(err, ErrNotFound) {
			t.Errorf("err %v, want ErrNotFound for %q", err, tc.device)
		}
		if len(h.opened) != 0 {
			t.Errorf("port left open after failing on %s", tc.device)
		}
	}
	_, err := newFakeHost(allPins...).resolver().openRadio("custom", PinMap{SPI: "SPI0.0"})
	if !errors.Is(err, ErrInvalidConfig) {
		t.Errorf("incomplete pin map: %v", err)
	}
}

// TestOpenRadioRegistries goes through periph's real registries (OpenRadio
// and openSPI), with test pins and a port registered in them.
func TestOpenRadioRegistries(t *testing.T) {
	registerTestPin(t, &gpiotest.Pin{N: "BOARDTEST_DIO0", Num: 9911})
	registerTestPin(t, &gpiotest.Pin{N: "BOARDTEST_RST", Num: 9912})
	registerTestSPI(t, "/dev/spidev8.1", "SPI8.1")
	r, err := OpenRadio("custom", PinMap{SPI: "SPI8.1", Reset: "BOARDTEST_RST", DIO0: "BOARDTEST_DIO0"})
	if err != nil {
		t.Fatal(err)
	}
	if _, softCS := r.Port.(*csPort); r.DIO0.Name() != "BOARDTEST_DIO0" || r.Reset == nil || softCS {
		t.Fatalf("radio %+v", r)
	}
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	_, err = OpenRadio("custom", PinMap{SPI: "SPI7.0", DIO0: "BOARDTEST_DIO0"})
	if !errors.Is(err, ErrNotFound) || !strings.Contains(err.Error(), "lora spi SPI7.0") {
		t.Fatalf("unknown port: %v", err)
	}
}

// csProbe is an SPI port that records the chip select's level during each
// transaction.
type csProbe struct {
	cs     *gpiotest.Pin
	levels []string
	closed bool
}

func (p *csProbe) String() string                                            { return "probe" }
func (p *csProbe) Close() error                                              { p.closed = true; return nil }
func (p *csProbe) LimitSpeed(physic.Frequency) error                         { return nil }
func (p *csProbe) Duplex() conn.Duplex                                       { return conn.Full }
func (p *csProbe) Tx(w, r []byte) error                                      { p.record("tx"); return nil }
func (p *csProbe) TxPackets(pk []spi.Packet) error                           { p.record("packets"); return nil }
func (p *csProbe) Connect(physic.Frequency, spi.Mode, int) (spi.Conn, error) { return p, nil }

func (p *csProbe) record(op string) { p.levels = append(p.levels, op+":"+p.cs.Read().String()) }

// TestSoftwareChipSelect: with a cs pin (the Dragino HAT), the radio's port
// holds it low for each transaction and high between them.
func TestSoftwareChipSelect(t *testing.T) {
	h := newFakeHost("GPIO4", "GPIO17", "GPIO25")
	probe := &csProbe{cs: h.pins["GPIO25"]}
	res := h.resolver()
	res.spi = func(string) (spi.PortCloser, error) { return probe, nil }
	dragino, _ := LookupProfile("dragino-lora-gps-hat")
	r, err := res.openRadio(dragino.Name, dragino.Pins)
	if err != nil {
		t.Fatal(err)
	}
	if got := r.Port.String(); got != "probe cs GPIO25" {
		t.Fatalf("String() %q", got)
	}
	c, err := r.Port.Connect(0, spi.Mode0, 8)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Tx([]byte{0x42, 0}, make([]byte, 2)); err != nil {
		t.Fatal(err)
	}
	if h.pins["GPIO25"].Read() != gpio.High {
		t.Fatal("cs not released after Tx")
	}
	if err := c.TxPackets([]spi.Packet{{W: []byte{1}}, {W: []byte{2}, KeepCS: true}}); err != nil {
		t.Fatal(err)
	}
	if h.pins["GPIO25"].Read() != gpio.Low {
		t.Fatal("cs released after a last packet with KeepCS")
	}
	if err := c.TxPackets([]spi.Packet{{W: []byte{3}}}); err != nil {
		t.Fatal(err)
	}
	if got, want := strings.Join(probe.levels, " "), "tx:Low packets:Low packets:Low"; got != want {
		t.Fatalf("cs levels %q, want %q", got, want)
	}
	if h.pins["GPIO25"].Read() != gpio.High {
		t.Fatal("cs not released")
	}
	if err := r.Close(); err != nil || !probe.closed {
		t.Fatalf("Close: %v, closed %v", err, probe.closed)
	}
}

func TestProfiles(t *testing.T) {
	names := map[string]bool{}
	for _, p := range Profiles() {
		if names[p.Name] {
			t.Errorf("duplicate profile %s", p.Name)
		}
		names[p.Name] = true
		if err := p.Pins.check("pins"); err != nil {
			t.Errorf("%s: %v", p.Name, err)
		}
		if p.Description == "" {
			t.Errorf("%s: no description", p.Name)
		}
		// A profile's lines are distinct.
		seen := map[string]bool{}
		for _, n := range []string{p.Pins.CS, p.Pins.Reset, p.Pins.DIO0, p.Pins.LED, p.Pins.Button} {
			if n != "" && seen[n] {
				t.Errorf("%s: %s used twice", p.Name, n)
			}
			seen[n] = true
		}
		if err := (Config{LoRaHAT: p.Name}).Validate(); err != nil {
			t.Errorf("%s as lora_hat: %v", p.Name, err)
		}
	}
	for _, want := range []string{"adafruit-rfm9x-bonnet", "dragino-lora-gps-hat"} {
		if _, ok := LookupProfile(want); !ok {
			t.Errorf("profile %s missing", want)
		}
	}
	if _, ok := LookupProfile(ProfileCustom); ok {
		t.Error("custom is not a built-in profile")
	}
	// The wiring the sources agree on, pinned.
	bonnet, _ := LookupProfile("adafruit-rfm9x-bonnet")
	if bonnet.Pins != (PinMap{SPI: "/dev/spidev0.1", Reset: "GPIO25", DIO0: "GPIO22", Button: "GPIO5"}) {
		t.Errorf("bonnet %+v", bonnet.Pins)
	}
	dragino, _ := LookupProfile("dragino-lora-gps-hat")
	if dragino.Pins != (PinMap{SPI: "/dev/spidev0.0", CS: "GPIO25", Reset: "GPIO17", DIO0: "GPIO4"}) {
		t.Errorf("dragino %+v", dragino.Pins)
	}
}
