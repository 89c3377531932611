#!/usr/bin/env bash
# bench-osp.sh measures gatewayd's OSP figures on loopback against the
# kernel's floor, in one run of about a minute, and ends with lines
# `RESULT name=value`. docs/benchmarks.md says what each figure means.
#
#   1. echo_rps        a UDP echo server (scripts/udpecho) driven by `ospsim -echo`
#   2. osp_acked_rps   gatewayd's acknowledged secure DATA rate (32-byte payloads,
#                      AckReq on every packet, ACK after commit), as fast as ACKs allow
#   3. ratio           2 ÷ 1
#   4. p50_ms, p99_ms  ACK latency at half the rate of 2; echo_half_p50_ms and
#                      echo_half_p99_ms: the echo's round trip at that rate, the
#                      machine's floor for them
#   5. fsyncs_per_1000 store fsyncs per 1000 readings during 2
#   6. rss_10k_mb, handshakes_per_s
#                      gatewayd's VmRSS holding 10,000 idle secure sessions, and
#                      the handshake rate while opening them
#
# Needs bash, coreutils, awk and Go. Knobs (environment): SENSORS (32),
# WINDOW (32: unacknowledged DATA per sensor), DURATION (6s), SESSIONS (10000),
# HOLD (5s), GO (go).
set -euo pipefail
cd "$(dirname "$0")/.."

GO=${GO:-go}
SENSORS=${SENSORS:-32}
WINDOW=${WINDOW:-32}
DURATION=${DURATION:-6s}
SESSIONS=${SESSIONS:-10000}
HOLD=${HOLD:-5s}
KEY=000102030405060708090a0b0c0d0e0f
MANY=1000000000 # -count when -duration ends the run

tmp=$(mktemp -d "${TMPDIR:-/tmp}/bench-osp.XXXXXX")
pids=()
cleanup() {
	for p in "${pids[@]}"; do
		kill -TERM "$p" 2>/dev/null || true
	done
	for p in "${pids[@]}"; do
		wait "$p" 2>/dev/null || true
	done
	rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

log() { echo "bench-osp: $*" >&2; }
die() {
	log "$*"
	exit 1
}

# jget KEY FILE: a number from the JSON line that ends ospsim's output.
jget() {
	local v
	v=$(tail -n 1 "$2" | sed -n "s/.*\"$1\":\([-0-9.e+]*\).*/\1/p")
	[ -n "$v" ] || die "no $1 in the output of $(basename "$2" .out)"
	echo "$v"
}

# calc EXPR: floating-point arithmetic.
calc() { awk "BEGIN { printf \"%.4g\", $1 }"; }

# waitfor FILE PATTERN SECONDS PID: wait until FILE has a line matching
# PATTERN, giving up when PID exits or after SECONDS.
waitfor() {
	local i
	for ((i = 0; i < $3 * 10; i++)); do
		grep -q "$2" "$1" 2>/dev/null && return 0
		kill -0 "$4" 2>/dev/null || return 1
		sleep 0.1
	done
	return 1
}

# start_gatewayd DIR: a fresh gatewayd with its data in DIR; sets GW_PID,
# GW_ADDR and GW_SOCK.
start_gatewayd() {
	local dir=$1
	mkdir -p "$dir"
	cat >"$dir.toml" <<-EOF
		[osp.udp]
		listen = "127.0.0.1:0"
		[admin]
		socket = "gatewayd.sock"
		[log]
		level = "info"
	EOF
	"$tmp/gatewayd" -config "$dir.toml" -data "$dir" 2>"$dir.log" &
	GW_PID=$!
	pids+=("$GW_PID")
	waitfor "$dir.log" 'msg="osp udp listening"' 20 "$GW_PID" || { cat "$dir.log" >&2; die "gatewayd did not start"; }
	GW_ADDR=$(sed -n 's/.*msg="osp udp listening" addr=\([0-9.:]*\).*/\1/p' "$dir.log" | head -n 1)
	GW_SOCK=$dir/gatewayd.sock
	local i
	for ((i = 0; i < 100; i++)); do
		[ -S "$GW_SOCK" ] && return 0
		sleep 0.1
	done
	die "gatewayd serves no admin socket at $GW_SOCK"
}

stop() { # stop PID: SIGTERM and wait
	kill -TERM "$1" 2>/dev/null || true
	wait "$1" 2>/dev/null || true
}

need=$((SESSIONS + 64))
if [ "$(ulimit -n)" != unlimited ] && [ "$(ulimit -Hn)" != unlimited ] && [ "$(ulimit -Hn)" -lt "$need" ]; then
	die "ospsim needs $need file descriptors for $SESSIONS sessions; the hard limit is $(ulimit -Hn)"
fi

load1=$(cut -d ' ' -f 1 /proc/loadavg)
if awk "BEGIN { exit !($load1 > $(nproc) / 2) }"; then
	log "warning: load average $load1 on $(nproc) CPUs: other work will distort the figures"
fi
log "building gatewayd, ospsim and udpecho into $tmp"
# Built as the packages and `make cross` build them: static, stripped.
CGO_ENABLED=0 "$GO" build -trimpath -ldflags "-s -w" -o "$tmp/" ./cmd/gatewayd ./cmd/ospsim ./scripts/udpecho

sim=("$tmp/ospsim" -json)
load=(-n "$SENSORS" -window "$WINDOW" -payload 32)

# 1. The floor: a UDP echo server, the same sockets, sizes and window.
"$tmp/udpecho" >"$tmp/echo.addr" 2>"$tmp/echo.log" &
echo_pid=$!
pids+=("$echo_pid")
waitfor "$tmp/echo.addr" . 10 "$echo_pid" || die "udpecho did not start"
log "1/6 echo baseline: $SENSORS workers × window $WINDOW for $DURATION"
"${sim[@]}" -echo "$(head -n 1 "$tmp/echo.addr")" "${load[@]}" -count "$MANY" -duration "$DURATION" | tee "$tmp/echo.out" || true
stop "$echo_pid"
echo_rps=$(jget echo_rps "$tmp/echo.out")

# 2. and 5. gatewayd at its maximum: secure DATA, AckReq on every packet.
start_gatewayd "$tmp/gw1"
log "2/6 gatewayd max rate: $SENSORS secure sensors × window $WINDOW for $DURATION, then verified"
"${sim[@]}" -gateway "$GW_ADDR" -admin "$GW_SOCK" -provision -verify -secure -key "$KEY" "${load[@]}" \
	-ack 1 -rate 0 -count "$MANY" -duration "$DURATION" | tee "$tmp/max.out" || true
osp_rps=$(jget acked_per_s "$tmp/max.out")
fsyncs=$(jget fsyncs_per_1000 "$tmp/max.out")
lost=$(jget lost "$tmp/max.out")
ratio=$(calc "$osp_rps / $echo_rps")

# 4. Latency at half that rate.
rate=$(calc "$osp_rps / 2 / $SENSORS")
log "4/6 gatewayd at half rate: $SENSORS sensors × $rate DATA/s for 5s"
"${sim[@]}" -gateway "$GW_ADDR" -admin "$GW_SOCK" -secure -key "$KEY" "${load[@]}" \
	-ack 1 -rate "$rate" -count "$MANY" -duration 5s | tee "$tmp/half.out" || true
half_rps=$(jget acked_per_s "$tmp/half.out")
p50=$(jget p50_ms "$tmp/half.out")
p99=$(jget p99_ms "$tmp/half.out")
stop "$GW_PID"

# The floor of 4: the echo paced at the same rate.
"$tmp/udpecho" >"$tmp/echo2.addr" 2>"$tmp/echo2.log" &
echo_pid=$!
pids+=("$echo_pid")
waitfor "$tmp/echo2.addr" . 10 "$echo_pid" || die "udpecho did not start"
log "4/6 echo at the same rate: $SENSORS workers × $rate requests/s for 5s"
"${sim[@]}" -echo "$(head -n 1 "$tmp/echo2.addr")" "${load[@]}" -rate "$rate" -count "$MANY" -duration 5s | tee "$tmp/echo2.out" || true
stop "$echo_pid"
echo_p50=$(jget p50_ms "$tmp/echo2.out")
echo_p99=$(jget p99_ms "$tmp/echo2.out")

# 6. A fresh gatewayd holding many idle secure sessions.
start_gatewayd "$tmp/gw2"
log "6/6 $SESSIONS idle secure sessions, held for $HOLD"
"${sim[@]}" -gateway "$GW_ADDR" -admin "$GW_SOCK" -provision -secure -key "$KEY" -n "$SESSIONS" -module 100000 \
	-count 0 -hold "$HOLD" >"$tmp/hold.out" 2>"$tmp/hold.err" &
hold_pid=$!
pids+=("$hold_pid")
waitfor "$tmp/hold.err" 'sessions established' 120 "$hold_pid" || { cat "$tmp/hold.err" >&2; die "the sessions did not open"; }
sleep 2 # let the handshakes' garbage be collected
rss_kb=$(awk '/^VmRSS:/ { print $2 }' "/proc/$GW_PID/status")
hwm_kb=$(awk '/^VmHWM:/ { print $2 }' "/proc/$GW_PID/status")
wait "$hold_pid" || true
cat "$tmp/hold.err" "$tmp/hold.out"
sessions=$(jget sessions "$tmp/hold.out")
handshakes=$(jget handshakes_per_s "$tmp/hold.out")
stop "$GW_PID"
rss_mb=$(calc "$rss_kb / 1024")

verdict() { # verdict NAME OK: a target's outcome
	if [ "$2" = 1 ]; then echo "target $1: met"; else echo "target $1: MISSED"; fi
}
echo
echo "machine: $(nproc) CPUs, $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1); load average before the run $load1"
echo "half-rate run achieved $half_rps acknowledged/s; gatewayd peak RSS during the session test $(calc "$hwm_kb / 1024") MB"
verdict "ratio >= 0.5" "$(awk "BEGIN { print ($ratio >= 0.5) }")"
verdict "p99 <= 10 ms" "$(awk "BEGIN { print ($p99 <= 10) }")"
verdict "<= 5 fsyncs per 1000 readings" "$(awk "BEGIN { print ($fsyncs <= 5) }")"
verdict "$SESSIONS sessions in <= 64 MB" "$(awk "BEGIN { print ($sessions == $SESSIONS && $rss_mb <= 64) }")"
echo "RESULT echo_rps=$echo_rps"
echo "RESULT osp_acked_rps=$osp_rps"
echo "RESULT ratio=$ratio"
echo "RESULT p50_ms=$p50"
echo "RESULT p99_ms=$p99"
echo "RESULT echo_half_p50_ms=$echo_p50"
echo "RESULT echo_half_p99_ms=$echo_p99"
echo "RESULT fsyncs_per_1000=$fsyncs"
echo "RESULT lost=$lost"
echo "RESULT sessions=$sessions"
echo "RESULT rss_10k_mb=$rss_mb"
echo "RESULT handshakes_per_s=$handshakes"
if [ "$lost" != 0 ] || [ "$sessions" != "$SESSIONS" ]; then
	exit 1
fi
