package main

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"slices"
	"sync"
	"time"

	"github.com/edgegate/edgegate/drivers/udp"
	"github.com/edgegate/edgegate/gateway/osp"
)

// The echo mode is the benchmark's baseline: what the kernel's loopback and
// UDP sockets allow with no protocol work. It drives a UDP echo server
// (scripts/udpecho) with the traffic shape of the OSP load mode at -rate 0:
//
//   - o.n workers, each on its own connected UDP socket, as each sensor is;
//   - each keeps a window of requests outstanding and sends the next one as
//     an answer comes back. The window is the OSP mode's: the number of
//     AckReq DATA packets a sensor may have unacknowledged at once (-window;
//     0 means the client's cache, 256 MessageIDs), so both modes have
//     n × window packets in flight;
//   - each request has exactly the size of a secure DATA packet with a
//     -payload byte payload and the default 8-byte tag (echoPacketSize); the
//     echo plays the ACKNOWLEDGE (which in OSP is smaller, 15 bytes);
//   - a worker that hears nothing for echoTimeout takes its window as lost
//     and sends a fresh one, as a sensor retransmits.
//
// A worker stops after -count answers or at -duration. With -rate (given
// explicitly: its default is the OSP mode's) each worker instead sends that
// many requests per second, still at most a window outstanding, as a paced
// sensor does: the latency floor at the rate where the OSP mode's latency
// is measured.

// echoTimeout is how long a worker waits for an answer before it takes its
// window as lost.
const echoTimeout = 200 * time.Millisecond

// echoPacketSize is the size of a secure DATA packet carrying payload bytes:
// fixed header, then the EAX-encrypted body (MessageID, DataType, payload)
// and the default 8-byte tag.
func echoPacketSize(payload int) int {
	d := osp.Data{MessageID: 1, DataType: 10, Payload: make([]byte, payload)}
	return osp.PacketSizeFor(len(d.AppendBody(nil)) + osp.DefaultTagLen)
}

// echoResult is what an echo run measured.
type echoResult struct {
	workers, window, size int
	sent, echoed          int
	timeouts              int
	elapsed               time.Duration
	latencies             []time.Duration
}

type echoWorker struct {
	conn      *net.UDPConn
	in        *udp.Reader // conn's answers, several per read
	sent      int
	echoed    int
	timeouts  int
	last      time.Time
	latencies []time.Duration
}

func runEcho(ctx context.Context, addr *net.UDPAddr, o options) (*echoResult, error) {
	window := o.window
	if window == 0 {
		window = 256
	}
	res := &echoResult{workers: o.n, window: window, size: echoPacketSize(o.payload)}
	workers := make([]*echoWorker, o.n)
	for i := range workers {
		conn, err := net.DialUDP("udp", nil, addr)
		if err != nil {
			for _, w := range workers[:i] {
				w.conn.Close()
			}
			return nil, err
		}
		workers[i] = &echoWorker{conn: conn, in: udp.NewReader(conn, readBatch, 2048)}
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stop := context.AfterFunc(ctx, func() {
		for _, w := range workers {
			w.conn.Close()
		}
	})
	defer stop()
	start := time.Now()
	var end time.Time
	if o.duration > 0 {
		end = start.Add(o.duration)
	}
	var wg sync.WaitGroup
	for _, w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if o.echoRate > 0 {
				w.runPaced(o.count, window, res.size, end, o.echoRate)
			} else {
				w.run(o.count, window, res.size, end)
			}
		}()
	}
	wg.Wait()
	last := start
	for _, w := range workers {
		w.conn.Close()
		res.sent += w.sent
		res.echoed += w.echoed
		res.timeouts += w.timeouts
		res.latencies = append(res.latencies, w.latencies...)
		last = latest(last, w.last)
	}
	res.elapsed = last.Sub(start)
	slices.Sort(res.latencies)
	if ctx.Err() != nil {
		return res, ctx.Err()
	}
	return res, nil
}

// run keeps window requests of size bytes in flight until count answers
// came back or end passed. A request carries its number in its first 8
// bytes; a ring of send times, indexed by that number, gives the latency.
func (w *echoWorker) run(count, window, size int, end time.Time) {
	ring := make([]echoStamp, 4*window)
	pkt := make([]byte, size)
	inflight := 0
	expired := func() bool { return !end.IsZero() && !time.Now().Before(end) }
	fill := func() bool {
		for inflight < window && w.echoed+inflight < count && !expired() {
			n := uint64(w.sent)
			binary.BigEndian.PutUint64(pkt, n)
			ring[n%uint64(len(ring))] = echoStamp{n, time.Now()}
			if _, err := w.conn.Write(pkt); err != nil && errors.Is(err, net.ErrClosed) {
				return false
			}
			w.sent++
			inflight++
		}
		return true
	}
	if !fill() {
		return
	}
	for inflight > 0 {
		answers, got := w.read()
		switch got {
		case readTimeout:
			w.timeouts++
			inflight = 0
			if !fill() {
				return
			}
			continue
		case readClosed:
			return
		}
		for _, a := range answers {
			w.answer(a.Data, ring, &inflight)
		}
		if !fill() {
			return
		}
	}
}

// echoStamp is a request's number and send time, kept in a ring indexed by
// the number.
type echoStamp struct {
	n  uint64
	at time.Time
}

// What read got.
const (
	readAnswer  = iota
	readTimeout // nothing for echoTimeout
	readClosed  // the socket is closed: the run is over
)

// read waits up to echoTimeout for an answer and returns it with those
// queued behind it. A refused send (the server is not there yet) is no
// answer: read waits on, and a timeout resends.
func (w *echoWorker) read() ([]udp.Datagram, int) {
	for {
		_ = w.conn.SetReadDeadline(time.Now().Add(echoTimeout))
		answers, err := w.in.Read()
		var ne net.Error
		switch {
		case err == nil:
			return answers, readAnswer
		case errors.As(err, &ne) && ne.Timeout():
			return nil, readTimeout
		case errors.Is(err, net.ErrClosed):
			return nil, readClosed
		}
	}
}

// answer counts an answer, one fewer in flight, and records its latency
// from the send time in ring, once per request.
func (w *echoWorker) answer(pkt []byte, ring []echoStamp, inflight *int) {
	*inflight = max(*inflight-1, 0)
	now := time.Now()
	if len(pkt) >= 8 {
		num := binary.BigEndian.Uint64(pkt)
		if st := &ring[num%uint64(len(ring))]; st.n == num && !st.at.IsZero() {
			w.latencies = append(w.latencies, now.Sub(st.at))
			st.at = time.Time{}
		}
	}
	w.echoed++
	w.last = now
}

// runPaced sends rate requests of size bytes per second (skipping a tick
// while window requests are outstanding) until count answers came back or
// end passed, and reads the answers on its own goroutine. A window that
// brings no answer for echoTimeout is taken as lost, as in run.
func (w *echoWorker) runPaced(count, window, size int, end time.Time, rate float64) {
	ring := make([]echoStamp, 4*window)
	var mu sync.Mutex // ring, inflight and the counters
	inflight := 0
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			answers, got := w.read()
			switch got {
			case readTimeout:
				mu.Lock()
				if inflight > 0 {
					w.timeouts++
					inflight = 0
				}
				stop := w.echoed >= count || (!end.IsZero() && time.Now().After(end))
				mu.Unlock()
				if stop {
					return
				}
				continue
			case readClosed:
				return
			}
			mu.Lock()
			for _, a := range answers {
				w.answer(a.Data, ring, &inflight)
			}
			stop := w.echoed >= count
			mu.Unlock()
			if stop {
				return
			}
		}
	}()
	tick := time.NewTicker(time.Duration(float64(time.Second) / rate))
	defer tick.Stop()
	pkt := make([]byte, size)
	for sent := 0; sent < count; {
		select {
		case <-tick.C:
		case <-done:
			return
		}
		if !end.IsZero() && !time.Now().Before(end) {
			break
		}
		mu.Lock()
		if inflight >= window {
			mu.Unlock()
			continue
		}
		n := uint64(w.sent)
		binary.BigEndian.PutUint64(pkt, n)
		ring[n%uint64(len(ring))] = echoStamp{n, time.Now()}
		w.sent++
		inflight++
		mu.Unlock()
		if _, err := w.conn.Write(pkt); err != nil && errors.Is(err, net.ErrClosed) {
			return
		}
		sent++
	}
	// The last answers: wait for them up to echoTimeout.
	select {
	case <-done:
	case <-time.After(echoTimeout):
		_ = w.conn.SetReadDeadline(time.Now()) // ends the reader
		<-done
	}
}

func (r *echoResult) rate() float64 { return perSec(r.echoed, r.elapsed) }

func (r *echoResult) print(w io.Writer, asJSON bool) {
	lat := r.latencies
	fmt.Fprintf(w, "echo workers: %d, window %d, %d-byte datagrams\n", r.workers, r.window, r.size)
	fmt.Fprintf(w, "requests sent: %d, answers received: %d, windows timed out: %d\n", r.sent, r.echoed, r.timeouts)
	fmt.Fprintf(w, "echo rate: %.0f requests/s over %v\n", r.rate(), r.elapsed.Round(time.Millisecond))
	fmt.Fprintf(w, "round trip: p50 %v p99 %v max %v\n", percentile(lat, 0.50), percentile(lat, 0.99), percentile(lat, 1))
	if asJSON {
		writeJSON(w, map[string]any{"mode": "echo", "workers": r.workers, "window": r.window, "packet_bytes": r.size,
			"sent": r.sent, "echoed": r.echoed, "timeouts": r.timeouts, "elapsed_s": round(r.elapsed.Seconds()),
			"echo_rps": round(r.rate()), "p50_ms": ms(percentile(lat, 0.50)), "p99_ms": ms(percentile(lat, 0.99)),
			"max_ms": ms(percentile(lat, 1))})
	}
}
