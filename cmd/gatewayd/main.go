// Command gatewayd is the edgegate daemon: it terminates OSP sessions from
// sensors and keeps every acknowledged reading durable in bbolt.
//
// Usage:
//
//	gatewayd [-config FILE] [-data DIR]
//
// Without -config it runs on its embedded default configuration (every
// listener on loopback). SIGTERM and SIGINT stop it cleanly: sessions are
// terminated, in-flight commits finish, and it exits 0.
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
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *showVersion {
		fmt.Fprintln(stderr, "gatewayd", version)
		return nil
	}
	src := io.Reader(bytes.NewReader(defaultConfig))
	name := "(embedded default)"
	if *configPath != "" {
		f, err := os.Open(*configPath)
		if err != nil {
			return err
		}
		defer f.Close()
		src, name = f, *configPath
	}
	cfg, err := gateway.ParseConfig(src)
	if err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	cfg.Version = version
	log := newLogger(cfg.Log, stderr)
	log.Info("starting", "version", version, "config", name, "data", *dataDir)

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	g, err := gateway.New(cfg, *dataDir, log)
	if err != nil {
		return err
	}
	if err := g.Run(ctx); err != nil && !errors.Is(err, context.Canceled) {
		return err
	}
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
