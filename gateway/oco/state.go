package oco

import (
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/edgegate/edgegate/store"
)

// KV is the part of a store namespace ([store.KV]) the agent keeps its
// records in: the pinned keys, the protocol generation, the timestamps and
// the progress of every deploy job.
type KV interface {
	Get(key string) ([]byte, error)
	Put(key string, value []byte) error
	Delete(key string) error
	List(prefix string) ([]store.KVEntry, error)
	Update(fn func(t *store.KVTx) error) error
}

// Record keys in the namespace.
const (
	keyKeys       = "keys"
	keyGeneration = "generation"
	keyClock      = "clock"
	prefixJob     = "job/"
)

// keyRecord is the pinned keys, as stored.
type keyRecord struct {
	AgentKey  string    `json:"agentKey,omitempty"`
	ServerKey string    `json:"serverKey,omitempty"`
	Pinned    time.Time `json:"pinned,omitzero"`
}

// clockRecord is the last timestamps of both sides and the last contact.
type clockRecord struct {
	// Agent is the last agent timestamp sent.
	Agent Timestamp `json:"agent"`
	// Server is the last server timestamp accepted (valid with HasServer).
	Server    float64 `json:"server"`
	HasServer bool    `json:"hasServer,omitempty"`
	// Contact is the last answer that passed verification.
	Contact time.Time `json:"contact,omitzero"`
}

// state is the agent's persisted state, cached in memory. The agent's
// goroutine writes it; Status reads it under mu.
type state struct {
	kv KV
	mu sync.Mutex
	k  keyRecord
	g  Generation
	c  clockRecord
}

func loadState(kv KV) (*state, error) {
	st := &state{kv: kv}
	if err := st.getJSON(keyKeys, &st.k); err != nil {
		return nil, err
	}
	var g string
	if err := st.getJSON(keyGeneration, &g); err != nil {
		return nil, err
	}
	if g != "" {
		gen, err := ParseGeneration(g)
		if err != nil {
			return nil, fmt.Errorf("oco: stored generation: %w", err)
		}
		st.g = gen
	}
	if err := st.getJSON(keyClock, &st.c); err != nil {
		return nil, err
	}
	return st, nil
}

func (st *state) getJSON(key string, v any) error {
	b, err := st.kv.Get(key)
	if errors.Is(err, store.ErrNotFound) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("oco: read %s: %w", key, err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("oco: stored %s: %w", key, err)
	}
	return nil
}

func (st *state) putJSON(key string, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("oco: encode %s: %w", key, err)
	}
	if err := st.kv.Put(key, b); err != nil {
		return fmt.Errorf("oco: store %s: %w", key, err)
	}
	return nil
}

func (st *state) keys() (agent, server Secret) {
	st.mu.Lock()
	defer st.mu.Unlock()
	return NewSecret(st.k.AgentKey), NewSecret(st.k.ServerKey)
}

func (st *state) generation() Generation {
	st.mu.Lock()
	defer st.mu.Unlock()
	return st.g
}

func (st *state) setGeneration(g Generation) error {
	if err := st.putJSON(keyGeneration, g.String()); err != nil {
		return err
	}
	st.mu.Lock()
	st.g = g
	st.mu.Unlock()
	return nil
}

// errKeyChange is returned by pin when the server offers a key other than
// the pinned one.
var errKeyChange = errors.New("key change refused")

// pin stores the keys the server offered where none is pinned, both in one
// durable write, before anything else happens. An offered key that differs
// from a pinned one is refused (errKeyChange) and nothing is written. It
// reports which keys were newly pinned.
func (st *state) pin(agent, server Secret, now time.Time) (newAgent, newServer bool, err error) {
	st.mu.Lock()
	k := st.k
	st.mu.Unlock()
	if !agent.IsZero() {
		switch {
		case k.AgentKey == "":
			k.AgentKey, newAgent = agent.Reveal(), true
		case !constantTimeEqual(k.AgentKey, agent.Reveal()):
			return false, false, fmt.Errorf("%w: the server offers another agent key", errKeyChange)
		}
	}
	if !server.IsZero() {
		switch {
		case k.ServerKey == "":
			k.ServerKey, newServer = server.Reveal(), true
		case !constantTimeEqual(k.ServerKey, server.Reveal()):
			return false, false, fmt.Errorf("%w: the server offers another server key", errKeyChange)
		}
	}
	if !newAgent && !newServer {
		return false, false, nil
	}
	k.Pinned = now
	b, err := json.Marshal(k)
	if err != nil {
		return false, false, err
	}
	// Update refuses to overwrite keys another writer pinned meanwhile.
	err = st.kv.Update(func(t *store.KVTx) error {
		old, err := t.Get(keyKeys)
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			return err
		}
		if err == nil {
			var prev keyRecord
			if json.Unmarshal(old, &prev) == nil &&
				(prev.AgentKey != "" && prev.AgentKey != k.AgentKey || prev.ServerKey != "" && prev.ServerKey != k.ServerKey) {
				return fmt.Errorf("%w: keys were pinned meanwhile", errKeyChange)
			}
		}
		return t.Put(keyKeys, b)
	})
	if err != nil {
		if errors.Is(err, errKeyChange) {
			return false, false, err
		}
		return false, false, fmt.Errorf("oco: store the keys: %w", err)
	}
	st.mu.Lock()
	st.k = k
	st.mu.Unlock()
	return newAgent, newServer, nil
}

// forgetKeys deletes the pinned keys, the generation and the server
// timestamp, so that the agent registers again.
func (st *state) forgetKeys() error {
	for _, k := range []string{keyKeys, keyGeneration} {
		if err := st.kv.Delete(k); err != nil {
			return fmt.Errorf("oco: forget keys: %w", err)
		}
	}
	st.mu.Lock()
	st.k = keyRecord{}
	st.g = Auto
	c := st.c
	c.Server, c.HasServer = 0, false
	st.mu.Unlock()
	return st.saveClock(c)
}

func (st *state) clock() clockRecord {
	st.mu.Lock()
	defer st.mu.Unlock()
	return st.c
}

func (st *state) saveClock(c clockRecord) error {
	if err := st.putJSON(keyClock, c); err != nil {
		return err
	}
	st.mu.Lock()
	st.c = c
	st.mu.Unlock()
	return nil
}

// nextAgentTimestamp returns a timestamp above every one sent before (now,
// or the last one plus 100 µs when the clock stands still or went back)
// and stores it before it is used.
func (st *state) nextAgentTimestamp(now time.Time) (Timestamp, error) {
	c := st.clock()
	ts := TimestampOf(now)
	if ts <= c.Agent {
		ts = c.Agent + 1
	}
	c.Agent = ts
	return ts, st.saveClock(c)
}

// Job phases, as persisted before and after each step.
const (
	phaseStarted     = "started"     // accepted; nothing done yet
	phaseDownloading = "downloading" // package download under way
	phaseUnpacked    = "unpacked"    // package on disk, unpacked
	phaseExecuting   = "executing"   // procedure started
	phaseFinal       = "final"       // final state decided (Reported says whether the server has it)
)

// jobRecord is a deploy job's progress, persisted before and after each
// step so that a job that reached its final state never runs again.
type jobRecord struct {
	ID        json.RawMessage `json:"id"`
	Container string          `json:"container,omitempty"`
	Phase     string          `json:"phase"`
	// State, ReturnCode and Message are the final report (phase final).
	State      int    `json:"state,omitempty"`
	ReturnCode int    `json:"returnCode,omitempty"`
	Message    string `json:"message,omitempty"`
	// Reported is set once the server acknowledged the final state;
	// Succeeded is its job-succeeded.
	Reported  bool      `json:"reported,omitempty"`
	Succeeded bool      `json:"succeeded,omitempty"`
	Started   time.Time `json:"started,omitzero"`
	Updated   time.Time `json:"updated"`
}

func jobKey(id json.RawMessage) string { return prefixJob + string(id) }

func (st *state) job(id json.RawMessage) (jobRecord, bool, error) {
	var r jobRecord
	b, err := st.kv.Get(jobKey(id))
	if errors.Is(err, store.ErrNotFound) {
		return r, false, nil
	}
	if err != nil {
		return r, false, fmt.Errorf("oco: read job %s: %w", id, err)
	}
	if err := json.Unmarshal(b, &r); err != nil {
		return r, false, fmt.Errorf("oco: stored job %s: %w", id, err)
	}
	return r, true, nil
}

func (st *state) putJob(r jobRecord) error { return st.putJSON(jobKey(r.ID), r) }

func (st *state) jobs() ([]jobRecord, error) {
	list, err := st.kv.List(prefixJob)
	if err != nil {
		return nil, fmt.Errorf("oco: list jobs: %w", err)
	}
	out := make([]jobRecord, 0, len(list))
	for _, e := range list {
		var r jobRecord
		if err := json.Unmarshal(e.Value, &r); err != nil {
			return nil, fmt.Errorf("oco: stored %s: %w", e.Key, err)
		}
		out = append(out, r)
	}
	return out, nil
}

func (st *state) deleteJob(id json.RawMessage) error {
	if err := st.kv.Delete(jobKey(id)); err != nil {
		return fmt.Errorf("oco: delete job %s: %w", id, err)
	}
	return nil
}
