package main

import (
	"context"
	"log/slog"
	"time"

	sd "github.com/coreos/go-systemd/v22/daemon"

	"github.com/edgegate/edgegate/gateway/admin"
)

// health is what the notifier asks of the gateway.
type health interface {
	Ready() <-chan struct{}
	Health() admin.Health
}

// notifier speaks systemd's notify protocol (Type=notify): READY=1 once
// every service runs, WATCHDOG=1 every half WatchdogSec while the
// gateway's loops are healthy (a stuck gateway stops sending it and
// systemd restarts it), STOPPING=1 when the stop begins.
type notifier struct {
	send     func(state string) error // daemon.SdNotify; tests record
	interval time.Duration            // 0: no watchdog
	log      *slog.Logger
}

// newNotifier returns the notifier of the systemd environment: sending is
// a no-op without NOTIFY_SOCKET, the watchdog off without WATCHDOG_USEC.
func newNotifier(log *slog.Logger) notifier {
	n := notifier{log: log, send: func(state string) error {
		_, err := sd.SdNotify(false, state)
		return err
	}}
	if d, err := sd.SdWatchdogEnabled(false); err == nil && d > 0 {
		n.interval = d / 2
	}
	return n
}

// run notifies until ctx (the daemon's life) ends or done closes (Run
// returned), then sends STOPPING=1.
func (n notifier) run(ctx context.Context, g health, done <-chan struct{}) {
	select {
	case <-g.Ready():
		n.notify("READY=1\nSTATUS=serving")
	case <-ctx.Done():
	case <-done:
	}
	var tick <-chan time.Time
	if n.interval > 0 {
		t := time.NewTicker(n.interval)
		defer t.Stop()
		tick = t.C
	}
	unhealthy := false
	for {
		select {
		case <-ctx.Done():
			n.notify("STOPPING=1\nSTATUS=stopping")
			return
		case <-done:
			n.notify("STOPPING=1")
			return
		case <-tick:
			h := g.Health()
			if h.OK {
				if unhealthy {
					n.log.Info("healthy again; feeding the systemd watchdog")
					n.notify("STATUS=serving")
				}
				unhealthy = false
				n.notify("WATCHDOG=1")
				continue
			}
			if !unhealthy {
				var failing []string
				for _, c := range h.Checks {
					if !c.OK && !c.Advisory {
						failing = append(failing, c.Name+": "+c.Detail)
					}
				}
				n.log.Error("unhealthy: not feeding the systemd watchdog", "failing", failing)
				n.notify("STATUS=unhealthy")
			}
			unhealthy = true
		}
	}
}

func (n notifier) notify(state string) {
	if err := n.send(state); err != nil {
		n.log.Warn("systemd notify failed", "state", state, "err", err)
	}
}
