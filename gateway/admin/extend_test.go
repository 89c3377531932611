package admin

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"path/filepath"
	"testing"
)

// TestHandleJSON checks that an endpoint added from outside answers JSON,
// maps its errors like the built-in ones and that Call is its client.
func TestHandleJSON(t *testing.T) {
	path := filepath.Join(t.TempDir(), "api.sock")
	ln, err := ListenUnix(path)
	if err != nil {
		t.Fatal(err)
	}
	s := NewServer(&stubBackend{}, nil)
	type in struct {
		Name string `json:"name"`
	}
	type out struct {
		Greeting string `json:"greeting"`
	}
	s.HandleJSON("POST /v1/test/hello", func(r *http.Request) (any, error) {
		var v in
		if err := DecodeJSON(r, &v); err != nil {
			return nil, err
		}
		if v.Name == "" {
			return nil, fmt.Errorf("%w: name is required", ErrInvalid)
		}
		return out{Greeting: "hello " + v.Name}, nil
	})
	s.HandleJSON("GET /v1/test/{id}", func(r *http.Request) (any, error) {
		return nil, fmt.Errorf("%w: test %s", ErrNotFound, r.PathValue("id"))
	})
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx, ln) }()
	c := NewClient(path)
	defer func() {
		c.Close()
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	}()
	var o out
	if err := c.Call(ctx, "POST", "/v1/test/hello", in{Name: "barn"}, &o); err != nil || o.Greeting != "hello barn" {
		t.Fatalf("Call = %+v, %v", o, err)
	}
	if err := c.Call(ctx, "POST", "/v1/test/hello", in{}, &o); !errors.Is(err, ErrInvalid) {
		t.Fatalf("empty name: %v, want ErrInvalid", err)
	}
	if err := c.Call(ctx, "POST", "/v1/test/hello", map[string]int{"other": 1}, &o); !errors.Is(err, ErrInvalid) {
		t.Fatalf("unknown field: %v, want ErrInvalid", err)
	}
	var ae *Error
	if err := c.Call(ctx, "GET", "/v1/test/x7", nil, nil); !errors.Is(err, ErrNotFound) || !errors.As(err, &ae) || ae.Status != 404 || ae.Message != "not found: test x7" {
		t.Fatalf("not found: %#v", err)
	}
}
