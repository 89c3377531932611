package pairing

import (
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"
)

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func TestWindowOpensClosesAndExpires(t *testing.T) {
	changes := make(chan bool, 4)
	w := New(Options{OnChange: func(open bool) { changes <- open }})
	if w.IsOpen() {
		t.Fatal("a new window is open")
	}
	w.Open(time.Second)
	if !w.IsOpen() || !<-changes {
		t.Fatal("not open after Open")
	}
	if w.Match("123456") {
		t.Fatal("a code matched a window that needs none")
	}
	select {
	case open := <-changes:
		if open {
			t.Fatal("second change is an open")
		}
	case <-time.After(3 * time.Second):
		t.Fatal("window did not expire")
	}
	if w.IsOpen() {
		t.Fatal("open after expiry")
	}
	w.Open(time.Hour)
	<-changes
	w.Close()
	if w.IsOpen() || <-changes {
		t.Fatal("open after Close")
	}
	w.Close() // closing a closed window reports nothing
	select {
	case c := <-changes:
		t.Fatalf("unexpected change %v", c)
	default:
	}
}

func TestWindowCodeRotatesAndMatches(t *testing.T) {
	c := &clock{t: time.Unix(1_700_000_000, 0)}
	w := New(Options{RequireCode: true, Now: c.now})
	if s := w.State(); s.Open || s.Code != "" || !s.CodeRequired {
		t.Fatalf("closed state %+v", s)
	}
	w.Open(10 * time.Minute)
	s := w.State()
	if !s.Open || len(s.Code) != 6 || strings.Trim(s.Code, "0123456789") != "" {
		t.Fatalf("open state %+v", s)
	}
	if !w.Match(s.Code) || w.Match("") || w.Match(s.Code+"0") {
		t.Fatal("Match")
	}
	seen := map[string]bool{s.Code: true}
	for range 5 {
		c.add(DefaultRotation)
		n := w.State().Code
		if w.Match(s.Code) && n != s.Code {
			t.Fatal("the previous code still matches after a rotation")
		}
		seen[n] = true
		s.Code = n
	}
	if len(seen) < 3 {
		t.Errorf("codes do not rotate: %v", seen)
	}
	c.add(10 * time.Minute)
	if w.IsOpen() || w.Match(s.Code) {
		t.Fatal("code matches after the window closed")
	}
}

func TestCodeIsRedacted(t *testing.T) {
	c := Code("424242")
	var b strings.Builder
	slog.New(slog.NewTextHandler(&b, nil)).Info("x", "code", c)
	for _, s := range []string{fmt.Sprint(c), fmt.Sprintf("%s %v %q %d", c, c, c, c), c.String(), b.String()} {
		if strings.Contains(s, "424242") {
			t.Errorf("code shown: %s", s)
		}
	}
}
