package josp

import "errors"

// Sentinel errors of the endpoint; every error it returns wraps one of
// them or an error of the store.
var (
	// ErrUnknownObject is returned when an objId or a thing ID names no
	// JOSP object.
	ErrUnknownObject = errors.New("josp: unknown object")
	// ErrUnknownPerm is returned when a permission id names no permission
	// of the object.
	ErrUnknownPerm = errors.New("josp: unknown permission")
	// ErrInvalid is returned when a value given to the endpoint (a
	// service or user id, a level, a configured principal) is invalid.
	ErrInvalid = errors.New("josp: invalid value")
	// ErrNoPort is returned when no port (or, with TLS, no pair of ports
	// for the certificate sharing) of the configured range is free.
	ErrNoPort = errors.New("josp: no free port")
	// ErrNotRunning is returned by the endpoint's methods before Run
	// started or after it returned.
	ErrNotRunning = errors.New("josp: endpoint not running")
)
