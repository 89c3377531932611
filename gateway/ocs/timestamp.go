package ocs

import (
	"fmt"
	"strings"
	"time"
)

// timestampLayout is Java's DateTimeFormatter.ISO_LOCAL_DATE_TIME as the
// reference writes it: no zone, 0-9 fraction digits, trailing zeros dropped.
const timestampLayout = "2006-01-02T15:04:05.999999999"

// FormatTimestamp writes t the way the reference does for to0Timestamp and
// to2Timestamp: LocalDateTime.now(UTC) through ISO_LOCAL_DATE_TIME, with no
// "Z" and no offset (ocsfs cannot parse either).
func FormatTimestamp(t time.Time) string { return t.UTC().Format(timestampLayout) }

// ParseTimestamp reads an ISO_LOCAL_DATE_TIME ("2021-03-04T10:11:12",
// "2021-03-04T10:11:12.5", "2021-03-04T10:11", up to 9 fraction digits) as a
// UTC time. A zone or offset suffix is an error, as it is for
// LocalDateTime.parse.
func ParseTimestamp(s string) (time.Time, error) {
	layout := "2006-01-02T15:04:05"
	if len(s) == len("2006-01-02T15:04") {
		layout = "2006-01-02T15:04"
	}
	if i := strings.IndexByte(s, '.'); i >= 0 {
		frac := s[i+1:]
		if len(frac) == 0 || len(frac) > 9 || strings.Trim(frac, "0123456789") != "" {
			return time.Time{}, fmt.Errorf("ocs: timestamp %q: %w: bad fraction", s, ErrInvalid)
		}
	}
	t, err := time.Parse(layout, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("ocs: timestamp %q: %w: %v", s, ErrInvalid, err)
	}
	return t, nil
}
