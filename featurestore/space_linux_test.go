//go:build linux

package featurestore

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/trainerd/trainerd/dataset"
)

// spaceDataset builds the data sets TestCommitFullFilesystem commits; the
// child process rebuilds them by name.
func spaceDataset(name string) *dataset.Dataset {
	switch name {
	case "base":
		return testDataset(70, 200, 300, 3000, 500, 8, 8, false)
	case "features":
		return testDataset(71, 3000, 4000, 60000, 10000, 32, 16, true)
	case "long-ids":
		ds := testDataset(72, 1000, 800, 20000, 2000, 0, 0, false)
		for _, ids := range [][]string{ds.UserIDs, ds.ItemIDs} {
			for i := range ids {
				ids[i] += strings.Repeat("-", MaxIDBytes-len(ids[i]))
			}
		}
		return ds
	case "value-log":
		// Feature vectors over Badger's 1 MiB value threshold go to its
		// value log.
		return testDataset(73, 4, 3, 10, 2, 300_000, 0, false)
	}
	panic("unknown data set " + name)
}

const childEnv = "FEATURESTORE_COMMIT_CHILD"

// TestCommitChild is the child process of TestCommitFullFilesystem: it
// commits one data set and exits 0, or 3 with the error on stderr. A Badger
// write fault exits 2 (Go's fatal fault).
func TestCommitChild(t *testing.T) {
	spec := os.Getenv(childEnv)
	if spec == "" {
		t.Skip("child process of TestCommitFullFilesystem")
	}
	dir, name, _ := strings.Cut(spec, "|")
	if _, err := Commit(context.Background(), dir, spaceDataset(name)); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(3)
	}
	os.Exit(0)
}

// TestCommitFullFilesystem commits onto a tmpfs that has exactly the bound
// Commit asks for, a few pages more, and a page less (issue C3: Badger's
// mmap writes onto a full filesystem died of SIGBUS and left a staging
// directory filling the disk). With enough room the commit must succeed,
// with too little it must fail with ENOSPC naming the store, and never
// crash. Needs root (mount); skipped otherwise.
func TestCommitFullFilesystem(t *testing.T) {
	if raceEnabled {
		// The children would be race binaries, ten times slower; this test
		// is about a process crashing, not about data races.
		t.Skip("skipped under the race detector")
	}
	mnt := t.TempDir()
	if err := syscall.Mount("tmpfs", mnt, "tmpfs", 0, "size=64m"); err != nil {
		t.Skipf("cannot mount a tmpfs (%v); this test needs root", err)
	}
	t.Cleanup(func() { syscall.Unmount(mnt, syscall.MNT_DETACH) })
	store := filepath.Join(mnt, "store")
	const page = 4096
	run := func(name string) (ok bool, stderr string) {
		t.Helper()
		cmd := exec.Command(os.Args[0], "-test.run=^TestCommitChild$", "-test.count=1")
		cmd.Env = append(os.Environ(), childEnv+"="+store+"|"+name)
		var errb strings.Builder
		cmd.Stderr = &errb
		err := cmd.Run()
		var ee *exec.ExitError
		switch {
		case err == nil:
			return true, ""
		case errors.As(err, &ee) && ee.ExitCode() == 3:
			return false, errb.String()
		}
		t.Fatalf("commit %s crashed: %v\n%s", name, err, tail(errb.String(), 2000))
		return false, ""
	}
	if ok, msg := run("base"); !ok {
		t.Fatalf("base commit: %s", msg)
	}
	for _, name := range []string{"features", "long-ids", "value-log"} {
		p, err := planVersion(spaceDataset(name))
		if err != nil {
			t.Fatal(err)
		}
		need := fixedBound(page) + p.space.bound(page)
		for _, k := range []int64{-1, 0, 3} {
			var st syscall.Statfs_t
			if err := syscall.Statfs(mnt, &st); err != nil {
				t.Fatal(err)
			}
			used := int64(st.Blocks-st.Bfree) * st.Bsize
			size := used + (need+page-1)/page*page + k*page
			if err := syscall.Mount("tmpfs", mnt, "tmpfs", syscall.MS_REMOUNT, fmt.Sprintf("size=%d", size)); err != nil {
				t.Fatalf("remount: %v", err)
			}
			ok, msg := run(name)
			if want := k >= 0; ok != want {
				t.Fatalf("%s with %d pages over the %d-byte bound: ok %v, want %v (%s)", name, k, need, ok, want, msg)
			}
			if !ok && !strings.Contains(msg, "commit "+store+": no space left on device") {
				t.Fatalf("%s: error %q, want ENOSPC naming the store", name, msg)
			}
			if _, staging := listDir(t, store); len(staging) != 0 {
				t.Fatalf("%s: staging left behind: %v", name, staging)
			}
			if ok {
				s, err := Open(store, Options{ReadOnly: true})
				if err != nil {
					t.Fatal(err)
				}
				checkStore(t, s, spaceDataset(name))
				t.Logf("%s: bound %d bytes, version takes %d (%.2fx)", name, need, diskUse(t, filepath.Join(store, s.Stats().Version)), float64(need)/float64(diskUse(t, filepath.Join(store, s.Stats().Version))))
				s.Close()
			}
		}
	}
}

// diskUse sums the allocated bytes of the files under dir.
func diskUse(t *testing.T, dir string) int64 {
	t.Helper()
	var n int64
	err := filepath.Walk(dir, func(_ string, fi os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		if st, ok := fi.Sys().(*syscall.Stat_t); ok && fi.Mode().IsRegular() {
			n += st.Blocks * 512
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func tail(s string, n int) string {
	if len(s) > n {
		return "..." + s[len(s)-n:]
	}
	return s
}
