package obs

import (
	"fmt"
	"io"
	"os"
	"sync"
	"time"

	"golang.org/x/term"
)

// Progress redraws one status line in place with a carriage return. It
// writes only when enabled (NewProgress enables it when the file is a
// terminal), at most once per interval, and is safe for concurrent use.
type Progress struct {
	mu       sync.Mutex
	w        io.Writer
	enabled  bool
	interval time.Duration
	last     time.Time
	drawn    bool
}

// NewProgress returns a progress line on f, enabled only when f is a
// terminal, redrawn at most every 200 ms.
func NewProgress(f *os.File) *Progress {
	return NewProgressWriter(f, term.IsTerminal(int(f.Fd())), 200*time.Millisecond)
}

// NewProgressWriter returns a progress line on w; enabled and interval as
// given (interval 0 redraws on every Update).
func NewProgressWriter(w io.Writer, enabled bool, interval time.Duration) *Progress {
	return &Progress{w: w, enabled: enabled, interval: interval}
}

// Enabled reports whether the line is drawn.
func (p *Progress) Enabled() bool { return p.enabled }

// Update redraws the line with the formatted text, unless the last redraw
// was less than the interval ago.
func (p *Progress) Update(format string, args ...any) {
	if !p.enabled {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	now := time.Now()
	if p.drawn && now.Sub(p.last) < p.interval {
		return
	}
	p.last, p.drawn = now, true
	// \r returns to column 0, ESC[K clears what a longer line left behind.
	fmt.Fprintf(p.w, "\r"+format+"\x1b[K", args...)
}

// Clear erases the line, so a log line can be printed cleanly.
func (p *Progress) Clear() {
	if !p.enabled {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.drawn {
		fmt.Fprint(p.w, "\r\x1b[K")
		p.drawn = false
	}
}

// Done ends the line with a newline, leaving the last text visible.
func (p *Progress) Done() {
	if !p.enabled {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.drawn {
		fmt.Fprintln(p.w)
		p.drawn = false
	}
}
