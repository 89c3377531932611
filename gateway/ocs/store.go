package ocs

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/binary"
	"encoding/pem"
	"errors"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"
)

// Buckets of the OCS database (its own file, e.g. ocsd.db):
//
//	meta/schema           uint32 big-endian: the layout version (storeSchema)
//	devices/<uuid>/       one bucket per device:
//	    voucher, state, svi, psi, m41, m45, m47, crypto   JSON (voucher verbatim)
//	    dvi/              nested bucket: seq(8, big-endian) -> one ModuleMessage (JSON),
//	                      in the order POST msgs appended them
//	values/<valueId>      raw bytes, shared by all devices (as in ocsfs)
//	owner/key             the owner private key, PKCS#8 DER
//
// Device serviceinfo is kept one message per record so that appending a
// batch costs the batch, not the whole list (ocsfs rewrites dvi.json).
var (
	bucketMeta    = []byte("meta")
	bucketDevices = []byte("devices")
	bucketValues  = []byte("values")
	bucketOwner   = []byte("owner")
	keyOwnerKey   = []byte("key")
	keySchema     = []byte("schema")
)

// storeSchema is the layout version written to meta/schema.
const storeSchema = 1

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
		for _, b := range [][]byte{bucketMeta, bucketDevices, bucketValues, bucketOwner} {
			if _, err := tx.CreateBucketIfNotExists(b); err != nil {
				return err
			}
		}
		m := tx.Bucket(bucketMeta)
		if v := m.Get(keySchema); v != nil {
			if len(v) != 4 || binary.BigEndian.Uint32(v) != storeSchema {
				return fmt.Errorf("%w: schema %x, this build reads %d", ErrInvalid, v, storeSchema)
			}
			return nil
		}
		return m.Put(keySchema, binary.BigEndian.AppendUint32(nil, storeSchema))
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

// AppendDeviceServiceInfo appends device serviceinfo (POST msgs) in one
// transaction.
func (s *Store) AppendDeviceServiceInfo(id string, list []ModuleMessage) error {
	recs := make([][]byte, len(list))
	for i := range list {
		b, err := marshal(list[i])
		if err != nil {
			return err
		}
		recs[i] = b
	}
	if id == "" {
		return fmt.Errorf("ocs: %w: empty device id", ErrInvalid)
	}
	// Batch: concurrent POSTs (a forwarder posts for several devices at
	// once) share a commit and its fsync.
	return s.db.Batch(func(tx *bolt.Tx) error {
		d, err := tx.Bucket(bucketDevices).CreateBucketIfNotExists([]byte(id))
		if err != nil {
			return err
		}
		dvi, err := d.CreateBucketIfNotExists([]byte(recDvi))
		if err != nil {
			return err
		}
		dvi.FillPercent = 1 // append-only: keep the pages full
		for _, r := range recs {
			seq, err := dvi.NextSequence()
			if err != nil {
				return err
			}
			if err := dvi.Put(binary.BigEndian.AppendUint64(nil, seq), r); err != nil {
				return err
			}
		}
		return nil
	})
}

// DeviceServiceInfo returns the device serviceinfo posted so far (POST
// msgs, in the order appended), or ErrNotFound when none was posted.
func (s *Store) DeviceServiceInfo(id string) ([]ModuleMessage, error) {
	var list []ModuleMessage
	err := s.ScanDeviceServiceInfo(id, func(m ModuleMessage) error {
		list = append(list, m)
		return nil
	})
	return list, err
}

// ScanDeviceServiceInfo calls fn for every device serviceinfo message of
// the device in the order appended, inside one read transaction; an error
// from fn stops the scan. ErrNotFound when none was posted.
func (s *Store) ScanDeviceServiceInfo(id string, fn func(ModuleMessage) error) error {
	return s.db.View(func(tx *bolt.Tx) error {
		d := tx.Bucket(bucketDevices).Bucket([]byte(id))
		if d == nil {
			return ErrNotFound
		}
		dvi := d.Bucket([]byte(recDvi))
		if dvi == nil {
			return ErrNotFound
		}
		return dvi.ForEach(func(k, v []byte) error {
			var m ModuleMessage
			if err := jsonUnmarshal(v, &m); err != nil {
				return fmt.Errorf("ocs: device %s serviceinfo %x: %w", id, k, err)
			}
			return fn(m)
		})
	})
}

// Devices returns the ids of the devices the store holds records for.
func (s *Store) Devices() ([]string, error) {
	var out []string
	err := s.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketDevices).ForEach(func(k, _ []byte) error {
			out = append(out, string(k))
			return nil
		})
	})
	return out, err
}

// CheckOwnerKey reports whether key is an owner key the reference clients
// accept: ECDSA on P-256 or P-384, or RSA of 2048 bits or more (signatures
// use SHA-256/384; ciphers need RSA).
func CheckOwnerKey(key crypto.Signer) error {
	switch k := key.(type) {
	case *ecdsa.PrivateKey:
		if k.Curve == elliptic.P256() || k.Curve == elliptic.P384() {
			return nil
		}
		return fmt.Errorf("ocs: owner key: %w: curve %s (want P-256 or P-384)", ErrInvalid, k.Curve.Params().Name)
	case *rsa.PrivateKey:
		if n := k.N.BitLen(); n == 2048 || n == 3072 || n == 4096 {
			return nil
		}
		return fmt.Errorf("ocs: owner key: %w: RSA-%d (want 2048, 3072 or 4096 bits)", ErrInvalid, k.N.BitLen())
	}
	return fmt.Errorf("ocs: owner key: %w: %T (want ECDSA or RSA)", ErrInvalid, key)
}

// ParseOwnerKey reads a PEM private key: PKCS#8 ("PRIVATE KEY"), PKCS#1
// ("RSA PRIVATE KEY") or SEC 1 ("EC PRIVATE KEY"), checked by
// [CheckOwnerKey].
func ParseOwnerKey(pemBytes []byte) (crypto.Signer, error) {
	blk, _ := pem.Decode(pemBytes)
	if blk == nil {
		return nil, fmt.Errorf("ocs: owner key: %w: no PEM block", ErrInvalid)
	}
	var (
		k   any
		err error
	)
	switch blk.Type {
	case "PRIVATE KEY":
		k, err = x509.ParsePKCS8PrivateKey(blk.Bytes)
	case "RSA PRIVATE KEY":
		k, err = x509.ParsePKCS1PrivateKey(blk.Bytes)
	case "EC PRIVATE KEY":
		k, err = x509.ParseECPrivateKey(blk.Bytes)
	default:
		return nil, fmt.Errorf("ocs: owner key: %w: PEM block %q", ErrInvalid, blk.Type)
	}
	if err != nil {
		return nil, fmt.Errorf("ocs: owner key: %w: %v", ErrInvalid, err)
	}
	signer, ok := k.(crypto.Signer)
	if !ok {
		return nil, fmt.Errorf("ocs: owner key: %w: %T", ErrInvalid, k)
	}
	if err := CheckOwnerKey(signer); err != nil {
		return nil, err
	}
	return signer, nil
}

// GenerateOwnerKey returns a new owner key: ECDSA P-256 when rsaKey is
// false, RSA-2048 otherwise.
func GenerateOwnerKey(rsaKey bool) (crypto.Signer, error) {
	if rsaKey {
		return rsa.GenerateKey(rand.Reader, 2048)
	}
	return ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
}

// SetOwnerKey stores the owner's private key (see [CheckOwnerKey]) used by
// signatures and ciphers, replacing any other.
func (s *Store) SetOwnerKey(key crypto.Signer) error {
	if err := CheckOwnerKey(key); err != nil {
		return err
	}
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
