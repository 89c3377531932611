package store_test

import (
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/edgegate/edgegate/store"
	"github.com/edgegate/edgegate/store/storetest"
)

func TestKVPutGetDeleteList(t *testing.T) {
	db := storetest.MustOpen(t, store.Options{})
	kv := db.KV("josp")
	if _, err := kv.Get("missing"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("Get on an unwritten namespace = %v, want ErrNotFound", err)
	}
	if es, err := kv.List(""); err != nil || len(es) != 0 {
		t.Fatalf("List on an unwritten namespace = %v, %v", es, err)
	}
	for _, k := range []string{"obj/b", "obj/a", "perm/a", "obj/c"} {
		if err := kv.Put(k, []byte("v-"+k)); err != nil {
			t.Fatal(err)
		}
	}
	v, err := kv.Get("obj/a")
	if err != nil || string(v) != "v-obj/a" {
		t.Fatalf("Get = %q, %v", v, err)
	}
	v[0] = 'X' // a copy: the stored value is unchanged
	if v, _ := kv.Get("obj/a"); string(v) != "v-obj/a" {
		t.Fatalf("Get returned the stored slice: %q", v)
	}
	es, err := kv.List("obj/")
	if err != nil {
		t.Fatal(err)
	}
	var keys []string
	for _, e := range es {
		keys = append(keys, e.Key)
	}
	if fmt.Sprint(keys) != "[obj/a obj/b obj/c]" {
		t.Fatalf("List(obj/) keys = %v", keys)
	}
	if err := kv.Delete("obj/b"); err != nil {
		t.Fatal(err)
	}
	if err := kv.Delete("obj/b"); err != nil {
		t.Fatalf("Delete of a missing key = %v, want nil", err)
	}
	if _, err := kv.Get("obj/b"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("Get after Delete = %v", err)
	}
	// Namespaces are separate.
	if _, err := db.KV("steward").Get("obj/a"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("another namespace sees the key: %v", err)
	}
	db.MustReopen()
	if v, err := db.KV("josp").Get("perm/a"); err != nil || string(v) != "v-perm/a" {
		t.Fatalf("after reopen Get = %q, %v", v, err)
	}
}

func TestKVInvalid(t *testing.T) {
	db := storetest.MustOpen(t, store.Options{})
	if err := db.KV("").Put("k", nil); !errors.Is(err, store.ErrInvalid) {
		t.Fatalf("empty namespace Put = %v", err)
	}
	if _, err := db.KV(string(make([]byte, store.MaxNamespaceLen+1))).Get("k"); !errors.Is(err, store.ErrInvalid) {
		t.Fatalf("long namespace Get = %v", err)
	}
	if err := db.KV("x").Put("", []byte("v")); !errors.Is(err, store.ErrInvalid) {
		t.Fatalf("empty key Put = %v", err)
	}
	done := make(chan error, 1)
	db.KV("x").PutAsync("", nil, func(err error) { done <- err })
	if err := <-done; !errors.Is(err, store.ErrInvalid) {
		t.Fatalf("empty key PutAsync = %v", err)
	}
}

// TestKVUpdateAtomic checks that an Update's writes land together or not at
// all, and that concurrent read-modify-write updates do not lose increments.
func TestKVUpdateAtomic(t *testing.T) {
	db := storetest.MustOpen(t, store.Options{})
	kv := db.KV("oco")
	errBoom := errors.New("boom")
	err := kv.Update(func(tx *store.KVTx) error {
		if err := tx.Put("a", []byte("1")); err != nil {
			return err
		}
		return errBoom
	})
	if !errors.Is(err, errBoom) {
		t.Fatalf("Update = %v, want errBoom", err)
	}
	if _, err := kv.Get("a"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("a failed Update's write was applied: %v", err)
	}
	var wg sync.WaitGroup
	for range 50 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			err := kv.Update(func(tx *store.KVTx) error {
				n := 0
				if v, err := tx.Get("n"); err == nil {
					fmt.Sscan(string(v), &n)
				} else if !errors.Is(err, store.ErrNotFound) {
					return err
				}
				return tx.Put("n", fmt.Appendf(nil, "%d", n+1))
			})
			if err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	if v, err := kv.Get("n"); err != nil || string(v) != "50" {
		t.Fatalf("counter = %q, %v; want 50", v, err)
	}
	// An update sees its own writes; a delete hides the stored value.
	err = kv.Update(func(tx *store.KVTx) error {
		if err := tx.Put("b", []byte("x")); err != nil {
			return err
		}
		if v, err := tx.Get("b"); err != nil || string(v) != "x" {
			return fmt.Errorf("own write not seen: %q, %v", v, err)
		}
		tx.Delete("n")
		if _, err := tx.Get("n"); !errors.Is(err, store.ErrNotFound) {
			return fmt.Errorf("deleted key still seen: %v", err)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := kv.Get("n"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("n after delete: %v", err)
	}
}

func TestKVSequence(t *testing.T) {
	db := storetest.MustOpen(t, store.Options{})
	kv := db.KV("events")
	var got []uint64
	for range 3 {
		err := kv.Update(func(tx *store.KVTx) error {
			seq, err := tx.NextSequence()
			if err != nil {
				return err
			}
			got = append(got, seq)
			return tx.Put(store.SeqKey(seq), []byte("e"))
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	if fmt.Sprint(got) != "[1 2 3]" {
		t.Fatalf("sequences = %v", got)
	}
	db.MustReopen()
	kv = db.KV("events")
	err := kv.Update(func(tx *store.KVTx) error {
		seq, err := tx.NextSequence()
		if err == nil && seq != 4 {
			err = fmt.Errorf("sequence after reopen = %d, want 4", seq)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if store.SeqKey(10) != "000000000000000a" || store.SeqKey(255) >= store.SeqKey(256) {
		t.Fatalf("SeqKey order: %s %s %s", store.SeqKey(10), store.SeqKey(255), store.SeqKey(256))
	}
	es, _ := kv.List("")
	if len(es) != 3 || es[0].Key != store.SeqKey(1) {
		t.Fatalf("entries = %v", es)
	}
}
