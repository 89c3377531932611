package steward

import (
	"bytes"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"
)

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// Pairing secrets reach neither the log nor fmt output, and survive a
// restart in the store.
func TestSecretsStayOutOfLogs(t *testing.T) {
	var logs syncBuffer
	logger := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	r := newRig(t, func(o *Options) { o.Logger = logger })
	r.win.Open(time.Minute)
	id, key := simplePair(t, r, "secretive")
	pass := nativePair(t, r, "native-secretive")
	simpleHello(t, r, id, key, time.Now()).c.CloseNow()
	nativeHello(t, r, "native-secretive", pass).c.CloseNow()
	r.st.mu.Lock()
	for _, c := range r.st.clients {
		logger.Info("client", "record", c, "key", c.Key)
	}
	r.st.mu.Unlock()
	r.stop()
	r.start(func(o *Options) { o.Logger = logger })
	simpleHello(t, r, id, key, time.Now()).c.CloseNow()
	nativeHello(t, r, "native-secretive", pass).c.CloseNow()
	out := logs.String()
	for _, s := range []string{string(key), base32Key(key), pass} {
		if strings.Contains(out, s) {
			t.Fatalf("a secret is in the log:\n%s", out)
		}
	}
	if !strings.Contains(out, "steward: paired") || !strings.Contains(out, "[redacted]") {
		t.Errorf("log:\n%s", out)
	}
}
