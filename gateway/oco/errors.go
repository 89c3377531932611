package oco

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
)

// Sentinel errors. Errors returned by this package are prefixed "oco: ..."
// and match these with [errors.Is].
var (
	// ErrUnknownMethod is returned when the server does not know the method
	// called: a current server asked a legacy name, a legacy server asked a
	// current one. In every form servers give it (400 "Unknown method",
	// "400 Unknown Method" as a reason phrase, or 200 with an "Unknown
	// Method" JSON error).
	ErrUnknownMethod = errors.New("unknown method")

	// ErrUnauthorized is returned when the server refuses the agent's
	// credentials or identity (HTTP 401 or 403): a wrong or missing
	// signature, a key mismatch, an old timestamp, an unknown computer,
	// self-registration disabled.
	ErrUnauthorized = errors.New("not authorized")

	// ErrNotFound is returned when the server answers 404, or 400 with a
	// "not found" message (an unknown job or package).
	ErrNotFound = errors.New("not found")

	// ErrRejected is returned when the server refuses a request as
	// malformed or untimely (HTTP 400 other than the cases above).
	ErrRejected = errors.New("request rejected")

	// ErrServerFailure is returned when the server fails (HTTP 5xx).
	ErrServerFailure = errors.New("server failure")

	// ErrProtocol is returned when a response cannot be understood: not
	// JSON-RPC, a result without the fields the method needs, a value of
	// the wrong type.
	ErrProtocol = errors.New("malformed response")

	// ErrSecurity is returned when a response fails verification and is
	// discarded: a server key that differs from the pinned one, a bad or
	// missing signature, a timestamp that does not increase, a key change
	// offered by the server. The concrete error is a *SecurityError.
	ErrSecurity = errors.New("response failed verification")

	// ErrNoServerKey is returned when no server key is pinned, so that no
	// response can be verified: the server registered the host without
	// sending one (a host pre-registered with a server key). Clear the
	// host's keys on the server and on the gateway to register again.
	ErrNoServerKey = errors.New("no server key pinned")

	// ErrExit is returned by Run when a deploy job's exit post-action asked
	// the agent to stop and the configuration allows it.
	ErrExit = errors.New("exit requested by a deploy job")

	// ErrInvalidOptions is returned by New for options that cannot work.
	ErrInvalidOptions = errors.New("invalid options")

	// ErrPackage is returned (wrapped) when a package archive is refused:
	// too large, too many files, a name leaving the job's directory, a
	// symbolic link pointing out of it, not a ZIP file.
	ErrPackage = errors.New("package refused")
)

// ServerError is an error answer of the OCO server, as it gives it: an HTTP
// status and a bare message (the body of a current server, the reason
// phrase of a v1.0.1 server, the JSON error of older ones). It matches
// ErrUnknownMethod, ErrUnauthorized, ErrNotFound, ErrRejected or
// ErrServerFailure.
type ServerError struct {
	// Method is the JSON-RPC method (or "download").
	Method string
	// Status is the HTTP status code (200 for a JSON-RPC error object).
	Status int
	// Message is the server's message, "" when it gave none.
	Message string
}

// Error implements error.
func (e *ServerError) Error() string {
	msg := e.Message
	if msg == "" {
		msg = http.StatusText(e.Status)
	}
	if e.Status == http.StatusOK {
		return fmt.Sprintf("oco: %s: server error %q", e.Method, msg)
	}
	return fmt.Sprintf("oco: %s: HTTP %d: %s", e.Method, e.Status, msg)
}

// Is matches the package's sentinel errors by status and message.
func (e *ServerError) Is(target error) bool {
	lower := strings.ToLower(e.Message)
	switch target {
	case ErrUnknownMethod:
		return strings.Contains(lower, "unknown method")
	case ErrUnauthorized:
		return e.Status == http.StatusUnauthorized || e.Status == http.StatusForbidden
	case ErrNotFound:
		return e.Status == http.StatusNotFound || (e.Status == http.StatusBadRequest && strings.Contains(lower, "not found"))
	case ErrRejected:
		return e.Status == http.StatusBadRequest || (e.Status == http.StatusOK && !strings.Contains(lower, "unknown method"))
	case ErrServerFailure:
		return e.Status >= 500
	}
	return false
}

// Hint returns what an operator can do about the error, or "".
func (e *ServerError) Hint() string {
	lower := strings.ToLower(e.Message)
	switch {
	case strings.Contains(lower, "timestamp too old"):
		return "the gateway's clock is behind the server's: check NTP"
	case strings.Contains(lower, "self-registration"):
		return "enable agent self-registration on the server, or pre-register this host name"
	case strings.Contains(lower, "registration key mismatch"), strings.Contains(lower, "invalid agent signature"):
		return "check [oco] registration_key against the server's agent registration key, or the host's keys were cleared on one side only (gatewayctl oco forget-keys)"
	case strings.Contains(lower, "agent key mismatch"), strings.Contains(lower, "client not authorized"):
		return "the server no longer accepts this host's agent key: clear the host's keys on the server and the gateway's (gatewayctl oco forget-keys), then let it register again"
	case strings.Contains(lower, "computer not found"):
		return "the server does not know this host name: it was removed on the server; forget the keys and register again"
	case strings.Contains(lower, "content type mismatch"):
		return "a proxy between the gateway and the server rewrote the request's content type"
	case e.Status >= 300 && e.Status < 400:
		return "the server redirects the agent: set [oco] url to the address it points to (https?)"
	case e.Status >= 500:
		return "the server failed; see its log"
	}
	return ""
}

// SecurityError is a response that failed verification. It matches
// ErrSecurity. Its text never holds key material.
type SecurityError struct {
	Method string
	// Reason says what failed, e.g. "server key differs from the pinned
	// one".
	Reason string
}

// Error implements error.
func (e *SecurityError) Error() string {
	return fmt.Sprintf("oco: %s: %s: %s", e.Method, ErrSecurity, e.Reason)
}

// Is reports whether target is ErrSecurity.
func (e *SecurityError) Is(target error) bool { return target == ErrSecurity }
