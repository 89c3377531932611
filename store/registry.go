package store

import (
	"fmt"

	bolt "go.etcd.io/bbolt"
)

// PutDevice adds d to the registry or replaces the device with the same
// Type:Module. It validates first (ErrInvalid): Key must be DeviceKeyLen
// bytes when Secure and empty otherwise; TagLen must be 0 (DefaultTagLen)
// or 4..16. A zero MaxMessageID becomes DefaultMaxMessageID and a zero
// Added becomes Options.Now.
func (db *DB) PutDevice(d Device) error {
	if err := d.validate(db.opts.Now); err != nil {
		return fmt.Errorf("store: put device: %w", err)
	}
	v, err := encodeDevice(&d)
	if err != nil {
		return fmt.Errorf("store: put device %v: %w", d.ID(), err)
	}
	return db.write("put device", int64(6+len(v)+leafOverhead), func(tx *bolt.Tx) error {
		return tx.Bucket(bucketDevices).Put(d.ID().key(), v)
	})
}

// GetDevice returns the device typ:module, or an error matching ErrNotFound.
func (db *DB) GetDevice(typ uint16, module uint32) (Device, error) {
	id := DeviceID{Type: typ, Module: module}
	var d Device
	err := db.view("get device", func(tx *bolt.Tx) error {
		v := tx.Bucket(bucketDevices).Get(id.key())
		if v == nil {
			return fmt.Errorf("device %v: %w", id, ErrNotFound)
		}
		var err error
		if d, err = decodeDevice(v); err != nil {
			return fmt.Errorf("device %v: %w", id, err)
		}
		return nil
	})
	return d, err
}

// DeleteDevice removes the device typ:module, or fails with ErrNotFound.
func (db *DB) DeleteDevice(typ uint16, module uint32) error {
	id := DeviceID{Type: typ, Module: module}
	return db.write("delete device", 0, func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketDevices)
		if b.Get(id.key()) == nil {
			return reject(fmt.Errorf("device %v: %w", id, ErrNotFound))
		}
		return b.Delete(id.key())
	})
}

// ListDevices returns every device, ordered by Type then Module.
func (db *DB) ListDevices() ([]Device, error) {
	var out []Device
	err := db.view("list devices", func(tx *bolt.Tx) error {
		return tx.Bucket(bucketDevices).ForEach(func(k, v []byte) error {
			d, err := decodeDevice(v)
			if err != nil {
				return fmt.Errorf("device key %x: %w", k, err)
			}
			out = append(out, d)
			return nil
		})
	})
	return out, err
}
