package store_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
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
		{HistoryPerThing: -1}, {MaxDelay: -1}, {LockTimeout: -1}, {PaceBatch: -1}, {PaceInterval: -1},
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
// schema was versioned, some data, no meta): it must come out at the current
// version, through every migration, with its data intact and every bucket
// present.
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
	if v, err := db.Version(); err != nil || v != store.SchemaVersion {
		t.Fatalf("version after migration = %d, %v", v, err)
	}
	if v, err := db.Setting("site"); err != nil || string(v) != "barn" {
		t.Fatalf("v0 data lost: %q, %v", v, err)
	}
	for _, step := range []string{"from=0 to=1", "from=1 to=2"} {
		if !strings.Contains(logs.String(), step) {
			t.Fatalf("migration %s not logged: %s", step, logs.String())
		}
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
	if _, err := db.PutFirmware("fw", 4, []byte("image")); err != nil {
		t.Fatal(err)
	}
	db.MustReopen()
	if v, err := db.Version(); err != nil || v != store.SchemaVersion {
		t.Fatalf("version after reopen = %d, %v", v, err)
	}
	if n := strings.Count(logs.String(), "schema migrated"); n != int(store.SchemaVersion) {
		t.Fatalf("%d migrations logged, want %d (one per step, none on reopen): %s", n, store.SchemaVersion, logs.String())
	}
}

// v1Buckets are the top-level buckets of schema version 1.
var v1Buckets = []string{"devices", "journal", "state", "history", "cursors", "settings", "meta"}

// rawV1 builds a genuine version-1 file, as the build before firmware wrote
// it: the version-1 buckets, schema_version = version, and one record in
// every bucket. extra, if set, runs in the same transaction.
func rawV1(t *testing.T, version uint32, extra func(tx *bolt.Tx) error) string {
	t.Helper()
	return rawDB(t, func(tx *bolt.Tx) error {
		b := map[string]*bolt.Bucket{}
		for _, name := range v1Buckets {
			var err error
			if b[name], err = tx.CreateBucket([]byte(name)); err != nil {
				return err
			}
		}
		at := time.Date(2026, 2, 3, 4, 5, 6, 7, time.UTC)
		r := reading(1)
		r.Time = at
		rec, err := store.EncodeReading(&r)
		if err != nil {
			return err
		}
		state := binary.BigEndian.AppendUint64([]byte{1}, uint64(at.UnixNano()))
		for _, kv := range []struct {
			bucket string
			k, v   []byte
		}{
			{"meta", []byte("schema_version"), binary.BigEndian.AppendUint32(nil, version)},
			{"devices", []byte{0, 1, 0, 0, 0, 7}, []byte(`{"v":1,"type":1,"module":7,"name":"old","tag_len":8,"max_message_id":255,"added":"2026-02-03T04:05:06Z"}`)},
			{"journal", binary.BigEndian.AppendUint64(nil, 1), rec},
			{"state", []byte("lamp"), append(state, "on"...)},
			{"cursors", []byte("ocs"), binary.BigEndian.AppendUint64(nil, 1)},
			{"settings", []byte("site"), []byte("barn")},
		} {
			if err := b[kv.bucket].Put(kv.k, kv.v); err != nil {
				return err
			}
		}
		if err := b["journal"].SetSequence(1); err != nil {
			return err
		}
		hb, err := b["history"].CreateBucket([]byte("lamp"))
		if err != nil {
			return err
		}
		hk := binary.BigEndian.AppendUint64(binary.BigEndian.AppendUint64(nil, uint64(at.UnixNano())^1<<63), 1)
		if err := errors.Join(hb.Put(hk, []byte{1, 'x'}), hb.SetSequence(1), b["history"].SetSequence(1)); err != nil {
			return err
		}
		if extra != nil {
			return extra(tx)
		}
		return nil
	})
}

// TestMigrateV1 opens a genuine version-1 file: it must be migrated to
// the current version (one step per version, logged) with every record
// kept, gain the firmware and kv buckets, and not be migrated again on
// reopen.
func TestMigrateV1(t *testing.T) {
	path := rawV1(t, 1, nil)
	var logs lockedBuffer
	db := storetest.MustOpenPath(t, path, store.Options{Logger: newTextLogger(&logs)})
	check := func() {
		t.Helper()
		if v, err := db.Version(); err != nil || v != store.SchemaVersion {
			t.Fatalf("version = %d, %v; want %d", v, err, store.SchemaVersion)
		}
		at := time.Date(2026, 2, 3, 4, 5, 6, 7, time.UTC)
		if d, err := db.GetDevice(1, 7); err != nil || d.Name != "old" || d.TagLen != 8 {
			t.Fatalf("device = %v, %v", d, err)
		}
		want := reading(1)
		want.Seq, want.Time = 1, at
		if rs, err := db.Readings(1, 1); err != nil || len(rs) != 1 || !readingsEqual(rs[0], want) {
			t.Fatalf("readings = %+v, %v", rs, err)
		}
		if e, err := db.State("lamp"); err != nil || string(e.Value) != "on" || !e.At.Equal(at) {
			t.Fatalf("state = %+v, %v", e, err)
		}
		if h, err := db.History("lamp", at, at, 10); err != nil || len(h) != 1 || !h[0].At.Equal(at) || string(h[0].Value) != "x" {
			t.Fatalf("history = %+v, %v", h, err)
		}
		if c, err := db.Cursor("ocs"); err != nil || c != 1 {
			t.Fatalf("cursor = %d, %v", c, err)
		}
		if v, err := db.Setting("site"); err != nil || string(v) != "barn" {
			t.Fatalf("setting = %q, %v", v, err)
		}
	}
	check()
	if !strings.Contains(logs.String(), "from=1 to=2") || !strings.Contains(logs.String(), "from=3 to=4") || strings.Contains(logs.String(), "from=0") {
		t.Fatalf("want exactly the migrations from 1 logged: %s", logs.String())
	}
	// A version-1 history entry and the blocks written after it read as one
	// history, in time order, an older entry included.
	at := time.Date(2026, 2, 3, 4, 5, 6, 7, time.UTC)
	for _, d := range []time.Duration{time.Second, -time.Second, 2 * time.Second} {
		if err := db.AppendHistory("lamp", at.Add(d), []byte(d.String())); err != nil {
			t.Fatal(err)
		}
	}
	h, err := db.History("lamp", time.Time{}, time.Time{}, 10)
	if err != nil || len(h) != 4 || string(h[0].Value) != "-1s" || string(h[1].Value) != "x" || string(h[3].Value) != "2s" {
		t.Fatalf("mixed history = %q, %v", h, err)
	}
	if err := db.KV("test").Put("k", []byte("v")); err != nil {
		t.Fatalf("kv after migration: %v", err)
	}
	if fws, err := db.ListFirmware(); err != nil || len(fws) != 0 {
		t.Fatalf("firmware after migration = %v, %v", fws, err)
	}
	if _, err := db.PutFirmware("node-1.0", 2, []byte("abc")); err != nil {
		t.Fatal(err)
	}
	// The migrated file keeps working: sequences continue.
	if seq, err := db.Append(t.Context(), reading(2)); err != nil || seq != 2 {
		t.Fatalf("append after migration: %d, %v", seq, err)
	}
	db.MustReopen()
	check()
	if fw, err := db.GetFirmware("node-1.0"); err != nil || fw.Size != 3 || fw.Chunks != 2 {
		t.Fatalf("firmware after reopen = %+v, %v", fw, err)
	}
	if n := strings.Count(logs.String(), "schema migrated"); n != int(store.SchemaVersion)-1 {
		t.Fatalf("%d migrations logged, want %d: %s", n, store.SchemaVersion-1, logs.String())
	}
}

// TestSchemaNextRefused builds a file of the next version (a future
// build's: today's buckets and version SchemaVersion+1) and checks Open
// refuses it untouched.
func TestSchemaNextRefused(t *testing.T) {
	path := rawV1(t, store.SchemaVersion+1, func(tx *bolt.Tx) error {
		for _, name := range []string{"firmware", "kv"} {
			if _, err := tx.CreateBucket([]byte(name)); err != nil {
				return err
			}
		}
		return nil
	})
	before, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	_, err = store.Open(path, store.Options{})
	var se *store.SchemaTooNewError
	if !errors.Is(err, store.ErrSchemaTooNew) || !errors.As(err, &se) || se.Stored != store.SchemaVersion+1 || se.Supported != store.SchemaVersion {
		t.Fatalf("Open = %v, want ErrSchemaTooNew for %d over %d", err, store.SchemaVersion+1, store.SchemaVersion)
	}
	if after, err := os.ReadFile(path); err != nil || !bytes.Equal(before, after) {
		t.Fatalf("Open modified a file it refused (%v)", err)
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
	if msg := err.Error(); !strings.Contains(msg, "99") || !strings.Contains(msg, fmt.Sprintf("(%d)", store.SchemaVersion)) || !strings.HasPrefix(msg, "store: open ") {
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
