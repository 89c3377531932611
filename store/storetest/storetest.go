// Package storetest opens real store databases for tests: a file in
// t.TempDir(), closed and checked for bbolt consistency (tx.Check) when the
// test ends, and reopenable to prove that data survives a restart.
package storetest

import (
	"errors"
	"io"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/edgegate/edgegate/store"
	bolt "go.etcd.io/bbolt"
)

// DB is a store.DB opened by MustOpen. The embedded *store.DB is replaced by
// MustReopen.
type DB struct {
	*store.DB
	t    testing.TB
	opts store.Options
}

// MustOpen opens a new database file in t.TempDir() with opts, failing the
// test on error. When opts.Logger is nil, the store logs to t.Log. Cleanup
// closes the database and runs bbolt's consistency check on the file.
func MustOpen(t testing.TB, opts store.Options) *DB {
	t.Helper()
	return MustOpenPath(t, filepath.Join(t.TempDir(), "edgegate.db"), opts)
}

// MustOpenPath is MustOpen on a given path (for files a test prepared).
func MustOpenPath(t testing.TB, path string, opts store.Options) *DB {
	t.Helper()
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	sdb, err := store.Open(path, opts)
	if err != nil {
		t.Fatalf("storetest: open %s: %v", path, err)
	}
	db := &DB{DB: sdb, t: t, opts: opts}
	t.Cleanup(func() {
		if err := db.DB.Close(); err != nil {
			t.Errorf("storetest: close: %v", err)
		}
		if err := Check(path); err != nil {
			t.Errorf("storetest: %v", err)
		}
	})
	return db
}

// MustReopen closes the database (checking its consistency) and opens the
// same file again with the same options.
func (db *DB) MustReopen() {
	db.t.Helper()
	db.MustClose()
	sdb, err := store.Open(db.Path(), db.opts)
	if err != nil {
		db.t.Fatalf("storetest: reopen %s: %v", db.Path(), err)
	}
	db.DB = sdb
}

// MustClose closes the database and runs the consistency check on the file.
func (db *DB) MustClose() {
	db.t.Helper()
	if err := db.DB.Close(); err != nil {
		db.t.Fatalf("storetest: close: %v", err)
	}
	if err := Check(db.Path()); err != nil {
		db.t.Fatalf("storetest: %v", err)
	}
}

// Check opens the closed database file at path read-only and runs bbolt's
// tx.Check over it, returning every inconsistency found.
func Check(path string) error {
	bdb, err := bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true, Timeout: 5 * time.Second})
	if err != nil {
		return err
	}
	var errs []error
	err = bdb.View(func(tx *bolt.Tx) error {
		for err := range tx.Check() {
			errs = append(errs, err)
		}
		return nil
	})
	errs = append(errs, err, bdb.Close())
	if err := errors.Join(errs...); err != nil {
		return errors.New("consistency check of " + path + ": " + err.Error())
	}
	return nil
}

// testWriter sends each log line to t.Log.
type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSuffix(string(p), "\n"))
	return len(p), nil
}

var _ io.Writer = testWriter{}
