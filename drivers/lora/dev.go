package lora

import (
	"context"
	"fmt"
	"sync"
	"time"

	"periph.io/x/conn/v3"
	"periph.io/x/conn/v3/gpio"
	"periph.io/x/conn/v3/physic"
	"periph.io/x/conn/v3/spi"
)

// Pins are the GPIO lines of a radio besides SPI. Both may be nil.
type Pins struct {
	// Reset is NRESET (active low). Open pulses it to reset the chip; nil
	// skips the hardware reset (the registers Open does not write then keep
	// whatever they held).
	Reset gpio.PinIO
	// DIO0 carries RxDone while receiving and TxDone while transmitting
	// (Table 18). Nil, or a pin without edge detection, makes the Dev poll
	// RegIrqFlags instead.
	DIO0 gpio.PinIO
}

// DevOptions tune a Dev. The zero value is usable.
type DevOptions struct {
	// SPIFrequency is the SPI clock (default 4 MHz; the chip allows up to
	// 10 MHz). SPI mode 0, 8-bit words, MSB first (§4.3).
	SPIFrequency physic.Frequency
	// PollInterval is how often RegIrqFlags is read when DIO0 edges are not
	// available (default 5 ms).
	PollInterval time.Duration
	// EdgeTimeout bounds each wait for a DIO0 edge, hence how soon Receive
	// notices its context is done (default 50 ms). After a wait that saw no
	// edge the pin level is checked, so an edge lost while DIO0 was already
	// high is still served.
	EdgeTimeout time.Duration
	// Sleep waits during the reset sequence (default time.Sleep).
	Sleep func(time.Duration)
}

// Reset timing (§7.2.2 "Manual Reset"): NRESET low for at least 100 µs, then
// 5 ms before the chip is used. The Semtech reference driver (LoRaMac-node
// SX1276Reset) uses 1 ms and 6 ms; so does this one.
const (
	resetPulse = time.Millisecond
	resetWait  = 6 * time.Millisecond
)

// Packet is one received LoRa packet.
type Packet struct {
	// Data is the payload. A Dev reuses the buffer: it is valid until the
	// next Receive.
	Data []byte
	// RSSI is the packet's signal strength in dBm (§5.5.5), SNR its
	// signal-to-noise ratio in dB.
	RSSI, SNR float32
}

// Dev is an SX1276/77/78/79 radio in LoRa mode, kept in continuous receive
// (RXCONTINUOUS) except while it transmits. Receive and Transmit serialise on
// a lock: a caller that wants to transmit while another goroutine receives
// cancels that Receive first (Link does).
type Dev struct {
	c     spi.Conn
	reset gpio.PinIO
	dio0  gpio.PinIO
	edges bool // DIO0 edges are delivered
	cfg   Config
	opts  DevOptions
	hf    bool // high-frequency port: RSSI offset −157, LnaBoostHf
	lf    byte // opLowFrequency or 0, kept in every RegOpMode write

	mu     sync.Mutex
	halted bool
	w, r   [1 + MaxPayload]byte // SPI buffers: address byte + FIFO
	rx     [MaxPayload]byte     // the last packet received
}

var (
	_ Radio         = (*Dev)(nil)
	_ conn.Resource = (*Dev)(nil)
)

// Open connects to the radio on port, resets it through pins.Reset, checks
// the silicon version (RegVersion must read 0x12), puts it in LoRa mode,
// applies cfg and starts continuous reception. The Dev does not own port.
func Open(port spi.Port, pins Pins, cfg Config, opts DevOptions) (*Dev, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if opts.SPIFrequency <= 0 {
		opts.SPIFrequency = 4 * physic.MegaHertz
	}
	if opts.PollInterval <= 0 {
		opts.PollInterval = 5 * time.Millisecond
	}
	if opts.EdgeTimeout <= 0 {
		opts.EdgeTimeout = 50 * time.Millisecond
	}
	if opts.Sleep == nil {
		opts.Sleep = time.Sleep
	}
	c, err := port.Connect(opts.SPIFrequency, spi.Mode0, 8)
	if err != nil {
		return nil, fmt.Errorf("lora: spi connect: %w", err)
	}
	d := &Dev{c: c, reset: pins.Reset, dio0: pins.DIO0, cfg: cfg, opts: opts, hf: highFrequencyPort(cfg.Frequency)}
	if !d.hf {
		d.lf = opLowFrequency
	}
	if err := d.init(); err != nil {
		return nil, err
	}
	return d, nil
}

// init is the whole start-up sequence; dev_test.go replays it register by
// register.
func (d *Dev) init() error {
	if d.reset != nil {
		if err := d.reset.Out(gpio.Low); err != nil {
			return fmt.Errorf("lora: reset: %w", err)
		}
		d.opts.Sleep(resetPulse)
		if err := d.reset.Out(gpio.High); err != nil {
			return fmt.Errorf("lora: reset: %w", err)
		}
		d.opts.Sleep(resetWait)
	}
	v, err := d.read(regVersion)
	if err != nil {
		return err
	}
	if v != siliconVersion {
		return fmt.Errorf("%w: RegVersion (0x%02X) reads 0x%02X, want 0x%02X (0x00 or 0xFF: check wiring and power)",
			ErrVersion, regVersion, v, siliconVersion)
	}
	// LongRangeMode can be changed only in Sleep mode (§6.4, RegOpMode):
	// enter Sleep first, then set the bit, then check it took.
	if err := d.write(regOpMode, d.lf|opSleep); err != nil {
		return err
	}
	lora := opLongRangeMode | d.lf | opSleep
	if err := d.write(regOpMode, lora); err != nil {
		return err
	}
	if m, err := d.read(regOpMode); err != nil {
		return err
	} else if m != lora {
		return fmt.Errorf("%w: RegOpMode reads 0x%02X after writing 0x%02X", ErrMode, m, lora)
	}
	f := frf(d.cfg.Frequency)
	pa, dac, ocp := d.cfg.paConfig()
	mc1, mc2, mc3 := d.cfg.modemConfig()
	lna := byte(lnaGainG1)
	if d.hf {
		lna |= lnaBoostHfOn
	}
	steps := []struct {
		reg byte
		val []byte
	}{
		{regFrfMsb, []byte{byte(f >> 16), byte(f >> 8), byte(f)}}, // burst: Msb, Mid, Lsb
		{regPaConfig, []byte{pa}},
		{regPaDac, []byte{dac}},
		{regOcp, []byte{ocp}},
		{regLna, []byte{lna}},
		{regModemConfig1, []byte{mc1}},
		{regModemConfig2, []byte{mc2}},
		{regModemConfig3, []byte{mc3}},
		{regPreambleMsb, []byte{byte(d.cfg.PreambleLength >> 8), byte(d.cfg.PreambleLength)}}, // burst: Msb, Lsb
		{regSyncWord, []byte{d.cfg.SyncWord}},
		{regMaxPayloadLength, []byte{MaxPayload}},
		{regFifoTxBaseAddr, []byte{fifoTxBase}},
		{regFifoRxBaseAddr, []byte{fifoRxBase}},
		{regIrqFlagsMask, []byte{irqMask}},
		{regIrqFlags, []byte{irqAll}},
	}
	for _, s := range steps {
		if err := d.write(s.reg, s.val...); err != nil {
			return err
		}
	}
	if d.dio0 != nil {
		// DIO0 is a push-pull output, high while the mapped IRQ is set.
		d.edges = d.dio0.In(gpio.PullDown, gpio.RisingEdge) == nil
	}
	return d.startRx()
}

// startRx maps DIO0 to RxDone and enters RXCONTINUOUS.
func (d *Dev) startRx() error {
	if err := d.write(regDioMapping1, dio0RxDone); err != nil {
		return err
	}
	return d.write(regOpMode, opLongRangeMode|d.lf|opRxContinuous)
}

// Config returns the configuration the radio runs with.
func (d *Dev) Config() Config { return d.cfg }

// Interrupts reports whether DIO0 edges drive the Dev (false: it polls).
func (d *Dev) Interrupts() bool { return d.edges }

// String names the radio and its settings, e.g. "sx127x:868.1MHz/SF7/125kHz/4/5".
func (d *Dev) String() string { return "sx127x:" + d.cfg.String() }

// Halt puts the radio to sleep (registers are kept). The next Receive or
// Transmit starts reception again.
func (d *Dev) Halt() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.halted = true
	return d.write(regOpMode, opLongRangeMode|d.lf|opSleep)
}

func (d *Dev) resume() error {
	if !d.halted {
		return nil
	}
	if err := d.startRx(); err != nil {
		return err
	}
	d.halted = false
	return nil
}

// Receive waits for the next packet. It returns ctx.Err() when ctx is done,
// an error wrapping ErrCRC for a packet that failed (or lacks) its payload
// CRC (the receiver keeps running), and other errors for SPI failures. The
// sequence is the datasheet's continuous reception (§4.1.6, p. 41): on
// RxDone check PayloadCrcError, then read RegRxNbBytes bytes from
// RegFifoRxCurrentAddr.
func (d *Dev) Receive(ctx context.Context) (Packet, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if err := d.resume(); err != nil {
		return Packet{}, err
	}
	for {
		if d.edges {
			pending, err := d.waitIRQ(ctx, d.opts.EdgeTimeout)
			if err != nil {
				return Packet{}, err
			}
			if !pending {
				continue
			}
		}
		flags, err := d.read(regIrqFlags)
		if err != nil {
			return Packet{}, err
		}
		if flags&irqRxDone != 0 {
			return d.readPacket(flags)
		}
		if flags != 0 {
			// A stray flag (a TxDone left over): clear it so DIO0 can rise again.
			if err := d.write(regIrqFlags, flags); err != nil {
				return Packet{}, err
			}
		}
		if !d.edges {
			if err := sleepCtx(ctx, d.opts.PollInterval); err != nil {
				return Packet{}, err
			}
		}
	}
}

// readPacket serves an RxDone. The flags are cleared first so that the next
// packet (the receiver keeps running) raises DIO0 again.
func (d *Dev) readPacket(flags byte) (Packet, error) {
	if err := d.write(regIrqFlags, flags); err != nil {
		return Packet{}, err
	}
	if flags&irqPayloadCrcError != 0 {
		return Packet{}, ErrCRC
	}
	if !d.cfg.DisableCRC {
		hop, err := d.read(regHopChannel)
		if err != nil {
			return Packet{}, err
		}
		if hop&hopCrcOnPayload == 0 {
			return Packet{}, ErrNoCRC
		}
	}
	n, err := d.read(regRxNbBytes)
	if err != nil {
		return Packet{}, err
	}
	addr, err := d.read(regFifoRxCurrentAddr)
	if err != nil {
		return Packet{}, err
	}
	if err := d.write(regFifoAddrPtr, addr); err != nil {
		return Packet{}, err
	}
	data, err := d.readFIFO(int(n))
	if err != nil {
		return Packet{}, err
	}
	snr, err := d.read(regPktSnrValue)
	if err != nil {
		return Packet{}, err
	}
	rssi, err := d.read(regPktRssiValue)
	if err != nil {
		return Packet{}, err
	}
	p := Packet{Data: data}
	p.RSSI, p.SNR = packetSignal(rssi, snr, d.hf)
	return p, nil
}

// packetSignal converts RegPktRssiValue and RegPktSnrValue (§5.5.5, p. 111):
// SNR = PacketSnr / 4 (two's complement); RSSI = offset + PacketRssi, plus
// PacketSnr·0.25 when the SNR is negative (a packet below the noise floor),
// with offset −157 dBm on the HF port and −164 dBm on the LF port.
func packetSignal(pktRssi, pktSnr byte, hf bool) (rssi, snr float32) {
	snr = float32(int8(pktSnr)) / 4
	off := float32(rssiOffsetLF)
	if hf {
		off = rssiOffsetHF
	}
	rssi = off + float32(pktRssi)
	if snr < 0 {
		rssi += snr
	}
	return rssi, snr
}

// Transmit sends one packet and returns when the radio reports TxDone, then
// resumes reception. The sequence is the datasheet's (§4.1.6): Standby, fill
// the FIFO from FifoTxBaseAddr, set RegPayloadLength, TX mode, wait for
// TxDone on DIO0 (mapped to TxDone for the transmission) or RegIrqFlags. The
// radio returns to Standby by itself after TxDone.
func (d *Dev) Transmit(ctx context.Context, pkt []byte) error {
	if len(pkt) == 0 || len(pkt) > MaxPayload {
		return fmt.Errorf("%w: %d bytes", ErrPacketSize, len(pkt))
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	d.halted = false
	steps := []struct {
		reg byte
		val []byte
	}{
		{regOpMode, []byte{opLongRangeMode | d.lf | opStandby}}, // stop receiving; the FIFO is accessible in Standby
		{regIrqFlags, []byte{irqAll}},                           // drop whatever RX left, so the FIFO is ours
		{regDioMapping1, []byte{dio0TxDone}},
		{regFifoAddrPtr, []byte{fifoTxBase}},
		{regPayloadLength, []byte{byte(len(pkt))}},
		{regFifo, pkt},
		{regOpMode, []byte{opLongRangeMode | d.lf | opTx}},
	}
	for _, s := range steps {
		if err := d.write(s.reg, s.val...); err != nil {
			return err
		}
	}
	deadline := time.Now().Add(2*TimeOnAir(d.cfg, len(pkt)) + time.Second)
	werr := d.waitTxDone(ctx, deadline)
	if werr != nil {
		// Abandon the transmission: back to Standby, then clear.
		if err := d.write(regOpMode, opLongRangeMode|d.lf|opStandby); err != nil {
			return err
		}
	}
	if err := d.write(regIrqFlags, irqAll); err != nil {
		return err
	}
	if err := d.startRx(); err != nil {
		return err
	}
	return werr
}

// waitTxDone waits for RegIrqFlags TxDone until deadline or ctx is done.
func (d *Dev) waitTxDone(ctx context.Context, deadline time.Time) error {
	for {
		if d.edges {
			wait := max(min(d.opts.EdgeTimeout, time.Until(deadline)), time.Millisecond)
			pending, err := d.waitIRQ(ctx, wait)
			if err != nil {
				return err
			}
			if !pending && time.Now().Before(deadline) {
				continue
			}
		}
		flags, err := d.read(regIrqFlags)
		if err != nil {
			return err
		}
		if flags&irqTxDone != 0 {
			return nil
		}
		if time.Now().After(deadline) {
			return ErrTxTimeout
		}
		if !d.edges {
			if err := sleepCtx(ctx, d.opts.PollInterval); err != nil {
				return err
			}
		}
	}
}

// waitIRQ waits up to slice for a DIO0 edge and reports whether an IRQ may
// be pending: an edge came, or DIO0 is high (an edge lost while it was
// already high). It returns ctx.Err() once ctx is done.
func (d *Dev) waitIRQ(ctx context.Context, slice time.Duration) (bool, error) {
	if err := ctx.Err(); err != nil {
		return false, err
	}
	edge := d.dio0.WaitForEdge(slice)
	if err := ctx.Err(); err != nil {
		return false, err
	}
	return edge || d.dio0.Read() == gpio.High, nil
}

// sleepCtx waits for d or ctx.
func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// read reads one register: W {addr, 0x00}, R {junk, value} (§4.3).
func (d *Dev) read(reg byte) (byte, error) {
	w, r := d.w[:2], d.r[:2]
	w[0], w[1] = reg, 0
	if err := d.c.Tx(w, r); err != nil {
		return 0, fmt.Errorf("lora: read register 0x%02X: %w", reg, err)
	}
	return r[1], nil
}

// write writes v to reg and the registers after it (burst access), or to
// the FIFO when reg is RegFifo: W {0x80|addr, v...}.
func (d *Dev) write(reg byte, v ...byte) error {
	w := append(d.w[:0], spiWrite|reg)
	w = append(w, v...)
	if err := d.c.Tx(w, nil); err != nil {
		return fmt.Errorf("lora: write register 0x%02X: %w", reg, err)
	}
	return nil
}

// readFIFO reads n bytes from RegFifo at RegFifoAddrPtr in one burst into
// the Dev's receive buffer, which the result aliases.
func (d *Dev) readFIFO(n int) ([]byte, error) {
	w, r := d.w[:1+n], d.r[:1+n]
	clear(w)
	w[0] = regFifo
	if err := d.c.Tx(w, r); err != nil {
		return nil, fmt.Errorf("lora: read FIFO: %w", err)
	}
	return d.rx[:copy(d.rx[:], r[1:])], nil
}
