package admin

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"

	"github.com/edgegate/edgegate/gateway/things"
)

// Error is a failed API request as the Client reports it. It matches the
// package's sentinel error for its Code with errors.Is.
type Error struct {
	Status  int    // HTTP status
	Code    string // "not_found", "invalid", "conflict", "unavailable", "timeout", "internal"
	Message string
}

// Error returns the server's message.
func (e *Error) Error() string { return e.Message }

// Is reports whether target is the sentinel for e's Code.
func (e *Error) Is(target error) bool {
	for _, c := range errorCodes {
		if c.err == target {
			return c.code == e.Code
		}
	}
	return false
}

// Client calls the admin API over its unix socket.
type Client struct {
	hc *http.Client
}

// NewClient returns a client of the API served on the unix socket at path.
func NewClient(path string) *Client {
	var d net.Dialer
	return &Client{hc: &http.Client{Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			return d.DialContext(ctx, "unix", path)
		},
		MaxIdleConnsPerHost: 4,
	}}}
}

// Close releases idle connections.
func (c *Client) Close() { c.hc.CloseIdleConnections() }

func (c *Client) do(ctx context.Context, method, path string, body io.Reader, ctype string, out any) error {
	req, err := http.NewRequestWithContext(ctx, method, "http://gatewayd"+path, body)
	if err != nil {
		return err
	}
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return fmt.Errorf("admin API: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode >= 300 {
		var eb errorBody
		b, _ := io.ReadAll(io.LimitReader(resp.Body, maxBody))
		if json.Unmarshal(b, &eb) != nil || eb.Error == "" {
			eb = errorBody{Error: fmt.Sprintf("HTTP %d: %s", resp.StatusCode, bytes.TrimSpace(b)), Code: "internal"}
		}
		return &Error{Status: resp.StatusCode, Code: eb.Code, Message: eb.Error}
	}
	if out == nil {
		return nil
	}
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
		return fmt.Errorf("admin API: decode %s %s: %w", method, path, err)
	}
	return nil
}

func (c *Client) doJSON(ctx context.Context, method, path string, in, out any) error {
	b, err := json.Marshal(in)
	if err != nil {
		return err
	}
	return c.do(ctx, method, path, bytes.NewReader(b), "application/json", out)
}

// Status returns the gateway's status.
func (c *Client) Status(ctx context.Context) (Status, error) {
	var st Status
	return st, c.do(ctx, http.MethodGet, "/v1/status", nil, "", &st)
}

// Devices lists the provisioned devices.
func (c *Client) Devices(ctx context.Context) ([]Device, error) {
	var list []Device
	return list, c.do(ctx, http.MethodGet, "/v1/devices", nil, "", &list)
}

// Device returns one device.
func (c *Client) Device(ctx context.Context, id DeviceID) (Device, error) {
	var d Device
	return d, c.do(ctx, http.MethodGet, "/v1/devices/"+id.String(), nil, "", &d)
}

// AddDevice provisions a device.
func (c *Client) AddDevice(ctx context.Context, spec DeviceSpec) (Device, error) {
	var d Device
	return d, c.doJSON(ctx, http.MethodPost, "/v1/devices", spec, &d)
}

// RemoveDevice deletes a device.
func (c *Client) RemoveDevice(ctx context.Context, id DeviceID) error {
	return c.do(ctx, http.MethodDelete, "/v1/devices/"+id.String(), nil, "", nil)
}

// Sessions lists the OSP sessions.
func (c *Client) Sessions(ctx context.Context) ([]Session, error) {
	var list []Session
	return list, c.do(ctx, http.MethodGet, "/v1/sessions", nil, "", &list)
}

// LastReadings returns the last n readings of a device, oldest first.
func (c *Client) LastReadings(ctx context.Context, id DeviceID, n int) ([]Reading, error) {
	var list []Reading
	return list, c.do(ctx, http.MethodGet, "/v1/devices/"+id.String()+"/readings?last="+strconv.Itoa(n), nil, "", &list)
}

// Readings returns up to limit journal readings from sequence from on.
func (c *Client) Readings(ctx context.Context, from uint64, limit int) ([]Reading, error) {
	var list []Reading
	q := url.Values{"from": {strconv.FormatUint(from, 10)}, "limit": {strconv.Itoa(limit)}}
	return list, c.do(ctx, http.MethodGet, "/v1/readings?"+q.Encode(), nil, "", &list)
}

// Command sends a COMMAND to a device and waits for its response.
func (c *Client) Command(ctx context.Context, id DeviceID, req CommandRequest) (CommandResult, error) {
	var res CommandResult
	return res, c.doJSON(ctx, http.MethodPost, "/v1/devices/"+id.String()+"/command", req, &res)
}

// Firmware lists the stored firmware images.
func (c *Client) Firmware(ctx context.Context) ([]Firmware, error) {
	var list []Firmware
	return list, c.do(ctx, http.MethodGet, "/v1/firmware", nil, "", &list)
}

// PutFirmware stores a firmware image; chunkSize 0 uses the gateway's
// default.
func (c *Client) PutFirmware(ctx context.Context, name string, chunkSize int, data []byte) (Firmware, error) {
	var fw Firmware
	p := "/v1/firmware/" + url.PathEscape(name)
	if chunkSize > 0 {
		p += "?chunkSize=" + strconv.Itoa(chunkSize)
	}
	return fw, c.do(ctx, http.MethodPut, p, bytes.NewReader(data), "application/octet-stream", &fw)
}

// DeleteFirmware removes a firmware image.
func (c *Client) DeleteFirmware(ctx context.Context, name string) error {
	return c.do(ctx, http.MethodDelete, "/v1/firmware/"+url.PathEscape(name), nil, "", nil)
}

// Things lists the hub's things with their latest state.
func (c *Client) Things(ctx context.Context) ([]things.Thing, error) {
	var list []things.Thing
	return list, c.do(ctx, http.MethodGet, "/v1/things", nil, "", &list)
}

// Thing returns one thing.
func (c *Client) Thing(ctx context.Context, id string) (things.Thing, error) {
	var t things.Thing
	return t, c.do(ctx, http.MethodGet, "/v1/things/"+url.PathEscape(id), nil, "", &t)
}

// Ports lists the gateway machine's serial ports.
func (c *Client) Ports(ctx context.Context) ([]Port, error) {
	var list []Port
	return list, c.do(ctx, http.MethodGet, "/v1/ports", nil, "", &list)
}
