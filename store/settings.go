package store

import (
	"fmt"
	"slices"

	bolt "go.etcd.io/bbolt"
)

// PutSetting stores value under key (any non-empty string up to MaxNameLen
// bytes), replacing what was there. value is copied.
func (db *DB) PutSetting(key string, value []byte) error {
	if err := checkName("setting key", key); err != nil {
		return fmt.Errorf("store: put setting: %w", err)
	}
	v := slices.Clone(value)
	if v == nil {
		v = []byte{}
	}
	return db.write("put setting", int64(len(key)+len(v)+leafOverhead), func(tx *bolt.Tx) error {
		return tx.Bucket(bucketSettings).Put([]byte(key), v)
	})
}

// Setting returns the value stored under key (a copy), or an error matching
// ErrNotFound.
func (db *DB) Setting(key string) ([]byte, error) {
	var out []byte
	err := db.view("setting", func(tx *bolt.Tx) error {
		v := tx.Bucket(bucketSettings).Get([]byte(key))
		if v == nil {
			return fmt.Errorf("setting %q: %w", key, ErrNotFound)
		}
		out = append([]byte{}, v...)
		return nil
	})
	return out, err
}

// DeleteSetting removes key, or fails with ErrNotFound.
func (db *DB) DeleteSetting(key string) error {
	return db.write("delete setting", 0, func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketSettings)
		if b.Get([]byte(key)) == nil {
			return reject(fmt.Errorf("setting %q: %w", key, ErrNotFound))
		}
		return b.Delete([]byte(key))
	})
}
