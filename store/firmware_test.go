package store_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/edgegate/edgegate/store"
	"github.com/edgegate/edgegate/store/storetest"
	bolt "go.etcd.io/bbolt"
)

// image returns n bytes that differ from chunk to chunk.
func image(n int, seed byte) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i*7) + seed
	}
	return b
}

func sha256Hex(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// assertChunks reads every chunk of name and checks they make up data.
func assertChunks(t *testing.T, db *storetest.DB, name string, chunkSize int, data []byte) {
	t.Helper()
	var got []byte
	for i := 0; ; i++ {
		c, err := db.FirmwareChunk(name, uint16(i))
		if errors.Is(err, store.ErrNotFound) {
			break
		}
		if err != nil {
			t.Fatalf("chunk %d: %v", i, err)
		}
		if len(c) == 0 || len(c) > chunkSize || (len(c) < chunkSize && len(got)+len(c) != len(data)) {
			t.Fatalf("chunk %d of %q is %d bytes; chunk size %d, image %d", i, name, len(c), chunkSize, len(data))
		}
		got = append(got, c...)
	}
	if !bytes.Equal(got, data) {
		t.Fatalf("chunks of %q make %d bytes that differ from the %d stored", name, len(got), len(data))
	}
}

func TestFirmware(t *testing.T) {
	clk := newClock()
	db := storetest.MustOpen(t, store.Options{Now: clk.Now})
	if _, err := db.GetFirmware("node-2.1"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("GetFirmware of nothing: %v", err)
	}
	if fws, err := db.ListFirmware(); err != nil || len(fws) != 0 {
		t.Fatalf("ListFirmware of nothing = %v, %v", fws, err)
	}

	data := image(2500, 1)
	fw, err := db.PutFirmware("node-2.1", 1000, data)
	if err != nil {
		t.Fatal(err)
	}
	want := store.Firmware{Name: "node-2.1", Size: 2500, ChunkSize: 1000, Chunks: 3, SHA256: sha256Hex(data), Added: clk.Now()}
	if fw != want {
		t.Fatalf("PutFirmware = %+v, want %+v", fw, want)
	}
	if got, err := db.GetFirmware("node-2.1"); err != nil || got != want {
		t.Fatalf("GetFirmware = %+v, %v; want %+v", got, err, want)
	}
	for i, r := range [][2]int{{0, 1000}, {1000, 2000}, {2000, 2500}} {
		c, err := db.FirmwareChunk("node-2.1", uint16(i))
		if err != nil || !bytes.Equal(c, data[r[0]:r[1]]) {
			t.Fatalf("chunk %d = %d bytes, %v; want bytes %d..%d", i, len(c), err, r[0], r[1])
		}
	}
	for _, past := range []uint16{3, 4, 65535} {
		if _, err := db.FirmwareChunk("node-2.1", past); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("chunk %d past the end: %v, want ErrNotFound", past, err)
		}
	}
	for _, name := range []string{"nope", "", strings.Repeat("x", 30), "has space"} {
		if _, err := db.FirmwareChunk(name, 0); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("chunk of unknown %q: %v, want ErrNotFound", name, err)
		}
		if _, err := db.GetFirmware(name); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("GetFirmware(%q): %v, want ErrNotFound", name, err)
		}
	}
	c, _ := db.FirmwareChunk("node-2.1", 0)
	c[0] ^= 0xff // returned chunks are copies
	if again, _ := db.FirmwareChunk("node-2.1", 0); again[0] != data[0] {
		t.Fatal("chunk changed through a returned slice")
	}

	// An exact multiple of the chunk size has no short chunk.
	exact := image(2000, 2)
	if fw, err := db.PutFirmware("exact", 1000, exact); err != nil || fw.Chunks != 2 {
		t.Fatalf("exact = %+v, %v", fw, err)
	}
	assertChunks(t, db, "exact", 1000, exact)
	if _, err := db.FirmwareChunk("exact", 2); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("chunk 2 of 2: %v", err)
	}

	// Replacing an image leaves nothing of the old one.
	clk.Advance(time.Hour)
	small := image(10, 3)
	fw, err = db.PutFirmware("node-2.1", 16, small)
	if err != nil || fw.Chunks != 1 || fw.Size != 10 || fw.SHA256 != sha256Hex(small) || !fw.Added.Equal(clk.Now()) {
		t.Fatalf("replace = %+v, %v", fw, err)
	}
	assertChunks(t, db, "node-2.1", 16, small)

	// Listing is sorted by name (byte order).
	for _, name := range []string{"b", "A-1", "~last", "!first"} {
		if _, err := db.PutFirmware(name, 1, []byte{1, 2}); err != nil {
			t.Fatal(err)
		}
	}
	fws, err := db.ListFirmware()
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, f := range fws {
		names = append(names, f.Name)
	}
	if got := strings.Join(names, " "); got != "!first A-1 b exact node-2.1 ~last" {
		t.Fatalf("ListFirmware names = %s", got)
	}
	if fws[4] != fw {
		t.Fatalf("listed %+v, want %+v", fws[4], fw)
	}

	// Delete, then not found everywhere.
	if err := db.DeleteFirmware("exact"); err != nil {
		t.Fatal(err)
	}
	if _, err := db.GetFirmware("exact"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("GetFirmware after delete: %v", err)
	}
	if _, err := db.FirmwareChunk("exact", 0); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("chunk after delete: %v", err)
	}
	for _, name := range []string{"exact", "", "never", "bad name"} {
		if err := db.DeleteFirmware(name); !errors.Is(err, store.ErrNotFound) || !strings.HasPrefix(err.Error(), "store: delete firmware: ") {
			t.Fatalf("DeleteFirmware(%q) = %v, want ErrNotFound", name, err)
		}
	}

	// Everything survives a reopen.
	db.MustReopen()
	if got, err := db.GetFirmware("node-2.1"); err != nil || got != fw {
		t.Fatalf("after reopen: %+v, %v; want %+v", got, err, fw)
	}
	assertChunks(t, db, "node-2.1", 16, small)
	if fws, err := db.ListFirmware(); err != nil || len(fws) != 5 {
		t.Fatalf("after reopen: %d images, %v", len(fws), err)
	}
}

// TestFirmwareLayout checks the stored layout documented in doc.go by
// reading the closed file with bbolt directly.
func TestFirmwareLayout(t *testing.T) {
	clk := newClock()
	db := storetest.MustOpen(t, store.Options{Now: clk.Now})
	data := image(700, 4)
	if _, err := db.PutFirmware("lora-1.2", 300, data); err != nil {
		t.Fatal(err)
	}
	db.MustClose()
	bdb, err := bolt.Open(db.Path(), 0o600, &bolt.Options{ReadOnly: true, Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer bdb.Close()
	err = bdb.View(func(tx *bolt.Tx) error {
		b := tx.Bucket([]byte("firmware")).Bucket([]byte("lora-1.2"))
		if b == nil {
			t.Fatal("no firmware/lora-1.2 bucket")
		}
		var info map[string]any
		if err := json.Unmarshal(b.Get([]byte("info")), &info); err != nil {
			t.Fatalf("info: %v", err)
		}
		want := map[string]any{
			"v": 1.0, "size": 700.0, "chunkSize": 300.0, "chunks": 3.0, "sha256": sha256Hex(data),
			"added": clk.Now().Format(time.RFC3339Nano),
		}
		if len(info) != len(want) {
			t.Fatalf("info = %v, want %v", info, want)
		}
		for k, v := range want {
			if info[k] != v {
				t.Fatalf("info[%q] = %v, want %v", k, info[k], v)
			}
		}
		var keys []string
		err := b.ForEach(func(k, v []byte) error {
			keys = append(keys, hex.EncodeToString(k))
			if k[0] == 'c' {
				i := int(k[1])<<8 | int(k[2])
				if !bytes.Equal(v, data[i*300:min(i*300+300, 700)]) {
					t.Errorf("chunk key %x holds the wrong bytes", k)
				}
			}
			return nil
		})
		// 'c' 0x0000, 'c' 0x0001, 'c' 0x0002, "info"
		if got := strings.Join(keys, " "); got != "630000 630001 630002 696e666f" {
			t.Fatalf("keys %s", got)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestPutFirmwareValidation(t *testing.T) {
	db := storetest.MustOpen(t, store.Options{})
	for _, c := range []struct {
		name      string
		chunkSize int
		size      int
	}{
		{"", 10, 10},
		{strings.Repeat("x", store.MaxFirmwareName+1), 10, 10},
		{"two words", 10, 10},
		{"nul\x00", 10, 10},
		{"tab\t", 10, 10},
		{"del\x7f", 10, 10},
		{"caf\xc3\xa9", 10, 10}, // not ASCII
		{"ok", 0, 10},
		{"ok", -1, 10},
		{"ok", store.MaxChunkSize + 1, 10},
		{"ok", 10, 0},
		{"ok", 1, 65537}, // 65537 chunks: one more than a uint16 can number
	} {
		_, err := db.PutFirmware(c.name, c.chunkSize, make([]byte, c.size))
		if !errors.Is(err, store.ErrInvalid) || !strings.HasPrefix(err.Error(), "store: put firmware") {
			t.Errorf("PutFirmware(%q, %d, %d bytes) = %v, want ErrInvalid", c.name, c.chunkSize, c.size, err)
		}
	}
	if _, err := db.PutFirmware("ok", 10, nil); !errors.Is(err, store.ErrInvalid) {
		t.Errorf("nil image: %v", err)
	}
	if fws, err := db.ListFirmware(); err != nil || len(fws) != 0 {
		t.Fatalf("rejected images were stored: %v, %v", fws, err)
	}

	// The limits themselves are accepted: a 20-byte name of the extreme
	// characters, MaxChunkSize, and exactly 65536 chunks.
	name := "!" + strings.Repeat("a", store.MaxFirmwareName-2) + "~"
	big := image(store.MaxChunkSize+1, 5)
	if fw, err := db.PutFirmware(name, store.MaxChunkSize, big); err != nil || fw.Chunks != 2 {
		t.Fatalf("limits: %+v, %v", fw, err)
	}
	assertChunks(t, db, name, store.MaxChunkSize, big)
	most := image(1<<16, 6)
	if fw, err := db.PutFirmware("most", 1, most); err != nil || fw.Chunks != 1<<16 {
		t.Fatalf("65536 chunks: %+v, %v", fw, err)
	}
	if c, err := db.FirmwareChunk("most", 65535); err != nil || len(c) != 1 || c[0] != most[65535] {
		t.Fatalf("chunk 65535 = %v, %v", c, err)
	}
}

// TestFirmwareSizeCap checks that an image is counted against MaxSize: one
// far over the cap fails with ErrFull and leaves nothing behind, one that
// fits goes in.
func TestFirmwareSizeCap(t *testing.T) {
	db := storetest.MustOpen(t, store.Options{MaxSize: 1 << 20})
	if _, err := db.PutFirmware("huge", store.MaxChunkSize, image(2<<20, 7)); !errors.Is(err, store.ErrFull) {
		t.Fatalf("image over the cap: %v, want ErrFull", err)
	}
	if _, err := db.GetFirmware("huge"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("refused image was stored: %v", err)
	}
	if _, err := db.PutFirmware("fits", 1024, image(64<<10, 8)); err != nil {
		t.Fatal(err)
	}
}

func TestFirmwareAfterClose(t *testing.T) {
	db := storetest.MustOpen(t, store.Options{})
	db.MustClose()
	if _, err := db.PutFirmware("fw", 1, []byte{1}); !errors.Is(err, store.ErrClosed) {
		t.Fatalf("PutFirmware after Close: %v", err)
	}
	if _, err := db.GetFirmware("fw"); !errors.Is(err, store.ErrClosed) {
		t.Fatalf("GetFirmware after Close: %v", err)
	}
	if _, err := db.FirmwareChunk("fw", 0); !errors.Is(err, store.ErrClosed) {
		t.Fatalf("FirmwareChunk after Close: %v", err)
	}
	if _, err := db.ListFirmware(); !errors.Is(err, store.ErrClosed) {
		t.Fatalf("ListFirmware after Close: %v", err)
	}
	if err := db.DeleteFirmware("fw"); !errors.Is(err, store.ErrClosed) {
		t.Fatalf("DeleteFirmware after Close: %v", err)
	}
}
