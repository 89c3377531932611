package randtext

import (
	"strings"
	"testing"
)

func TestString(t *testing.T) {
	const alphabet = "ABC123"
	seen := map[rune]int{}
	for range 200 {
		s := String(alphabet, 30)
		if len(s) != 30 {
			t.Fatalf("len %d", len(s))
		}
		for _, c := range s {
			if !strings.ContainsRune(alphabet, c) {
				t.Fatalf("%q outside the alphabet", c)
			}
			seen[c]++
		}
	}
	// 6000 draws over 6 characters: each near 1000; a biased or stuck
	// generator misses these bounds.
	for _, c := range alphabet {
		if n := seen[c]; n < 800 || n > 1200 {
			t.Errorf("%q drawn %d times of 6000", c, n)
		}
	}
	if String(alphabet, 0) != "" {
		t.Error("a string for n = 0")
	}
}
