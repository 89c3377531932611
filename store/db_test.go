package store_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/edgegate/edgegate/store"
	"github.com/edgegate/edgegate/store/storetest"
	bolt "go.etcd.io/bbolt"
)

// TestDurableAcrossReopen writes every kind of persisted data, reopens the
// file, and checks each invariant, including that deleted data stays deleted.
func TestDurableAcrossReopen(t *testing.T) {
	clk := newClock()
	db := storetest.MustOpen(t, store.Options{Now: clk.Now, HistoryPerThing: 3})

	// devices
	if err := db.PutDevice(secureDevice()); err != nil {
		t.Fatal(err)
	}
	if err := db.PutDevice(store.Device{Type: 2, Module: 1, Name: "gone"}); err != nil {
		t.Fatal(err)
	}
	if err := db.DeleteDevice(2, 1); err != nil {
		t.Fatal(err)
	}
	// readings
	for i := range 10 {
		if _, err := db.Append(t.Context(), reading(i)); err != nil {
			t.Fatal(err)
		}
	}
	// cursors
	if err := db.SetCursor("ocs", 7); err != nil {
		t.Fatal(err)
	}
	if err := db.SetCursor("josp", 0); err != nil {
		t.Fatal(err)
	}
	if err := db.SetCursor("old", 3); err != nil {
		t.Fatal(err)
	}
	if err := db.DeleteCursor("old"); err != nil {
		t.Fatal(err)
	}
	// state and history
	at := clk.Now()
	if err := db.PutState("thing/a", []byte(`{"t":21}`), at); err != nil {
		t.Fatal(err)
	}
	if err := db.PutState("thing/b", []byte("x"), at); err != nil {
		t.Fatal(err)
	}
	if err := db.DeleteThing("thing/b"); err != nil {
		t.Fatal(err)
	}
	for i := range 5 {
		if err := db.AppendHistory("thing/a", at.Add(time.Duration(i)*time.Minute), []byte{byte(i)}); err != nil {
			t.Fatal(err)
		}
	}
	// settings
	if err := db.PutSetting("gateway.name", []byte("pi-4")); err != nil {
		t.Fatal(err)
	}
	if err := db.PutSetting("empty", nil); err != nil {
		t.Fatal(err)
	}
	if err := db.PutSetting("tmp", []byte("1")); err != nil {
		t.Fatal(err)
	}
	if err := db.DeleteSetting("tmp"); err != nil {
		t.Fatal(err)
	}

	db.MustReopen()

	if v, err := db.Version(); err != nil || v != store.SchemaVersion {
		t.Fatalf("schema version %d, %v", v, err)
	}
	d, err := db.GetDevice(1, 4242)
	if err != nil {
		t.Fatal(err)
	}
	assertDeviceEqual(t, d, secureDevice())
	if _, err := db.GetDevice(2, 1); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("deleted device came back: %v", err)
	}
	rs, err := db.Readings(0, 100)
	if err != nil || len(rs) != 10 {
		t.Fatalf("readings: %d, %v", len(rs), err)
	}
	for i, r := range rs {
		want := reading(i)
		want.Seq, want.Time = uint64(i+1), clk.Now()
		if !readingsEqual(r, want) {
			t.Fatalf("reading %d = %+v, want %+v", i, r, want)
		}
	}
	if c, err := db.Cursor("ocs"); err != nil || c != 7 {
		t.Fatalf("cursor ocs = %d, %v", c, err)
	}
	if _, err := db.Cursor("old"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("deleted cursor came back: %v", err)
	}
	if cs, err := db.Consumers(); err != nil || strings.Join(cs, ",") != "josp,ocs" {
		t.Fatalf("consumers = %v, %v", cs, err)
	}
	if e, err := db.State("thing/a"); err != nil || string(e.Value) != `{"t":21}` || !e.At.Equal(at) {
		t.Fatalf("state = %+v, %v", e, err)
	}
	if _, err := db.State("thing/b"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("deleted state came back: %v", err)
	}
	if all, err := db.States(); err != nil || len(all) != 1 {
		t.Fatalf("states = %v, %v", all, err)
	}
	h, err := db.History("thing/a", time.Time{}, time.Time{}, 100)
	if err != nil || len(h) != 3 || h[0].Value[0] != 2 || h[2].Value[0] != 4 {
		t.Fatalf("history after cap = %v, %v (want the last 3 of 5)", h, err)
	}
	if v, err := db.Setting("gateway.name"); err != nil || string(v) != "pi-4" {
		t.Fatalf("setting = %q, %v", v, err)
	}
	if v, err := db.Setting("empty"); err != nil || len(v) != 0 {
		t.Fatalf("empty setting = %q, %v", v, err)
	}
	if _, err := db.Setting("tmp"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("deleted setting came back: %v", err)
	}
	// Sequences continue after a reopen.
	if seq, err := db.Append(t.Context(), reading(10)); err != nil || seq != 11 {
		t.Fatalf("append after reopen: %d, %v", seq, err)
	}
}

func TestFileMode(t *testing.T) {
	db := storetest.MustOpen(t, store.Options{})
	fi, err := os.Stat(db.Path())
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Fatalf("mode %v, want 0600", fi.Mode().Perm())
	}
	// A file left readable by others is tightened at the next Open.
	db.MustClose()
	if err := os.Chmod(db.Path(), 0o644); err != nil {
		t.Fatal(err)
	}
	db.MustReopen()
	if fi, _ := os.Stat(db.Path()); fi.Mode().Perm() != 0o600 {
		t.Fatalf("mode after reopen %v, want 0600", fi.Mode().Perm())
	}
}

func TestOpenLocked(t *testing.T) {
	db := storetest.MustOpen(t, store.Options{})
	start := time.Now()
	_, err := store.Open(db.Path(), store.Options{LockTimeout: 100 * time.Millisecond})
	if !errors.Is(err, store.ErrLocked) {
		t.Fatalf("second Open: %v, want ErrLocked", err)
	}
	if time.Since(start) > 10*time.Second {
		t.Fatalf("Open waited %v for the lock", time.Since(start))
	}
}

func TestOpenOptionsValidation(t *testing.T) {
	dir := t.TempDir()
	for _, o := range []store.Options{
		{MaxSize: 1000}, {MaxSize: -1}, {MaxAge: -time.Second}, {MaxBatch: -1},
		{HistoryPerThing: -1}, {MaxDelay: -1}, {LockTimeout: -1},
	} {
		if _, err := store.Open(filepath.Join(dir, "x.db"), o); !errors.Is(err, store.ErrInvalid) {
			t.Errorf("Open(%+v) = %v, want ErrInvalid", o, err)
		}
	}
}

// rawDB builds a bbolt file by hand, as an older (or newer) build would have.
func rawDB(t *testing.T, fn func(tx *bolt.Tx) error) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "raw.db")
	bdb, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if err := bdb.Update(fn); err != nil {
		t.Fatal(err)
	}
	if err := bdb.Close(); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestMigrationTable(t *testing.T) {
	if store.MigrationCount != int(store.SchemaVersion) {
		t.Fatalf("%d migrations for schema version %d", store.MigrationCount, store.SchemaVersion)
	}
	for i := range store.MigrationCount {
		if store.MigrationFrom(i) != uint32(i) {
			t.Fatalf("migration %d starts from %d", i, store.MigrationFrom(i))
		}
	}
}

// TestMigrateV0 opens a synthetic version-0 file (buckets from before the
// schema was versioned, some data, no meta): it must come out at version 1
// with its data intact and every bucket present.
func TestMigrateV0(t *testing.T) {
	path := rawDB(t, func(tx *bolt.Tx) error {
		b, err := tx.CreateBucket([]byte("settings"))
		if err != nil {
			return err
		}
		if err := b.Put([]byte("site"), []byte("barn")); err != nil {
			return err
		}
		_, err = tx.CreateBucket([]byte("devices"))
		return err
	})
	var logs lockedBuffer
	db := storetest.MustOpenPath(t, path, store.Options{Logger: newTextLogger(&logs)})
	if v, err := db.Version(); err != nil || v != 1 {
		t.Fatalf("version after migration = %d, %v", v, err)
	}
	if v, err := db.Setting("site"); err != nil || string(v) != "barn" {
		t.Fatalf("v0 data lost: %q, %v", v, err)
	}
	if !strings.Contains(logs.String(), "schema migrated") || !strings.Contains(logs.String(), "from=0 to=1") {
		t.Fatalf("migration not logged: %s", logs.String())
	}
	// Every bucket works.
	if _, err := db.Append(t.Context(), reading(1)); err != nil {
		t.Fatal(err)
	}
	if err := db.SetCursor("c", 1); err != nil {
		t.Fatal(err)
	}
	if err := db.AppendHistory("x", time.Time{}, nil); err != nil {
		t.Fatal(err)
	}
	db.MustReopen()
	if v, err := db.Version(); err != nil || v != 1 {
		t.Fatalf("version after reopen = %d, %v", v, err)
	}
	if strings.Count(logs.String(), "schema migrated") != 1 {
		t.Fatalf("migration ran again on reopen: %s", logs.String())
	}
}

func TestSchemaTooNew(t *testing.T) {
	path := rawDB(t, func(tx *bolt.Tx) error {
		b, err := tx.CreateBucket([]byte("meta"))
		if err != nil {
			return err
		}
		return b.Put([]byte("schema_version"), binary.BigEndian.AppendUint32(nil, 99))
	})
	before, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	_, err = store.Open(path, store.Options{})
	if !errors.Is(err, store.ErrSchemaTooNew) {
		t.Fatalf("Open = %v, want ErrSchemaTooNew", err)
	}
	var se *store.SchemaTooNewError
	if !errors.As(err, &se) || se.Stored != 99 || se.Supported != store.SchemaVersion {
		t.Fatalf("error %#v does not carry both versions", err)
	}
	if msg := err.Error(); !strings.Contains(msg, "99") || !strings.Contains(msg, "(1)") || !strings.HasPrefix(msg, "store: open ") {
		t.Fatalf("message %q should name both versions", msg)
	}
	after, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(before, after) {
		t.Fatal("Open modified a file it refused")
	}
	if err := storetest.Check(path); err != nil {
		t.Fatal(err)
	}
}

func TestSchemaVersionCorrupt(t *testing.T) {
	path := rawDB(t, func(tx *bolt.Tx) error {
		b, err := tx.CreateBucket([]byte("meta"))
		if err != nil {
			return err
		}
		return b.Put([]byte("schema_version"), []byte{0, 1})
	})
	if _, err := store.Open(path, store.Options{}); !errors.Is(err, store.ErrCorrupt) {
		t.Fatalf("Open = %v, want ErrCorrupt", err)
	}
}

// TestCloseStopsCommitter checks that Close leaves no goroutine behind.
func TestCloseStopsCommitter(t *testing.T) {
	before := runtime.NumGoroutine()
	db, err := store.Open(filepath.Join(t.TempDir(), "g.db"), store.Options{PruneInterval: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Append(t.Context(), reading(1)); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the committer to exit", func() bool { return runtime.NumGoroutine() <= before })
	if err := storetest.Check(db.Path()); err != nil {
		t.Fatal(err)
	}
}
