package store

import (
	"encoding/binary"
	"fmt"
	"log/slog"
	"slices"

	bolt "go.etcd.io/bbolt"
)

// SchemaVersion is the layout version this build writes and reads. A file
// with a lower version is migrated at Open; a higher one is refused with
// ErrSchemaTooNew.
const SchemaVersion uint32 = 4

// Bucket names (top level).
var (
	bucketDevices  = []byte("devices")
	bucketJournal  = []byte("journal")
	bucketState    = []byte("state")
	bucketHistory  = []byte("history")
	bucketCursors  = []byte("cursors")
	bucketSettings = []byte("settings")
	bucketMeta     = []byte("meta")
	bucketFirmware = []byte("firmware")
	bucketKV       = []byte("kv")

	// keySchema, in meta, holds the schema version as 4 bytes big-endian.
	keySchema = []byte("schema_version")
)

// v1Buckets lists the top-level buckets of schema version 1.
var v1Buckets = [][]byte{bucketDevices, bucketJournal, bucketState, bucketHistory, bucketCursors, bucketSettings, bucketMeta}

// v2Buckets lists the top-level buckets schema version 2 adds.
var v2Buckets = [][]byte{bucketFirmware}

// v3Buckets lists the top-level buckets schema version 3 adds: the services'
// key/value namespaces (see KV).
var v3Buckets = [][]byte{bucketKV}

// migration moves a file from version from to from+1. Each runs in its own
// write transaction together with the version bump, so a crash leaves the
// file at from or at from+1, never in between.
type migration struct {
	from uint32
	name string
	fn   func(tx *bolt.Tx) error
}

// migrations is indexed by from: migrations[n] takes version n to n+1.
// It is a constant table; nothing modifies it.
var migrations = [...]migration{
	{from: 0, name: "create the version-1 buckets", fn: migrateV0},
	{from: 1, name: "create the firmware bucket", fn: migrateV1},
	{from: 2, name: "create the kv bucket", fn: migrateV2},
	{from: 3, name: "store history in blocks", fn: migrateV3},
}

// migrateV0 takes version 0 (a new file, or one written before the schema was
// versioned: no meta bucket or no version key) to version 1 by creating
// every missing version-1 bucket. Buckets that exist keep their contents.
func migrateV0(tx *bolt.Tx) error {
	return createBuckets(tx, v1Buckets)
}

// migrateV1 takes version 1 to version 2 by creating the firmware bucket.
func migrateV1(tx *bolt.Tx) error {
	return createBuckets(tx, v2Buckets)
}

// migrateV2 takes version 2 to version 3 by creating the kv bucket.
func migrateV2(tx *bolt.Tx) error {
	return createBuckets(tx, v3Buckets)
}

// migrateV3 takes version 3 to version 4, whose history values may be
// blocks of entries (see historyV2). Version-1 history values remain valid
// as blocks of one entry, so nothing is rewritten: the new version number
// is what keeps an older build, which cannot read blocks, from opening the
// file.
func migrateV3(*bolt.Tx) error { return nil }

// createBuckets creates every missing top-level bucket of names. Buckets
// that exist keep their contents.
func createBuckets(tx *bolt.Tx, names [][]byte) error {
	for _, name := range names {
		if _, err := tx.CreateBucketIfNotExists(name); err != nil {
			return fmt.Errorf("create bucket %s: %w", name, err)
		}
	}
	return nil
}

// readSchema returns the file's schema version (0 when unversioned).
func readSchema(tx *bolt.Tx) (uint32, error) {
	meta := tx.Bucket(bucketMeta)
	if meta == nil {
		return 0, nil
	}
	v := meta.Get(keySchema)
	if v == nil {
		return 0, nil
	}
	if len(v) != 4 {
		return 0, &CorruptError{Record: "schema version", Offset: len(v), Reason: "want 4 bytes"}
	}
	return binary.BigEndian.Uint32(v), nil
}

func writeSchema(tx *bolt.Tx, v uint32) error {
	meta, err := tx.CreateBucketIfNotExists(bucketMeta)
	if err != nil {
		return err
	}
	var b [4]byte
	binary.BigEndian.PutUint32(b[:], v)
	return meta.Put(keySchema, b[:])
}

// migrate brings the file to SchemaVersion, one transaction per step.
func (db *DB) migrate() error {
	var v uint32
	if err := db.bolt.View(func(tx *bolt.Tx) error {
		var err error
		v, err = readSchema(tx)
		return err
	}); err != nil {
		return err
	}
	if v > SchemaVersion {
		return &SchemaTooNewError{Stored: v, Supported: SchemaVersion}
	}
	for ; v < SchemaVersion; v++ {
		if int(v) >= len(migrations) || migrations[v].from != v {
			return fmt.Errorf("no migration from schema %d", v)
		}
		m := migrations[v]
		if err := db.bolt.Update(func(tx *bolt.Tx) error {
			if err := m.fn(tx); err != nil {
				return err
			}
			return writeSchema(tx, v+1)
		}); err != nil {
			return fmt.Errorf("migrate schema %d to %d (%s): %w", v, v+1, m.name, err)
		}
		db.stats.fsyncs.Add(1)
		db.log.Info("store: schema migrated", slog.Uint64("from", uint64(v)), slog.Uint64("to", uint64(v+1)), slog.String("step", m.name))
	}
	// Every bucket of the current version must now exist.
	return db.bolt.View(func(tx *bolt.Tx) error {
		for _, name := range slices.Concat(v1Buckets, v2Buckets, v3Buckets) {
			if tx.Bucket(name) == nil {
				return &CorruptError{Record: "schema", Reason: "missing bucket " + string(name)}
			}
		}
		return nil
	})
}

// Version returns the schema version stored in the file (SchemaVersion once
// Open has succeeded).
func (db *DB) Version() (uint32, error) {
	var v uint32
	err := db.view("version", func(tx *bolt.Tx) error {
		var err error
		v, err = readSchema(tx)
		return err
	})
	return v, err
}
