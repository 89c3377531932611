package admin

import "time"

// The pairing window's and the steward's endpoints, added by the gateway
// with HandleJSON (the steward's only while it runs):
//
//	GET    /v1/pairing                      pairing.State
//	POST   /v1/pairing                      PairingRequest -> pairing.State
//	DELETE /v1/pairing                      pairing.State
//	POST   /v1/things/{id}/perform          PerformRequest -> things.Result
//	GET    /v1/steward                      listeners, fingerprints, steward.Stats
//	GET    /v1/steward/clients              []StewardClient
//	DELETE /v1/steward/clients/{name}       StewardClient (the revoked pairing)
//	GET    /v1/steward/events               []steward.Event
//	POST   /v1/steward/things/{id}/observe  ObserveRequest -> steward.Observation
//	DELETE /v1/steward/events/{id}          {"cancelled": id}

// PairingRequest is the body of POST /v1/pairing.
type PairingRequest struct {
	// For is how long the window stays open ("5m"); empty: the board's
	// pairing_window.
	For string `json:"for,omitempty"`
}

// PerformRequest is the body of POST /v1/things/{id}/perform.
type PerformRequest struct {
	Action string            `json:"action"`
	Args   map[string]string `json:"args,omitempty"`
	// TestOnly asks a native thing only to evaluate the parameters.
	TestOnly bool `json:"testOnly,omitempty"`
}

// ObserveRequest is the body of POST /v1/steward/things/{id}/observe.
type ObserveRequest struct {
	Observe   string `json:"observe"`
	Parameter string `json:"parameter,omitempty"`
	TestOnly  bool   `json:"testOnly,omitempty"`
}

// StewardClient is a pairing of the steward: never its secret.
type StewardClient struct {
	ID   string `json:"id"`
	Name string `json:"name"`
	// Generation is the protocol it paired with: "native" or "simple".
	Generation string    `json:"generation"`
	Created    time.Time `json:"created"`
	LastLogin  time.Time `json:"lastLogin,omitzero"`
	// Connected counts its live connections; Things are the hub IDs of
	// the things it registered.
	Connected int      `json:"connected"`
	Things    []string `json:"things,omitempty"`
}
