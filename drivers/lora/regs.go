package lora

// Registers and bit fields of the SX1276/77/78/79 in LoRa mode.
//
// References are to the Semtech datasheet "SX1276/77/78/79 - 137 MHz to 1020
// MHz Low Power Long Range Transceiver", Rev. 4 (March 2015): § for sections,
// p. for pages of that revision (later revisions renumber some chapters).
// The register tables are §6 ("Description of the Registers"), the LoRa-mode
// registers in §6.4; the addresses, bit fields and reset values below are
// from there and agree with Semtech's reference driver (LoRaMac-node
// sx1276Regs-LoRa.h). Only the registers this driver touches are named.

// Register addresses (§6.4).
const (
	regFifo              = 0x00 // RegFifo: FIFO read/write access (§4.1.2.3)
	regOpMode            = 0x01 // RegOpMode: LongRangeMode, LowFrequencyModeOn, Mode (§4.1.3)
	regFrfMsb            = 0x06 // RegFrfMsb: Frf(23:16); Mid 0x07 and Lsb 0x08 follow (§4.1.4)
	regPaConfig          = 0x09 // RegPaConfig: PaSelect, MaxPower, OutputPower (§5.4.2, p. 94)
	regOcp               = 0x0B // RegOcp: OcpOn, OcpTrim (§5.4.4)
	regLna               = 0x0C // RegLna: LnaGain, LnaBoostHf
	regFifoAddrPtr       = 0x0D // RegFifoAddrPtr: SPI pointer into the FIFO (§4.1.2.3)
	regFifoTxBaseAddr    = 0x0E // RegFifoTxBaseAddr: where TX data starts
	regFifoRxBaseAddr    = 0x0F // RegFifoRxBaseAddr: where RX data starts
	regFifoRxCurrentAddr = 0x10 // RegFifoRxCurrentAddr: start of the last packet received
	regIrqFlagsMask      = 0x11 // RegIrqFlagsMask: 1 masks the IRQ
	regIrqFlags          = 0x12 // RegIrqFlags: write 1 to clear (p. 111)
	regRxNbBytes         = 0x13 // RegRxNbBytes: payload bytes of the last packet (p. 111)
	regPktSnrValue       = 0x19 // RegPktSnrValue: SNR of the last packet, two's complement ×4 (p. 111)
	regPktRssiValue      = 0x1A // RegPktRssiValue: RSSI of the last packet (p. 112, §5.5.5)
	regHopChannel        = 0x1C // RegHopChannel: PllTimeout, CrcOnPayload (p. 112)
	regModemConfig1      = 0x1D // RegModemConfig1: Bw, CodingRate, ImplicitHeaderModeOn (p. 112)
	regModemConfig2      = 0x1E // RegModemConfig2: SpreadingFactor, TxContinuousMode, RxPayloadCrcOn, SymbTimeout(9:8)
	regPreambleMsb       = 0x20 // RegPreambleMsb: PreambleLength(15:8); Lsb 0x21 follows
	regPayloadLength     = 0x22 // RegPayloadLength: bytes to send (TX) / expected (implicit RX)
	regMaxPayloadLength  = 0x23 // RegMaxPayloadLength: longer headers raise a header CRC error
	regModemConfig3      = 0x26 // RegModemConfig3: LowDataRateOptimize, AgcAutoOn
	regSyncWord          = 0x39 // RegSyncWord: LoRa sync word (reset 0x12)
	regDioMapping1       = 0x40 // RegDioMapping1: Dio0Mapping..Dio3Mapping (Table 18)
	regVersion           = 0x42 // RegVersion: silicon revision
	regPaDac             = 0x4D // RegPaDac: high power PA_BOOST settings (§5.4.3)
)

// SPI access (§4.3 "SPI Interface"): the first byte is wnr (1 write, 0 read)
// followed by the 7-bit address; in burst access the address auto-increments,
// except for RegFifo where successive bytes go to/come from the FIFO.
const spiWrite = 0x80

// RegOpMode (§4.1.3, §6.4).
const (
	opLongRangeMode = 0x80 // bit 7: 1 = LoRa; writable only in Sleep mode
	opLowFrequency  = 0x08 // bit 3 LowFrequencyModeOn: 1 = access to LF test registers
	opSleep         = 0x00 // Mode 000: SLEEP
	opStandby       = 0x01 // Mode 001: STDBY
	opTx            = 0x03 // Mode 011: TX (returns to STDBY after TxDone)
	opRxContinuous  = 0x05 // Mode 101: RXCONTINUOUS
)

// RegIrqFlags and RegIrqFlagsMask bits (p. 111).
const (
	irqRxTimeout       = 0x80
	irqRxDone          = 0x40
	irqPayloadCrcError = 0x20
	irqValidHeader     = 0x10
	irqTxDone          = 0x08
	irqCadDone         = 0x04
	irqFhssChange      = 0x02
	irqCadDetected     = 0x01
	irqAll             = 0xFF
	// irqMask is written to RegIrqFlagsMask: only RxDone, PayloadCrcError
	// and TxDone are raised; the rest (RXSINGLE timeout, header, CAD,
	// frequency hopping) is unused by this driver.
	irqMask = irqRxTimeout | irqValidHeader | irqCadDone | irqFhssChange | irqCadDetected
)

// RegHopChannel bit 6 CrcOnPayload (p. 112): CRC information extracted from
// the received header (explicit header mode only).
const hopCrcOnPayload = 0x40

// RegModemConfig1 (p. 112): Bw in bits 7-4, CodingRate in bits 3-1,
// ImplicitHeaderModeOn in bit 0.
const (
	mc1BwShift         = 4
	mc1CodingRateShift = 1 // 001 = 4/5 ... 100 = 4/8
	mc1ImplicitHeader  = 0x01
)

// RegModemConfig2: SpreadingFactor in bits 7-4 (6..12), TxContinuousMode
// bit 3 (0 = normal, one packet), RxPayloadCrcOn bit 2, SymbTimeout(9:8)
// in bits 1-0 (only used in RXSINGLE; left 00).
const (
	mc2SFShift        = 4
	mc2RxPayloadCrcOn = 0x04
)

// RegModemConfig3: LowDataRateOptimize bit 3 (mandated when the symbol lasts
// more than 16 ms, §4.1.1.6), AgcAutoOn bit 2 (LNA gain set by the AGC).
const (
	mc3LowDataRateOptimize = 0x08
	mc3AgcAutoOn           = 0x04
)

// RegLna: LnaGain bits 7-5 (001 = G1, maximum gain; the AGC overrides it when
// AgcAutoOn is set), LnaBoostHf bits 1-0 (11 = boost on, 150% LNA current,
// high-frequency port only).
const (
	lnaGainG1    = 0x20
	lnaBoostHfOn = 0x03
)

// RegPaConfig (p. 94): PaSelect bit 7 (1 = PA_BOOST pin, up to +20 dBm),
// MaxPower bits 6-4 (Pmax = 10.8 + 0.6·MaxPower, RFO pin only), OutputPower
// bits 3-0: Pout = 17 − (15 − OutputPower) on PA_BOOST.
const (
	paSelectBoost = 0x80
	paMaxPower7   = 0x70 // MaxPower 111, as the Semtech reference driver sets it
)

// RegPaDac bits 2-0 (§5.4.3 "High Power +20 dBm Operation"); bits 7-3 are
// reserved and keep their reset value 10000b.
const (
	paDacDefault = 0x84 // 0x04: default power on PA_BOOST (up to +17 dBm)
	paDacHigh    = 0x87 // 0x07: +20 dBm on PA_BOOST
)

// RegOcp (§5.4.4): OcpOn bit 5, OcpTrim bits 4-0 with
// Imax = 45 + 5·OcpTrim mA (OcpTrim ≤ 15) or −30 + 10·OcpTrim mA (15 < OcpTrim ≤ 27).
const (
	ocpOn    = 0x20
	ocp100mA = ocpOn | 11 // 0x2B, the reset value: 45 + 5·11 = 100 mA
	ocp140mA = ocpOn | 17 // 0x31: −30 + 10·17 = 140 mA, for +18..+20 dBm on PA_BOOST
)

// RegDioMapping1 bits 7-6 Dio0Mapping in LoRa mode (Table 18 "DIO Mapping
// LoRa Mode"): 00 = RxDone, 01 = TxDone, 10 = CadDone. DIO1..DIO3 are left
// at 00 (RxTimeout, FhssChangeChannel, CadDone) and not wired by this driver.
const (
	dio0RxDone = 0x00
	dio0TxDone = 0x40
)

// RegVersion: the SX1276/77/78/79 read 0x12 (the SX1272 reads 0x22).
const siliconVersion = 0x12

// FIFO (§4.1.2.3): 256 bytes shared by TX and RX. The radio is half-duplex,
// so both base addresses are 0 and a packet may use the whole FIFO.
const (
	fifoTxBase = 0x00
	fifoRxBase = 0x00
	// MaxPayload is the largest LoRa payload: RegPayloadLength and
	// RegRxNbBytes are 8-bit registers.
	MaxPayload = 255
)

// Frequency synthesizer (§4.1.4): FSTEP = FXOSC / 2^19 with FXOSC = 32 MHz,
// that is 61.03515625 Hz, and FRF = FSTEP × Frf(23:0).
const (
	fxoscHz  = 32_000_000
	frfShift = 19
)

// RSSI offsets of §5.5.5: −157 dBm on the high-frequency port (RFI_HF, the
// 862–1020 MHz band of the SX1276), −164 dBm on the low-frequency port.
// midBandHz is the threshold the Semtech reference driver (LoRaMac-node
// RF_MID_BAND_THRESH) uses to tell the two ports apart.
const (
	rssiOffsetHF = -157
	rssiOffsetLF = -164
	midBandHz    = 525_000_000
)
