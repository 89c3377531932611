package steward

import (
	"encoding/json"
	"testing"
)

// FuzzDecode: any frame decodes or fails with a package error, never
// panics, and a decoded requestID is non-empty and answers as valid JSON.
func FuzzDecode(f *testing.F) {
	for _, s := range []string{
		`{"path":"/api/v1/pair","requestID":1,"uuid":"01234567-89ab-cdef-0123-4567890abcde"}`,
		`{"path":"/api/v1/thing/pair/testing1","name":"testing1","requestID":1,"pairingCode":"123456"}`,
		`{"path":"/api/v1/thing/hello/1","response":"317728","requestID":2}`,
		`{"requestID":"6","events":{"58213570":{"status":"success"}}}`,
		`{"requestID":1e400}`, `{"requestID":-0}`, `[]`, `{`, `{"a":{"b":[1,{"c":null}]}}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := Decode(b)
		if err != nil {
			if err != ErrInvalidJSON && err != ErrNoRequestID {
				t.Fatalf("unexpected error %v", err)
			}
			return
		}
		if m.RequestID == "" {
			t.Fatal("empty requestID accepted")
		}
		out, err := json.Marshal(Reply{RequestID: m.RequestID, Result: success()})
		if err != nil || !json.Valid(out) {
			t.Fatalf("reply %s: %v", out, err)
		}
		for _, name := range []string{"things", "events", "tasks"} {
			list, _ := m.Entries(name)
			for _, e := range list {
				_, _ = e.String("status", "reason")
				_ = e.Bool("testOnly")
			}
		}
		if info, ok := m.Entries("info"); ok {
			obj := map[string]json.RawMessage{}
			for _, e := range info {
				obj[e.Key] = e.Raw
			}
			_, _ = values(nil, obj, "", 0, nil)
		}
	})
}
