package ocs

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// maxResponse bounds a response body the Client reads (values included).
const maxResponse = 64 << 20

// maxErrorBody bounds the body kept in an HTTPError.
const maxErrorBody = 4 << 10

// Client calls an OCS (or, for To0Devices, a To0Scheduler) over HTTP. It is
// safe for concurrent use. Any answer other than 2xx is an *HTTPError,
// which keeps the status ([StatusOf], [IsNotFound]). Every method ends when
// its context does; a request whose context has no deadline gets the
// client's default timeout.
type Client struct {
	hc      *http.Client
	base    string // without trailing slash
	timeout time.Duration
}

// DefaultTimeout bounds a request whose context has no deadline (the
// To0Scheduler's client uses 10 s; values and batches can take longer).
const DefaultTimeout = 30 * time.Second

// NewClient returns a client of the service at base (for example
// "https://localhost:9009") using hc, which carries TLS. A nil hc is
// http.DefaultClient. Requests without a context deadline time out after
// DefaultTimeout.
func NewClient(hc *http.Client, base string) *Client {
	if hc == nil {
		hc = http.DefaultClient
	}
	return &Client{hc: hc, base: strings.TrimRight(base, "/"), timeout: DefaultTimeout}
}

// ClientOptions configures [Dial].
type ClientOptions struct {
	// Cert is the client certificate presented to the server (mutual TLS);
	// required for https.
	Cert tls.Certificate
	// Servers are the server certificates trusted (pinned); required for
	// https.
	Servers Trust
	// ServerName is checked against the server's certificate when it is
	// not pinned; default: the URL's host.
	ServerName string
	// Timeout bounds a request whose context has no deadline; default
	// DefaultTimeout.
	Timeout time.Duration
	// MaxConns bounds the connections kept to the server (default 4).
	MaxConns int
}

// Dial returns a client of the service at base: https with mutual TLS 1.3
// and pinned server certificates ([ClientTLS]), or plain http on loopback
// only ([CheckURL]).
func Dial(base string, o ClientOptions) (*Client, error) {
	u, err := CheckURL(base)
	if err != nil {
		return nil, err
	}
	if o.MaxConns <= 0 {
		o.MaxConns = 4
	}
	tr := &http.Transport{
		Proxy:               nil, // an OCS is reached directly
		MaxIdleConns:        o.MaxConns,
		MaxIdleConnsPerHost: o.MaxConns,
		MaxConnsPerHost:     o.MaxConns,
		IdleConnTimeout:     90 * time.Second,
		TLSHandshakeTimeout: 10 * time.Second,
		DialContext:         (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
	}
	if u.Scheme == "https" {
		name := o.ServerName
		if name == "" {
			name = u.Hostname()
		}
		if tr.TLSClientConfig, err = ClientTLS(o.Cert, o.Servers, name); err != nil {
			return nil, err
		}
		if len(o.Cert.Certificate) == 0 {
			return nil, fmt.Errorf("ocs: dial %s: %w: no client certificate", base, ErrInvalid)
		}
	}
	c := NewClient(&http.Client{Transport: tr}, u.String())
	if o.Timeout > 0 {
		c.timeout = o.Timeout
	}
	return c, nil
}

// Close releases the client's idle connections.
func (c *Client) Close() { c.hc.CloseIdleConnections() }

func devicePath(id, rest string) string { return "/v1/devices/" + url.PathEscape(id) + rest }

// do sends one request and returns the body of a 2xx answer.
func (c *Client) do(ctx context.Context, method, path string, body []byte, ctype, accept string) ([]byte, error) {
	if _, ok := ctx.Deadline(); !ok && c.timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, c.timeout)
		defer cancel()
	}
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, rd)
	if err != nil {
		return nil, fmt.Errorf("ocs: %s %s: %w", method, path, err)
	}
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	if accept != "" {
		req.Header.Set("Accept", accept)
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return nil, fmt.Errorf("ocs: %s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
		he := &HTTPError{Method: method, Path: path, Status: resp.StatusCode, Body: b}
		if n, err := strconv.Atoi(resp.Header.Get("Retry-After")); err == nil && n > 0 && n < 86400 {
			he.RetryAfter = time.Duration(n) * time.Second
		}
		return nil, he
	}
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxResponse+1))
	if err != nil {
		return nil, fmt.Errorf("ocs: %s %s: read: %w", method, path, err)
	}
	if len(b) > maxResponse {
		return nil, fmt.Errorf("ocs: %s %s: %w: response over %d bytes", method, path, ErrInvalid, maxResponse)
	}
	return b, nil
}

func (c *Client) getJSON(ctx context.Context, path string, out any) error {
	b, err := c.do(ctx, http.MethodGet, path, nil, "", "application/json")
	if err != nil {
		return err
	}
	if err := json.Unmarshal(b, out); err != nil {
		return fmt.Errorf("ocs: GET %s: decode: %w", path, err)
	}
	return nil
}

func (c *Client) sendJSON(ctx context.Context, method, path string, in any) error {
	b, err := marshal(in)
	if err != nil {
		return fmt.Errorf("ocs: %s %s: encode: %w", method, path, err)
	}
	_, err = c.do(ctx, method, path, b, "application/json", "")
	return err
}

// Voucher returns the device's ownership voucher byte for byte as stored.
// 404 when there is none.
func (c *Client) Voucher(ctx context.Context, id string) (json.RawMessage, error) {
	b, err := c.do(ctx, http.MethodGet, devicePath(id, "/voucher"), nil, "", "application/json")
	return json.RawMessage(b), err
}

// PostVoucher stores a voucher; the server files it under the GUID in its
// oh.g. The text is sent unchanged (the SDO codec needs it byte for byte).
func (c *Client) PostVoucher(ctx context.Context, voucher []byte) error {
	_, err := c.do(ctx, http.MethodPost, "/v1/devices/voucher", voucher, "application/json", "")
	return err
}

// State returns the device's state; 404 when none is stored.
func (c *Client) State(ctx context.Context, id string) (DeviceState, error) {
	var st DeviceState
	return st, c.getJSON(ctx, devicePath(id, "/state"), &st)
}

// PostState merges st into the device's state ([DeviceState.Merge]).
func (c *Client) PostState(ctx context.Context, id string, st DeviceState) error {
	return c.sendJSON(ctx, http.MethodPost, devicePath(id, "/state"), st)
}

// PostError merges st (usually with to2Error or to0Error) into the device's
// state, like PostState.
func (c *Client) PostError(ctx context.Context, id string, st DeviceState) error {
	return c.sendJSON(ctx, http.MethodPost, devicePath(id, "/errors"), st)
}

// ServiceInfo returns the owner serviceinfo list (GET msgs), with every
// negative valueLen replaced by the value's size. 404 when there is no list
// or a value it sizes is missing.
func (c *Client) ServiceInfo(ctx context.Context, id string) ([]SviMessage, error) {
	var list []SviMessage
	return list, c.getJSON(ctx, devicePath(id, "/msgs"), &list)
}

// PutServiceInfo replaces the owner serviceinfo list (PUT msgs).
func (c *Client) PutServiceInfo(ctx context.Context, id string, list []SviMessage) error {
	if list == nil {
		list = []SviMessage{}
	}
	return c.sendJSON(ctx, http.MethodPut, devicePath(id, "/msgs"), list)
}

// PostDeviceServiceInfo appends the device's serviceinfo (POST msgs).
func (c *Client) PostDeviceServiceInfo(ctx context.Context, id string, list []ModuleMessage) error {
	if list == nil {
		list = []ModuleMessage{}
	}
	return c.sendJSON(ctx, http.MethodPost, devicePath(id, "/msgs"), list)
}

// DeleteServiceInfo deletes the owner serviceinfo list (DELETE msgs).
func (c *Client) DeleteServiceInfo(ctx context.Context, id string) error {
	_, err := c.do(ctx, http.MethodDelete, devicePath(id, "/msgs"), nil, "", "")
	return err
}

// PreServiceInfo returns the owner's pre-serviceinfo (GET psi); 404 when
// there is none.
func (c *Client) PreServiceInfo(ctx context.Context, id string) ([]ModuleMessage, error) {
	var list []ModuleMessage
	return list, c.getJSON(ctx, devicePath(id, "/psi"), &list)
}

func valuePath(id, valueID string) string { return devicePath(id, "/values/"+url.PathEscape(valueID)) }

// Value returns bytes [start, end) of a serviceinfo value; end past the end
// of the value is clamped. 404 when the value does not exist.
func (c *Client) Value(ctx context.Context, id, valueID string, start, end int) ([]byte, error) {
	q := "?start=" + strconv.Itoa(start) + "&end=" + strconv.Itoa(end)
	return c.do(ctx, http.MethodGet, valuePath(id, valueID)+q, nil, "", "application/octet-stream")
}

// PutValue stores (overwrites) a serviceinfo value as raw bytes.
func (c *Client) PutValue(ctx context.Context, id, valueID string, data []byte) error {
	if data == nil {
		data = []byte{}
	}
	_, err := c.do(ctx, http.MethodPut, valuePath(id, valueID), data, "application/octet-stream", "")
	return err
}

// DeleteValue deletes a serviceinfo value.
func (c *Client) DeleteValue(ctx context.Context, id, valueID string) error {
	_, err := c.do(ctx, http.MethodDelete, valuePath(id, valueID), nil, "", "")
	return err
}

// SetupInfo returns the device's new GUID and rendezvous info.
func (c *Client) SetupInfo(ctx context.Context, id string) (SetupInfoResponse, error) {
	var si SetupInfoResponse
	return si, c.getJSON(ctx, devicePath(id, "/setupinfo"), &si)
}

// SessionInfo returns the device's TO2 session (all four parts present).
func (c *Client) SessionInfo(ctx context.Context, id string) (To2DeviceSessionInfo, error) {
	var si To2DeviceSessionInfo
	return si, c.getJSON(ctx, devicePath(id, "/sessioninfo"), &si)
}

// PostSessionInfo updates the parts of the TO2 session that are not nil.
func (c *Client) PostSessionInfo(ctx context.Context, id string, si To2DeviceSessionInfo) error {
	return c.sendJSON(ctx, http.MethodPost, devicePath(id, "/sessioninfo"), si)
}

// DeleteSessionInfo deletes the device's TO2 session.
func (c *Client) DeleteSessionInfo(ctx context.Context, id string) error {
	_, err := c.do(ctx, http.MethodDelete, devicePath(id, "/sessioninfo"), nil, "", "")
	return err
}

// DeleteBlob deletes the device and everything stored for it except the
// serviceinfo values (they are global).
func (c *Client) DeleteBlob(ctx context.Context, id string) error {
	_, err := c.do(ctx, http.MethodDelete, devicePath(id, "/blob"), nil, "", "")
	return err
}

// Resale reports whether the owner supports resale of the device. The OPS
// takes an error as true; callers decide for themselves.
func (c *Client) Resale(ctx context.Context, id string) (bool, error) {
	var ok bool
	return ok, c.getJSON(ctx, devicePath(id, "/resale"), &ok)
}

// Sign asks the owner to sign text (its US-ASCII bytes) for the device.
func (c *Client) Sign(ctx context.Context, id, text string) (SignatureResponse, error) {
	path := "/v1/signatures/" + url.PathEscape(id)
	b, err := c.do(ctx, http.MethodPost, path, []byte(text), "text/plain", "application/json")
	if err != nil {
		return SignatureResponse{}, err
	}
	var sr SignatureResponse
	if err := json.Unmarshal(b, &sr); err != nil {
		return SignatureResponse{}, fmt.Errorf("ocs: POST %s: decode: %w", path, err)
	}
	return sr, nil
}

// Cipher operations.
const (
	Encipher = "encipher"
	Decipher = "decipher"
)

// Cipher runs the owner's RSA-OAEP (SHA-256) operation, Encipher or
// Decipher, on data for the device (ASYMKEX key exchange).
func (c *Client) Cipher(ctx context.Context, id, operation string, data []byte) ([]byte, error) {
	if data == nil {
		data = []byte{}
	}
	path := "/v1/ciphers/" + url.PathEscape(id) + "?operation=" + url.QueryEscape(operation)
	return c.do(ctx, http.MethodPost, path, data, "application/octet-stream", "application/octet-stream")
}

// Health returns GET /health.
func (c *Client) Health(ctx context.Context) (Health, error) {
	var h Health
	return h, c.getJSON(ctx, "/health", &h)
}

// To0Devices asks a To0Scheduler (the Client's base URL) to run TO0 for
// req.GUIDs. A 200 does not mean every device was taken: the scheduler drops
// those beyond its session pool, and the caller resends them next interval.
func (c *Client) To0Devices(ctx context.Context, req To0Request) error {
	if req.GUIDs == nil {
		req.GUIDs = []string{}
	}
	return c.sendJSON(ctx, http.MethodPost, "/v1/to0/devices", req)
}
