// Package logring keeps the most recent warning and error log records in a
// bounded ring, for the status page and `gatewayctl errors`.
//
// Handler wraps the daemon's slog handler: every record still goes to it,
// and records at or above the ring's level are also kept, with their
// attributes rendered as text (LogValuer values resolved first, so types
// that redact their secrets stay redacted). The ring holds a fixed number
// of records; older ones are overwritten, and Count keeps the totals.
package logring
