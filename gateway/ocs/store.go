package ocs

import (
	"crypto"
	"crypto/x509"
	"errors"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"
)

// Buckets of the OCS database (its own file, e.g. ocsd.db):
//
//	devices/<uuid>/{voucher,state,svi,psi,dvi,m41,m45,m47,crypto}
//	values/<valueId>      raw bytes, shared by all devices (as in ocsfs)
//	owner/key             the owner private key, PKCS#8 DER
var (
	bucketDevices = []byte("devices")
	bucketValues  = []byte("values")
	bucketOwner   = []byte("owner")
	keyOwnerKey   = []byte("key")
)

// Record names inside a device bucket.
const (
	recVoucher = "voucher"
	recState   = "state"
	recSvi     = "svi"
	recPsi     = "psi"
	recDvi     = "dvi"
	recM41     = "m41"
	recM45     = "m45"
	recM47     = "m47"
	recCrypto  = "crypto"
)

// Store is the Server's bbolt database. It is safe for concurrent use.
type Store struct {
	db *bolt.DB
}

// OpenStore opens (creating if needed, mode 0600) the OCS database at path.
// It waits at most one second for the file lock.
func OpenStore(path string) (*Store, error) {
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: time.Second})
	if err != nil {
		return nil, fmt.Errorf("ocs: open store %s: %w", path, err)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		for _, b := range [][]byte{bucketDevices, bucketValues, bucketOwner} {
			if _, err := tx.CreateBucketIfNotExists(b); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("ocs: open store %s: %w", path, err)
	}
	return &Store{db: db}, nil
}

// Close closes the database file.
func (s *Store) Close() error { return s.db.Close() }

// Bolt returns the underlying database (for consistency checks in tests).
func (s *Store) Bolt() *bolt.DB { return s.db }

// get returns a copy of a device record, or ErrNotFound.
func (s *Store) get(id, rec string) ([]byte, error) {
	var out []byte
	err := s.db.View(func(tx *bolt.Tx) error {
		d := tx.Bucket(bucketDevices).Bucket([]byte(id))
		if d == nil {
			return ErrNotFound
		}
		v := d.Get([]byte(rec))
		if v == nil {
			return ErrNotFound
		}
		out = append([]byte{}, v...)
		return nil
	})
	return out, err
}

// update runs fn on the device's bucket, creating it.
func (s *Store) update(id string, fn func(d *bolt.Bucket) error) error {
	if id == "" {
		return fmt.Errorf("ocs: %w: empty device id", ErrInvalid)
	}
	return s.db.Update(func(tx *bolt.Tx) error {
		d, err := tx.Bucket(bucketDevices).CreateBucketIfNotExists([]byte(id))
		if err != nil {
			return err
		}
		return fn(d)
	})
}

func (s *Store) put(id, rec string, v []byte) error {
	return s.update(id, func(d *bolt.Bucket) error { return d.Put([]byte(rec), v) })
}

// del deletes device records; a missing device or record is not an error.
func (s *Store) del(id string, recs ...string) error {
	return s.db.Update(func(tx *bolt.Tx) error {
		d := tx.Bucket(bucketDevices).Bucket([]byte(id))
		if d == nil {
			return nil
		}
		for _, r := range recs {
			if err := d.Delete([]byte(r)); err != nil {
				return err
			}
		}
		return nil
	})
}

// DeleteDevice deletes every record of the device (values are kept).
func (s *Store) DeleteDevice(id string) error {
	return s.db.Update(func(tx *bolt.Tx) error {
		err := tx.Bucket(bucketDevices).DeleteBucket([]byte(id))
		if errors.Is(err, berrors.ErrBucketNotFound) {
			return nil
		}
		return err
	})
}

// Value returns a copy of a serviceinfo value, or ErrNotFound.
func (s *Store) Value(valueID string) ([]byte, error) {
	var out []byte
	err := s.db.View(func(tx *bolt.Tx) error {
		v := tx.Bucket(bucketValues).Get([]byte(valueID))
		if v == nil {
			return ErrNotFound
		}
		out = append([]byte{}, v...)
		return nil
	})
	return out, err
}

// PutValue stores a serviceinfo value.
func (s *Store) PutValue(valueID string, v []byte) error {
	if valueID == "" {
		return fmt.Errorf("ocs: %w: empty value id", ErrInvalid)
	}
	if v == nil {
		v = []byte{}
	}
	return s.db.Update(func(tx *bolt.Tx) error { return tx.Bucket(bucketValues).Put([]byte(valueID), v) })
}

// DeleteValue deletes a serviceinfo value; a missing one is not an error.
func (s *Store) DeleteValue(valueID string) error {
	return s.db.Update(func(tx *bolt.Tx) error { return tx.Bucket(bucketValues).Delete([]byte(valueID)) })
}

// PutVoucher stores voucher text verbatim under the device id.
func (s *Store) PutVoucher(id string, voucher []byte) error { return s.put(id, recVoucher, voucher) }

// PutPreServiceInfo stores the owner's pre-serviceinfo for a device.
func (s *Store) PutPreServiceInfo(id string, psi []ModuleMessage) error {
	if psi == nil {
		psi = []ModuleMessage{}
	}
	b, err := marshal(psi)
	if err != nil {
		return err
	}
	return s.put(id, recPsi, b)
}

// DeviceServiceInfo returns the device serviceinfo posted so far (POST
// msgs, appended), or ErrNotFound.
func (s *Store) DeviceServiceInfo(id string) ([]ModuleMessage, error) {
	b, err := s.get(id, recDvi)
	if err != nil {
		return nil, err
	}
	var list []ModuleMessage
	if err := jsonUnmarshal(b, &list); err != nil {
		return nil, fmt.Errorf("ocs: device %s serviceinfo: %w", id, err)
	}
	return list, nil
}

// SetOwnerKey stores the owner's private key (*ecdsa.PrivateKey on P-256 or
// P-384, or *rsa.PrivateKey) used by signatures and ciphers.
func (s *Store) SetOwnerKey(key crypto.Signer) error {
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return fmt.Errorf("ocs: owner key: %w: %v", ErrInvalid, err)
	}
	return s.db.Update(func(tx *bolt.Tx) error { return tx.Bucket(bucketOwner).Put(keyOwnerKey, der) })
}

// OwnerKey returns the stored owner key, or ErrNoOwnerKey.
func (s *Store) OwnerKey() (crypto.Signer, error) {
	var der []byte
	_ = s.db.View(func(tx *bolt.Tx) error {
		if v := tx.Bucket(bucketOwner).Get(keyOwnerKey); v != nil {
			der = append([]byte{}, v...)
		}
		return nil
	})
	if der == nil {
		return nil, ErrNoOwnerKey
	}
	k, err := x509.ParsePKCS8PrivateKey(der)
	if err != nil {
		return nil, fmt.Errorf("ocs: owner key: %w", err)
	}
	signer, ok := k.(crypto.Signer)
	if !ok {
		return nil, ErrNoOwnerKey
	}
	return signer, nil
}
