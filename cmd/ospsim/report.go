package main

import (
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"time"
)

// result is what an OSP run measured.
type result struct {
	sensors []*sensor

	sessions    int
	sent        int
	ackReq      int
	acked       int
	commands    int
	resends     int
	retransmits int
	reconnects  int
	pauses      int
	latencies   []time.Duration
	// establish runs from the first CONNECT to the last session opened.
	establish time.Duration
	// elapsed is the load phase: from its start to the last ACK or the end
	// of sending, whichever is later.
	elapsed  time.Duration
	failures []string

	// With -admin: the store's counters over the run, and -verify.
	store      bool
	appends    uint64
	fsyncs     uint64
	verified   bool
	lost       int
	journaled  int
	checkedAck int

	// line is what the serial line did (-serial, -pty).
	line *lineStats
}

// collectEstablish sums the handshake phase over the sensors.
func (r *result) collectEstablish() {
	var first, last time.Time
	for _, s := range r.sensors {
		s.mu.Lock()
		if !s.firstOpen.IsZero() {
			r.sessions++
			if s.firstOpen.After(last) {
				last = s.firstOpen
			}
		}
		if !s.firstConnect.IsZero() && (first.IsZero() || s.firstConnect.Before(first)) {
			first = s.firstConnect
		}
		s.mu.Unlock()
	}
	if r.sessions > 0 {
		r.establish = last.Sub(first)
	}
}

// collect sums the sensors' counters after the load phase.
func (r *result) collect(loadStart time.Time) {
	end := loadStart
	for _, s := range r.sensors {
		s.mu.Lock()
		c := s.st
		r.sent += c.sent
		r.ackReq += c.ackReq
		r.acked += c.acked
		r.commands += c.commands
		r.resends += c.resends
		r.retransmits += c.retransmits
		r.reconnects += c.reconnects
		r.pauses += c.pauses
		r.latencies = append(r.latencies, c.latencies...)
		if c.sent > 0 {
			end = latest(end, s.sendEnd)
		}
		if c.acked > 0 {
			end = latest(end, s.lastAck)
		}
		s.mu.Unlock()
	}
	r.elapsed = end.Sub(loadStart)
	slices.Sort(r.latencies)
}

func latest(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

func (r *result) handshakesPerSec() float64 {
	if r.establish <= 0 {
		return 0
	}
	return float64(r.sessions) / r.establish.Seconds()
}

func perSec(n int, d time.Duration) float64 {
	if d <= 0 {
		return 0
	}
	return float64(n) / d.Seconds()
}

// percentile of sorted durations.
func percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	return sorted[min(len(sorted)-1, int(p*float64(len(sorted))))]
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

func (r *result) fsyncsPer1000() float64 {
	if r.appends == 0 {
		return 0
	}
	return float64(r.fsyncs) * 1000 / float64(r.appends)
}

func (r *result) print(w io.Writer, o options) {
	fmt.Fprintf(w, "sessions established: %d\n", r.sessions)
	fmt.Fprintf(w, "handshakes/s: %.0f (%d sessions opened in %v)\n", r.handshakesPerSec(), r.sessions, r.establish.Round(time.Millisecond))
	fmt.Fprintf(w, "DATA sent: %d (%d with AckReq)\n", r.sent, r.ackReq)
	fmt.Fprintf(w, "ACKs received: %d\n", r.acked)
	fmt.Fprintf(w, "RESENDs answered: %d, COMMANDs answered: %d\n", r.resends, r.commands)
	fmt.Fprintf(w, "retransmissions: %d, reconnects: %d, pauses: %d\n", r.retransmits, r.reconnects, r.pauses)
	if r.elapsed > 0 {
		fmt.Fprintf(w, "throughput: %.0f DATA/s, %.0f acknowledged/s over %v\n",
			perSec(r.sent, r.elapsed), perSec(r.acked, r.elapsed), r.elapsed.Round(time.Millisecond))
	}
	lat := r.latencies
	fmt.Fprintf(w, "ack latency: p50 %v p99 %v max %v\n", percentile(lat, 0.50), percentile(lat, 0.99), percentile(lat, 1))
	fmt.Fprintf(w, "unacknowledged at the end: %d\n", r.ackReq-r.acked)
	if r.store {
		fmt.Fprintf(w, "store: %d readings appended, %d fsyncs (%.2f per 1000 readings)\n", r.appends, r.fsyncs, r.fsyncsPer1000())
	}
	if r.verified {
		fmt.Fprintf(w, "verified %d acknowledged readings against %d journal records\n", r.checkedAck, r.journaled)
		fmt.Fprintf(w, "readings lost (acknowledged but absent): %d\n", r.lost)
	}
	if l := r.line; l != nil {
		fmt.Fprintf(w, "line %s: %d packets out in %d writes (%d bytes), %d write errors; %d packets in (%d bytes), %d bytes dropped by the framer, %d stray\n",
			l.name, l.packetsOut, l.writes, l.bytesOut, l.writeErrors, l.packetsIn, l.bytesIn, l.discardedBytes, l.stray+l.unrouted)
		fmt.Fprintf(w, "line faults: %d garbage runs (%d bytes), %d split packets, %d bursts, %d hangups, %d reopens\n",
			l.garbageRuns, l.garbageBytes, l.splits, l.bursts, l.hangups, l.reopens)
	}
	for _, f := range r.failures {
		fmt.Fprintln(w, "failure:", f)
	}
	if !o.json {
		return
	}
	out := map[string]any{
		"mode": "osp", "sensors": o.n, "sessions": r.sessions, "handshakes_per_s": round(r.handshakesPerSec()),
		"sent": r.sent, "ack_req": r.ackReq, "acked": r.acked, "unacked": r.ackReq - r.acked,
		"retransmits": r.retransmits, "reconnects": r.reconnects, "resends": r.resends, "pauses": r.pauses,
		"elapsed_s": round(r.elapsed.Seconds()), "sent_per_s": round(perSec(r.sent, r.elapsed)),
		"acked_per_s": round(perSec(r.acked, r.elapsed)),
		"p50_ms":      ms(percentile(lat, 0.50)), "p99_ms": ms(percentile(lat, 0.99)), "max_ms": ms(percentile(lat, 1)),
		"failures": len(r.failures),
	}
	if r.store {
		out["appends"], out["fsyncs"], out["fsyncs_per_1000"] = r.appends, r.fsyncs, round(r.fsyncsPer1000())
	}
	if r.verified {
		out["lost"] = r.lost
	}
	if l := r.line; l != nil {
		out["line_packets_out"], out["line_bytes_out"], out["line_writes"] = l.packetsOut, l.bytesOut, l.writes
		out["line_packets_in"], out["line_bytes_in"], out["line_dropped_bytes"] = l.packetsIn, l.bytesIn, l.discardedBytes
		out["garbage_runs"], out["splits"], out["bursts"], out["hangups"] = l.garbageRuns, l.splits, l.bursts, l.hangups
	}
	writeJSON(w, out)
}

// round keeps two decimals.
func round(f float64) float64 { return float64(int64(f*100+0.5)) / 100 }

// writeJSON prints v as one line (keys sorted).
func writeJSON(w io.Writer, v any) {
	b, _ := json.Marshal(v)
	fmt.Fprintf(w, "%s\n", b)
}
