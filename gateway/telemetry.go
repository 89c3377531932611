package gateway

import (
	"errors"
	"sync/atomic"
	"time"

	"github.com/edgegate/edgegate/gateway/metrics"
	"github.com/edgegate/edgegate/gateway/osp"
	"github.com/edgegate/edgegate/store"
)

// commitBuckets are the upper bounds of the commit latency histogram, in
// seconds: an fsync on an SD card takes from about a millisecond to, when
// the card is busy with its own housekeeping, a second or more.
var commitBuckets = []float64{0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5}

// Metrics returns the gateway's exporter, which /metrics serves. Services
// register their Stats on it (Register or RegisterEach) in their open
// function.
func (g *Gateway) Metrics() *metrics.Exporter { return g.metrics }

// newCommitObserver returns a function feeding the commit latency
// histogram and the per-commit record counts, for the store's OnCommit
// hook.
func newCommitObserver(exp *metrics.Exporter) func(records int, d time.Duration) {
	lat := exp.NewHistogram("store_commit_seconds", commitBuckets)
	size := exp.NewHistogram("store_commit_records", []float64{1, 4, 16, 64, 256, 1024})
	return func(records int, d time.Duration) {
		lat.Update(d.Seconds())
		size.Update(float64(records))
	}
}

// The outcomes of a packet handed to the OSP server, as packetCounter counts
// them.
const (
	outcomeOK = iota
	outcomeMalformed
	outcomeUnknownSID
	outcomeReplay
	outcomeAuthFailed
	outcomePlaintext
	outcomeRefused
	outcomeHandshake
	outcomeIgnored
	outcomeIdentity
	outcomeOther
	numOutcomes
)

var outcomeNames = [numOutcomes]string{"ok", "malformed", "unknown_sid", "replay", "auth_failed", "plaintext",
	"refused", "handshake_failed", "ignored", "identity", "error"}

// outcomeOf classifies the error the server (or a gate before it) returned
// for a packet.
func outcomeOf(err error) int {
	switch {
	case err == nil:
		return outcomeOK
	case errors.Is(err, osp.ErrUnknownSID):
		return outcomeUnknownSID
	case errors.Is(err, osp.ErrReplay):
		return outcomeReplay
	case errors.Is(err, osp.ErrAuth):
		return outcomeAuthFailed
	case errors.Is(err, osp.ErrPlaintext):
		return outcomePlaintext
	case errors.Is(err, osp.ErrUnknownDevice), errors.Is(err, osp.ErrSecurityMismatch),
		errors.Is(err, osp.ErrTooManySessions), errors.Is(err, osp.ErrRefused):
		return outcomeRefused
	case errors.Is(err, osp.ErrHandshake):
		return outcomeHandshake
	case errors.Is(err, osp.ErrUnexpected), errors.Is(err, osp.ErrConnState):
		return outcomeIgnored
	case errors.Is(err, errIdentity):
		return outcomeIdentity
	case errors.Is(err, osp.ErrTruncated), errors.Is(err, osp.ErrReservedMsgType), errors.Is(err, osp.ErrFlags),
		errors.Is(err, osp.ErrPacketSize), errors.Is(err, osp.ErrSizeMismatch), errors.Is(err, osp.ErrBodyLength),
		errors.Is(err, osp.ErrBadInit):
		return outcomeMalformed
	}
	return outcomeOther
}

// packetCounts counts every OSP packet the links hand in, by MsgType and
// by what became of it.
type packetCounts [16][numOutcomes]atomic.Uint64

// counting returns next wrapped so that each packet is counted in pc. It
// adds one atomic increment to the packet path and allocates nothing.
func (pc *packetCounts) counting(next packetHandler) packetHandler {
	return countingHandler{counts: pc, next: next}
}

type countingHandler struct {
	counts *packetCounts
	next   packetHandler
}

// Handle passes pkt on and counts it.
func (h countingHandler) Handle(pkt []byte, from osp.Peer) error {
	err := h.next.Handle(pkt, from)
	t := 0 // too short for a MsgType: counted as reserved
	if len(pkt) > 4 {
		t = int(pkt[4] >> 4)
	}
	h.counts[t][outcomeOf(err)].Add(1)
	return err
}

// snapshot returns the non-zero counts by type name and outcome.
func (pc *packetCounts) snapshot() map[string]map[string]uint64 {
	out := map[string]map[string]uint64{}
	for t := range pc {
		name := "RESERVED"
		if mt := osp.MsgType(t); mt.Valid() {
			name = mt.String()
		}
		for o := range pc[t] {
			n := pc[t][o].Load()
			if n == 0 {
				continue
			}
			if out[name] == nil {
				out[name] = map[string]uint64{}
			}
			out[name][outcomeNames[o]] += n
		}
	}
	return out
}

// The causes of failed handshakes, as handshakeCauses counts them.
const (
	causeUnknownDevice = iota
	causeSecurityMismatch
	causeVerification
	causeTimeout
	causeTableFull
	causeOther
	numCauses
)

var causeNames = [numCauses]string{"unknown_device", "security_mismatch", "verification", "timeout", "table_full", "other"}

// handshakeCauses counts failed handshakes by cause.
type handshakeCauses [numCauses]atomic.Uint64

func (h *handshakeCauses) count(err error) {
	c := causeOther
	switch {
	case errors.Is(err, osp.ErrUnknownDevice):
		c = causeUnknownDevice
	case errors.Is(err, osp.ErrSecurityMismatch):
		c = causeSecurityMismatch
	case errors.Is(err, osp.ErrHandshake), errors.Is(err, osp.ErrAuth):
		c = causeVerification
	case errors.Is(err, osp.ErrHandshakeTimeout):
		c = causeTimeout
	case errors.Is(err, osp.ErrTooManySessions):
		c = causeTableFull
	}
	h[c].Add(1)
}

func (h *handshakeCauses) snapshot() map[string]uint64 {
	out := make(map[string]uint64, numCauses)
	for i := range h {
		out[causeNames[i]] = h[i].Load()
	}
	return out
}

// ospMetrics is the OSP server's part of /metrics.
type ospMetrics struct {
	Packets           map[string]map[string]uint64 `json:"packets" metric:"label=type,label=outcome"`
	HandshakeFailures map[string]uint64            `json:"handshakeFailuresByCause" metric:"label=cause"`
	Server            map[string]uint64            `json:"server" metric:"inline"`
	Sessions          int                          `json:"sessions"`
	AckQueue          int                          `json:"ackQueue"`
	// Commits whose ACKs the committer sent itself, and those it handed to
	// the acker (many ACKs: a stream near the maximum).
	AckCommitsInline uint64 `json:"ackCommitsInline"`
	AckCommitsHanded uint64 `json:"ackCommitsHanded"`
}

// storeMetrics is the store's part of /metrics.
type storeMetrics struct {
	store.Stats
	JournalRecords uint64    `json:"journalRecords" metric:"gauge"`
	JournalLastSeq uint64    `json:"journalLastSeq" metric:"gauge"`
	JournalOldest  time.Time `json:"journalOldest"`
	FileBytes      int64     `json:"fileBytes"`
}

// registerMetrics adds the sources of everything New built: the OSP server,
// the links, the store, the hub's projection, the board.
func (g *Gateway) registerMetrics() {
	m := g.metrics
	m.Register("osp", func() any {
		om := ospMetrics{Packets: g.packets.snapshot(), HandshakeFailures: g.hsCauses.snapshot(),
			Server: make(map[string]uint64, osp.NumCounters), Sessions: len(g.srv.Sessions()), AckQueue: g.acks.pending(),
			AckCommitsInline: g.acks.inline.Load(), AckCommitsHanded: g.acks.handed.Load()}
		for i, v := range g.srv.Counters() {
			om.Server[osp.Counter(i).String()] = v
		}
		return om
	})
	m.Register("store", func() any {
		sm := storeMetrics{Stats: g.db.Stats()}
		sm.JournalRecords, _, sm.JournalLastSeq, sm.JournalOldest, _ = g.db.JournalStats()
		sm.FileBytes = fileSize(g.db.Path())
		return sm
	})
	m.Register("things", func() any {
		return struct {
			Things    int    `json:"things"`
			Projected uint64 `json:"projectedSeq" metric:"gauge"`
			Undecoded uint64 `json:"undecoded"`
		}{g.hub.Len(), g.proj.projected.Load(), g.proj.undecoded.Load()}
	})
	if g.udp != nil {
		m.Register("udp", func() any { return g.udp.Stats() })
	}
	if len(g.serial) > 0 {
		m.RegisterEach("serial", "link", func() map[string]any {
			out := make(map[string]any, len(g.serial))
			for _, l := range g.serial {
				out[l.Name()] = l.Stats()
			}
			return out
		})
	}
	if g.dtls != nil {
		m.Register("dtls", func() any { return g.dtls.Stats() })
	}
	if g.lora != nil {
		m.Register("lora", func() any { return g.lora.Stats() })
	}
	m.Register("gateway", func() any {
		return struct {
			Started   time.Time `json:"started"`
			Pairing   bool      `json:"pairingOpen"`
			Healthy   bool      `json:"healthy"`
			ClockSane bool      `json:"clockSane"`
			Errors    uint64    `json:"logErrors"`
			Warnings  uint64    `json:"logWarnings"`
		}{g.started, g.PairingOpen(), g.Health().OK, g.clock.Sane(), g.errlog.Count(errLevel), g.errlog.Count(warnLevel)}
	})
}
