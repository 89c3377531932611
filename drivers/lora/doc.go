// Package lora is the OSP link over LoRa: a driver for Semtech SX1276/77/78/79
// radios (HopeRF RFM95W/96W/98W and similar modules) on periph.io SPI and
// GPIO, and a Link that carries one OSP packet in each LoRa packet.
//
// # Driver
//
// Open resets the chip through NRESET, checks RegVersion (0x12), switches it
// to LoRa mode, programs the Config (frequency, spreading factor, bandwidth,
// coding rate, sync word, preamble, payload CRC, PA_BOOST power) and leaves
// it in continuous receive. DIO0 signals RxDone, or TxDone while a packet is
// sent; without a DIO0 line (or without edge detection on it) the driver
// polls RegIrqFlags. A Dev does not own its SPI port or pins.
//
//	          Open                       Transmit
//	reset ──► Sleep ──► LoRa/Sleep ──► RXCONTINUOUS ◄──────────────┐
//	                    (configure)      │ Transmit                │ TxDone
//	                                     ▼                         │
//	                                   STDBY ──► FIFO ──► TX ──────┘
//
// Everything is taken from the datasheet "SX1276/77/78/79 - 137 MHz to 1020
// MHz Low Power Long Range Transceiver", Rev. 4, March 2015 (Semtech):
// registers in regs.go with their sections, TimeOnAir from §4.1.1.7, RSSI and
// SNR from §5.5.5. Where the datasheet leaves a choice (reset timing, the
// +20 dBm OutputPower mapping, the HF/LF RSSI threshold) the Semtech
// reference driver LoRaMac-node (src/radio/sx1276) is followed and named.
//
// Not supported: implicit header mode and so SF6 (OSP packets vary in
// length), the RFO output pin, frequency hopping, CAD, FSK/OOK.
//
// # Link
//
// A Link runs a Radio (a *Dev, or a fake in tests): Run receives packets and
// hands each to a Handler (the OSP server) with a Peer that carries the
// packet's RSSI and SNR. Replies sent through a Peer are queued, because the
// radio is half-duplex and regulated: the queue is drained between
// receptions, each reply only when the duty-cycle limit (Config.DutyCycle
// over Options.DutyCycleWindow: 1% per sliding hour for EU868) allows its
// time on air. A reply that cannot go within Options.MaxQueueDelay, or
// finds the queue full, is dropped, counted and reported to
// Options.OnError. Nothing is logged; no state is global.
//
// # Tests
//
// The driver tests replay register transactions (recording_test.go) with
// periph's spitest.Playback and drive NRESET and DIO0 with gpiotest.Pin on a
// fake clock. The recordings were written from the datasheet, each
// transaction commented with the value's derivation, not captured from
// hardware: they pin the driver to the datasheet, not to a chip's
// behaviour. The Link is tested over a fake Radio and a manual Clock, and
// once over the playback Dev.
package lora
