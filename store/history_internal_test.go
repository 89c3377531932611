package store

import (
	"bytes"
	"errors"
	"math"
	"testing"
)

// blockSize is the size of recs (sorted) as one block.
func blockSize(t testing.TB, recs []histRec) int {
	n, size := blockLen(recs, math.MaxInt)
	if n != len(recs) {
		t.Fatalf("blockLen without a limit holds %d of %d entries", n, len(recs))
	}
	return size
}

// FuzzDecodeBlock feeds arbitrary keys and values to the history block
// decoder: it must return an error or entries that encode back to a block
// that decodes to the same entries.
func FuzzDecodeBlock(f *testing.F) {
	k := histKey{at: 1 << 63, seq: 7}.bytes()
	recs := []histRec{{key: histKey{1 << 63, 7}, value: []byte("a")}, {key: histKey{1<<63 + 5, 9}, value: []byte("bc")}}
	f.Add(k[:], encodeBlock(recs, blockSize(f, recs)))
	f.Add(k[:], []byte{historyV1, 'x'})
	f.Add(k[:], []byte{historyV2})
	f.Add(k[:2], []byte{historyV2, 0, 7, 1, 'a'})
	f.Fuzz(func(t *testing.T, k, v []byte) {
		recs, err := decodeBlock(nil, k, v)
		if err != nil {
			var ce *CorruptError
			if !errors.As(err, &ce) {
				t.Fatalf("untyped error %v", err)
			}
			return
		}
		if len(recs) == 0 {
			t.Fatal("no entries and no error")
		}
		size := blockSize(t, recs)
		enc := encodeBlock(recs, size)
		if len(enc) != size {
			t.Fatalf("encoded %d bytes, blockLen says %d", len(enc), size)
		}
		again, err := decodeBlock(nil, k, enc)
		if err != nil || len(again) != len(recs) {
			t.Fatalf("re-decode: %d entries, %v; want %d", len(again), err, len(recs))
		}
		for i := range recs {
			if again[i].key != recs[i].key || !bytes.Equal(again[i].value, recs[i].value) {
				t.Fatalf("entry %d: %+v, want %+v", i, again[i], recs[i])
			}
		}
	})
}
