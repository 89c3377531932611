package main

import (
	"context"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"sync"
	"time"

	"github.com/edgegate/edgegate/gateway/admin"
	"github.com/edgegate/edgegate/gateway/osp"
)

// provisionInFlight is how many device adds run at once: the store commits
// whatever queued during the previous fsync together, so concurrency is
// what makes 10,000 adds take seconds rather than minutes.
const provisionInFlight = 64

// journalPage is the number of readings fetched per admin request while
// verifying.
const journalPage = 10000

// runOSP is the OSP mode: with -admin it provisions the sensors, notes the
// journal's end and the store's counters, runs the simulation, and then
// reads the counters again and verifies the journal.
// A line (to.line) is closed when runOSP returns.
func runOSP(ctx context.Context, to target, o options) (*result, error) {
	if o.admin == "" {
		return simulate(ctx, to, o), nil
	}
	if to.line != nil {
		defer to.line.close() // simulate closes it too, unless provisioning failed
	}
	c := admin.NewClient(o.admin)
	defer c.Close()
	if o.provision {
		start := time.Now()
		if err := provision(ctx, c, o); err != nil {
			return nil, err
		}
		fmt.Fprintf(o.progress, "ospsim: %d devices provisioned in %v\n", o.n, time.Since(start).Round(time.Millisecond))
	}
	before, err := status(ctx, c)
	if err != nil {
		return nil, err
	}
	res := simulate(ctx, to, o)
	after, err := status(ctx, c)
	if err != nil {
		return res, err
	}
	// The counters run since the gateway started: a restart during the
	// run makes the difference meaningless.
	if after.Started.Equal(before.Started) {
		res.store = true
		res.appends = after.Store.Appends - before.Store.Appends
		res.fsyncs = after.Store.Fsyncs - before.Store.Fsyncs
	}
	if o.verify {
		if err := verify(ctx, c, before.Journal.LastSeq+1, res); err != nil {
			return res, err
		}
	}
	return res, nil
}

// provision adds every simulated sensor, replacing an existing one.
func provision(ctx context.Context, c *admin.Client, o options) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	ids := make(chan int)
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		first error
	)
	for range min(provisionInFlight, o.n) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range ids {
				spec := admin.DeviceSpec{ID: admin.DeviceID{Type: uint16(o.devType), Module: uint32(o.module) + uint32(i)},
					Secure: o.secure, Replace: true}
				if o.secure {
					spec.Key = hex.EncodeToString(o.key)
				}
				actx, acancel := context.WithTimeout(ctx, 30*time.Second)
				_, err := c.AddDevice(actx, spec)
				acancel()
				if err != nil {
					mu.Lock()
					if first == nil {
						first = fmt.Errorf("provision %s: %w", spec.ID, err)
					}
					mu.Unlock()
					cancel()
				}
			}
		}()
	}
feed:
	for i := range o.n {
		select {
		case ids <- i:
		case <-ctx.Done():
			break feed
		}
	}
	close(ids)
	wg.Wait()
	if first == nil && ctx.Err() != nil {
		first = ctx.Err()
	}
	return first
}

// status asks for the gateway's status, retrying for a while: the gateway
// may be restarting.
func status(ctx context.Context, c *admin.Client) (admin.Status, error) {
	var st admin.Status
	err := retry(ctx, func(ctx context.Context) error {
		var err error
		st, err = c.Status(ctx)
		return err
	})
	return st, err
}

// retry calls f until it succeeds, for up to 20 s.
func retry(ctx context.Context, f func(context.Context) error) error {
	deadline := time.Now().Add(20 * time.Second)
	for {
		actx, cancel := context.WithTimeout(ctx, 30*time.Second)
		err := f(actx)
		cancel()
		if err == nil || ctx.Err() != nil || time.Now().After(deadline) {
			if err != nil {
				return fmt.Errorf("admin API: %w", err)
			}
			return nil
		}
		select {
		case <-time.After(250 * time.Millisecond):
		case <-ctx.Done():
		}
	}
}

// verify reads the journal from sequence from on and counts the readings
// the sensors saw acknowledged that are not in it. A reading is its device
// and the counter at the start of its payload; duplicates (a reading sent
// again after its ACK was lost) are fine.
func verify(ctx context.Context, c *admin.Client, from uint64, res *result) error {
	byID := make(map[osp.DeviceID]int, len(res.sensors))
	found := make([]bitset, len(res.sensors))
	for i, s := range res.sensors {
		byID[s.id] = i
		s.mu.Lock()
		found[i] = make(bitset, len(s.acked))
		s.mu.Unlock()
	}
	for {
		var page []admin.Reading
		err := retry(ctx, func(ctx context.Context) error {
			var err error
			page, err = c.Readings(ctx, from, journalPage)
			return err
		})
		if err != nil {
			return fmt.Errorf("verify: %w", err)
		}
		for _, r := range page {
			res.journaled++
			i, ok := byID[osp.DeviceID{Type: r.Device.Type, Module: r.Device.Module}]
			if ok && len(r.Payload) >= 8 {
				found[i].setIfBelow(binary.BigEndian.Uint64(r.Payload))
			}
		}
		if len(page) == 0 {
			break
		}
		from = page[len(page)-1].Seq + 1
	}
	res.lost, res.checkedAck = 0, 0
	for i, s := range res.sensors {
		s.mu.Lock()
		res.checkedAck += s.acked.count()
		res.lost += s.acked.missing(found[i])
		s.mu.Unlock()
	}
	res.verified = true
	return nil
}
