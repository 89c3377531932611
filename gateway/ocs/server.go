package ocs

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	_ "crypto/sha512" // SHA-384/512 for crypto.Hash.New
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"
	bolt "go.etcd.io/bbolt"
)

// Body limits of the Server.
const (
	maxJSONBody  = 8 << 20  // every JSON body, voucher included
	maxValueBody = 16 << 20 // one serviceinfo value
	maxRawBody   = 64 << 10 // signature text, cipher input
)

// ServerOptions configures a Server. The zero value is the reference's
// defaults.
type ServerOptions struct {
	// Version is reported by GET /health.
	Version string
	// CredentialReuse makes setupinfo return the device's own id as g3
	// (to2.credential-reuse.enabled) instead of a new random UUID.
	CredentialReuse bool
	// NoResale makes GET resale answer false (to2.owner-resale.enabled=false).
	NoResale bool
	// Log receives request failures answered with 500; nil discards.
	Log *slog.Logger
	// Now is the clock of GET /health; nil is time.Now.
	Now func() time.Time
}

// Server serves the OCS REST contract from a Store. It is an http.Handler
// and safe for concurrent use. It does not own the Store.
type Server struct {
	st   *Store
	opts ServerOptions
	log  *slog.Logger
	mux  *http.ServeMux
}

// errors local to the Server, mapped to Spring's statuses.
var (
	errMediaType     = errors.New("unsupported media type")   // 415
	errTooLarge      = errors.New("request body too large")   // 413
	errNoBody        = errors.New("required body is missing") // 500 where the reference NPEs
	errNotAcceptable = errors.New("not acceptable")           // 406
)

// NewServer returns the contract's handler on st.
func NewServer(st *Store, opts ServerOptions) *Server {
	if opts.Log == nil {
		opts.Log = slog.New(slog.DiscardHandler)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	s := &Server{st: st, opts: opts, log: opts.Log, mux: http.NewServeMux()}
	s.routes()
	return s
}

// ServeHTTP implements http.Handler. Repeated slashes in the path are
// collapsed first, as Tomcat does: the OPS posts to /v1/devices//voucher.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if strings.Contains(r.URL.Path, "//") {
		r2 := *r
		u := *r.URL
		for strings.Contains(u.Path, "//") {
			u.Path = strings.ReplaceAll(u.Path, "//", "/")
		}
		u.RawPath = ""
		r2.URL = &u
		r = &r2
	}
	s.mux.ServeHTTP(w, r)
}

func (s *Server) routes() {
	m := s.mux
	const js, bin = "application/json", "application/octet-stream"
	m.HandleFunc("GET /v1/devices/{id}/voucher", s.produces(js, s.getRecord(recVoucher)))
	m.HandleFunc("POST /v1/devices/voucher", s.postVoucher)
	m.HandleFunc("GET /v1/devices/{id}/state", s.produces(js, s.getRecord(recState)))
	m.HandleFunc("POST /v1/devices/{id}/state", s.postState)
	m.HandleFunc("POST /v1/devices/{id}/errors", s.postErrors)
	m.HandleFunc("GET /v1/devices/{id}/msgs", s.produces(js, s.getMsgs))
	m.HandleFunc("PUT /v1/devices/{id}/msgs", s.produces(js, s.putMsgs))
	m.HandleFunc("POST /v1/devices/{id}/msgs", s.postMsgs)
	m.HandleFunc("DELETE /v1/devices/{id}/msgs", s.deleteMsgs)
	m.HandleFunc("GET /v1/devices/{id}/psi", s.produces(js, s.getRecord(recPsi)))
	m.HandleFunc("GET /v1/devices/{id}/values/{valueId}", s.produces(bin, s.getValue))
	m.HandleFunc("PUT /v1/devices/{id}/values/{valueId}", s.putValue)
	m.HandleFunc("DELETE /v1/devices/{id}/values/{valueId}", s.deleteValue)
	m.HandleFunc("GET /v1/devices/{id}/setupinfo", s.produces(js, s.getSetupInfo))
	m.HandleFunc("GET /v1/devices/{id}/sessioninfo", s.produces(js, s.getSessionInfo))
	m.HandleFunc("POST /v1/devices/{id}/sessioninfo", s.postSessionInfo)
	m.HandleFunc("DELETE /v1/devices/{id}/sessioninfo", s.deleteSessionInfo)
	m.HandleFunc("DELETE /v1/devices/{id}/blob", s.deleteBlob)
	m.HandleFunc("GET /v1/devices/{id}/resale", s.produces(js, s.getResale))
	m.HandleFunc("POST /v1/signatures/{id}", s.produces(js, s.postSignature))
	m.HandleFunc("POST /v1/ciphers/{id}", s.produces(bin, s.postCipher))
	m.HandleFunc("GET /health", s.getHealth)
}

// produces refuses with 406, as Spring does for a produces= route, a
// request whose Accept header admits no form of ctype. No Accept header
// accepts anything.
func (s *Server) produces(ctype string, h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if !acceptable(r.Header.Values("Accept"), ctype) {
			s.fail(w, r, fmt.Errorf("%w: Accept %q, produces %s", errNotAcceptable, r.Header.Values("Accept"), ctype))
			return
		}
		h(w, r)
	}
}

// acceptable reports whether the Accept header values admit ctype.
func acceptable(accept []string, ctype string) bool {
	if len(accept) == 0 {
		return true
	}
	major, _, _ := strings.Cut(ctype, "/")
	for _, a := range accept {
		for _, part := range strings.Split(a, ",") {
			mt, params, err := mime.ParseMediaType(strings.TrimSpace(part))
			if err != nil {
				continue
			}
			if q := params["q"]; q != "" {
				if f, err := strconv.ParseFloat(q, 64); err == nil && f == 0 {
					continue
				}
			}
			if mt == "*/*" || mt == ctype || mt == major+"/*" {
				return true
			}
		}
	}
	return false
}

//

// fail answers err with an empty body and the reference's status.
func (s *Server) fail(w http.ResponseWriter, r *http.Request, err error) {
	status := http.StatusInternalServerError
	switch {
	case errors.Is(err, ErrNotFound):
		status = http.StatusNotFound
	case errors.Is(err, ErrInvalid):
		status = http.StatusBadRequest
	case errors.Is(err, errMediaType):
		status = http.StatusUnsupportedMediaType
	case errors.Is(err, errTooLarge):
		status = http.StatusRequestEntityTooLarge
	case errors.Is(err, errNotAcceptable):
		status = http.StatusNotAcceptable
	}
	if status == http.StatusInternalServerError {
		s.log.Error("ocs: request failed", "method", r.Method, "path", r.URL.Path, "err", err)
	}
	w.WriteHeader(status)
}

// done answers a write: 200, empty body.
func (s *Server) done(w http.ResponseWriter, r *http.Request, err error) {
	if err != nil {
		s.fail(w, r, err)
		return
	}
	w.WriteHeader(http.StatusOK)
}

func writeBody(w http.ResponseWriter, ctype string, b []byte) {
	w.Header().Set("Content-Type", ctype)
	w.Header().Set("Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(b)
}

func (s *Server) writeJSON(w http.ResponseWriter, r *http.Request, v any) {
	b, err := marshal(v)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeBody(w, "application/json", b)
}

// readBody reads at most limit bytes of the body.
func readBody(w http.ResponseWriter, r *http.Request, limit int64) ([]byte, error) {
	b, err := io.ReadAll(http.MaxBytesReader(w, r.Body, limit))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return nil, fmt.Errorf("%w: over %d bytes", errTooLarge, limit)
		}
		return nil, fmt.Errorf("%w: read body: %v", ErrInvalid, err)
	}
	return b, nil
}

// consumes checks the Content-Type like Spring's consumes=: a missing one
// counts as application/octet-stream.
func consumes(r *http.Request, want string) error {
	ct := r.Header.Get("Content-Type")
	mt := "application/octet-stream"
	if ct != "" {
		var err error
		if mt, _, err = mime.ParseMediaType(ct); err != nil {
			return fmt.Errorf("%w: %q", errMediaType, ct)
		}
	}
	if mt != want {
		return fmt.Errorf("%w: %s, want %s", errMediaType, mt, want)
	}
	return nil
}

// jsonUnmarshal decodes a body, mapping every failure to ErrInvalid.
func jsonUnmarshal(b []byte, v any) error {
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("%w: json: %v", ErrInvalid, err)
	}
	return nil
}

// readJSON reads a required JSON body: an empty or null body is a 400, as
// Spring's "Required request body is missing".
func readJSON(w http.ResponseWriter, r *http.Request, ctype string, v any) error {
	if ctype != "" {
		if err := consumes(r, ctype); err != nil {
			return err
		}
	}
	b, err := readBody(w, r, maxJSONBody)
	if err != nil {
		return err
	}
	if noBody(b) {
		return fmt.Errorf("%w: required request body is missing", ErrInvalid)
	}
	return jsonUnmarshal(b, v)
}

// noBody reports whether a JSON body is empty or null: what Spring hands a
// handler as no body.
func noBody(b []byte) bool {
	t := bytes.TrimSpace(b)
	return len(t) == 0 || bytes.Equal(t, []byte("null"))
}

//

// getRecord answers a device's JSON record byte for byte as stored
// (voucher, state, psi), 404 when there is none.
func (s *Server) getRecord(rec string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		b, err := s.st.get(r.PathValue("id"), rec)
		if err != nil {
			s.fail(w, r, err)
			return
		}
		writeBody(w, "application/json", b)
	}
}

// VoucherGUID returns the canonical lower-case UUID of a voucher's oh.g
// (base64 of 16 bytes): the device id the voucher is filed under.
func VoucherGUID(voucher []byte) (string, error) {
	var v struct {
		OH *struct {
			G []byte `json:"g"`
		} `json:"oh"`
	}
	if err := json.Unmarshal(voucher, &v); err != nil {
		return "", fmt.Errorf("ocs: voucher: %w: %v", ErrInvalid, err)
	}
	if v.OH == nil || len(v.OH.G) != 16 {
		return "", fmt.Errorf("ocs: voucher: %w: oh.g is not 16 bytes of base64", ErrInvalid)
	}
	return uuid.UUID(v.OH.G).String(), nil
}

func (s *Server) postVoucher(w http.ResponseWriter, r *http.Request) {
	if err := consumes(r, "application/json"); err != nil {
		s.fail(w, r, err)
		return
	}
	b, err := readBody(w, r, maxJSONBody)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	id, err := VoucherGUID(b)
	if err == nil {
		err = s.st.PutVoucher(id, b)
	}
	s.done(w, r, err)
}

// mergeState applies u to the stored state (POST state and POST errors).
func (s *Server) mergeState(id string, u DeviceState) error {
	return s.st.update(id, func(d *bolt.Bucket) error {
		var cur DeviceState
		if v := d.Get([]byte(recState)); v != nil {
			if err := json.Unmarshal(v, &cur); err != nil {
				return fmt.Errorf("ocs: stored state of %s: %w", id, err)
			}
		}
		cur.Merge(u)
		b, err := marshal(cur)
		if err != nil {
			return err
		}
		return d.Put([]byte(recState), b)
	})
}

func (s *Server) postState(w http.ResponseWriter, r *http.Request) {
	var u DeviceState
	err := readJSON(w, r, "application/json", &u)
	if err == nil {
		err = s.mergeState(r.PathValue("id"), u)
	}
	s.done(w, r, err)
}

// postErrors is POST state with required=false: an absent body reaches the
// reference's handler as null and ends in a NullPointerException (500).
func (s *Server) postErrors(w http.ResponseWriter, r *http.Request) {
	b, err := readBody(w, r, maxJSONBody)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if noBody(b) {
		s.fail(w, r, errNoBody)
		return
	}
	var u DeviceState
	err = jsonUnmarshal(b, &u)
	if err == nil {
		err = s.mergeState(r.PathValue("id"), u)
	}
	s.done(w, r, err)
}

func (s *Server) getMsgs(w http.ResponseWriter, r *http.Request) {
	b, err := s.st.get(r.PathValue("id"), recSvi)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	var list []SviMessage
	if err := json.Unmarshal(b, &list); err != nil {
		s.fail(w, r, fmt.Errorf("ocs: stored svi: %w", err))
		return
	}
	for i := range list {
		if list[i].ValueLen < 0 {
			v, err := s.st.Value(list[i].ValueID)
			if err != nil {
				s.fail(w, r, err)
				return
			}
			list[i].ValueLen = len(v)
		}
	}
	if list == nil {
		list = []SviMessage{}
	}
	s.writeJSON(w, r, list)
}

func (s *Server) putMsgs(w http.ResponseWriter, r *http.Request) {
	var list []SviMessage
	err := readJSON(w, r, "", &list)
	if err == nil {
		var b []byte
		if b, err = marshal(list); err == nil {
			err = s.st.put(r.PathValue("id"), recSvi, b)
		}
	}
	s.done(w, r, err)
}

func (s *Server) postMsgs(w http.ResponseWriter, r *http.Request) {
	var add []ModuleMessage
	if err := readJSON(w, r, "application/json", &add); err != nil {
		s.fail(w, r, err)
		return
	}
	s.done(w, r, s.st.AppendDeviceServiceInfo(r.PathValue("id"), add))
}

func (s *Server) deleteMsgs(w http.ResponseWriter, r *http.Request) {
	s.done(w, r, s.st.del(r.PathValue("id"), recSvi))
}

// intQuery reads a required Java int query parameter (400 when missing or
// not an int, as Spring answers).
func intQuery(r *http.Request, name string) (int, error) {
	q := r.URL.Query()
	if !q.Has(name) {
		return 0, fmt.Errorf("%w: query parameter %s is missing", ErrInvalid, name)
	}
	n, err := strconv.ParseInt(strings.TrimSpace(q.Get(name)), 10, 32)
	if err != nil {
		return 0, fmt.Errorf("%w: %s=%q: %v", ErrInvalid, name, q.Get(name), err)
	}
	return int(n), nil
}

// getValue returns bytes [start, min(end, len)) of a value. As in ocsfs a
// negative start, a start past the end and end < start are 500s (a negative
// length); start == len is an empty 200.
func (s *Server) getValue(w http.ResponseWriter, r *http.Request) {
	start, err := intQuery(r, "start")
	if err != nil {
		s.fail(w, r, err)
		return
	}
	end, err := intQuery(r, "end")
	if err != nil {
		s.fail(w, r, err)
		return
	}
	v, err := s.st.Value(r.PathValue("valueId"))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if start < 0 || start > len(v) || end < start {
		s.fail(w, r, fmt.Errorf("ocs: value %s: range [%d,%d) of %d bytes", r.PathValue("valueId"), start, end, len(v)))
		return
	}
	writeBody(w, "application/octet-stream", v[start:min(end, len(v))])
}

func (s *Server) putValue(w http.ResponseWriter, r *http.Request) {
	if err := consumes(r, "application/octet-stream"); err != nil {
		s.fail(w, r, err)
		return
	}
	b, err := readBody(w, r, maxValueBody)
	if err == nil {
		err = s.st.PutValue(r.PathValue("valueId"), b)
	}
	s.done(w, r, err)
}

func (s *Server) deleteValue(w http.ResponseWriter, r *http.Request) {
	s.done(w, r, s.st.DeleteValue(r.PathValue("valueId")))
}

func (s *Server) getSetupInfo(w http.ResponseWriter, r *http.Request) {
	g3 := uuid.NewString()
	if s.opts.CredentialReuse {
		g3 = r.PathValue("id")
	}
	s.writeJSON(w, r, SetupInfoResponse{R3: []RendezvousInstruction{}, G3: g3})
}

// getSessionInfo returns all four parts, empty objects for those not stored.
func (s *Server) getSessionInfo(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	si := To2DeviceSessionInfo{&Message41Store{}, &Message45Store{}, &Message47Store{}, &DeviceCryptoInfo{}}
	parts := []struct {
		rec string
		v   any
	}{{recM41, si.Message41Store}, {recM45, si.Message45Store}, {recM47, si.Message47Store}, {recCrypto, si.DeviceCryptoInfo}}
	for _, p := range parts {
		b, err := s.st.get(id, p.rec)
		if errors.Is(err, ErrNotFound) {
			continue
		}
		if err == nil {
			err = json.Unmarshal(b, p.v)
		}
		if err != nil {
			s.fail(w, r, fmt.Errorf("ocs: session %s of %s: %w", p.rec, id, err))
			return
		}
	}
	s.writeJSON(w, r, si)
}

func (s *Server) postSessionInfo(w http.ResponseWriter, r *http.Request) {
	var si To2DeviceSessionInfo
	if err := readJSON(w, r, "application/json", &si); err != nil {
		s.fail(w, r, err)
		return
	}
	recs := map[string]any{}
	if si.Message41Store != nil {
		recs[recM41] = si.Message41Store
	}
	if si.Message45Store != nil {
		recs[recM45] = si.Message45Store
	}
	if si.Message47Store != nil {
		recs[recM47] = si.Message47Store
	}
	if si.DeviceCryptoInfo != nil {
		recs[recCrypto] = si.DeviceCryptoInfo
	}
	err := s.st.update(r.PathValue("id"), func(d *bolt.Bucket) error {
		for rec, v := range recs {
			b, err := marshal(v)
			if err != nil {
				return err
			}
			if err := d.Put([]byte(rec), b); err != nil {
				return err
			}
		}
		return nil
	})
	s.done(w, r, err)
}

func (s *Server) deleteSessionInfo(w http.ResponseWriter, r *http.Request) {
	s.done(w, r, s.st.del(r.PathValue("id"), recM41, recM45, recM47, recCrypto))
}

func (s *Server) deleteBlob(w http.ResponseWriter, r *http.Request) {
	s.done(w, r, s.st.DeleteDevice(r.PathValue("id")))
}

func (s *Server) getResale(w http.ResponseWriter, r *http.Request) {
	s.writeJSON(w, r, !s.opts.NoResale)
}

// javaTimestamp formats t like java.sql.Timestamp.toString: nanoseconds
// without trailing zeros, at least one digit.
func javaTimestamp(t time.Time) string {
	s := t.Format("2006-01-02 15:04:05.000000000")
	s = strings.TrimRight(s, "0")
	if strings.HasSuffix(s, ".") {
		s += "0"
	}
	return s
}

func (s *Server) getHealth(w http.ResponseWriter, r *http.Request) {
	s.writeJSON(w, r, Health{Version: s.opts.Version, Timestamp: javaTimestamp(s.opts.Now().UTC())})
}

// asciiBytes is String.getBytes(US_ASCII) of the body as Spring decoded
// it: UTF-8 for JSON and explicit utf-8 bodies, ISO-8859-1 otherwise; every
// non-ASCII character becomes '?'.
func asciiBytes(r *http.Request, b []byte) []byte {
	mt, params, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	utf := mt == "application/json" || strings.EqualFold(params["charset"], "utf-8")
	out := make([]byte, 0, len(b))
	for len(b) > 0 {
		c, n := rune(b[0]), 1
		if utf && c >= utf8.RuneSelf {
			c, n = utf8.DecodeRune(b)
		}
		if c >= utf8.RuneSelf {
			c = '?'
		}
		out = append(out, byte(c))
		b = b[n:]
	}
	return out
}

// postSignature signs the body with the owner key: SHA256/384withECDSA
// (ASN.1) for P-256/P-384, "SHA"+(modulusBits/8)+"withRSA" for RSA.
func (s *Server) postSignature(w http.ResponseWriter, r *http.Request) {
	b, err := readBody(w, r, maxRawBody)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if len(b) == 0 {
		s.fail(w, r, fmt.Errorf("ocs: signature: %w", errNoBody))
		return
	}
	key, err := s.st.OwnerKey()
	if err != nil {
		s.fail(w, r, err)
		return
	}
	resp, err := sign(key, asciiBytes(r, b))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	s.writeJSON(w, r, resp)
}

func sign(key crypto.Signer, msg []byte) (SignatureResponse, error) {
	var (
		h   crypto.Hash
		alg string
	)
	switch k := key.(type) {
	case *ecdsa.PrivateKey:
		alg = "EC"
		switch k.Curve {
		case elliptic.P256():
			h = crypto.SHA256
		case elliptic.P384():
			h = crypto.SHA384
		default:
			return SignatureResponse{}, fmt.Errorf("ocs: sign: %w: curve %s", ErrNoOwnerKey, k.Curve.Params().Name)
		}
	case *rsa.PrivateKey:
		alg = "RSA"
		switch k.N.BitLen() / 8 {
		case 256:
			h = crypto.SHA256
		case 384:
			h = crypto.SHA384
		case 512:
			h = crypto.SHA512
		default:
			return SignatureResponse{}, fmt.Errorf("ocs: sign: %w: RSA-%d", ErrNoOwnerKey, k.N.BitLen())
		}
	default:
		return SignatureResponse{}, fmt.Errorf("ocs: sign: %w: %T", ErrNoOwnerKey, key)
	}
	hw := h.New()
	hw.Write(msg)
	sig, err := key.Sign(rand.Reader, hw.Sum(nil), h)
	if err != nil {
		return SignatureResponse{}, fmt.Errorf("ocs: sign: %w", err)
	}
	pk, err := x509.MarshalPKIXPublicKey(key.Public())
	if err != nil {
		return SignatureResponse{}, fmt.Errorf("ocs: sign: %w", err)
	}
	return SignatureResponse{PK: base64.StdEncoding.EncodeToString(pk), Alg: alg,
		SG: base64.StdEncoding.EncodeToString(sig)}, nil
}

// postCipher is RSA/NONE/OAEPWithSHA256AndMGF1Padding (BouncyCastle: MGF1
// with SHA-256 too) with the owner's RSA key. A missing operation is a 400;
// an unknown one, an EC owner key or a failed decipher is a 500.
func (s *Server) postCipher(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	if !q.Has("operation") {
		s.fail(w, r, fmt.Errorf("%w: query parameter operation is missing", ErrInvalid))
		return
	}
	b, err := readBody(w, r, maxRawBody)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	key, err := s.st.OwnerKey()
	if err != nil {
		s.fail(w, r, err)
		return
	}
	rk, ok := key.(*rsa.PrivateKey)
	if !ok {
		s.fail(w, r, fmt.Errorf("ocs: cipher: %w: %T is not RSA", ErrNoOwnerKey, key))
		return
	}
	var out []byte
	switch op := q.Get("operation"); op {
	case Encipher:
		out, err = rsa.EncryptOAEP(sha256.New(), rand.Reader, &rk.PublicKey, b, nil)
	case Decipher:
		out, err = rsa.DecryptOAEP(sha256.New(), nil, rk, b, nil)
	default:
		err = fmt.Errorf("ocs: cipher: unknown operation %q", op)
	}
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeBody(w, "application/octet-stream", out)
}
