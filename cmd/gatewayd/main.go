// Command gatewayd is the edgegate daemon: it terminates OSP sessions from
// sensors and keeps every acknowledged reading durable in bbolt.
//
// Usage:
//
//	gatewayd [-config FILE] [-data DIR] [-firstboot PATH]
//	gatewayd -check-config FILE
//
// Without -config it runs on its embedded default configuration (every
// listener on loopback). SIGTERM and SIGINT stop it cleanly: sessions are
// terminated, in-flight commits finish, and it exits 0.
//
// -firstboot imports an installer's first-boot file (edgegate.toml) once
// into the data directory before starting. -check-config validates a
// configuration file (syntax, values, device profiles) and exits. Under
// systemd (Type=notify) it reports READY, STOPPING and, while its loops are
// healthy, WATCHDOG.
package main

import (
	"bytes"
	"context"
	_ "embed"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"runtime/debug"
	"syscall"

	"github.com/edgegate/edgegate/gateway"
)

var version = "dev"

//go:embed gatewayd.toml
var defaultConfig []byte

func main() {
	if err := run(os.Args[1:], os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "gatewayd:", err)
		os.Exit(1)
	}
}

func run(args []string, stderr io.Writer) error {
	fs := flag.NewFlagSet("gatewayd", flag.ContinueOnError)
	fs.SetOutput(stderr)
	configPath := fs.String("config", "", "configuration file (TOML); the embedded default when empty")
	dataDir := fs.String("data", "/var/lib/edgegate", "data directory (the bbolt database)")
	showVersion := fs.Bool("version", false, "print the version and exit")
	checkConfig := fs.String("check-config", "", "validate this configuration file and exit (status 0: valid)")
	firstBoot := fs.String("firstboot", "", "import this installer's first-boot file (edgegate.toml) once, then start")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *showVersion {
		fmt.Fprintln(stderr, "gatewayd", version)
		return nil
	}
	if *checkConfig != "" {
		return check(*checkConfig, stderr)
	}
	text, name := defaultConfig, "(embedded default)"
	if *configPath != "" {
		b, err := os.ReadFile(*configPath)
		if err != nil {
			return err
		}
		text, name = b, *configPath
	}
	// The configuration's log settings apply from the start; the first-boot
	// import is logged with them.
	cfg, err := gateway.ParseConfig(bytes.NewReader(text))
	if err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	log := newLogger(cfg.Log, stderr)
	if *firstBoot != "" {
		if _, err := gateway.ImportFirstBoot(*firstBoot, *dataDir, log); err != nil {
			log.Error("first-boot file not imported; starting without it", "err", err)
		}
	}
	if text, err = gateway.WithFirstBoot(text, *dataDir, log); err != nil {
		return err
	}
	if cfg, err = gateway.ParseConfig(bytes.NewReader(text)); err != nil {
		return fmt.Errorf("%s with %s: %w", name, filepath.Join(*dataDir, gateway.FirstBootOverlay), err)
	}
	cfg.Version = version
	log.Info("starting", "version", version, "config", name, "data", *dataDir)
	tuneRuntime(cfg.Runtime, log)

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	g, err := gateway.New(cfg, *dataDir, log)
	if err != nil {
		return err
	}
	done := make(chan struct{})
	notified := make(chan struct{})
	go func() {
		defer close(notified)
		newNotifier(log).run(ctx, g, done)
	}()
	err = g.Run(ctx)
	close(done)
	<-notified
	if err != nil && !errors.Is(err, context.Canceled) {
		return err
	}
	return nil
}

// tuneRuntime applies [runtime] to the garbage collector, except where the
// environment's GOGC or GOMEMLIMIT already set it.
func tuneRuntime(c gateway.RuntimeConfig, log *slog.Logger) {
	if _, ok := os.LookupEnv("GOGC"); !ok {
		debug.SetGCPercent(c.GCPercent)
	}
	if _, ok := os.LookupEnv("GOMEMLIMIT"); !ok && c.MemoryLimitMB > 0 {
		debug.SetMemoryLimit(c.MemoryLimitMB << 20)
	}
	log.Debug("runtime tuned", "memory_limit", debug.SetMemoryLimit(-1)) // -1 reads without setting
}

// check validates a configuration file without starting anything.
func check(path string, out io.Writer) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	cfg, err := gateway.ParseConfig(f)
	if err == nil {
		err = gateway.CheckConfig(cfg)
	}
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	fmt.Fprintf(out, "%s: valid\n", path)
	return nil
}

func newLogger(c gateway.LogConfig, w io.Writer) *slog.Logger {
	var level slog.Level
	_ = level.UnmarshalText([]byte(map[string]string{"": "info"}[c.Level] + c.Level))
	opts := &slog.HandlerOptions{Level: level}
	if c.Format == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}
