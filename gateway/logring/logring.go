package logring

import (
	"context"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"
)

// Record is one kept log record.
type Record struct {
	Time    time.Time `json:"time"`
	Level   string    `json:"level"`
	Message string    `json:"message"`
	// Attrs are the record's attributes (the logger's and its own), keys
	// qualified by their groups ("link", "err", "board.model").
	Attrs []Attr `json:"attrs,omitempty"`
}

// Attr is one attribute rendered as text.
type Attr struct {
	Key   string `json:"key"`
	Value string `json:"value"`
}

// String renders the record in one line: "message key=value ...".
func (r Record) String() string {
	var b strings.Builder
	b.WriteString(r.Message)
	for _, a := range r.Attrs {
		b.WriteString(" ")
		b.WriteString(a.Key)
		b.WriteString("=")
		b.WriteString(a.Value)
	}
	return b.String()
}

// maxValue bounds one rendered attribute value.
const maxValue = 512

// Ring keeps the last records at or above a level. Create it with New.
type Ring struct {
	min  slog.Level
	mu   sync.Mutex
	buf  []Record
	next int
	full bool
	// counts of every record seen at warn and error level, kept or not.
	warns, errors uint64
}

// New returns a ring of size records (at least 1) at or above min.
func New(size int, min slog.Level) *Ring {
	return &Ring{min: min, buf: make([]Record, max(size, 1))}
}

// Records returns the kept records, oldest first.
func (r *Ring) Records() []Record {
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.full {
		return slices.Clone(r.buf[:r.next])
	}
	return append(slices.Clone(r.buf[r.next:]), r.buf[:r.next]...)
}

// Count returns how many records at level (slog.LevelWarn or
// slog.LevelError; higher levels count as errors) were seen since New.
func (r *Ring) Count(level slog.Level) uint64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	if level >= slog.LevelError {
		return r.errors
	}
	return r.warns
}

func (r *Ring) add(rec Record, level slog.Level) {
	r.mu.Lock()
	defer r.mu.Unlock()
	switch {
	case level >= slog.LevelError:
		r.errors++
	case level >= slog.LevelWarn:
		r.warns++
	}
	r.buf[r.next] = rec
	r.next++
	if r.next == len(r.buf) {
		r.next, r.full = 0, true
	}
}

// Handler returns a handler that passes every record to next (nil: none)
// and keeps those at or above the ring's level.
func (r *Ring) Handler(next slog.Handler) slog.Handler {
	return &handler{ring: r, next: next}
}

type handler struct {
	ring   *Ring
	next   slog.Handler
	attrs  []Attr // from WithAttrs, already qualified
	groups []string
}

func (h *handler) Enabled(ctx context.Context, l slog.Level) bool {
	return l >= h.ring.min || (h.next != nil && h.next.Enabled(ctx, l))
}

func (h *handler) Handle(ctx context.Context, rec slog.Record) error {
	var err error
	if h.next != nil && h.next.Enabled(ctx, rec.Level) {
		err = h.next.Handle(ctx, rec)
	}
	if rec.Level >= h.ring.min {
		kept := Record{Time: rec.Time, Level: rec.Level.String(), Message: rec.Message, Attrs: slices.Clone(h.attrs)}
		prefix := strings.Join(h.groups, ".")
		rec.Attrs(func(a slog.Attr) bool {
			kept.Attrs = appendAttr(kept.Attrs, prefix, a)
			return true
		})
		h.ring.add(kept, rec.Level)
	}
	return err
}

func (h *handler) WithAttrs(as []slog.Attr) slog.Handler {
	n := *h
	n.attrs = slices.Clone(h.attrs)
	prefix := strings.Join(h.groups, ".")
	for _, a := range as {
		n.attrs = appendAttr(n.attrs, prefix, a)
	}
	if h.next != nil {
		n.next = h.next.WithAttrs(as)
	}
	return &n
}

func (h *handler) WithGroup(name string) slog.Handler {
	if name == "" {
		return h
	}
	n := *h
	n.groups = append(slices.Clone(h.groups), name)
	if h.next != nil {
		n.next = h.next.WithGroup(name)
	}
	return &n
}

// appendAttr renders a (resolving LogValuers, flattening groups) onto out.
func appendAttr(out []Attr, prefix string, a slog.Attr) []Attr {
	a.Value = a.Value.Resolve()
	if a.Equal(slog.Attr{}) {
		return out
	}
	key := a.Key
	if prefix != "" && key != "" {
		key = prefix + "." + key
	} else if key == "" {
		key = prefix
	}
	if a.Value.Kind() == slog.KindGroup {
		for _, g := range a.Value.Group() {
			out = appendAttr(out, key, g)
		}
		return out
	}
	v := a.Value.String()
	if len(v) > maxValue {
		v = v[:maxValue] + "…"
	}
	return append(out, Attr{Key: key, Value: v})
}
