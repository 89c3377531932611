package wire

import (
	"math"
	"testing"
)

func TestAppendJavaDouble(t *testing.T) {
	for _, tc := range []struct {
		v    float64
		want string
	}{
		{21.5, "21.5"}, {127, "127.0"}, {0, "0.0"}, {math.Copysign(0, -1), "-0.0"},
		{-50, "-50.0"}, {100, "100.0"}, {10, "10.0"}, {254, "254.0"}, {25, "25.0"},
		{1e7, "1.0E7"}, {0.1, "0.1"}, {0.001, "0.001"}, {0.0001, "1.0E-4"},
		{9999999, "9999999.0"}, {12345678.9, "1.23456789E7"}, {-1.5e-5, "-1.5E-5"},
		{1.0 / 3, "0.3333333333333333"}, {3.4028234663852886e38, "3.4028234663852886E38"},
		{math.NaN(), "NaN"}, {math.Inf(1), "Infinity"}, {math.Inf(-1), "-Infinity"},
		{327.67, "327.67"}, {-327.68, "-327.68"}, {0.01, "0.01"},
	} {
		if got := string(AppendJavaDouble(nil, tc.v)); got != tc.want {
			t.Errorf("AppendJavaDouble(%v) = %q, want %q", tc.v, got, tc.want)
		}
	}
}

func TestAppendJavaFixed(t *testing.T) {
	for _, tc := range []struct {
		v    float64
		want string
	}{
		{127, "127.000000"}, {0, "0.000000"}, {-12.5, "-12.500000"}, {1234.5, "1234.500000"},
		{200, "200.000000"}, {25, "25.000000"}, {0.0078125, "0.007813"}, // half up, not half even
		{0.0000005, "0.000001"}, {0.0000004, "0.000000"}, {0.00000001, "0.000000"},
		{9.9999995, "10.000000"}, {-0.0000005, "-0.000001"}, {1e20, "100000000000000000000.000000"},
		{21.5, "21.500000"}, {1.0 / 3, "0.333333"}, {2.0 / 3, "0.666667"}, {math.Copysign(0, -1), "-0.000000"},
		{math.NaN(), "NaN"}, {math.Inf(1), "Infinity"}, {math.Inf(-1), "-Infinity"},
	} {
		if got := string(AppendJavaFixed(nil, tc.v)); got != tc.want {
			t.Errorf("AppendJavaFixed(%v) = %q, want %q", tc.v, got, tc.want)
		}
	}
}

func TestParseJavaDouble(t *testing.T) {
	for _, tc := range []struct {
		s    string
		want float64
		ok   bool
	}{
		{"127.000000", 127, true}, {"25.000000\n", 25, true}, {" 1.0E7 ", 1e7, true}, {"-0.5", -0.5, true},
		{"Infinity", math.Inf(1), true}, {"", 0, false}, {"abc", 0, false}, {"inf", 0, false},
		{"0x10", 0, false}, {"1_000", 0, false}, {"1,5", 0, false},
	} {
		got, ok := ParseJavaDouble(tc.s)
		if ok != tc.ok || (ok && got != tc.want) {
			t.Errorf("ParseJavaDouble(%q) = %v %v, want %v %v", tc.s, got, ok, tc.want, tc.ok)
		}
	}
	if v, ok := ParseJavaDouble("NaN"); !ok || !math.IsNaN(v) {
		t.Error("NaN")
	}
}
