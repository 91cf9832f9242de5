package obs

import (
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/term"
)

// ProgressEnv names the environment variable that forces progress lines on
// or off for every command (train included); a command's --progress flag,
// when given, wins over it. Its values are those ParseProgressMode takes.
const ProgressEnv = "TRAINERD_PROGRESS"

// DefaultProgressInterval is the shortest time between two redraws of a
// progress line: at most ten redraws a second.
const DefaultProgressInterval = 100 * time.Millisecond

// ProgressMode says when a progress line is drawn.
type ProgressMode int

const (
	// ProgressAuto draws when the writer is a terminal, unless ProgressEnv
	// says otherwise.
	ProgressAuto ProgressMode = iota
	// ProgressOn always draws, terminal or not.
	ProgressOn
	// ProgressOff never draws.
	ProgressOff
)

// String returns the mode's name: auto, on or off.
func (m ProgressMode) String() string {
	switch m {
	case ProgressOn:
		return "on"
	case ProgressOff:
		return "off"
	}
	return "auto"
}

// ParseProgressMode reads a mode: "auto" or "" (draw on a terminal), "on"
// ("1", "true", "always") or "off" ("0", "false", "never"), in any case.
func ParseProgressMode(s string) (ProgressMode, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "", "auto":
		return ProgressAuto, nil
	case "on", "1", "true", "always", "yes":
		return ProgressOn, nil
	case "off", "0", "false", "never", "no":
		return ProgressOff, nil
	}
	return ProgressAuto, fmt.Errorf("progress mode %q: want auto, on or off", s)
}

// ProgressEnabled decides whether a progress line on w is drawn: mode on or
// off as given; auto defers to the environment (getenv(ProgressEnv); nil
// getenv reads none), and when that is unset or auto draws exactly when w
// is a terminal. A bad environment value is an error naming the variable.
func ProgressEnabled(w io.Writer, mode ProgressMode, getenv func(string) string) (bool, error) {
	if mode == ProgressAuto && getenv != nil {
		env, err := ParseProgressMode(getenv(ProgressEnv))
		if err != nil {
			return false, fmt.Errorf("$%s: %w", ProgressEnv, err)
		}
		mode = env
	}
	switch mode {
	case ProgressOn:
		return true, nil
	case ProgressOff:
		return false, nil
	}
	return IsTerminal(w), nil
}

// IsTerminal reports whether w is a file (anything with a descriptor) that
// is a terminal.
func IsTerminal(w io.Writer) bool {
	f, ok := w.(interface{ Fd() uintptr })
	return ok && term.IsTerminal(int(f.Fd()))
}

// Progress redraws one status line in place with a carriage return. It
// writes only when enabled, at most once per interval (the first draw and
// a task's last are never held back), and is safe for concurrent use.
//
// Free-form lines come from Update; counted work (a known or unknown total,
// with rate and ETA) from the Tasks that Start returns. Off a terminal
// Progress is disabled and writes nothing, so the output of a run whose
// stderr is a file or a pipe does not change.
type Progress struct {
	mu       sync.Mutex
	w        io.Writer
	enabled  bool
	interval time.Duration
	now      func() time.Time
	last     time.Time
	drawn    bool
	// lastNano mirrors last for the lock-free check of Task.Add.
	lastNano atomic.Int64
}

// NewProgress returns a progress line on f, enabled when f is a terminal
// unless ProgressEnv forces it on or off (a bad value is logged and
// ignored), redrawn at most every DefaultProgressInterval.
func NewProgress(f *os.File) *Progress {
	on, err := ProgressEnabled(f, ProgressAuto, os.Getenv)
	if err != nil {
		slog.Warn("ignoring a bad progress setting", "err", err)
		on = IsTerminal(f)
	}
	return NewProgressWriter(f, on, DefaultProgressInterval)
}

// NewProgressWriter returns a progress line on w; enabled and interval as
// given (interval 0 redraws on every Update).
func NewProgressWriter(w io.Writer, enabled bool, interval time.Duration) *Progress {
	return &Progress{w: w, enabled: enabled, interval: interval, now: time.Now}
}

// SetClock replaces the clock that rate limiting, rates and ETAs read (for
// tests); call it before the first Update or Start.
func (p *Progress) SetClock(now func() time.Time) { p.now = now }

// Enabled reports whether the line is drawn.
func (p *Progress) Enabled() bool { return p != nil && p.enabled }

// Update redraws the line with the formatted text, unless the last redraw
// was less than the interval ago.
func (p *Progress) Update(format string, args ...any) {
	if !p.Enabled() {
		return
	}
	p.draw(false, func() string { return fmt.Sprintf(format, args...) })
}

// draw writes the line text returns, unless it is not forced and the last
// draw was less than the interval ago; it reports whether it drew.
func (p *Progress) draw(force bool, text func() string) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	now := p.now()
	if !force && p.drawn && now.Sub(p.last) < p.interval {
		return false
	}
	p.last, p.drawn = now, true
	p.lastNano.Store(now.UnixNano())
	// \r returns to column 0, ESC[K clears what a longer line left behind.
	fmt.Fprint(p.w, "\r"+text()+"\x1b[K")
	return true
}

// Clear erases the line, so a log line can be printed cleanly.
func (p *Progress) Clear() {
	if !p.Enabled() {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.drawn {
		fmt.Fprint(p.w, "\r\x1b[K")
		p.drawn = false
		p.lastNano.Store(0)
	}
}

// Done ends the line with a newline, leaving the last text visible.
func (p *Progress) Done() {
	if !p.Enabled() {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.drawn {
		fmt.Fprintln(p.w)
		p.drawn = false
		p.lastNano.Store(0)
	}
}

// UnitBytes is the Task unit whose counts are printed as binary sizes
// (FormatBytes) and whose rate is bytes per second.
const UnitBytes = "bytes"

// Task is one piece of counted work shown on a Progress line: a label, a
// count of units done against a total (0: not known), the rate since the
// task started and, with a total, the percentage, a bar and the ETA. Its
// methods are safe for concurrent use, cheap when no redraw is due, and do
// nothing on a nil Task or a disabled Progress.
type Task struct {
	p     *Progress
	label string
	unit  string
	start time.Time
	done  atomic.Int64
	total atomic.Int64
	note  atomic.Pointer[string]
	// finished stops the redraws of a Follow goroutine and late Adds.
	finished atomic.Bool
}

// Start begins a task on the line: label names the work ("gen", "eval"),
// unit its counts ("users", or UnitBytes), total the count at the end (0
// when not known yet; see SetTotal). Nothing is drawn before the first
// Add, Set, Follow tick or Finish. A disabled Progress (or nil) gives a
// task that counts and draws nothing.
func (p *Progress) Start(label, unit string, total int64) *Task {
	t := &Task{p: p, label: label, unit: unit}
	if p != nil {
		t.start = p.now()
	}
	t.total.Store(total)
	return t
}

// active reports whether t draws at all.
func (t *Task) active() bool { return t != nil && t.p.Enabled() && !t.finished.Load() }

// Add counts n more units done and redraws if a redraw is due.
func (t *Task) Add(n int64) {
	if !t.active() {
		return
	}
	t.done.Add(n)
	t.maybeDraw()
}

// Set sets the count of units done and redraws if a redraw is due.
func (t *Task) Set(n int64) {
	if !t.active() {
		return
	}
	t.done.Store(n)
	t.maybeDraw()
}

// SetTotal sets the count the task ends at (0: not known).
func (t *Task) SetTotal(n int64) {
	if t != nil {
		t.total.Store(n)
	}
}

// SetNote sets a short text shown after the rate ("1.2M rows").
func (t *Task) SetNote(s string) {
	if t != nil {
		t.note.Store(&s)
	}
}

// State returns what the line shows for t now.
func (t *Task) State() ProgressState {
	s := ProgressState{Label: t.label, Unit: t.unit, Done: t.done.Load(), Total: t.total.Load()}
	if t.p != nil {
		s.Elapsed = t.p.now().Sub(t.start)
	}
	if n := t.note.Load(); n != nil {
		s.Note = *n
	}
	return s
}

// maybeDraw redraws unless the last redraw of the line was less than the
// interval ago; the check without the lock keeps hot loops cheap.
func (t *Task) maybeDraw() {
	if !t.active() {
		return
	}
	p := t.p
	if last := p.lastNano.Load(); last != 0 && p.now().UnixNano()-last < int64(p.interval) {
		return
	}
	p.draw(false, func() string { return t.State().Line() })
}

// Follow redraws t every interval from read's count of units done (nil:
// the count stays as Add and Set leave it) until
// the returned stop is called (which draws the last count and then
// erases the line, as Finish does). It suits work that counts in
// counters of its own, such as ingest.Progress.
func (t *Task) Follow(read func() int64) (stop func()) {
	if !t.active() {
		return func() {}
	}
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		tick := time.NewTicker(max(t.p.interval, time.Millisecond))
		defer tick.Stop()
		for {
			select {
			case <-done:
				return
			case <-tick.C:
				if read != nil {
					t.Set(read())
				} else {
					t.maybeDraw()
				}
			}
		}
	}()
	var once sync.Once
	return func() {
		once.Do(func() {
			close(done)
			wg.Wait()
			if read != nil {
				t.done.Store(read())
			}
			t.Finish()
		})
	}
}

// Finish ends the task: it draws the final count, rate and elapsed time
// (however soon after the last draw, so the line never stops at a stale
// count and a task shorter than the interval is shown once too) and then
// erases the line, leaving the terminal clean for the command's summary.
// Later Adds draw nothing.
func (t *Task) Finish() {
	if !t.active() {
		return
	}
	t.finished.Store(true)
	t.p.draw(true, func() string { return t.State().Line() })
	t.p.Clear()
}

// ProgressState is what one progress line shows.
type ProgressState struct {
	// Label names the work.
	Label string
	// Unit names what Done and Total count; UnitBytes prints sizes.
	Unit string
	// Done is the count so far; Total the count at the end, 0 or less when
	// not known.
	Done, Total int64
	// Elapsed is the time since the work started.
	Elapsed time.Duration
	// Note is shown after the rate when not empty.
	Note string
}

// barWidth is the number of cells of the bar.
const barWidth = 20

// Rate returns the units done per second so far (0 before any time has
// passed).
func (s ProgressState) Rate() float64 {
	if s.Elapsed <= 0 {
		return 0
	}
	return float64(s.Done) / s.Elapsed.Seconds()
}

// ETA returns the time left at the rate so far; ok is false when it is not
// known (no total, nothing done yet, or no time passed).
func (s ProgressState) ETA() (eta time.Duration, ok bool) {
	rate := s.Rate()
	if s.Total <= 0 || s.Done <= 0 || rate <= 0 {
		return 0, false
	}
	left := max(s.Total-s.Done, 0)
	return time.Duration(float64(left) / rate * float64(time.Second)), true
}

// Line renders the state. With a total:
//
//	gen   45.0% [=========>          ] 1.8k/4.0k users  1.2k users/s  ETA 2s
//
// and without one (no percentage, bar or ETA, the elapsed time instead):
//
//	commit  12.3 MiB  4.1 MiB/s  elapsed 3s
//
// A state with no unit and no total counts nothing (a phase such as a
// commit that reports no progress of its own): label, note and elapsed time.
func (s ProgressState) Line() string {
	var b strings.Builder
	b.WriteString(s.Label)
	if s.Unit == "" && s.Total <= 0 {
		if s.Note != "" {
			b.WriteString("  " + s.Note)
		}
		b.WriteString("  elapsed " + FormatETA(s.Elapsed))
		return b.String()
	}
	count := func(n float64) string {
		if s.Unit == UnitBytes {
			return FormatBytes(int64(n))
		}
		return FormatCount(n)
	}
	unit := ""
	if s.Unit != UnitBytes && s.Unit != "" {
		unit = " " + s.Unit
	}
	if s.Total > 0 {
		frac := min(max(float64(s.Done)/float64(s.Total), 0), 1)
		fill := int(frac * barWidth)
		bar := strings.Repeat("=", fill)
		if fill < barWidth {
			bar += ">" + strings.Repeat(" ", barWidth-fill-1)
		}
		fmt.Fprintf(&b, " %5.1f%% [%s] %s/%s%s", 100*frac, bar, count(float64(s.Done)), count(float64(s.Total)), unit)
	} else {
		fmt.Fprintf(&b, "  %s%s", count(float64(s.Done)), unit)
	}
	rateUnit := unit
	if s.Unit == UnitBytes {
		rateUnit = ""
	}
	fmt.Fprintf(&b, "  %s%s/s", count(s.Rate()), rateUnit)
	if s.Note != "" {
		b.WriteString("  " + s.Note)
	}
	if s.Total > 0 {
		if eta, ok := s.ETA(); ok {
			b.WriteString("  ETA " + FormatETA(eta))
		} else {
			b.WriteString("  ETA ?")
		}
	} else {
		b.WriteString("  elapsed " + FormatETA(s.Elapsed))
	}
	return b.String()
}
