package logring

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"
)

type secret string

func (secret) LogValue() slog.Value { return slog.StringValue("[redacted]") }

func TestKeepsWarningsAndErrorsAndPassesEverythingOn(t *testing.T) {
	var out bytes.Buffer
	r := New(3, slog.LevelWarn)
	log := slog.New(r.Handler(slog.NewTextHandler(&out, &slog.HandlerOptions{Level: slog.LevelInfo})))
	log.Debug("not shown anywhere")
	log.Info("info only in the log")
	l := log.With("link", "serial:/dev/ttyUSB0").WithGroup("port")
	l.Warn("port not available", "err", errors.New("no such file"), "key", secret("00112233"))
	log.Error("store", slog.Group("db", "path", "/var/lib/edgegate/edgegate.db"))
	recs := r.Records()
	if len(recs) != 2 {
		t.Fatalf("kept %d records: %+v", len(recs), recs)
	}
	if got := recs[0].String(); got != "port not available link=serial:/dev/ttyUSB0 port.err=no such file port.key=[redacted]" {
		t.Errorf("first record %q", got)
	}
	if recs[0].Level != "WARN" || recs[1].Level != "ERROR" || recs[1].Attrs[0].Key != "db.path" {
		t.Errorf("records %+v", recs)
	}
	for _, s := range []string{"info only in the log", "port not available", "store"} {
		if !strings.Contains(out.String(), s) {
			t.Errorf("%q did not reach the next handler:\n%s", s, out.String())
		}
	}
	if strings.Contains(out.String(), "not shown") || strings.Contains(out.String(), "00112233") {
		t.Errorf("log:\n%s", out.String())
	}
}

func TestRingIsBoundedAndCounts(t *testing.T) {
	r := New(4, slog.LevelWarn)
	log := slog.New(r.Handler(nil))
	for i := range 10 {
		if i%2 == 0 {
			log.Warn(fmt.Sprint(i))
		} else {
			log.Error(fmt.Sprint(i))
		}
	}
	recs := r.Records()
	var msgs []string
	for _, rec := range recs {
		msgs = append(msgs, rec.Message)
	}
	if strings.Join(msgs, ",") != "6,7,8,9" {
		t.Errorf("kept %v", msgs)
	}
	if r.Count(slog.LevelWarn) != 5 || r.Count(slog.LevelError) != 5 {
		t.Errorf("counts %d %d", r.Count(slog.LevelWarn), r.Count(slog.LevelError))
	}
	if !log.Enabled(t.Context(), slog.LevelWarn) || log.Enabled(t.Context(), slog.LevelInfo) {
		t.Error("Enabled without a next handler")
	}
}

func TestLongValuesAreCut(t *testing.T) {
	r := New(1, slog.LevelWarn)
	slog.New(r.Handler(nil)).Warn("x", "hex", strings.Repeat("ab", 1000))
	if v := r.Records()[0].Attrs[0].Value; len(v) > maxValue+4 {
		t.Errorf("value of %d bytes kept", len(v))
	}
}
