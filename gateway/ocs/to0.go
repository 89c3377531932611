package ocs

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"time"

	bolt "go.etcd.io/bbolt"
)

// To0Options configures [RunTo0], the OCS's client loop towards the
// To0Scheduler (ocsfs's to0.scheduler.*).
type To0Options struct {
	// Scheduler is the To0Scheduler's client (its base URL, typically
	// https://to0scheduler:8049, with the OCS's own certificate).
	Scheduler *Client
	// Interval between two requests (default 60 s); the first one goes
	// after FirstDelay (default 5 s).
	Interval, FirstDelay time.Duration
	// WaitSeconds is the To0Request's waitSeconds (default "7200").
	WaitSeconds string
	// Log receives failures; nil discards.
	Log *slog.Logger
	// Now is the clock of the candidate selection; nil is time.Now.
	Now func() time.Time
}

// To0Candidates returns the devices due for TO0 at now, as ocsfs selects
// them: the device's id is the GUID of its voucher's oh.g, the voucher has
// at least one entry in en, and the state is absent, has no to0Timestamp,
// or to0Timestamp + to0Ws (seconds) is in the past. A device whose
// to0Timestamp cannot be parsed is skipped and reported in bad (ocsfs
// aborts the whole scan there).
func (s *Store) To0Candidates(now time.Time) (due []string, bad []error, err error) {
	now = now.UTC()
	err = s.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketDevices).ForEach(func(k, _ []byte) error {
			d := tx.Bucket(bucketDevices).Bucket(k)
			if d == nil {
				return nil
			}
			id := string(k)
			v := d.Get([]byte(recVoucher))
			if v == nil {
				return nil
			}
			if g, err := VoucherGUID(v); err != nil || g != id {
				return nil
			}
			var ov struct {
				En []json.RawMessage `json:"en"`
			}
			if json.Unmarshal(v, &ov) != nil || len(ov.En) == 0 {
				return nil
			}
			if sv := d.Get([]byte(recState)); sv != nil {
				var st DeviceState
				if err := json.Unmarshal(sv, &st); err != nil {
					bad = append(bad, fmt.Errorf("ocs: to0: device %s: state: %w", id, err))
					return nil
				}
				if st.To0Timestamp != nil {
					t, err := ParseTimestamp(*st.To0Timestamp)
					if err != nil {
						bad = append(bad, fmt.Errorf("ocs: to0: device %s: %w", id, err))
						return nil
					}
					ws := 0
					if st.To0Ws != nil {
						ws = *st.To0Ws
					}
					if !t.Add(time.Duration(ws) * time.Second).Before(now) {
						return nil
					}
				}
			}
			due = append(due, id)
			return nil
		})
	})
	return due, bad, err
}

// RunTo0 asks the To0Scheduler to run TO0 for the due devices every
// interval until ctx ends, even when none is due (as ocsfs does). The
// scheduler may drop devices beyond its session pool and still answer 200;
// they are due again at the next interval. Failures are logged and the
// loop goes on; it returns nil when ctx ends.
func RunTo0(ctx context.Context, st *Store, o To0Options) error {
	if o.Interval <= 0 {
		o.Interval = 60 * time.Second
	}
	if o.FirstDelay <= 0 {
		o.FirstDelay = 5 * time.Second
	}
	if o.WaitSeconds == "" {
		o.WaitSeconds = "7200"
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	t := time.NewTimer(o.FirstDelay)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		due, bad, err := st.To0Candidates(o.Now())
		for _, e := range bad {
			o.Log.Warn("ocs: to0 candidate skipped", "err", e)
		}
		if err != nil {
			o.Log.Error("ocs: to0 candidates", "err", err)
		} else if err := o.Scheduler.To0Devices(ctx, To0Request{GUIDs: due, WaitSeconds: o.WaitSeconds}); err != nil && ctx.Err() == nil {
			o.Log.Warn("ocs: to0 request failed", "devices", len(due), "err", err)
		} else if err == nil {
			o.Log.Debug("ocs: to0 requested", "devices", len(due))
		}
		t.Reset(o.Interval)
	}
}
