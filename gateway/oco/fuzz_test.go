package oco

import (
	"archive/zip"
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// Seeds: answers as the real servers give them.
var responseSeeds = []string{
	`{"id":1,"error":null,"result":{"success":true,"params":{"server-key":"0a1b2c3d4e5f6g7h8i9j0k1l2m3n4o","agent-key":"p9q8r7s6t5u4v3w2x1y0z9a8b7c6d5","update":1,"logins-since":"1970-01-01 00:00:00","software-jobs":[],"events":[],"update-passwords":[]},"timestamp":1718000000.123456}}`,
	`{"id":1,"error":null,"result":{"success":true,"params":{"server-key":null,"agent-key":null,"update":0,"software-jobs":[{"id":"dynamic-3","container-id":"deployment_rule::1","package-id":"7","download":true,"procedure":"sh install.sh","sequence-mode":1,"restart":5,"shutdown":null,"exit":null}]},"timestamp":1718000001.5}}`,
	`{"id":1,"error":null,"result":{"success":true,"params":[],"timestamp":1718000002}}`,
	`{"id":1,"error":null,"result":{"success":true,"params":{"policies":[]},"timestamp":1718000003.25}}`,
	`{"id":1,"error":null,"result":{"success":true,"params":{"server-key":"abc","job-succeeded":false}}}`,
	`{"error":"Unknown Method","result":null}`,
	`{"id":1,"error":null,"result":{"success":"1","params":[]}}`,
}

func FuzzParseResponse(f *testing.F) {
	for _, s := range responseSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		r, err := ParseResponse("m", body)
		if err != nil {
			var se *ServerError
			if !errors.Is(err, ErrProtocol) && !errors.As(err, &se) {
				t.Fatalf("error of no known kind: %v", err)
			}
			return
		}
		if r.Params == nil {
			t.Fatal("nil params")
		}
		ParseHello("m", r)
		ParseJobReply("m", r)
	})
}

func FuzzParseHello(f *testing.F) {
	for _, s := range responseSeeds {
		var env struct {
			Result struct {
				Params json.RawMessage `json:"params"`
			} `json:"result"`
		}
		if json.Unmarshal([]byte(s), &env) == nil && len(env.Result.Params) > 0 {
			f.Add([]byte(env.Result.Params))
		}
	}
	f.Add([]byte(`{"software-jobs":{"id":123,"container-id":12,"package-id":1234,"download":true,"procedure":"x","sequence-mode":0,"restart":null,"shutdown":null,"exit":null}}`))
	f.Fuzz(func(t *testing.T, params []byte) {
		var p map[string]json.RawMessage
		if json.Unmarshal(params, &p) != nil {
			return
		}
		h, err := ParseHello("m", Response{Params: p})
		if err != nil {
			if !errors.Is(err, ErrProtocol) {
				t.Fatalf("%v", err)
			}
			return
		}
		for _, j := range h.Jobs {
			if len(j.ID) == 0 || len(j.ID) > maxIDLen || (j.Download && len(j.PackageID) == 0) {
				t.Fatalf("job accepted: %+v", j)
			}
			var v any
			if json.Unmarshal(j.ID, &v) != nil {
				t.Fatalf("id %q is not JSON", j.ID)
			}
			if _, err := json.Marshal(jobStateData{JobID: j.ID}); err != nil {
				t.Fatalf("id %q cannot be echoed: %v", j.ID, err)
			}
		}
	})
}

func FuzzParseJobReply(f *testing.F) {
	f.Add([]byte(`{"server-key":"k","job-succeeded":true}`))
	f.Add([]byte(`{"job-succeeded":"1"}`))
	f.Add([]byte(`{"job-succeeded":null}`))
	f.Fuzz(func(t *testing.T, params []byte) {
		var p map[string]json.RawMessage
		if json.Unmarshal(params, &p) != nil {
			return
		}
		if _, err := ParseJobReply("m", Response{Params: p}); err != nil && !errors.Is(err, ErrProtocol) {
			t.Fatal(err)
		}
	})
}

func FuzzParseServerError(f *testing.F) {
	f.Add(400, "Bad Request", []byte("Unknown method"))
	f.Add(400, "Parameter Mismatch", []byte(""))
	f.Add(401, "Unauthorized", []byte("Invalid agent signature"))
	f.Add(500, "Internal Server Error", []byte("<br />\n<b>Fatal error</b>:  Uncaught PDOException"))
	f.Add(404, "Computer Not Found", []byte{})
	f.Fuzz(func(t *testing.T, status int, reason string, body []byte) {
		e := ParseServerError("m", status, reason, body)
		if len(e.Message) > maxErrorBody {
			t.Fatalf("message of %d bytes", len(e.Message))
		}
		_ = e.Error()
		_ = e.Hint()
		for _, s := range []error{ErrUnknownMethod, ErrUnauthorized, ErrNotFound, ErrRejected, ErrServerFailure} {
			errors.Is(e, s)
		}
	})
}

func FuzzUnpack(f *testing.F) {
	f.Add(zipOf(f, "install.sh", "#!/bin/sh\necho hi\n", "d/", "", "d/f", "x"))
	f.Add(zipOf(f, "../x", "x"))
	f.Add(zipOf(f, "l@", "..", "l/x", "y"))
	f.Add(zipOf(f, "p@", ".", "p/q@", ".."))
	f.Fuzz(func(t *testing.T, b []byte) {
		zr, err := zip.NewReader(bytes.NewReader(b), int64(len(b)))
		if err != nil {
			return
		}
		parent := t.TempDir()
		dir := filepath.Join(parent, "pkg")
		os.Mkdir(dir, 0o700)
		_, n, err := unpackFiles(zr.File, dir, unpackLimits{MaxFiles: 50, MaxBytes: 1 << 16})
		if n > 1<<16+1 {
			t.Fatalf("%d bytes written", n)
		}
		if entries, _ := os.ReadDir(parent); len(entries) != 1 {
			t.Fatalf("written outside: %v (err %v)", entries, err)
		}
		if err != nil {
			return
		}
		// Nothing unpacked leads out of the directory.
		real, _ := filepath.EvalSymlinks(dir)
		filepath.Walk(dir, func(p string, _ os.FileInfo, err error) error {
			if err != nil {
				return nil
			}
			if r, err := filepath.EvalSymlinks(p); err == nil {
				if rel, err := filepath.Rel(real, r); err != nil || !filepath.IsLocal(rel) && rel != "." {
					t.Fatalf("%s leads to %s", p, r)
				}
			}
			return nil
		})
	})
}

func FuzzDpkgStatus(f *testing.F) {
	b, err := os.ReadFile("testdata/machine/var/lib/dpkg/status")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(b)
	f.Fuzz(func(t *testing.T, b []byte) {
		for _, s := range parseDpkgStatus(b) {
			if s.Name == "" {
				t.Fatal("package without a name")
			}
		}
		parseMounts(string(b))
		parseKeyValues(string(b))
	})
}
