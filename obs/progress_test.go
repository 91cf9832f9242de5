package obs

import (
	"bytes"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// fakeClock is a settable clock, safe for concurrent use.
type fakeClock struct{ ns atomic.Int64 }

func newFakeClock() *fakeClock {
	c := &fakeClock{}
	c.ns.Store(time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC).UnixNano())
	return c
}

func (c *fakeClock) now() time.Time          { return time.Unix(0, c.ns.Load()) }
func (c *fakeClock) advance(d time.Duration) { c.ns.Add(int64(d)) }

// syncBuffer is a bytes.Buffer safe for concurrent writes.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func TestProgressStateLine(t *testing.T) {
	cases := []struct {
		name string
		s    ProgressState
		want string
	}{
		{"known total", ProgressState{Label: "gen", Unit: "users", Done: 1800, Total: 4000, Elapsed: 1500 * time.Millisecond},
			"gen  45.0% [=========>          ] 1.8k/4.0k users  1.2k users/s  ETA 2s"},
		{"bytes with a note", ProgressState{Label: "ingest", Unit: UnitBytes, Done: 3 << 20, Total: 12 << 20, Elapsed: 2 * time.Second, Note: "1.2M rows"},
			"ingest  25.0% [=====>              ] 3.0 MiB/12.0 MiB  1.5 MiB/s  1.2M rows  ETA 6s"},
		{"unknown total", ProgressState{Label: "commit", Unit: UnitBytes, Done: 5 << 20, Elapsed: 3 * time.Second},
			"commit  5.0 MiB  1.7 MiB/s  elapsed 3s"},
		{"unknown total, counted", ProgressState{Label: "eval", Unit: "users", Done: 250, Elapsed: 100 * time.Second},
			"eval  250 users  2.5 users/s  elapsed 1m40s"},
		{"nothing done yet", ProgressState{Label: "eval", Unit: "users", Done: 0, Total: 100, Elapsed: time.Second},
			"eval   0.0% [>                   ] 0/100 users  0 users/s  ETA ?"},
		{"no time passed", ProgressState{Label: "x", Unit: "rows", Done: 5, Total: 10},
			"x  50.0% [==========>         ] 5/10 rows  0 rows/s  ETA ?"},
		{"complete", ProgressState{Label: "export", Unit: UnitBytes, Done: 2048, Total: 2048, Elapsed: time.Second},
			"export 100.0% [====================] 2.0 KiB/2.0 KiB  2.0 KiB/s  ETA 0s"},
		{"overshoot clamps", ProgressState{Label: "x", Unit: "rows", Done: 15, Total: 10, Elapsed: time.Second},
			"x 100.0% [====================] 15/10 rows  15 rows/s  ETA 0s"},
		{"phase without counts", ProgressState{Label: "commit", Elapsed: 65 * time.Second, Note: "to store/x"},
			"commit  to store/x  elapsed 1m05s"},
		{"phase without counts or note", ProgressState{Label: "commit", Elapsed: 2 * time.Second},
			"commit  elapsed 2s"},
		{"long ETA", ProgressState{Label: "x", Unit: "rows", Done: 1, Total: 10000, Elapsed: time.Second},
			"x   0.0% [>                   ] 1/10.0k rows  1 rows/s  ETA 2h46m"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := c.s.Line(); got != c.want {
				t.Errorf("Line()\n got %q\nwant %q", got, c.want)
			}
		})
	}
}

func TestProgressStateETA(t *testing.T) {
	cases := []struct {
		s      ProgressState
		want   time.Duration
		wantOK bool
	}{
		{ProgressState{Done: 25, Total: 100, Elapsed: 10 * time.Second}, 30 * time.Second, true},
		{ProgressState{Done: 100, Total: 100, Elapsed: 10 * time.Second}, 0, true},
		{ProgressState{Done: 0, Total: 100, Elapsed: 10 * time.Second}, 0, false},
		{ProgressState{Done: 10, Total: 0, Elapsed: 10 * time.Second}, 0, false},
		{ProgressState{Done: 10, Total: 100, Elapsed: 0}, 0, false},
	}
	for _, c := range cases {
		got, ok := c.s.ETA()
		if ok != c.wantOK || got != c.want {
			t.Errorf("%+v.ETA() = %v, %v; want %v, %v", c.s, got, ok, c.want, c.wantOK)
		}
	}
}

func TestFormatters(t *testing.T) {
	bytesCases := []struct {
		n    int64
		want string
	}{{0, "0 B"}, {1023, "1023 B"}, {1024, "1.0 KiB"}, {1536, "1.5 KiB"}, {6_500_000, "6.2 MiB"}, {3 << 30, "3.0 GiB"}, {-2048, "-2.0 KiB"}}
	for _, c := range bytesCases {
		if got := FormatBytes(c.n); got != c.want {
			t.Errorf("FormatBytes(%d) = %q, want %q", c.n, got, c.want)
		}
	}
	countCases := []struct {
		n    float64
		want string
	}{{0, "0"}, {7, "7"}, {2.5, "2.5"}, {12.7, "13"}, {950, "950"}, {1234, "1.2k"}, {3.4e6, "3.4M"}, {5e9, "5.0G"}}
	for _, c := range countCases {
		if got := FormatCount(c.n); got != c.want {
			t.Errorf("FormatCount(%v) = %q, want %q", c.n, got, c.want)
		}
	}
	etaCases := []struct {
		d    time.Duration
		want string
	}{{-time.Second, "0s"}, {400 * time.Millisecond, "0s"}, {7 * time.Second, "7s"}, {125 * time.Second, "2m05s"},
		{3*time.Hour + 4*time.Minute + 59*time.Second, "3h04m"}}
	for _, c := range etaCases {
		if got := FormatETA(c.d); got != c.want {
			t.Errorf("FormatETA(%v) = %q, want %q", c.d, got, c.want)
		}
	}
}

func TestParseProgressMode(t *testing.T) {
	cases := []struct {
		in      string
		want    ProgressMode
		wantErr bool
	}{
		{"", ProgressAuto, false}, {"auto", ProgressAuto, false}, {"ON", ProgressOn, false}, {"1", ProgressOn, false},
		{"always", ProgressOn, false}, {"off", ProgressOff, false}, {"0", ProgressOff, false}, {"never", ProgressOff, false},
		{"sometimes", ProgressAuto, true},
	}
	for _, c := range cases {
		got, err := ParseProgressMode(c.in)
		if (err != nil) != c.wantErr || got != c.want {
			t.Errorf("ParseProgressMode(%q) = %v, %v; want %v, error %v", c.in, got, err, c.want, c.wantErr)
		}
		if err == nil {
			if back, _ := ParseProgressMode(got.String()); back != got {
				t.Errorf("%v.String() = %q does not parse back", got, got.String())
			}
		}
	}
}

func TestProgressEnabled(t *testing.T) {
	env := func(v string) func(string) string {
		return func(k string) string {
			if k == ProgressEnv {
				return v
			}
			return ""
		}
	}
	var buf bytes.Buffer // not a terminal
	cases := []struct {
		name    string
		mode    ProgressMode
		getenv  func(string) string
		want    bool
		wantErr bool
	}{
		{"auto, no env, not a terminal", ProgressAuto, env(""), false, false},
		{"auto, nil getenv", ProgressAuto, nil, false, false},
		{"auto, env on", ProgressAuto, env("on"), true, false},
		{"auto, env off", ProgressAuto, env("off"), false, false},
		{"on wins over env off", ProgressOn, env("off"), true, false},
		{"off wins over env on", ProgressOff, env("on"), false, false},
		{"bad env", ProgressAuto, env("loud"), false, true},
		{"bad env ignored when forced", ProgressOn, env("loud"), true, false},
	}
	for _, c := range cases {
		got, err := ProgressEnabled(&buf, c.mode, c.getenv)
		if (err != nil) != c.wantErr || got != c.want {
			t.Errorf("%s: got %v, %v; want %v, error %v", c.name, got, err, c.want, c.wantErr)
		}
		if err != nil && !strings.Contains(err.Error(), ProgressEnv) {
			t.Errorf("%s: error %q does not name %s", c.name, err, ProgressEnv)
		}
	}
}

func TestNewProgressEnv(t *testing.T) {
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	defer w.Close()
	for _, c := range []struct {
		env  string
		want bool
	}{{"", false}, {"auto", false}, {"on", true}, {"off", false}, {"bogus", false}} {
		t.Setenv(ProgressEnv, c.env)
		if got := NewProgress(w).Enabled(); got != c.want {
			t.Errorf("%s=%q on a pipe: enabled %v, want %v", ProgressEnv, c.env, got, c.want)
		}
	}
}

func TestTaskDisabledDrawsNothing(t *testing.T) {
	var buf bytes.Buffer
	p := NewProgressWriter(&buf, false, 0)
	task := p.Start("gen", "users", 100)
	task.Add(10)
	task.Set(50)
	task.SetNote("x")
	var n atomic.Int64
	stop := task.Follow(n.Load)
	n.Store(100)
	stop()
	task.Finish()
	p.Update("epoch %d", 1)
	p.Clear()
	p.Done()
	if buf.Len() != 0 {
		t.Fatalf("disabled progress wrote %q", buf.String())
	}
	// A nil Task and a nil Progress are inert too.
	var nilTask *Task
	nilTask.Add(1)
	nilTask.Finish()
	var nilProg *Progress
	nilProg.Start("x", "rows", 1).Add(1)
}

func TestTaskRateLimited(t *testing.T) {
	var buf bytes.Buffer
	clk := newFakeClock()
	p := NewProgressWriter(&buf, true, 100*time.Millisecond)
	p.SetClock(clk.now)
	task := p.Start("gen", "users", 1000)
	// 1000 units over one second, one every millisecond.
	for i := 0; i < 1000; i++ {
		clk.advance(time.Millisecond)
		task.Add(1)
	}
	draws := strings.Count(buf.String(), "\r")
	// One draw at the first Add, then one per 100 ms: 10 in all.
	if draws != 10 {
		t.Errorf("1000 Adds over 1 s with a 100 ms interval drew %d times, want 10:\n%q", draws, buf.String())
	}
	if !strings.Contains(buf.String(), "ETA") || !strings.Contains(buf.String(), "users/s") {
		t.Errorf("lines lack a rate or an ETA: %q", buf.String())
	}
	buf.Reset()
	task.Finish()
	out := buf.String()
	// Finish draws the final count, then erases the line.
	if !strings.HasPrefix(out, "\rgen 100.0% [====================] 1.0k/1.0k users  1.0k users/s  ETA 0s\x1b[K") {
		t.Errorf("final draw %q", out)
	}
	if !strings.HasSuffix(out, "\r\x1b[K") {
		t.Errorf("Finish does not end with a clean line: %q", out)
	}
	buf.Reset()
	task.Add(5)
	if buf.Len() != 0 {
		t.Errorf("Add after Finish drew %q", buf.String())
	}
}

func TestUpdateRateLimited(t *testing.T) {
	var buf bytes.Buffer
	p := NewProgressWriter(&buf, true, 0)
	p.Update("epoch %d step %d", 1, 10)
	p.Update("epoch %d step %d", 1, 20)
	p.Done()
	if got, want := buf.String(), "\repoch 1 step 10\x1b[K\repoch 1 step 20\x1b[K\n"; got != want {
		t.Fatalf("got %q, want %q", got, want)
	}
	buf.Reset()
	clk := newFakeClock()
	slow := NewProgressWriter(&buf, true, time.Second)
	slow.SetClock(clk.now)
	slow.Update("a")
	clk.advance(999 * time.Millisecond)
	slow.Update("b")
	clk.advance(time.Millisecond)
	slow.Update("c")
	if got := buf.String(); got != "\ra\x1b[K\rc\x1b[K" {
		t.Fatalf("rate limit: got %q", got)
	}
	// A cleared line redraws at once.
	buf.Reset()
	slow.Clear()
	slow.Update("d")
	if got := buf.String(); got != "\r\x1b[K\rd\x1b[K" {
		t.Fatalf("after Clear: got %q", got)
	}
}

func TestTaskFollow(t *testing.T) {
	var buf syncBuffer
	p := NewProgressWriter(&buf, true, time.Millisecond)
	task := p.Start("ingest", UnitBytes, 4096)
	var n atomic.Int64
	stop := task.Follow(n.Load)
	task.SetNote("3 rows")
	for i := 0; i < 4; i++ {
		n.Add(1024)
		time.Sleep(3 * time.Millisecond)
	}
	stop()
	stop() // idempotent
	out := buf.String()
	last := out[strings.LastIndex(out[:len(out)-len("\r\x1b[K")], "\r"):]
	if !strings.HasPrefix(last, "\ringest 100.0%") || !strings.Contains(last, "4.0 KiB/4.0 KiB") || !strings.Contains(last, "3 rows") {
		t.Errorf("last line %q lacks the final count or the note", last)
	}
	if !strings.HasSuffix(out, "\r\x1b[K") {
		t.Errorf("stop does not end with a clean line: %q", out)
	}
}

// TestTaskConcurrent adds from many goroutines while a Follow redraws and
// Update writes; run with -race.
func TestTaskConcurrent(t *testing.T) {
	var buf syncBuffer
	p := NewProgressWriter(&buf, true, 0)
	task := p.Start("eval", "users", 8000)
	var wg sync.WaitGroup
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 1000; i++ {
				task.Add(1)
				if i%100 == 0 {
					task.SetNote("n")
					p.Update("free %d", i)
				}
			}
		}()
	}
	wg.Wait()
	if s := task.State(); s.Done != 8000 {
		t.Fatalf("done = %d, want 8000", s.Done)
	}
	task.Finish()
	if !strings.HasSuffix(buf.String(), "\r\x1b[K") {
		t.Fatal("no clean line at the end")
	}
}

func TestTaskShortDrawnOnceAtFinish(t *testing.T) {
	var buf bytes.Buffer
	clk := newFakeClock()
	p := NewProgressWriter(&buf, true, time.Hour)
	p.SetClock(clk.now)
	commit := p.Start("commit", "", 0)
	stop := commit.Follow(nil)
	clk.advance(3 * time.Second)
	stop()
	if got, want := buf.String(), "\rcommit  elapsed 3s\x1b[K\r\x1b[K"; got != want {
		t.Fatalf("got %q, want %q", got, want)
	}
}
