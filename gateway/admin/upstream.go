package admin

import "time"

// The upstream OCS's endpoints, added by the gateway with HandleJSON (404
// without an upstream):
//
//	GET  /v1/upstream/status               UpstreamStatus
//	POST /v1/upstream/deadletters/requeue  UpstreamDeadLetterRequest -> {"count": N}
//	POST /v1/upstream/deadletters/discard  UpstreamDeadLetterRequest -> {"count": N}

// UpstreamStatus is what the admin API shows of the upstream OCS: where it
// is, the forwarder's and the puller's counters, and the dead letters
// (without what they carried).
type UpstreamStatus struct {
	URL         string                 `json:"url"`
	Bundled     bool                   `json:"bundled"`
	Forwarder   UpstreamForwarderStats `json:"forwarder"`
	Puller      UpstreamPullerStats    `json:"puller"`
	LastError   string                 `json:"lastError,omitempty"`
	DeadLetters []UpstreamDeadLetter   `json:"deadLetters"`
}

// UpstreamForwarderStats are the OCS forwarder's counters.
type UpstreamForwarderStats struct {
	// Cursor is the last journal sequence the OCS confirmed; LastSeq the
	// journal's last; QueueDepth their difference.
	Cursor     uint64 `json:"cursor" metric:"gauge"`
	LastSeq    uint64 `json:"lastSeq" metric:"gauge"`
	QueueDepth uint64 `json:"queueDepth" metric:"gauge"`
	// OldestAgeSeconds is the age of the oldest reading not yet
	// forwarded (0 when none waits).
	OldestAgeSeconds int64 `json:"oldestAgeSeconds"`
	// Forwarded counts readings and outbox entries the OCS confirmed since
	// start; Posts the POSTs made, Batches the journal batches completed.
	Forwarded uint64 `json:"forwarded"`
	Posts     uint64 `json:"posts"`
	Batches   uint64 `json:"batches"`
	// Errors counts failed POSTs; Retries the backoffs.
	Errors  uint64 `json:"errors"`
	Retries uint64 `json:"retries"`
	// DeadLetters is the number of parked posts now; Parked counts the
	// messages parked since start.
	DeadLetters uint64 `json:"deadLetters" metric:"gauge"`
	Parked      uint64 `json:"parked"`
	// Lost counts readings the store's size cap evicted before they were
	// forwarded.
	Lost uint64 `json:"lost"`
	// Outbox is the number of outbox entries waiting; OutboxDropped those
	// dropped because it was full.
	Outbox        int64  `json:"outbox"`
	OutboxDropped uint64 `json:"outboxDropped"`
	// NativeQueued and NativeLost count native thing updates queued and
	// lost (hub events dropped before they were queued).
	NativeQueued uint64 `json:"nativeQueued"`
	NativeLost   uint64 `json:"nativeLost"`
	// FailuresReported counts session failures posted as errors;
	// FailuresDropped those dropped before the rate limit saw them.
	FailuresReported uint64 `json:"failuresReported"`
	FailuresDropped  uint64 `json:"failuresDropped"`
	// BatchSize is the current adaptive batch size.
	BatchSize int64 `json:"batchSize"`
	// LastSuccessUnix and LastFailureUnix are the times (Unix seconds) of
	// the last confirmed and failed POST, 0 for never.
	LastSuccessUnix int64 `json:"lastSuccessUnix"`
	LastFailureUnix int64 `json:"lastFailureUnix"`
}

// UpstreamPullerStats are the OCS puller's counters.
type UpstreamPullerStats struct {
	Polls          uint64 `json:"polls"`
	PollErrors     uint64 `json:"pollErrors"`
	Commands       uint64 `json:"commands"`
	CommandsFailed uint64 `json:"commandsFailed"`
	Firmware       uint64 `json:"firmware"`
	FirmwareBytes  uint64 `json:"firmwareBytes"`
	PSIApplied     uint64 `json:"psiApplied"`
}

// UpstreamDeadLetter is a POST the OCS refused with a 4xx, kept with its
// answer.
type UpstreamDeadLetter struct {
	// ID names the entry for requeue and discard.
	ID string `json:"id"`
	// What names the source: "osp 1:4242", "native <thing>", "error osp 1:4242".
	What string `json:"what"`
	// DeviceID is the OCS deviceId posted to.
	DeviceID string `json:"deviceId"`
	// FirstSeq and LastSeq bound the journal readings parked (0 for
	// outbox entries); Count is the number of messages.
	FirstSeq uint64 `json:"firstSeq,omitempty"`
	LastSeq  uint64 `json:"lastSeq,omitempty"`
	Count    int    `json:"count"`
	// Status and Response are the OCS's answer.
	Status   int       `json:"status"`
	Response string    `json:"response"`
	Parked   time.Time `json:"parked"`
}

// UpstreamDeadLetterRequest names a dead letter, or all of them.
type UpstreamDeadLetterRequest struct {
	ID  string `json:"id,omitempty"`
	All bool   `json:"all"`
}
