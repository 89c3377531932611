package statuspage

import "errors"

var (
	// ErrWeakPassword is returned by HashPassword when the password is
	// shorter than MinPasswordLen.
	ErrWeakPassword = errors.New("statuspage: password too short")
)
