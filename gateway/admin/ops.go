package admin

import (
	"time"

	"github.com/edgegate/edgegate/gateway/logring"
	"github.com/edgegate/edgegate/gateway/things"
)

// The operator's endpoints, added by the gateway with HandleJSON:
//
//	GET  /v1/overview         Overview (everything the status page shows)
//	GET  /v1/health           Health (liveness: the gateway's loops)
//	GET  /v1/ready            Health (readiness: loops, a store write, links)
//	GET  /v1/errors           []LogRecord (recent warnings and errors, oldest first)
//	GET  /v1/rates            Rates
//	GET  /v1/clock            ClockStatus
//	PUT  /v1/web/password     PasswordRequest -> PasswordState (the status page's password)
//	DELETE /v1/web/password   PasswordState (on the LAN the page then serves only /healthz and /readyz)

// Overview is everything the status page shows, in one answer.
type Overview struct {
	Status   Status          `json:"status"`
	Health   Health          `json:"health"`
	Clock    ClockStatus     `json:"clock"`
	Pairing  Pairing         `json:"pairing"`
	Links    []LinkState     `json:"links"`
	Sessions []Session       `json:"sessions"`
	Devices  []DeviceSummary `json:"devices"`
	// Things are the hub's things other than OSP devices (native things).
	Things []things.Thing `json:"things"`
	Errors []LogRecord    `json:"errors"`
	Rates  Rates          `json:"rates"`
}

// LinkState is one OSP link and whether it is up.
type LinkState struct {
	Name string `json:"name"`
	Kind string `json:"kind"` // udp, serial, dtls, lora
	Up   bool   `json:"up"`
	// Detail says where it listens or which port it uses, or why it is
	// down.
	Detail string `json:"detail,omitempty"`
	// Counters are the link's own (packets, bytes, drops).
	Counters map[string]float64 `json:"counters,omitempty"`
}

// DeviceSummary is a provisioned device with its thing's latest values.
type DeviceSummary struct {
	Device
	LastSeen   time.Time         `json:"lastSeen,omitzero"`
	Properties []things.Property `json:"properties,omitempty"`
}

// Health is a set of checks; OK when every required one passed.
type Health struct {
	OK     bool    `json:"ok"`
	Checks []Check `json:"checks"`
}

// Check is one health check.
type Check struct {
	Name   string `json:"name"`
	OK     bool   `json:"ok"`
	Detail string `json:"detail,omitempty"`
	// Advisory checks are shown but do not make Health fail.
	Advisory bool `json:"advisory,omitempty"`
}

// LogRecord is a recent warning or error from the gateway's log, as its
// error ring keeps it: level, message and attributes rendered as text.
type LogRecord = logring.Record

// Rates are journaled reading counts per interval, oldest first; the last
// interval is the one in progress.
type Rates struct {
	Step    time.Duration       `json:"step"`
	End     time.Time           `json:"end"`
	Total   []uint32            `json:"total"`
	Devices map[string][]uint32 `json:"devices,omitempty"`
}

// ClockStatus describes the system clock as the gateway judges it.
type ClockStatus struct {
	Now time.Time `json:"now"`
	// Sane: the clock is not before Floor (the build time, or the last
	// time the gateway saw a plausible clock). Upstream TLS waits for it.
	Sane  bool      `json:"sane"`
	Floor time.Time `json:"floor"`
	// HeldBack is how far retention by age runs behind the clock after a
	// recent forward step (the time sync of a board without a real-time
	// clock), so readings stamped before the step are not deleted early.
	HeldBack time.Duration `json:"heldBack,omitempty"`
}

// Pairing is the pairing window.
type Pairing struct {
	Open  bool      `json:"open"`
	Until time.Time `json:"until,omitzero"`
	// Code is the current pairing code while the window is open and
	// pairing needs one.
	Code string `json:"code,omitempty"`
}

// PasswordRequest sets the status page's password.
type PasswordRequest struct {
	Password string `json:"password"`
}

// PasswordState says whether the status page has a password.
type PasswordState struct {
	Set bool `json:"set"`
}
