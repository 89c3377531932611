package gateway

import (
	"context"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/edgegate/edgegate/board"
	"github.com/edgegate/edgegate/board/boardhost"
	"github.com/edgegate/edgegate/gateway/pairing"
)

// boardState is the board hardware the gateway drives: the status LED, the
// pairing button, the watchdog. Every part is optional; one that failed to
// open is logged and the gateway runs without it.
type boardState struct {
	info    board.Info
	devs    *board.Devices
	pairing *pairing.Window
	lastRun atomic.Int64 // Unix ns of the tick loop's last round (health)
}

// openBoard detects the board, initialises its host drivers when it is a
// real one, and opens the configured devices.
func (g *Gateway) openBoard() {
	b := &g.board
	detected := board.Detect(os.DirFS("/"))
	info, err := g.cfg.Board.Resolve(detected)
	if err != nil {
		g.log.Error("board: configuration does not match this machine; using what was detected", "err", err)
		info = detected
	}
	b.info = info
	b.pairing = g.newPairingWindow()
	hw, err := board.Init(info, boardhost.Init)
	if err != nil {
		g.log.Error("board: host drivers not initialised; GPIO and SPI unavailable", "board", info.String(), "err", err)
	}
	devs, err := board.Open(g.cfg.Board, hw)
	if err != nil {
		g.log.Error("board: devices not available; running without them", "err", err)
	}
	b.devs = devs
	if devs != nil && devs.LED != nil {
		devs.LED.Set(board.PatternStarting)
	}
	g.log.Info("board", "model", info.String(), "gpio", hw.GPIO, "spi", hw.SPI)
}

// runBoard runs the LED, the button and the watchdog until ctx ends. The
// returned function waits for them and closes the devices (disarming the
// watchdog last).
func (g *Gateway) runBoard(ctx context.Context) (stop func()) {
	devs := g.board.devs
	var wg sync.WaitGroup
	if devs == nil {
		return func() {}
	}
	if devs.LED != nil {
		devs.LED.Set(board.PatternRunning)
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := devs.LED.Run(ctx); err != nil {
				g.log.Error("board: status LED stopped", "err", err)
			}
		}()
	}
	if devs.Button != nil {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := devs.Button.Run(ctx, g.openPairingWindow); err != nil {
				g.log.Error("board: pairing button stopped", "err", err)
			}
		}()
	}
	if devs.Watchdog != nil {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := devs.Watchdog.Run(ctx, g.healthy); err != nil {
				g.log.Error("board: watchdog stopped", "err", err)
			}
		}()
	}
	return func() {
		wg.Wait()
		if err := devs.Close(); err != nil {
			g.log.Error("board: closing devices", "err", err)
		}
	}
}

// openPairingWindow opens the pairing window for the configured time (the
// board's button).
func (g *Gateway) openPairingWindow() {
	d := g.cfg.Board.WithDefaults().PairingWindow
	g.board.pairing.Open(d)
	g.log.Info("pairing window open", "for", d)
}

// showPairing shows the pairing window on the LED.
func (g *Gateway) showPairing(open bool) {
	if g.board.devs == nil || g.board.devs.LED == nil {
		return
	}
	if open {
		g.board.devs.LED.Set(board.PatternPairing)
	} else {
		g.board.devs.LED.Set(board.PatternRunning)
	}
}

// PairingOpen reports whether the pairing window is open.
func (g *Gateway) PairingOpen() bool { return g.board.pairing.IsOpen() }

// Pairing returns the pairing window.
func (g *Gateway) Pairing() *pairing.Window { return g.board.pairing }

// healthy is the watchdog's test: the tick loop ran recently.
func (g *Gateway) healthy() bool {
	return time.Since(time.Unix(0, g.board.lastRun.Load())) < 10*time.Second
}
