package ocs

import (
	"errors"
	"fmt"
	"net/http"
	"time"
)

// Sentinel errors. Errors returned by this package are wrapped with the
// package and operation ("ocs: ...") and match these with [errors.Is].
var (
	// ErrNotFound is returned by the Store when a device record or value
	// does not exist, and matches an *HTTPError with status 404.
	ErrNotFound = errors.New("not found")

	// ErrInvalid is returned when a body, query parameter, identifier or
	// timestamp fails validation; the Server answers it with 400.
	ErrInvalid = errors.New("invalid argument")

	// ErrNoOwnerKey is returned when a signature or cipher is asked for and
	// the Store holds no owner key (or one of the wrong type); the Server
	// answers it with 500, as ocsfs does for a missing keystore entry.
	ErrNoOwnerKey = errors.New("no usable owner key")

	// ErrPlainHTTP is returned when plain HTTP is asked for (a client URL,
	// a server listen address) anywhere but on loopback.
	ErrPlainHTTP = errors.New("plain HTTP is allowed only on loopback; use https with certificates")

	// ErrDeviceOffline is returned by a Commander when the device has no
	// live session: the command waits for the next poll.
	ErrDeviceOffline = errors.New("device has no live session")

	// ErrDeviceBusy is returned by a Commander when the device cannot take
	// a command now (one outstanding, or it answered BUSY).
	ErrDeviceBusy = errors.New("device busy")
)

// HTTPError is a non-2xx answer as the Client reports it: the status and
// the (bounded) body. It matches ErrNotFound when Status is 404.
type HTTPError struct {
	Method string
	Path   string
	Status int
	Body   []byte
	// RetryAfter is the answer's Retry-After in seconds (429, 503), 0
	// when absent.
	RetryAfter time.Duration
}

// Error implements error.
func (e *HTTPError) Error() string {
	if len(e.Body) == 0 {
		return fmt.Sprintf("ocs: %s %s: HTTP %d %s", e.Method, e.Path, e.Status, http.StatusText(e.Status))
	}
	b := e.Body
	if len(b) > 200 {
		b = b[:200]
	}
	return fmt.Sprintf("ocs: %s %s: HTTP %d %s: %q", e.Method, e.Path, e.Status, http.StatusText(e.Status), b)
}

// Is reports whether target is ErrNotFound and e is a 404.
func (e *HTTPError) Is(target error) bool {
	return target == ErrNotFound && e.Status == http.StatusNotFound
}

// IsNotFound reports whether err is (or wraps) an *HTTPError with status 404
// or ErrNotFound.
func IsNotFound(err error) bool { return errors.Is(err, ErrNotFound) }

// StatusOf returns the HTTP status of an *HTTPError in err's chain, or 0.
func StatusOf(err error) int {
	var he *HTTPError
	if errors.As(err, &he) {
		return he.Status
	}
	return 0
}

// RetryAfterOf returns the Retry-After of an *HTTPError in err's chain, or 0.
func RetryAfterOf(err error) time.Duration {
	var he *HTTPError
	if errors.As(err, &he) {
		return he.RetryAfter
	}
	return 0
}
