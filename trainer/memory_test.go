package trainer

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestCheckModelMemory(t *testing.T) {
	cases := []struct {
		name            string
		estimate, avail int64
		wantErr         bool
	}{
		{"fits", 1 << 30, 8 << 30, false},
		{"unknown memory", 1 << 40, 0, false},
		{"too large", 20 << 30, 16 << 30, true},
		{"over the budget", 15 << 30, 16 << 30, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := checkModelMemory(c.estimate, c.avail, 4096, 1000, 2000)
			if (err != nil) != c.wantErr {
				t.Fatalf("err = %v, want error %v", err, c.wantErr)
			}
			if err != nil && !strings.Contains(err.Error(), "model.dim 4096") {
				t.Errorf("error does not name the key: %v", err)
			}
		})
	}
}

func TestAvailableMemoryFiles(t *testing.T) {
	dir := t.TempDir()
	mi := filepath.Join(dir, "meminfo")
	if err := os.WriteFile(mi, []byte("MemTotal: 100 kB\nMemAvailable:   2048 kB\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if got := memAvailable(mi); got != 2048<<10 {
		t.Errorf("memAvailable = %d, want %d", got, 2048<<10)
	}
	if got := memAvailable(filepath.Join(dir, "absent")); got != 0 {
		t.Errorf("memAvailable(absent) = %d, want 0", got)
	}
	mx, cur := filepath.Join(dir, "max"), filepath.Join(dir, "cur")
	os.WriteFile(mx, []byte("max\n"), 0o644)
	if got := cgroupRoom(mx, cur); got != 0 {
		t.Errorf("unlimited cgroup = %d, want 0", got)
	}
	os.WriteFile(mx, []byte("1000\n"), 0o644)
	os.WriteFile(cur, []byte("400\n"), 0o644)
	if got := cgroupRoom(mx, cur); got != 600 {
		t.Errorf("cgroupRoom = %d, want 600", got)
	}
	if availableMemory() < 0 {
		t.Error("negative available memory")
	}
}
