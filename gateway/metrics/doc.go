// Package metrics exports the gateway's counters in the Prometheus text
// format (version 0.0.4), as /metrics serves them.
//
// An Exporter holds its own sources and histograms, no global registry, so
// two gateways in one process keep their own figures. Services add their counters by registering a source: a
// function returning their Stats struct, read at every scrape and turned
// into metrics by reflection:
//
//	exp.Register("josp", func() any { return j.Stats() })
//
// Each exported field becomes edgegate_<source>_<field>, the field named by
// its json tag (else its Go name) in snake_case. Unsigned integers are
// counters (suffix _total), signed integers, floats and booleans gauges,
// time.Duration a gauge in seconds (suffix _seconds), time.Time a gauge of
// Unix seconds (suffix _timestamp_seconds, left out while zero). Nested
// structs extend the name; a map[string]T becomes one family with the map
// key as a label. A `metric` struct tag overrides the rules:
//
//	Queued  uint64            `metric:"gauge"`        // a level, not a total
//	Secret  string            `metric:"-"`            // never exported
//	ByCause map[string]uint64 `metric:"label=cause"`  // the label's name (default "key")
//	Packets map[string]map[string]uint64 `metric:"label=type,label=outcome"` // nested maps, one label each
//	Server  map[string]uint64 `metric:"inline"`       // keys become names: edgegate_<source>_server_<key>
//
// Strings, slices and nil pointers are skipped. RegisterEach does the same
// for a set of like instances (the serial links), labelling each by name.
// Histograms (commit latency) have classic Prometheus buckets (le), from
// NewHistogram. The process's own metrics (memory, CPU, file descriptors,
// Go runtime) come from github.com/VictoriaMetrics/metrics.
package metrics
