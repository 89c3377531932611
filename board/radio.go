package board

import (
	"errors"
	"fmt"
	"sync"

	"periph.io/x/conn/v3/gpio"
	"periph.io/x/conn/v3/gpio/gpioreg"
	"periph.io/x/conn/v3/physic"
	"periph.io/x/conn/v3/spi"
	"periph.io/x/conn/v3/spi/spireg"
)

// Radio is an opened [PinMap]: the lines an SX127x driver (drivers/lora)
// works with. The SPI port is not yet connected (mode, speed: the driver's
// business) and DIO0 not yet set up for edges.
//
// Whoever opened the Radio owns it and closes it; drivers get Port as an
// spi.Port and the pins, never the Radio.
type Radio struct {
	// Name is the profile the wiring came from, or "custom".
	Name string
	// Port is the SPI port. Where the wiring has a software chip select
	// (PinMap.CS), Port drives it itself, low around each transaction, so
	// a driver uses it like any port.
	Port spi.PortCloser
	// Reset is the radio's NRESET line; nil when not wired.
	Reset gpio.PinIO
	// DIO0 is the radio's DIO0 line.
	DIO0 gpio.PinIO
}

// Close closes the SPI port.
func (r *Radio) Close() error {
	if err := r.Port.Close(); err != nil {
		return deviceErr("lora spi "+r.Port.String(), err)
	}
	return nil
}

// resolver finds periph devices by name: periph's registries in production,
// fakes in tests.
type resolver struct {
	pin func(name string) gpio.PinIO
	spi func(name string) (spi.PortCloser, error)
}

func periphResolver() resolver { return resolver{pin: gpioreg.ByName, spi: openSPI} }

// openSPI opens a spireg port by name or alias, telling a name that is not
// registered (ErrNotFound) from a port that fails to open.
func openSPI(name string) (spi.PortCloser, error) {
	for _, r := range spireg.All() {
		known := r.Name == name
		for _, a := range r.Aliases {
			known = known || a == name
		}
		if known {
			return r.Open()
		}
	}
	return nil, ErrNotFound
}

// OpenRadio resolves m through periph's gpioreg and spireg (filled by [Init])
// and opens the SPI port; name labels the wiring ("custom" or a profile).
// The error, a [*DeviceError], names the first line that failed ("lora
// dio0 GPIO22"); nothing stays open on error.
func OpenRadio(name string, m PinMap) (*Radio, error) {
	return periphResolver().openRadio(name, m)
}

func (res resolver) openRadio(name string, m PinMap) (*Radio, error) {
	if err := m.check("pins"); err != nil {
		return nil, deviceErr("lora radio "+name, err)
	}
	r := &Radio{Name: name}
	pin := func(role, pinName string) (gpio.PinIO, error) {
		p := res.pin(pinName)
		if p == nil {
			return nil, deviceErr("lora "+role+" "+pinName, ErrNotFound)
		}
		return p, nil
	}
	p, err := pin("dio0", m.DIO0)
	if err != nil {
		return nil, err
	}
	r.DIO0 = p
	if m.Reset != "" {
		if r.Reset, err = pin("reset", m.Reset); err != nil {
			return nil, err
		}
	}
	var cs gpio.PinIO
	if m.CS != "" {
		if cs, err = pin("cs", m.CS); err != nil {
			return nil, err
		}
		if err := cs.Out(gpio.High); err != nil {
			return nil, deviceErr("lora cs "+m.CS, err)
		}
	}
	port, err := res.spi(m.SPI)
	if err != nil {
		return nil, deviceErr("lora spi "+m.SPI, err)
	}
	if port == nil {
		return nil, deviceErr("lora spi "+m.SPI, errors.New("opener returned no port"))
	}
	r.Port = port
	if cs != nil {
		r.Port = &csPort{PortCloser: port, cs: cs}
	}
	return r, nil
}

// csPort is an SPI port whose chip select is a GPIO driven by software: the
// Dragino HAT wires the radio's NSS to GPIO25, not to CE0. The kernel still
// toggles the port's own CE line, which such a HAT leaves unconnected.
type csPort struct {
	spi.PortCloser
	cs gpio.PinOut
}

// Connect connects the port and wraps the connection.
func (p *csPort) Connect(f physic.Frequency, mode spi.Mode, bits int) (spi.Conn, error) {
	c, err := p.PortCloser.Connect(f, mode, bits)
	if err != nil {
		return nil, err
	}
	return &csConn{Conn: c, cs: p.cs}, nil
}

// String names the port and its chip select.
func (p *csPort) String() string { return p.PortCloser.String() + " cs " + p.cs.Name() }

// csConn asserts (drives low) the chip select for each transaction.
type csConn struct {
	spi.Conn
	cs gpio.PinOut
	mu sync.Mutex // one transaction at a time on the line
}

// Tx frames one transaction with the chip select.
func (c *csConn) Tx(w, r []byte) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := c.cs.Out(gpio.Low); err != nil {
		return fmt.Errorf("chip select %s: %w", c.cs.Name(), err)
	}
	err := c.Conn.Tx(w, r)
	if herr := c.cs.Out(gpio.High); err == nil && herr != nil {
		err = fmt.Errorf("chip select %s: %w", c.cs.Name(), herr)
	}
	return err
}

// TxPackets frames the packets with the chip select, held between them; it
// stays asserted after a last packet with KeepCS, as spi.Conn specifies. A
// KeepCS false between packets does not blip it.
func (c *csConn) TxPackets(p []spi.Packet) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := c.cs.Out(gpio.Low); err != nil {
		return fmt.Errorf("chip select %s: %w", c.cs.Name(), err)
	}
	err := c.Conn.TxPackets(p)
	if err != nil || len(p) == 0 || !p[len(p)-1].KeepCS {
		if herr := c.cs.Out(gpio.High); err == nil && herr != nil {
			err = fmt.Errorf("chip select %s: %w", c.cs.Name(), herr)
		}
	}
	return err
}

// String describes the radio's wiring.
func (r *Radio) String() string {
	return fmt.Sprintf("lora radio %s on %s", r.Name, r.Port)
}
