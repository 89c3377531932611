package lora

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"time"

	"periph.io/x/conn/v3/physic"
)

// Bandwidth is a LoRa signal bandwidth in hertz, as the datasheet names it
// (RegModemConfig1 Bw, p. 112). Only the ten values below exist.
type Bandwidth int

// The signal bandwidths of RegModemConfig1 (codes 0000..1001). The datasheet
// rounds them; the exact values (500 kHz / 64, / 48, ...) are what Hz returns.
const (
	BW7k8   Bandwidth = 7800   // 0000: 7.8 kHz (7812.5 Hz)
	BW10k4  Bandwidth = 10400  // 0001: 10.4 kHz (10416.7 Hz)
	BW15k6  Bandwidth = 15600  // 0010: 15.6 kHz (15625 Hz)
	BW20k8  Bandwidth = 20800  // 0011: 20.8 kHz (20833.3 Hz)
	BW31k25 Bandwidth = 31250  // 0100: 31.25 kHz
	BW41k7  Bandwidth = 41700  // 0101: 41.7 kHz (41666.7 Hz)
	BW62k5  Bandwidth = 62500  // 0110: 62.5 kHz
	BW125k  Bandwidth = 125000 // 0111: 125 kHz
	BW250k  Bandwidth = 250000 // 1000: 250 kHz
	BW500k  Bandwidth = 500000 // 1001: 500 kHz
)

// bandwidths lists the register code (index) and exact width of each.
var bandwidths = [...]struct {
	bw Bandwidth
	hz float64
}{
	{BW7k8, 500e3 / 64}, {BW10k4, 500e3 / 48}, {BW15k6, 500e3 / 32}, {BW20k8, 500e3 / 24},
	{BW31k25, 500e3 / 16}, {BW41k7, 500e3 / 12}, {BW62k5, 500e3 / 8}, {BW125k, 125e3},
	{BW250k, 250e3}, {BW500k, 500e3},
}

// code returns the RegModemConfig1 Bw code, or -1 for a width the radio lacks.
func (b Bandwidth) code() int {
	for i, e := range bandwidths {
		if e.bw == b {
			return i
		}
	}
	return -1
}

// Hz returns the exact bandwidth (0 for an invalid value).
func (b Bandwidth) Hz() float64 {
	if c := b.code(); c >= 0 {
		return bandwidths[c].hz
	}
	return 0
}

// String returns the width as the datasheet writes it, e.g. "125kHz".
func (b Bandwidth) String() string {
	return strconv.FormatFloat(float64(b)/1000, 'f', -1, 64) + "kHz"
}

// CodingRate is the forward error correction rate 4/CodingRate: 5 for 4/5
// through 8 for 4/8 (RegModemConfig1 CodingRate 001..100, §4.1.1.3).
type CodingRate int

// The four coding rates.
const (
	CR4_5 CodingRate = 5
	CR4_6 CodingRate = 6
	CR4_7 CodingRate = 7
	CR4_8 CodingRate = 8
)

// String returns "4/5".."4/8".
func (c CodingRate) String() string { return "4/" + strconv.Itoa(int(c)) }

// Sync words (RegSyncWord). Both ends of a link must use the same one.
const (
	SyncWordPrivate = 0x12 // the reset value; private networks
	SyncWordLoRaWAN = 0x34 // LoRaWAN public networks
)

// Config is the radio configuration. Both ends of a link must agree on
// Frequency, SpreadingFactor, Bandwidth, SyncWord, CRC and header mode (the
// coding rate travels in the explicit header). Start from a region preset
// such as EU868 and change what differs.
type Config struct {
	// Frequency is the carrier, 137–1020 MHz (the SX1276 range; an SX1278
	// stops at 525 MHz). It is rounded to the 61.035 Hz synthesizer step.
	Frequency physic.Frequency
	// SpreadingFactor is 7..12 (128..4096 chips per symbol). SF6 needs
	// implicit header mode (§4.1.1.2), which Validate rejects.
	SpreadingFactor int
	// Bandwidth is one of the BW constants.
	Bandwidth Bandwidth
	// CodingRate is CR4_5..CR4_8.
	CodingRate CodingRate
	// SyncWord is written to RegSyncWord: SyncWordPrivate or SyncWordLoRaWAN
	// (any non-zero byte is accepted).
	SyncWord byte
	// PreambleLength is the programmed preamble in symbols, 6..65535; the
	// radio sends 4.25 symbols more (§4.1.1.6).
	PreambleLength int
	// TxPower is the output power on the PA_BOOST pin, 2..20 dBm; above
	// 17 dBm the +20 dBm PA (RegPaDac 0x87) is used, which the datasheet
	// rates for a 1% transmit duty cycle (§5.4.3). Modules wired to the RFO
	// pin instead of PA_BOOST are not supported.
	TxPower int
	// DisableCRC turns the payload CRC off. With the CRC on (the default) a
	// received packet whose header says it has no CRC is rejected.
	DisableCRC bool
	// ImplicitHeader selects implicit header mode. TimeOnAir honours it,
	// but Validate rejects it: implicit header packets have a fixed length
	// and OSP packets do not.
	ImplicitHeader bool
	// DutyCycle is the fraction of time the gateway may transmit, over a
	// sliding window (see Options.DutyCycleWindow): 0.01 for the EU868
	// sub-band of 868.1 MHz (ETSI EN 300 220, 1%); 0 means unlimited.
	DutyCycle float64
}

// EU868 returns the EU868 defaults: 868.1 MHz, SF7, 125 kHz, 4/5, 8-symbol
// preamble, CRC on, private sync word, 14 dBm, 1% duty cycle.
func EU868() Config {
	return Config{
		Frequency:       868100 * physic.KiloHertz,
		SpreadingFactor: 7,
		Bandwidth:       BW125k,
		CodingRate:      CR4_5,
		SyncWord:        SyncWordPrivate,
		PreambleLength:  8,
		TxPower:         14,
		DutyCycle:       0.01,
	}
}

// Limits of the configuration (datasheet §2 and §4.1.1).
const (
	minFrequency = 137 * physic.MegaHertz
	maxFrequency = 1020 * physic.MegaHertz
	minTxPower   = 2  // dBm on PA_BOOST: Pout = 17 − (15 − 0)
	maxTxPower   = 20 // dBm with RegPaDac 0x87
	minPreamble  = 6
	maxPreamble  = 65535
)

// Validate reports every invalid field, each error naming the field and its
// value and wrapping ErrConfig.
func (c Config) Validate() error {
	var errs []error
	bad := func(format string, a ...any) {
		errs = append(errs, fmt.Errorf("%w: "+format, append([]any{ErrConfig}, a...)...))
	}
	if c.Frequency < minFrequency || c.Frequency > maxFrequency {
		bad("Frequency %s: want %s..%s", c.Frequency, minFrequency, maxFrequency)
	}
	switch {
	case c.SpreadingFactor == 6:
		bad("SpreadingFactor 6: needs implicit header mode (datasheet §4.1.1.2), which OSP's variable-length packets cannot use; want 7..12")
	case c.SpreadingFactor < 7 || c.SpreadingFactor > 12:
		bad("SpreadingFactor %d: want 7..12", c.SpreadingFactor)
	}
	if c.Bandwidth.code() < 0 {
		bad("Bandwidth %d Hz: want one of 7800, 10400, 15600, 20800, 31250, 41700, 62500, 125000, 250000, 500000", int(c.Bandwidth))
	} else if c.Bandwidth >= BW250k && c.Frequency <= 175*physic.MegaHertz {
		// p. 112: "In the lower band (169MHz), signal bandwidths 8&9 are not supported".
		bad("Bandwidth %s at %s: 250 and 500 kHz are not supported in the 169 MHz band", c.Bandwidth, c.Frequency)
	}
	if c.CodingRate < CR4_5 || c.CodingRate > CR4_8 {
		bad("CodingRate %d: want 5..8 (4/5..4/8)", int(c.CodingRate))
	}
	if c.SyncWord == 0 {
		bad("SyncWord 0x00: want 0x12 (private) or 0x34 (LoRaWAN public)")
	}
	if c.PreambleLength < minPreamble || c.PreambleLength > maxPreamble {
		bad("PreambleLength %d: want %d..%d symbols", c.PreambleLength, minPreamble, maxPreamble)
	}
	if c.TxPower < minTxPower || c.TxPower > maxTxPower {
		bad("TxPower %d dBm: want %d..%d (PA_BOOST)", c.TxPower, minTxPower, maxTxPower)
	}
	if c.ImplicitHeader {
		bad("ImplicitHeader true: implicit header packets have a fixed length; OSP needs explicit header mode")
	}
	if math.IsNaN(c.DutyCycle) || c.DutyCycle < 0 || c.DutyCycle > 1 {
		bad("DutyCycle %v: want 0 (unlimited) or a fraction up to 1", c.DutyCycle)
	}
	return errors.Join(errs...)
}

// SymbolTime is 2^SF / BW (§4.1.1.7).
func (c Config) SymbolTime() time.Duration {
	hz := c.Bandwidth.Hz()
	if hz == 0 || c.SpreadingFactor < 0 || c.SpreadingFactor > 12 {
		return 0
	}
	return time.Duration(math.Round(float64(int(1)<<c.SpreadingFactor) / hz * 1e9))
}

// LowDataRateOptimize reports whether the configuration needs
// LowDataRateOptimize: "Its use is mandated when the symbol duration exceeds
// 16ms" (§4.1.1.6, p. 31). With 125 kHz that is SF11 and SF12.
func (c Config) LowDataRateOptimize() bool {
	return c.SymbolTime() > 16*time.Millisecond
}

// String summarises the configuration, e.g. "868.1MHz/SF7/125kHz/4/5".
func (c Config) String() string {
	return mhz(c.Frequency) + "MHz/SF" + strconv.Itoa(c.SpreadingFactor) + "/" + c.Bandwidth.String() + "/" + c.CodingRate.String()
}

// mhz formats a frequency in MHz with the digits it needs: "868.1".
func mhz(f physic.Frequency) string {
	return strconv.FormatFloat(float64(f/physic.Hertz)/1e6, 'f', -1, 64)
}

// frf returns the 24-bit Frf register value for a carrier frequency, rounded
// to the nearest step: Frf = f / FSTEP = f·2^19 / FXOSC (§4.1.4).
func frf(f physic.Frequency) uint32 {
	hz := uint64(f / physic.Hertz)
	return uint32((hz<<frfShift + fxoscHz/2) / fxoscHz)
}

// highFrequencyPort reports whether f is received on the HF port, which
// selects the RSSI offset and LnaBoostHf.
func highFrequencyPort(f physic.Frequency) bool { return f > midBandHz*physic.Hertz }

// modemConfig returns RegModemConfig1, 2 and 3 for c (pp. 112–113).
func (c Config) modemConfig() (mc1, mc2, mc3 byte) {
	mc1 = byte(c.Bandwidth.code())<<mc1BwShift | byte(c.CodingRate-4)<<mc1CodingRateShift
	if c.ImplicitHeader {
		mc1 |= mc1ImplicitHeader
	}
	mc2 = byte(c.SpreadingFactor) << mc2SFShift
	if !c.DisableCRC {
		mc2 |= mc2RxPayloadCrcOn
	}
	mc3 = mc3AgcAutoOn
	if c.LowDataRateOptimize() {
		mc3 |= mc3LowDataRateOptimize
	}
	return mc1, mc2, mc3
}

// paConfig returns RegPaConfig, RegPaDac and RegOcp for TxPower on PA_BOOST:
// up to 17 dBm Pout = 17 − (15 − OutputPower) with RegPaDac 0x84; 18..20 dBm
// use RegPaDac 0x87 where Pout = 20 − (15 − OutputPower) (the mapping of the
// Semtech reference driver, LoRaMac-node SX1276SetTxConfig), with the
// over-current limit raised to 140 mA (the PA draws about 120 mA at +20 dBm).
func (c Config) paConfig() (pa, dac, ocp byte) {
	if c.TxPower > 17 {
		return paSelectBoost | paMaxPower7 | byte(c.TxPower-5), paDacHigh, ocp140mA
	}
	return paSelectBoost | paMaxPower7 | byte(c.TxPower-2), paDacDefault, ocp100mA
}

// TimeOnAir is the duration of a LoRa packet with a payloadLen-byte payload
// under c, by the formula of §4.1.1.7 (p. 31):
//
//	Tsym      = 2^SF / BW
//	Tpreamble = (npreamble + 4.25) · Tsym
//	npayload  = 8 + max(ceil((8·PL − 4·SF + 28 + 16·CRC − 20·IH) / (4·(SF − 2·DE))) · (CR + 4), 0)
//	Tpacket   = Tpreamble + npayload · Tsym
//
// with IH = 1 in implicit header mode, DE = 1 when LowDataRateOptimize is on
// and CR + 4 the coding rate denominator. The result is rounded to the
// nanosecond. An invalid spreading factor or bandwidth gives 0.
func TimeOnAir(c Config, payloadLen int) time.Duration {
	bw := c.Bandwidth.Hz()
	sf := c.SpreadingFactor
	if bw == 0 || sf < 6 || sf > 12 {
		return 0
	}
	tsym := float64(int(1)<<sf) / bw
	crc, ih, de := 1, 0, 0
	if c.DisableCRC {
		crc = 0
	}
	if c.ImplicitHeader {
		ih = 1
	}
	if c.LowDataRateOptimize() {
		de = 1
	}
	num := float64(8*payloadLen - 4*sf + 28 + 16*crc - 20*ih)
	den := float64(4 * (sf - 2*de))
	n := 8 + math.Max(math.Ceil(num/den)*float64(c.CodingRate), 0)
	t := (float64(c.PreambleLength)+4.25)*tsym + n*tsym
	return time.Duration(math.Round(t * 1e9))
}
