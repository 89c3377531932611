package store

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	bolt "go.etcd.io/bbolt"
)

// Firmware describes a stored firmware image.
type Firmware struct {
	Name      string    `json:"name"`      // OSP FirmwareName, 1..MaxFirmwareName bytes
	Size      int64     `json:"size"`      // image bytes
	ChunkSize int       `json:"chunkSize"` // bytes per chunk; the last may be short
	Chunks    int       `json:"chunks"`    // number of chunks, ids 0..Chunks-1
	SHA256    string    `json:"sha256"`    // hex
	Added     time.Time `json:"added"`     // when it was stored (Options.Now, UTC)
}

// Firmware limits validated by PutFirmware.
const (
	MaxFirmwareName = 20 // OSP FirmwareName is 20 bytes
	MaxChunkSize    = 16000

	// maxChunks is the number of chunk ids a uint16 (OSP ChunkID) can name.
	maxChunks = 1 << 16
)

const (
	firmwareV1 = 1

	// chunkKeyLen is the length of a chunk key: 'c' then the index (2).
	chunkKeyLen = 3

	// firmwareFill is the FillPercent of per-image buckets: chunks are
	// written once, in key order, so pages are filled rather than halved.
	firmwareFill = 0.95
)

// keyFirmwareInfo, in an image's bucket, holds its firmwareRecordV1.
var keyFirmwareInfo = []byte("info")

// chunkKey returns the key of chunk i in an image's bucket.
func chunkKey(i uint16) []byte {
	var k [chunkKeyLen]byte
	k[0] = 'c'
	binary.BigEndian.PutUint16(k[1:], i)
	return k[:]
}

// checkFirmwareName reports an ErrInvalid error unless name is 1 to
// MaxFirmwareName bytes of printable ASCII other than space (0x21..0x7e): a
// name that survives the NUL padding of OSP's fixed-width FirmwareName.
func checkFirmwareName(name string) error {
	if name == "" || len(name) > MaxFirmwareName {
		return invalidf("firmware name %q is %d bytes, want 1..%d", name, len(name), MaxFirmwareName)
	}
	for i := range len(name) {
		if c := name[i]; c < 0x21 || c > 0x7e {
			return invalidf("firmware name %q has byte 0x%02x at %d: only printable ASCII without spaces is allowed", name, c, i)
		}
	}
	return nil
}

// firmwareRecordV1 is the storage encoding of a Firmware under "info": JSON
// with a version field "v" (1). The name is the image bucket's key.
type firmwareRecordV1 struct {
	V         int       `json:"v"`
	Size      int64     `json:"size"`
	ChunkSize int       `json:"chunkSize"`
	Chunks    int       `json:"chunks"`
	SHA256    string    `json:"sha256"`
	Added     time.Time `json:"added"`
}

// chunkCount returns how many chunks of chunkSize (positive) hold size bytes.
func chunkCount(size int64, chunkSize int) int64 {
	cs := int64(chunkSize)
	return size/cs + min(size%cs, 1)
}

// decodeFirmware decodes an image's info record and checks that its fields
// agree with one another.
func decodeFirmware(name string, b []byte) (Firmware, error) {
	var r firmwareRecordV1
	if err := json.Unmarshal(b, &r); err != nil {
		off := 0
		var se *json.SyntaxError
		if errors.As(err, &se) {
			off = int(se.Offset)
		}
		return Firmware{}, &CorruptError{Record: "firmware", Offset: off, Reason: "invalid JSON"}
	}
	if r.V != firmwareV1 {
		return Firmware{}, &CorruptError{Record: "firmware", Reason: "unknown version " + strconv.Itoa(r.V)}
	}
	sum, err := hex.DecodeString(r.SHA256)
	switch {
	case r.Size <= 0 || r.ChunkSize < 1 || r.ChunkSize > MaxChunkSize:
		return Firmware{}, &CorruptError{Record: "firmware", Reason: fmt.Sprintf("size %d, chunk size %d", r.Size, r.ChunkSize)}
	case int64(r.Chunks) != chunkCount(r.Size, r.ChunkSize) || r.Chunks > maxChunks:
		return Firmware{}, &CorruptError{Record: "firmware", Reason: fmt.Sprintf("%d chunks for %d bytes in chunks of %d", r.Chunks, r.Size, r.ChunkSize)}
	case err != nil || len(sum) != sha256.Size:
		return Firmware{}, &CorruptError{Record: "firmware", Reason: "sha256 is not 64 hex digits"}
	}
	return Firmware{Name: name, Size: r.Size, ChunkSize: r.ChunkSize, Chunks: r.Chunks, SHA256: r.SHA256, Added: r.Added}, nil
}

// firmwareBucket returns the bucket of image name, or nil. A name that
// PutFirmware would refuse has none.
func firmwareBucket(tx *bolt.Tx, name string) *bolt.Bucket {
	if checkFirmwareName(name) != nil {
		return nil
	}
	return tx.Bucket(bucketFirmware).Bucket([]byte(name))
}

// readFirmware returns the description of image name from its bucket.
func readFirmware(b *bolt.Bucket, name string) (Firmware, error) {
	v := b.Get(keyFirmwareInfo)
	if v == nil {
		return Firmware{}, &CorruptError{Record: "firmware", Reason: "no info record"}
	}
	return decodeFirmware(name, v)
}

// PutFirmware stores data as the firmware image name, cut into chunks of
// chunkSize bytes (the last may be short), and returns its description.
// An image of the same name is replaced in the same transaction, so readers
// see the old image or the new one, never a mix. It validates first
// (ErrInvalid): name must be 1..MaxFirmwareName bytes of printable ASCII
// without spaces (0x21..0x7e), chunkSize 1..MaxChunkSize, data non-empty and
// at most 65536 chunks long (chunk ids are uint16). Added is set from
// Options.Now and SHA256 is the hex SHA-256 of data.
//
// data is not copied: it must not change until PutFirmware returns. The
// whole image is written in one transaction; for the size cap it counts
// twice its bytes plus a per-chunk overhead, like every write outside the
// journal, because chunks of half a page or more are stored in overflow
// pages rounded up to whole pages (see Options.MaxSize about such values).
func (db *DB) PutFirmware(name string, chunkSize int, data []byte) (Firmware, error) {
	if err := checkFirmwareName(name); err != nil {
		return Firmware{}, fmt.Errorf("store: put firmware: %w", err)
	}
	if chunkSize < 1 || chunkSize > MaxChunkSize {
		return Firmware{}, fmt.Errorf("store: put firmware %q: %w", name, invalidf("chunk size %d outside 1..%d", chunkSize, MaxChunkSize))
	}
	if len(data) == 0 {
		return Firmware{}, fmt.Errorf("store: put firmware %q: %w", name, invalidf("empty image"))
	}
	chunks := chunkCount(int64(len(data)), chunkSize)
	if chunks > maxChunks {
		return Firmware{}, fmt.Errorf("store: put firmware %q: %w", name,
			invalidf("%d bytes in chunks of %d make %d chunks, the limit is %d", len(data), chunkSize, chunks, maxChunks))
	}
	sum := sha256.Sum256(data)
	fw := Firmware{
		Name: name, Size: int64(len(data)), ChunkSize: chunkSize, Chunks: int(chunks),
		SHA256: hex.EncodeToString(sum[:]), Added: db.opts.Now().UTC(),
	}
	info, err := json.Marshal(firmwareRecordV1{
		V: firmwareV1, Size: fw.Size, ChunkSize: fw.ChunkSize, Chunks: fw.Chunks, SHA256: fw.SHA256, Added: fw.Added,
	})
	if err != nil {
		return Firmware{}, fmt.Errorf("store: put firmware %q: %w", name, err)
	}
	size := fw.Size + chunks*(chunkKeyLen+leafOverhead) + // chunks
		int64(len(keyFirmwareInfo)+len(info)+leafOverhead) + // info
		int64(len(name)+leafOverhead) // the image bucket in firmware
	err = db.write("put firmware", size, func(tx *bolt.Tx) error {
		fb := tx.Bucket(bucketFirmware)
		key := []byte(name)
		switch {
		case fb.Bucket(key) != nil:
			if err := fb.DeleteBucket(key); err != nil {
				return err
			}
		case fb.Get(key) != nil: // a stray value, never written by this code: replaced too
			if err := fb.Delete(key); err != nil {
				return err
			}
		}
		b, err := fb.CreateBucket(key)
		if err != nil {
			return err
		}
		b.FillPercent = firmwareFill
		for i := range chunks {
			lo := i * int64(chunkSize)
			hi := min(lo+int64(chunkSize), fw.Size)
			if err := b.Put(chunkKey(uint16(i)), data[lo:hi]); err != nil {
				return err
			}
		}
		return b.Put(keyFirmwareInfo, info)
	})
	if err != nil {
		return Firmware{}, err
	}
	return fw, nil
}

// GetFirmware returns the description of the firmware image name, or an
// error matching ErrNotFound.
func (db *DB) GetFirmware(name string) (Firmware, error) {
	var fw Firmware
	err := db.view("get firmware", func(tx *bolt.Tx) error {
		b := firmwareBucket(tx, name)
		if b == nil {
			return fmt.Errorf("firmware %q: %w", name, ErrNotFound)
		}
		var err error
		if fw, err = readFirmware(b, name); err != nil {
			return fmt.Errorf("firmware %q: %w", name, err)
		}
		return nil
	})
	return fw, err
}

// ListFirmware returns the description of every firmware image, sorted by
// name.
func (db *DB) ListFirmware() ([]Firmware, error) {
	var out []Firmware
	err := db.view("list firmware", func(tx *bolt.Tx) error {
		fb := tx.Bucket(bucketFirmware)
		return fb.ForEach(func(k, v []byte) error {
			if v != nil {
				return fmt.Errorf("firmware %q: %w", k, &CorruptError{Record: "firmware", Reason: "a value where an image bucket belongs"})
			}
			fw, err := readFirmware(fb.Bucket(k), string(k))
			if err != nil {
				return fmt.Errorf("firmware %q: %w", k, err)
			}
			out = append(out, fw)
			return nil
		})
	})
	return out, err
}

// FirmwareChunk returns a copy of chunk number chunk (from 0) of the
// firmware image name: ChunkSize bytes, fewer for the last chunk. It fails
// with ErrNotFound when there is no such image or chunk is past its end.
func (db *DB) FirmwareChunk(name string, chunk uint16) ([]byte, error) {
	var out []byte
	err := db.view("firmware chunk", func(tx *bolt.Tx) error {
		b := firmwareBucket(tx, name)
		if b == nil {
			return fmt.Errorf("firmware %q: %w", name, ErrNotFound)
		}
		fw, err := readFirmware(b, name)
		if err != nil {
			return fmt.Errorf("firmware %q: %w", name, err)
		}
		if int(chunk) >= fw.Chunks {
			return fmt.Errorf("firmware %q chunk %d: %w (it has %d chunks)", name, chunk, ErrNotFound, fw.Chunks)
		}
		want := int64(fw.ChunkSize)
		if int(chunk) == fw.Chunks-1 {
			want = fw.Size - int64(fw.Chunks-1)*want
		}
		v := b.Get(chunkKey(chunk))
		if int64(len(v)) != want {
			return fmt.Errorf("firmware %q chunk %d: %w", name, chunk,
				&CorruptError{Record: "firmware chunk", Offset: len(v), Reason: "want " + strconv.FormatInt(want, 10) + " bytes"})
		}
		out = append([]byte{}, v...)
		return nil
	})
	return out, err
}

// DeleteFirmware removes the firmware image name, or fails with ErrNotFound.
func (db *DB) DeleteFirmware(name string) error {
	if checkFirmwareName(name) != nil {
		return fmt.Errorf("store: delete firmware: firmware %q: %w", name, ErrNotFound)
	}
	return db.write("delete firmware", 0, func(tx *bolt.Tx) error {
		if firmwareBucket(tx, name) == nil {
			return reject(fmt.Errorf("firmware %q: %w", name, ErrNotFound))
		}
		return tx.Bucket(bucketFirmware).DeleteBucket([]byte(name))
	})
}
