#!/usr/bin/env bash
# bench-upstream.sh measures the upstream forwarder against the OCS contract's
# server (what cmd/ocsd serves) over mutual TLS 1.3 on loopback, and ends with
# lines `RESULT name=value`. docs/benchmarks.md ("Upstream") says what each
# figure means.
#
#   1. forward_*       BenchmarkForward: readings/s, CPU per reading and readings
#                      per POST at fixed batch sizes, against a server that
#                      discards the body (the baseline of the same run)
#   2. drain_*         TestDrainBacklog: a backlog of DRAIN readings (1,000,000)
#                      from 32 devices drained with the forwarder's defaults
#
# Needs bash, awk and Go; the drain writes about 1 GB to TMPDIR and takes a
# minute or two. Knobs (environment): DRAIN (1000000), BENCHN (30000 readings per
# benchmark), GO (go).
set -euo pipefail
cd "$(dirname "$0")/.."

GO=${GO:-go}
DRAIN=${DRAIN:-1000000}
BENCHN=${BENCHN:-30000}

load=$(cut -d' ' -f1 /proc/loadavg 2>/dev/null || echo 0)
cpus=$(nproc 2>/dev/null || echo 1)
if awk -v l="$load" -v c="$cpus" 'BEGIN { exit !(l > c / 2) }'; then
	echo "warning: load average $load on $cpus CPUs: the figures will be low and noisy" >&2
fi

$GO test -run '^$' -bench '^BenchmarkForward$' -benchtime "${BENCHN}x" ./gateway/ocs/ | tee /dev/stderr |
	awk '/^BenchmarkForward\// {
		name = $1; sub(/^BenchmarkForward\//, "", name); sub(/-[0-9]+$/, "", name); gsub(/[\/=]/, "_", name)
		for (i = 4; i < NF; i++) {
			if ($(i+1) == "readings/s") printf "RESULT forward_%s_rps=%s\n", name, $i
			if ($(i+1) == "cpu-µs/reading") printf "RESULT forward_%s_cpu_us=%s\n", name, $i
			if ($(i+1) == "readings/post") printf "RESULT forward_%s_per_post=%s\n", name, $i
		}
	}'
EDGEGATE_DRAIN_READINGS=$DRAIN $GO test -count=1 -timeout 60m -run '^TestDrainBacklog$' -v ./gateway/ocs/ | grep '^RESULT'
