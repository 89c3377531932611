package oco

import (
	"strconv"
	"strings"
)

// ProtocolVersion is the official agent version whose protocol this agent
// speaks. A current server signs its answers, and checks the agent's
// signatures and hello timestamps, only for agents whose agent_version is
// at least 1.1.7 by PHP's version_compare; with a lower version it falls
// back to the plaintext agent key. The agent_version sent is therefore
// edgegate's own version when that compares at least 1.1.7, and otherwise
// ProtocolVersion followed by "-edgegate-" and edgegate's version
// ("1.2.0-edgegate-0.4.1"), which the server's UI shows as is.
const ProtocolVersion = "1.2.0"

// signedSince is the first agent version a current server authenticates
// with signatures.
const signedSince = "1.1.7"

// WireAgentVersion returns the agent_version sent for edgegate version v.
func WireAgentVersion(v string) string {
	v = strings.TrimSpace(v)
	if v != "" && phpVersionCompare(v, signedSince) >= 0 {
		return v
	}
	if v == "" {
		return ProtocolVersion + "-edgegate"
	}
	return ProtocolVersion + "-edgegate-" + v
}

// phpVersionCompare is PHP's version_compare(a, b): -1, 0 or 1.
func phpVersionCompare(a, b string) int {
	pa := strings.Split(phpCanonVersion(a), ".")
	pb := strings.Split(phpCanonVersion(b), ".")
	if a == "" || b == "" {
		switch {
		case a == "" && b == "":
			return 0
		case a == "":
			return -1
		default:
			return 1
		}
	}
	i := 0
	for ; i < len(pa) && i < len(pb); i++ {
		if c := comparePart(pa[i], pb[i]); c != 0 {
			return c
		}
	}
	switch {
	case i < len(pa):
		if isDigitStart(pa[i]) {
			return 1
		}
		return phpVersionCompare(strings.Join(pa[i:], "."), "#N#")
	case i < len(pb):
		if isDigitStart(pb[i]) {
			return -1
		}
		return phpVersionCompare("#N#", strings.Join(pb[i:], "."))
	}
	return 0
}

func comparePart(x, y string) int {
	dx, dy := isDigitStart(x), isDigitStart(y)
	switch {
	case dx && dy:
		nx, ny := leadingInt(x), leadingInt(y)
		switch {
		case nx < ny:
			return -1
		case nx > ny:
			return 1
		}
		return 0
	case !dx && !dy:
		return signum(specialForm(x) - specialForm(y))
	case dx:
		return signum(specialForm("#N#") - specialForm(y))
	default:
		return signum(specialForm(x) - specialForm("#N#"))
	}
}

func signum(n int) int {
	switch {
	case n < 0:
		return -1
	case n > 0:
		return 1
	}
	return 0
}

func isDigitStart(s string) bool { return s != "" && s[0] >= '0' && s[0] <= '9' }

func leadingInt(s string) int64 {
	end := 0
	for end < len(s) && s[end] >= '0' && s[end] <= '9' {
		end++
	}
	n, err := strconv.ParseInt(s[:end], 10, 64)
	if err != nil {
		return 1<<63 - 1
	}
	return n
}

// specialForm orders PHP's special version words; any other word is below
// them all.
func specialForm(s string) int {
	for _, f := range []struct {
		name  string
		order int
	}{{"dev", 0}, {"alpha", 1}, {"a", 1}, {"beta", 2}, {"b", 2}, {"RC", 3}, {"rc", 3}, {"#", 4}, {"pl", 5}, {"p", 5}} {
		if strings.HasPrefix(s, f.name) {
			return f.order
		}
	}
	return -6
}

// phpCanonVersion is php_canonicalize_version: '-', '_' and '+' become
// '.', a '.' goes between a digit and a non-digit, other punctuation
// becomes '.'.
func phpCanonVersion(v string) string {
	if v == "" {
		return ""
	}
	isdig := func(c byte) bool { return c >= '0' && c <= '9' }
	isndig := func(c byte) bool { return !isdig(c) && c != '.' }
	isalnum := func(c byte) bool { return isdig(c) || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' }
	q := []byte{v[0]}
	lp := v[0]
	for i := 1; i < len(v); i++ {
		c := v[i]
		switch {
		case c == '-' || c == '_' || c == '+':
			if q[len(q)-1] != '.' {
				q = append(q, '.')
			}
		case (isndig(lp) && isdig(c)) || (isdig(lp) && isndig(c)):
			if q[len(q)-1] != '.' {
				q = append(q, '.')
			}
			q = append(q, c)
		case !isalnum(c):
			if q[len(q)-1] != '.' {
				q = append(q, '.')
			}
		default:
			q = append(q, c)
		}
		lp = c
	}
	return string(q)
}
