package metrics

import (
	"bytes"
	"fmt"
	"io"
	"math"
	"net/http"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	vm "github.com/VictoriaMetrics/metrics"
)

// Prefix starts every metric name the exporter writes.
const Prefix = "edgegate_"

// maxDepth bounds the nesting the flattener follows.
const maxDepth = 6

// Exporter collects the gateway's metrics. Create it with New; it is safe
// for concurrent use.
type Exporter struct {
	mu         sync.Mutex
	sources    []source
	histograms []*Histogram
}

type source struct {
	name  string
	label string // RegisterEach: the instance label
	one   func() any
	each  func() map[string]any
}

// New returns an exporter with no sources and no histograms.
func New() *Exporter { return &Exporter{} }

// Register adds a source: stats is called at every scrape and its result (a
// struct, a pointer to one, a map or a number) flattened into metrics named
// edgegate_<name>_... It must be fast and safe to call from any goroutine.
// A name already registered is replaced.
func (e *Exporter) Register(name string, stats func() any) {
	e.add(source{name: sanitize(name), one: stats})
}

// RegisterEach adds a source of like instances: stats returns each
// instance's Stats by instance name, exported under edgegate_<name>_...
// with the label label="<instance>".
func (e *Exporter) RegisterEach(name, label string, stats func() map[string]any) {
	e.add(source{name: sanitize(name), label: sanitize(label), each: stats})
}

func (e *Exporter) add(s source) {
	e.mu.Lock()
	defer e.mu.Unlock()
	for i, o := range e.sources {
		if o.name == s.name {
			e.sources[i] = s
			return
		}
	}
	e.sources = append(e.sources, s)
}

// Sources returns the registered source names, in registration order.
func (e *Exporter) Sources() []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	out := make([]string, len(e.sources))
	for i, s := range e.sources {
		out[i] = s.name
	}
	return out
}

// NewHistogram returns a histogram edgegate_<name> with the given upper
// bounds (classic Prometheus buckets, plus +Inf). Registering one name
// twice returns the first histogram.
func (e *Exporter) NewHistogram(name string, upperBounds []float64) *Histogram {
	name = Prefix + sanitize(name)
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, h := range e.histograms {
		if h.name == name {
			return h
		}
	}
	h := newHistogram(name, upperBounds)
	e.histograms = append(e.histograms, h)
	return h
}

// WritePrometheus writes every metric: the sources' (read now), the
// histograms, then the process's own (memory, CPU, file descriptors, Go
// runtime).
func (e *Exporter) WritePrometheus(w io.Writer) {
	e.mu.Lock()
	srcs := slices.Clone(e.sources)
	e.mu.Unlock()
	fams := map[string]*family{}
	for _, s := range srcs {
		if s.one != nil {
			flatten(fams, Prefix+s.name, nil, reflect.ValueOf(s.one()), opts{}, 0)
			continue
		}
		m := s.each()
		keys := make([]string, 0, len(m))
		for k := range m {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		for _, k := range keys {
			flatten(fams, Prefix+s.name, []label{{s.label, k}}, reflect.ValueOf(m[k]), opts{}, 0)
		}
	}
	var buf bytes.Buffer
	names := make([]string, 0, len(fams))
	for n := range fams {
		names = append(names, n)
	}
	slices.Sort(names)
	for _, n := range names {
		fams[n].write(&buf, n)
	}
	e.mu.Lock()
	hs := slices.Clone(e.histograms)
	e.mu.Unlock()
	for _, h := range hs {
		h.write(&buf)
	}
	vm.WriteProcessMetrics(&buf)
	_, _ = w.Write(buf.Bytes())
}

// ServeHTTP answers a scrape.
func (e *Exporter) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
	e.WritePrometheus(w)
}

type kind int

const (
	kindAuto kind = iota
	kindCounter
	kindGauge
)

type label struct{ name, value string }

type sample struct {
	labels []label
	value  string
}

type family struct {
	kind    kind
	samples []sample
}

func (f *family) write(w io.Writer, name string) {
	typ := "gauge"
	if f.kind == kindCounter {
		typ = "counter"
	}
	fmt.Fprintf(w, "# TYPE %s %s\n", name, typ)
	for _, s := range f.samples {
		io.WriteString(w, name)
		if len(s.labels) > 0 {
			io.WriteString(w, "{")
			for i, l := range s.labels {
				if i > 0 {
					io.WriteString(w, ",")
				}
				fmt.Fprintf(w, "%s=\"%s\"", l.name, escapeLabel(l.value))
			}
			io.WriteString(w, "}")
		}
		fmt.Fprintf(w, " %s\n", s.value)
	}
}

func put(fams map[string]*family, name string, k kind, labels []label, value string) {
	f := fams[name]
	if f == nil {
		f = &family{kind: k}
		fams[name] = f
	}
	f.samples = append(f.samples, sample{labels: slices.Clone(labels), value: value})
}

var (
	durationType = reflect.TypeFor[time.Duration]()
	timeType     = reflect.TypeFor[time.Time]()
)

// opts are what a field's tags ask of its value: a kind, the label names
// its maps take (outermost first), or map keys inlined into the name.
type opts struct {
	kind   kind
	labels []string
	inline bool
}

// flatten turns v into samples under name.
func flatten(fams map[string]*family, name string, labels []label, v reflect.Value, o opts, depth int) {
	if depth > maxDepth || !v.IsValid() {
		return
	}
	for v.Kind() == reflect.Pointer || v.Kind() == reflect.Interface {
		if v.IsNil() {
			return
		}
		v = v.Elem()
	}
	pick := func(def kind) kind {
		if o.kind != kindAuto {
			return o.kind
		}
		return def
	}
	switch {
	case v.Type() == durationType:
		put(fams, name+"_seconds", kindGauge, labels, formatFloat(time.Duration(v.Int()).Seconds()))
		return
	case v.Type() == timeType:
		t := v.Interface().(time.Time)
		if !t.IsZero() {
			put(fams, name+"_timestamp_seconds", kindGauge, labels, formatFloat(float64(t.UnixNano())/1e9))
		}
		return
	}
	switch v.Kind() {
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		k := pick(kindCounter)
		put(fams, counterName(name, k), k, labels, strconv.FormatUint(v.Uint(), 10))
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		k := pick(kindGauge)
		put(fams, counterName(name, k), k, labels, strconv.FormatInt(v.Int(), 10))
	case reflect.Float32, reflect.Float64:
		k := pick(kindGauge)
		put(fams, counterName(name, k), k, labels, formatFloat(v.Float()))
	case reflect.Bool:
		val := "0"
		if v.Bool() {
			val = "1"
		}
		put(fams, name, kindGauge, labels, val)
	case reflect.Struct:
		t := v.Type()
		for i := range t.NumField() {
			f := t.Field(i)
			if !f.IsExported() {
				continue
			}
			fname, fo, skip := fieldSpec(f)
			if skip {
				continue
			}
			sub := name
			if fname != "" {
				sub = name + "_" + fname
			}
			flatten(fams, sub, labels, v.Field(i), fo, depth+1)
		}
	case reflect.Map:
		if v.Type().Key().Kind() != reflect.String {
			return
		}
		keys := v.MapKeys()
		slices.SortFunc(keys, func(a, b reflect.Value) int { return strings.Compare(a.String(), b.String()) })
		inner := o
		if o.inline {
			inner.inline = false
			for _, k := range keys {
				flatten(fams, name+"_"+snake(k.String()), labels, v.MapIndex(k), inner, depth+1)
			}
			return
		}
		lname := "key"
		if len(o.labels) > 0 {
			lname, inner.labels = o.labels[0], o.labels[1:]
		}
		for _, k := range keys {
			l := append(slices.Clone(labels), label{lname, k.String()})
			flatten(fams, name, l, v.MapIndex(k), inner, depth+1)
		}
	}
}

// fieldSpec reads a field's name and tags. A field without a json name
// keeps its Go name in snake_case; an embedded struct without one adds no
// name of its own.
func fieldSpec(f reflect.StructField) (name string, o opts, skip bool) {
	jname, _, _ := strings.Cut(f.Tag.Get("json"), ",")
	mtag, hasM := f.Tag.Lookup("metric")
	if jname == "-" && !hasM {
		return "", o, true
	}
	for _, part := range strings.Split(mtag, ",") {
		switch {
		case part == "-":
			return "", o, true
		case part == "counter":
			o.kind = kindCounter
		case part == "gauge":
			o.kind = kindGauge
		case part == "inline":
			o.inline = true
		case strings.HasPrefix(part, "label="):
			o.labels = append(o.labels, sanitize(strings.TrimPrefix(part, "label=")))
		}
	}
	switch {
	case jname != "" && jname != "-":
		name = snake(jname)
	case f.Anonymous:
		name = ""
	default:
		name = snake(f.Name)
	}
	return name, o, false
}

func counterName(name string, k kind) string {
	if k == kindCounter && !strings.HasSuffix(name, "_total") {
		return name + "_total"
	}
	return name
}

func formatFloat(f float64) string {
	switch {
	case math.IsInf(f, 1):
		return "+Inf"
	case math.IsInf(f, -1):
		return "-Inf"
	case math.IsNaN(f):
		return "NaN"
	}
	return strconv.FormatFloat(f, 'g', -1, 64)
}

// snake turns "rateLimited", "DutyCycleDrops" or "HandshakesOK" into
// rate_limited, duty_cycle_drops, handshakes_ok.
func snake(s string) string {
	var b strings.Builder
	rs := []rune(s)
	for i, r := range rs {
		upper := r >= 'A' && r <= 'Z'
		if upper && i > 0 {
			prev := rs[i-1]
			prevLower := (prev >= 'a' && prev <= 'z') || (prev >= '0' && prev <= '9')
			nextLower := i+1 < len(rs) && rs[i+1] >= 'a' && rs[i+1] <= 'z'
			if prevLower || (prev >= 'A' && prev <= 'Z' && nextLower) {
				b.WriteByte('_')
			}
		}
		if upper {
			r += 'a' - 'A'
		}
		b.WriteRune(r)
	}
	return sanitize(b.String())
}

// sanitize maps a name onto [a-zA-Z0-9_], not starting with a digit.
func sanitize(s string) string {
	b := []byte(s)
	for i, c := range b {
		ok := c == '_' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9' && i > 0)
		if !ok {
			b[i] = '_'
		}
	}
	if len(b) == 0 {
		return "_"
	}
	return string(b)
}

func escapeLabel(s string) string {
	if !strings.ContainsAny(s, "\\\"\n") {
		return s
	}
	r := strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`)
	return r.Replace(s)
}
