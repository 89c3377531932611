package admin

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strconv"
	"time"

	"github.com/edgegate/edgegate/gateway/httpserve"
)

// MaxFirmwareSize bounds an uploaded firmware image.
const MaxFirmwareSize = 64 << 20

// maxBody bounds every JSON request body.
const maxBody = 64 << 10

// HexBytes is a byte string written as hex in JSON.
type HexBytes []byte

// MarshalText writes lower-case hex.
func (b HexBytes) MarshalText() ([]byte, error) {
	return []byte(hex.EncodeToString(b)), nil
}

// UnmarshalText reads hex.
func (b *HexBytes) UnmarshalText(t []byte) error {
	v, err := hex.DecodeString(string(t))
	if err != nil {
		return fmt.Errorf("%w: hex: %v", ErrInvalid, err)
	}
	*b = v
	return nil
}

// Server answers the admin API over HTTP. Create it with NewServer.
type Server struct {
	b   Backend
	log *slog.Logger
	mux *http.ServeMux
}

// NewServer returns the API's handler for b. A nil log discards.
func NewServer(b Backend, log *slog.Logger) *Server {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s := &Server{b: b, log: log, mux: http.NewServeMux()}
	s.routes()
	return s
}

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.mux.ServeHTTP(w, r) }

func (s *Server) routes() {
	s.mux.HandleFunc("GET /v1/status", s.status)
	s.mux.HandleFunc("GET /v1/devices", s.devices)
	s.mux.HandleFunc("POST /v1/devices", s.addDevice)
	s.mux.HandleFunc("GET /v1/devices/{id}", s.device)
	s.mux.HandleFunc("DELETE /v1/devices/{id}", s.removeDevice)
	s.mux.HandleFunc("GET /v1/devices/{id}/readings", s.deviceReadings)
	s.mux.HandleFunc("POST /v1/devices/{id}/command", s.command)
	s.mux.HandleFunc("GET /v1/sessions", s.sessions)
	s.mux.HandleFunc("GET /v1/readings", s.readings)
	s.mux.HandleFunc("GET /v1/firmware", s.firmware)
	s.mux.HandleFunc("PUT /v1/firmware/{name}", s.putFirmware)
	s.mux.HandleFunc("DELETE /v1/firmware/{name}", s.deleteFirmware)
	s.mux.HandleFunc("GET /v1/things", s.things)
	s.mux.HandleFunc("GET /v1/things/{id}", s.thing)
	s.mux.HandleFunc("GET /v1/ports", s.ports)
	s.mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		s.fail(w, r, fmt.Errorf("%w: no such endpoint %s %s", ErrNotFound, r.Method, r.URL.Path))
	})
}

// errorBody is the JSON of every failed request.
type errorBody struct {
	Error string `json:"error"`
	Code  string `json:"code"`
}

var errorCodes = []struct {
	err    error
	code   string
	status int
}{
	{ErrNotFound, "not_found", http.StatusNotFound},
	{ErrInvalid, "invalid", http.StatusBadRequest},
	{ErrConflict, "conflict", http.StatusConflict},
	{ErrUnavailable, "unavailable", http.StatusServiceUnavailable},
	{ErrTimeout, "timeout", http.StatusGatewayTimeout},
}

func (s *Server) fail(w http.ResponseWriter, r *http.Request, err error) {
	body := errorBody{Error: err.Error(), Code: "internal"}
	status := http.StatusInternalServerError
	for _, c := range errorCodes {
		if errors.Is(err, c.err) {
			body.Code, status = c.code, c.status
			break
		}
	}
	if status == http.StatusInternalServerError {
		s.log.Error("admin: request failed", "method", r.Method, "path", r.URL.Path, "err", err)
	}
	writeJSON(w, status, body)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}

func (s *Server) reply(w http.ResponseWriter, r *http.Request, v any, err error) {
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, v)
}

func decodeBody(r *http.Request, v any) error {
	dec := json.NewDecoder(io.LimitReader(r.Body, maxBody))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("%w: body: %v", ErrInvalid, err)
	}
	return nil
}

func intParam(r *http.Request, name string, def, lo, hi int) (int, error) {
	s := r.URL.Query().Get(name)
	if s == "" {
		return def, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < lo || n > hi {
		return 0, fmt.Errorf("%w: %s=%q: want %d..%d", ErrInvalid, name, s, lo, hi)
	}
	return n, nil
}

func (s *Server) status(w http.ResponseWriter, r *http.Request) {
	st, err := s.b.Status(r.Context())
	s.reply(w, r, st, err)
}

func (s *Server) devices(w http.ResponseWriter, r *http.Request) {
	list, err := s.b.Devices(r.Context())
	s.reply(w, r, nonNil(list), err)
}

func (s *Server) addDevice(w http.ResponseWriter, r *http.Request) {
	var spec DeviceSpec
	if err := decodeBody(r, &spec); err != nil {
		s.fail(w, r, err)
		return
	}
	d, err := s.b.AddDevice(r.Context(), spec)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	s.log.Info("admin: device added", "device", d.ID.String(), "secure", d.Secure, "profile", d.Profile)
	writeJSON(w, http.StatusCreated, d)
}

func (s *Server) device(w http.ResponseWriter, r *http.Request) {
	id, err := ParseDeviceID(r.PathValue("id"))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	d, err := s.b.Device(r.Context(), id)
	s.reply(w, r, d, err)
}

func (s *Server) removeDevice(w http.ResponseWriter, r *http.Request) {
	id, err := ParseDeviceID(r.PathValue("id"))
	if err == nil {
		err = s.b.RemoveDevice(r.Context(), id)
	}
	if err != nil {
		s.fail(w, r, err)
		return
	}
	s.log.Info("admin: device removed", "device", id.String())
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) deviceReadings(w http.ResponseWriter, r *http.Request) {
	id, err := ParseDeviceID(r.PathValue("id"))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	last, err := intParam(r, "last", 10, 1, 1_000_000)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	list, err := s.b.Readings(r.Context(), ReadingQuery{Device: &id, Last: last})
	s.reply(w, r, nonNil(list), err)
}

func (s *Server) readings(w http.ResponseWriter, r *http.Request) {
	from, err := strconv.ParseUint(r.URL.Query().Get("from"), 10, 64)
	if err != nil && r.URL.Query().Get("from") != "" {
		s.fail(w, r, fmt.Errorf("%w: from=%q: want a sequence number", ErrInvalid, r.URL.Query().Get("from")))
		return
	}
	limit, err := intParam(r, "limit", 1000, 1, 100_000)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	list, err := s.b.Readings(r.Context(), ReadingQuery{From: from, Limit: limit})
	s.reply(w, r, nonNil(list), err)
}

func (s *Server) command(w http.ResponseWriter, r *http.Request) {
	id, err := ParseDeviceID(r.PathValue("id"))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	var req CommandRequest
	if err := decodeBody(r, &req); err != nil {
		s.fail(w, r, err)
		return
	}
	ctx := r.Context()
	if req.TimeoutMS < 0 {
		s.fail(w, r, fmt.Errorf("%w: timeoutMs %d is negative", ErrInvalid, req.TimeoutMS))
		return
	}
	if req.TimeoutMS > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, time.Duration(req.TimeoutMS)*time.Millisecond)
		defer cancel()
	}
	res, err := s.b.Command(ctx, id, []byte(req.Script))
	s.reply(w, r, res, err)
}

func (s *Server) sessions(w http.ResponseWriter, r *http.Request) {
	list, err := s.b.Sessions(r.Context())
	s.reply(w, r, nonNil(list), err)
}

func (s *Server) firmware(w http.ResponseWriter, r *http.Request) {
	list, err := s.b.Firmware(r.Context())
	s.reply(w, r, nonNil(list), err)
}

func (s *Server) putFirmware(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	chunk, err := intParam(r, "chunkSize", 0, 0, 1<<20)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	data, err := io.ReadAll(io.LimitReader(r.Body, MaxFirmwareSize+1))
	if err != nil {
		s.fail(w, r, fmt.Errorf("%w: reading the image: %v", ErrInvalid, err))
		return
	}
	if len(data) > MaxFirmwareSize {
		s.fail(w, r, fmt.Errorf("%w: image larger than %d bytes", ErrInvalid, MaxFirmwareSize))
		return
	}
	fw, err := s.b.PutFirmware(r.Context(), name, chunk, data)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	s.log.Info("admin: firmware stored", "name", fw.Name, "size", fw.Size, "chunks", fw.Chunks, "sha256", fw.SHA256)
	writeJSON(w, http.StatusCreated, fw)
}

func (s *Server) deleteFirmware(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	if err := s.b.DeleteFirmware(r.Context(), name); err != nil {
		s.fail(w, r, err)
		return
	}
	s.log.Info("admin: firmware deleted", "name", name)
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) things(w http.ResponseWriter, r *http.Request) {
	list, err := s.b.Things(r.Context())
	s.reply(w, r, nonNil(list), err)
}

func (s *Server) thing(w http.ResponseWriter, r *http.Request) {
	t, err := s.b.Thing(r.Context(), r.PathValue("id"))
	s.reply(w, r, t, err)
}

func (s *Server) ports(w http.ResponseWriter, r *http.Request) {
	list, err := s.b.Ports(r.Context())
	s.reply(w, r, nonNil(list), err)
}

// nonNil makes an empty list encode as [] rather than null.
func nonNil[T any](list []T) []T {
	if list == nil {
		return []T{}
	}
	return list
}

// ListenUnix binds the admin socket at path, mode 0600, replacing a stale
// socket left by a previous run. It refuses to replace a socket another
// process still serves, and anything that is not a socket.
func ListenUnix(path string) (net.Listener, error) {
	if fi, err := os.Lstat(path); err == nil {
		if fi.Mode()&os.ModeSocket == 0 {
			return nil, fmt.Errorf("admin: %s exists and is not a socket", path)
		}
		if c, err := net.DialTimeout("unix", path, time.Second); err == nil {
			c.Close()
			return nil, fmt.Errorf("admin: %s is in use by another process", path)
		}
		if err := os.Remove(path); err != nil {
			return nil, fmt.Errorf("admin: remove stale socket: %w", err)
		}
	}
	ln, err := net.Listen("unix", path)
	if err != nil {
		return nil, fmt.Errorf("admin: %w", err)
	}
	if err := os.Chmod(path, 0o600); err != nil {
		ln.Close()
		return nil, fmt.Errorf("admin: %w", err)
	}
	return ln, nil
}

// Serve answers API requests on ln until ctx ends; then it stops accepting,
// lets running requests finish for up to five seconds and returns nil.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	hs := &http.Server{
		Handler:           s,
		ReadHeaderTimeout: 10 * time.Second,
		BaseContext:       func(net.Listener) context.Context { return ctx },
	}
	if err := httpserve.Serve(ctx, hs, ln); err != nil {
		return fmt.Errorf("admin: %w", err)
	}
	return nil
}
