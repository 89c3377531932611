// Package pairing is the gateway's pairing window: the short time, opened by
// an installer, during which new clients (native things) may pair with the
// gateway. It is closed by default. The board's pairing button,
// `gatewayctl pair open [--for D]` and the status page open it; the steward
// asks it whether a pair request may proceed.
//
// A window may also require a pairing code: a random 6-digit code, rotated
// every minute, that the installer reads from gatewayctl (or the status page)
// and gives to the thing being paired. Codes are compared in constant time
// and never logged (Code's String, Format and LogValue redact it).
package pairing

import (
	"crypto/rand"
	"crypto/subtle"
	"fmt"
	"log/slog"
	"math/big"
	"sync"
	"time"
)

// DefaultRotation is how often a pairing code changes.
const DefaultRotation = time.Minute

// MaxWindow bounds how long one opening lasts.
const MaxWindow = 24 * time.Hour

// Options configure a Window; the zero Options are valid.
type Options struct {
	// RequireCode makes every pairing present the current code.
	RequireCode bool
	// Rotation is how often the code changes (DefaultRotation).
	Rotation time.Duration
	// OnChange is called, outside the window's lock, when the window opens
	// (open = true) and when it closes or expires (false): the status LED.
	OnChange func(open bool)
	// Now is the clock (time.Now when nil).
	Now func() time.Time
}

// Window is a pairing window. It is safe for concurrent use.
type Window struct {
	opts Options

	mu     sync.Mutex
	until  time.Time
	timer  *time.Timer
	code   Code
	codeAt time.Time // when code was drawn
	gen    uint64    // bumped by every Open and Close
}

// New returns a closed window.
func New(opts Options) *Window {
	if opts.Rotation <= 0 {
		opts.Rotation = DefaultRotation
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	return &Window{opts: opts}
}

// State is what an installer sees of the window.
type State struct {
	Open  bool      `json:"open"`
	Until time.Time `json:"until,omitzero"`
	// CodeRequired reports whether pairing needs the code; Code is the
	// current one while the window is open.
	CodeRequired bool   `json:"codeRequired"`
	Code         string `json:"code,omitempty"`
	// CodeValidUntil is when Code is replaced by the next one.
	CodeValidUntil time.Time `json:"codeValidUntil,omitzero"`
}

// Open opens the window for d (clamped to 1 s..MaxWindow) from now,
// replacing an earlier deadline, and draws a new code when one is
// required. It returns the deadline.
func (w *Window) Open(d time.Duration) time.Time {
	d = min(max(d, time.Second), MaxWindow)
	w.mu.Lock()
	now := w.opts.Now()
	w.until = now.Add(d)
	w.gen++
	gen := w.gen
	if w.opts.RequireCode {
		w.code, w.codeAt = newCode(), now
	}
	if w.timer != nil {
		w.timer.Stop()
	}
	w.timer = time.AfterFunc(d, func() { w.expire(gen) })
	until := w.until
	w.mu.Unlock()
	if w.opts.OnChange != nil {
		w.opts.OnChange(true)
	}
	return until
}

func (w *Window) expire(gen uint64) {
	w.mu.Lock()
	if w.gen != gen {
		w.mu.Unlock()
		return
	}
	w.until, w.code = time.Time{}, ""
	w.mu.Unlock()
	if w.opts.OnChange != nil {
		w.opts.OnChange(false)
	}
}

// Close closes the window now.
func (w *Window) Close() {
	w.mu.Lock()
	wasOpen := w.openLocked()
	w.gen++
	w.until, w.code = time.Time{}, ""
	if w.timer != nil {
		w.timer.Stop()
		w.timer = nil
	}
	w.mu.Unlock()
	if wasOpen && w.opts.OnChange != nil {
		w.opts.OnChange(false)
	}
}

func (w *Window) openLocked() bool { return !w.until.IsZero() && w.opts.Now().Before(w.until) }

// IsOpen reports whether the window is open.
func (w *Window) IsOpen() bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.openLocked()
}

// rotateLocked draws the next code when the current one is older than the
// rotation period.
func (w *Window) rotateLocked() {
	if !w.opts.RequireCode || !w.openLocked() {
		return
	}
	if now := w.opts.Now(); w.code == "" || now.Sub(w.codeAt) >= w.opts.Rotation {
		w.code, w.codeAt = newCode(), now
	}
}

// State returns the window's state, with the current code.
func (w *Window) State() State {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.rotateLocked()
	s := State{Open: w.openLocked(), CodeRequired: w.opts.RequireCode}
	if s.Open {
		s.Until = w.until
		if w.opts.RequireCode {
			s.Code, s.CodeValidUntil = string(w.code), w.codeAt.Add(w.opts.Rotation)
		}
	}
	return s
}

// CodeRequired reports whether pairing needs a code.
func (w *Window) CodeRequired() bool { return w.opts.RequireCode }

// Match reports whether code is the current pairing code (in constant
// time). It is false while the window is closed or when no code is
// required.
func (w *Window) Match(code string) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.rotateLocked()
	if !w.opts.RequireCode || !w.openLocked() || w.code == "" {
		return false
	}
	return subtle.ConstantTimeCompare([]byte(code), []byte(w.code)) == 1
}

// Code is a pairing code. Its String, Format and LogValue methods redact
// it, so it cannot reach a log by accident.
type Code string

// String returns a placeholder, never the code.
func (Code) String() string { return "[redacted]" }

// Format prints the placeholder for every verb.
func (c Code) Format(f fmt.State, _ rune) { _, _ = f.Write([]byte(c.String())) }

// LogValue redacts the code in structured logs.
func (c Code) LogValue() slog.Value { return slog.StringValue(c.String()) }

// newCode draws a uniformly random 6-digit code.
func newCode() Code {
	// crypto/rand's Reader never fails (since Go 1.24 a failure aborts
	// the program), so the error is always nil.
	n, _ := rand.Int(rand.Reader, big.NewInt(1_000_000))
	return Code(fmt.Sprintf("%06d", n.Int64()))
}
