package lora

import "periph.io/x/conn/v3/conntest"

// Register transactions of the SX1276 as spitest.Playback replays them.
//
// They were written from the datasheet (Rev. 4, March 2015), not captured
// from a chip: every value is derived in the comment beside it, with the
// section or page that defines it. A write is {W: {0x80|addr, data...}}; a
// read is {W: {addr, 0x00}, R: {x, value}} where x, the byte clocked out
// while the address goes in, is not used (§4.3). Burst accesses carry
// several data bytes; on RegFifo (0x00) they all go to/come from the FIFO.

// recInitEU868 is Open with EU868(): 868.1 MHz, SF7, 125 kHz, 4/5, CRC on,
// 8-symbol preamble, sync word 0x12, 14 dBm on PA_BOOST. It follows the
// NRESET pulse (reset pin: low 1 ms, high, 6 ms).
var recInitEU868 = []conntest.IO{
	// RegVersion (0x42) → 0x12: an SX1276/77/78/79.
	{W: []byte{0x42, 0x00}, R: []byte{0x00, 0x12}},
	// RegOpMode (0x01) ← 0x00: LongRangeMode 0 (FSK, the reset state),
	// LowFrequencyModeOn 0 (868 MHz is on the HF port), Mode 000 SLEEP.
	// LongRangeMode may only change in Sleep mode.
	{W: []byte{0x81, 0x00}},
	// RegOpMode ← 0x80: LongRangeMode 1 (LoRa), SLEEP.
	{W: []byte{0x81, 0x80}},
	// RegOpMode → 0x80: LoRa mode was taken.
	{W: []byte{0x01, 0x00}, R: []byte{0x00, 0x80}},
	// RegFrfMsb, RegFrfMid, RegFrfLsb (0x06..0x08, one burst) ← 0xD9 0x06 0x66:
	// Frf = 868.1e6 / (32e6 / 2^19) = 14222950.4 → 14222950 = 0xD90666
	// (§4.1.4); 14222950 × 61.03515625 Hz = 868.099976 MHz.
	{W: []byte{0x86, 0xD9, 0x06, 0x66}},
	// RegPaConfig (0x09) ← 0xFC: PaSelect 1 (PA_BOOST), MaxPower 111,
	// OutputPower 1100 = 12: Pout = 17 − (15 − 12) = 14 dBm (p. 94).
	{W: []byte{0x89, 0xFC}},
	// RegPaDac (0x4D) ← 0x84: PaDac 100, the default PA_BOOST setting;
	// 0x87 is only for +20 dBm (§5.4.3).
	{W: []byte{0xCD, 0x84}},
	// RegOcp (0x0B) ← 0x2B: OcpOn 1, OcpTrim 01011 = 11: 45 + 5·11 = 100 mA
	// (the reset value, §5.4.4).
	{W: []byte{0x8B, 0x2B}},
	// RegLna (0x0C) ← 0x23: LnaGain 001 (G1, maximum), LnaBoostHf 11
	// (boost on, 150% LNA current).
	{W: []byte{0x8C, 0x23}},
	// RegModemConfig1 (0x1D) ← 0x72: Bw 0111 (125 kHz), CodingRate 001
	// (4/5), ImplicitHeaderModeOn 0 (explicit header) (p. 112).
	{W: []byte{0x9D, 0x72}},
	// RegModemConfig2 (0x1E) ← 0x74: SpreadingFactor 0111 (SF7, 128
	// chips/symbol), TxContinuousMode 0, RxPayloadCrcOn 1, SymbTimeout(9:8) 00.
	{W: []byte{0x9E, 0x74}},
	// RegModemConfig3 (0x26) ← 0x04: LowDataRateOptimize 0 (symbol time
	// 2^7 / 125 kHz = 1.024 ms ≤ 16 ms, §4.1.1.6), AgcAutoOn 1.
	{W: []byte{0xA6, 0x04}},
	// RegPreambleMsb, RegPreambleLsb (0x20, 0x21, one burst) ← 0x00 0x08:
	// 8 symbols (the radio adds 4.25).
	{W: []byte{0xA0, 0x00, 0x08}},
	// RegSyncWord (0x39) ← 0x12: private networks (0x34 is LoRaWAN).
	{W: []byte{0xB9, 0x12}},
	// RegMaxPayloadLength (0x23) ← 0xFF: 255 bytes.
	{W: []byte{0xA3, 0xFF}},
	// RegFifoTxBaseAddr (0x0E) ← 0x00 and RegFifoRxBaseAddr (0x0F) ← 0x00:
	// half-duplex, each direction may use the whole 256-byte FIFO (§4.1.2.3).
	{W: []byte{0x8E, 0x00}},
	{W: []byte{0x8F, 0x00}},
	// RegIrqFlagsMask (0x11) ← 0x97: RxTimeout, ValidHeader, CadDone,
	// FhssChangeChannel, CadDetected masked; RxDone (0x40),
	// PayloadCrcError (0x20), TxDone (0x08) raised (p. 111).
	{W: []byte{0x91, 0x97}},
	// RegIrqFlags (0x12) ← 0xFF: clear every flag (write 1 to clear).
	{W: []byte{0x92, 0xFF}},
	// RegDioMapping1 (0x40) ← 0x00: Dio0Mapping 00 = RxDone (Table 18).
	{W: []byte{0xC0, 0x00}},
	// RegOpMode ← 0x85: LoRa, Mode 101 RXCONTINUOUS.
	{W: []byte{0x81, 0x85}},
}

// recInit434SF12 is Open at 434 MHz (LF port), SF12, 125 kHz, 4/8, sync
// word 0x34, 10-symbol preamble, +20 dBm: the registers that differ from
// recInitEU868.
var recInit434SF12 = []conntest.IO{
	// RegVersion → 0x12.
	{W: []byte{0x42, 0x00}, R: []byte{0x00, 0x12}},
	// RegOpMode ← 0x08: FSK, LowFrequencyModeOn 1 (434 MHz, LF port), SLEEP.
	{W: []byte{0x81, 0x08}},
	// RegOpMode ← 0x88: LoRa, LowFrequencyModeOn 1, SLEEP.
	{W: []byte{0x81, 0x88}},
	// RegOpMode → 0x88.
	{W: []byte{0x01, 0x00}, R: []byte{0x00, 0x88}},
	// RegFrf ← 0x6C 0x80 0x00: 434e6 · 2^19 / 32e6 = 7110656 = 0x6C8000,
	// which the datasheet gives as the reset value "434.000 MHz" (p. 94).
	{W: []byte{0x86, 0x6C, 0x80, 0x00}},
	// RegPaConfig ← 0xFF: PA_BOOST, MaxPower 111, OutputPower 15: with the
	// +20 dBm PA, Pout = 20 − (15 − 15) = 20 dBm.
	{W: []byte{0x89, 0xFF}},
	// RegPaDac ← 0x87: +20 dBm on PA_BOOST (§5.4.3).
	{W: []byte{0xCD, 0x87}},
	// RegOcp ← 0x31: OcpOn 1, OcpTrim 10001 = 17: −30 + 10·17 = 140 mA
	// (the PA draws about 120 mA at +20 dBm).
	{W: []byte{0x8B, 0x31}},
	// RegLna ← 0x20: LnaGain G1, no HF boost on the LF port.
	{W: []byte{0x8C, 0x20}},
	// RegModemConfig1 ← 0x78: Bw 0111 (125 kHz), CodingRate 100 (4/8), explicit.
	{W: []byte{0x9D, 0x78}},
	// RegModemConfig2 ← 0xC4: SpreadingFactor 1100 (SF12), RxPayloadCrcOn 1.
	{W: []byte{0x9E, 0xC4}},
	// RegModemConfig3 ← 0x0C: LowDataRateOptimize 1 (symbol 2^12 / 125 kHz
	// = 32.768 ms > 16 ms, mandated by §4.1.1.6), AgcAutoOn 1.
	{W: []byte{0xA6, 0x0C}},
	// RegPreamble ← 0x00 0x0A: 10 symbols.
	{W: []byte{0xA0, 0x00, 0x0A}},
	// RegSyncWord ← 0x34: LoRaWAN public.
	{W: []byte{0xB9, 0x34}},
	{W: []byte{0xA3, 0xFF}}, // RegMaxPayloadLength ← 255
	{W: []byte{0x8E, 0x00}}, // RegFifoTxBaseAddr ← 0x00
	{W: []byte{0x8F, 0x00}}, // RegFifoRxBaseAddr ← 0x00
	{W: []byte{0x91, 0x97}}, // RegIrqFlagsMask ← 0x97
	{W: []byte{0x92, 0xFF}}, // RegIrqFlags ← 0xFF: clear all
	{W: []byte{0xC0, 0x00}}, // RegDioMapping1 ← DIO0 = RxDone
	// RegOpMode ← 0x8D: LoRa, LowFrequencyModeOn 1, RXCONTINUOUS.
	{W: []byte{0x81, 0x8D}},
}

// recWrongVersion: an SX1272 (RegVersion 0x22) answers instead.
var recWrongVersion = []conntest.IO{
	{W: []byte{0x42, 0x00}, R: []byte{0x00, 0x22}},
}

// recNoChip: nothing on the bus, MISO pulled low.
var recNoChip = []conntest.IO{
	{W: []byte{0x42, 0x00}, R: []byte{0x00, 0x00}},
}

// pktHello is the payload of the received and transmitted packets: an OSP
// PINGREQ header would do as well; the driver does not look inside.
var pktHello = []byte("hello")

// recRxHello is one reception after DIO0 rose (continuous mode, §4.1.6 p. 41):
// check the flags, clear them, check the CRC, read the FIFO, read RSSI/SNR.
var recRxHello = []conntest.IO{
	// RegIrqFlags → 0x40: RxDone, no PayloadCrcError.
	{W: []byte{0x12, 0x00}, R: []byte{0x00, 0x40}},
	// RegIrqFlags ← 0x40: clear RxDone (DIO0 falls, ready for the next packet).
	{W: []byte{0x92, 0x40}},
	// RegHopChannel (0x1C) → 0x40: CrcOnPayload 1, the sender used a CRC (p. 112).
	{W: []byte{0x1C, 0x00}, R: []byte{0x00, 0x40}},
	// RegRxNbBytes (0x13) → 5 payload bytes.
	{W: []byte{0x13, 0x00}, R: []byte{0x00, 0x05}},
	// RegFifoRxCurrentAddr (0x10) → 0x00: the packet starts at the RX base.
	{W: []byte{0x10, 0x00}, R: []byte{0x00, 0x00}},
	// RegFifoAddrPtr (0x0D) ← 0x00.
	{W: []byte{0x8D, 0x00}},
	// RegFifo (0x00), burst read of 5 bytes → "hello".
	{W: []byte{0x00, 0x00, 0x00, 0x00, 0x00, 0x00}, R: []byte{0x00, 'h', 'e', 'l', 'l', 'o'}},
	// RegPktSnrValue (0x19) → 0x1E = 30: SNR = 30 / 4 = 7.5 dB.
	{W: []byte{0x19, 0x00}, R: []byte{0x00, 0x1E}},
	// RegPktRssiValue (0x1A) → 0x5A = 90: RSSI = −157 + 90 = −67 dBm (HF port, SNR ≥ 0).
	{W: []byte{0x1A, 0x00}, R: []byte{0x00, 0x5A}},
}

// recRxWeak is the next packet in continuous mode, below the noise floor:
// it was written after the first one in the FIFO.
var recRxWeak = []conntest.IO{
	{W: []byte{0x12, 0x00}, R: []byte{0x00, 0x40}},                         // RegIrqFlags → RxDone
	{W: []byte{0x92, 0x40}},                                                // clear RxDone
	{W: []byte{0x1C, 0x00}, R: []byte{0x00, 0x40}},                         // RegHopChannel → CrcOnPayload 1
	{W: []byte{0x13, 0x00}, R: []byte{0x00, 0x03}},                         // RegRxNbBytes → 3
	{W: []byte{0x10, 0x00}, R: []byte{0x00, 0x05}},                         // RegFifoRxCurrentAddr → 0x05, after "hello"
	{W: []byte{0x8D, 0x05}},                                                // RegFifoAddrPtr ← 0x05
	{W: []byte{0x00, 0x00, 0x00, 0x00}, R: []byte{0x00, 0x01, 0x02, 0x03}}, // RegFifo → 01 02 03
	// RegPktSnrValue → 0xF6 = −10 (two's complement): SNR = −2.5 dB.
	{W: []byte{0x19, 0x00}, R: []byte{0x00, 0xF6}},
	// RegPktRssiValue → 0x0A = 10: SNR < 0, so RSSI = −157 + 10 + (−10)·0.25 = −149.5 dBm (§5.5.5).
	{W: []byte{0x1A, 0x00}, R: []byte{0x00, 0x0A}},
}

// recRxCRCError: RxDone with PayloadCrcError; the packet is not read.
var recRxCRCError = []conntest.IO{
	{W: []byte{0x12, 0x00}, R: []byte{0x00, 0x60}}, // RegIrqFlags → RxDone | PayloadCrcError
	{W: []byte{0x92, 0x60}},                        // clear both
}

// recRxNoCRC: a packet whose explicit header says "no CRC" (§4.1.1.6):
// PayloadCrcError cannot be trusted, so it is rejected.
var recRxNoCRC = []conntest.IO{
	{W: []byte{0x12, 0x00}, R: []byte{0x00, 0x40}}, // RegIrqFlags → RxDone
	{W: []byte{0x92, 0x40}},                        // clear RxDone
	{W: []byte{0x1C, 0x00}, R: []byte{0x00, 0x00}}, // RegHopChannel → CrcOnPayload 0
}

// recTxHello transmits "hello" (the datasheet's data transmission sequence,
// §4.1.6) and returns to continuous reception.
var recTxHello = []conntest.IO{
	// RegOpMode ← 0x81: LoRa, STDBY (FIFO access needs Standby; stops RX).
	{W: []byte{0x81, 0x81}},
	// RegIrqFlags ← 0xFF: clear what reception left.
	{W: []byte{0x92, 0xFF}},
	// RegDioMapping1 ← 0x40: Dio0Mapping 01 = TxDone (Table 18).
	{W: []byte{0xC0, 0x40}},
	// RegFifoAddrPtr ← 0x00 = FifoTxBaseAddr.
	{W: []byte{0x8D, 0x00}},
	// RegPayloadLength (0x22) ← 5.
	{W: []byte{0xA2, 0x05}},
	// RegFifo, burst write ← "hello".
	{W: []byte{0x80, 'h', 'e', 'l', 'l', 'o'}},
	// RegOpMode ← 0x83: LoRa, TX. The radio returns to STDBY after TxDone.
	{W: []byte{0x81, 0x83}},
}

// recTxDone follows recTxHello once DIO0 rose (or a poll saw TxDone).
var recTxDone = []conntest.IO{
	// RegIrqFlags → 0x08: TxDone.
	{W: []byte{0x12, 0x00}, R: []byte{0x00, 0x08}},
	// RegIrqFlags ← 0xFF: clear.
	{W: []byte{0x92, 0xFF}},
	// RegDioMapping1 ← 0x00: DIO0 = RxDone again.
	{W: []byte{0xC0, 0x00}},
	// RegOpMode ← 0x85: RXCONTINUOUS.
	{W: []byte{0x81, 0x85}},
}

// recPollIdle is a poll of RegIrqFlags that finds nothing.
var recPollIdle = []conntest.IO{
	{W: []byte{0x12, 0x00}, R: []byte{0x00, 0x00}},
}

// recHalt puts the radio to sleep: RegOpMode ← 0x80 (LoRa, SLEEP).
var recHalt = []conntest.IO{
	{W: []byte{0x81, 0x80}},
}

// recResume restarts reception after Halt: DIO0 = RxDone, RXCONTINUOUS.
var recResume = []conntest.IO{
	{W: []byte{0xC0, 0x00}},
	{W: []byte{0x81, 0x85}},
}

// seq concatenates recordings.
func seq(parts ...[]conntest.IO) []conntest.IO {
	var all []conntest.IO
	for _, p := range parts {
		all = append(all, p...)
	}
	return all
}
