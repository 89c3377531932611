package oco

import (
	"fmt"
	"strings"
	"sync"
)

// capture keeps a procedure's output within a bound: its first head bytes
// and its last tail bytes, with a note of what was cut between them.
type capture struct {
	mu         sync.Mutex
	head, tail []byte
	headMax    int
	tailMax    int
	total      int64
}

func newCapture(limit int) *capture {
	h := limit / 4
	return &capture{headMax: h, tailMax: limit - h}
}

// Write implements io.Writer; it never fails.
func (c *capture) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := len(p)
	c.total += int64(n)
	if room := c.headMax - len(c.head); room > 0 {
		k := min(room, len(p))
		c.head = append(c.head, p[:k]...)
		p = p[k:]
	}
	if len(p) == 0 {
		return n, nil
	}
	c.tail = append(c.tail, p...)
	if len(c.tail) > 2*c.tailMax {
		c.tail = append(c.tail[:0], c.tail[len(c.tail)-c.tailMax:]...)
	}
	return n, nil
}

// String returns the kept output as valid UTF-8.
func (c *capture) String() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	tail := c.tail
	if len(tail) > c.tailMax {
		tail = tail[len(tail)-c.tailMax:]
	}
	var b strings.Builder
	b.Write(c.head)
	if cut := c.total - int64(len(c.head)) - int64(len(tail)); cut > 0 {
		fmt.Fprintf(&b, "\n[... %d bytes of output cut ...]\n", cut)
	}
	b.Write(tail)
	return strings.ToValidUTF8(b.String(), "\uFFFD")
}
