package wire

import (
	"math"
	"strconv"
	"strings"
)

// AppendJavaDouble appends v as Java's Double.toString writes it (and so
// Jackson, for a double): "21.5", "127.0", "-0.0", "1.0E7", "1.0E-4",
// "NaN", "Infinity", "-Infinity". Digits are the shortest that read back
// as v.
func AppendJavaDouble(b []byte, v float64) []byte {
	if s, ok := javaNonFinite(v); ok {
		return append(b, s...)
	}
	if v == 0 {
		if math.Signbit(v) {
			return append(b, "-0.0"...)
		}
		return append(b, "0.0"...)
	}
	if v < 0 {
		b = append(b, '-')
		v = -v
	}
	digits, exp := shortestDigits(v) // v = 0.d1d2... × 10^exp
	if v >= 1e-3 && v < 1e7 {
		if exp <= 0 {
			b = append(b, "0."...)
			for range -exp {
				b = append(b, '0')
			}
			return append(b, digits...)
		}
		if exp >= len(digits) {
			b = append(b, digits...)
			for range exp - len(digits) {
				b = append(b, '0')
			}
			return append(b, ".0"...)
		}
		b = append(b, digits[:exp]...)
		b = append(b, '.')
		return append(b, digits[exp:]...)
	}
	b = append(b, digits[0], '.')
	if len(digits) > 1 {
		b = append(b, digits[1:]...)
	} else {
		b = append(b, '0')
	}
	b = append(b, 'E')
	return strconv.AppendInt(b, int64(exp-1), 10)
}

// javaNonFinite returns Java's text for NaN and the infinities ("NaN",
// "Infinity", "-Infinity"); ok is false for a finite v.
func javaNonFinite(v float64) (s string, ok bool) {
	switch {
	case math.IsNaN(v):
		return "NaN", true
	case math.IsInf(v, 1):
		return "Infinity", true
	case math.IsInf(v, -1):
		return "-Infinity", true
	}
	return "", false
}

// shortestDigits returns the shortest decimal digits of v > 0 and the
// exponent e with v = 0.digits × 10^e.
func shortestDigits(v float64) (string, int) {
	s := strconv.FormatFloat(v, 'e', -1, 64) // d.ddde±xx
	mant, e, _ := strings.Cut(s, "e")
	exp, _ := strconv.Atoi(e)
	digits := strings.Replace(mant, ".", "", 1)
	digits = strings.TrimRight(digits, "0")
	if digits == "" {
		digits = "0"
	}
	return digits, exp + 1
}

// AppendJavaFixed appends v as Java's String.format(Locale.US, "%f", v):
// six decimals, rounded half up from the shortest decimal digits of v, no
// grouping ("127.000000", "-12.500000"); "NaN", "Infinity", "-Infinity".
func AppendJavaFixed(b []byte, v float64) []byte {
	if s, ok := javaNonFinite(v); ok {
		return append(b, s...)
	}
	neg := math.Signbit(v)
	if neg {
		v = -v
	}
	// r holds v × 10^6 rounded half up, as ASCII digits.
	const decimals = 6
	var r []byte
	if v != 0 {
		digits, exp := shortestDigits(v) // v = 0.digits × 10^exp
		n := exp + decimals              // digits of v × 10^6 before its point
		switch {
		case n < 0:
		case n == 0:
			if digits[0] >= '5' {
				r = []byte{'1'}
			}
		case n >= len(digits):
			r = append([]byte(digits), make([]byte, n-len(digits))...)
			for i := len(digits); i < n; i++ {
				r[i] = '0'
			}
		default:
			r = []byte(digits[:n])
			if digits[n] >= '5' {
				r = roundUp(r)
			}
		}
	}
	for len(r) < decimals+1 {
		r = append([]byte{'0'}, r...)
	}
	if neg {
		b = append(b, '-')
	}
	b = append(b, r[:len(r)-decimals]...)
	b = append(b, '.')
	return append(b, r[len(r)-decimals:]...)
}

// roundUp adds one to the decimal number d (ASCII digits), growing it by a
// digit on overflow.
func roundUp(d []byte) []byte {
	for i := len(d) - 1; i >= 0; i-- {
		if d[i] < '9' {
			d[i]++
			return d
		}
		d[i] = '0'
	}
	return append([]byte{'1'}, d...)
}

// ParseJavaDouble reads a number written by Java (Double.toString or
// "%f"), or by anyone else: white space around it is ignored, "NaN",
// "Infinity" and "-Infinity" are accepted.
func ParseJavaDouble(s string) (float64, bool) {
	s = strings.TrimSpace(s)
	switch s {
	case "NaN":
		return math.NaN(), true
	case "Infinity", "+Infinity":
		return math.Inf(1), true
	case "-Infinity":
		return math.Inf(-1), true
	case "":
		return 0, false
	}
	if strings.ContainsAny(s, "nNiIxX_") { // no inf/nan/hex/underscores from strconv
		return 0, false
	}
	v, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return 0, false
	}
	return v, true
}
