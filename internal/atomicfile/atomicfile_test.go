package atomicfile

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// entries lists dir's names.
func entries(t *testing.T, dir string) []string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	return names
}

func TestWriteReplaces(t *testing.T) {
	for _, tt := range []struct {
		name     string
		old      bool
		opts     Options
		wantPerm os.FileMode
	}{
		{"new file", false, Options{}, 0o644},
		{"over an old file", true, Options{}, 0o644},
		{"perm and pattern", true, Options{Perm: 0o600, TempPattern: ".x-*.tmp"}, 0o600},
	} {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			p := filepath.Join(dir, "f.json")
			if tt.old {
				if err := os.WriteFile(p, []byte("old"), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			big := bytes.Repeat([]byte("0123456789"), bufSize/5) // two buffers' worth
			if err := tt.opts.Write(p, func(w io.Writer) error { _, err := w.Write(big); return err }); err != nil {
				t.Fatal(err)
			}
			got, err := os.ReadFile(p)
			if err != nil || !bytes.Equal(got, big) {
				t.Fatalf("read back %d bytes (err %v), want %d", len(got), err, len(big))
			}
			st, _ := os.Stat(p)
			if st.Mode().Perm() != tt.wantPerm {
				t.Errorf("mode %v, want %v", st.Mode().Perm(), tt.wantPerm)
			}
			if names := entries(t, dir); len(names) != 1 {
				t.Errorf("directory holds %v, want only f.json", names)
			}
		})
	}
	p := filepath.Join(t.TempDir(), "g")
	if err := WriteFile(p, []byte("hello")); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(p); string(b) != "hello" {
		t.Fatalf("WriteFile wrote %q", b)
	}
}

// TestWriteErrorKeepsOld: an error from the callback, before or after it
// has written (more than a buffer's worth, so bytes reached the temp file),
// leaves the old file intact and no temp file.
func TestWriteErrorKeepsOld(t *testing.T) {
	boom := errors.New("boom")
	for _, tt := range []struct {
		name  string
		write func(io.Writer) error
	}{
		{"before writing", func(io.Writer) error { return boom }},
		{"mid-write", func(w io.Writer) error {
			w.Write(bytes.Repeat([]byte("x"), 3*bufSize))
			return boom
		}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			p := filepath.Join(dir, "f")
			if err := os.WriteFile(p, []byte("old"), 0o644); err != nil {
				t.Fatal(err)
			}
			err := Write(p, tt.write)
			if !errors.Is(err, boom) || !strings.Contains(err.Error(), p) {
				t.Fatalf("err = %v, want boom naming %s", err, p)
			}
			if b, _ := os.ReadFile(p); string(b) != "old" {
				t.Fatalf("file now %q, want the old content", b)
			}
			if names := entries(t, dir); len(names) != 1 {
				t.Fatalf("directory holds %v: the temp file was not removed", names)
			}
		})
	}
}

// TestCrashStages stops Write at each stage as a crash would: before the
// rename the old file is whole and the temp file holds every new byte (so
// a caller's sweep can find it); after it, the new file is whole.
func TestCrashStages(t *testing.T) {
	crash := errors.New("simulated crash")
	for _, tt := range []struct {
		stage    string
		want     string
		wantTemp bool
	}{
		{StageWritten, "old", true},
		{StageSynced, "old", true},
		{StageRenamed, "new", false},
	} {
		t.Run(tt.stage, func(t *testing.T) {
			dir := t.TempDir()
			p := filepath.Join(dir, "f")
			if err := os.WriteFile(p, []byte("old"), 0o644); err != nil {
				t.Fatal(err)
			}
			var seen []string
			o := Options{TempPattern: ".f-*.tmp", Crash: func(s string) error {
				seen = append(seen, s)
				if s == tt.stage {
					return crash
				}
				return nil
			}}
			if err := o.Write(p, func(w io.Writer) error { _, err := io.WriteString(w, "new"); return err }); !errors.Is(err, crash) {
				t.Fatalf("err = %v, want the crash", err)
			}
			if seen[len(seen)-1] != tt.stage {
				t.Fatalf("stages %v, want to stop at %s", seen, tt.stage)
			}
			if b, _ := os.ReadFile(p); string(b) != tt.want {
				t.Fatalf("file %q, want %q", b, tt.want)
			}
			temps, _ := filepath.Glob(filepath.Join(dir, ".f-*.tmp"))
			if (len(temps) == 1) != tt.wantTemp || len(temps) > 1 {
				t.Fatalf("temp files %v, want one: %v", temps, tt.wantTemp)
			}
			if tt.wantTemp {
				if b, _ := os.ReadFile(temps[0]); string(b) != "new" {
					t.Fatalf("temp file holds %q, want every new byte", b)
				}
			}
		})
	}
}

func TestWriteMissingDir(t *testing.T) {
	p := filepath.Join(t.TempDir(), "no", "such", "f")
	err := WriteFile(p, []byte("x"))
	if !errors.Is(err, os.ErrNotExist) || !strings.Contains(err.Error(), p) {
		t.Fatalf("err = %v, want not-exist naming %s", err, p)
	}
	if err := SyncDir(filepath.Dir(p)); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("SyncDir of a missing dir: %v", err)
	}
}
