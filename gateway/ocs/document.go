package ocs

import (
	"encoding/json"
	"fmt"

	"github.com/edgegate/edgegate/gateway/things"
	"github.com/edgegate/edgegate/store"
)

// Serviceinfo module and message names of the gateway's binding (see
// docs/ocs-binding.md).
const (
	// ModuleOSP carries OSP sensors' readings up (MsgReading) and the
	// owner's commands and firmware down (MsgCommand, MsgFirmware), with
	// their outcomes up (MsgCommandResult, MsgFirmwareStatus).
	ModuleOSP = "osp"
	// ModuleNative carries native things' updates up (MsgUpdate).
	ModuleNative = "nativething"

	MsgReading        = "reading"
	MsgUpdate         = "update"
	MsgCommand        = "command"
	MsgCommandResult  = "command-result"
	MsgFirmware       = "firmware"
	MsgFirmwareStatus = "firmware-status"

	// PSI settings of module osp the gateway applies to a device.
	PSIName    = "name"
	PSIProfile = "profile"
)

// Reading flags as journaled (OSP's C/S/A bits).
const (
	flagAckReq = 1 << 1
	flagSaved  = 1 << 2
	flagCached = 1 << 3
)

// ReadingDoc is the value of one reading's device serviceinfo message
// (module osp, msg reading): compact JSON, one per journaled reading. A back
// end de-duplicates on (Gateway, Seq): the forwarder delivers at least once.
type ReadingDoc struct {
	// Gateway is the gateway's UUID.
	Gateway string `json:"gw"`
	// Seq is the reading's journal sequence: unique per gateway, gap-free
	// and increasing in the order the gateway received the readings.
	Seq uint64 `json:"seq"`
	// Boot numbers the gateway's starts; Mono is the reading's time in
	// nanoseconds since the start of that boot (see docs/ocs-binding.md).
	Boot uint64 `json:"boot"`
	Mono int64  `json:"mono"`
	// Time is the gateway's wall clock at receipt, in the reference's
	// timestamp format (UTC, no zone: [FormatTimestamp]).
	Time string `json:"t"`
	// Device is the OSP device, "DeviceType:ModuleID".
	Device    string `json:"dev"`
	SID       uint16 `json:"sid"`
	DataType  uint16 `json:"dataType"`
	MessageID uint8  `json:"msgId"`
	Cached    bool   `json:"cached"`
	Saved     bool   `json:"saved"`
	AckReq    bool   `json:"ackReq"`
	// Auth reports whether the packet was verified under the device's key.
	Auth bool `json:"auth"`
	// Link names the link the packet came on; RSSI (dBm) and SNR (dB) are
	// its radio link quality, 0 on links without.
	Link string  `json:"link"`
	RSSI float32 `json:"rssi"`
	SNR  float32 `json:"snr"`
	// Payload is the DATA payload as received (base64 in JSON).
	Payload []byte `json:"payload"`
	// Values are the payload decoded with the device's profile, or one raw
	// value when it does not decode.
	Values []things.PropertyValue `json:"values"`
}

// NativeDoc is the value of one native thing update (module nativething,
// msg update). A back end de-duplicates on (Gateway, Seq).
type NativeDoc struct {
	Gateway string `json:"gw"`
	// Seq numbers the gateway's outbox entries (not the journal).
	Seq uint64 `json:"seq"`
	// Thing is the hub's thing id.
	Thing string `json:"thing"`
	// Event is "changed", "added", "removed", "presence" or "snapshot".
	Event string `json:"event"`
	Time  string `json:"t"`
	Name  string `json:"name,omitempty"`
	// Values are the reading's values (changed) or the thing's current
	// ones (added, snapshot).
	Values  []things.PropertyValue `json:"values,omitempty"`
	Present bool                   `json:"present"`
}

// CommandResultDoc is the value of a command's outcome (module osp, msg
// command-result).
type CommandResultDoc struct {
	Gateway string `json:"gw"`
	// ValueID names the owner's command entry.
	ValueID string `json:"valueId"`
	Time    string `json:"t"`
	// Status is "done" (the sensor answered) or "failed" (Error says why).
	Status    string `json:"status"`
	CommandID uint8  `json:"cmdId"`
	ExitCode  uint8  `json:"exitCode"`
	// Response is the sensor's response bytes (base64 in JSON).
	Response []byte `json:"response"`
	Error    string `json:"error,omitempty"`
}

// FirmwareStatusDoc is the value of a firmware entry's outcome (module osp,
// msg firmware-status).
type FirmwareStatusDoc struct {
	Gateway string `json:"gw"`
	ValueID string `json:"valueId"`
	Time    string `json:"t"`
	// Status is "cached" (the image is ready for FIRMWARE requests) or
	// "failed".
	Status string `json:"status"`
	Size   int64  `json:"size"`
	SHA256 string `json:"sha256,omitempty"`
	Chunks int    `json:"chunks,omitempty"`
	Error  string `json:"error,omitempty"`
}

// bootRecord is one start of the gateway: readings from FirstSeq on were
// journaled after it began at Wall (Unix ns).
type bootRecord struct {
	Boot     uint64 `json:"boot"`
	FirstSeq uint64 `json:"firstSeq"`
	Wall     int64  `json:"wall"`
}

// readingDoc builds the document of r.
func readingDoc(gw string, boot bootRecord, r *store.Reading, values []things.PropertyValue) ReadingDoc {
	if values == nil {
		values = []things.PropertyValue{}
	}
	var mono int64
	if boot.Boot != 0 {
		mono = r.Time.UnixNano() - boot.Wall
	}
	return ReadingDoc{
		Gateway: gw, Seq: r.Seq, Boot: boot.Boot, Mono: mono,
		Time:   FormatTimestamp(r.Time),
		Device: r.Device.String(),
		SID:    r.SID, DataType: r.DataType, MessageID: r.MessageID,
		Cached: r.Flags&flagCached != 0, Saved: r.Flags&flagSaved != 0, AckReq: r.Flags&flagAckReq != 0,
		Auth: r.Authenticated, Link: r.Link, RSSI: r.RSSI, SNR: r.SNR, Payload: r.Payload, Values: values,
	}
}

// ParseReadingDoc decodes a reading's serviceinfo value, checking the
// fields a back end keys on.
func ParseReadingDoc(value string) (ReadingDoc, error) {
	var d ReadingDoc
	if err := json.Unmarshal([]byte(value), &d); err != nil {
		return ReadingDoc{}, fmt.Errorf("ocs: reading document: %w: %v", ErrInvalid, err)
	}
	if d.Gateway == "" || d.Seq == 0 || d.Device == "" {
		return ReadingDoc{}, fmt.Errorf("ocs: reading document: %w: gw, seq and dev are required", ErrInvalid)
	}
	if _, err := ParseTimestamp(d.Time); err != nil {
		return ReadingDoc{}, fmt.Errorf("ocs: reading document: %w", err)
	}
	return d, nil
}

// encodeDoc marshals a document compactly (no HTML escaping).
func encodeDoc(v any) (string, error) {
	b, err := marshal(v)
	if err != nil {
		return "", fmt.Errorf("ocs: encode document: %w", err)
	}
	return string(b), nil
}
