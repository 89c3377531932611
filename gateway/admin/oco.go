package admin

import "time"

// The OCO agent's endpoints, added by the gateway with HandleJSON (503
// unavailable while the agent is off):
//
//	GET  /v1/oco/status       OCOStatus
//	POST /v1/oco/forget-keys  OCOStatus (after the pinned keys are deleted)

// OCOStatus is what the admin API shows of the OCO agent: never a key.
type OCOStatus struct {
	Server string `json:"server"`
	// Hostname is the computer's identity on the server.
	Hostname string `json:"hostname"`
	// Configured is the configured generation, Generation the one in use
	// ("" before the first successful hello).
	Configured  string    `json:"configuredGeneration"`
	Generation  string    `json:"generation,omitempty"`
	LastContact time.Time `json:"lastContact,omitzero"`
	LastAttempt time.Time `json:"lastAttempt,omitzero"`
	NextHello   time.Time `json:"nextHello,omitzero"`
	LastError   string    `json:"lastError,omitempty"`
	// AgentKey, ServerKey and RegistrationKey report whether each key is
	// present.
	AgentKey        bool     `json:"agentKey"`
	ServerKey       bool     `json:"serverKey"`
	RegistrationKey bool     `json:"registrationKey"`
	Jobs            []OCOJob `json:"jobs"`
	Stats           OCOStats `json:"stats"`
}

// OCOJob is a deploy job's progress as the agent recorded it.
type OCOJob struct {
	ID        string    `json:"id"`
	Container string    `json:"container,omitempty"`
	Phase     string    `json:"phase"`
	State     *int      `json:"state,omitempty"`
	Return    *int      `json:"returnCode,omitempty"`
	Reported  bool      `json:"reported"`
	Succeeded bool      `json:"succeeded"`
	Started   time.Time `json:"started,omitzero"`
	Updated   time.Time `json:"updated"`
}

// OCOStats are the OCO agent's counters since start.
type OCOStats struct {
	Hellos          uint64 `json:"hellos"`
	HelloFailures   uint64 `json:"helloFailures"`
	Inventories     uint64 `json:"inventories"`
	JobsRun         uint64 `json:"jobsRun"`
	JobsSucceeded   uint64 `json:"jobsSucceeded"`
	JobsFailed      uint64 `json:"jobsFailed"`
	JobsSkipped     uint64 `json:"jobsSkipped"`
	JobsResumed     uint64 `json:"jobsReportedAgain"`
	Reports         uint64 `json:"reports"`
	ReportFailures  uint64 `json:"reportFailures"`
	Downloads       uint64 `json:"downloads"`
	DownloadBytes   uint64 `json:"downloadBytes"`
	ServerErrors    uint64 `json:"serverErrors"`
	SecurityRejects uint64 `json:"securityRejects"`
	Malformed       uint64 `json:"malformed"`
}
