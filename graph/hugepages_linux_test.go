//go:build linux

package graph

import (
	"bufio"
	"os"
	"strconv"
	"strings"
	"testing"
	"unsafe"
)

// anonHugeKB returns the AnonHugePages (kB) of the mapping holding addr,
// from /proc/self/smaps.
func anonHugeKB(t *testing.T, addr uintptr) int {
	t.Helper()
	f, err := os.Open("/proc/self/smaps")
	if err != nil {
		t.Skipf("no /proc/self/smaps: %v", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	in := false
	for sc.Scan() {
		line := sc.Text()
		if fs := strings.Fields(line); len(fs) > 0 && strings.Contains(fs[0], "-") && !strings.HasSuffix(fs[0], ":") {
			lo, hi, _ := strings.Cut(fs[0], "-")
			a, err1 := strconv.ParseUint(lo, 16, 64)
			b, err2 := strconv.ParseUint(hi, 16, 64)
			in = err1 == nil && err2 == nil && uint64(addr) >= a && uint64(addr) < b
			continue
		}
		if in && strings.HasPrefix(line, "AnonHugePages:") {
			kb, err := strconv.Atoi(strings.Fields(line)[1])
			if err != nil {
				t.Fatalf("smaps line %q: %v", line, err)
			}
			return kb
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	t.Fatalf("no mapping holds %#x in /proc/self/smaps", addr)
	return 0
}

func TestAdviseHugePages(t *testing.T) {
	mode, err := os.ReadFile("/sys/kernel/mm/transparent_hugepage/enabled")
	if err != nil || strings.Contains(string(mode), "[never]") {
		t.Skipf("transparent huge pages off here (%q, %v)", mode, err)
	}
	// Small slices are left alone and stay intact.
	small := []uint32{1, 2, 3}
	AdviseHugePages(small)
	AdviseHugePages(nil)
	if small[2] != 3 {
		t.Fatal("small slice changed")
	}
	// 32 MiB, advised before the first touch, as Build does.
	s := make([]uint32, 8<<20)
	AdviseHugePages(s)
	for i := range s {
		s[i] = uint32(i)
	}
	for _, i := range []int{0, 1 << 20, len(s) - 1} {
		if s[i] != uint32(i) {
			t.Fatalf("s[%d] = %d after advice", i, s[i])
		}
	}
	if kb := anonHugeKB(t, uintptr(unsafe.Pointer(&s[len(s)/2]))); kb < hugePage/1024 {
		t.Errorf("mapping of an advised 32 MiB slice has %d kB of huge pages, want ≥ %d", kb, hugePage/1024)
	}
}
