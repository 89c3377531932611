package admin

import (
	"context"
	"net/http"
)

// JSONHandler answers one admin API request: its result is written as JSON
// with status 200, its error mapped to a status by the package's sentinel
// errors (ErrNotFound 404, ErrInvalid 400, ErrConflict 409, ErrUnavailable
// 503, ErrTimeout 504, anything else 500) exactly as the built-in endpoints
// do.
type JSONHandler func(r *http.Request) (any, error)

// HandleJSON adds an endpoint to the API, for services the gateway wires
// in (the JOSP endpoint, the steward, the upstream forwarder, the OCO
// agent) without the Backend interface knowing them. pattern is an
// http.ServeMux pattern with its method, "GET /v1/josp/objects". Call it
// before serving.
func (s *Server) HandleJSON(pattern string, h JSONHandler) {
	s.mux.HandleFunc(pattern, func(w http.ResponseWriter, r *http.Request) {
		v, err := h(r)
		s.reply(w, r, v, err)
	})
}

// DecodeJSON decodes a request's JSON body into v, refusing unknown fields
// and bodies over 64 KiB; its error wraps ErrInvalid.
func DecodeJSON(r *http.Request, v any) error { return decodeBody(r, v) }

// Call sends a request with in as its JSON body (none when in is nil) and
// decodes the JSON answer into out (skipped when out is nil): the client
// side of endpoints added with HandleJSON. A failed request returns an
// *Error that matches the package's sentinel errors.
func (c *Client) Call(ctx context.Context, method, path string, in, out any) error {
	if in == nil {
		return c.do(ctx, method, path, nil, "", out)
	}
	return c.doJSON(ctx, method, path, in, out)
}
