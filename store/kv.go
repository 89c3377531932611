package store

import (
	"bytes"
	"fmt"
	"maps"
	"slices"

	bolt "go.etcd.io/bbolt"
)

// MaxNamespaceLen bounds a KV namespace's name.
const MaxNamespaceLen = 64

// kvUpdateSize is what an Update is charged against the size cap: its
// writes are not known before it runs, and the services' records are small.
const kvUpdateSize = 4096

// KV is one namespace of the database's key/value area: a nested bucket of
// the "kv" bucket, for a service's own records (JOSP objects and their
// permissions, steward pairings, OCO keys and job progress, upstream dead
// letters). Keys are strings of 1..MaxNameLen bytes, kept in byte order;
// values are opaque. Writes go through the group committer like every other
// write and are durable when they return (or, for PutAsync, when done is
// called). Create one with [DB.KV]; it is a cheap handle, safe for
// concurrent use.
type KV struct {
	db  *DB
	ns  []byte
	err error // set when the namespace's name is invalid
}

// KVEntry is one key and its value, returned by [KV.List].
type KVEntry struct {
	Key   string
	Value []byte
}

// KV returns the namespace called name (1..MaxNamespaceLen bytes). The
// namespace's bucket is created by its first write; reading a namespace that
// was never written finds nothing. An invalid name makes every call fail
// with ErrInvalid.
func (db *DB) KV(name string) *KV {
	kv := &KV{db: db, ns: []byte(name)}
	switch {
	case name == "":
		kv.err = invalidf("empty kv namespace")
	case len(name) > MaxNamespaceLen:
		kv.err = invalidf("kv namespace is %d bytes, the limit is %d", len(name), MaxNamespaceLen)
	}
	return kv
}

func (kv *KV) bucket(tx *bolt.Tx) *bolt.Bucket {
	return tx.Bucket(bucketKV).Bucket(kv.ns)
}

func (kv *KV) bucketForWrite(tx *bolt.Tx) (*bolt.Bucket, error) {
	return tx.Bucket(bucketKV).CreateBucketIfNotExists(kv.ns)
}

// Get returns a copy of key's value, or an error matching ErrNotFound.
func (kv *KV) Get(key string) ([]byte, error) {
	if kv.err != nil {
		return nil, fmt.Errorf("store: kv get: %w", kv.err)
	}
	var out []byte
	err := kv.db.view("kv get", func(tx *bolt.Tx) error {
		var v []byte
		if b := kv.bucket(tx); b != nil {
			v = b.Get([]byte(key))
		}
		if v == nil {
			return fmt.Errorf("%s %q: %w", kv.ns, key, ErrNotFound)
		}
		out = bytes.Clone(v)
		return nil
	})
	return out, err
}

// Put stores value under key, replacing what was there, and returns once
// it is durable. value is copied.
func (kv *KV) Put(key string, value []byte) error {
	size, fn, err := kv.put(key, value)
	if err != nil {
		return fmt.Errorf("store: kv put: %w", err)
	}
	return kv.db.write("kv put", size, fn)
}

// PutAsync is Put without the wait; done (nil allowed) gets Put's result,
// under the rules of the package's asynchronous writes: it runs on the
// committer goroutine and must not block or write to the DB.
func (kv *KV) PutAsync(key string, value []byte, done func(error)) {
	done = orNop(done)
	size, fn, err := kv.put(key, value)
	if err != nil {
		done(fmt.Errorf("store: kv put: %w", err))
		return
	}
	kv.db.writeAsync("kv put", size, fn, done)
}

func (kv *KV) put(key string, value []byte) (int64, func(tx *bolt.Tx) error, error) {
	if kv.err != nil {
		return 0, nil, kv.err
	}
	if err := checkName("kv key", key); err != nil {
		return 0, nil, err
	}
	k, v := []byte(key), bytes.Clone(value)
	if v == nil {
		v = []byte{}
	}
	return int64(len(k) + len(v) + leafOverhead), func(tx *bolt.Tx) error {
		b, err := kv.bucketForWrite(tx)
		if err != nil {
			return err
		}
		return b.Put(k, v)
	}, nil
}

// Delete removes key and returns once that is durable. A key that does not
// exist is not an error.
func (kv *KV) Delete(key string) error {
	if kv.err != nil {
		return fmt.Errorf("store: kv delete: %w", kv.err)
	}
	k := []byte(key)
	return kv.db.write("kv delete", 0, func(tx *bolt.Tx) error {
		if b := kv.bucket(tx); b != nil {
			return b.Delete(k)
		}
		return nil
	})
}

// List returns, in key order, every entry whose key starts with prefix (all
// of them for ""), with copied values.
func (kv *KV) List(prefix string) ([]KVEntry, error) {
	var out []KVEntry
	err := kv.Scan(prefix, func(key string, value []byte) error {
		out = append(out, KVEntry{Key: key, Value: bytes.Clone(value)})
		return nil
	})
	return out, err
}

// Scan calls fn, in key order, for every entry whose key starts with prefix,
// inside one read transaction: fn sees a consistent snapshot, must not keep
// value past its return (copy it) and must not write to the DB. An error
// from fn stops the scan and is returned.
func (kv *KV) Scan(prefix string, fn func(key string, value []byte) error) error {
	if kv.err != nil {
		return fmt.Errorf("store: kv scan: %w", kv.err)
	}
	p := []byte(prefix)
	return kv.db.view("kv scan", func(tx *bolt.Tx) error {
		b := kv.bucket(tx)
		if b == nil {
			return nil
		}
		c := b.Cursor()
		for k, v := c.Seek(p); k != nil && bytes.HasPrefix(k, p); k, v = c.Next() {
			if v == nil {
				continue // not a value
			}
			if err := fn(string(k), v); err != nil {
				return err
			}
		}
		return nil
	})
}

// KVTx is the view of one namespace that an [KV.Update] function works on.
// Reads see the committed data with the function's own writes applied;
// the writes reach the database only when the function returns nil.
type KVTx struct {
	b      *bolt.Bucket // nil while the namespace has no bucket
	create func() (*bolt.Bucket, error)
	writes map[string][]byte // key -> value; nil value: deleted
}

// Get returns key's value as the update sees it (a copy), or an error
// matching ErrNotFound.
func (t *KVTx) Get(key string) ([]byte, error) {
	if v, ok := t.writes[key]; ok {
		if v == nil {
			return nil, fmt.Errorf("%q: %w", key, ErrNotFound)
		}
		return bytes.Clone(v), nil
	}
	if t.b != nil {
		if v := t.b.Get([]byte(key)); v != nil {
			return bytes.Clone(v), nil
		}
	}
	return nil, fmt.Errorf("%q: %w", key, ErrNotFound)
}

// Put sets key to value (copied) when the update commits.
func (t *KVTx) Put(key string, value []byte) error {
	if err := checkName("kv key", key); err != nil {
		return err
	}
	v := bytes.Clone(value)
	if v == nil {
		v = []byte{}
	}
	t.writes[key] = v
	return nil
}

// Delete removes key when the update commits.
func (t *KVTx) Delete(key string) { t.writes[key] = nil }

// NextSequence returns the namespace's next sequence number (1, 2, ...),
// for keys that must be unique and ordered. A number taken by an update that
// then fails is not handed out again.
func (t *KVTx) NextSequence() (uint64, error) {
	if t.b == nil {
		b, err := t.create()
		if err != nil {
			return 0, err
		}
		t.b = b
	}
	return t.b.NextSequence()
}

// SeqKey formats a sequence number as a fixed-width key (16 hex digits), so
// that byte order is numeric order.
func SeqKey(seq uint64) string { return fmt.Sprintf("%016x", seq) }

// Update runs fn on the namespace inside a group-commit transaction and
// returns once its writes are durable. When fn returns an error nothing it
// wrote is applied and Update returns that error (wrapped). fn runs on the
// committer goroutine: it must be quick and must not call any DB method.
// It is for read-modify-write: a check and the write it guards, atomically.
func (kv *KV) Update(fn func(t *KVTx) error) error {
	if kv.err != nil {
		return fmt.Errorf("store: kv update: %w", kv.err)
	}
	return kv.db.write("kv update", kvUpdateSize, func(tx *bolt.Tx) error {
		t := &KVTx{b: kv.bucket(tx), writes: map[string][]byte{},
			create: func() (*bolt.Bucket, error) { return kv.bucketForWrite(tx) }}
		if err := fn(t); err != nil {
			return reject(err)
		}
		if len(t.writes) == 0 {
			return nil
		}
		b, err := kv.bucketForWrite(tx)
		if err != nil {
			return err
		}
		for _, k := range slices.Sorted(maps.Keys(t.writes)) {
			if v := t.writes[k]; v == nil {
				err = b.Delete([]byte(k))
			} else {
				err = b.Put([]byte(k), v)
			}
			if err != nil {
				return err
			}
		}
		return nil
	})
}
